//! Typing command-line arguments (`--name=value`) from a function's schema: a directory
//! argument takes a host path, a container an image address, a list comma-separated
//! values (`\,` is a comma inside a value) or one value per repeated flag.

use std::path::{Path, PathBuf};

use crate::engine::tree::{FileEntry, Filter, HashCache, IgnoreFiles, Tree};
use crate::engine::{Container, Directory, Secret};
use crate::error::{Diagnose, ErrorKind, Hint};
use crate::runtime::{Function, Kind, ModuleSchema, TypeRef, Value};

/// Why the arguments of a call were rejected.
#[derive(Debug, thiserror::Error)]
pub enum ArgumentError {
    #[error("module `{module}` has no function `{function}`{suggestion}\n\n{available}")]
    UnknownFunction {
        module: String,
        function: String,
        /// ` (did you mean `...`?)`, or nothing.
        suggestion: String,
        available: String,
    },
    #[error("`tanto call` needs the function to call: `tanto call FUNCTION [--argument=value ...]`\n\n{available}")]
    NoFunction { available: String },
    #[error("function `{function}` has no argument `--{argument}`{suggestion}\n\n{usage}")]
    UnknownArgument {
        function: String,
        argument: String,
        suggestion: String,
        usage: String,
    },
    #[error("function `{function}` needs `--{argument}`\n\n{usage}")]
    Missing { function: String, argument: String, usage: String },
    #[error("`--{argument}` was given twice (only a list argument can be repeated)")]
    Duplicate { argument: String },
    #[error("`--{argument}`: {reason}")]
    BadValue { argument: String, reason: String },
    #[error("`{text}` is not an argument: arguments look like `--name=value`")]
    Malformed { text: String },
    #[error("module `{module}` has no constructor argument `--{argument}`{suggestion}\n\n{usage}")]
    UnknownConstructorArgument {
        module: String,
        argument: String,
        suggestion: String,
        usage: String,
    },
    #[error("module `{module}` needs `--{argument}` before the function: `tanto call --{argument}=VALUE FUNCTION ...`\n\n{usage}")]
    MissingConstructorArgument { module: String, argument: String, usage: String },
    #[error(
        "`--{argument}` is an argument of module `{module}`'s constructor, not of function `{function}`: give it before the function, `tanto call --{argument}=VALUE {function} ...`"
    )]
    ConstructorArgumentAfterFunction { module: String, function: String, argument: String },
}

impl Diagnose for ArgumentError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::User
    }

    fn hint(&self) -> Option<Hint> {
        match self {
            ArgumentError::UnknownFunction { .. } => Some(Hint::ListFunctions),
            // The message already shows the function's usage, or the accepted form.
            _ => None,
        }
    }
}

/// The functions of a module, one line each with what it returns, for errors and
/// `tanto functions`.
pub fn function_list(schema: &ModuleSchema) -> String {
    let signature = |function: &Function| format!("{} -> {}", function.name, function.return_type);
    let width = schema.functions.iter().map(|function| signature(function).len()).max().unwrap_or(0);
    let mut text = String::from("Functions:\n");
    for function in &schema.functions {
        text.push_str(&format!("  {:width$}  {}\n", signature(function), summary(&function.description)));
    }
    text.trim_end().to_string()
}

/// [`function_list`], then the constructor's arguments when the module has a
/// constructor: what `tanto functions` and `tanto call` without a function show.
pub fn module_overview(schema: &ModuleSchema) -> String {
    let mut text = function_list(schema);
    if !schema.constructor.is_empty() {
        text.push_str("\n\n");
        text.push_str(&constructor_usage(schema));
    }
    text
}

/// ` (did you mean `candidate`?)` for the candidate nearest to `name`, when one is near
/// enough to be a typo (at most a third of its letters differ), else nothing.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let nearest = candidates
        .into_iter()
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= name.len().max(candidate.len()) / 3 + 1)
        .min_by_key(|(distance, _)| *distance);
    match nearest {
        Some((_, candidate)) => format!(" (did you mean `{candidate}`?)"),
        None => String::new(),
    }
}

