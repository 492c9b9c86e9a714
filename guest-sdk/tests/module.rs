//! The code `#[tanto_sdk::module]` generates, run natively: the schema `describe`
//! returns and how `invoke` reads arguments, applies defaults, reports errors and
//! returns values. Only scalar arguments here, since objects need the host.

use tanto_sdk::schema::{ArgumentSchema, FunctionSchema, ModuleSchema, TypeKind, TypeRef};
use tanto_sdk::value::{Item, Value};
use tanto_sdk::{Error, Module, Result};

#[derive(Default)]
struct Greeter;

/// Greets people,
/// politely.
#[tanto_sdk::module]
impl Greeter {
    /// Greets `name`.
    ///
    /// Uses `greeting`, which defaults to `hello`.
    pub fn greet(
        &self,
        #[arg(description = "who to greet")] name: String,
        #[arg(description = "how to greet", default = "hello")] greeting: String,
        #[arg(default = 1)] times: i64,
        #[arg(default = true)] punctuate: bool,
        shout: Option<bool>,
    ) -> String {
        let mut text = format!("{greeting}, {name}");
        if punctuate {
            text.push('!');
        }
        if shout == Some(true) {
            text = text.to_uppercase();
        }
        vec![text; usize::try_from(times).unwrap_or(0)].join(" ")
    }

    /// Fails on purpose.
    pub fn fail_with(message: String) -> Result<()> {
        Err(Error::msg(message))
    }

    pub fn scale(&self, values: Vec<f64>, #[arg(default = -0.5)] factor: f64, #[arg(default = 2)] offset: f64) -> Vec<f64> {
        values.into_iter().map(|value| value * factor + offset).collect()
    }

    pub fn maybe_count(&self, words: Option<Vec<String>>) -> Option<i64> {
        words.map(|words| words.len() as i64)
    }

    pub fn nothing() {}

    /// Helpers that are not `pub` are not exported.
    fn helper(&self) -> &'static str {
        "helper"
    }

    pub fn uses_helper(&self) -> std::result::Result<String, String> {
        Ok(self.helper().to_owned())
    }
}

fn string(text: &str) -> Value {
    Value::String(text.to_owned())
}

fn invoke(function: &str, arguments: Vec<(&str, Value)>) -> Result<Value> {
    let arguments = arguments.into_iter().map(|(name, value)| (name.to_owned(), value)).collect();
    Greeter.invoke(function, arguments)
}

fn invoke_string(function: &str, arguments: Vec<(&str, Value)>) -> Result<String> {
    match invoke(function, arguments)? {
        Value::String(text) => Ok(text),
        other => panic!("`{function}` returned {other:?}, not a string"),
    }
}

fn argument(name: &str, type_ref: TypeRef, default_value: Option<&str>) -> ArgumentSchema {
    ArgumentSchema {
        name: name.to_owned(),
        description: String::new(),
        type_ref,
        default_value: default_value.map(str::to_owned),
    }
}

#[test]
fn describe_returns_names_docs_types_and_defaults() {
    let string = TypeRef::of(TypeKind::String);
    let integer = TypeRef::of(TypeKind::Integer);
    let boolean = TypeRef::of(TypeKind::Boolean);
    let float = TypeRef::of(TypeKind::Float);
    let void = TypeRef::of(TypeKind::Void);
    let expected = ModuleSchema {
        name: "tanto-sdk".to_owned(),
        description: "Greets people,\npolitely.".to_owned(),
        functions: vec![
            FunctionSchema {
                name: "greet".to_owned(),
                description: "Greets `name`.\n\nUses `greeting`, which defaults to `hello`.".to_owned(),
                arguments: vec![
                    ArgumentSchema {
                        description: "who to greet".to_owned(),
                        ..argument("name", string, None)
                    },
                    ArgumentSchema {
                        description: "how to greet".to_owned(),
                        ..argument("greeting", string, Some("\"hello\""))
                    },
                    argument("times", integer, Some("1")),
                    argument("punctuate", boolean, Some("true")),
                    argument("shout", boolean.optional(), None),
                ],
                return_type: string,
            },
            FunctionSchema {
                name: "fail-with".to_owned(),
                description: "Fails on purpose.".to_owned(),
                arguments: vec![argument("message", string, None)],
                return_type: void,
            },
            FunctionSchema {
                name: "scale".to_owned(),
                description: String::new(),
                arguments: vec![
                    argument("values", float.list(), None),
                    argument("factor", float, Some("-0.5")),
                    argument("offset", float, Some("2.0")),
                ],
                return_type: float.list(),
            },
            FunctionSchema {
                name: "maybe-count".to_owned(),
                description: String::new(),
                arguments: vec![argument("words", string.list().optional(), None)],
                return_type: integer.optional(),
            },
            FunctionSchema {
                name: "nothing".to_owned(),
                description: String::new(),
                arguments: vec![],
                return_type: void,
            },
            FunctionSchema {
                name: "uses-helper".to_owned(),
                description: String::new(),
                arguments: vec![],
                return_type: string,
            },
        ],
        constructor: vec![],
    };
    assert_eq!(Greeter::describe(), expected);
}

