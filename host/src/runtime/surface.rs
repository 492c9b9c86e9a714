//! The tanto API's surface, described once: every method of every resource, with the
//! version that introduced it, and every kind of value. The tables here are expanded
//! several ways (wasmtime's `foreach_builtin_function!` pattern):
//!
//! * [`super::host`] expands [`foreach_method!`] into the latest version's host traits,
//!   and [`foreach_kind!`] into the conversions between host values and its WIT values;
//! * each older version's module ([`super::since_v0_1`]) expands both into host traits
//!   and conversions that delegate to the latest.
//!
//! So a new builder method is its WIT line, its engine operation, one line here and its
//! test; the memory accounting and the CPU accounting come with the line.

/// Calls `$mac! { [extra] table }` with every resource method of the API, grouped by
/// resource (its engine type and its host trait) and by the version that introduced
/// the method. Each line is one method, in one of three shapes:
///
/// * `builder name(arguments) -> Object = |this| operation;` makes a new object from
///   `this`: `operation` is an engine builder, run on the engine object of `this` with
///   the arguments resolved (handles become engine objects, WIT records engine options).
///   The new object is charged against the module's memory limit: the bytes of its
///   string and byte arguments, plus its parents (`this` and any handle argument).
/// * `terminal name(arguments) -> T = |pipeline, this| evaluation;` evaluates:
///   `evaluation` is an async block's body returning `Result<T, EngineError>`; the time
///   it waits is the host's and its CPU time is charged to the module's budget.
/// * `getter name(arguments) -> T = |this| value;` answers without evaluating.
///
/// A resource's first `since` group is the version that introduced the resource: an older
/// version has no host trait for it.
///
/// Argument types are written as the latest WIT bindings spell them (`types::` is the
/// version being expanded); what a type resolves to and how many bytes it holds is its
/// [`super::host::HostArgument`] implementation.
///
/// A method whose signature a new version `vX` changes keeps its line, in the `since`
/// group that introduced it, with the latest signature and the mark `revised vX`: the
/// versions that have `vX` delegate it as usual, and each older version's module writes
/// its own signature by hand (the `by_hand` arm of its `includes` macro), delegating with
/// the new arguments absent. 0.2's `owner` of `with-file`, `with-directory` and
/// `with-new-file` is such a change (see [`super::since_v0_1`]). A new name for the new
/// signature is the other way, for changes an older signature cannot delegate to.
///
/// A resource that a newer version introduces is marked with that version
/// (`GitRef HostGitRef [v0_2]`): older versions have no host trait for it.
macro_rules! foreach_method {
    ($mac:ident $($extra:tt)*) => {
        $mac! {
            [$($extra)*]

            Container HostContainer {
                since v0_1 {
                    builder from(address: String) -> Container = |container| container.from(&address);
                    builder with_exec(args: Vec<String>, options: types::ExecOptions) -> Container = |container| container.with_exec(args, options);
                    builder with_env_variable(name: String, value: String) -> Container = |container| container.with_env_variable(&name, &value);
                    builder without_env_variable(name: String) -> Container = |container| container.without_env_variable(&name);
                    builder with_workdir(path: String) -> Container = |container| container.with_workdir(&path);
                    builder with_user(name: String) -> Container = |container| container.with_user(&name);
                    builder with_entrypoint(args: Vec<String>) -> Container = |container| container.with_entrypoint(args);
                    builder with_default_args(args: Vec<String>) -> Container = |container| container.with_default_args(args);
                    builder with_label(name: String, value: String) -> Container = |container| container.with_label(&name, &value);
                    revised v0_2 builder with_directory(path: String, source: Resource<Directory>, include: Vec<String>, exclude: Vec<String>, owner: Option<String>) -> Container = |container| container.with_directory(&path, &source, include, exclude, owner.as_deref());
                    revised v0_2 builder with_file(path: String, source: Resource<File>, permissions: Option<u32>, owner: Option<String>) -> Container = |container| container.with_file(&path, &source, permissions, owner.as_deref());
                    revised v0_2 builder with_new_file(path: String, contents: String, permissions: Option<u32>, owner: Option<String>) -> Container = |container| container.with_new_file(&path, &contents, permissions, owner.as_deref());
                    builder with_mounted_directory(path: String, source: Resource<Directory>) -> Container = |container| container.with_mounted_directory(&path, &source);
                    builder with_mounted_cache(path: String, cache: Resource<CacheVolume>, sharing: types::Sharing) -> Container = |container| container.with_mounted_cache(&path, &cache, sharing);
                    builder with_mounted_temp(path: String) -> Container = |container| container.with_mounted_temp(&path);
                    builder file(path: String) -> File = |container| container.file(&path);
                    builder directory(path: String) -> Directory = |container| container.directory(&path);
                    terminal stdout() -> String = |pipeline, container| pipeline.stdout(&container).await;
                    terminal stderr() -> String = |pipeline, container| pipeline.stderr(&container).await;
                    terminal exit_code() -> i32 = |pipeline, container| pipeline.exit_code(&container).await.map(saturating_i32);
                    terminal sync() -> () = |pipeline, container| pipeline.sync(&container).await;
                }
                since v0_2 {
                    builder with_new_file_bytes(path: String, contents: Vec<u8>, permissions: Option<u32>, owner: Option<String>) -> Container = |container| container.with_new_file_bytes(&path, &contents, permissions, owner.as_deref());
                    builder without_file(path: String) -> Container = |container| container.without_path(&path);
                    builder without_directory(path: String) -> Container = |container| container.without_path(&path);
                    builder with_symlink(target: String, link_name: String) -> Container = |container| container.with_symlink(&target, &link_name);
                    // Images and registries.
                    builder with_registry_auth(address: String, username: String, secret: Resource<Secret>) -> Container = |container| container.with_registry_auth(&address, &username, &secret);
                    terminal publish(address: String) -> String = |pipeline, container| pipeline.publish(&container, &address).await;
                    builder export() -> File = |container| container.export();
                    builder import(source: Resource<File>) -> Container = |container| container.import(&source);
                }
                // Secrets.
                since v0_2 {
                    builder with_secret_variable(name: String, secret: Resource<Secret>) -> Container = |container| container.with_secret_variable(&name, &secret);
                    builder with_mounted_secret(path: String, source: Resource<Secret>, owner: Option<String>, mode: Option<u32>) -> Container = |container| container.with_mounted_secret(&path, &source, owner, mode);
                }
                // Interactive debugging.
                since v0_2 {
                    terminal terminal(cmd: Vec<String>) -> i32 = |pipeline, container| pipeline.terminal(&container, cmd).await.map(saturating_i32);
                }
                // Services.
                since v0_2 {
                    builder with_exposed_port(port: u32, protocol: types::NetworkProtocol, description: Option<String>) -> Container = |container| container.with_exposed_port(port, protocol, description);
                    builder as_service(args: Vec<String>, use_entrypoint: bool) -> Service = |container| container.as_service(args, use_entrypoint);
                    builder with_service_binding(alias: String, service: Resource<Service>) -> Container = |container| container.with_service_binding(&alias, &service);
                }
                // Scoped mounts.
                since v0_2 {
                    builder without_mount(path: String) -> Container = |container| container.without_mount(&path);
                }
            }

            Directory HostDirectory {
                since v0_1 {
                    terminal entries(path: String) -> Vec<String> = |pipeline, directory| pipeline.entries(&directory, &path).await;
                    builder file(path: String) -> File = |directory| directory.file(&path);
                    builder subdirectory(path: String) -> Directory = |directory| directory.directory(&path);
                    builder with_new_file(path: String, contents: String, permissions: Option<u32>) -> Directory = |directory| directory.with_new_file(&path, &contents, permissions);
                    builder with_file(path: String, source: Resource<File>, permissions: Option<u32>) -> Directory = |directory| directory.with_file(&path, &source, permissions);
                    builder with_directory(path: String, source: Resource<Directory>, include: Vec<String>, exclude: Vec<String>) -> Directory = |directory| directory.with_directory(&path, &source, include, exclude);
                    builder without_file(path: String) -> Directory = |directory| directory.without_file(&path);
                    terminal digest() -> String = |pipeline, directory| pipeline.directory_digest(&directory).await.map(|digest| digest.to_string());
                }
                since v0_2 {
                    builder with_new_file_bytes(path: String, contents: Vec<u8>, permissions: Option<u32>) -> Directory = |directory| directory.with_new_file_bytes(&path, &contents, permissions);
                    terminal glob(pattern: String) -> Vec<String> = |pipeline, directory| pipeline.glob(&directory, &pattern).await;
                    builder with_symlink(target: String, link_name: String) -> Directory = |directory| directory.with_symlink(&target, &link_name);
                    // Images and registries.
                    builder docker_build(dockerfile: String, build_args: Vec<types::BuildArg>, target: Option<String>, secrets: Vec<Resource<Secret>>) -> Container = |directory| directory.docker_build(crate::backend::BuildSpec { dockerfile, build_args, target, secrets });
                }
            }

            File HostFile {
                since v0_1 {
                    terminal contents() -> String = |pipeline, file| utf8_text(&file, pipeline.contents(&file).await);
                    terminal size() -> u64 = |pipeline, file| pipeline.size(&file).await;
                    getter name() -> String = |file| file.name();
                    terminal digest() -> String = |pipeline, file| pipeline.file_digest(&file).await.map(|digest| digest.to_string());
                }
                since v0_2 {
                    terminal contents_bytes() -> Vec<u8> = |pipeline, file| pipeline.contents(&file).await;
                }
            }

            CacheVolume HostCacheVolume {
                since v0_1 {
                    getter key() -> String = |volume| volume.key().to_string();
                }
            }

            GitRepository HostGitRepository [v0_2] {
                since v0_2 {
                    builder branch(name: String) -> GitRef = |repository| repository.branch(&name);
                    builder tag(name: String) -> GitRef = |repository| repository.tag(&name);
                    builder commit(id: String) -> GitRef = |repository| repository.commit(&id);
                    builder ref_(name: String) -> GitRef = |repository| repository.git_ref(&name);
                }
            }

            GitRef HostGitRef [v0_2] {
                since v0_2 {
                    builder tree() -> Directory = |git_ref| git_ref.tree();
                    terminal commit() -> String = |pipeline, git_ref| pipeline.git_commit(&git_ref).await;
                }
            }

            Service HostService [v0_2] {
                since v0_2 {
                    terminal endpoint(port: Option<u32>, scheme: Option<String>) -> String = |pipeline, service| match port { Some(_) => service.endpoint(port, &[], scheme.as_deref()), None => pipeline.service_ports(&service).await.and_then(|exposed| service.endpoint(None, &exposed, scheme.as_deref())) };
                    terminal hostname() -> String = |pipeline, service| { let _ = &pipeline; Ok(service.hostname()) };
                    terminal start() -> () = |pipeline, service| pipeline.start_service(&service).await;
                    terminal stop() -> () = |pipeline, service| pipeline.stop_service(&service).await;
                }
            }

            Secret HostSecret [v0_2] {
                since v0_2 {
                    getter name() -> String = |secret| secret.name().to_string();
                }
            }
        }
    };
}

