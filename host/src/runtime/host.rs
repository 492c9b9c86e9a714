//! The host side of the tanto API: each WIT method maps onto an engine object method
//! (builders) or an engine evaluation (terminals), and values cross the boundary here.

use std::future::Future;
use std::time::Instant;

use wasmtime::component::{Resource, ResourceTable};

use super::accounting::{HostObject, OBJECT_BYTES};
use super::bindings::exports::tanto::core::guest;
use super::bindings::tanto::core::{client, types};
use super::sandbox::{InvocationState, MAX_OBJECTS, SandboxError, process_cpu_time};
use super::values::{Argument, Function, Kind, ModuleSchema, TypeRef, Value};
use crate::engine::{CacheVolume, Container, Directory, EngineError, ExecOptions, Expect, File, Sharing};

/// A failure of the host itself (not of the pipeline): raised as a trap.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HostFault(pub String);

type HostResult<T> = wasmtime::Result<T>;

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

/// Converts an engine error into the WIT `error` a guest can match on.
pub(crate) fn error_to_guest(error: EngineError) -> types::Error {
    match error {
        EngineError::ExecFailed(failure) => types::Error::ExecFailed(types::ExecFailure {
            command: failure.command.clone(),
            exit_code: i32::try_from(failure.exit_code).unwrap_or(i32::MAX),
            stdout_tail: failure.stdout_tail.clone(),
            stderr_tail: failure.stderr_tail.clone(),
        }),
        EngineError::NotFound(message) => types::Error::NotFound(message),
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

/// The bytes of a list of strings the module handed over.
fn strings(items: &[String]) -> usize {
    items.iter().map(String::len).sum()
}

fn exec_options(options: types::ExecOptions) -> ExecOptions {
    ExecOptions {
        expect: match options.expect {
            types::Expect::Success => Expect::Success,
            types::Expect::Failure => Expect::Failure,
            types::Expect::Any => Expect::Any,
        },
        stdin: options.stdin,
        use_entrypoint: options.use_entrypoint,
    }
}

impl types::Host for InvocationState {}

impl types::HostCacheVolume for InvocationState {
    async fn key(&mut self, this: Resource<CacheVolume>) -> HostResult<String> {
        Ok(self.get(&this)?.key().to_string())
    }

    async fn drop(&mut self, this: Resource<CacheVolume>) -> HostResult<()> {
        self.release(this)
    }
}

fn sharing(sharing: types::Sharing) -> Sharing {
    match sharing {
        types::Sharing::Shared => Sharing::Shared,
        types::Sharing::Private => Sharing::Private,
        types::Sharing::Locked => Sharing::Locked,
    }
}

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

    async fn call(&mut self, module: String, function: String, arguments: Vec<(String, types::Value)>) -> HostResult<Result<types::Value, types::Error>> {
        let mut host_arguments = Vec::with_capacity(arguments.len());
        for (name, value) in arguments {
            host_arguments.push((name, value_from_guest(&mut self.table, value)?));
        }
        let started = Instant::now();
        let runtime = self.runtime.clone();
        let result = async {
            let callable = self.dependencies.load(&runtime, &module).await?;
            // A dependency is held to its schema as a module called from the CLI is.
            runtime.describe(&callable, self.pipeline.clone()).await?;
            runtime
                .invoke_at(&callable, self.pipeline.clone(), &function, host_arguments, self.depth + 1)
                .await
        }
        .await;
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

    async fn sync_all(&mut self, containers: Vec<Resource<Container>>) -> HostResult<Result<(), types::Error>> {
        let containers = containers.iter().map(|container| self.get(container)).collect::<HostResult<Vec<_>>>()?;
        self.evaluate(|pipeline| async move { pipeline.sync_all(&containers).await }).await
    }
}

impl types::HostContainer for InvocationState {
    async fn from(&mut self, this: Resource<Container>, address: String) -> HostResult<Resource<Container>> {
        let container = self.get(&this)?.from(&address);
        self.push(container, address.len(), &[this.rep()])
    }

    async fn with_exec(&mut self, this: Resource<Container>, args: Vec<String>, options: types::ExecOptions) -> HostResult<Resource<Container>> {
        let stdin = options.stdin.as_ref().map_or(0, String::len);
        let guest_bytes = strings(&args) + stdin;
        let container = self.get(&this)?.with_exec(args, exec_options(options));
        self.push(container, guest_bytes, &[this.rep()])
    }

    async fn with_env_variable(&mut self, this: Resource<Container>, name: String, value: String) -> HostResult<Resource<Container>> {
        let container = self.get(&this)?.with_env_variable(&name, &value);
        self.push(container, name.len() + value.len(), &[this.rep()])
    }

    async fn without_env_variable(&mut self, this: Resource<Container>, name: String) -> HostResult<Resource<Container>> {
        let container = self.get(&this)?.without_env_variable(&name);
        self.push(container, name.len(), &[this.rep()])
    }

    async fn with_workdir(&mut self, this: Resource<Container>, path: String) -> HostResult<Resource<Container>> {
        let container = self.get(&this)?.with_workdir(&path);
        self.push(container, path.len(), &[this.rep()])
    }

    async fn with_user(&mut self, this: Resource<Container>, name: String) -> HostResult<Resource<Container>> {
        let container = self.get(&this)?.with_user(&name);
        self.push(container, name.len(), &[this.rep()])
    }

    async fn with_entrypoint(&mut self, this: Resource<Container>, args: Vec<String>) -> HostResult<Resource<Container>> {
        let guest_bytes = strings(&args);
        let container = self.get(&this)?.with_entrypoint(args);
        self.push(container, guest_bytes, &[this.rep()])
    }

    async fn with_default_args(&mut self, this: Resource<Container>, args: Vec<String>) -> HostResult<Resource<Container>> {
        let guest_bytes = strings(&args);
        let container = self.get(&this)?.with_default_args(args);
        self.push(container, guest_bytes, &[this.rep()])
    }

    async fn with_label(&mut self, this: Resource<Container>, name: String, value: String) -> HostResult<Resource<Container>> {
        let container = self.get(&this)?.with_label(&name, &value);
        self.push(container, name.len() + value.len(), &[this.rep()])
    }

    async fn with_directory(
        &mut self,
        this: Resource<Container>,
        path: String,
        source: Resource<Directory>,
        include: Vec<String>,
        exclude: Vec<String>,
    ) -> HostResult<Resource<Container>> {
        let guest_bytes = path.len() + strings(&include) + strings(&exclude);
        let source_rep = source.rep();
        let source = self.get(&source)?;
        let container = self.get(&this)?.with_directory(&path, &source, include, exclude);
        self.push(container, guest_bytes, &[this.rep(), source_rep])
    }

    async fn with_file(
        &mut self,
        this: Resource<Container>,
        path: String,
        source: Resource<File>,
        permissions: Option<u32>,
    ) -> HostResult<Resource<Container>> {
        let source_rep = source.rep();
        let source = self.get(&source)?;
        let container = self.get(&this)?.with_file(&path, &source, permissions);
        self.push(container, path.len(), &[this.rep(), source_rep])
    }

    async fn with_new_file(&mut self, this: Resource<Container>, path: String, contents: String, permissions: Option<u32>) -> HostResult<Resource<Container>> {
        let container = self.get(&this)?.with_new_file(&path, &contents, permissions);
        self.push(container, path.len() + contents.len(), &[this.rep()])
    }

    async fn with_mounted_directory(&mut self, this: Resource<Container>, path: String, source: Resource<Directory>) -> HostResult<Resource<Container>> {
        let source_rep = source.rep();
        let source = self.get(&source)?;
        let container = self.get(&this)?.with_mounted_directory(&path, &source);
        self.push(container, path.len(), &[this.rep(), source_rep])
    }

    async fn with_mounted_cache(
        &mut self,
        this: Resource<Container>,
        path: String,
        cache: Resource<CacheVolume>,
        mode: types::Sharing,
    ) -> HostResult<Resource<Container>> {
        let cache_rep = cache.rep();
        let volume = self.get(&cache)?;
        let container = self.get(&this)?.with_mounted_cache(&path, &volume, sharing(mode));
        self.push(container, path.len(), &[this.rep(), cache_rep])
    }

    async fn with_mounted_temp(&mut self, this: Resource<Container>, path: String) -> HostResult<Resource<Container>> {
        let container = self.get(&this)?.with_mounted_temp(&path);
        self.push(container, path.len(), &[this.rep()])
    }

    async fn file(&mut self, this: Resource<Container>, path: String) -> HostResult<Resource<File>> {
        let file = self.get(&this)?.file(&path);
        self.push(file, path.len(), &[this.rep()])
    }

    async fn directory(&mut self, this: Resource<Container>, path: String) -> HostResult<Resource<Directory>> {
        let directory = self.get(&this)?.directory(&path);
        self.push(directory, path.len(), &[this.rep()])
    }

    async fn stdout(&mut self, this: Resource<Container>) -> HostResult<Result<String, types::Error>> {
        let container = self.get(&this)?;
        self.evaluate(|pipeline| async move { pipeline.stdout(&container).await }).await
    }

    async fn stderr(&mut self, this: Resource<Container>) -> HostResult<Result<String, types::Error>> {
        let container = self.get(&this)?;
        self.evaluate(|pipeline| async move { pipeline.stderr(&container).await }).await
    }

    async fn exit_code(&mut self, this: Resource<Container>) -> HostResult<Result<i32, types::Error>> {
        let container = self.get(&this)?;
        self.evaluate(|pipeline| async move { pipeline.exit_code(&container).await.map(|code| i32::try_from(code).unwrap_or(i32::MAX)) })
            .await
    }

    async fn sync(&mut self, this: Resource<Container>) -> HostResult<Result<(), types::Error>> {
        let container = self.get(&this)?;
        self.evaluate(|pipeline| async move { pipeline.sync(&container).await }).await
    }

    async fn drop(&mut self, this: Resource<Container>) -> HostResult<()> {
        self.release(this)
    }
}

impl types::HostDirectory for InvocationState {
    async fn entries(&mut self, this: Resource<Directory>, path: String) -> HostResult<Result<Vec<String>, types::Error>> {
        let directory = self.get(&this)?;
        self.evaluate(|pipeline| async move { pipeline.entries(&directory, &path).await }).await
    }

    async fn file(&mut self, this: Resource<Directory>, path: String) -> HostResult<Resource<File>> {
        let file = self.get(&this)?.file(&path);
        self.push(file, path.len(), &[this.rep()])
    }

    async fn subdirectory(&mut self, this: Resource<Directory>, path: String) -> HostResult<Resource<Directory>> {
        let directory = self.get(&this)?.directory(&path);
        self.push(directory, path.len(), &[this.rep()])
    }

    async fn with_new_file(&mut self, this: Resource<Directory>, path: String, contents: String, permissions: Option<u32>) -> HostResult<Resource<Directory>> {
        let directory = self.get(&this)?.with_new_file(&path, &contents, permissions);
        self.push(directory, path.len() + contents.len(), &[this.rep()])
    }

    async fn with_file(
        &mut self,
        this: Resource<Directory>,
        path: String,
        source: Resource<File>,
        permissions: Option<u32>,
    ) -> HostResult<Resource<Directory>> {
        let source_rep = source.rep();
        let source = self.get(&source)?;
        let directory = self.get(&this)?.with_file(&path, &source, permissions);
        self.push(directory, path.len(), &[this.rep(), source_rep])
    }

    async fn with_directory(
        &mut self,
        this: Resource<Directory>,
        path: String,
        source: Resource<Directory>,
        include: Vec<String>,
        exclude: Vec<String>,
    ) -> HostResult<Resource<Directory>> {
        let guest_bytes = path.len() + strings(&include) + strings(&exclude);
        let source_rep = source.rep();
        let source = self.get(&source)?;
        let directory = self.get(&this)?.with_directory(&path, &source, include, exclude);
        self.push(directory, guest_bytes, &[this.rep(), source_rep])
    }

    async fn without_file(&mut self, this: Resource<Directory>, path: String) -> HostResult<Resource<Directory>> {
        let directory = self.get(&this)?.without_file(&path);
        self.push(directory, path.len(), &[this.rep()])
    }

    async fn digest(&mut self, this: Resource<Directory>) -> HostResult<Result<String, types::Error>> {
        let directory = self.get(&this)?;
        self.evaluate(|pipeline| async move { pipeline.directory_digest(&directory).await.map(|digest| digest.to_string()) })
            .await
    }

    async fn drop(&mut self, this: Resource<Directory>) -> HostResult<()> {
        self.release(this)
    }
}

impl types::HostFile for InvocationState {
    async fn contents(&mut self, this: Resource<File>) -> HostResult<Result<String, types::Error>> {
        let file = self.get(&this)?;
        self.evaluate(|pipeline| async move {
            let bytes = pipeline.contents(&file).await?;
            String::from_utf8(bytes).map_err(|_| EngineError::InvalidArgument(format!("{} is not UTF-8 text", file.name())))
        })
        .await
    }

    async fn size(&mut self, this: Resource<File>) -> HostResult<Result<u64, types::Error>> {
        let file = self.get(&this)?;
        self.evaluate(|pipeline| async move { pipeline.size(&file).await }).await
    }

    async fn name(&mut self, this: Resource<File>) -> HostResult<String> {
        Ok(self.get(&this)?.name())
    }

    async fn digest(&mut self, this: Resource<File>) -> HostResult<Result<String, types::Error>> {
        let file = self.get(&this)?;
        self.evaluate(|pipeline| async move { pipeline.file_digest(&file).await.map(|digest| digest.to_string()) })
            .await
    }

    async fn drop(&mut self, this: Resource<File>) -> HostResult<()> {
        self.release(this)
    }
}

// ---- values and schemas ---------------------------------------------------------------

fn kind_from_guest(kind: types::TypeKind) -> Kind {
    match kind {
        types::TypeKind::Void => Kind::Void,
        types::TypeKind::String => Kind::String,
        types::TypeKind::Boolean => Kind::Boolean,
        types::TypeKind::Integer => Kind::Integer,
        types::TypeKind::Float => Kind::Float,
        types::TypeKind::Container => Kind::Container,
        types::TypeKind::Directory => Kind::Directory,
        types::TypeKind::File => Kind::File,
    }
}

fn type_from_guest(type_ref: types::TypeRef) -> TypeRef {
    TypeRef {
        kind: kind_from_guest(type_ref.kind),
        is_list: type_ref.is_list,
        optional: type_ref.optional,
    }
}

pub(crate) fn schema_from_guest(schema: guest::ModuleSchema) -> ModuleSchema {
    ModuleSchema {
        name: schema.name,
        description: schema.description,
        functions: schema
            .functions
            .into_iter()
            .map(|function| Function {
                name: function.name,
                description: function.description,
                arguments: function
                    .arguments
                    .into_iter()
                    .map(|argument| Argument {
                        name: argument.name,
                        description: argument.description,
                        type_ref: type_from_guest(argument.type_),
                        default_value: argument.default_value,
                    })
                    .collect(),
                return_type: type_from_guest(function.return_type),
            })
            .collect(),
    }
}

fn item_to_guest(table: &mut ResourceTable, value: Value) -> wasmtime::Result<types::Item> {
    Ok(match value {
        Value::String(value) => types::Item::String(value),
        Value::Boolean(value) => types::Item::Boolean(value),
        Value::Integer(value) => types::Item::Integer(value),
        Value::Float(value) => types::Item::Float(value),
        Value::Container(container) => types::Item::Container(table.push(container)?),
        Value::Directory(directory) => types::Item::Directory(table.push(directory)?),
        Value::File(file) => types::Item::File(table.push(file)?),
        Value::None | Value::List(_) => {
            wasmtime::bail!("lists cannot hold absent values or other lists")
        }
    })
}

pub(crate) fn value_to_guest(table: &mut ResourceTable, value: Value) -> wasmtime::Result<types::Value> {
    Ok(match value {
        Value::None => types::Value::None,
        Value::String(value) => types::Value::String(value),
        Value::Boolean(value) => types::Value::Boolean(value),
        Value::Integer(value) => types::Value::Integer(value),
        Value::Float(value) => types::Value::Float(value),
        Value::Container(container) => types::Value::Container(table.push(container)?),
        Value::Directory(directory) => types::Value::Directory(table.push(directory)?),
        Value::File(file) => types::Value::File(table.push(file)?),
        Value::List(items) => types::Value::List(items.into_iter().map(|item| item_to_guest(table, item)).collect::<wasmtime::Result<_>>()?),
    })
}

fn item_from_guest(table: &mut ResourceTable, item: types::Item) -> wasmtime::Result<Value> {
    Ok(match item {
        types::Item::String(value) => Value::String(value),
        types::Item::Boolean(value) => Value::Boolean(value),
        types::Item::Integer(value) => Value::Integer(value),
        types::Item::Float(value) => Value::Float(value),
        types::Item::Container(resource) => Value::Container(table.delete(resource)?),
        types::Item::Directory(resource) => Value::Directory(table.delete(resource)?),
        types::Item::File(resource) => Value::File(table.delete(resource)?),
    })
}

pub(crate) fn value_from_guest(table: &mut ResourceTable, value: types::Value) -> wasmtime::Result<Value> {
    Ok(match value {
        types::Value::None => Value::None,
        types::Value::String(value) => Value::String(value),
        types::Value::Boolean(value) => Value::Boolean(value),
        types::Value::Integer(value) => Value::Integer(value),
        types::Value::Float(value) => Value::Float(value),
        types::Value::Container(resource) => Value::Container(table.delete(resource)?),
        types::Value::Directory(resource) => Value::Directory(table.delete(resource)?),
        types::Value::File(resource) => Value::File(table.delete(resource)?),
        types::Value::List(items) => Value::List(items.into_iter().map(|item| item_from_guest(table, item)).collect::<wasmtime::Result<_>>()?),
    })
}
