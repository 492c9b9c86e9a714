//! The host side of the tanto API, written once against the latest WIT version: the
//! method tables of [`super::surface`] expand here into the host traits (builders make
//! engine objects, terminals evaluate them), and values cross the boundary here. Older
//! versions delegate to these implementations ([`super::since_v0_1`]).

use std::future::Future;
use std::time::Instant;

use wasmtime::component::{Resource, ResourceTable};

use super::accounting::{HostObject, OBJECT_BYTES};
use super::bindings::latest::exports::tanto::core::guest;
use super::bindings::latest::tanto::core::{client, types};
use super::sandbox::{InvocationState, MAX_OBJECTS, SandboxError, process_cpu_time};
use super::surface::{foreach_kind, foreach_method};
use super::values::{Argument, Function, Kind, ModuleSchema, TypeRef, Value};
use crate::engine::{CacheVolume, Container, Directory, EngineError, ExecOptions, Expect, File, GitRef, GitRepository, Secret, Service, Sharing};

/// A failure of the host itself (not of the pipeline): raised as a trap.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HostFault(pub String);

pub(crate) type HostResult<T> = wasmtime::Result<T>;

impl InvocationState {
    /// The one place the host makes an object for the module: `guest_bytes` is what the
    /// module handed over for it (strings, file contents), `parents` the objects it was
    /// derived from; both are charged against the module's memory limit.
    fn push<T: HostObject + Send + 'static>(&mut self, value: T, guest_bytes: usize, parents: &[u32]) -> HostResult<Resource<T>> {
        if self.memory.host.objects() >= MAX_OBJECTS {
            return Err(wasmtime::Error::new(SandboxError::TooManyObjects { limit: MAX_OBJECTS }));
        }
        let bytes = OBJECT_BYTES.saturating_add(guest_bytes).saturating_add(value.copied_bytes());
        let resource = self.table.push(value)?;
        self.memory.charge(resource.rep(), bytes, parents)?;
        Ok(resource)
    }

    /// The module dropped an object: the table forgets it and its bytes are given back.
    fn release<T: Send + 'static>(&mut self, resource: Resource<T>) -> HostResult<()> {
        self.memory.host.release(resource.rep());
        self.table.delete(resource)?;
        Ok(())
    }

    fn get<T: Send + Clone + 'static>(&self, resource: &Resource<T>) -> HostResult<T> {
        Ok(self.table.get(resource)?.clone())
    }

    /// Runs an evaluation: the time it spends waiting (for containers, the daemon) is the
    /// host's, the CPU time it spends is charged to the guest's budget.
    async fn evaluate<T, F>(&mut self, evaluation: impl FnOnce(std::sync::Arc<crate::engine::Engine>) -> F) -> HostResult<Result<T, types::Error>>
    where
        F: Future<Output = Result<T, EngineError>>,
    {
        let started = Instant::now();
        let cpu_started = process_cpu_time();
        let result = evaluation(self.pipeline.clone()).await;
        self.cpu.add_host_call(started.elapsed(), process_cpu_time().saturating_sub(cpu_started));
        Ok(result.map_err(|error| {
            self.remember_error(error.clone());
            error_to_guest(error)
        }))
    }
}

/// An argument of an API method as the latest bindings hand it over: what the engine
/// operation receives for it, how many bytes of the module's it holds (charged to the
/// object a builder makes), and which object it is, if it is a handle (a parent of that
/// object).
pub(crate) trait HostArgument: Sized {
    type Engine;

    fn guest_bytes(&self) -> usize {
        0
    }

    fn parent(&self) -> Option<u32> {
        None
    }

    fn resolve(self, state: &InvocationState) -> HostResult<Self::Engine>;
}

/// Strings, byte strings and lists of strings are taken as they are.
macro_rules! plain_arguments {
    ($($type:ty => |$value:ident| $bytes:expr;)*) => {
        $(
            impl HostArgument for $type {
                type Engine = $type;

                fn guest_bytes(&self) -> usize {
                    let $value = self;
                    $bytes
                }

                fn resolve(self, _state: &InvocationState) -> HostResult<Self> {
                    Ok(self)
                }
            }
        )*
    };
}

plain_arguments! {
    String => |text| text.len();
    Vec<u8> => |bytes| bytes.len();
    Vec<String> => |texts| texts.iter().map(String::len).fold(0, usize::saturating_add);
    Option<u32> => |_number| 0;
    Option<String> => |text| text.as_ref().map_or(0, String::len);
    u32 => |_number| 0;
    bool => |_flag| 0;
}