/// Calls `$mac! { [extra] kinds }` with the kinds of values that cross the API: the
/// scalars with their Rust payload, and the objects (resources, the same engine type in
/// every version), grouped by the version that introduced them. `type-kind` has these
/// plus `void`; `value` has these plus `none` and `list`; `item` has exactly these. The host's [`super::values::Kind`] and
/// [`super::values::Value`] use the same variant names.
macro_rules! foreach_kind {
    ($mac:ident $($extra:tt)*) => {
        $mac! {
            [$($extra)*]
            scalars { String(String), Boolean(bool), Integer(i64), Float(f64) }
            objects {
                since v0_1 { Container, Directory, File }
                since v0_2 { Secret, Service }
            }
        }
    };
}

/// Expands [`foreach_method!`] in an older version's module into host traits that
/// delegate every method to the latest version's, converting records and errors with
/// `From` (`.into()` is the identity for the types that did not change). `$includes` is
/// a macro that keeps the `since` groups (and resources, and revisions) the older
/// version has, and whose `by_hand $resource` arm adds the methods it writes by hand
/// (see [`super::since_v0_1`]).
macro_rules! delegate_to_latest {
    ([$includes:ident] $( $resource:ident $host_trait:ident $([$introduced:ident])? { $( since $version:ident { $($method:tt)* } )* } )*) => {
        $(
            $crate::runtime::surface::delegate_resource! { [$includes] [$($introduced)?] $resource $host_trait { $( since $version { $($method)* } )* } }
        )*
    };
}

