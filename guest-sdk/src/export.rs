//! How a module's functions reach the host.
//!
//! The component's `guest` export lives here, in the SDK, so that wit-bindgen's export
//! machinery stays private. It cannot know the module's type, so it calls two functions
//! by symbol name, `__tanto_module_describe` and `__tanto_module_call`, which
//! `#[tanto_sdk::module]` defines in the module's crate (the way `getrandom` links a
//! custom backend). The linker joins the two when it builds the module's `cdylib`. A
//! crate without `#[tanto_sdk::module]` fails to build instead of exporting a module that
//! offers nothing (the component encoder reports `failed to resolve import
//! env::__tanto_module_describe`), and a crate with two fails to compile.

use crate::error::{Error, Result};
use crate::schema::ModuleSchema;
use crate::value::{FromValue, Value};

/// A module: the functions of a `#[tanto_sdk::module]` block, with their schema.
///
/// `#[tanto_sdk::module]` implements it: for each invocation it makes a new value with
/// [`Module::construct`] (the block's `pub fn new`, or `Default::default()` for a module
/// without a constructor) and calls `invoke` on it. A module author calls it only to test
/// a module's schema and argument handling natively:
///
/// ```
/// use tanto_sdk::Module;
/// use tanto_sdk::value::Value;
///
/// #[derive(Default)]
/// struct Hello;
///
/// #[tanto_sdk::module]
/// impl Hello {
///     /// Greets `name`.
///     pub fn greet(&self, #[arg(default = "world")] name: String) -> String {
///         format!("hello, {name}")
///     }
/// }
///
/// assert_eq!(Hello::describe().functions[0].name, "greet");
/// let greeting = Hello.invoke("greet", vec![("name".into(), Value::String("ada".into()))])?;
/// assert!(matches!(greeting, Value::String(text) if text == "hello, ada"));
/// # Ok::<(), tanto_sdk::Error>(())
/// ```
pub trait Module: Sized {
    /// What the module offers: its functions, their documented and typed arguments, and
    /// their return types.
    fn describe() -> ModuleSchema;

    /// Makes the module's value from the named arguments of its constructor: its `pub fn
    /// new`, or `Default::default()` for a module without one.
    ///
    /// Fails with [`Error::InvalidArgument`] when an argument is missing, unknown (any
    /// argument, for a module without a constructor) or of the wrong type, and with the
    /// constructor's own error when it returns `Err`.
    fn construct(arguments: Vec<(String, Value)>) -> Result<Self>;

    /// Runs `function` (its kebab-case name) with named `arguments`.
    ///
    /// Fails with [`Error::NotFound`] naming the functions there are when `function` is
    /// not one of them, and with [`Error::InvalidArgument`] when an argument is missing,
    /// unknown or of the wrong type.
    fn invoke(&self, function: &str, arguments: Vec<(String, Value)>) -> Result<Value>;
}

/// The arguments of one invocation, read one by one by the code `#[tanto_sdk::module]`
/// generates, with errors that name the function and the argument.
#[doc(hidden)]
pub struct Arguments {
    /// Who takes the arguments, for errors: "function `greet`".
    subject: String,
    given: Vec<(String, Option<Value>)>,
}

impl Arguments {
    /// The `arguments` given to `function` (its kebab-case name).
    pub fn new(function: &'static str, arguments: Vec<(String, Value)>) -> Self {
        Arguments {
            subject: format!("function `{function}`"),
            given: arguments.into_iter().map(|(name, value)| (name, Some(value))).collect(),
        }
    }

    /// The `arguments` given to the constructor of `module`.
    pub fn constructor(module: &'static str, arguments: Vec<(String, Value)>) -> Self {
        Arguments {
            subject: format!("the constructor of module `{module}`"),
            given: arguments.into_iter().map(|(name, value)| (name, Some(value))).collect(),
        }
    }

