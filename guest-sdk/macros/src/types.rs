//! Which Rust types a module function may take and return, recognized by their syntax
//! so that a wrong type is reported at its own span with what is accepted instead; and
//! the checking of `#[arg(default = ...)]` literals against the argument's type.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{Expr, GenericArgument, Lit, PathArguments, Type, UnOp};

/// What an argument of a module function may be.
const ACCEPTED_ARGUMENTS: &str = "a module function takes `String`, `bool`, `i64`, `f64`, \
     `Directory`, `File`, `Container`, and `Vec<T>` or `Option<T>` of those";

/// What a module function may return.
const ACCEPTED_RETURNS: &str = "a module function returns `()`, `String`, `bool`, `i64`, `f64`, \
     `Directory`, `File`, `Container`, `Vec<T>` or `Option<T>` of those, or `Result<T>` of any \
     of these";

/// A scalar or object type, the element of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element {
    String,
    Boolean,
    Integer,
    Float,
    Container,
    Directory,
    File,
}

/// The shape of an accepted argument or return type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub element: Element,
    pub is_list: bool,
    pub optional: bool,
}

/// The shape of an accepted return type.
pub enum ReturnShape {
    /// `()` or no return type.
    Unit,
    /// A value of an accepted type.
    Value,
    /// `Result<T>` or `Result<T, E>`: the function can fail and returns `T` (possibly
    /// `()`) when it does not.
    Fallible { value_type: Box<Type> },
}

/// The shape of an argument type, or an error at the offending part of it.
pub fn argument_shape(ty: &Type) -> syn::Result<Shape> {
    shape(ty, Position::Argument)
}

/// The shape of a return type, or an error at the offending part of it.
pub fn return_shape(ty: &Type) -> syn::Result<ReturnShape> {
    if is_unit(ty) {
        return Ok(ReturnShape::Unit);
    }
    if let Some((name, arguments)) = last_segment(ty)
        && name == "Result"
    {
        let ([value_type] | [value_type, _]) = arguments.as_slice() else {
            return Err(syn::Error::new_spanned(
                ty,
                format!("`Result` takes its value type and optionally its error type, as in `Result<String>`; {ACCEPTED_RETURNS}"),
            ));
        };
        if !is_unit(value_type) {
            shape(value_type, Position::Return)?;
        }
        return Ok(ReturnShape::Fallible {
            value_type: Box::new((*value_type).clone()),
        });
    }
    shape(ty, Position::Return).map(|_| ReturnShape::Value)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Position {
    Argument,
    Return,
}

impl Position {
    fn accepted(self) -> &'static str {
        match self {
            Position::Argument => ACCEPTED_ARGUMENTS,
            Position::Return => ACCEPTED_RETURNS,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Position::Argument => "argument type",
            Position::Return => "return type",
        }
    }
}

fn shape(ty: &Type, position: Position) -> syn::Result<Shape> {
    let unsupported = |hint: &str| syn::Error::new_spanned(ty, format!("unsupported {}{hint}; {}", position.noun(), position.accepted()));
    if let Type::Reference(reference) = ty {
        let hint = if reference.elem.to_token_stream().to_string() == "str" {
            ": take `String` instead of `&str`"
        } else {
            ": take arguments by value (`Directory`, not `&Directory`)"
        };
        return Err(unsupported(hint));
    }
    if is_unit(ty) {
        return Err(unsupported(": `()` is not a value here"));
    }
    let Some((name, arguments)) = last_segment(ty) else {
        return Err(unsupported(""));
    };
    match (name.as_str(), arguments.as_slice()) {
        ("Option", [inner]) => {
            let inner_shape = shape(inner, position)?;
            if inner_shape.optional {
                return Err(syn::Error::new_spanned(
                    inner,
                    "`Option` cannot hold another `Option`: a value is either given or `None`",
                ));
            }
            Ok(Shape { optional: true, ..inner_shape })
        }
        ("Vec", [inner]) => {
            let inner_shape = shape(inner, position)?;
            if inner_shape.optional || inner_shape.is_list {
                return Err(syn::Error::new_spanned(
                    inner,
                    "a `Vec` holds `String`, `bool`, `i64`, `f64`, `Directory`, `File` or \
                     `Container`, not lists or `Option`s",
                ));
            }
            Ok(Shape { is_list: true, ..inner_shape })
        }
        (name, []) => {
            let element = match name {
                "String" => Element::String,
                "bool" => Element::Boolean,
                "i64" => Element::Integer,
                "f64" => Element::Float,
                "Container" => Element::Container,
                "Directory" => Element::Directory,
                "File" => Element::File,
                "i8" | "i16" | "i32" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => return Err(unsupported(": integers are `i64`")),
                "f32" => return Err(unsupported(": floating point numbers are `f64`")),
                "str" => return Err(unsupported(": take `String` instead of `str`")),
                _ => return Err(unsupported("")),
            };
            Ok(Shape {
                element,
                is_list: false,
                optional: false,
            })
        }
        _ => Err(unsupported("")),
    }
}