/// One resource of [`delegate_to_latest!`]: left out when a version newer than the one
/// being expanded introduced it. `$includes! { by_hand $resource }` adds the methods the
/// older version's module writes by hand (see [`foreach_method!`]).
macro_rules! delegate_resource {
    ([$includes:ident] [$introduced:ident] $($resource:tt)*) => {
        $includes! { $introduced => $crate::runtime::surface::delegate_resource! { [$includes] [] $($resource)* } }
    };
    ([$includes:ident] [] $resource:ident $host_trait:ident { $( since $version:ident { $($method:tt)* } )* }) => {
        // Unchanged types convert to themselves.
        #[allow(clippy::useless_conversion)]
        impl types::$host_trait for InvocationState {
            $( $includes! { $version => $crate::runtime::surface::delegate_methods! { $includes $resource $host_trait; $($method)* } } )*
            $includes! { by_hand $resource }

            async fn drop(&mut self, this: Resource<$resource>) -> HostResult<()> {
                <InvocationState as latest::tanto::core::types::$host_trait>::drop(self, this).await
            }
        }
    };
}

/// The methods of one `since` group, delegating to the latest version (for
/// [`delegate_to_latest!`]).
macro_rules! delegate_methods {
    ($includes:ident $resource:ident $host_trait:ident;) => {};
    // A method whose signature `$revision` changed: delegated by the versions that have
    // that revision; an older one writes its own signature by hand.
    // (Builders only, so far the only shape revised.)
    ($includes:ident $resource:ident $host_trait:ident; revised $revision:ident builder $name:ident($($arguments:tt)*) -> $object:ident = |$this:ident| $operation:expr; $($rest:tt)*) => {
        $includes! { $revision => $crate::runtime::surface::delegate_methods! { $includes $resource $host_trait; builder $name($($arguments)*) -> $object = |$this| $operation; } }
        $crate::runtime::surface::delegate_methods! { $includes $resource $host_trait; $($rest)* }
    };
    ($includes:ident $resource:ident $host_trait:ident; builder $name:ident($($argument:ident: $type:ty),*) -> $object:ident = |$this:ident| $operation:expr; $($rest:tt)*) => {
        async fn $name(&mut self, this: Resource<$resource>, $($argument: $type),*) -> HostResult<Resource<$object>> {
            <InvocationState as latest::tanto::core::types::$host_trait>::$name(self, this, $($argument.into()),*).await
        }
        $crate::runtime::surface::delegate_methods! { $includes $resource $host_trait; $($rest)* }
    };
    ($includes:ident $resource:ident $host_trait:ident; terminal $name:ident($($argument:ident: $type:ty),*) -> $output:ty = |$pipeline:ident, $this:ident| $evaluation:expr; $($rest:tt)*) => {
        async fn $name(&mut self, this: Resource<$resource>, $($argument: $type),*) -> HostResult<Result<$output, types::Error>> {
            Ok(<InvocationState as latest::tanto::core::types::$host_trait>::$name(self, this, $($argument.into()),*).await?.map_err(Into::into))
        }
        $crate::runtime::surface::delegate_methods! { $includes $resource $host_trait; $($rest)* }
    };
    ($includes:ident $resource:ident $host_trait:ident; getter $name:ident($($argument:ident: $type:ty),*) -> $output:ty = |$this:ident| $value:expr; $($rest:tt)*) => {
        async fn $name(&mut self, this: Resource<$resource>, $($argument: $type),*) -> HostResult<$output> {
            <InvocationState as latest::tanto::core::types::$host_trait>::$name(self, this, $($argument.into()),*).await
        }
        $crate::runtime::surface::delegate_methods! { $includes $resource $host_trait; $($rest)* }
    };
}