/// Levenshtein distance, by characters.
fn edit_distance(left: &str, right: &str) -> usize {
    let right: Vec<char> = right.chars().collect();
    let mut previous: Vec<usize> = (0..=right.len()).collect();
    for (i, left_char) in left.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, right_char) in right.iter().enumerate() {
            let substitution = previous[j] + usize::from(left_char != *right_char);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[right.len()]
}

/// The first paragraph of a description, on one line.
pub(crate) fn summary(description: &str) -> String {
    description
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A function's arguments, one line each.
pub fn usage(function: &Function) -> String {
    if function.arguments.is_empty() {
        return format!("`{}` takes no arguments", function.name);
    }
    let rows: Vec<(String, String)> = function
        .arguments
        .iter()
        .map(|argument| {
            let left = format!("--{} {}", argument.name, argument.type_ref);
            let mut right = summary(&argument.description);
            if let Some(default) = &argument.default_value {
                right = format!("{right} (default: {default})").trim().to_string();
            } else if argument.is_required() {
                right = format!("{right} (required)").trim().to_string();
            }
            (left, right)
        })
        .collect();
    let width = rows.iter().map(|(left, _)| left.len()).max().unwrap_or(0);
    let mut text = format!("Arguments of `{}`:\n", function.name);
    for (left, right) in rows {
        text.push_str(&format!("  {left:width$}  {right}\n"));
    }
    text.trim_end().to_string()
}

/// The constructor's arguments, one line each, saying where they go; for a module
/// without a constructor, that it takes none.
pub fn constructor_usage(schema: &ModuleSchema) -> String {
    if schema.constructor.is_empty() {
        return format!(
            "module `{}` has no constructor: a function's arguments go after it, `tanto call FUNCTION --name=value`",
            schema.name
        );
    }
    let usage = usage(&schema.constructor_function());
    let rows = usage.split_once('\n').map(|(_, rows)| rows).unwrap_or_default();
    format!(
        "Constructor arguments of module `{}`, given before the function (`tanto call --name=value FUNCTION ...`):\n{rows}",
        schema.name
    )
}

/// A constructor's argument error (typed as the arguments of
/// [`ModuleSchema::constructor_function`]), naming the constructor.
pub fn in_constructor(schema: &ModuleSchema, error: ArgumentError) -> ArgumentError {
    match error {
        ArgumentError::UnknownArgument { argument, suggestion, .. } => ArgumentError::UnknownConstructorArgument {
            module: schema.name.clone(),
            argument,
            suggestion,
            usage: constructor_usage(schema),
        },
        ArgumentError::Missing { argument, .. } => ArgumentError::MissingConstructorArgument {
            module: schema.name.clone(),
            argument,
            usage: constructor_usage(schema),
        },
        error => error,
    }
}

/// Finds a function by the name a user typed (`build-image` or `build_image`).
pub fn find_function<'a>(schema: &'a ModuleSchema, name: &str) -> Result<&'a Function, ArgumentError> {
    let wanted = name.replace('_', "-");
    schema.function(&wanted).ok_or_else(|| ArgumentError::UnknownFunction {
        module: schema.name.clone(),
        function: name.to_string(),
        suggestion: did_you_mean(&wanted, schema.functions.iter().map(|function| function.name.as_str())),
        available: function_list(schema),
    })
}