/// Whether `ty` is `()`.
fn is_unit(ty: &Type) -> bool {
    match ty {
        Type::Tuple(tuple) => tuple.elems.is_empty(),
        Type::Paren(paren) => is_unit(&paren.elem),
        Type::Group(group) => is_unit(&group.elem),
        _ => false,
    }
}

/// The last segment of a plain path type (`std::vec::Vec<T>` → `Vec`, `[T]`), with its
/// type arguments; `None` for anything else, including paths with lifetimes, bindings or
/// a qualified self (`<T as Trait>::Type`).
fn last_segment(ty: &Type) -> Option<(String, Vec<&Type>)> {
    let path = match ty {
        Type::Path(path) if path.qself.is_none() => &path.path,
        Type::Group(group) => return last_segment(&group.elem),
        Type::Paren(paren) => return last_segment(&paren.elem),
        _ => return None,
    };
    let segment = path.segments.last()?;
    let arguments = match &segment.arguments {
        PathArguments::None => Vec::new(),
        PathArguments::AngleBracketed(arguments) => arguments
            .args
            .iter()
            .map(|argument| match argument {
                GenericArgument::Type(ty) => Some(ty),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?,
        PathArguments::Parenthesized(_) => return None,
    };
    Some((segment.ident.to_string(), arguments))
}

/// A checked `#[arg(default = ...)]`: the Rust expression the generated code uses when
/// the argument is absent, and the JSON literal the schema declares.
pub struct DefaultValue {
    pub expression: TokenStream,
    pub json: String,
}

/// Checks that `value` is a literal of the argument's type and converts it.
pub fn default_value(value: &Expr, shape: Shape) -> syn::Result<DefaultValue> {
    if shape.optional {
        return Err(syn::Error::new_spanned(
            value,
            "an `Option` argument takes no default: it is `None` when absent; to give it a \
             default, declare it with the inner type",
        ));
    }
    if shape.is_list {
        return Err(syn::Error::new_spanned(
            value,
            "a `Vec` argument takes no default: defaults are string, boolean, integer or float \
             literals",
        ));
    }
    let (negative, literal) = match value {
        Expr::Lit(literal) => (false, &literal.lit),
        Expr::Unary(unary) if matches!(unary.op, UnOp::Neg(_)) => match &*unary.expr {
            Expr::Lit(literal) => (true, &literal.lit),
            _ => return Err(not_a_literal(value)),
        },
        _ => return Err(not_a_literal(value)),
    };
    let mismatch = |expected: &str| syn::Error::new_spanned(value, format!("expected {expected} as the default of this argument"));
    match (shape.element, literal) {
        (Element::String, Lit::Str(text)) if !negative => {
            let text = text.value();
            Ok(DefaultValue {
                json: json_string(&text),
                expression: quote!(::std::string::String::from(#text)),
            })
        }
        (Element::String, _) => Err(mismatch("a string literal (`\"text\"`)")),
        (Element::Boolean, Lit::Bool(boolean)) if !negative => {
            let boolean = boolean.value;
            Ok(DefaultValue {
                json: boolean.to_string(),
                expression: quote!(#boolean),
            })
        }
        (Element::Boolean, _) => Err(mismatch("`true` or `false`")),
        (Element::Integer, Lit::Int(integer)) if matches!(integer.suffix(), "" | "i64") => {
            let digits = integer.base10_digits();
            let text = if negative { format!("-{digits}") } else { digits.to_owned() };
            let parsed: i64 = text
                .parse()
                .map_err(|_| syn::Error::new_spanned(value, "this default does not fit in an `i64`"))?;
            let literal = proc_macro2::Literal::i64_suffixed(parsed);
            Ok(DefaultValue {
                json: parsed.to_string(),
                expression: quote!(#literal),
            })
        }
        (Element::Integer, _) => Err(mismatch("an integer literal (`3`)")),
        (Element::Float, Lit::Float(float)) => float_default(value, float.base10_digits(), float.suffix(), negative),
        (Element::Float, Lit::Int(integer)) => float_default(value, integer.base10_digits(), integer.suffix(), negative),
        (Element::Float, _) => Err(mismatch("a float literal (`1.5`)")),
        (Element::Container | Element::Directory | Element::File, _) => Err(syn::Error::new_spanned(
            value,
            "a `Container`, `Directory` or `File` argument takes no default: defaults are \
                 string, boolean, integer or float literals",
        )),
    }
}

/// The default of an `f64` argument, from the digits and suffix of a float or integer
/// literal.
fn float_default(value: &Expr, digits: &str, suffix: &str, negative: bool) -> syn::Result<DefaultValue> {
    let mismatch = || syn::Error::new_spanned(value, "expected a float literal (`1.5`) as the default of this argument");
    if !matches!(suffix, "" | "f64") {
        return Err(mismatch());
    }
    let parsed: f64 = digits.parse().map_err(|_| mismatch())?;
    let parsed = if negative { -parsed } else { parsed };
    if !parsed.is_finite() {
        return Err(syn::Error::new_spanned(value, "this default does not fit in an `f64`"));
    }
    let literal = proc_macro2::Literal::f64_suffixed(parsed);
    Ok(DefaultValue {
        // `Debug` always writes a decimal point or an exponent (`3.0`, `1e100`), both of
        // which make valid JSON numbers.
        json: format!("{parsed:?}"),
        expression: quote!(#literal),
    })
}

fn not_a_literal(value: &Expr) -> syn::Error {
    syn::Error::new_spanned(value, "a default is a literal: a string (`\"text\"`), `true` or `false`, an integer or a float")
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut json = String::with_capacity(text.len() + 2);
    json.push('"');
    for character in text.chars() {
        match character {
            '"' => json.push_str("\\\""),
            '\\' => json.push_str("\\\\"),
            '\n' => json.push_str("\\n"),
            '\r' => json.push_str("\\r"),
            '\t' => json.push_str("\\t"),
            control if u32::from(control) < 0x20 => {
                json.push_str(&format!("\\u{:04x}", u32::from(control)));
            }
            other => json.push(other),
        }
    }
    json.push('"');
    json
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn shape_of(ty: Type) -> Result<Shape, String> {
        argument_shape(&ty).map_err(|error| error.to_string())
    }

    fn scalar(element: Element) -> Shape {
        Shape {
            element,
            is_list: false,
            optional: false,
        }
    }

    #[test]
    fn accepts_scalars_objects_lists_and_options() {
        assert_eq!(shape_of(parse_quote!(String)), Ok(scalar(Element::String)));
        assert_eq!(shape_of(parse_quote!(bool)), Ok(scalar(Element::Boolean)));
        assert_eq!(shape_of(parse_quote!(i64)), Ok(scalar(Element::Integer)));
        assert_eq!(shape_of(parse_quote!(f64)), Ok(scalar(Element::Float)));
        assert_eq!(shape_of(parse_quote!(tanto_sdk::Directory)), Ok(scalar(Element::Directory)));
        assert_eq!(
            shape_of(parse_quote!(std::vec::Vec<File>)),
            Ok(Shape {
                is_list: true,
                ..scalar(Element::File)
            })
        );
        assert_eq!(
            shape_of(parse_quote!(Option<Vec<Container>>)),
            Ok(Shape {
                element: Element::Container,
                is_list: true,
                optional: true,
            })
        );
    }

    #[test]
    fn rejects_other_types_with_a_hint() {
        let error = shape_of(parse_quote!(&str)).unwrap_err();
        assert!(error.contains("take `String` instead of `&str`"), "{error}");
        let error = shape_of(parse_quote!(u32)).unwrap_err();
        assert!(error.contains("integers are `i64`"), "{error}");
        let error = shape_of(parse_quote!(Vec<Vec<String>>)).unwrap_err();
        assert!(error.contains("not lists or `Option`s"), "{error}");
        let error = shape_of(parse_quote!(Option<Option<i64>>)).unwrap_err();
        assert!(error.contains("cannot hold another `Option`"), "{error}");
        let error = shape_of(parse_quote!(std::collections::HashMap<String, String>)).unwrap_err();
        assert!(error.starts_with("unsupported argument type;"), "{error}");
        assert!(shape_of(parse_quote!(())).is_err());
        assert!(shape_of(parse_quote!(<T as Trait>::String)).is_err());
    }

    #[test]
    fn return_types_include_unit_and_results() {
        let value_type = |ty: Type| match return_shape(&ty) {
            Ok(ReturnShape::Fallible { value_type }) => Some(quote!(#value_type).to_string()),
            _ => None,
        };
        assert!(matches!(return_shape(&parse_quote!(())), Ok(ReturnShape::Unit)));
        assert!(matches!(return_shape(&parse_quote!(Vec<String>)), Ok(ReturnShape::Value)));
        assert_eq!(value_type(parse_quote!(tanto_sdk::Result<()>)).as_deref(), Some("()"));
        assert_eq!(value_type(parse_quote!(Result<Directory, MyError>)).as_deref(), Some("Directory"));
        assert!(return_shape(&parse_quote!(Result<&str>)).is_err());
        assert!(return_shape(&parse_quote!(Result<String, Error, Extra>)).is_err());
        assert!(return_shape(&parse_quote!(Option<()>)).is_err());
    }

    fn default_of(value: Expr, element: Element) -> Result<(String, String), String> {
        default_value(&value, scalar(element))
            .map(|default| (default.json, default.expression.to_string()))
            .map_err(|error| error.to_string())
    }

    #[test]
    fn defaults_become_json_literals_and_rust_expressions() {
        assert_eq!(
            default_of(parse_quote!("say \"hi\"\n"), Element::String),
            Ok((
                r#""say \"hi\"\n""#.to_owned(),
                r#":: std :: string :: String :: from ("say \"hi\"\n")"#.to_owned()
            ))
        );
        assert_eq!(default_of(parse_quote!(true), Element::Boolean), Ok(("true".to_owned(), "true".to_owned())));
        assert_eq!(default_of(parse_quote!(-3), Element::Integer), Ok(("-3".to_owned(), "- 3i64".to_owned())));
        assert_eq!(default_of(parse_quote!(3), Element::Float), Ok(("3.0".to_owned(), "3f64".to_owned())));
        assert_eq!(default_of(parse_quote!(1.5), Element::Float).map(|(json, _)| json), Ok("1.5".to_owned()));
    }

    #[test]
    fn defaults_of_the_wrong_kind_are_rejected() {
        let error = default_of(parse_quote!("3"), Element::Integer).unwrap_err();
        assert!(error.contains("expected an integer literal"), "{error}");
        let error = default_of(parse_quote!(1.5), Element::Integer).unwrap_err();
        assert!(error.contains("expected an integer literal"), "{error}");
        let error = default_of(parse_quote!(99999999999999999999), Element::Integer).unwrap_err();
        assert!(error.contains("does not fit"), "{error}");
        let error = default_of(parse_quote!(3u8), Element::Integer).unwrap_err();
        assert!(error.contains("expected an integer literal"), "{error}");
        let error = default_of(parse_quote!(some_constant), Element::String).unwrap_err();
        assert!(error.contains("a default is a literal"), "{error}");
        let error = default_of(parse_quote!("x"), Element::Directory).unwrap_err();
        assert!(error.contains("takes no default"), "{error}");

        let optional = Shape {
            optional: true,
            ..scalar(Element::String)
        };
        let error = default_value(&parse_quote!("x"), optional).map(|_| ()).unwrap_err();
        assert!(error.to_string().contains("`None` when absent"), "{error}");
    }

    #[test]
    fn json_strings_escape_quotes_and_controls() {
        assert_eq!(json_string("a\"b\\c\u{1}"), r#""a\"b\\c\u0001""#);
    }
}