    /// The argument `name`; when it is absent or `none`, the type's
    /// [`FromValue::absent`] value (`None` for an `Option`), and an error for a required
    /// type.
    pub fn read<T: FromValue>(&mut self, name: &str) -> Result<T> {
        match self.optional(name)? {
            Some(value) => Ok(value),
            None => T::absent().ok_or_else(|| Error::InvalidArgument(format!("{}: missing required argument `{name}`", self.subject))),
        }
    }

    /// The argument `name`, `None` when it is absent or `none`.
    pub fn optional<T: FromValue>(&mut self, name: &str) -> Result<Option<T>> {
        let value = self
            .given
            .iter_mut()
            .find(|(given_name, value)| given_name == name && value.is_some())
            .and_then(|(_, value)| value.take());
        match value {
            None | Some(Value::None) => Ok(None),
            Some(value) => T::from_value(value)
                .map(Some)
                .map_err(|mismatch| Error::InvalidArgument(format!("{}: argument `{name}`: {mismatch}", self.subject))),
        }
    }

    /// Fails when an argument was not read: a name the function does not take, or a
    /// name given twice. Neither is ignored, since a caller who made either mistake would
    /// get a result computed from other arguments than they meant.
    pub fn finish(self, accepted: &[&str]) -> Result<()> {
        let Some((name, _)) = self.given.iter().find(|(_, value)| value.is_some()) else {
            return Ok(());
        };
        let message = if accepted.contains(&name.as_str()) {
            format!("{}: argument `{name}` is given more than once", self.subject)
        } else if accepted.is_empty() {
            format!("{} takes no arguments, but got `{name}`", self.subject)
        } else {
            format!("{} has no argument `{name}`; it takes: {}", self.subject, accepted.join(", "))
        };
        Err(Error::InvalidArgument(message))
    }

    /// The error for a `function` the module does not offer.
    pub fn unknown_function(module: &str, function: &str, offered: &[&str]) -> Error {
        if offered.is_empty() {
            Error::NotFound(format!("module `{module}` has no function `{function}`: it offers none"))
        } else {
            Error::NotFound(format!("module `{module}` has no function `{function}`; it offers: {}", offered.join(", ")))
        }
    }
}

/// One exported function, as `#[tanto_sdk::module]` generates it: its schema and the
/// code that reads its arguments, calls it and returns its result.
///
/// Both come from one generated function, so that a type the contract cannot carry is
/// reported once, although both the schema and the call require its traits.
#[doc(hidden)]
pub struct Export<M> {
    pub schema: crate::schema::FunctionSchema,
    pub invoke: Invoke<M>,
}

/// Runs one function of a module `M` with its named arguments.
#[doc(hidden)]
pub type Invoke<M> = fn(&M, Vec<(String, Value)>) -> Result<Value>;

/// The type a module's schema declares for an argument of type `T`; requiring
/// [`FromValue`] rather than [`Typed`](crate::value::Typed) gives the error of a type
/// that cannot be an argument.
#[doc(hidden)]
pub fn argument_type<T: FromValue>() -> crate::schema::TypeRef {
    T::type_ref()
}

/// The type a module's schema declares for a return value of type `T`.
#[doc(hidden)]
pub fn return_type<T: crate::value::IntoValue>() -> crate::schema::TypeRef {
    T::type_ref()
}

/// The value of an argument of type `T` given as the `#[arg(default = ...)]` `literal`.
///
/// The literal is this function's argument, so that its type is known before rustc
/// looks for `T`'s [`FromLiteral`](crate::value::FromLiteral) impl, whose message is
/// then the error of a default that does not suit `T`.
#[doc(hidden)]
pub fn default_value<T: crate::value::FromLiteral<L>, L>(literal: L) -> T {
    T::from_literal(literal)
}

/// The JSON the schema declares for the `#[arg(default = ...)]` `literal` of an argument
/// of type `T`.
#[doc(hidden)]
pub fn default_json<T: crate::value::FromLiteral<L>, L>(literal: L) -> String {
    T::json(literal)
}

