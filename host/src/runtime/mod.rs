//! The wasmtime side: one engine per process, compiled components cached on disk, and a
//! fresh sandboxed store per invocation whose only door to the world is the tanto API.
//!
//! Every version of the API in `wit/` is served at once, as Zed's extension host serves
//! its extension API: one `bindgen!` per version ([`bindings`]), the host written once
//! against the latest ([`host`], expanded from the tables of [`surface`]), and each
//! older version delegating to it through conversions ([`since_v0_1`]). Which version a
//! module speaks is read from the `tanto:core` interfaces its component imports and
//! exports ([`api_version`]).

mod accounting;
mod bindings;
pub mod chain;
mod diagnose;
mod host;
mod sandbox;
mod since_v0_1;
mod surface;
mod up;
pub mod values;

use std::hash::{Hash, Hasher as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker, ResourceTable};

pub use self::bindings::ApiVersion;
use self::bindings::{latest, v0_1};
use self::sandbox::{InvocationState, SandboxError};
pub use self::sandbox::{LimitError, Limits};
pub use self::values::{Argument, Function, Kind, ModuleSchema, SchemaError, TypeRef, Value};
use crate::engine::{Digest, Engine as Pipeline, EngineError};
use crate::error::Diagnose;
use crate::util::FileStamp;

/// Why loading or running a module failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{path} is not a WebAssembly file (it does not start with the `\\0asm` magic bytes)")]
    NotWasm { path: String },
    #[error("{path} is a core WebAssembly module, not a component")]
    CoreModule { path: String },
    #[error("{path} is not a valid WebAssembly component: {reason}")]
    Invalid { path: String, reason: String },
    #[error("{path} was not built for tanto's `module` world: {reason}")]
    WrongWorld { path: String, reason: String },
    /// The component speaks a version of the API this host does not serve.
    #[error("{path} was built against {found}, which this tanto does not serve (it serves {})", served_versions())]
    UnsupportedApi {
        path: String,
        /// `tanto:core@X.Y.Z`, as the component names it.
        found: String,
        /// Whether the component's version is newer than every version served.
        newer: bool,
    },
    #[error("the module exceeded its CPU time budget of {limit:?} (time spent waiting for containers does not count)")]
    CpuBudgetExceeded { limit: Duration, log: String },
    #[error("the module exceeded its memory limit of {limit_mib} MiB")]
    MemoryExceeded { limit_mib: u64, log: String },
    #[error("the module holds more than {limit_mib} MiB in host objects (the strings and objects it made the host keep count against its memory limit)")]
    HostMemoryExceeded { limit_mib: u64, log: String },
    #[error("the module holds more than {limit} objects at once (containers, directories, files, cache volumes)")]
    TooManyObjects { limit: usize, log: String },
    #[error("the module ran longer than its time limit of {} (waiting for containers included)", humanize(*limit))]
    Timeout { limit: Duration, log: String },
    #[error("the module overflowed its stack (a recursion too deep, or without end)")]
    StackOverflow { log: String },
    #[error("the module handed the host more than {} MiB in one call", MAX_CALL_DATA >> 20)]
    TooMuchData { log: String },
    #[error("the module crashed: {message}")]
    Trap { message: String, log: String },
    #[error("this module has no dependency named `{name}`{}", if declared.is_empty() { " (it declares none in tanto.toml)".to_string() } else { format!("; it declares: {}", declared.join(", ")) })]
    UnknownDependency { name: String, declared: Vec<String> },
    /// A dependency could not be made ready to call; `error` says why, and what to do.
    #[error("{context}: {error}")]
    Dependency { context: String, error: Box<dyn Diagnose> },
    #[error("{reason}")]
    LockOutOfDate { reason: String },
    #[error("module calls nest deeper than {limit}: is there a cycle between modules?")]
    CallDepth { limit: u32 },
    /// The module's function returned an error.
    #[error("{0}")]
    Pipeline(EngineError),
    /// The module's `describe` declared something a schema cannot honestly declare.
    #[error(transparent)]
    InvalidSchema(#[from] SchemaError),
    #[error("{context}: {reason}")]
    Internal { context: String, reason: String },
}

