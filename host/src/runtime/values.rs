//! Host-side values and schemas: what flows between the CLI, modules and their
//! dependencies, independent of the generated bindings.

use std::fmt;

use serde::Serialize;

use crate::engine::{Container, Directory, File};

/// The element kind of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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
        })
    }
}

/// A value's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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
#[derive(Clone, Debug, Serialize)]
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
#[derive(Clone, Debug, Serialize)]
pub struct Function {
    pub name: String,
    pub description: String,
    pub arguments: Vec<Argument>,
    pub return_type: TypeRef,
}

/// What a module offers, from its `describe` export.
#[derive(Clone, Debug, Serialize)]
pub struct ModuleSchema {
    pub name: String,
    pub description: String,
    pub functions: Vec<Function>,
}

impl ModuleSchema {
    pub fn function(&self, name: &str) -> Option<&Function> {
        self.functions.iter().find(|function| function.name == name)
    }
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
            Value::List(items) => f.debug_list().entries(items).finish(),
        }
    }
}
