//! What a module tells the host about itself: its functions, their documented and typed
//! arguments, and their return types.
//!
//! `#[tanto_sdk::module]` builds the [`ModuleSchema`] of a module from its `impl` block;
//! the host asks for it once (`describe`) to list the functions (`tanto functions`) and
//! to type the arguments of `tanto call` before invoking anything.

use std::fmt::{self, Display};

use crate::bindings::exports::tanto::core::guest as wit_guest;
use crate::bindings::tanto::core::types as wit;

/// Everything a module offers.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleSchema {
    /// The module's name (its crate name).
    pub name: String,
    /// The module's documentation: the doc comment of its `#[tanto_sdk::module]` block.
    pub description: String,
    /// The functions the module exports, in the order they are declared.
    pub functions: Vec<FunctionSchema>,
    /// The arguments of the module's constructor (its `pub fn new`), given before the
    /// function (`tanto call --source=. build`) and passed to every invocation; empty
    /// when the module has no constructor.
    pub constructor: Vec<ArgumentSchema>,
}

/// A function a module offers.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSchema {
    /// The function's name in kebab-case, as `tanto call` spells it (`build-image`).
    pub name: String,
    /// The function's documentation: its doc comment.
    pub description: String,
    /// The function's arguments, in the order they are declared.
    pub arguments: Vec<ArgumentSchema>,
    /// What the function returns ([`TypeKind::Void`] for nothing).
    pub return_type: TypeRef,
}

/// An argument of a module function.
#[derive(Debug, Clone, PartialEq)]
pub struct ArgumentSchema {
    /// The argument's name in kebab-case, as `tanto call` spells it (`--src-dir`).
    pub name: String,
    /// The argument's documentation: the `description` of its `#[arg(...)]`.
    pub description: String,
    /// The argument's type. An optional argument (an `Option` or one with a default) may
    /// be left out.
    pub type_ref: TypeRef,
    /// The value used when the argument is not given, as a JSON literal (`"world"`,
    /// `true`, `3`, `1.5`).
    pub default_value: Option<String>,
}

/// The kind enum, its WIT names and its conversion, from
/// [`foreach_kind!`](crate::value::foreach_kind).
macro_rules! type_kind {
    ($($variant:ident($rust:ty, $carried:ident) = $name:literal, $doc:literal;)*) => {
        /// The element type of a value or argument. Later versions of the contract add
        /// kinds (secrets, cache volumes, services).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum TypeKind {
            /// No value: what a function returning `()` returns.
            Void,
            $(#[doc = $doc] $variant,)*
        }

        impl TypeKind {
            /// The kind's name in WIT (`string`, `boolean`, ...).
            pub const fn name(self) -> &'static str {
                match self {
                    TypeKind::Void => "void",
                    $(TypeKind::$variant => $name,)*
                }
            }
        }

        impl From<TypeKind> for wit::TypeKind {
            fn from(kind: TypeKind) -> Self {
                match kind {
                    TypeKind::Void => wit::TypeKind::Void,
                    $(TypeKind::$variant => wit::TypeKind::$variant,)*
                }
            }
        }
    };
}

crate::value::foreach_kind!(type_kind);

/// A value's type: an element kind, optionally a list of them, optionally optional.
///
/// Displayed the way WIT spells types (`string`, `list<file>`, `option<list<string>>`),
/// in the messages of rejected arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TypeRef {
    /// The element type.
    pub kind: TypeKind,
    /// The value is a list of `kind`.
    pub is_list: bool,
    /// The value may be absent.
    pub optional: bool,
}

impl TypeRef {
    /// A single, required value of `kind`.
    pub const fn of(kind: TypeKind) -> Self {
        TypeRef {
            kind,
            is_list: false,
            optional: false,
        }
    }

    /// A list of this type's elements.
    pub const fn list(self) -> Self {
        TypeRef { is_list: true, ..self }
    }

    /// This type, allowed to be absent.
    pub const fn optional(self) -> Self {
        TypeRef { optional: true, ..self }
    }
}

impl Display for TypeKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

impl Display for TypeRef {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.optional, self.is_list) {
            (false, false) => write!(formatter, "{}", self.kind),
            (false, true) => write!(formatter, "list<{}>", self.kind),
            (true, false) => write!(formatter, "option<{}>", self.kind),
            (true, true) => write!(formatter, "option<list<{}>>", self.kind),
        }
    }
}

impl From<TypeRef> for wit::TypeRef {
    fn from(type_ref: TypeRef) -> Self {
        wit::TypeRef {
            kind: type_ref.kind.into(),
            is_list: type_ref.is_list,
            optional: type_ref.optional,
        }
    }
}

impl From<ArgumentSchema> for wit_guest::Argument {
    fn from(argument: ArgumentSchema) -> Self {
        wit_guest::Argument {
            name: argument.name,
            description: argument.description,
            type_: argument.type_ref.into(),
            default_value: argument.default_value,
        }
    }
}

impl From<FunctionSchema> for wit_guest::Function {
    fn from(function: FunctionSchema) -> Self {
        wit_guest::Function {
            name: function.name,
            description: function.description,
            arguments: function.arguments.into_iter().map(Into::into).collect(),
            return_type: function.return_type.into(),
        }
    }
}

impl From<ModuleSchema> for wit_guest::ModuleSchema {
    fn from(schema: ModuleSchema) -> Self {
        wit_guest::ModuleSchema {
            name: schema.name,
            description: schema.description,
            functions: schema.functions.into_iter().map(Into::into).collect(),
            constructor: schema.constructor.into_iter().map(Into::into).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_refs_display_like_wit() {
        let string = TypeRef::of(TypeKind::String);
        assert_eq!(string.to_string(), "string");
        assert_eq!(string.list().to_string(), "list<string>");
        assert_eq!(string.optional().to_string(), "option<string>");
        assert_eq!(TypeRef::of(TypeKind::File).list().optional().to_string(), "option<list<file>>");
    }
}