impl RuntimeError {
    /// What the guest wrote to stdout/stderr before it failed, if anything.
    pub fn guest_log(&self) -> Option<&str> {
        match self {
            RuntimeError::CpuBudgetExceeded { log, .. }
            | RuntimeError::MemoryExceeded { log, .. }
            | RuntimeError::HostMemoryExceeded { log, .. }
            | RuntimeError::TooManyObjects { log, .. }
            | RuntimeError::Timeout { log, .. }
            | RuntimeError::StackOverflow { log }
            | RuntimeError::TooMuchData { log }
            | RuntimeError::Trap { log, .. } => Some(log.as_str()).filter(|log| !log.trim().is_empty()),
            _ => None,
        }
    }
}

/// `tanto:core@0.1.0 and tanto:core@0.2.0`: the versions of the API this host serves.
pub fn served_versions() -> String {
    let names: Vec<String> = ApiVersion::SERVED.iter().map(ApiVersion::to_string).collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The version of the tanto API a component speaks, read from the `tanto:core`
/// interfaces it imports and exports (`tanto:core/types@0.2.0`, ...). Every module
/// imports `types` (its exports use its objects), `client` when it calls the API, and
/// exports `guest`; all must name one version, and this host must serve it.
pub fn api_version<'a>(path: &str, interfaces: impl IntoIterator<Item = &'a str>) -> Result<ApiVersion, RuntimeError> {
    let mut versions: Vec<&str> = interfaces
        .into_iter()
        .filter_map(|name| name.strip_prefix("tanto:core/"))
        .map(|interface| interface.split_once('@').map_or("", |(_, version)| version))
        .collect();
    versions.sort_unstable();
    versions.dedup();
    match versions.as_slice() {
        [] => Err(RuntimeError::WrongWorld {
            path: path.to_string(),
            reason: format!("it uses no version of the tanto API (tanto:core); this tanto serves {}", served_versions()),
        }),
        [version] => ApiVersion::from_semver(version).ok_or_else(|| RuntimeError::UnsupportedApi {
            path: path.to_string(),
            found: format!("tanto:core@{version}"),
            newer: ApiVersion::SERVED.iter().all(|served| is_newer(version, served.semver())),
        }),
        several => Err(RuntimeError::WrongWorld {
            path: path.to_string(),
            reason: format!(
                "it mixes versions of the tanto API ({}); a module is built against one",
                several.iter().map(|version| format!("tanto:core@{version}")).collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}

/// Whether semver `version` is newer than `than` (an unreadable version is not).
fn is_newer(version: &str, than: &str) -> bool {
    match (semver::Version::parse(version), semver::Version::parse(than)) {
        (Ok(version), Ok(than)) => version > than,
        _ => false,
    }
}

/// `90s`, `30m`, `2h`: how limits are written on the command line.
fn humanize(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if duration.subsec_nanos() != 0 || seconds == 0 {
        format!("{duration:?}")
    } else if seconds.is_multiple_of(3600) {
        format!("{}h", seconds / 3600)
    } else if seconds.is_multiple_of(60) {
        format!("{}m", seconds / 60)
    } else {
        format!("{seconds}s")
    }
}

/// How deep a trap's call stack must be to count as a stack overflow: deeper than any
/// real pipeline code; a 1 MiB stack of 1 KiB frames is 1024 deep.
const OVERFLOW_DEPTH: usize = 512;

/// The most data a module may hand the host in one call (wasmtime's "hostcall fuel"):
/// set explicitly so that the error can say it.
const MAX_CALL_DATA: usize = 128 << 20;

fn internal(context: &str) -> impl FnOnce(wasmtime::Error) -> RuntimeError + '_ {
    move |error| RuntimeError::Internal {
        context: context.to_string(),
        reason: format!("{error:#}"),
    }
}

/// How the runtime is set up.
#[derive(Clone, Debug)]
pub struct RuntimeSettings {
    /// Where compiled components are kept.
    pub compiled_cache: PathBuf,
    /// Where the sha256 of component files is remembered (see [`Runtime::load_file`]).
    pub digest_stamps: PathBuf,
}

/// A wasmtime engine and linker shared by every invocation in the process.
pub struct Runtime {
    engine: wasmtime::Engine,
    linker: Linker<InvocationState>,
    compiled_cache: PathBuf,
    digest_stamps: PathBuf,
    fingerprint: String,
}

/// How deep module-to-module calls may nest: deeper is a cycle or a runaway.
const MAX_CALL_DEPTH: u32 = 16;

/// Where a module's dependencies come from: the runtime asks, the caller (which knows
/// manifests, locks and builds) answers.
#[async_trait::async_trait]
pub trait Dependencies: Send + Sync {
    /// The dependency a module calls `name`, ready to invoke.
    async fn load(&self, runtime: &Arc<Runtime>, name: &str) -> Result<Callable, RuntimeError>;
    /// The names the module may call, for error messages.
    fn names(&self) -> Vec<String>;
}

/// A module without dependencies.
pub struct NoDependencies;

#[async_trait::async_trait]
impl Dependencies for NoDependencies {
    async fn load(&self, _runtime: &Arc<Runtime>, name: &str) -> Result<Callable, RuntimeError> {
        Err(RuntimeError::UnknownDependency {
            name: name.to_string(),
            declared: Vec::new(),
        })
    }

    fn names(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A loaded module with what its invocations run with.
#[derive(Clone)]
pub struct Callable {
    pub module: LoadedModule,
    pub limits: Limits,
    /// The modules it may call.
    pub dependencies: Arc<dyn Dependencies>,
}

/// A loaded module, ready to instantiate in microseconds.
#[derive(Clone)]
pub struct LoadedModule {
    pre: GuestPre,
    /// The version of the tanto API the module was built against.
    pub api: ApiVersion,
    /// sha256 of the component's bytes.
    pub digest: Digest,
    /// How long loading took and whether the compiled cache answered.
    pub load: LoadReport,
}

/// A component linked against the version of the API it speaks.
#[derive(Clone)]
enum GuestPre {
    V0_1(v0_1::ModulePre<InvocationState>),
    V0_2(latest::ModulePre<InvocationState>),
}

impl GuestPre {
    /// Links `component`, which speaks `api`, and checks it exports that version's `guest`.
    fn new(linker: &Linker<InvocationState>, component: &Component, api: ApiVersion) -> wasmtime::Result<GuestPre> {
        let instance_pre = linker.instantiate_pre(component)?;
        Ok(match api {
            ApiVersion::V0_1 => GuestPre::V0_1(v0_1::ModulePre::new(instance_pre)?),
            ApiVersion::V0_2 => GuestPre::V0_2(latest::ModulePre::new(instance_pre)?),
        })
    }

    /// Instantiates the module and calls its `describe`, in the latest version's terms.
    async fn describe(&self, store: &mut wasmtime::Store<InvocationState>) -> wasmtime::Result<latest::exports::tanto::core::guest::ModuleSchema> {
        match self {
            GuestPre::V0_1(pre) => since_v0_1::describe(pre, store).await,
            GuestPre::V0_2(pre) => {
                let instance = pre.instantiate_async(&mut *store).await?;
                instance.tanto_core_guest().call_describe(&mut *store).await
            }
        }
    }

    /// Instantiates the module and calls its `invoke`, in the latest version's terms.
    async fn invoke(
        &self,
        store: &mut wasmtime::Store<InvocationState>,
        constructor_arguments: Vec<(String, latest::tanto::core::types::Value)>,
        function: &str,
        arguments: Vec<(String, latest::tanto::core::types::Value)>,
    ) -> wasmtime::Result<Result<latest::tanto::core::types::Value, latest::tanto::core::types::Error>> {
        match self {
            GuestPre::V0_1(pre) => since_v0_1::invoke(pre, store, constructor_arguments, function, arguments).await,
            GuestPre::V0_2(pre) => {
                let instance = pre.instantiate_async(&mut *store).await?;
                instance
                    .tanto_core_guest()
                    .call_invoke(&mut *store, &constructor_arguments, function, &arguments)
                    .await
            }
        }
    }
}

/// Why [`Runtime::load_file`] failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadFileError {
    #[error("cannot read the component {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Load(RuntimeError),
}

/// The sha256 of one component file, remembered in a small file with what tells that
/// version of the file apart (size, modification and change times, inode, device), as
/// cargo trusts modification times instead of reading sources again.
struct DigestStamp {
    file: PathBuf,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct RememberedDigest {
    file: FileStamp,
    digest: Digest,
}

/// The sha256 of the component file at `path` as remembered in `digest_stamps` by the
/// last load of that very version of the file, if any: what shell completion looks the
/// module's schema up by, without reading a big component.
pub fn remembered_digest(digest_stamps: &Path, path: &Path) -> Option<Digest> {
    DigestStamp::of(digest_stamps, path)?.digest(path)
}

impl DigestStamp {
    /// Where the digest of the file at `path` is remembered, in `digest_stamps`.
    fn of(digest_stamps: &Path, path: &Path) -> Option<Self> {
        let path = std::path::absolute(path).ok()?;
        let key = Digest::of_bytes(path.as_os_str().as_encoded_bytes());
        Some(Self {
            file: digest_stamps.join(key.hex()),
        })
    }

    /// The remembered sha256 of the file at `path`, if the file is still that version.
    fn digest(&self, path: &Path) -> Option<Digest> {
        let bytes = std::fs::read(&self.file).ok()?;
        let remembered: RememberedDigest = serde_json::from_slice(&bytes).ok()?;
        (FileStamp::of_path(path)? == remembered.file).then_some(remembered.digest)
    }

    /// Remembers `digest` for the file at `path` as it is now, unless it changed too
    /// recently to be told from a later write, or changed since `before` (taken before it
    /// was read).
    fn remember(&self, path: &Path, before: Option<FileStamp>, digest: &Digest) {
        let Some(file) = FileStamp::of_path(path).filter(|now| Some(now) == before.as_ref()) else {
            return;
        };
        if file.is_recent() {
            return;
        }
        let remembered = RememberedDigest { file, digest: *digest };
        let written = serde_json::to_vec(&remembered)
            .map_err(std::io::Error::other)
            .and_then(|bytes| crate::util::write_atomic(&self.file, &bytes));
        if let Err(error) = written {
            tracing::debug!(%error, path = %self.file.display(), "could not remember the component's digest");
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct LoadReport {
    pub duration: Duration,
    pub compiled_cache_hit: bool,
}

/// How often the epoch advances: the granularity of the CPU budget.
const EPOCH_TICK: Duration = Duration::from_millis(10);

impl Runtime {
    pub fn new(settings: RuntimeSettings) -> Result<Self, RuntimeError> {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        // Deep enough to tell a stack overflow from other out-of-bounds accesses (see
        // `overflowed_shadow_stack`); captured only when a module traps.
        config.wasm_backtrace_max_frames(std::num::NonZeroUsize::new(OVERFLOW_DEPTH + 1));
        let engine = wasmtime::Engine::new(&config).map_err(internal("cannot create the wasmtime engine"))?;

        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        let fingerprint = format!("{:016x}", hasher.finish());

        let mut linker = Linker::new(&engine);
        // WASI is linked so that std-based guests instantiate, but the context built for
        // each store grants nothing (see `sandbox`).
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(internal("cannot link WASI"))?;
        // Every version served, side by side: their interfaces have distinct names
        // (`tanto:core/types@0.1.0`, `@0.2.0`), and each component links to its own.
        v0_1::Module::add_to_linker::<_, wasmtime::component::HasSelf<InvocationState>>(&mut linker, |state| state)
            .map_err(internal("cannot link the tanto API 0.1"))?;
        latest::Module::add_to_linker::<_, wasmtime::component::HasSelf<InvocationState>>(&mut linker, |state| state)
            .map_err(internal("cannot link the tanto API 0.2"))?;

        // The epoch only matters while a guest runs; a process-wide ticker that ends with
        // the engine is enough.
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("tanto-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|error| RuntimeError::Internal {
                context: "cannot start the epoch ticker".into(),
                reason: error.to_string(),
            })?;

        Ok(Self {
            engine,
            linker,
            compiled_cache: settings.compiled_cache,
            digest_stamps: settings.digest_stamps,
            fingerprint,
        })
    }

    /// Loads the component file at `path` (see [`Runtime::load`]). A big component (a
    /// Python one is 18–35 MB) is neither read nor hashed when its stamp shows the file is
    /// the one hashed before and the compiled cache has its copy: a cached call costs a
    /// `stat`, not a sha256 of the whole file.
    pub fn load_file(&self, path: &Path) -> Result<LoadedModule, LoadFileError> {
        let started = Instant::now();
        let stamp = self.digest_stamp(path);
        if let Some(digest) = stamp.as_ref().and_then(|stamp| stamp.digest(path))
            && let Some(component) = self.compiled(&digest)
        {
            return self.link(path, component, digest, started, true).map_err(LoadFileError::Load);
        }
        let before = FileStamp::of_path(path);
        let bytes = std::fs::read(path).map_err(|source| LoadFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let module = self.load(path, &bytes).map_err(LoadFileError::Load)?;
        if let Some(stamp) = stamp {
            stamp.remember(path, before, &module.digest);
        }
        Ok(module)
    }

    /// Where the digest of the component file at `path` is remembered.
    fn digest_stamp(&self, path: &Path) -> Option<DigestStamp> {
        DigestStamp::of(&self.digest_stamps, path)
    }

    /// The compiled copy of the component with sha256 `digest`, if the cache has one.
    fn compiled(&self, digest: &Digest) -> Option<Component> {
        let compiled = self.compiled_cache.join(format!("{}-{}.cwasm", digest.hex(), self.fingerprint));
        if !compiled.exists() {
            return None;
        }
        // SAFETY: the file was written by `Component::serialize` of an engine with the
        // same compatibility fingerprint (it is part of the name), atomically, under the
        // user's own cache folder.
        match unsafe { Component::deserialize_file(&self.engine, &compiled) } {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::debug!(%error, path = %compiled.display(), "ignoring an unusable compiled component");
                None
            }
        }
    }

    /// Loads a component from `bytes` (named `path` in errors): checks it is a component
    /// for the `module` world, compiling it only if the compiled cache has no copy.
    pub fn load(&self, path: &Path, bytes: &[u8]) -> Result<LoadedModule, RuntimeError> {
        let started = Instant::now();
        let shown = path.display().to_string();
        if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
            return Err(RuntimeError::NotWasm { path: shown });
        }
        // A component's header has layer 1 in bytes 6..8; a core module has layer 0.
        if bytes[6..8] == [0, 0] {
            return Err(RuntimeError::CoreModule { path: shown });
        }
        let digest = Digest::of_bytes(bytes);
        let cached = self.compiled(&digest);
        let compiled_cache_hit = cached.is_some();
        let component = match cached {
            Some(component) => component,
            None => {
                let component = Component::from_binary(&self.engine, bytes).map_err(|error| RuntimeError::Invalid {
                    path: shown.clone(),
                    reason: format!("{error:#}"),
                })?;
                let compiled = self.compiled_cache.join(format!("{}-{}.cwasm", digest.hex(), self.fingerprint));
                match component.serialize() {
                    Ok(serialized) => {
                        if let Err(error) = crate::util::write_atomic(&compiled, &serialized) {
                            tracing::debug!(%error, "could not store the compiled component");
                        }
                    }
                    Err(error) => {
                        tracing::debug!(%error, "could not serialize the compiled component")
                    }
                }
                component
            }
        };
        self.link(path, component, digest, started, compiled_cache_hit)
    }

    /// Checks `component` speaks a served API version and links it.
    fn link(&self, path: &Path, component: Component, digest: Digest, started: Instant, compiled_cache_hit: bool) -> Result<LoadedModule, RuntimeError> {
        let shown = path.display().to_string();
        let component_type = component.component_type();
        let api = api_version(
            &shown,
            component_type
                .imports(&self.engine)
                .map(|(name, _)| name)
                .chain(component_type.exports(&self.engine).map(|(name, _)| name)),
        )?;
        let pre = GuestPre::new(&self.linker, &component, api).map_err(|error| RuntimeError::WrongWorld {
            path: shown,
            reason: format!("{error:#}"),
        })?;
        Ok(LoadedModule {
            pre,
            api,
            digest,
            load: LoadReport {
                duration: started.elapsed(),
                compiled_cache_hit,
            },
        })
    }

    fn store(self: &Arc<Self>, pipeline: Arc<Pipeline>, callable: &Callable, depth: u32) -> wasmtime::Store<InvocationState> {
        let state = InvocationState::new(
            pipeline,
            callable.limits.clone(),
            ResourceTable::new(),
            self.clone(),
            callable.dependencies.clone(),
            depth,
        );
        let mut store = wasmtime::Store::new(&self.engine, state);
        store.limiter(|state| &mut state.memory);
        store.set_hostcall_fuel(MAX_CALL_DATA);
        // Our own cap on objects (typed, with its own message) comes before wasmtime's
        // cap on handles, which also counts borrows.
        store.set_max_component_handles(sandbox::MAX_OBJECTS * 2);
        store.set_epoch_deadline(1);
        // Yielding at every tick lets the rest of the process run while a module computes:
        // a signal, the wall-clock limit, progress.
        store.epoch_deadline_callback(|context| context.data().cpu.check().map(|()| wasmtime::UpdateDeadline::Yield(1)));
        store
    }

    /// Asks the module what it offers; a schema that fails [`ModuleSchema::validate`] is
    /// an error, so nothing downstream sees it.
    pub async fn describe(self: &Arc<Self>, callable: &Callable, pipeline: Arc<Pipeline>) -> Result<ModuleSchema, RuntimeError> {
        let mut store = self.store(pipeline, callable, 0);
        let limit = callable.limits.timeout;
        let result = tokio::time::timeout(limit, callable.module.pre.describe(&mut store)).await;
        let Ok(result) = result else {
            return Err(RuntimeError::Timeout {
                limit,
                log: store.data().log(),
            });
        };
        match result {
            Ok(schema) => {
                let schema = host::schema_from_guest(schema);
                schema.validate()?;
                Ok(schema)
            }
            Err(error) => Err(self.trap(&store, &callable.limits, error)),
        }
    }

    /// Runs `function` with `arguments` in a fresh sandbox, on the module's object made
    /// from `constructor_arguments` (empty for a module without a constructor).
    pub async fn invoke(
        self: &Arc<Self>,
        callable: &Callable,
        pipeline: Arc<Pipeline>,
        constructor_arguments: Vec<(String, Value)>,
        function: &str,
        arguments: Vec<(String, Value)>,
    ) -> Result<Value, RuntimeError> {
        self.invoke_at(callable, pipeline, constructor_arguments, function, arguments, 0).await
    }

    /// [`Runtime::invoke`] at a call depth (module-to-module calls nest).
    pub(crate) fn invoke_at<'a>(
        self: &'a Arc<Self>,
        callable: &'a Callable,
        pipeline: Arc<Pipeline>,
        constructor_arguments: Vec<(String, Value)>,
        function: &'a str,
        arguments: Vec<(String, Value)>,
        depth: u32,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Value, RuntimeError>> + Send + 'a>> {
        Box::pin(async move {
            if depth > MAX_CALL_DEPTH {
                return Err(RuntimeError::CallDepth { limit: MAX_CALL_DEPTH });
            }
            let mut store = self.store(pipeline, callable, depth);
            let mut to_guest = |arguments: Vec<(String, Value)>| -> Result<Vec<_>, RuntimeError> {
                let table = &mut store.data_mut().table;
                let mut converted = Vec::with_capacity(arguments.len());
                for (name, value) in arguments {
                    converted.push((name, host::value_to_guest(table, value).map_err(internal("cannot pass an argument"))?));
                }
                Ok(converted)
            };
            let guest_constructor_arguments = to_guest(constructor_arguments)?;
            let guest_arguments = to_guest(arguments)?;
            // The limit covers everything the invocation does, containers and calls to
            // other modules included; a module computing yields at each epoch tick, so the
            // timer gets its turn.
            let limit = callable.limits.timeout;
            let result = tokio::time::timeout(
                limit,
                callable.module.pre.invoke(&mut store, guest_constructor_arguments, function, guest_arguments),
            )
            .await;
            let Ok(result) = result else {
                return Err(RuntimeError::Timeout {
                    limit,
                    log: store.data().log(),
                });
            };
            match result {
                Ok(Ok(value)) => host::value_from_guest(&mut store.data_mut().table, value).map_err(internal("cannot read the result")),
                Ok(Err(error)) => {
                    // The guest usually passes on an error the host gave it: recover its type.
                    let original = store
                        .data()
                        .returned_errors()
                        .rev()
                        .find(|returned| host::same_error(&host::error_to_guest((*returned).clone()), &error))
                        .cloned();
                    Err(RuntimeError::Pipeline(original.unwrap_or_else(|| host::error_from_guest(error))))
                }
                Err(error) => Err(self.trap(&store, &callable.limits, error)),
            }
        })
    }

    /// Turns a trap into an error that says what the guest did.
    fn trap(&self, store: &wasmtime::Store<InvocationState>, limits: &Limits, error: wasmtime::Error) -> RuntimeError {
        let log = store.data().log();
        match error.downcast_ref::<SandboxError>() {
            Some(SandboxError::CpuBudgetExceeded { limit }) => {
                return RuntimeError::CpuBudgetExceeded { limit: *limit, log };
            }
            Some(SandboxError::MemoryExceeded { limit_bytes }) => {
                return RuntimeError::MemoryExceeded {
                    limit_mib: (*limit_bytes as u64) >> 20,
                    log,
                };
            }
            Some(SandboxError::HostMemoryExceeded { limit_bytes }) => {
                return RuntimeError::HostMemoryExceeded {
                    limit_mib: (*limit_bytes as u64) >> 20,
                    log,
                };
            }
            Some(SandboxError::TooManyObjects { limit }) => return RuntimeError::TooManyObjects { limit: *limit, log },
            None => {}
        }
        if store.data().memory.exceeded() {
            return RuntimeError::MemoryExceeded {
                limit_mib: (limits.memory_bytes as u64) >> 20,
                log,
            };
        }
        if let Some(pipeline) = error.downcast_ref::<host::HostFault>() {
            return RuntimeError::Internal {
                context: "the host failed".into(),
                reason: pipeline.to_string(),
            };
        }
        let trap = error.downcast_ref::<wasmtime::Trap>();
        if trap == Some(&wasmtime::Trap::StackOverflow) || (trap == Some(&wasmtime::Trap::MemoryOutOfBounds) && overflowed_shadow_stack(&error)) {
            return RuntimeError::StackOverflow { log };
        }
        if trap.is_none() && hostcall_fuel_exhausted(&error) {
            return RuntimeError::TooMuchData { log };
        }
        let message = match trap {
            // Rust's panic handler prints its message to stderr and then aborts with an
            // `unreachable` trap; say what happened rather than how.
            Some(_) if log.contains("panicked at") => "the module panicked (its message is below)".to_string(),
            Some(trap) => format!("{trap}"),
            None => format!("{error:#}"),
        };
        RuntimeError::Trap { message, log }
    }
}

/// Whether an out-of-bounds access was a stack overflow in disguise. Compilers for wasm32
/// (Rust, C) keep the stack in linear memory, below the data, growing down: a recursion
/// too deep walks the stack pointer under address zero, and the access that follows is
/// out of bounds. The trap itself cannot say so; its backtrace can: a stack overflow is
/// the only out-of-bounds access made from that deep in the call stack.
fn overflowed_shadow_stack(error: &wasmtime::Error) -> bool {
    error
        .downcast_ref::<wasmtime::WasmBacktrace>()
        .is_some_and(|backtrace| backtrace.frames().len() >= OVERFLOW_DEPTH)
}

/// What wasmtime 48 says when a call copies more than [`MAX_CALL_DATA`] from the module.
const HOSTCALL_FUEL_EXHAUSTED: &str = "too much data is being copied between the host and the guest: fuel allocated for hostcalls has been exhausted";

/// Whether wasmtime refused a call for copying more than [`MAX_CALL_DATA`] from the
/// module. wasmtime 48 raises this as a private type (`HostcallFuelExhausted`, in
/// `component/func/options.rs`) that cannot be downcast to, and no public flag or
/// counter records it; the narrowest public thing is that error's own message, so only
/// the root cause is compared with it, whole (never a `Debug` string, never a context
/// added above it). The test `too_much_data_between_host_and_module_is_named` pins it.
fn hostcall_fuel_exhausted(error: &wasmtime::Error) -> bool {
    error.root_cause().to_string() == HOSTCALL_FUEL_EXHAUSTED
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version_of(interfaces: &[&str]) -> Result<ApiVersion, RuntimeError> {
        api_version("module.wasm", interfaces.iter().copied())
    }

    /// A digest is remembered only for a file older than the racy window, and only while
    /// the file stays that version; completion reads the same stamp.
    #[test]
    fn a_digest_stamp_holds_while_the_file_is_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let stamps = dir.path().join("digests");
        let component = dir.path().join("module.wasm");
        std::fs::write(&component, b"first version").unwrap();
        let first = Digest::of_bytes(b"first version");
        let stamp = DigestStamp::of(&stamps, &component).unwrap();
        // Just written: a write within the file system's time granularity could go unseen.
        stamp.remember(&component, FileStamp::of_path(&component), &first);
        assert_eq!(remembered_digest(&stamps, &component), None);
        std::thread::sleep(crate::util::RACY_WINDOW + Duration::from_millis(100));
        // Changed while it was read: not remembered either.
        let mut stale = FileStamp::of_path(&component).unwrap();
        stale.size += 1;
        stamp.remember(&component, Some(stale), &first);
        assert_eq!(remembered_digest(&stamps, &component), None);
        stamp.remember(&component, FileStamp::of_path(&component), &first);
        assert_eq!(remembered_digest(&stamps, &component), Some(first));
        // Rewritten, even at the same size: the stamp no longer holds.
        std::fs::write(&component, b"other version").unwrap();
        assert_eq!(remembered_digest(&stamps, &component), None);
    }

    #[test]
    fn the_api_version_is_read_from_the_tanto_interfaces() {
        let wasi = "wasi:cli/environment@0.2.6";
        assert_eq!(
            version_of(&[wasi, "tanto:core/types@0.1.0", "tanto:core/client@0.1.0", "tanto:core/guest@0.1.0"]).unwrap(),
            ApiVersion::V0_1
        );
        // A module that never calls the API imports `types` only.
        assert_eq!(version_of(&["tanto:core/types@0.2.0", "tanto:core/guest@0.2.0"]).unwrap(), ApiVersion::V0_2);
        assert_eq!(ApiVersion::V0_2.to_string(), "tanto:core@0.2.0");
    }

    #[test]
    fn an_unserved_version_is_named_with_the_served_ones() {
        let newer = version_of(&["tanto:core/types@0.9.0", "tanto:core/guest@0.9.0"]).unwrap_err();
        assert!(matches!(&newer, RuntimeError::UnsupportedApi { found, newer: true, .. } if found == "tanto:core@0.9.0"));
        assert_eq!(
            newer.to_string(),
            "module.wasm was built against tanto:core@0.9.0, which this tanto does not serve (it serves tanto:core@0.1.0 and tanto:core@0.2.0)"
        );
        let older = version_of(&["tanto:core/types@0.0.3"]).unwrap_err();
        assert!(matches!(older, RuntimeError::UnsupportedApi { newer: false, .. }));
        let unversioned = version_of(&["tanto:core/types"]).unwrap_err();
        assert!(matches!(unversioned, RuntimeError::UnsupportedApi { newer: false, .. }));
    }

    #[test]
    fn no_or_mixed_versions_are_not_a_module() {
        let none = version_of(&["wasi:cli/environment@0.2.6", "other:plugin/log"]).unwrap_err();
        assert!(
            none.to_string()
                .ends_with("it uses no version of the tanto API (tanto:core); this tanto serves tanto:core@0.1.0 and tanto:core@0.2.0"),
            "{none}"
        );
        let mixed = version_of(&["tanto:core/types@0.1.0", "tanto:core/guest@0.2.0"]).unwrap_err();
        assert!(
            mixed
                .to_string()
                .contains("mixes versions of the tanto API (tanto:core@0.1.0, tanto:core@0.2.0)"),
            "{mixed}"
        );
    }
}
