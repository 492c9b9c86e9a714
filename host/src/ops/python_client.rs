//! The typed Python client of a Python module's dependencies, written by `tanto develop`
//! into the package `tanto_deps/` of the module's folder (beside `main.py`, which
//! componentize-py bundles with it): per dependency a class whose methods are the
//! dependency's functions, with Python type hints, the dependency's defaults and its
//! descriptions as docstrings, and a lower-case function making it, so a module writes
//!
//! ```python
//! from tanto_deps import greeter
//!
//! greeter("hi").greet("ada", times=2)
//! ```
//!
//! Required arguments are positional, in the schema's order; the others are keyword-only.
//! Every call goes through `dag().call` (or `call(..., constructor=...)` for a dependency
//! with a constructor), the host import Rust modules call through: objects pass by handle.

use std::fmt::Write as _;

use crate::runtime::{Argument, Function, Kind, ModuleSchema, SchemaError, TypeRef};

/// The generated package, relative to the module's source folder. A package of its own, so
/// it stays out of the way of the module's files and cannot shadow a PyPI name anyone uses.
pub const PYTHON_BINDINGS_FILE: &str = "tanto_deps/__init__.py";

const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif", "else", "except", "finally", "for",
    "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
    // Not keywords, but a parameter of that name would hide the instance.
    "self",
];

/// Names the generated file imports: a dependency's class must not hide them.
const IMPORTED: &[&str] = &["Container", "Directory", "File", "Secret", "Service", "Optional"];

/// A validated kebab- or snake-case name as a Python identifier (PEP 8: a trailing `_`
/// for a keyword).
fn identifier(name: &str) -> String {
    let snake = name.replace('-', "_");
    if KEYWORDS.contains(&snake.as_str()) { format!("{snake}_") } else { snake }
}

/// The class of dependency `name`.
fn class_name(name: &str) -> String {
    let class = super::develop::type_name(name);
    if IMPORTED.contains(&class.as_str()) {
        format!("{class}Module")
    } else {
        class
    }
}

/// The function making the client of dependency `name`.
fn factory_name(name: &str) -> String {
    identifier(&name.to_ascii_lowercase())
}

fn python_type(type_ref: TypeRef) -> String {
    let element = match type_ref.kind {
        Kind::Void => return "None".into(),
        Kind::String => "str",
        Kind::Boolean => "bool",
        Kind::Integer => "int",
        Kind::Float => "float",
        Kind::Container => "Container",
        Kind::Directory => "Directory",
        Kind::File => "File",
        Kind::Secret => "Secret",
        Kind::Service => "Service",
    };
    let listed = if type_ref.is_list { format!("list[{element}]") } else { element.to_string() };
    if type_ref.optional { format!("Optional[{listed}]") } else { listed }
}

/// `text` as a Python string literal: quotes, backslashes and every character that is
/// not printable escaped, so nothing a dependency wrote can end the literal.
fn string_literal(text: &str) -> String {
    let mut literal = String::from("\"");
    for character in text.chars() {
        match character {
            '\\' => literal.push_str("\\\\"),
            '"' => literal.push_str("\\\""),
            '\n' => literal.push_str("\\n"),
            '\t' => literal.push_str("\\t"),
            character if character.is_control() || matches!(character, '\u{2028}' | '\u{2029}' | '\u{85}') => {
                let _ = write!(literal, "\\U{:08x}", u32::from(character));
            }
            character => literal.push(character),
        }
    }
    literal.push('"');
    literal
}