/// Build arguments, by name (a name given twice keeps its last value, as `docker build`
/// does).
impl HostArgument for Vec<types::BuildArg> {
    type Engine = std::collections::BTreeMap<String, String>;

    fn guest_bytes(&self) -> usize {
        self.iter()
            .map(|argument| argument.name.len().saturating_add(argument.value.len()))
            .fold(0, usize::saturating_add)
    }

    fn resolve(self, _state: &InvocationState) -> HostResult<Self::Engine> {
        Ok(self.into_iter().map(|argument| (argument.name, argument.value)).collect())
    }
}

/// Build secrets, by name: the id a Dockerfile's `RUN --mount=type=secret,id=NAME`
/// asks for (a name given twice keeps its last secret, as build arguments do).
impl HostArgument for Vec<Resource<Secret>> {
    type Engine = std::collections::BTreeMap<String, Secret>;

    fn resolve(self, state: &InvocationState) -> HostResult<Self::Engine> {
        self.into_iter()
            .map(|handle| state.get(&handle).map(|secret| (secret.name().to_string(), secret)))
            .collect()
    }
}

/// A handle is the engine object it stands for, and a parent of what is made from it.
impl<T: Send + Clone + 'static> HostArgument for Resource<T> {
    type Engine = T;

    fn parent(&self) -> Option<u32> {
        Some(self.rep())
    }

    fn resolve(self, state: &InvocationState) -> HostResult<T> {
        state.get(&self)
    }
}

impl HostArgument for types::ExecOptions {
    type Engine = ExecOptions;

    fn guest_bytes(&self) -> usize {
        self.stdin.as_ref().map_or(0, String::len)
    }

    fn resolve(self, _state: &InvocationState) -> HostResult<ExecOptions> {
        Ok(ExecOptions {
            expect: match self.expect {
                types::Expect::Success => Expect::Success,
                types::Expect::Failure => Expect::Failure,
                types::Expect::Any => Expect::Any,
            },
            stdin: self.stdin,
            use_entrypoint: self.use_entrypoint,
        })
    }
}

impl HostArgument for types::NetworkProtocol {
    type Engine = crate::engine::NetworkProtocol;

    fn resolve(self, _state: &InvocationState) -> HostResult<Self::Engine> {
        Ok(match self {
            types::NetworkProtocol::Tcp => crate::engine::NetworkProtocol::Tcp,
            types::NetworkProtocol::Udp => crate::engine::NetworkProtocol::Udp,
        })
    }
}

impl HostArgument for types::Sharing {
    type Engine = Sharing;

    fn resolve(self, _state: &InvocationState) -> HostResult<Sharing> {
        Ok(match self {
            types::Sharing::Shared => Sharing::Shared,
            types::Sharing::Private => Sharing::Private,
            types::Sharing::Locked => Sharing::Locked,
        })
    }
}

/// An exit code as WIT's `s32` holds it.
pub(super) fn saturating_i32(code: i64) -> i32 {
    i32::try_from(code).unwrap_or(i32::MAX)
}

/// A file's contents as text, or why they are not.
pub(super) fn utf8_text(file: &File, contents: Result<Vec<u8>, EngineError>) -> Result<String, EngineError> {
    String::from_utf8(contents?).map_err(|_| EngineError::InvalidArgument(format!("{} is not UTF-8 text (read it with contents-bytes)", file.name())))
}

/// Expands the method table into the latest version's host traits: one method per line,
/// each charging what it makes (builders) or the CPU it spends (terminals).
macro_rules! implement_latest {
    ([] $( $resource:ident $host_trait:ident $([$introduced:ident])? { $( since $version:ident { $($method:tt)* } )* } )*) => {
        $(
            impl types::$host_trait for InvocationState {
                $( implement_methods! { $resource; $($method)* } )*

                async fn drop(&mut self, this: Resource<$resource>) -> HostResult<()> {
                    self.release(this)
                }
            }
        )*
    };
}

