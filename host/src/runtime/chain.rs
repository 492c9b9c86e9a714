//! Chained calls on the command line: after a function, `tanto call` keeps calling methods
//! of the object it returned (`tanto call build --src=. with-exec --args=ls stdout`), as
//! `dagger call` does.
//!
//! The links are not a second list of the API: they are [`foreach_method!`], the API's
//! own table, expanded once more. Each method becomes a [`Link`] whose schema is a
//! [`Function`], the type module functions have, so a link's arguments are typed,
//! defaulted, listed in help and reported by the same code as a function's
//! ([`crate::module::args`]), and a method added to the API is chainable with no edit
//! here. A method is left out when the command line cannot express one of its arguments
//! (a cache volume, raw bytes) or its result. Two links are the command line's own, in
//! [`cli_links`]: `export` of a directory or a file writes to a host path, which the API
//! never lets a module name.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use wasmtime::component::Resource;

use super::bindings::latest::tanto::core::types;
use super::host::{saturating_i32, utf8_text};
use super::surface::foreach_method;
use super::values::{Argument, Function, Kind, TypeRef, Value};
use crate::engine::{
    CacheVolume, Container, Directory, Engine, EngineError, ExecOptions, ExportError, File, GitRef, GitRepository, NetworkProtocol, Secret, Service,
};

/// Why a link failed while it ran.
#[derive(Debug)]
pub enum LinkFailure {
    /// Evaluating failed (a command, a missing file).
    Pipeline(EngineError),
    /// `export` could not write to the host.
    Export(ExportError),
}

pub type LinkFuture = Pin<Box<dyn Future<Output = Result<Value, LinkFailure>> + Send>>;

/// What a link does with the object before it and its typed arguments.
type Run = fn(Arc<Engine>, Value, Vec<(String, Value)>) -> LinkFuture;

/// One method callable on the command line.
pub struct Link {
    /// The kind of object it is called on.
    pub object: Kind,
    /// Its name as typed (`with-exec`), arguments and result.
    pub schema: Function,
    run: Run,
}

impl Link {
    /// Calls the link on `this` (an object of [`Link::object`]'s kind) with arguments
    /// typed against [`Link::schema`].
    pub fn run(&self, pipeline: Arc<Engine>, this: Value, arguments: Vec<(String, Value)>) -> LinkFuture {
        (self.run)(pipeline, this, arguments)
    }
}

/// Every link, API methods first.
pub fn links() -> &'static [Link] {
    static LINKS: OnceLock<Vec<Link>> = OnceLock::new();
    LINKS.get_or_init(|| {
        let mut links = api_links();
        let docs = method_docs(LATEST_WIT);
        for link in &mut links {
            let api_name = RENAMED
                .iter()
                .find(|(object, renamed, _)| *object == link.object && *renamed == link.schema.name)
                .map_or(link.schema.name.as_str(), |(_, _, api_name)| api_name);
            if let Some((_, _, doc)) = docs.iter().find(|(resource, method, _)| *resource == link.object && method == api_name) {
                link.schema.description = doc.clone();
            }
        }
        // A command-line link replaces the API method of the same name: a container's
        // `export` returns its image archive in the API and writes it with `--path` here,
        // as Dagger's CLI does.
        let own = cli_links();
        links.retain(|link| !own.iter().any(|cli| cli.object == link.object && cli.schema.name == link.schema.name));
        links.extend(own);
        links
    })
}

/// The WIT of the API version the links are expanded from (the one `bindings::latest`
/// is generated from): its doc comments are the links' help.
const LATEST_WIT: &str = include_str!("../../../wit/0.2.0/tanto.wit");

/// `(resource, method, doc comment)` of each method of a resource in `wit`, read from the
/// `///` lines above each `name: func(`.
fn method_docs(wit: &str) -> Vec<(Kind, String, String)> {
    let mut docs = Vec::new();
    let mut resource = None;
    let mut doc: Vec<&str> = Vec::new();
    for line in wit.lines().map(str::trim) {
        if let Some(text) = line.strip_prefix("///") {
            doc.push(text.trim());
            continue;
        }
        if let Some(name) = line.strip_prefix("resource ").and_then(|rest| rest.strip_suffix('{')) {
            resource = match name.trim() {
                "container" => Some(Kind::Container),
                "directory" => Some(Kind::Directory),
                "file" => Some(Kind::File),
                "service" => Some(Kind::Service),
                _ => None,
            };
        } else if line == "}" {
            resource = None;
        } else if let (Some(kind), Some((name, _))) = (resource, line.split_once(": func(")) {
            docs.push((kind, name.trim_start_matches('%').to_string(), doc.join(" ")));
        }
        doc.clear();
    }
    docs
}

