//! What the macro reads from the types of a module function by their syntax: whether it
//! returns a `Result`, and whether a default is a literal. Which types the contract
//! carries is not known here: the generated code requires the SDK's value traits of each
//! type (`FromValue` of arguments, `IntoValue` of returns, `FromLiteral` of defaults),
//! so the SDK's table of kinds is the one list, and a type it lacks is rustc's error at
//! the type, with the hint of the trait's `#[diagnostic::on_unimplemented]`.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{ToTokens, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, GenericArgument, Lit, PathArguments, Type, UnOp};

/// The shape of a return type.
pub enum ReturnShape {
    /// `()` or no return type.
    Unit,
    /// A value, of a type the contract carries if it implements `IntoValue`.
    Value,
    /// `Result<T>` or `Result<T, E>`: the function can fail and returns `T` (possibly
    /// `()`) when it does not.
    Fallible { value_type: Box<Type> },
}

/// The shape of a return type, or an error at a `Result` with the wrong arguments.
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
                "`Result` takes its value type and optionally its error type, as in `Result<String>`",
            ));
        };
        return Ok(ReturnShape::Fallible {
            value_type: Box::new((*value_type).clone()),
        });
    }
    Ok(ReturnShape::Value)
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

/// The last segment of a plain path type (`std::result::Result<T>` → `Result`), with its
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

/// A `#[arg(default = ...)]` literal and its Rust type, which the generated code names,
/// so that rustc knows it before it looks for the argument type's `FromLiteral` impl:
/// whether the literal suits the argument is the SDK's trait, and one that does not is
/// the trait's error at the literal.
pub struct DefaultLiteral {
    /// The literal, possibly negative (`"world"`, `-3`).
    pub expression: TokenStream,
    /// Its type: `&'static str`, `bool`, the suffix of a number, else the contract's
    /// numbers, `i64` and `f64`.
    pub ty: TokenStream,
}

/// The literal of a `#[arg(default = ...)]`, or an error if it is not one.
pub fn default_literal(value: &Expr) -> syn::Result<DefaultLiteral> {
    let literal = match value {
        Expr::Lit(literal) => &literal.lit,
        Expr::Unary(unary) if matches!(unary.op, UnOp::Neg(_)) => match &*unary.expr {
            Expr::Lit(literal) if matches!(literal.lit, Lit::Int(_) | Lit::Float(_)) => &literal.lit,
            _ => return Err(not_a_literal(value)),
        },
        _ => return Err(not_a_literal(value)),
    };
    let span = value.span();
    let ty = match literal {
        Lit::Str(_) => quote_spanned!(span=> &'static str),
        Lit::Bool(_) => quote_spanned!(span=> bool),
        Lit::Int(integer) => number_type(integer.suffix(), "i64", span),
        Lit::Float(float) => number_type(float.suffix(), "f64", span),
        _ => return Err(not_a_literal(value)),
    };
    Ok(DefaultLiteral {
        expression: value.to_token_stream(),
        ty,
    })
}

/// The type of a number literal: its suffix, or `unsuffixed`.
fn number_type(suffix: &str, unsuffixed: &str, span: Span) -> TokenStream {
    let name = if suffix.is_empty() { unsuffixed } else { suffix };
    Ident::new(name, span).into_token_stream()
}

fn not_a_literal(value: &Expr) -> syn::Error {
    syn::Error::new_spanned(value, "a default is a literal: a string (`\"text\"`), `true` or `false`, an integer or a float")
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;
    use syn::parse_quote;

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
        assert_eq!(value_type(parse_quote!(Result<&str>)).as_deref(), Some("& str"));
        assert!(return_shape(&parse_quote!(Result<String, Error, Extra>)).is_err());
    }

    #[test]
    fn defaults_are_literals_with_the_contracts_number_types() {
        let check = |value: Expr| default_literal(&value).map(|literal| literal.ty.to_string()).map_err(|error| error.to_string());
        assert_eq!(check(parse_quote!("world")).as_deref(), Ok("& 'static str"));
        assert_eq!(check(parse_quote!(-3)).as_deref(), Ok("i64"));
        assert_eq!(check(parse_quote!(-1.5)).as_deref(), Ok("f64"));
        assert_eq!(check(parse_quote!(1e3)).as_deref(), Ok("f64"));
        assert_eq!(check(parse_quote!(3u8)).as_deref(), Ok("u8"));
        assert_eq!(check(parse_quote!(false)).as_deref(), Ok("bool"));
        let error = check(parse_quote!(some_constant)).unwrap_err();
        assert!(error.contains("a default is a literal"), "{error}");
        assert!(check(parse_quote!(-"text")).is_err());
        assert!(check(parse_quote!(b'x')).is_err());
    }
}