/// Expands [`foreach_kind!`] in an older version's module into the conversions of
/// `type-kind`, `item` and `value` between that version (`$old`) and the latest
/// (`$new`). Objects move as they are: both versions hold the same engine objects. The
/// older version's kinds are the table's first `since` group (a version after 0.2 that
/// is not the latest will name its groups here). Into the older version the conversion
/// is fallible: a module built before a kind existed cannot be handed one.
macro_rules! convert_kinds {
    ([$old:ident => $new:ident] scalars { $($scalar:ident($payload:ty)),* } objects { since $first:ident { $($object:ident),* } $( since $later:ident { $($newer:ident),* } )* }) => {
        impl From<$old::tanto::core::types::TypeKind> for $new::tanto::core::types::TypeKind {
            fn from(kind: $old::tanto::core::types::TypeKind) -> Self {
                match kind {
                    $old::tanto::core::types::TypeKind::Void => Self::Void,
                    $($old::tanto::core::types::TypeKind::$scalar => Self::$scalar,)*
                    $($old::tanto::core::types::TypeKind::$object => Self::$object,)*
                }
            }
        }

        impl From<$old::tanto::core::types::Item> for $new::tanto::core::types::Item {
            fn from(item: $old::tanto::core::types::Item) -> Self {
                match item {
                    $($old::tanto::core::types::Item::$scalar(value) => Self::$scalar(value),)*
                    $($old::tanto::core::types::Item::$object(handle) => Self::$object(handle),)*
                }
            }
        }

        impl TryFrom<$new::tanto::core::types::Item> for $old::tanto::core::types::Item {
            type Error = $crate::runtime::surface::KindUnavailable;

            fn try_from(item: $new::tanto::core::types::Item) -> Result<Self, Self::Error> {
                Ok(match item {
                    $($new::tanto::core::types::Item::$scalar(value) => Self::$scalar(value),)*
                    $($new::tanto::core::types::Item::$object(handle) => Self::$object(handle),)*
                    $($($new::tanto::core::types::Item::$newer(_) => return Err($crate::runtime::surface::KindUnavailable(stringify!($newer))),)*)*
                })
            }
        }

        impl From<$old::tanto::core::types::Value> for $new::tanto::core::types::Value {
            fn from(value: $old::tanto::core::types::Value) -> Self {
                match value {
                    $old::tanto::core::types::Value::None => Self::None,
                    $($old::tanto::core::types::Value::$scalar(value) => Self::$scalar(value),)*
                    $($old::tanto::core::types::Value::$object(handle) => Self::$object(handle),)*
                    $old::tanto::core::types::Value::List(items) => Self::List(items.into_iter().map(Into::into).collect()),
                }
            }
        }

        impl TryFrom<$new::tanto::core::types::Value> for $old::tanto::core::types::Value {
            type Error = $crate::runtime::surface::KindUnavailable;

            fn try_from(value: $new::tanto::core::types::Value) -> Result<Self, Self::Error> {
                Ok(match value {
                    $new::tanto::core::types::Value::None => Self::None,
                    $($new::tanto::core::types::Value::$scalar(value) => Self::$scalar(value),)*
                    $($new::tanto::core::types::Value::$object(handle) => Self::$object(handle),)*
                    $($($new::tanto::core::types::Value::$newer(_) => return Err($crate::runtime::surface::KindUnavailable(stringify!($newer))),)*)*
                    $new::tanto::core::types::Value::List(items) => Self::List(items.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?),
                })
            }
        }
    };
}