/// Splits `--a=1 --b 2 --flag` into pairs; a flag without a value is `None`.
pub fn split_raw(args: &[String]) -> Result<Vec<(String, Option<String>)>, ArgumentError> {
    let mut pairs = Vec::new();
    let mut index = 0;
    while index < args.len() {
        let text = &args[index];
        let Some(name) = text.strip_prefix("--").filter(|name| !name.is_empty()) else {
            return Err(ArgumentError::Malformed { text: text.clone() });
        };
        if let Some((name, value)) = name.split_once('=') {
            pairs.push((name.to_string(), Some(value.to_string())));
        } else if let Some(next) = args.get(index + 1).filter(|next| !next.starts_with("--")) {
            pairs.push((name.to_string(), Some(next.clone())));
            index += 1;
        } else {
            pairs.push((name.to_string(), None));
        }
        index += 1;
    }
    Ok(pairs)
}

/// Where relative paths in arguments are resolved, and the hash cache host directories
/// are snapshotted with.
pub struct ArgumentContext<'a> {
    pub working_dir: PathBuf,
    pub hash_cache: &'a HashCache,
}

/// Types `raw` pairs against `function`'s schema, filling in declared defaults.
pub fn type_arguments(function: &Function, raw: &[(String, Option<String>)], context: &ArgumentContext<'_>) -> Result<Vec<(String, Value)>, ArgumentError> {
    let mut typed = Vec::new();
    for (name, _) in raw {
        let normalized = name.replace('_', "-");
        if !function.arguments.iter().any(|argument| argument.name == normalized) {
            return Err(ArgumentError::UnknownArgument {
                function: function.name.clone(),
                argument: name.clone(),
                suggestion: did_you_mean(&normalized, function.arguments.iter().map(|argument| argument.name.as_str())),
                usage: usage(function),
            });
        }
    }
    for argument in &function.arguments {
        let given: Vec<Option<&str>> = raw
            .iter()
            .filter(|(name, _)| name.replace('_', "-") == argument.name)
            .map(|(_, text)| text.as_deref())
            .collect();
        let value = match given.as_slice() {
            [] => None,
            [text] => Some(parse_value(&argument.name, argument.type_ref, *text, context)?),
            // A repeated list flag gives one item per flag, each whole: the way to pass
            // items that hold commas.
            repeated if argument.type_ref.is_list => {
                let items = repeated
                    .iter()
                    .map(|text| match text {
                        Some(text) => parse_scalar(&argument.name, argument.type_ref.kind, text, context),
                        None => Err(bad(&argument.name, format!("expected a value of type {}", argument.type_ref))),
                    })
                    .collect::<Result<_, _>>()?;
                Some(Value::List(items))
            }
            _ => {
                return Err(ArgumentError::Duplicate {
                    argument: argument.name.clone(),
                });
            }
        };
        let value = match value {
            Some(value) => value,
            None => match &argument.default_value {
                Some(default) => parse_default(&argument.name, argument.type_ref, default, context)?,
                None if argument.type_ref.optional => continue,
                None => {
                    return Err(ArgumentError::Missing {
                        function: function.name.clone(),
                        argument: argument.name.clone(),
                        usage: usage(function),
                    });
                }
            },
        };
        typed.push((argument.name.clone(), value));
    }
    Ok(typed)
}

fn bad(argument: &str, reason: impl Into<String>) -> ArgumentError {
    ArgumentError::BadValue {
        argument: argument.to_string(),
        reason: reason.into(),
    }
}

fn parse_value(argument: &str, type_ref: TypeRef, text: Option<&str>, context: &ArgumentContext<'_>) -> Result<Value, ArgumentError> {
    let Some(text) = text else {
        return if type_ref.kind == Kind::Boolean && !type_ref.is_list {
            Ok(Value::Boolean(true))
        } else {
            Err(bad(argument, format!("expected a value of type {type_ref}")))
        };
    };
    if type_ref.is_list {
        let items = split_list(text);
        return Ok(Value::List(
            items
                .iter()
                .map(|item| item.trim())
                .filter(|item| !item.is_empty())
                .map(|item| parse_scalar(argument, type_ref.kind, item, context))
                .collect::<Result<_, _>>()?,
        ));
    }
    parse_scalar(argument, type_ref.kind, text, context)
}

