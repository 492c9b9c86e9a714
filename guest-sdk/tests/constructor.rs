//! A module with a constructor (`pub fn new`), run natively: the constructor's arguments
//! in the schema, defaults applied, errors naming the constructor, and the functions
//! reading what it kept. (A test file of its own: a crate has one module block.)

use tanto_sdk::schema::{ArgumentSchema, TypeKind, TypeRef};
use tanto_sdk::value::Value;
use tanto_sdk::{Error, Module, Result};

/// Greets with a configured greeting. No `Default`: `new` makes it.
struct Greeter {
    greeting: String,
    times: i64,
}

#[tanto_sdk::module]
impl Greeter {
    /// Keeps the greeting for every call.
    pub fn new(#[arg(description = "how to greet")] greeting: String, #[arg(default = 1)] times: i64) -> Result<Self> {
        if times < 0 {
            return Err(Error::InvalidArgument(format!("times must not be negative, got {times}")));
        }
        Ok(Greeter { greeting, times })
    }

    /// Greets `name`.
    pub fn greet(&self, name: String) -> String {
        vec![format!("{}, {name}", self.greeting); self.times as usize].join(" ")
    }
}

fn named(arguments: Vec<(&str, Value)>) -> Vec<(String, Value)> {
    arguments.into_iter().map(|(name, value)| (name.to_owned(), value)).collect()
}

fn string(text: &str) -> Value {
    Value::String(text.to_owned())
}

fn call(constructor: Vec<(&str, Value)>, name: &str) -> Result<Value> {
    Greeter::construct(named(constructor))?.invoke("greet", named(vec![("name", string(name))]))
}

#[test]
fn the_constructor_is_described_and_is_not_a_function() {
    let schema = Greeter::describe();
    let names: Vec<&str> = schema.functions.iter().map(|function| function.name.as_str()).collect();
    assert_eq!(names, ["greet"]);
    assert_eq!(
        schema.constructor,
        vec![
            ArgumentSchema {
                name: "greeting".into(),
                description: "how to greet".into(),
                type_ref: TypeRef::of(TypeKind::String),
                default_value: None,
            },
            ArgumentSchema {
                name: "times".into(),
                description: String::new(),
                type_ref: TypeRef::of(TypeKind::Integer),
                default_value: Some("1".into()),
            },
        ]
    );
}

#[test]
fn constructor_arguments_reach_every_function_with_defaults() -> Result<()> {
    assert!(matches!(call(vec![("greeting", string("hi"))], "ada")?, Value::String(text) if text == "hi, ada"));
    let twice = call(vec![("greeting", string("yo")), ("times", Value::Integer(2))], "bob")?;
    assert!(matches!(twice, Value::String(text) if text == "yo, bob yo, bob"));
    Ok(())
}

#[test]
fn constructor_errors_name_the_constructor() {
    let missing = call(vec![], "ada").unwrap_err();
    assert_eq!(
        missing,
        Error::InvalidArgument("the constructor of module `tanto-sdk`: missing required argument `greeting`".into())
    );
    let unknown = call(vec![("greeting", string("hi")), ("greting", string("x"))], "ada").unwrap_err();
    assert_eq!(
        unknown,
        Error::InvalidArgument("the constructor of module `tanto-sdk` has no argument `greting`; it takes: greeting, times".into())
    );
    // The constructor's own error is the call's.
    let refused = call(vec![("greeting", string("hi")), ("times", Value::Integer(-1))], "ada").unwrap_err();
    assert_eq!(refused, Error::InvalidArgument("times must not be negative, got -1".into()));
}