macro_rules! implement_methods {
    ($resource:ident;) => {};
    // The latest version has every revision.
    ($resource:ident; revised $revision:ident $($rest:tt)*) => {
        implement_methods! { $resource; $($rest)* }
    };
    ($resource:ident; builder $name:ident($($argument:ident: $type:ty),*) -> $object:ident = |$this:ident| $operation:expr; $($rest:tt)*) => {
        async fn $name(&mut self, this: Resource<$resource>, $($argument: $type),*) -> HostResult<Resource<$object>> {
            let guest_bytes = 0usize $(.saturating_add(HostArgument::guest_bytes(&$argument)))*;
            let parents: Vec<u32> = [Some(this.rep()) $(, HostArgument::parent(&$argument))*].into_iter().flatten().collect();
            $(let $argument = HostArgument::resolve($argument, self)?;)*
            let $this = self.get(&this)?;
            let object = $operation;
            self.push(object, guest_bytes, &parents)
        }
        implement_methods! { $resource; $($rest)* }
    };
    ($resource:ident; terminal $name:ident($($argument:ident: $type:ty),*) -> $output:ty = |$pipeline:ident, $this:ident| $evaluation:expr; $($rest:tt)*) => {
        async fn $name(&mut self, this: Resource<$resource>, $($argument: $type),*) -> HostResult<Result<$output, types::Error>> {
            $(let $argument = HostArgument::resolve($argument, self)?;)*
            let $this = self.get(&this)?;
            self.evaluate(|$pipeline| async move { $evaluation }).await
        }
        implement_methods! { $resource; $($rest)* }
    };
    ($resource:ident; getter $name:ident($($argument:ident: $type:ty),*) -> $output:ty = |$this:ident| $value:expr; $($rest:tt)*) => {
        async fn $name(&mut self, this: Resource<$resource>, $($argument: $type),*) -> HostResult<$output> {
            $(let $argument = HostArgument::resolve($argument, self)?;)*
            let $this = self.get(&this)?;
            Ok($value)
        }
        implement_methods! { $resource; $($rest)* }
    };
}

foreach_method!(implement_latest);

impl types::Host for InvocationState {}

impl client::Host for InvocationState {
    async fn container(&mut self) -> HostResult<Resource<Container>> {
        self.push(Container::scratch(), 0, &[])
    }

    async fn directory(&mut self) -> HostResult<Resource<Directory>> {
        self.push(Directory::empty(), 0, &[])
    }

    async fn cache_volume(&mut self, key: String) -> HostResult<Resource<CacheVolume>> {
        self.push(CacheVolume::new(&key), key.len(), &[])
    }

    async fn git(&mut self, url: String) -> HostResult<Resource<GitRepository>> {
        self.push(GitRepository::new(&url), url.len(), &[])
    }

    async fn http(&mut self, url: String) -> HostResult<Resource<File>> {
        self.push(File::http(&url), url.len(), &[])
    }

    async fn set_secret(&mut self, name: String, plaintext: String) -> HostResult<Resource<Secret>> {
        let bytes = name.len().saturating_add(plaintext.len());
        self.push(Secret::new(&name, plaintext), bytes, &[])
    }

    async fn call(&mut self, module: String, function: String, arguments: Vec<(String, types::Value)>) -> HostResult<Result<types::Value, types::Error>> {
        self.call_dependency(module, Vec::new(), function, arguments).await
    }

    async fn call_constructed(
        &mut self,
        module: String,
        constructor_arguments: Vec<(String, types::Value)>,
        function: String,
        arguments: Vec<(String, types::Value)>,
    ) -> HostResult<Result<types::Value, types::Error>> {
        self.call_dependency(module, constructor_arguments, function, arguments).await
    }

    async fn sync_all(&mut self, containers: Vec<Resource<Container>>) -> HostResult<Result<(), types::Error>> {
        let containers = containers.iter().map(|container| self.get(container)).collect::<HostResult<Vec<_>>>()?;
        self.evaluate(|pipeline| async move { pipeline.sync_all(&containers).await }).await
    }
}