/// `a,b\,c` as `["a", "b,c"]`: commas separate items, `\,` is a comma in one.
fn split_list(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                chars.next();
                current.push(',');
            }
            ',' => items.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    items.push(current);
    items
}

fn parse_scalar(argument: &str, kind: Kind, text: &str, context: &ArgumentContext<'_>) -> Result<Value, ArgumentError> {
    match kind {
        Kind::String => Ok(Value::String(text.to_string())),
        Kind::Boolean => match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(Value::Boolean(true)),
            "false" | "no" | "0" => Ok(Value::Boolean(false)),
            _ => Err(bad(argument, format!("expected true or false, got {text:?}"))),
        },
        Kind::Integer => text
            .parse()
            .map(Value::Integer)
            .map_err(|_| bad(argument, format!("expected an integer, got {text:?}"))),
        Kind::Float => text
            .parse()
            .map(Value::Float)
            .map_err(|_| bad(argument, format!("expected a number, got {text:?}"))),
        Kind::Container => {
            if text.trim().is_empty() || text.contains(char::is_whitespace) {
                return Err(bad(argument, format!("expected an image address such as busybox:latest, got {text:?}")));
            }
            Ok(Value::Container(Container::scratch().from(text)))
        }
        Kind::Directory => {
            let path = resolve(&context.working_dir, text);
            let tree = Tree::from_host(&path, &Filter::default(), IgnoreFiles::Honour, context.hash_cache).map_err(|error| bad(argument, error.to_string()))?;
            Ok(Value::Directory(Directory::from_tree(tree)))
        }
        Kind::File => {
            let path = resolve(&context.working_dir, text);
            let entry = FileEntry::from_host(&path, context.hash_cache).map_err(|error| bad(argument, error.to_string()))?;
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_else(|| "file".into());
            let tree = Tree::new().with_file(&name, entry).map_err(|error| bad(argument, error.to_string()))?;
            Ok(Value::File(Directory::from_tree(tree).file(&name)))
        }
        Kind::Secret => {
            // The reference names where the value is; the value itself never appears on
            // the command line.
            let provider = crate::secrets::provider::Provider::parse(text).map_err(|error| bad(argument, error.to_string()))?;
            let value = provider.read(&context.working_dir).map_err(|error| bad(argument, error.to_string()))?;
            Ok(Value::Secret(Secret::new(text, value)))
        }
        Kind::Service => Err(bad(
            argument,
            "a service cannot be given on the command line: make it in the module (container.as-service)",
        )),
        Kind::Void => Err(bad(argument, "an argument cannot be of type Void")),
    }
}