/// A value of a kind an older version of the API does not have (a `secret` for a
/// `tanto:core@0.1.0` module).
#[derive(Debug, Clone, thiserror::Error)]
#[error("a {0} value cannot be handed to a module built against an API version without it (rebuild the module with a newer SDK)")]
pub struct KindUnavailable(pub &'static str);

/// `From` both ways between the same record, enum or variant of two versions, field by
/// field or case by case: for the types an older version shares with the latest. A type
/// marked `up` converts only from the older version (one that holds a `type-kind`,
/// which the latest may have grown).
/// Fields and payloads convert with `.into()` (the identity for scalars); a field
/// marked `[list]` converts element by element.
macro_rules! convert_same {
    ($old:ident => $new:ident;) => {};
    ($old:ident => $new:ident; up $shape:ident $($path:ident)::+ { $($body:tt)* } $($rest:tt)*) => {
        $crate::runtime::surface::convert_same!(@$shape $old => $new; $($path)::+ { $($body)* });
        $crate::runtime::surface::convert_same! { $old => $new; $($rest)* }
    };
    ($old:ident => $new:ident; $shape:ident $($path:ident)::+ { $($body:tt)* } $($rest:tt)*) => {
        $crate::runtime::surface::convert_same!(@$shape $old => $new; $($path)::+ { $($body)* });
        $crate::runtime::surface::convert_same!(@$shape $new => $old; $($path)::+ { $($body)* });
        $crate::runtime::surface::convert_same! { $old => $new; $($rest)* }
    };
    (@enum $from:ident => $to:ident; $($path:ident)::+ { $($case:ident),* }) => {
        impl From<$from::$($path)::+> for $to::$($path)::+ {
            fn from(value: $from::$($path)::+) -> Self {
                use $from::$($path)::+ as Source;
                match value {
                    $(Source::$case => Self::$case,)*
                }
            }
        }
    };
    (@variant $from:ident => $to:ident; $($path:ident)::+ { $($case:ident),* }) => {
        // Unchanged payloads convert to themselves.
        #[allow(clippy::useless_conversion)]
        impl From<$from::$($path)::+> for $to::$($path)::+ {
            fn from(value: $from::$($path)::+) -> Self {
                use $from::$($path)::+ as Source;
                match value {
                    $(Source::$case(payload) => Self::$case(payload.into()),)*
                }
            }
        }
    };
    (@record $from:ident => $to:ident; $($path:ident)::+ { $($field:ident $([$list:ident])?),* }) => {
        // Unchanged fields convert to themselves.
        #[allow(clippy::useless_conversion)]
        impl From<$from::$($path)::+> for $to::$($path)::+ {
            fn from(value: $from::$($path)::+) -> Self {
                Self {
                    $($field: $crate::runtime::surface::convert_same!(@field value.$field $(, [$list])?),)*
                }
            }
        }
    };
    (@field $value:expr) => {
        $value.into()
    };
    (@field $value:expr, [list]) => {
        $value.into_iter().map(Into::into).collect()
    };
}

pub(crate) use {convert_kinds, convert_same, delegate_methods, delegate_resource, delegate_to_latest, foreach_kind, foreach_method};
