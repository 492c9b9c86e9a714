//! `tanto:core@0.1.0`, served by delegating to the latest version: every method of 0.1.0
//! calls the latest host implementation, with its records and variants converted.
//!
//! Nothing here is written per method: the method table and the kind table of
//! [`super::surface`] expand into the delegating host traits and the value conversions.
//! What 0.1.0 lacks (the `since v0_2` groups) is left out by [`v0_1_has`], which also
//! writes the methods 0.2 revised with their 0.1 signatures.

use wasmtime::component::Resource;

use super::bindings::latest;
use super::bindings::v0_1;
use super::bindings::v0_1::tanto::core::{client, types};
use super::host::HostResult;
use super::sandbox::InvocationState;
use super::surface::{convert_kinds, convert_same, delegate_to_latest, foreach_kind, foreach_method};
use crate::engine::{CacheVolume, Container, Directory, File};

/// Keeps the methods of the `since` groups 0.1.0 has, and adds the methods whose
/// signature 0.2 revised (`revised v0_2` in the table) with 0.1's signature: no `owner`,
/// so what they copy is owned by root, as it was in 0.1.
macro_rules! v0_1_has {
    (v0_1 => $($methods:tt)*) => {
        $($methods)*
    };
    (by_hand Container) => {
        async fn with_directory(&mut self, this: Resource<Container>, path: String, source: Resource<Directory>, include: Vec<String>, exclude: Vec<String>) -> HostResult<Resource<Container>> {
            latest::tanto::core::types::HostContainer::with_directory(self, this, path, source, include, exclude, None).await
        }

        async fn with_file(&mut self, this: Resource<Container>, path: String, source: Resource<File>, permissions: Option<u32>) -> HostResult<Resource<Container>> {
            latest::tanto::core::types::HostContainer::with_file(self, this, path, source, permissions, None).await
        }

        async fn with_new_file(&mut self, this: Resource<Container>, path: String, contents: String, permissions: Option<u32>) -> HostResult<Resource<Container>> {
            latest::tanto::core::types::HostContainer::with_new_file(self, this, path, contents, permissions, None).await
        }
    };
    (by_hand $resource:ident) => {};
    ($newer:ident => $($methods:tt)*) => {};
}

foreach_method!(delegate_to_latest v0_1_has);

impl types::Host for InvocationState {}

// Unchanged types convert to themselves.
#[allow(clippy::useless_conversion)]
impl client::Host for InvocationState {
    async fn container(&mut self) -> HostResult<Resource<Container>> {
        latest::tanto::core::client::Host::container(self).await
    }

    async fn directory(&mut self) -> HostResult<Resource<Directory>> {
        latest::tanto::core::client::Host::directory(self).await
    }

    async fn cache_volume(&mut self, key: String) -> HostResult<Resource<CacheVolume>> {
        latest::tanto::core::client::Host::cache_volume(self, key).await
    }

    async fn sync_all(&mut self, containers: Vec<Resource<Container>>) -> HostResult<Result<(), types::Error>> {
        Ok(latest::tanto::core::client::Host::sync_all(self, containers).await?.map_err(Into::into))
    }

    async fn call(&mut self, module: String, function: String, arguments: Vec<(String, types::Value)>) -> HostResult<Result<types::Value, types::Error>> {
        let arguments = arguments.into_iter().map(|(name, value)| (name, value.into())).collect();
        Ok(
            match latest::tanto::core::client::Host::call(self, module.clone(), function.clone(), arguments).await? {
                Ok(value) => match value.try_into() {
                    Ok(value) => Ok(value),
                    Err(unavailable) => Err(types::Error::Failed(format!("module `{module}`, function `{function}`: {unavailable}"))),
                },
                Err(error) => Err(error.into()),
            },
        )
    }
}

foreach_kind!(convert_kinds v0_1 => latest);

convert_same! { v0_1 => latest;
    enum tanto::core::types::Expect { Success, Failure, Any }
    enum tanto::core::types::Sharing { Shared, Private, Locked }
    record tanto::core::types::ExecOptions { expect, stdin, use_entrypoint }
    record tanto::core::types::ExecFailure { command, exit_code, stdout_tail, stderr_tail }
    variant tanto::core::types::Error { ExecFailed, NotFound, InvalidArgument, Backend, Cancelled, Failed }
    up record tanto::core::types::TypeRef { kind, is_list, optional }
    up record exports::tanto::core::guest::Argument { name, description, type_, default_value }
    up record exports::tanto::core::guest::Function { name, description, arguments [list], return_type }
}

/// A 0.1 schema has no constructor.
impl From<v0_1::exports::tanto::core::guest::ModuleSchema> for latest::exports::tanto::core::guest::ModuleSchema {
    fn from(schema: v0_1::exports::tanto::core::guest::ModuleSchema) -> Self {
        Self {
            name: schema.name,
            description: schema.description,
            functions: schema.functions.into_iter().map(Into::into).collect(),
            constructor: Vec::new(),
        }
    }
}

/// 0.1.0's `describe`, as the latest schema.
pub(crate) async fn describe(
    pre: &v0_1::ModulePre<InvocationState>,
    store: &mut wasmtime::Store<InvocationState>,
) -> wasmtime::Result<latest::exports::tanto::core::guest::ModuleSchema> {
    let instance = pre.instantiate_async(&mut *store).await?;
    Ok(instance.tanto_core_guest().call_describe(&mut *store).await?.into())
}

/// 0.1.0's `invoke`, with latest values in and out.
pub(crate) async fn invoke(
    pre: &v0_1::ModulePre<InvocationState>,
    store: &mut wasmtime::Store<InvocationState>,
    constructor_arguments: Vec<(String, latest::tanto::core::types::Value)>,
    function: &str,
    arguments: Vec<(String, latest::tanto::core::types::Value)>,
) -> wasmtime::Result<Result<latest::tanto::core::types::Value, latest::tanto::core::types::Error>> {
    // The CLI types constructor arguments by the schema, which declares none for 0.1; a
    // module calling a 0.1 dependency with some gets an error it can handle.
    if let Some((name, _)) = constructor_arguments.first() {
        return Ok(Err(latest::tanto::core::types::Error::InvalidArgument(format!(
            "the module was built against tanto:core@0.1.0, which has no constructors, but got the constructor argument `{name}`"
        ))));
    }
    // A 0.1.0 schema cannot declare an argument of a newer kind, so the CLI and callers,
    // which type arguments by the schema, never pass one.
    let arguments: Vec<(String, types::Value)> = arguments
        .into_iter()
        .map(|(name, value)| Ok((name, value.try_into()?)))
        .collect::<Result<_, super::surface::KindUnavailable>>()?;
    let instance = pre.instantiate_async(&mut *store).await?;
    let result = instance.tanto_core_guest().call_invoke(&mut *store, function, &arguments).await?;
    Ok(result.map(Into::into).map_err(Into::into))
}
