//! Reading a chained call from the command line: `FUNCTION [--arg=value ...] [METHOD
//! [--arg=value ...] ...]`. Each method is typed against what the step before it returns
//! (the links of [`crate::runtime::chain`]), before anything runs, so a wrong chain is
//! reported at once and names the link at fault.

use crate::error::{Diagnose, ErrorKind};
use crate::module::args::{ArgumentContext, ArgumentError, did_you_mean, type_arguments, usage};
use crate::runtime::chain::{Link, find_link, links_of};
use crate::runtime::{Function, Kind, TypeRef, Value};

/// Why a chain was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("`{previous}` returns {returns}, which has no methods: `{link}` cannot follow it")]
    NotAnObject { previous: String, returns: TypeRef, link: String },
    #[error("`{link}` is not a method of {object}{suggestion}; methods: {methods}")]
    UnknownMethod {
        link: String,
        object: Kind,
        suggestion: String,
        methods: String,
    },
    #[error("`{link}`: unknown argument --{argument}{suggestion}\n\n{usage}")]
    UnknownArgument {
        link: String,
        argument: String,
        suggestion: String,
        usage: String,
    },
    #[error("`{link}` needs `--{argument}`\n\n{usage}")]
    Missing { link: String, argument: String, usage: String },
    #[error("`{link}`: {error}")]
    Argument { link: String, error: Box<ArgumentError> },
    #[error("`{text}` is not an argument or a method: arguments look like `--name=value`, methods like `stdout`")]
    Malformed { text: String },
}

impl Diagnose for ChainError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::User
    }
}

/// `--name[=value]` flags as given: a flag without a value is `None`.
pub type Flags = Vec<(String, Option<String>)>;

/// The `--name[=value]` flags of one step, and the tokens after them (the next method
/// and what follows). Whether a flag takes the next token as its value depends on its
/// type: a boolean does not (`--loud stdout` calls `stdout`), others do.
pub fn split_step<'a>(schema: &Function, tokens: &'a [String]) -> Result<(Flags, &'a [String]), ChainError> {
    let mut pairs = Vec::new();
    let mut index = 0;
    while index < tokens.len() {
        let text = &tokens[index];
        if text == "-h" {
            pairs.push(("help".to_string(), None));
            index += 1;
            continue;
        }
        let Some(name) = text.strip_prefix("--").filter(|name| !name.is_empty()) else {
            if text.starts_with('-') {
                return Err(ChainError::Malformed { text: text.clone() });
            }
            break;
        };
        if let Some((name, value)) = name.split_once('=') {
            pairs.push((name.to_string(), Some(value.to_string())));
            index += 1;
            continue;
        }
        let normalized = name.replace('_', "-");
        let takes_value = schema
            .arguments
            .iter()
            .find(|argument| argument.name == normalized)
            .is_some_and(|argument| argument.type_ref.kind != Kind::Boolean || argument.type_ref.is_list);
        match tokens.get(index + 1).filter(|next| takes_value && !next.starts_with("--")) {
            Some(value) => {
                pairs.push((name.to_string(), Some(value.clone())));
                index += 2;
            }
            None => {
                pairs.push((name.to_string(), None));
                index += 1;
            }
        }
    }
    Ok((pairs, &tokens[index..]))
}

/// Whether a step's flags ask for its help (`--help`, where it has no such argument).
pub fn asks_for_help(schema: &Function, pairs: &[(String, Option<String>)]) -> bool {
    pairs.iter().any(|(name, value)| name == "help" && value.is_none()) && !schema.arguments.iter().any(|argument| argument.name == "help")
}

/// One typed step of a chain.
pub struct Step {
    pub link: &'static Link,
    pub arguments: Vec<(String, Value)>,
}

/// What a planned chain is: its steps, or the help of the step that asked for it.
pub enum Plan {
    Steps(Vec<Step>),
    Help(String),
}

/// Types the methods in `tokens`, called in turn on what `function` returns.
pub fn plan(function: &Function, mut tokens: &[String], context: &ArgumentContext<'_>) -> Result<Plan, ChainError> {
    let mut steps = Vec::new();
    let mut previous = function.name.clone();
    let mut returns = function.return_type;
    while let Some((name, rest)) = tokens.split_first() {
        let link = find_method(&previous, returns, name)?;
        let (pairs, next) = split_step(&link.schema, rest)?;
        if asks_for_help(&link.schema, &pairs) {
            return Ok(Plan::Help(help(&link.schema, &format!("{} method", link.object))));
        }
        let arguments = type_arguments(&link.schema, &pairs, context).map_err(|error| in_link(&link.schema, error))?;
        steps.push(Step { link, arguments });
        previous = link.schema.name.clone();
        returns = link.schema.return_type;
        tokens = next;
    }
    Ok(Plan::Steps(steps))
}

fn find_method(previous: &str, returns: TypeRef, name: &str) -> Result<&'static Link, ChainError> {
    if returns.is_list || !matches!(returns.kind, Kind::Container | Kind::Directory | Kind::File | Kind::Service) {
        return Err(ChainError::NotAnObject {
            previous: previous.to_string(),
            returns,
            link: name.to_string(),
        });
    }
    find_link(returns.kind, name).ok_or_else(|| {
        let names: Vec<&str> = links_of(returns.kind).map(|link| link.schema.name.as_str()).collect();
        ChainError::UnknownMethod {
            link: name.to_string(),
            object: returns.kind,
            suggestion: did_you_mean(&name.replace('_', "-"), names.iter().copied()),
            methods: names.join(", "),
        }
    })
}

/// A link's argument error, naming the link rather than a function.
fn in_link(schema: &Function, error: ArgumentError) -> ChainError {
    match error {
        ArgumentError::UnknownArgument { argument, suggestion, .. } => ChainError::UnknownArgument {
            link: schema.name.clone(),
            argument,
            suggestion,
            usage: usage(schema),
        },
        ArgumentError::Missing { argument, usage, .. } => ChainError::Missing {
            link: schema.name.clone(),
            argument,
            usage,
        },
        error => ChainError::Argument {
            link: schema.name.clone(),
            error: Box::new(error),
        },
    }
}

/// `tanto call FUNCTION --help`: a function's (or a method's) description, arguments with
/// their types, defaults and docs, what it returns and the methods that can follow.
pub fn help(function: &Function, what: &str) -> String {
    let mut text = String::new();
    if !function.description.trim().is_empty() {
        text.push_str(function.description.trim());
        text.push_str("\n\n");
    }
    text.push_str(&usage(function).replacen(&format!("`{}`", function.name), &format!("{what} `{}`", function.name), 1));
    text.push_str(&format!("\n\nReturns {}", function.return_type));
    let returns = function.return_type;
    if !returns.is_list {
        let methods: Vec<&str> = links_of(returns.kind).map(|link| link.schema.name.as_str()).collect();
        if !methods.is_empty() {
            text.push_str(&format!(
                "; methods to chain after it: {}\n(`--help` after a method describes it)",
                methods.join(", ")
            ));
        }
    }
    text.push('\n');
    text
}