impl InvocationState {
    /// `call` and `call-constructed`: runs `function` of the dependency `module` in a
    /// sandbox of its own, its object made from `constructor_arguments` (which the
    /// dependency's SDK checks against its constructor, as it checks `arguments`).
    async fn call_dependency(
        &mut self,
        module: String,
        constructor_arguments: Vec<(String, types::Value)>,
        function: String,
        arguments: Vec<(String, types::Value)>,
    ) -> HostResult<Result<types::Value, types::Error>> {
        let mut host_constructor_arguments = Vec::with_capacity(constructor_arguments.len());
        for (name, value) in constructor_arguments {
            host_constructor_arguments.push((name, value_from_guest(&mut self.table, value)?));
        }
        let mut host_arguments = Vec::with_capacity(arguments.len());
        for (name, value) in arguments {
            host_arguments.push((name, value_from_guest(&mut self.table, value)?));
        }
        let started = Instant::now();
        let runtime = self.runtime.clone();
        let shown = self.pipeline.reporter().start_call(format!("{module}.{function}"), self.depth + 1);
        let result = async {
            let callable = self.dependencies.load(&runtime, &module).await?;
            // A dependency is held to its schema as a module called from the CLI is.
            runtime.describe(&callable, self.pipeline.clone()).await?;
            runtime
                .invoke_at(
                    &callable,
                    self.pipeline.clone(),
                    host_constructor_arguments,
                    &function,
                    host_arguments,
                    self.depth + 1,
                )
                .await
        }
        .await;
        shown.finish(result.is_ok());
        // The callee's time is the host's, as far as this module's budget goes.
        self.cpu.add_host_time(started.elapsed());
        match result {
            Ok(value) => Ok(Ok(value_to_guest(&mut self.table, value)?)),
            Err(super::RuntimeError::Pipeline(error)) => {
                self.remember_error(error.clone());
                Ok(Err(error_to_guest(error)))
            }
            Err(error @ super::RuntimeError::UnknownDependency { .. }) => Ok(Err(types::Error::NotFound(error.to_string()))),
            // The callee trapped or could not be loaded: the caller gets a readable error
            // it can handle, and keeps running.
            Err(error) => {
                let mut message = format!("module `{module}` failed: {error}");
                if let Some(log) = error.guest_log() {
                    message.push_str(&format!("\n{}", log.trim_end()));
                }
                Ok(Err(types::Error::Failed(message)))
            }
        }
    }
}

/// Converts an engine error into the WIT `error` a guest can match on.
pub(crate) fn error_to_guest(error: EngineError) -> types::Error {
    match error {
        EngineError::ExecFailed(failure) => types::Error::ExecFailed(types::ExecFailure {
            command: failure.command.clone(),
            exit_code: saturating_i32(failure.exit_code),
            stdout_tail: failure.stdout_tail.clone(),
            stderr_tail: failure.stderr_tail.clone(),
        }),
        EngineError::NotFound(message) => types::Error::NotFound(message),
        // The WIT of 0.1 has no variant for it: a guest sees what it saw before the host
        // typed it, a `not-found` with the same message.
        error @ EngineError::ImageUnavailable { .. } => types::Error::NotFound(error.to_string()),
        EngineError::InvalidArgument(message) => types::Error::InvalidArgument(message),
        EngineError::Backend(error) => types::Error::Backend(error.to_string()),
        EngineError::Local(message) => types::Error::Backend(message),
        EngineError::Cancelled(message) => types::Error::Cancelled(message),
        EngineError::Failed(message) => types::Error::Failed(message),
    }
}

/// Whether two WIT errors are the same value (the bindings derive no equality).
pub(crate) fn same_error(left: &types::Error, right: &types::Error) -> bool {
    use types::Error as E;
    match (left, right) {
        (E::ExecFailed(left), E::ExecFailed(right)) => {
            left.command == right.command && left.exit_code == right.exit_code && left.stdout_tail == right.stdout_tail && left.stderr_tail == right.stderr_tail
        }
        (E::NotFound(left), E::NotFound(right))
        | (E::InvalidArgument(left), E::InvalidArgument(right))
        | (E::Backend(left), E::Backend(right))
        | (E::Cancelled(left), E::Cancelled(right))
        | (E::Failed(left), E::Failed(right)) => left == right,
        _ => false,
    }
}

/// Converts a guest's WIT `error` back into an engine error.
pub(crate) fn error_from_guest(error: types::Error) -> EngineError {
    match error {
        types::Error::ExecFailed(failure) => EngineError::ExecFailed(std::sync::Arc::new(crate::engine::ExecFailure {
            command: failure.command,
            exit_code: i64::from(failure.exit_code),
            stdout_tail: failure.stdout_tail,
            stderr_tail: failure.stderr_tail,
        })),
        types::Error::NotFound(message) => EngineError::NotFound(message),
        types::Error::InvalidArgument(message) => EngineError::InvalidArgument(message),
        types::Error::Backend(message) => EngineError::Local(message),
        types::Error::Cancelled(message) => EngineError::Cancelled(message),
        types::Error::Failed(message) => EngineError::Failed(message),
    }
}