#[test]
fn invoke_applies_defaults_and_reads_given_arguments() -> Result<()> {
    assert_eq!(invoke_string("greet", vec![("name", string("ada"))])?, "hello, ada!");
    assert_eq!(
        invoke_string(
            "greet",
            vec![
                ("name", string("ada")),
                ("greeting", string("hi")),
                ("times", Value::Integer(2)),
                ("punctuate", Value::Boolean(false)),
                ("shout", Value::Boolean(true)),
            ],
        )?,
        "HI, ADA HI, ADA"
    );
    // `none` counts as absent, for defaults as for options.
    assert_eq!(
        invoke_string("greet", vec![("name", string("bob")), ("times", Value::None), ("shout", Value::None)],)?,
        "hello, bob!"
    );
    Ok(())
}

#[test]
fn invoke_converts_lists_options_and_unit() -> Result<()> {
    let scaled = invoke("scale", vec![("values", Value::List(vec![Item::Float(1.0), Item::Float(-4.0)]))])?;
    assert!(
        matches!(&scaled, Value::List(items) if matches!(items.as_slice(), [Item::Float(a), Item::Float(b)] if *a == 1.5 && *b == 4.0)),
        "{scaled:?}"
    );
    let count = invoke("maybe-count", vec![("words", Value::List(vec![Item::String("a".into())]))])?;
    assert!(matches!(count, Value::Integer(1)), "{count:?}");
    let count = invoke("maybe-count", vec![])?;
    assert!(matches!(count, Value::None), "{count:?}");
    assert!(matches!(invoke("nothing", vec![])?, Value::None));
    assert_eq!(invoke_string("uses-helper", vec![])?, "helper");
    Ok(())
}

#[test]
fn invoke_returns_the_function_error() {
    let error = invoke("fail-with", vec![("message", string("on purpose"))]).unwrap_err();
    assert_eq!(error, Error::Failed("on purpose".to_owned()));
}

#[test]
fn invoke_rejects_bad_arguments_naming_function_and_argument() {
    let missing = invoke("greet", vec![]).unwrap_err();
    assert_eq!(missing, Error::InvalidArgument("function `greet`: missing required argument `name`".to_owned()));
    let mistyped = invoke("greet", vec![("name", string("ada")), ("times", string("2"))]).unwrap_err();
    assert_eq!(
        mistyped,
        Error::InvalidArgument("function `greet`: argument `times`: expected integer, got string".to_owned())
    );
    let mistyped_list = invoke("scale", vec![("values", Value::List(vec![Item::Float(1.0), Item::Boolean(true)]))]).unwrap_err();
    assert_eq!(
        mistyped_list,
        Error::InvalidArgument("function `scale`: argument `values`: expected list<float>, got list with a boolean element".to_owned())
    );
    let unknown = invoke("greet", vec![("name", string("ada")), ("nmae", string("x"))]).unwrap_err();
    assert_eq!(
        unknown,
        Error::InvalidArgument("function `greet` has no argument `nmae`; it takes: name, greeting, times, punctuate, shout".to_owned())
    );
    let unexpected = invoke("nothing", vec![("name", string("ada"))]).unwrap_err();
    assert_eq!(
        unexpected,
        Error::InvalidArgument("function `nothing` takes no arguments, but got `name`".to_owned())
    );
}

#[test]
fn invoke_of_an_unknown_function_lists_the_functions() {
    let error = invoke("helper", vec![]).unwrap_err();
    assert_eq!(
        error,
        Error::NotFound(
            "module `tanto-sdk` has no function `helper`; it offers: greet, fail-with, scale, \
             maybe-count, nothing, uses-helper"
                .to_owned()
        )
    );
}