/// The Python literal of a scalar argument's default (a JSON literal in the schema), when
/// it is one of its type; `None` for anything else, which is then left to the dependency.
fn default_literal(argument: &Argument) -> Option<String> {
    let default = argument.default_value.as_deref()?;
    if argument.type_ref.is_list {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(default).ok()?;
    match (argument.type_ref.kind, value) {
        (Kind::String, serde_json::Value::String(text)) => Some(string_literal(&text)),
        (Kind::Boolean, serde_json::Value::Bool(true)) => Some("True".into()),
        (Kind::Boolean, serde_json::Value::Bool(false)) => Some("False".into()),
        (Kind::Integer, serde_json::Value::Number(number)) => number.as_i64().map(|number| number.to_string()),
        (Kind::Float, serde_json::Value::Number(number)) => number.as_f64().filter(|number| number.is_finite()).map(|number| format!("{number:?}")),
        _ => None,
    }
}

/// `text` as the lines of a docstring indented by `indent`, that stay prose whatever a
/// dependency wrote: control characters become spaces, and backslashes and quotes are
/// escaped, so no line can end the string.
fn docstring(paragraphs: &[String], indent: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for (index, paragraph) in paragraphs.iter().enumerate() {
        if index > 0 {
            lines.push(String::new());
        }
        for line in paragraph.split(['\n', '\r', '\u{2028}', '\u{2029}', '\u{85}']) {
            let line: String = line.chars().map(|character| if character.is_control() { ' ' } else { character }).collect();
            lines.push(line.trim_end().replace('\\', "\\\\").replace('"', "\\\""));
        }
    }
    let mut out = format!("{indent}\"\"\"");
    for (index, line) in lines.iter().enumerate() {
        if index > 0 {
            out.push('\n');
            if !line.is_empty() {
                out.push_str(indent);
            }
        }
        out.push_str(line);
    }
    if lines.len() > 1 {
        out.push('\n');
        out.push_str(indent);
    }
    out.push_str("\"\"\"\n");
    out
}

/// The `Args:` section (Google style, as the SDK reads docstrings) for `arguments`.
fn args_section(arguments: &[Argument]) -> Option<String> {
    if arguments.is_empty() {
        return None;
    }
    let mut section = String::from("Args:");
    for argument in arguments {
        let mut description = argument.description.split(['\n', '\r']).map(str::trim).collect::<Vec<_>>().join(" ");
        if let Some(default) = argument.default_value.as_deref().filter(|_| default_literal(argument).is_none()) {
            let _ = write!(description, " (default: {default})");
        }
        let _ = write!(section, "\n    {}: {}", identifier(&argument.name), description.trim());
    }
    Some(section)
}

/// The parameters of a Python signature for `arguments` (required ones positional, then
/// `*`, then the rest), the names to forward them with, and the statements putting them
/// into the dict named `target`.
struct Parameters {
    signature: Vec<String>,
    forwarded: Vec<String>,
    stores: String,
}

fn parameters(arguments: &[Argument], target: &str, indent: &str) -> Parameters {
    let mut required = Vec::new();
    let mut keywords = Vec::new();
    let mut forwarded_positional = Vec::new();
    let mut forwarded_keywords = Vec::new();
    let mut stores = String::new();
    for argument in arguments {
        let name = identifier(&argument.name);
        let convert = |value: &str| match (argument.type_ref.kind, argument.type_ref.is_list) {
            // An int given for a float must reach the dependency as a float.
            (Kind::Float, false) => format!("float({value})"),
            (Kind::Float, true) => format!("[float(_item) for _item in {value}]"),
            _ => value.to_string(),
        };
        let store = |value: &str| format!("{target}[{}] = {}", string_literal(&argument.name), convert(value));
        match (default_literal(argument), argument.type_ref.optional || argument.default_value.is_some()) {
            (Some(default), _) => {
                keywords.push(format!("{name}: {} = {default}", python_type(argument.type_ref)));
                forwarded_keywords.push(format!("{name}={name}"));
                if argument.type_ref.optional {
                    let _ = writeln!(stores, "{indent}if {name} is not None:\n{indent}    {}", store(&name));
                } else {
                    let _ = writeln!(stores, "{indent}{}", store(&name));
                }
            }
            // The dependency applies its own default to what is left out.
            (None, true) => {
                let declared = TypeRef {
                    optional: true,
                    ..argument.type_ref
                };
                keywords.push(format!("{name}: {} = None", python_type(declared)));
                forwarded_keywords.push(format!("{name}={name}"));
                let _ = writeln!(stores, "{indent}if {name} is not None:\n{indent}    {}", store(&name));
            }
            (None, false) => {
                required.push(format!("{name}: {}", python_type(argument.type_ref)));
                forwarded_positional.push(name.clone());
                let _ = writeln!(stores, "{indent}{}", store(&name));
            }
        }
    }
    let mut signature = required;
    if !keywords.is_empty() {
        signature.push("*".into());
        signature.extend(keywords);
    }
    forwarded_positional.extend(forwarded_keywords);
    Parameters {
        signature,
        forwarded: forwarded_positional,
        stores,
    }
}

fn method(dependency: &str, function: &Function, constructed: bool) -> String {
    let mut out = String::new();
    let parameters = parameters(&function.arguments, "_arguments", "        ");
    let mut signature = vec!["self".to_string()];
    signature.extend(parameters.signature);
    let return_type = python_type(function.return_type);
    let _ = writeln!(out, "    def {}({}) -> {return_type}:", identifier(&function.name), signature.join(", "));
    let summary = if function.description.is_empty() {
        format!("Calls `{}` of `{dependency}`.", function.name)
    } else {
        function.description.clone()
    };
    let paragraphs: Vec<String> = std::iter::once(summary).chain(args_section(&function.arguments)).collect();
    out.push_str(&docstring(&paragraphs, "        "));
    out.push_str("        _arguments: dict[str, _Any] = {}\n");
    out.push_str(&parameters.stores);
    let constructor = if constructed { ", constructor=self._constructor" } else { "" };
    let call = format!(
        "_tanto.dag().call({}, {}, _arguments{constructor})",
        string_literal(dependency),
        string_literal(&function.name)
    );
    if function.return_type.kind == Kind::Void {
        let _ = writeln!(out, "        {call}");
    } else {
        let _ = writeln!(out, "        return {call}");
    }
    out
}

fn client(name: &str, schema: &ModuleSchema) -> String {
    let class = class_name(name);
    let constructed = !schema.constructor.is_empty();
    let summary = if schema.description.is_empty() {
        format!("The `{name}` module ({}).", schema.name)
    } else {
        schema.description.clone()
    };
    let mut out = format!("class {class}:\n");
    out.push_str(&docstring(std::slice::from_ref(&summary), "    "));
    out.push('\n');
    let parameters = parameters(&schema.constructor, "self._constructor", "        ");
    let mut signature = vec!["self".to_string()];
    signature.extend(parameters.signature.iter().cloned());
    let _ = writeln!(out, "    def __init__({}) -> None:", signature.join(", "));
    if constructed {
        let paragraphs: Vec<String> = std::iter::once(format!("The arguments of `{name}`'s constructor, passed with every call."))
            .chain(args_section(&schema.constructor))
            .collect();
        out.push_str(&docstring(&paragraphs, "        "));
        out.push_str("        self._constructor: dict[str, _Any] = {}\n");
        out.push_str(&parameters.stores);
    } else {
        out.push_str("        pass\n");
    }
    for function in &schema.functions {
        out.push('\n');
        out.push_str(&method(name, function, constructed));
    }
    out.push_str("\n\n");
    let _ = writeln!(out, "def {}({}) -> {class}:", factory_name(name), parameters.signature.join(", "));
    let paragraphs: Vec<String> = std::iter::once(summary).chain(args_section(&schema.constructor)).collect();
    out.push_str(&docstring(&paragraphs, "    "));
    let _ = writeln!(out, "    return {class}({})", parameters.forwarded.join(", "));
    out
}

/// The Python source of the client of `dependencies` (name as declared, schema).
///
/// Validates every schema first (names become identifiers and string literals,
/// descriptions become docstrings), so no schema can put code of its own into the file.
pub fn python_bindings(dependencies: &[(String, ModuleSchema)]) -> Result<String, SchemaError> {
    super::develop::check_schemas(dependencies)?;
    let mut exported = Vec::new();
    for (name, _) in dependencies {
        for exported_name in [class_name(name), factory_name(name)] {
            if exported.contains(&exported_name) {
                return Err(SchemaError {
                    module: name.clone(),
                    function: None,
                    argument: None,
                    reason: format!("two dependencies would both be `{exported_name}` in Python: rename one in tanto.toml"),
                });
            }
            exported.push(exported_name);
        }
    }
    let mut out = String::from(
        "\"\"\"Typed clients of this module's dependencies, generated by `tanto develop` from their\n\
         schemas. Do not edit by hand: run `tanto develop` after changing the dependencies in\n\
         tanto.toml.\n\n\
         Each dependency is a function returning its client, whose methods are the dependency's\n\
         functions: `from tanto_deps import NAME`, then `NAME(...).FUNCTION(...)`.\n\
         \"\"\"\n\n\
         from __future__ import annotations\n\n\
         from typing import Any as _Any, Optional\n\n\
         import tanto as _tanto\n\
         from tanto import Container, Directory, File, Secret, Service\n\n",
    );
    let names: Vec<String> = exported.iter().map(|name| string_literal(name)).collect();
    let _ = writeln!(out, "__all__ = [{}]", names.join(", "));
    for (name, schema) in dependencies {
        out.push_str("\n\n");
        out.push_str(&client(name, schema));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(optional: bool) -> TypeRef {
        TypeRef {
            kind: Kind::String,
            is_list: false,
            optional,
        }
    }

    fn argument(name: &str, type_ref: TypeRef, default_value: Option<&str>) -> Argument {
        Argument {
            name: name.into(),
            description: format!("the {name}"),
            type_ref,
            default_value: default_value.map(str::to_string),
        }
    }

    #[test]
    fn arguments_are_typed_with_their_defaults_and_objects_pass_as_handles() {
        let container = TypeRef {
            kind: Kind::Container,
            is_list: false,
            optional: false,
        };
        let schema = ModuleSchema {
            name: "greeter".into(),
            description: "Greets.".into(),
            functions: vec![Function {
                name: "greet-all".into(),
                description: "Greets everyone.".into(),
                arguments: vec![
                    argument("greeting", string(false), Some("\"hi \\\"you\\\"\"")),
                    argument(
                        "names",
                        TypeRef {
                            is_list: true,
                            ..string(false)
                        },
                        None,
                    ),
                    argument(
                        "ratio",
                        TypeRef {
                            kind: Kind::Float,
                            ..string(false)
                        },
                        Some("1"),
                    ),
                    argument("base", TypeRef { optional: true, ..container }, None),
                    argument(
                        "from",
                        TypeRef {
                            kind: Kind::Boolean,
                            ..string(false)
                        },
                        Some("true"),
                    ),
                ],
                return_type: container,
            }],
            constructor: vec![argument(
                "source",
                TypeRef {
                    kind: Kind::Directory,
                    ..string(false)
                },
                None,
            )],
        };
        let code = python_bindings(&[("Greeter".into(), schema)]).unwrap();
        assert!(
            code.contains(
                "def greet_all(self, names: list[str], *, greeting: str = \"hi \\\"you\\\"\", ratio: float = 1.0, base: Optional[Container] = None, from_: bool = True) -> Container:"
            ),
            "{code}"
        );
        assert!(code.contains("_arguments[\"ratio\"] = float(ratio)"), "{code}");
        assert!(code.contains("_arguments[\"from\"] = from_"), "{code}");
        assert!(code.contains("if base is not None:\n            _arguments[\"base\"] = base"), "{code}");
        assert!(
            code.contains("return _tanto.dag().call(\"Greeter\", \"greet-all\", _arguments, constructor=self._constructor)"),
            "{code}"
        );
        assert!(code.contains("def greeter(source: Directory) -> Greeter:"), "{code}");
        assert!(code.contains("    return Greeter(source)"), "{code}");
    }

    #[test]
    fn descriptions_stay_docstrings_and_names_do_not_collide() {
        let hostile = "Ends here.\"\"\"\nimport os; os.system('x')\n\\\"\"\"\u{2028}x = 1";
        let schema = ModuleSchema {
            name: "container".into(),
            description: hostile.into(),
            functions: vec![Function {
                name: "run".into(),
                description: hostile.into(),
                arguments: vec![argument("text", string(false), Some("\"\\u2028\\n\\\"\\\"\\\"\""))],
                return_type: TypeRef {
                    kind: Kind::Void,
                    ..string(false)
                },
            }],
            constructor: Vec::new(),
        };
        let code = python_bindings(&[("container".into(), schema.clone())]).unwrap();
        // Every `"""` in the file opens or closes a docstring, in pairs on lines of their own
        // making: no line of the description is outside one.
        assert!(!code.contains("\nimport os"), "{code}");
        assert!(code.contains("class ContainerModule:"), "{code}");
        assert!(code.contains("def run(self, *, text: str = \"\\U00002028\\n\\\"\\\"\\\"\") -> None:"), "{code}");
        assert!(code.contains("        _tanto.dag().call(\"container\", \"run\", _arguments)\n"), "{code}");
        let error = python_bindings(&[("Container".into(), schema.clone()), ("container".into(), schema)]).unwrap_err();
        assert!(error.reason.contains("rename one in tanto.toml"), "{error}");
    }
}
