//! `tanto call`: run one function of a module, then the methods chained after it
//! (`tanto call build with-exec --args=ls stdout`), and render the result.

use std::path::PathBuf;

use serde_json::json;

use super::session::{ModuleLocation, Session};
use crate::engine::{EngineError, ExportError};
use crate::error::{Diagnose, ErrorKind, Hint, UsageError};
use crate::module::args::{ArgumentContext, ArgumentError, constructor_usage, find_function, in_constructor, module_overview, type_arguments};
use crate::module::chain::{Plan, Step, asks_for_help, help, plan, split_step};
use crate::runtime::chain::LinkFailure;
use crate::runtime::{RuntimeError, Value};

/// How a result is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// Strings as they are, objects as `Kind@digest`.
    Text,
    /// One JSON document.
    Json,
}

/// What to call.
#[derive(Clone, Debug)]
pub struct CallSettings {
    pub location: ModuleLocation,
    /// The command line after `tanto call` and its own options, as typed: the
    /// constructor's `--name=value` arguments, the function (none lists the functions,
    /// and fails: a call needs one), its arguments, then the methods chained after it
    /// with theirs.
    pub arguments: Vec<String>,
    /// Where to save a directory, file or string result, or a container's image archive.
    pub output: Option<PathBuf>,
    pub format: OutputFormat,
    /// Where relative paths in arguments are resolved.
    pub working_dir: PathBuf,
}

/// Why a result could not be saved with `-o`: both are the user's to fix.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// `path` (the one given, or a path inside it) cannot be written.
    #[error("cannot save the result to {}: {error}", path.display())]
    Unwritable { path: PathBuf, error: std::io::Error },
    /// The result is not something a path can hold.
    #[error("-o saves a directory, a file, a string or a container (as an image archive); this function returned {kind}")]
    NotSavable { kind: &'static str },
}

impl Diagnose for OutputError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::User
    }

    fn hint(&self) -> Option<Hint> {
        match self {
            OutputError::Unwritable { error, .. } => Some(Hint::OutputPath { problem: error.kind() }),
            OutputError::NotSavable { .. } => Some(Hint::ShowWithoutOutput),
        }
    }
}

/// The rendered result.
#[derive(Debug)]
pub struct CallOutput {
    /// What goes to stdout.
    pub stdout: String,
    /// Where a result was saved.
    pub saved: Option<PathBuf>,
    /// The exit code of the shell a chain ended with (`... terminal`), which becomes
    /// tanto's: a shell's status is 0 to 255.
    pub shell_status: Option<u8>,
}

/// Runs the function and renders its result; then pushes the steps it used to the
/// registry cache, if one is set (whatever the outcome: the steps that succeeded are
/// worth sharing).
pub async fn call(session: &Session, settings: CallSettings) -> anyhow::Result<CallOutput> {
    let result = call_and_render(session, settings).await;
    if let Some(report) = session.pipeline.push_to_registry().await {
        tracing::info!(pushed = report.pushed, failed = report.failed.len(), "registry cache updated");
        if !report.failed.is_empty() {
            tracing::warn!("{} steps could not be pushed to the registry cache", report.failed.len());
        }
    }
    result
}

