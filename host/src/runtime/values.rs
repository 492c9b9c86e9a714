//! Host-side values and schemas: what flows between the CLI, modules and their
//! dependencies, independent of the generated bindings.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::engine::{Container, Directory, File, Secret, Service};

/// The element kind of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Void,
    String,
    Boolean,
    Integer,
    Float,
    Container,
    Directory,
    File,
    Secret,
    Service,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Void => "Void",
            Kind::String => "String",
            Kind::Boolean => "Boolean",
            Kind::Integer => "Integer",
            Kind::Float => "Float",
            Kind::Container => "Container",
            Kind::Directory => "Directory",
            Kind::File => "File",
            Kind::Secret => "Secret",
            Kind::Service => "Service",
        })
    }
}

/// A value's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeRef {
    pub kind: Kind,
    pub is_list: bool,
    pub optional: bool,
}

impl fmt::Display for TypeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_list, self.optional) {
            (false, false) => write!(f, "{}", self.kind),
            (true, false) => write!(f, "[{}]", self.kind),
            (false, true) => write!(f, "{}?", self.kind),
            (true, true) => write!(f, "[{}]?", self.kind),
        }
    }
}

/// An argument of a module function.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Argument {
    pub name: String,
    pub description: String,
    #[serde(rename = "type")]
    pub type_ref: TypeRef,
    /// A JSON literal.
    pub default_value: Option<String>,
}

impl Argument {
    /// Whether a caller must give this argument.
    pub fn is_required(&self) -> bool {
        !self.type_ref.optional && self.default_value.is_none()
    }
}

/// A function a module offers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Function {
    pub name: String,
    pub description: String,
    pub arguments: Vec<Argument>,
    pub return_type: TypeRef,
}

/// What a module offers, from its `describe` export.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModuleSchema {
    pub name: String,
    pub description: String,
    pub functions: Vec<Function>,
    /// The arguments of the module's constructor, given before the function (`tanto call
    /// --source=. build`) and passed to every invocation; empty when it has none (every
    /// module built against 0.1).
    pub constructor: Vec<Argument>,
}

impl ModuleSchema {
    pub fn function(&self, name: &str) -> Option<&Function> {
        self.functions.iter().find(|function| function.name == name)
    }

    /// The constructor as a function named after the module, returning nothing: what
    /// the CLI types its arguments and shows its usage with.
    pub fn constructor_function(&self) -> Function {
        Function {
            name: self.name.clone(),
            description: self.description.clone(),
            arguments: self.constructor.clone(),
            return_type: TypeRef {
                kind: Kind::Void,
                is_list: false,
                optional: false,
            },
        }
    }

    /// Checks what a module says about itself before anything uses it (the CLI, `tanto
    /// functions`, dependency calls, `tanto develop`'s generated code), since a module that
    /// writes its own `describe` can say anything:
    ///
    /// * the module's name matches `[A-Za-z][A-Za-z0-9_-]*` (a crate or package name),
    ///   function and argument names are kebab-case identifiers, `[a-z][a-z0-9]*(-[a-z0-9]+)*`
    ///   (what WIT and the SDKs produce), all at most [`MAX_NAME_LEN`] bytes, and no two
    ///   functions of a module or arguments of a function (or of the constructor) share a
    ///   name;
    /// * descriptions are at most [`MAX_DESCRIPTION_LEN`] bytes, with no control
    ///   characters but line breaks and tabs;
    /// * a default is a JSON literal, and no `directory`, `file` or `secret` argument has
    ///   one: the CLI would read it as a host path (or a host variable, or a command) the
    ///   user never named.
    pub fn validate(&self) -> Result<(), SchemaError> {
        let error = |function: Option<&Function>, argument: Option<&Argument>, reason: String| SchemaError {
            module: self.name.clone(),
            function: function.map(|function| function.name.clone()),
            argument: argument.map(|argument| argument.name.clone()),
            reason,
        };
        if !is_module_name(&self.name) {
            return Err(error(
                None,
                None,
                format!(
                    "its name {} is not a module name ([A-Za-z][A-Za-z0-9_-]*, at most {MAX_NAME_LEN} bytes)",
                    shown(&self.name)
                ),
            ));
        }
        check_description(&self.description).map_err(|reason| error(None, None, format!("its description {reason}")))?;
        if self.functions.len() > MAX_FUNCTIONS {
            return Err(error(None, None, format!("it declares more than {MAX_FUNCTIONS} functions")));
        }
        for (index, function) in self.functions.iter().enumerate() {
            if !is_kebab_identifier(&function.name) {
                return Err(error(
                    None,
                    None,
                    format!(
                        "function name {} is not a kebab-case identifier ([a-z][a-z0-9]*(-[a-z0-9]+)*, at most {MAX_NAME_LEN} bytes)",
                        shown(&function.name)
                    ),
                ));
            }
            if self.functions[..index].iter().any(|other| other.name == function.name) {
                return Err(error(Some(function), None, "it is declared twice".into()));
            }
            check_description(&function.description).map_err(|reason| error(Some(function), None, format!("its description {reason}")))?;
            check_arguments(&function.arguments).map_err(|(argument, reason)| error(Some(function), argument, reason))?;
        }
        check_arguments(&self.constructor).map_err(|(argument, reason)| error(None, argument, format!("constructor: {reason}")))?;
        Ok(())
    }
}