/// The links callable on objects of `kind`.
pub fn links_of(kind: Kind) -> impl Iterator<Item = &'static Link> {
    links().iter().filter(move |link| link.object == kind)
}

/// Command-line names of methods whose API name differs: `(object, name, API name)`.
/// WIT cannot give a directory's `subdirectory` the name `directory` (its resource's);
/// Dagger's CLI does, and so does tanto's. The API name is accepted too.
const RENAMED: &[(Kind, &str, &str)] = &[(Kind::Directory, "directory", "subdirectory")];

/// The link `name` (or `name_with_underscores`, or its API name) of objects of `kind`.
pub fn find_link(kind: Kind, name: &str) -> Option<&'static Link> {
    let name = name.replace('_', "-");
    let name = RENAMED
        .iter()
        .find(|(object, _, method)| *object == kind && *method == name)
        .map_or(name.as_str(), |(_, renamed, _)| renamed);
    links_of(kind).find(|link| link.schema.name == name)
}

/// Defaults the command line gives arguments the API requires, where Dagger's CLI makes
/// them optional: `(method, argument, JSON default)`.
const DEFAULTS: &[(&str, &str, &str)] = &[
    ("entries", "path", "\".\""),
    ("with-directory", "include", "[]"),
    ("with-directory", "exclude", "[]"),
    ("terminal", "cmd", "[]"),
    ("with-exposed-port", "protocol", "\"tcp\""),
    ("as-service", "args", "[]"),
    ("as-service", "use-entrypoint", "false"),
];

/// How an argument of an API method appears on the command line.
enum Shape {
    /// A flag of this type.
    Flag(TypeRef),
    /// No flag: the link passes the API's default (exec options).
    Implicit,
    /// The command line cannot express it: the method is not a link.
    Unsupported,
}

const fn type_ref(kind: Kind, is_list: bool, optional: bool) -> TypeRef {
    TypeRef { kind, is_list, optional }
}

/// An argument type of the API (as the latest bindings spell it) on the command line.
trait ChainArgument {
    type Engine;
    fn shape() -> Shape;
    /// The engine value from the typed value (`None` when an optional flag was not given).
    fn take(value: Option<Value>) -> Result<Self::Engine, LinkFailure>;
}

fn mistyped(what: &str) -> LinkFailure {
    LinkFailure::Pipeline(EngineError::InvalidArgument(format!("a chained call was given a value that is not {what}")))
}

impl ChainArgument for String {
    type Engine = String;
    fn shape() -> Shape {
        Shape::Flag(type_ref(Kind::String, false, false))
    }
    fn take(value: Option<Value>) -> Result<String, LinkFailure> {
        match value {
            Some(Value::String(text)) => Ok(text),
            _ => Err(mistyped("a string")),
        }
    }
}

impl ChainArgument for Vec<String> {
    type Engine = Vec<String>;
    fn shape() -> Shape {
        Shape::Flag(type_ref(Kind::String, true, false))
    }
    fn take(value: Option<Value>) -> Result<Vec<String>, LinkFailure> {
        match value {
            Some(Value::List(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(text) => Ok(text),
                    _ => Err(mistyped("a list of strings")),
                })
                .collect(),
            _ => Err(mistyped("a list of strings")),
        }
    }
}

impl ChainArgument for Option<u32> {
    type Engine = Option<u32>;
    fn shape() -> Shape {
        Shape::Flag(type_ref(Kind::Integer, false, true))
    }
    fn take(value: Option<Value>) -> Result<Option<u32>, LinkFailure> {
        match value {
            None | Some(Value::None) => Ok(None),
            Some(Value::Integer(number)) => u32::try_from(number)
                .map(Some)
                .map_err(|_| LinkFailure::Pipeline(EngineError::InvalidArgument(format!("{number} is out of range (0 to {})", u32::MAX)))),
            _ => Err(mistyped("an integer")),
        }
    }
}