async fn call_and_render(session: &Session, settings: CallSettings) -> anyhow::Result<CallOutput> {
    let CallSettings {
        location,
        arguments,
        output,
        format,
        working_dir,
    } = settings;
    session.sweep_orphans().await;
    let loaded = session.load(&location).await?;
    apply_module_cache(session, loaded.manifest.as_ref())?;
    let schema = &loaded.schema;
    // The constructor's arguments come first, typed like a function's.
    let constructor = schema.constructor_function();
    let (constructor_raw, rest) = split_step(&constructor, &arguments)?;
    if asks_for_help(&constructor, &constructor_raw) {
        return Ok(CallOutput {
            stdout: module_help(schema),
            saved: None,
            shell_status: None,
        });
    }
    // A misspelt constructor argument is reported before its value is taken for the
    // function's name.
    if let Some((name, _)) = constructor_raw
        .iter()
        .find(|(name, _)| !constructor.arguments.iter().any(|argument| argument.name == name.replace('_', "-")))
    {
        return Err(in_constructor(
            schema,
            ArgumentError::UnknownArgument {
                function: schema.name.clone(),
                argument: name.clone(),
                suggestion: crate::module::args::did_you_mean(&name.replace('_', "-"), constructor.arguments.iter().map(|argument| argument.name.as_str())),
                usage: String::new(),
            },
        )
        .into());
    }
    let Some((function, rest)) = rest.split_first() else {
        return Err(ArgumentError::NoFunction {
            available: module_overview(schema),
        }
        .into());
    };
    let function = find_function(schema, function)?;
    let (raw, chained) = split_step(function, rest)?;
    if asks_for_help(function, &raw) {
        let mut text = help(function, "function");
        if !schema.constructor.is_empty() {
            text.push('\n');
            text.push_str(&constructor_usage(schema));
            text.push('\n');
        }
        return Ok(CallOutput {
            stdout: text,
            saved: None,
            shell_status: None,
        });
    }
    let context = ArgumentContext {
        working_dir,
        hash_cache: session.pipeline.hash_cache(),
    };
    // The function's first, so that a constructor argument given after it is reported
    // as misplaced rather than missing.
    let typed = type_arguments(function, &raw, &context).map_err(|error| match error {
        // A constructor argument given after the function: say where it goes.
        ArgumentError::UnknownArgument { argument, .. } if schema.constructor.iter().any(|known| known.name == argument.replace('_', "-")) => {
            ArgumentError::ConstructorArgumentAfterFunction {
                module: schema.name.clone(),
                function: function.name.clone(),
                argument,
            }
        }
        error => error,
    })?;
    let constructor_arguments = type_arguments(&constructor, &constructor_raw, &context).map_err(|error| in_constructor(schema, error))?;
    // The whole chain is typed before anything runs.
    let steps = match plan(function, chained, &context)? {
        Plan::Steps(steps) => steps,
        Plan::Help(text) => {
            return Ok(CallOutput {
                stdout: text,
                saved: None,
                shell_status: None,
            });
        }
    };
    let opens_shell = steps.last().is_some_and(|step| is_terminal(step.link));
    if steps.iter().any(|step| is_terminal(step.link)) && !session.pipeline.has_console() {
        return Err(UsageError::new(
            "`terminal` opens an interactive shell, which needs an interactive terminal: tanto's standard input or output is not one (run tanto in a terminal, not in a pipe, a script or CI)",
        )
        .into());
    }
    let started = std::time::Instant::now();
    let round_trips = session.backend.round_trips();
    let shown = session.pipeline.reporter().start_call(function.name.as_str(), 0);
    let value = loaded
        .runtime
        .invoke(&loaded.callable, session.pipeline.clone(), constructor_arguments, &function.name, typed)
        .await;
    shown.finish(value.is_ok());
    // A failure debugged in a shell (`--interactive`) ends the run, even if the module
    // handled it.
    let debugged = || {
        session
            .pipeline
            .debugged_failure()
            .map(|error| anyhow::Error::new(RuntimeError::Pipeline(error)))
    };
    let mut value = match (value, debugged()) {
        (_, Some(failure)) => return Err(failure),
        (value, None) => value?,
    };
    for Step { link, arguments } in steps {
        value = link.run(session.pipeline.clone(), value, arguments).await.map_err(|failure| match failure {
            LinkFailure::Pipeline(error) => debugged().unwrap_or_else(|| anyhow::Error::new(RuntimeError::Pipeline(error))),
            LinkFailure::Export(error) => export_error(error),
        })?;
    }
    if opens_shell {
        session.pipeline.reporter().finish();
        let status = match value {
            // As a shell reports the status of a child: its low eight bits.
            Value::Integer(code) => (code & 0xff) as u8,
            _ => 0,
        };
        return Ok(CallOutput {
            stdout: String::new(),
            saved: None,
            shell_status: Some(status),
        });
    }
    let rendered = render(session, value, output, format).await;
    tracing::debug!(
        target: "tanto::timing",
        "call: invoked and rendered in {:.1} ms with {} Docker operations",
        started.elapsed().as_secs_f64() * 1e3,
        session.backend.round_trips() - round_trips
    );
    // The work is over: the display's summary goes before the result is printed (on a
    // terminal both share the screen).
    session.pipeline.reporter().finish();
    rendered
}

/// Fills the registry cache locations that flags and the environment left unset from the
/// module's `[cache]`.
fn apply_module_cache(session: &Session, manifest: Option<&crate::module::Manifest>) -> anyhow::Result<()> {
    let Some(cache) = manifest.and_then(|manifest| manifest.cache.as_ref()) else {
        return Ok(());
    };
    let parse = |key: &str, value: &Option<String>| -> anyhow::Result<Option<String>> {
        value
            .as_deref()
            .map(crate::engine::remote::parse_location)
            .transpose()
            .map_err(|error| anyhow::Error::new(crate::error::UsageError::new(format!("tanto.toml [cache] {key}: {error}"))))
    };
    let mut current = session.pipeline.registry_cache();
    if current.to.is_none() {
        current.to = parse("to", &cache.to)?;
    }
    if current.from.is_none() {
        current.from = parse("from", &cache.from)?;
    }
    session.pipeline.set_registry_cache(current);
    Ok(())
}

/// `tanto call [CONSTRUCTOR ARGUMENTS] --help`: the module's description, its
/// constructor's arguments and its functions.
fn module_help(schema: &crate::runtime::ModuleSchema) -> String {
    let mut text = String::new();
    if !schema.description.trim().is_empty() {
        text.push_str(schema.description.trim());
        text.push_str("\n\n");
    }
    text.push_str(&constructor_usage(schema));
    text.push_str("\n\n");
    text.push_str(&crate::module::args::function_list(schema));
    text.push('\n');
    text
}