/// The checks of [`ModuleSchema::validate`] on the arguments of one function (or of the
/// constructor): the argument at fault, if the fault is in one, and why.
fn check_arguments(arguments: &[Argument]) -> Result<(), (Option<&Argument>, String)> {
    if arguments.len() > MAX_ARGUMENTS {
        return Err((None, format!("it declares more than {MAX_ARGUMENTS} arguments")));
    }
    for (index, argument) in arguments.iter().enumerate() {
        if !is_kebab_identifier(&argument.name) {
            return Err((
                None,
                format!(
                    "argument name {} is not a kebab-case identifier ([a-z][a-z0-9]*(-[a-z0-9]+)*, at most {MAX_NAME_LEN} bytes)",
                    shown(&argument.name)
                ),
            ));
        }
        if arguments[..index].iter().any(|other| other.name == argument.name) {
            return Err((Some(argument), "it is declared twice".into()));
        }
        check_description(&argument.description).map_err(|reason| (Some(argument), format!("its description {reason}")))?;
        if let Some(default) = &argument.default_value {
            if matches!(argument.type_ref.kind, Kind::Directory | Kind::File | Kind::Secret | Kind::Service) {
                return Err((
                    Some(argument),
                    format!(
                        "a {} argument cannot have a default (it declares {}): its value must come from the caller, never from a path the module names",
                        argument.type_ref.kind,
                        shown(default)
                    ),
                ));
            }
            if default.len() > MAX_DESCRIPTION_LEN || serde_json::from_str::<serde_json::Value>(default).is_err() {
                return Err((Some(argument), format!("its default {} is not a JSON literal", shown(default))));
            }
        }
    }
    Ok(())
}

/// The longest module, function or argument name a schema may declare.
pub const MAX_NAME_LEN: usize = 64;
/// The longest description (or default) a schema may declare.
pub const MAX_DESCRIPTION_LEN: usize = 64 * 1024;
const MAX_FUNCTIONS: usize = 1024;
const MAX_ARGUMENTS: usize = 256;

/// A kebab-case identifier: `[a-z][a-z0-9]*(-[a-z0-9]+)*`, at most [`MAX_NAME_LEN`] bytes.
pub fn is_kebab_identifier(name: &str) -> bool {
    name.len() <= MAX_NAME_LEN
        && name.starts_with(|first: char| first.is_ascii_lowercase())
        && name
            .split('-')
            .all(|word| !word.is_empty() && word.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit()))
}

/// A module's name as its SDK reports it (a crate or package name):
/// `[A-Za-z][A-Za-z0-9_-]*`, at most [`MAX_NAME_LEN`] bytes.
pub fn is_module_name(name: &str) -> bool {
    name.len() <= MAX_NAME_LEN
        && name.starts_with(|first: char| first.is_ascii_alphabetic())
        && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
}

fn check_description(text: &str) -> Result<(), String> {
    if text.len() > MAX_DESCRIPTION_LEN {
        return Err(format!("is longer than {MAX_DESCRIPTION_LEN} bytes"));
    }
    if let Some(control) = text
        .chars()
        .find(|character| character.is_control() && !matches!(character, '\n' | '\r' | '\t'))
    {
        return Err(format!("contains the control character {control:?}"));
    }
    Ok(())
}

/// A name or value a module declared, quoted and escaped (it may hold anything) and cut
/// to a readable length.
fn shown(text: &str) -> String {
    const LIMIT: usize = 80;
    if text.chars().count() > LIMIT {
        format!("{:?}…", text.chars().take(LIMIT).collect::<String>())
    } else {
        format!("{text:?}")
    }
}

/// A schema that [`ModuleSchema::validate`] refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "module {} declares an invalid schema: {}{}{reason}",
    shown(module),
    function.as_deref().map(|function| format!("function `{function}`: ")).unwrap_or_default(),
    argument.as_deref().map(|argument| format!("argument `{argument}`: ")).unwrap_or_default()
)]
pub struct SchemaError {
    pub module: String,
    /// The function at fault (always a valid name), if the fault is in one.
    pub function: Option<String>,
    /// The argument at fault (always a valid name), if the fault is in one.
    pub argument: Option<String>,
    pub reason: String,
}

