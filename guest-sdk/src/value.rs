//! Values passed to and returned by module functions, and the traits that convert Rust
//! types to and from them.
//!
//! `#[tanto_sdk::module]` uses these traits to read a function's arguments and to return
//! its result, so a module author rarely names them. They are implemented for exactly the
//! types the contract can carry:
//!
//! | Rust type | WIT type |
//! |---|---|
//! | `String`, `bool`, `i64`, `f64` | `string`, `boolean`, `integer`, `float` |
//! | [`Container`], [`Directory`], [`File`], [`Secret`], [`Service`] | `container`, `directory`, `file`, `secret`, `service` |
//! | `Vec<T>` of one of the above | `list<T>` |
//! | `Option<T>` of one of the above (lists included) | `option<T>` |
//! | `()` (return values only) | `void` |
//!
//! A default, `#[arg(default = <literal>)]`, is a literal of a type with a [`FromLiteral`]
//! impl: a string literal for `String`, `true` or `false` for `bool`, an integer for
//! `i64`, a float or an integer for `f64`.

use crate::bindings::tanto::core::types as wit;
use crate::schema::{TypeKind, TypeRef};
use crate::{Container, Directory, File, Secret, Service};

/// Calls `$mac! { table }` with every kind of scalar and object value the contract
/// carries, one line each: `Variant(RustType, scalar|object) = "wit-name", "doc";`.
///
/// It is the SDK's one list of kinds: it expands into the variants of [`Value`], [`Item`]
/// and [`TypeKind`], their names, their conversions to and from the WIT bindings (an
/// `object` is a resource handle, a `scalar` is passed as is), and the value traits of
/// each Rust type. `#[tanto_sdk::module]` has no list of its own: the code it generates
/// requires these traits of each argument and return type, so a type is accepted when
/// it has them, and rustc's error for one that has not is the trait's
/// `#[diagnostic::on_unimplemented]` hint.
///
/// A new kind is one line here (and its WIT line), its row in the table above and the
/// types named in the hints of [`FromValue`], [`IntoValue`], [`Element`] and
/// [`Required`]; and, if its arguments take a default, a [`FromLiteral`] impl.
macro_rules! foreach_kind {
    ($mac:ident) => {
        $mac! {
            String(String, scalar) = "string", "A UTF-8 string: `String`.";
            Boolean(bool, scalar) = "boolean", "A boolean: `bool`.";
            Integer(i64, scalar) = "integer", "A signed 64-bit integer: `i64`.";
            Float(f64, scalar) = "float", "A 64-bit floating point number: `f64`.";
            Container(Container, object) = "container", "A [`Container`](crate::Container).";
            Directory(Directory, object) = "directory", "A [`Directory`](crate::Directory).";
            File(File, object) = "file", "A [`File`](crate::File).";
            Secret(Secret, object) = "secret", "A [`Secret`](crate::Secret).";
            Service(Service, object) = "service", "A [`Service`](crate::Service).";
        }
    };
}
pub(crate) use foreach_kind;

/// A WIT value of one kind as the SDK's value: objects are wrapped, scalars are the same.
macro_rules! from_wit {
    (scalar $rust:ty, $inner:expr) => {
        $inner
    };
    (object $rust:ty, $inner:expr) => {
        <$rust>::from_wit($inner)
    };
}

/// An SDK value of one kind as the WIT value: objects are unwrapped, scalars the same.
macro_rules! into_wit {
    (scalar, $inner:expr) => {
        $inner
    };
    (object, $inner:expr) => {
        $inner.into_wit()
    };
}

