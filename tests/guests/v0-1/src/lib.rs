//! A module built against `tanto:core@0.1.0` as released, straight from `wit/0.1.0` with
//! wit-bindgen and without the SDK (which follows the latest version): the host must
//! keep serving it unchanged, on its own and as the dependency of a newer module.
//! `describe` and `invoke` are written by hand, as any language without an SDK would.

wit_bindgen::generate!({
    path: "../../../wit/0.1.0",
    world: "tanto:core/module@0.1.0",
});

use std::collections::HashMap;

use exports::tanto::core::guest::{Argument, Function, Guest, ModuleSchema};
use tanto::core::client;
use tanto::core::types::{Container, Directory, Error, ExecOptions, Expect, TypeKind, TypeRef, Value};

fn type_ref(kind: TypeKind) -> TypeRef {
    TypeRef {
        kind,
        is_list: false,
        optional: false,
    }
}

fn function(name: &str, description: &str, arguments: &[(&str, TypeKind)], return_kind: TypeKind) -> Function {
    Function {
        name: name.into(),
        description: description.into(),
        arguments: arguments
            .iter()
            .map(|(name, kind)| Argument {
                name: (*name).into(),
                description: String::new(),
                type_: type_ref(*kind),
                default_value: None,
            })
            .collect(),
        return_type: type_ref(return_kind),
    }
}

fn busybox() -> Container {
    client::container().from("busybox:latest")
}

fn run(container: &Container, script: &str) -> Container {
    let options = ExecOptions {
        expect: Expect::Success,
        stdin: None,
        use_entrypoint: false,
    };
    container.with_exec(&["sh".to_string(), "-c".to_string(), script.to_string()], &options)
}

/// The named arguments of a call, taken one by one.
struct Arguments(HashMap<String, Value>);

impl Arguments {
    fn take(&mut self, name: &str) -> Result<Value, Error> {
        self.0.remove(name).ok_or_else(|| Error::InvalidArgument(format!("missing argument `{name}`")))
    }

    fn string(&mut self, name: &str) -> Result<String, Error> {
        match self.take(name)? {
            Value::String(text) => Ok(text),
            _ => Err(Error::InvalidArgument(format!("`{name}` is not a string"))),
        }
    }

    fn container(&mut self, name: &str) -> Result<Container, Error> {
        match self.take(name)? {
            Value::Container(container) => Ok(container),
            _ => Err(Error::InvalidArgument(format!("`{name}` is not a container"))),
        }
    }

    fn directory(&mut self, name: &str) -> Result<Directory, Error> {
        match self.take(name)? {
            Value::Directory(directory) => Ok(directory),
            _ => Err(Error::InvalidArgument(format!("`{name}` is not a directory"))),
        }
    }

    fn integer(&mut self, name: &str) -> Result<i64, Error> {
        match self.take(name)? {
            Value::Integer(number) => Ok(number),
            _ => Err(Error::InvalidArgument(format!("`{name}` is not an integer"))),
        }
    }
}

struct Legacy;

impl Guest for Legacy {
    fn describe() -> ModuleSchema {
        ModuleSchema {
            name: "legacy".into(),
            description: "A module built against tanto:core@0.1.0, without the SDK.".into(),
            functions: vec![
                function(
                    "greet",
                    "Greets `name` from a busybox container.",
                    &[("name", TypeKind::String)],
                    TypeKind::String,
                ),
                function(
                    "stamp",
                    "`base` with /stamp.txt holding `text`, checked by `cat` in it.",
                    &[("base", TypeKind::Container), ("text", TypeKind::String)],
                    TypeKind::Container,
                ),
                function(
                    "add-file",
                    "`source` with a new file `name` holding `contents`.",
                    &[("source", TypeKind::Directory), ("name", TypeKind::String), ("contents", TypeKind::String)],
                    TypeKind::Directory,
                ),
                function(
                    "entries",
                    "The entries of `source`, as a container that copied it lists them.",
                    &[("source", TypeKind::Directory)],
                    TypeKind::String,
                ),
                function(
                    "fail",
                    "Runs a command that exits with `code`.",
                    &[("code", TypeKind::Integer)],
                    TypeKind::String,
                ),
            ],
        }
    }

    fn invoke(name: String, arguments: Vec<(String, Value)>) -> Result<Value, Error> {
        let mut arguments = Arguments(arguments.into_iter().collect());
        match name.as_str() {
            "greet" => {
                let name = arguments.string("name")?;
                let greeting = run(&busybox(), &format!("echo 'hello from 0.1, {name}'")).stdout()?;
                Ok(Value::String(greeting))
            }
            "stamp" => {
                let base = arguments.container("base")?;
                let text = arguments.string("text")?;
                let stamped = base.with_new_file("/stamp.txt", &text, Some(0o640));
                Ok(Value::Container(run(&stamped, "cat /stamp.txt")))
            }
            "add-file" => {
                let source = arguments.directory("source")?;
                let name = arguments.string("name")?;
                let contents = arguments.string("contents")?;
                Ok(Value::Directory(source.with_new_file(&name, &contents, None)))
            }
            "entries" => {
                let source = arguments.directory("source")?;
                let listing = run(&busybox().with_directory("/src", &source, &[], &[]), "ls /src").stdout()?;
                Ok(Value::String(listing))
            }
            "fail" => {
                let code = arguments.integer("code")?;
                run(&busybox(), &format!("echo failing on purpose >&2; exit {code}")).sync()?;
                Ok(Value::String("the command did not fail".into()))
            }
            other => Err(Error::NotFound(format!("legacy has no function `{other}`"))),
        }
    }
}

export!(Legacy);