/// A failed export: the destination's refusal is the user's to fix, a failed evaluation
/// the pipeline's.
fn export_error(error: ExportError) -> anyhow::Error {
    match error {
        ExportError::Evaluate(error) => anyhow::Error::new(RuntimeError::Pipeline(error)),
        ExportError::Destination { path, error } => anyhow::Error::new(OutputError::Unwritable { path, error }),
    }
}

async fn render(session: &Session, value: Value, output: Option<PathBuf>, format: OutputFormat) -> anyhow::Result<CallOutput> {
    let pipeline = &session.pipeline;
    let pipeline_error = |error: EngineError| anyhow::Error::new(RuntimeError::Pipeline(error));
    if let Some(path) = output {
        match &value {
            Value::Directory(directory) => pipeline.export_directory(directory, &path).await.map_err(export_error)?,
            Value::File(file) => pipeline.export_file(file, &path).await.map_err(export_error)?,
            Value::Container(container) => pipeline.export_container(container, &path).await.map_err(export_error)?,
            Value::String(text) => std::fs::write(&path, text).map_err(|error| OutputError::Unwritable { path: path.clone(), error })?,
            other => return Err(OutputError::NotSavable { kind: kind_name(other) }.into()),
        }
        return Ok(CallOutput {
            stdout: String::new(),
            saved: Some(path),
            shell_status: None,
        });
    }
    let stdout = match format {
        OutputFormat::Text => render_text(session, &value).await.map_err(pipeline_error)?,
        OutputFormat::Json => {
            let mut text = serde_json::to_string_pretty(&render_json(session, &value).await.map_err(pipeline_error)?)?;
            text.push('\n');
            text
        }
    };
    Ok(CallOutput {
        stdout,
        saved: None,
        shell_status: None,
    })
}

/// Whether `link` is a container's `terminal`, whose shell ends the chain.
fn is_terminal(link: &crate::runtime::chain::Link) -> bool {
    link.object == crate::runtime::Kind::Container && link.schema.name == "terminal"
}

fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::None => "nothing",
        Value::String(_) => "a string",
        Value::Boolean(_) => "a boolean",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Container(_) => "a container",
        Value::Directory(_) => "a directory",
        Value::File(_) => "a file",
        Value::Secret(_) => "a secret",
        Value::Service(_) => "a service",
        Value::List(_) => "a list",
    }
}

fn render_text<'a>(session: &'a Session, value: &'a Value) -> std::pin::Pin<Box<dyn Future<Output = Result<String, EngineError>> + Send + 'a>> {
    Box::pin(async move {
        let pipeline = &session.pipeline;
        Ok(match value {
            Value::None => String::new(),
            Value::String(text) => text.clone(),
            Value::Boolean(value) => format!("{value}\n"),
            Value::Integer(value) => format!("{value}\n"),
            Value::Float(value) => format!("{value}\n"),
            Value::Container(container) => {
                pipeline.sync(container).await?;
                format!("Container@{}\n", container.digest())
            }
            Value::Directory(directory) => format!("Directory@{}\n", pipeline.directory_digest(directory).await?),
            Value::File(file) => format!("File@{}\n", pipeline.file_digest(file).await?),
            // Its name only: a secret is never shown.
            Value::Secret(secret) => format!("Secret({})\n", secret.name()),
            // Not started: `up` runs it.
            Value::Service(service) => format!("Service({})\n", service.hostname()),
            Value::List(items) => {
                let mut text = String::new();
                for item in items {
                    let rendered = render_text(session, item).await?;
                    text.push_str(&rendered);
                    if !rendered.ends_with('\n') {
                        text.push('\n');
                    }
                }
                text
            }
        })
    })
}

fn render_json<'a>(session: &'a Session, value: &'a Value) -> std::pin::Pin<Box<dyn Future<Output = Result<serde_json::Value, EngineError>> + Send + 'a>> {
    Box::pin(async move {
        let pipeline = &session.pipeline;
        Ok(match value {
            Value::None => serde_json::Value::Null,
            Value::String(text) => json!(text),
            Value::Boolean(value) => json!(value),
            Value::Integer(value) => json!(value),
            Value::Float(value) => json!(value),
            Value::Container(container) => {
                let image = pipeline.image(container).await?;
                json!({ "type": "container", "digest": container.digest().to_string(), "image": image })
            }
            Value::Directory(directory) => {
                let tree = pipeline.tree(directory).await?;
                json!({ "type": "directory", "digest": tree.digest().to_string(), "entries": tree.entries("").unwrap_or_default() })
            }
            Value::File(file) => {
                json!({ "type": "file", "name": file.name(), "digest": pipeline.file_digest(file).await?.to_string(), "size": pipeline.size(file).await? })
            }
            Value::Secret(secret) => json!({ "type": "secret", "name": secret.name() }),
            Value::Service(service) => json!({ "type": "service", "hostname": service.hostname() }),
            Value::List(items) => {
                let mut rendered = Vec::new();
                for item in items {
                    rendered.push(render_json(session, item).await?);
                }
                serde_json::Value::Array(rendered)
            }
        })
    })
}