impl ChainArgument for u32 {
    type Engine = u32;
    fn shape() -> Shape {
        Shape::Flag(type_ref(Kind::Integer, false, false))
    }
    fn take(value: Option<Value>) -> Result<u32, LinkFailure> {
        match <Option<u32> as ChainArgument>::take(value)? {
            Some(number) => Ok(number),
            None => Err(mistyped("an integer")),
        }
    }
}

impl ChainArgument for bool {
    type Engine = bool;
    fn shape() -> Shape {
        Shape::Flag(type_ref(Kind::Boolean, false, false))
    }
    fn take(value: Option<Value>) -> Result<bool, LinkFailure> {
        match value {
            Some(Value::Boolean(flag)) => Ok(flag),
            _ => Err(mistyped("a boolean")),
        }
    }
}

/// `tcp` or `udp`.
impl ChainArgument for types::NetworkProtocol {
    type Engine = NetworkProtocol;
    fn shape() -> Shape {
        Shape::Flag(type_ref(Kind::String, false, false))
    }
    fn take(value: Option<Value>) -> Result<NetworkProtocol, LinkFailure> {
        match <String as ChainArgument>::take(value)?.to_ascii_lowercase().as_str() {
            "tcp" => Ok(NetworkProtocol::Tcp),
            "udp" => Ok(NetworkProtocol::Udp),
            other => Err(LinkFailure::Pipeline(EngineError::InvalidArgument(format!(
                "protocol `{other}` is neither tcp nor udp"
            )))),
        }
    }
}

impl ChainArgument for Resource<Directory> {
    type Engine = Directory;
    fn shape() -> Shape {
        Shape::Flag(type_ref(Kind::Directory, false, false))
    }
    fn take(value: Option<Value>) -> Result<Directory, LinkFailure> {
        match value {
            Some(Value::Directory(directory)) => Ok(directory),
            _ => Err(mistyped("a directory")),
        }
    }
}

impl ChainArgument for Resource<File> {
    type Engine = File;
    fn shape() -> Shape {
        Shape::Flag(type_ref(Kind::File, false, false))
    }
    fn take(value: Option<Value>) -> Result<File, LinkFailure> {
        match value {
            Some(Value::File(file)) => Ok(file),
            _ => Err(mistyped("a file")),
        }
    }
}

impl ChainArgument for Resource<Secret> {
    type Engine = Secret;
    fn shape() -> Shape {
        Shape::Flag(type_ref(Kind::Secret, false, false))
    }
    fn take(value: Option<Value>) -> Result<Secret, LinkFailure> {
        match value {
            Some(Value::Secret(secret)) => Ok(secret),
            _ => Err(mistyped("a secret")),
        }
    }
}

/// Build secrets as a list of secret references (`--secrets=env://TOKEN,file://key.pem`),
/// by name.
impl ChainArgument for Vec<Resource<Secret>> {
    type Engine = std::collections::BTreeMap<String, Secret>;
    fn shape() -> Shape {
        Shape::Flag(type_ref(Kind::Secret, true, false))
    }
    fn take(value: Option<Value>) -> Result<Self::Engine, LinkFailure> {
        match value {
            Some(Value::List(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::Secret(secret) => Ok((secret.name().to_string(), secret)),
                    _ => Err(mistyped("a list of secrets")),
                })
                .collect(),
            _ => Err(mistyped("a list of secrets")),
        }
    }
}

impl ChainArgument for Option<String> {
    type Engine = Option<String>;
    fn shape() -> Shape {
        Shape::Flag(type_ref(Kind::String, false, true))
    }
    fn take(value: Option<Value>) -> Result<Option<String>, LinkFailure> {
        match value {
            None | Some(Value::None) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            _ => Err(mistyped("a string")),
        }
    }
}

/// Build arguments as `NAME=VALUE` items (`--build-args=VERSION=1.2,DEBUG=0`).
impl ChainArgument for Vec<types::BuildArg> {
    type Engine = std::collections::BTreeMap<String, String>;
    fn shape() -> Shape {
        Shape::Flag(type_ref(Kind::String, true, false))
    }
    fn take(value: Option<Value>) -> Result<Self::Engine, LinkFailure> {
        <Vec<String> as ChainArgument>::take(value)?
            .into_iter()
            .map(|item| match item.split_once('=') {
                Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
                _ => Err(LinkFailure::Pipeline(EngineError::InvalidArgument(format!(
                    "build argument `{item}` is not NAME=VALUE"
                )))),
            })
            .collect()
    }
}