/// The value enums and their conversions, from [`foreach_kind!`].
macro_rules! value_enums {
    ($($variant:ident($rust:ty, $carried:ident) = $name:literal, $doc:literal;)*) => {
        /// A value passed to or returned by a module function. Later versions of the
        /// contract add kinds of values.
        #[derive(Debug)]
        #[non_exhaustive]
        pub enum Value {
            /// No value: an absent optional or a function's empty result.
            None,
            $(#[doc = $doc] $variant($rust),)*
            /// A list of elements, all of one kind for the values a function accepts.
            List(Vec<Item>),
        }

        /// An element of a [`Value::List`]. Lists hold scalars and objects, never other
        /// lists or absent values.
        #[derive(Debug)]
        #[non_exhaustive]
        pub enum Item {
            $(#[doc = $doc] $variant($rust),)*
        }

        impl Value {
            /// What this value is, as named in messages about mismatched values
            /// (`string`, `list`, ...).
            pub fn kind_name(&self) -> &'static str {
                match self {
                    Value::None => "none",
                    $(Value::$variant(_) => $name,)*
                    Value::List(_) => "list",
                }
            }
        }

        impl Item {
            /// What this element is, as named in messages about mismatched values.
            pub fn kind_name(&self) -> &'static str {
                match self {
                    $(Item::$variant(_) => $name,)*
                }
            }
        }

        impl From<wit::Item> for Item {
            fn from(item: wit::Item) -> Self {
                match item {
                    $(wit::Item::$variant(inner) => Item::$variant(from_wit!($carried $rust, inner)),)*
                }
            }
        }

        impl From<Item> for wit::Item {
            fn from(item: Item) -> Self {
                match item {
                    $(Item::$variant(inner) => wit::Item::$variant(into_wit!($carried, inner)),)*
                }
            }
        }

        impl From<wit::Value> for Value {
            fn from(value: wit::Value) -> Self {
                match value {
                    wit::Value::None => Value::None,
                    $(wit::Value::$variant(inner) => Value::$variant(from_wit!($carried $rust, inner)),)*
                    wit::Value::List(items) => Value::List(items.into_iter().map(Into::into).collect()),
                }
            }
        }

        impl From<Value> for wit::Value {
            fn from(value: Value) -> Self {
                match value {
                    Value::None => wit::Value::None,
                    $(Value::$variant(inner) => wit::Value::$variant(into_wit!($carried, inner)),)*
                    Value::List(items) => wit::Value::List(items.into_iter().map(Into::into).collect()),
                }
            }
        }

        $(element_type!($rust => $variant);)*
    };
}

/// A value did not have the type it was read as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, got {found}")]
pub struct TypeMismatch {
    /// The type that was expected.
    pub expected: TypeRef,
    /// What was found instead (`boolean`, `list with a string element`, ...).
    pub found: String,
}

impl From<TypeMismatch> for crate::Error {
    /// The mismatch as an [`Error::InvalidArgument`](crate::Error::InvalidArgument).
    fn from(mismatch: TypeMismatch) -> Self {
        crate::Error::InvalidArgument(mismatch.to_string())
    }
}

/// A Rust type with a counterpart in the contract: gives the [`TypeRef`] that a module's
/// schema declares for it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a type of the tanto contract",
    label = "no counterpart in the contract",
    note = "the contract's types are `String`, `bool`, `i64`, `f64`, `Directory`, `File`, `Container`, `Secret`, `Service`, and `Vec<T>` or `Option<T>` of those"
)]
pub trait Typed {
    /// The type as the module's schema declares it.
    fn type_ref() -> TypeRef;
}

/// Converts a Rust value into a [`Value`] a module function returns.
///
/// `#[tanto_sdk::module]` requires it of a function's return type (of `T` in
/// `Result<T>`), so that its message is the error of a type that cannot be returned.
#[diagnostic::on_unimplemented(
    message = "a module function cannot return `{Self}`",
    label = "not a type a module function returns",
    note = "integers are `i64`, floating point numbers `f64`, and text `String`",
    note = "a module function returns `()`, `String`, `bool`, `i64`, `f64`, `Directory`, `File`, `Container`, `Secret`, `Service`, `Vec<T>` or `Option<T>` of those, or `Result<T>` of any of these"
)]
pub trait IntoValue: Typed {
    /// The value as the contract carries it.
    fn into_value(self) -> Value;
}

/// Reads a Rust value from a [`Value`] a module function was given.
///
/// `#[tanto_sdk::module]` requires it of each argument's type, so that its message is
/// the error of a type that cannot be an argument.
#[diagnostic::on_unimplemented(
    message = "a module function cannot take `{Self}`",
    label = "not a type a module function takes",
    note = "integers are `i64`, floating point numbers `f64`, and text `String`; arguments are taken by value (`String`, not `&str`; `Directory`, not `&Directory`)",
    note = "a module function takes `String`, `bool`, `i64`, `f64`, `Directory`, `File`, `Container`, `Secret`, `Service`, and `Vec<T>` or `Option<T>` of those"
)]
pub trait FromValue: Typed + Sized {
    /// The value, or why it does not have this type.
    fn from_value(value: Value) -> Result<Self, TypeMismatch>;

    /// The value of an argument that was not given: `None` for an `Option`, and no value
    /// for the other types, which are required.
    fn absent() -> Option<Self> {
        None
    }
}

/// A type whose arguments can have a default, `#[arg(default = <literal>)]`, from a Rust
/// literal of type `L`.
///
/// `#[tanto_sdk::module]` reads the literal as the default when the argument is absent,
/// and declares its JSON in the schema; a literal of another type, or a default of a type
/// that takes none, is a compile error at the literal.
#[diagnostic::on_unimplemented(
    message = "`{L}` is not a default for an argument of type `{Self}`",
    label = "not a default for `{Self}`",
    note = "a default is a literal of the argument's type: a string literal (`\"text\"`) for `String`, `true` or `false` for `bool`, an integer literal (`3`) for `i64`, a float or integer literal (`1.5`) for `f64`",
    note = "an `Option` argument takes no default: it is `None` when absent; lists and objects take no default"
)]
pub trait FromLiteral<L>: FromValue {
    /// The value of the argument when it is not given.
    fn from_literal(literal: L) -> Self;