// ---- values and schemas ---------------------------------------------------------------

/// Expands the kind table into the conversions between host values and the latest
/// version's WIT values. Objects from the host enter the module's table as they are
/// (the caller's, not charged to the module); objects from the module leave it.
macro_rules! convert_host_values {
    ([] scalars { $($scalar:ident($payload:ty)),* } objects { $( since $version:ident { $($object:ident),* } )* }) => {
        fn kind_from_guest(kind: types::TypeKind) -> Kind {
            match kind {
                types::TypeKind::Void => Kind::Void,
                $(types::TypeKind::$scalar => Kind::$scalar,)*
                $($(types::TypeKind::$object => Kind::$object,)*)*
            }
        }

        fn item_to_guest(table: &mut ResourceTable, value: Value) -> wasmtime::Result<types::Item> {
            Ok(match value {
                $(Value::$scalar(value) => types::Item::$scalar(value),)*
                $($(Value::$object(object) => types::Item::$object(table.push(object)?),)*)*
                Value::None | Value::List(_) => {
                    wasmtime::bail!("lists cannot hold absent values or other lists")
                }
            })
        }

        pub(crate) fn value_to_guest(table: &mut ResourceTable, value: Value) -> wasmtime::Result<types::Value> {
            Ok(match value {
                Value::None => types::Value::None,
                $(Value::$scalar(value) => types::Value::$scalar(value),)*
                $($(Value::$object(object) => types::Value::$object(table.push(object)?),)*)*
                Value::List(items) => types::Value::List(items.into_iter().map(|item| item_to_guest(table, item)).collect::<wasmtime::Result<_>>()?),
            })
        }

        fn item_from_guest(table: &mut ResourceTable, item: types::Item) -> wasmtime::Result<Value> {
            Ok(match item {
                $(types::Item::$scalar(value) => Value::$scalar(value),)*
                $($(types::Item::$object(handle) => Value::$object(table.delete(handle)?),)*)*
            })
        }

        pub(crate) fn value_from_guest(table: &mut ResourceTable, value: types::Value) -> wasmtime::Result<Value> {
            Ok(match value {
                types::Value::None => Value::None,
                $(types::Value::$scalar(value) => Value::$scalar(value),)*
                $($(types::Value::$object(handle) => Value::$object(table.delete(handle)?),)*)*
                types::Value::List(items) => Value::List(items.into_iter().map(|item| item_from_guest(table, item)).collect::<wasmtime::Result<_>>()?),
            })
        }
    };
}

foreach_kind!(convert_host_values);

fn type_from_guest(type_ref: types::TypeRef) -> TypeRef {
    TypeRef {
        kind: kind_from_guest(type_ref.kind),
        is_list: type_ref.is_list,
        optional: type_ref.optional,
    }
}

fn argument_from_guest(argument: guest::Argument) -> Argument {
    Argument {
        name: argument.name,
        description: argument.description,
        type_ref: type_from_guest(argument.type_),
        default_value: argument.default_value,
    }
}

pub(crate) fn schema_from_guest(schema: guest::ModuleSchema) -> ModuleSchema {
    ModuleSchema {
        constructor: schema.constructor.into_iter().map(argument_from_guest).collect(),
        name: schema.name,
        description: schema.description,
        functions: schema
            .functions
            .into_iter()
            .map(|function| Function {
                name: function.name,
                description: function.description,
                arguments: function.arguments.into_iter().map(argument_from_guest).collect(),
                return_type: type_from_guest(function.return_type),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_sees_an_unavailable_image_as_not_found_with_its_message() {
        let error = EngineError::ImageUnavailable {
            image: "registry.example/none:1".into(),
            reason: "pull access denied".into(),
        };
        let message = error.to_string();
        match error_to_guest(error.clone()) {
            types::Error::NotFound(seen) => assert_eq!(seen, message),
            other => panic!("expected not-found, got {other:?}"),
        }
        // What the guest passes back on is recognised as the same error, so the host
        // recovers the typed one (and its hint) when the module fails with it.
        assert!(same_error(&error_to_guest(error.clone()), &types::Error::NotFound(message)));
    }
}