impl ChainArgument for types::ExecOptions {
    type Engine = ExecOptions;
    fn shape() -> Shape {
        Shape::Implicit
    }
    fn take(_value: Option<Value>) -> Result<ExecOptions, LinkFailure> {
        Ok(ExecOptions::default())
    }
}

/// Types the command line has no text for: their methods are not links.
macro_rules! unsupported_arguments {
    ($($type:ty => $engine:ty),*) => {
        $(
            impl ChainArgument for $type {
                type Engine = $engine;
                fn shape() -> Shape {
                    Shape::Unsupported
                }
                fn take(_value: Option<Value>) -> Result<$engine, LinkFailure> {
                    Err(mistyped(stringify!($type)))
                }
            }
        )*
    };
}

unsupported_arguments!(Resource<CacheVolume> => CacheVolume, types::Sharing => crate::engine::Sharing, Vec<u8> => Vec<u8>, Resource<Service> => Service);

/// A result type of the API on the command line: `None` when it has no text form.
trait ChainOutput {
    fn type_ref() -> Option<TypeRef>;
    fn into_value(self) -> Value;
}

macro_rules! outputs {
    ($($type:ty => $type_ref:expr, |$value:ident| $into:expr;)*) => {
        $(
            impl ChainOutput for $type {
                fn type_ref() -> Option<TypeRef> {
                    $type_ref
                }
                fn into_value(self) -> Value {
                    let $value = self;
                    $into
                }
            }
        )*
    };
}

outputs! {
    String => Some(type_ref(Kind::String, false, false)), |text| Value::String(text);
    i32 => Some(type_ref(Kind::Integer, false, false)), |number| Value::Integer(number.into());
    u64 => Some(type_ref(Kind::Integer, false, false)), |number| Value::Integer(i64::try_from(number).unwrap_or(i64::MAX));
    () => Some(type_ref(Kind::Void, false, false)), |_nothing| Value::None;
    Vec<String> => Some(type_ref(Kind::String, true, false)), |texts| Value::List(texts.into_iter().map(Value::String).collect());
    Container => Some(type_ref(Kind::Container, false, false)), |container| Value::Container(container);
    Directory => Some(type_ref(Kind::Directory, false, false)), |directory| Value::Directory(directory);
    File => Some(type_ref(Kind::File, false, false)), |file| Value::File(file);
    Secret => Some(type_ref(Kind::Secret, false, false)), |secret| Value::Secret(secret);
    Service => Some(type_ref(Kind::Service, false, false)), |service| Value::Service(service);
    // Bytes, cache volumes and git objects have no text form on the command line.
    Vec<u8> => None, |_bytes| Value::None;
    CacheVolume => None, |_volume| Value::None;
    GitRepository => None, |_repository| Value::None;
    GitRef => None, |_git_ref| Value::None;
}

/// A resource of the API as the object a link is called on.
trait ChainReceiver: Sized {
    fn kind() -> Option<Kind>;
    fn from_value(value: Value) -> Result<Self, LinkFailure>;
}

macro_rules! receivers {
    ($($resource:ident => $kind:expr, $variant:pat => $object:expr;)*) => {
        $(
            impl ChainReceiver for $resource {
                fn kind() -> Option<Kind> {
                    $kind
                }
                fn from_value(value: Value) -> Result<Self, LinkFailure> {
                    match value {
                        $variant => Ok($object),
                        _ => Err(mistyped(stringify!($resource))),
                    }
                }
            }
        )*
    };
}

receivers! {
    Container => Some(Kind::Container), Value::Container(container) => container;
    Directory => Some(Kind::Directory), Value::Directory(directory) => directory;
    File => Some(Kind::File), Value::File(file) => file;
    Secret => Some(Kind::Secret), Value::Secret(secret) => secret;
    Service => Some(Kind::Service), Value::Service(service) => service;
}