fn parse_default(argument: &str, type_ref: TypeRef, default: &str, context: &ArgumentContext<'_>) -> Result<Value, ArgumentError> {
    // Schemas with such defaults are refused when they are loaded
    // (`ModuleSchema::validate`); this keeps a module-named path from ever being read even
    // if a schema reached here some other way.
    if matches!(type_ref.kind, Kind::Directory | Kind::File | Kind::Secret | Kind::Service) {
        return Err(bad(
            argument,
            format!(
                "the module declares a default {default} for a {} argument: only the caller names host paths",
                type_ref.kind
            ),
        ));
    }
    let json: serde_json::Value =
        serde_json::from_str(default).map_err(|error| bad(argument, format!("the module declares an invalid default {default:?}: {error}")))?;
    let text = match &json {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Bool(value) => value.to_string(),
        serde_json::Value::Number(number) => number.to_string(),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|item| match item {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(","),
        serde_json::Value::Null => return Ok(Value::None),
        serde_json::Value::Object(_) => {
            return Err(bad(argument, format!("the module declares an unsupported default {default}")));
        }
    };
    parse_value(argument, type_ref, Some(&text), context)
}

fn resolve(working_dir: &Path, text: &str) -> PathBuf {
    let path = Path::new(text);
    if path.is_absolute() { path.to_path_buf() } else { working_dir.join(path) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Argument;

    fn function() -> Function {
        let argument = |name: &str, kind, optional, default: Option<&str>| Argument {
            name: name.into(),
            description: format!("the {name}"),
            type_ref: TypeRef {
                kind,
                is_list: false,
                optional,
            },
            default_value: default.map(str::to_string),
        };
        Function {
            name: "greet".into(),
            description: "Greets.".into(),
            arguments: vec![
                argument("name", Kind::String, false, None),
                argument("greeting", Kind::String, false, Some("\"hi\"")),
                argument("count", Kind::Integer, true, None),
                argument("loud", Kind::Boolean, false, Some("false")),
            ],
            return_type: TypeRef {
                kind: Kind::String,
                is_list: false,
                optional: false,
            },
        }
    }

    fn typed(args: &[&str]) -> Result<Vec<(String, Value)>, ArgumentError> {
        let cache = HashCache::default();
        let context = ArgumentContext {
            working_dir: PathBuf::from("/"),
            hash_cache: &cache,
        };
        let raw = split_raw(&args.iter().map(|arg| arg.to_string()).collect::<Vec<_>>())?;
        type_arguments(&function(), &raw, &context)
    }

    #[test]
    fn types_values_and_fills_defaults() {
        let values = typed(&["--name=tanto", "--count", "3", "--loud"]).unwrap();
        let shown: Vec<String> = values.iter().map(|(name, value)| format!("{name}={value:?}")).collect();
        assert_eq!(shown, vec!["name=\"tanto\"", "greeting=\"hi\"", "count=3", "loud=true"]);
    }

    #[test]
    fn list_arguments_take_commas_or_repeated_flags() {
        let mut function = function();
        function.arguments = vec![Argument {
            name: "tags".into(),
            description: String::new(),
            type_ref: TypeRef {
                kind: Kind::String,
                is_list: true,
                optional: false,
            },
            default_value: None,
        }];
        let cache = HashCache::default();
        let context = ArgumentContext {
            working_dir: PathBuf::from("/"),
            hash_cache: &cache,
        };
        let typed = |args: &[&str]| {
            let raw = split_raw(&args.iter().map(|arg| arg.to_string()).collect::<Vec<_>>()).unwrap();
            type_arguments(&function, &raw, &context).map(|values| format!("{:?}", values[0].1))
        };
        assert_eq!(typed(&["--tags=a, b"]).unwrap(), r#"["a", "b"]"#);
        assert_eq!(typed(&["--tags=a\\,b,c"]).unwrap(), r#"["a,b", "c"]"#);
        assert_eq!(
            typed(&["--tags=a,b", "--tags=c d"]).unwrap(),
            r#"["a,b", "c d"]"#,
            "a repeated flag is one item, whole"
        );
    }

    #[test]
    fn near_names_are_suggested() {
        assert_eq!(did_you_mean("nmae", ["name", "greeting"]), " (did you mean `name`?)");
        assert_eq!(did_you_mean("stdot", ["stdout", "stderr", "sync"]), " (did you mean `stdout`?)");
        assert_eq!(did_you_mean("zzzzzz", ["name", "greeting"]), "");
    }

    #[test]
    fn errors_list_the_arguments() {
        let error = typed(&["--nmae=x"]).unwrap_err().to_string();
        assert!(error.contains("no argument `--nmae`"), "{error}");
        assert!(
            error.contains("--name String") && error.contains("(required)") && error.contains("(default: \"hi\")"),
            "{error}"
        );
        let error = typed(&[]).unwrap_err().to_string();
        assert!(error.contains("needs `--name`"), "{error}");
        let error = typed(&["--name=x", "--count=many"]).unwrap_err().to_string();
        assert!(error.contains("expected an integer"), "{error}");
    }
}