    /// The default as the schema declares it: a JSON literal (`"world"`, `true`, `3`, `1.5`).
    fn json(literal: L) -> String;
}

impl FromLiteral<&'static str> for String {
    fn from_literal(literal: &'static str) -> Self {
        literal.to_owned()
    }

    fn json(literal: &'static str) -> String {
        json_string(literal)
    }
}

impl FromLiteral<bool> for bool {
    fn from_literal(literal: bool) -> Self {
        literal
    }

    fn json(literal: bool) -> String {
        literal.to_string()
    }
}

impl FromLiteral<i64> for i64 {
    fn from_literal(literal: i64) -> Self {
        literal
    }

    fn json(literal: i64) -> String {
        literal.to_string()
    }
}

impl FromLiteral<f64> for f64 {
    fn from_literal(literal: f64) -> Self {
        literal
    }

    fn json(literal: f64) -> String {
        // `Debug` always writes a decimal point or an exponent (`3.0`, `1e100`), both of
        // which make valid JSON numbers; the literal is finite, since an out-of-range
        // one is rustc's `overflowing_literals` error.
        format!("{literal:?}")
    }
}

/// `default = 3` for an `f64` argument, which reads as `3.0`.
impl FromLiteral<i64> for f64 {
    fn from_literal(literal: i64) -> Self {
        literal as f64
    }

    fn json(literal: i64) -> String {
        <f64 as FromLiteral<f64>>::json(literal as f64)
    }
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

/// A type that can be an element of a list: a scalar or an object, never a list or an
/// `Option`, because the contract's lists hold only those.
#[diagnostic::on_unimplemented(
    message = "a `Vec` of the tanto contract cannot hold `{Self}`",
    label = "not an element of a list",
    note = "a `Vec` holds `String`, `bool`, `i64`, `f64`, `Directory`, `File`, `Container`, `Secret` or `Service`, not lists or `Option`s"
)]
pub trait Element: Sized {
    /// The element's kind.
    const KIND: TypeKind;

    /// The element as a list item.
    fn into_item(self) -> Item;

    /// The element read from a list item, or the kind the item has instead.
    fn from_item(item: Item) -> Result<Self, &'static str>;
}

/// A type whose values are always present, so that `Option` of it is meaningful: the
/// [`Element`] types and lists of them. `Option<Option<T>>` has no counterpart in the
/// contract, which has a single `none`.
#[diagnostic::on_unimplemented(
    message = "an `Option` of the tanto contract cannot hold `{Self}`",
    label = "not a value an `Option` holds",
    note = "`Option` holds `String`, `bool`, `i64`, `f64`, `Directory`, `File`, `Container`, `Secret`, `Service` or a `Vec` of those: a value is either given or `None`, and `()` is no value"
)]
pub trait Required: Typed {}

/// Implements the value traits for a scalar or object type that is both a value and an
/// element of the contract, under the same variant name in `value` and `item`.
macro_rules! element_type {
    ($rust:ty => $variant:ident) => {
        impl Element for $rust {
            const KIND: TypeKind = TypeKind::$variant;

            fn into_item(self) -> Item {
                Item::$variant(self)
            }

            fn from_item(item: Item) -> Result<Self, &'static str> {
                match item {
                    Item::$variant(inner) => Ok(inner),
                    other => Err(other.kind_name()),
                }
            }
        }

        impl Typed for $rust {
            fn type_ref() -> TypeRef {
                TypeRef::of(TypeKind::$variant)
            }
        }

        impl Required for $rust {}

        impl IntoValue for $rust {
            fn into_value(self) -> Value {
                Value::$variant(self)
            }
        }

        impl FromValue for $rust {
            fn from_value(value: Value) -> Result<Self, TypeMismatch> {
                match value {
                    Value::$variant(inner) => Ok(inner),
                    other => Err(TypeMismatch {
                        expected: Self::type_ref(),
                        found: other.kind_name().to_owned(),
                    }),
                }
            }
        }
    };
}

foreach_kind!(value_enums);

impl<T: Element> Typed for Vec<T> {
    fn type_ref() -> TypeRef {
        TypeRef::of(T::KIND).list()
    }
}

impl<T: Element> Required for Vec<T> {}

impl<T: Element> IntoValue for Vec<T> {
    fn into_value(self) -> Value {
        Value::List(self.into_iter().map(Element::into_item).collect())
    }
}