/// Objects that are not values a function returns to the command line.
macro_rules! not_receivers {
    ($($resource:ident => $what:literal;)*) => {
        $(
            impl ChainReceiver for $resource {
                fn kind() -> Option<Kind> {
                    None
                }
                fn from_value(_value: Value) -> Result<Self, LinkFailure> {
                    Err(mistyped($what))
                }
            }
        )*
    };
}

not_receivers! {
    CacheVolume => "a cache volume";
    GitRepository => "a git repository";
    GitRef => "a git ref";
}

/// The link for one method, or `None` when the command line cannot express it.
fn link<R: ChainReceiver>(method: &str, arguments: &[(&str, Shape)], returns: Option<TypeRef>, run: Run) -> Option<Link> {
    let object = R::kind()?;
    let return_type = returns?;
    let method = method.replace('_', "-");
    let name = RENAMED
        .iter()
        .find(|(renamed_object, _, api_name)| *renamed_object == object && *api_name == method)
        .map_or(method.clone(), |(_, renamed, _)| renamed.to_string());
    let mut flags = Vec::new();
    for (argument, shape) in arguments {
        match shape {
            Shape::Flag(type_ref) => {
                let default_value = DEFAULTS
                    .iter()
                    .find(|(link, flag, _)| *link == method && flag == argument)
                    .map(|(_, _, default)| default.to_string());
                flags.push(Argument {
                    name: argument.replace('_', "-"),
                    description: String::new(),
                    type_ref: *type_ref,
                    default_value,
                })
            }
            Shape::Implicit => {}
            Shape::Unsupported => return None,
        }
    }
    Some(Link {
        object,
        schema: Function {
            name,
            description: String::new(),
            arguments: flags,
            return_type,
        },
        run,
    })
}

/// The typed value of argument `name`, if it was given or defaulted.
fn argument(values: &[(String, Value)], name: &str) -> Option<Value> {
    let name = name.replace('_', "-");
    values.iter().find(|(given, _)| *given == name).map(|(_, value)| value.clone())
}

/// Expands [`foreach_method!`] into [`api_links`].
macro_rules! chain_links {
    ([] $( $resource:ident $host_trait:ident $([$introduced:ident])? { $( since $version:ident { $($method:tt)* } )* } )*) => {
        /// Every method of the API the command line can express, as a link.
        fn api_links() -> Vec<Link> {
            let mut links = Vec::new();
            $( $( chain_methods! { links $resource; $($method)* } )* )*
            links
        }
    };
}

macro_rules! chain_methods {
    ($links:ident $resource:ident;) => {};
    // The command line speaks the latest version: a revision mark changes nothing here.
    ($links:ident $resource:ident; revised $revision:ident $($rest:tt)*) => {
        chain_methods! { $links $resource; $($rest)* }
    };
    ($links:ident $resource:ident; builder $name:ident($($argument:ident: $type:ty),*) -> $object:ident = |$this:ident| $operation:expr; $($rest:tt)*) => {
        $links.extend(link::<$resource>(
            stringify!($name),
            &[$((stringify!($argument), <$type as ChainArgument>::shape())),*],
            <$object as ChainOutput>::type_ref(),
            |_pipeline: Arc<Engine>, this: Value, values: Vec<(String, Value)>| -> LinkFuture {
                Box::pin(async move {
                    let _ = &values;
                    let $this = <$resource as ChainReceiver>::from_value(this)?;
                    $(let $argument = <$type as ChainArgument>::take(argument(&values, stringify!($argument)))?;)*
                    Ok(ChainOutput::into_value($operation))
                })
            },
        ));
        chain_methods! { $links $resource; $($rest)* }
    };
    ($links:ident $resource:ident; terminal $name:ident($($argument:ident: $type:ty),*) -> $output:ty = |$pipeline:ident, $this:ident| $evaluation:expr; $($rest:tt)*) => {
        $links.extend(link::<$resource>(
            stringify!($name),
            &[$((stringify!($argument), <$type as ChainArgument>::shape())),*],
            <$output as ChainOutput>::type_ref(),
            |pipeline: Arc<Engine>, this: Value, values: Vec<(String, Value)>| -> LinkFuture {
                Box::pin(async move {
                    let _ = &values;
                    let $pipeline = pipeline;
                    let $this = <$resource as ChainReceiver>::from_value(this)?;
                    $(let $argument = <$type as ChainArgument>::take(argument(&values, stringify!($argument)))?;)*
                    let result: Result<$output, EngineError> = $evaluation;
                    Ok(ChainOutput::into_value(result.map_err(LinkFailure::Pipeline)?))
                })
            },
        ));
        chain_methods! { $links $resource; $($rest)* }
    };
    ($links:ident $resource:ident; getter $name:ident($($argument:ident: $type:ty),*) -> $output:ty = |$this:ident| $value:expr; $($rest:tt)*) => {
        $links.extend(link::<$resource>(
            stringify!($name),
            &[$((stringify!($argument), <$type as ChainArgument>::shape())),*],
            <$output as ChainOutput>::type_ref(),
            |_pipeline: Arc<Engine>, this: Value, values: Vec<(String, Value)>| -> LinkFuture {
                Box::pin(async move {
                    let _ = &values;
                    let $this = <$resource as ChainReceiver>::from_value(this)?;
                    $(let $argument = <$type as ChainArgument>::take(argument(&values, stringify!($argument)))?;)*
                    Ok(ChainOutput::into_value($value))
                })
            },
        ));
        chain_methods! { $links $resource; $($rest)* }
    };
}