/// The component's `guest` export: forwards to the functions `#[tanto_sdk::module]`
/// defines in the module's crate. Compiled for wasm only, where the module's `cdylib`
/// defines them; native builds (tests, `cargo check`) never reference the symbols.
#[cfg(target_arch = "wasm32")]
mod component {
    use crate::bindings::exports::tanto::core::guest::{Guest, ModuleSchema};
    use crate::bindings::tanto::core::types::{Error, Value};

    unsafe extern "Rust" {
        /// Defined by `#[tanto_sdk::module]`: the module's schema.
        fn __tanto_module_describe() -> crate::schema::ModuleSchema;
        /// Defined by `#[tanto_sdk::module]`: makes a new module value from the
        /// constructor's arguments and runs one function on it.
        fn __tanto_module_call(
            constructor_arguments: Vec<(String, crate::value::Value)>,
            function: &str,
            arguments: Vec<(String, crate::value::Value)>,
        ) -> crate::Result<crate::value::Value>;
    }

    struct Component;

    impl Guest for Component {
        fn describe() -> ModuleSchema {
            // SAFETY: `#[tanto_sdk::module]` defines the symbol with exactly this
            // signature, and it is the only way to define it.
            unsafe { __tanto_module_describe() }.into()
        }

        fn invoke(constructor_arguments: Vec<(String, Value)>, function: String, arguments: Vec<(String, Value)>) -> Result<Value, Error> {
            let constructor_arguments = constructor_arguments.into_iter().map(|(name, value)| (name, value.into())).collect();
            let arguments = arguments.into_iter().map(|(name, value)| (name, value.into())).collect();
            // SAFETY: as in `describe`.
            unsafe { __tanto_module_call(constructor_arguments, &function, arguments) }
                .map(Into::into)
                .map_err(Into::into)
        }
    }

    crate::bindings::export!(Component with_types_in crate::bindings);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arguments(values: Vec<(&str, Value)>) -> Arguments {
        Arguments::new("greet", values.into_iter().map(|(name, value)| (name.to_owned(), value)).collect())
    }

    #[test]
    fn reads_required_and_optional_arguments() -> Result<()> {
        let mut given = arguments(vec![("name", Value::String("ada".into())), ("loud", Value::None)]);
        assert_eq!(given.read::<String>("name")?, "ada");
        assert_eq!(given.read::<Option<bool>>("loud")?, None);
        assert_eq!(given.read::<Option<Vec<i64>>>("counts")?, None);
        assert_eq!(given.optional::<i64>("count")?, None);
        given.finish(&["name", "loud", "counts", "count"])
    }

    #[test]
    fn missing_and_mistyped_arguments_name_function_and_argument() {
        let mut given = arguments(vec![("count", Value::String("three".into()))]);
        let missing = given.read::<String>("name").unwrap_err();
        assert_eq!(missing, Error::InvalidArgument("function `greet`: missing required argument `name`".into()));
        let mistyped = given.read::<i64>("count").unwrap_err();
        assert_eq!(
            mistyped,
            Error::InvalidArgument("function `greet`: argument `count`: expected integer, got string".into())
        );
    }

    #[test]
    fn unknown_and_repeated_arguments_are_rejected() {
        let given = arguments(vec![("nme", Value::String("ada".into()))]);
        assert_eq!(
            given.finish(&["name", "loud"]).unwrap_err(),
            Error::InvalidArgument("function `greet` has no argument `nme`; it takes: name, loud".into())
        );

        let mut given = arguments(vec![("name", Value::String("ada".into())), ("name", Value::String("bob".into()))]);
        assert!(given.read::<String>("name").is_ok());
        assert_eq!(
            given.finish(&["name"]).unwrap_err(),
            Error::InvalidArgument("function `greet`: argument `name` is given more than once".into())
        );
    }
}