/// A value passed to or returned by a module function.
#[derive(Clone)]
pub enum Value {
    None,
    String(String),
    Boolean(bool),
    Integer(i64),
    Float(f64),
    Container(Container),
    Directory(Directory),
    File(File),
    Secret(Secret),
    Service(Service),
    List(Vec<Value>),
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::None => f.write_str("None"),
            Value::String(value) => write!(f, "{value:?}"),
            Value::Boolean(value) => write!(f, "{value}"),
            Value::Integer(value) => write!(f, "{value}"),
            Value::Float(value) => write!(f, "{value}"),
            Value::Container(container) => write!(f, "Container@{}", container.digest()),
            Value::Directory(directory) => write!(f, "Directory@{}", directory.digest()),
            Value::File(file) => write!(f, "File@{}", file.digest()),
            Value::Secret(secret) => write!(f, "{secret:?}"),
            Value::Service(service) => write!(f, "{service:?}"),
            Value::List(items) => f.debug_list().entries(items).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(function: &str, argument: &str, kind: Kind, default: Option<&str>) -> ModuleSchema {
        ModuleSchema {
            name: "my_module".into(),
            description: "A module.\n\n\tIndented.".into(),
            functions: vec![Function {
                name: function.into(),
                description: String::new(),
                arguments: vec![Argument {
                    name: argument.into(),
                    description: String::new(),
                    type_ref: TypeRef {
                        kind,
                        is_list: false,
                        optional: false,
                    },
                    default_value: default.map(str::to_string),
                }],
                return_type: TypeRef {
                    kind: Kind::Void,
                    is_list: false,
                    optional: false,
                },
            }],
            constructor: Vec::new(),
        }
    }

    #[test]
    fn accepts_what_the_sdk_produces() {
        schema("build-image", "src-dir2", Kind::Directory, None).validate().unwrap();
        schema("greet", "name", Kind::String, Some("\"world\"")).validate().unwrap();
        schema("f", "optional", Kind::File, None).validate().unwrap();
    }

    #[test]
    fn refuses_defaults_for_directories_and_files() {
        let error = schema("leak", "source", Kind::File, Some("\"/proc/self/environ\"")).validate().unwrap_err();
        assert_eq!(
            error.to_string(),
            "module \"my_module\" declares an invalid schema: function `leak`: argument `source`: a File argument cannot have a default \
             (it declares \"\\\"/proc/self/environ\\\"\"): its value must come from the caller, never from a path the module names"
        );
        assert!(schema("leak", "source", Kind::Directory, Some("\"../..\"")).validate().is_err());
    }

    #[test]
    fn refuses_names_that_are_not_identifiers() {
        for bad in [
            "",
            "Upper",
            "snake_case",
            "-lead",
            "trail-",
            "a--b",
            "1st",
            "a b",
            "a\"b",
            "x\n#[doc]",
            &"a".repeat(65),
        ] {
            assert!(schema(bad, "ok", Kind::String, None).validate().is_err(), "function {bad:?}");
            assert!(schema("ok", bad, Kind::String, None).validate().is_err(), "argument {bad:?}");
        }
        let mut hostile = schema("ok", "ok", Kind::String, None);
        hostile.name = "m\u{1b}[31m".into();
        assert!(hostile.validate().unwrap_err().to_string().contains("\\u{1b}"), "names are shown escaped");
        let mut control = schema("ok", "ok", Kind::String, None);
        control.functions[0].description = "escape \u{1b}[2J".into();
        assert!(control.validate().is_err());
        let mut twice = schema("ok", "ok", Kind::String, None);
        twice.functions.push(twice.functions[0].clone());
        assert!(twice.validate().unwrap_err().to_string().contains("declared twice"));
        assert!(schema("ok", "ok", Kind::String, Some("not json")).validate().is_err());
    }

    #[test]
    fn checks_constructor_arguments_as_function_arguments() {
        let mut module = schema("build", "target", Kind::String, None);
        module.constructor = module.functions[0].arguments.clone();
        module.constructor[0].name = "source".into();
        module.constructor[0].type_ref.kind = Kind::Directory;
        module.validate().unwrap();
        module.constructor[0].default_value = Some("\"../..\"".into());
        let error = module.validate().unwrap_err();
        assert_eq!(error.function, None);
        assert_eq!(error.argument.as_deref(), Some("source"));
        assert!(error.to_string().contains("constructor: a Directory argument cannot have a default"), "{error}");
        module.constructor[0].default_value = None;
        module.constructor.push(module.constructor[0].clone());
        assert!(module.validate().unwrap_err().to_string().contains("constructor: it is declared twice"));
        module.constructor[1].name = "Bad".into();
        assert!(module.validate().is_err());
    }
}