foreach_method!(chain_links);

/// The command line's own links: writing a result to the host, which only the user can
/// ask for (a module never names a host path).
fn cli_links() -> Vec<Link> {
    let path_argument = || Argument {
        name: "path".into(),
        description: "Where on the host to write it (parents are created)".into(),
        type_ref: type_ref(Kind::String, false, false),
        default_value: None,
    };
    let export = |object: Kind, description: &str, run: Run| Link {
        object,
        schema: Function {
            name: "export".into(),
            description: description.into(),
            arguments: vec![path_argument()],
            return_type: type_ref(Kind::String, false, false),
        },
        run,
    };
    vec![
        Link {
            object: Kind::Service,
            schema: Function {
                name: "up".into(),
                description: "Runs this service with its ports forwarded to this machine until Ctrl-C. Each `HOST:SERVICE` of `ports` listens on 127.0.0.1:HOST and forwards to the service's port SERVICE; without `ports`, each exposed TCP port is forwarded to the same port number.".into(),
                arguments: vec![Argument {
                    name: "ports".into(),
                    description: "Ports to forward, HOST:SERVICE (e.g. 8080:80)".into(),
                    type_ref: type_ref(Kind::String, true, false),
                    default_value: Some("[]".into()),
                }],
                return_type: type_ref(Kind::Void, false, false),
            },
            run: |pipeline, this, values| {
                Box::pin(async move {
                    let service = <Service as ChainReceiver>::from_value(this)?;
                    let ports = <Vec<String> as ChainArgument>::take(argument(&values, "ports"))?;
                    super::up::up(pipeline, service, ports).await.map_err(LinkFailure::Pipeline)?;
                    Ok(Value::None)
                })
            },
        },
        export(
            Kind::Container,
            "Writes this container's image archive (`docker load` reads it) to `path` on the host; prints the path.",
            |pipeline, this, values| {
                Box::pin(async move {
                    let container = <Container as ChainReceiver>::from_value(this)?;
                    let path = PathBuf::from(<String as ChainArgument>::take(argument(&values, "path"))?);
                    pipeline.export_file(&container.export(), &path).await.map_err(LinkFailure::Export)?;
                    Ok(Value::String(format!("{}\n", std::path::absolute(&path).unwrap_or(path).display())))
                })
            },
        ),
        export(
            Kind::Directory,
            "Writes this directory into the folder at `path` on the host, merging into what is there; prints the path.",
            |pipeline, this, values| {
                Box::pin(async move {
                    let directory = <Directory as ChainReceiver>::from_value(this)?;
                    let path = PathBuf::from(<String as ChainArgument>::take(argument(&values, "path"))?);
                    pipeline.export_directory(&directory, &path).await.map_err(LinkFailure::Export)?;
                    Ok(Value::String(format!("{}\n", std::path::absolute(&path).unwrap_or(path).display())))
                })
            },
        ),
        export(
            Kind::File,
            "Writes this file to `path` on the host, replacing a file there; prints the path.",
            |pipeline, this, values| {
                Box::pin(async move {
                    let file = <File as ChainReceiver>::from_value(this)?;
                    let path = PathBuf::from(<String as ChainArgument>::take(argument(&values, "path"))?);
                    pipeline.export_file(&file, &path).await.map_err(LinkFailure::Export)?;
                    Ok(Value::String(format!("{}\n", std::path::absolute(&path).unwrap_or(path).display())))
                })
            },
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(kind: Kind) -> Vec<&'static str> {
        links_of(kind).map(|link| link.schema.name.as_str()).collect()
    }

    #[test]
    fn the_api_table_makes_the_links() {
        let container = names(Kind::Container);
        for expected in [
            "with-exec",
            "with-env-variable",
            "file",
            "directory",
            "stdout",
            "stderr",
            "exit-code",
            "sync",
            "terminal",
            "without-mount",
        ] {
            assert!(container.contains(&expected), "{expected} missing from {container:?}");
        }
        // A cache volume has no text form: its method is not a link.
        assert!(!container.contains(&"with-mounted-cache"), "{container:?}");
        let directory = names(Kind::Directory);
        for expected in ["entries", "file", "directory", "export"] {
            assert!(directory.contains(&expected), "{expected} missing from {directory:?}");
        }
        assert!(!directory.contains(&"with-new-file-bytes"), "{directory:?}");
        assert_eq!(find_link(Kind::Directory, "subdirectory").unwrap().schema.name, "directory");
        let file = names(Kind::File);
        for expected in ["contents", "export", "size", "name"] {
            assert!(file.contains(&expected), "{expected} missing from {file:?}");
        }
    }

    #[test]
    fn services_are_made_on_the_command_line_and_run_with_up() {
        let container = names(Kind::Container);
        for expected in ["with-exposed-port", "as-service"] {
            assert!(container.contains(&expected), "{expected} missing from {container:?}");
        }
        // A service has no text form: it cannot be given as an argument.
        assert!(!container.contains(&"with-service-binding"), "{container:?}");
        let service = names(Kind::Service);
        for expected in ["endpoint", "hostname", "start", "stop", "up"] {
            assert!(service.contains(&expected), "{expected} missing from {service:?}");
        }
        let up = find_link(Kind::Service, "up").unwrap();
        assert_eq!(up.schema.arguments[0].name, "ports");
        assert_eq!(up.schema.arguments[0].default_value.as_deref(), Some("[]"));
        let expose = find_link(Kind::Container, "with-exposed-port").unwrap();
        let defaults: Vec<Option<&str>> = expose.schema.arguments.iter().map(|argument| argument.default_value.as_deref()).collect();
        assert_eq!(defaults, [None, Some("\"tcp\""), None]);
        assert_eq!(find_link(Kind::Container, "as-service").unwrap().schema.return_type.kind, Kind::Service);
        assert!(
            find_link(Kind::Service, "hostname")
                .unwrap()
                .schema
                .description
                .starts_with("The name this service has")
        );
    }

    #[test]
    fn links_are_typed_from_the_table() {
        let with_exec = find_link(Kind::Container, "with_exec").unwrap();
        let arguments: Vec<String> = with_exec
            .schema
            .arguments
            .iter()
            .map(|argument| format!("{} {}", argument.name, argument.type_ref))
            .collect();
        assert_eq!(arguments, ["args [String]"], "exec options are implicit");
        assert_eq!(with_exec.schema.return_type.kind, Kind::Container);
        let exit_code = find_link(Kind::Container, "exit-code").unwrap();
        assert_eq!(exit_code.schema.return_type.kind, Kind::Integer);
        // `terminal --cmd` may be left out: the default shell.
        let terminal = find_link(Kind::Container, "terminal").unwrap();
        assert_eq!(terminal.schema.arguments[0].default_value.as_deref(), Some("[]"));
        assert_eq!(terminal.schema.return_type.kind, Kind::Integer);
        let entries = find_link(Kind::Directory, "entries").unwrap();
        assert_eq!(entries.schema.arguments[0].default_value.as_deref(), Some("\".\""));
        // Their help is the WIT's doc comments.
        assert_eq!(
            find_link(Kind::Container, "stdout").unwrap().schema.description,
            "The standard output of the last command."
        );
        assert!(
            find_link(Kind::Directory, "directory")
                .unwrap()
                .schema
                .description
                .starts_with("The subdirectory at `path`.")
        );
    }
}