impl<T: Element> FromValue for Vec<T> {
    fn from_value(value: Value) -> Result<Self, TypeMismatch> {
        match value {
            Value::List(items) => items
                .into_iter()
                .map(T::from_item)
                .collect::<Result<Vec<T>, &'static str>>()
                .map_err(|found| TypeMismatch {
                    expected: Self::type_ref(),
                    found: format!("list with {} {found} element", article(found)),
                }),
            other => Err(TypeMismatch {
                expected: Self::type_ref(),
                found: other.kind_name().to_owned(),
            }),
        }
    }
}

/// `a` or `an`, whichever reads right before `word`.
fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}

impl<T: Required> Typed for Option<T> {
    fn type_ref() -> TypeRef {
        T::type_ref().optional()
    }
}

impl<T: Required + IntoValue> IntoValue for Option<T> {
    fn into_value(self) -> Value {
        match self {
            Some(inner) => inner.into_value(),
            None => Value::None,
        }
    }
}

impl<T: Required + FromValue> FromValue for Option<T> {
    fn from_value(value: Value) -> Result<Self, TypeMismatch> {
        match value {
            Value::None => Ok(None),
            present => T::from_value(present).map(Some).map_err(|mismatch| TypeMismatch {
                expected: Self::type_ref(),
                found: mismatch.found,
            }),
        }
    }

    fn absent() -> Option<Self> {
        Some(None)
    }
}

impl Typed for () {
    fn type_ref() -> TypeRef {
        TypeRef::of(TypeKind::Void)
    }
}

impl IntoValue for () {
    fn into_value(self) -> Value {
        Value::None
    }
}

/// The result of a dependency's function that returns nothing.
impl FromValue for () {
    fn from_value(value: Value) -> Result<Self, TypeMismatch> {
        match value {
            Value::None => Ok(()),
            other => Err(TypeMismatch {
                expected: Self::type_ref(),
                found: other.kind_name().to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_round_trip() {
        assert_eq!(String::from_value("a".to_owned().into_value()), Ok("a".to_owned()));
        assert_eq!(bool::from_value(true.into_value()), Ok(true));
        assert_eq!(i64::from_value((-3_i64).into_value()), Ok(-3));
        assert_eq!(f64::from_value(1.5_f64.into_value()), Ok(1.5));
        assert_eq!(Vec::<i64>::from_value(vec![1_i64, 2].into_value()), Ok(vec![1, 2]));
        assert_eq!(Option::<Vec<String>>::from_value(Value::None), Ok(None::<Vec<String>>));
        assert!(matches!(().into_value(), Value::None));
        assert!(matches!(None::<bool>.into_value(), Value::None));
    }

    #[test]
    fn type_refs_follow_the_rust_type() {
        assert_eq!(String::type_ref(), TypeRef::of(TypeKind::String));
        assert_eq!(<()>::type_ref(), TypeRef::of(TypeKind::Void));
        assert_eq!(Option::<Vec<Directory>>::type_ref(), TypeRef::of(TypeKind::Directory).list().optional());
        assert_eq!(Vec::<File>::type_ref(), TypeRef::of(TypeKind::File).list());
        assert_eq!(Option::<Container>::type_ref(), TypeRef::of(TypeKind::Container).optional());
    }

    #[test]
    fn default_literals_become_values_and_json() {
        assert_eq!(<String as FromLiteral<&str>>::json("say \"hi\"\n\u{1}"), r#""say \"hi\"\n\u0001""#);
        assert_eq!(<String as FromLiteral<&str>>::from_literal("hi"), "hi");
        assert_eq!(<bool as FromLiteral<bool>>::json(true), "true");
        assert_eq!(<i64 as FromLiteral<i64>>::json(-3), "-3");
        assert_eq!(<f64 as FromLiteral<f64>>::json(1.5), "1.5");
        assert_eq!(<f64 as FromLiteral<f64>>::json(1e100), "1e100");
        assert_eq!(<f64 as FromLiteral<i64>>::json(3), "3.0");
        assert_eq!(<f64 as FromLiteral<i64>>::from_literal(-3), -3.0);
    }

    #[test]
    fn absent_arguments_are_none_only_for_options() {
        assert_eq!(String::absent(), None);
        assert_eq!(Option::<Vec<i64>>::absent(), Some(None));
    }

    #[test]
    fn mismatches_name_both_types() {
        let mismatch = i64::from_value(Value::Boolean(true)).unwrap_err();
        assert_eq!(mismatch.to_string(), "expected integer, got boolean");

        let list = Value::List(vec![Item::String("a".into()), Item::Integer(1)]);
        let mismatch = Vec::<String>::from_value(list).unwrap_err();
        assert_eq!(mismatch.to_string(), "expected list<string>, got list with an integer element");

        let mismatch = Option::<String>::from_value(Value::Float(1.0)).unwrap_err();
        assert_eq!(mismatch.to_string(), "expected option<string>, got float");
    }
}
