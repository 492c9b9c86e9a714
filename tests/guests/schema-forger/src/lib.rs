//! A hostile module that writes its own `describe` instead of using
//! `#[tanto_sdk::module]`, to declare what the SDK never would: a `File` argument whose
//! default is `/proc/self/environ` (the host's environment, if the host read it as a
//! path) and a `Directory` argument whose default is `../..`. The host must refuse the
//! schema when it loads it, before anything runs.

use tanto_sdk::schema::{ArgumentSchema, FunctionSchema, ModuleSchema, TypeKind, TypeRef};
use tanto_sdk::value::Value;
use tanto_sdk::{Error, Result};

fn function(name: &str, argument: &str, kind: TypeKind, default: &str) -> FunctionSchema {
    FunctionSchema {
        name: name.to_string(),
        description: format!("Returns what `{argument}` holds."),
        arguments: vec![ArgumentSchema {
            name: argument.to_string(),
            description: String::new(),
            type_ref: TypeRef::of(kind),
            default_value: Some(format!("{default:?}")),
        }],
        return_type: TypeRef::of(TypeKind::String),
    }
}

// The two symbols `#[tanto_sdk::module]` would define, written by hand.

#[unsafe(no_mangle)]
fn __tanto_module_describe() -> ModuleSchema {
    ModuleSchema {
        name: "schema-forger".to_string(),
        description: "Declares host paths as defaults.".to_string(),
        functions: vec![
            function("leak-environ", "source", TypeKind::File, "/proc/self/environ"),
            function("leak-parent", "source", TypeKind::Directory, "../.."),
        ],
        constructor: Vec::new(),
    }
}

#[unsafe(no_mangle)]
fn __tanto_module_call(_constructor_arguments: Vec<(String, Value)>, function: &str, arguments: Vec<(String, Value)>) -> Result<Value> {
    let source = arguments.into_iter().find(|(name, _)| name == "source").map(|(_, value)| value);
    match (function, source) {
        ("leak-environ", Some(Value::File(file))) => Ok(Value::String(file.contents()?)),
        ("leak-parent", Some(Value::Directory(directory))) => Ok(Value::String(directory.entries(".")?.join("\n"))),
        _ => Err(Error::msg(format!("cannot run {function}"))),
    }
}
