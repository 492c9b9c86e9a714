//! A session: the backend, the engine and the wasmtime runtime of one `tanto` process,
//! and loading a module from its folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Hint, UsageError};

use super::deps::{DependencySettings, GitModule, ModuleDependencies, checkout_remote, component_of, limits_of, read_dependency_manifest};
use crate::backend::Backend;
use crate::backend::docker::DockerBackend;
use crate::engine::{CacheMode, Engine, EngineSettings, Progress, StepReporter};
use crate::module::build::build_module;
use crate::module::sandbox::UnsandboxedBuilds;
use crate::module::{Manifest, find_module_root};
use crate::runtime::{Callable, Limits, LoadFileError, ModuleSchema, NoDependencies, Runtime, RuntimeSettings};
use tanto_registry::reference::Reference;
use tanto_registry::resolve::Network;

/// How a session is set up.
#[derive(Clone, Debug)]
pub struct SessionSettings {
    pub cache_root: PathBuf,
    pub cache_mode: CacheMode,
    pub parallelism: usize,
    /// The limits the caller grants (flags or defaults); a module's own `[limits]` in
    /// `tanto.toml` can only lower them.
    pub limits: Limits,
    /// The cache is pruned back under this size after a run that grew it past it.
    pub max_cache_size: u64,
    /// `Offline`: dependencies and remote modules come from the local cache only.
    pub network: Network,
    /// Whether third-party modules may be built unconfined when no sandbox can be made
    /// (`--allow-unsandboxed-builds`).
    pub unsandboxed_builds: UnsandboxedBuilds,
    /// The shared cache in a registry given by flags or the environment (a module's
    /// `[cache]` fills what they leave unset).
    pub registry_cache: crate::engine::remote::RegistryCache,
}

impl SessionSettings {
    pub fn from_env() -> Self {
        let engine = EngineSettings::from_env();
        let max_cache_size = super::cache::max_size_from_env().unwrap_or_else(|error| {
            tracing::warn!("{error}; using the default ceiling");
            super::cache::DEFAULT_MAX_SIZE
        });
        Self {
            cache_root: engine.cache_root,
            cache_mode: engine.cache_mode,
            parallelism: engine.parallelism,
            limits: Limits::default(),
            max_cache_size,
            network: Network::Online,
            unsandboxed_builds: UnsandboxedBuilds::Refuse,
            registry_cache: Default::default(),
        }
    }
}

/// Where a module is.
#[derive(Clone, Debug)]
pub enum ModuleLocation {
    /// The nearest `tanto.toml` at or above this folder.
    Search(PathBuf),
    /// A module folder or a `.wasm` component file.
    Path(PathBuf),
    /// A module in a git repository (`github.com/acme/ci/golang@^1`).
    Remote(Reference),
}

/// A module loaded and described.
pub struct LoadedSchema {
    pub root: PathBuf,
    pub manifest: Option<Manifest>,
    pub callable: Callable,
    pub schema: ModuleSchema,
    pub runtime: Arc<Runtime>,
    /// Time spent building (zero when the build stamp was fresh).
    pub build_time: Duration,
}

/// The backend, engine and runtime of one process.
pub struct Session {
    pub settings: SessionSettings,
    pub backend: Arc<DockerBackend>,
    pub pipeline: Arc<Engine>,
    runtime: std::sync::OnceLock<Arc<Runtime>>,
}

impl Session {
    pub fn new(settings: SessionSettings, progress: Arc<dyn Progress>) -> Self {
        // TANTO_SESSION lets tooling (a CI job, the test suite) find what one invocation
        // made; by default every process is its own session.
        let session_id = std::env::var("TANTO_SESSION")
            .ok()
            .filter(|id| !id.is_empty())
            .unwrap_or_else(crate::util::process_unique_id);
        let backend = Arc::new(DockerBackend::new(session_id));
        // Held before anything is created, so that whatever this process leaves behind
        // if it is killed is swept by the next run or prune.
        if let Err(error) = crate::engine::locks::hold_owner(&settings.cache_root, &backend.address()) {
            tracing::warn!(%error, "cannot lock this process's owner file; what it leaves behind if killed will not be swept");
        }
        let engine_settings = EngineSettings {
            cache_root: settings.cache_root.clone(),
            cache_mode: settings.cache_mode,
            parallelism: settings.parallelism,
            max_download: settings.max_cache_size,
        };
        let pipeline = Arc::new(Engine::new(backend.clone() as Arc<dyn Backend>, engine_settings, progress));
        pipeline.set_registry_cache(settings.registry_cache.clone());
        Self {
            settings,
            backend,
            pipeline,
            runtime: std::sync::OnceLock::new(),
        }
    }

    /// The process's one wasmtime runtime, made on first use.
    pub fn runtime(&self) -> anyhow::Result<Arc<Runtime>> {
        if let Some(runtime) = self.runtime.get() {
            return Ok(runtime.clone());
        }
        let runtime = Arc::new(Runtime::new(RuntimeSettings {
            compiled_cache: super::module_cache::ModuleCache::new(&self.settings.cache_root).compiled_dir(),
            digest_stamps: super::module_cache::ModuleCache::new(&self.settings.cache_root).digests_dir(),
        })?);
        Ok(self.runtime.get_or_init(|| runtime).clone())
    }

    fn dependency_settings(&self) -> DependencySettings {
        DependencySettings {
            cache_root: self.settings.cache_root.clone(),
            network: self.settings.network,
            limits: self.settings.limits.clone(),
            unsandboxed: self.settings.unsandboxed_builds,
            reporter: self.pipeline.reporter().clone(),
        }
    }

    /// Finds, builds (if its sources changed), loads and describes a module.
    pub async fn load(&self, location: &ModuleLocation) -> anyhow::Result<LoadedSchema> {
        let started = Instant::now();
        let (root, manifest, wasm, build_time) = match location {
            ModuleLocation::Path(path) if path.extension().is_some_and(|extension| extension == "wasm") || path.is_file() => {
                (path.parent().map(Path::to_path_buf).unwrap_or_default(), None, path.clone(), Duration::ZERO)
            }
            ModuleLocation::Path(path) => {
                let manifest = Manifest::read(path)?;
                let (wasm, build_time) = build(path, &manifest, &self.settings.cache_root, self.settings.network, self.pipeline.reporter())?;
                (path.clone(), Some(manifest), wasm, build_time)
            }
            ModuleLocation::Search(start) => {
                let root = find_module_root(start)?;
                let manifest = Manifest::read(&root)?;
                let (wasm, build_time) = build(&root, &manifest, &self.settings.cache_root, self.settings.network, self.pipeline.reporter())?;
                (root, Some(manifest), wasm, build_time)
            }
            ModuleLocation::Remote(reference) => {
                let settings = self.dependency_settings();
                let name = reference.to_string();
                let reference = reference.clone();
                let root = tokio::task::spawn_blocking(move || checkout_remote(&reference, &settings)).await??;
                let manifest = read_dependency_manifest(&root, &name)?;
                let built = Instant::now();
                let (root_for_build, manifest_for_build, cache_root) = (root.clone(), manifest.clone(), self.settings.cache_root.clone());
                let commit = root.ancestors().find_map(|dir| {
                    dir.file_name()
                        .and_then(|name| name.to_str())
                        .filter(|name| name.len() == 40)
                        .map(str::to_string)
                });
                let build_settings = self.dependency_settings().build();
                let obtained = tokio::task::spawn_blocking(move || {
                    let git = commit.map(|commit| GitModule {
                        name,
                        commit,
                        path: root_for_build.clone(),
                    });
                    component_of(&root_for_build, &manifest_for_build, git.as_ref(), None, &cache_root, build_settings)
                })
                .await??;
                let wasm = obtained.wasm;
                (root, Some(manifest), wasm, built.elapsed())
            }
        };
        let (limits, dependencies) = match &manifest {
            Some(manifest) => (
                limits_of(manifest, &self.settings.limits),
                ModuleDependencies::for_project(&root, manifest, self.dependency_settings()),
            ),
            None => (self.settings.limits.clone(), Arc::new(NoDependencies) as Arc<dyn crate::runtime::Dependencies>),
        };
        let located = started.elapsed();
        let runtime = self.runtime()?;
        // The component is the user's (`-m x.wasm`) or what their module's build wrote.
        let module = runtime.load_file(&wasm).map_err(|error| match error {
            LoadFileError::Read { path, source } => {
                UsageError::with_hint(format!("cannot read the component {}: {source}", path.display()), Hint::CheckModulePath).into()
            }
            LoadFileError::Load(error) => anyhow::Error::from(error),
        })?;
        let loaded = started.elapsed();
        let compiled_cache_hit = module.load.compiled_cache_hit;
        let callable = Callable { module, limits, dependencies };
        let schema = runtime.describe(&callable, self.pipeline.clone()).await?;
        super::module_cache::ModuleCache::new(&self.settings.cache_root).store_schema(&callable.module.digest, &schema);
        tracing::debug!(
            target: "tanto::timing",
            "module: found and build checked in {:.1} ms, component loaded in {:.1} ms ({}), described in {:.2} ms",
            located.as_secs_f64() * 1e3,
            (loaded - located).as_secs_f64() * 1e3,
            if compiled_cache_hit { "compiled cache hit" } else { "compiled now" },
            (started.elapsed() - loaded).as_secs_f64() * 1e3
        );
        Ok(LoadedSchema {
            root,
            manifest,
            callable,
            schema,
            runtime,
            build_time,
        })
    }

    /// Removes what ended `tanto` processes (killed, crashed) left behind on the backend
    /// and in the cache's work folders, and says so.
    pub async fn sweep_orphans(&self) {
        let report = super::cache::sweep_orphans(self.pipeline.store(), self.pipeline.backend().as_ref()).await;
        if !report.is_empty() {
            tracing::warn!("{report}");
        }
    }

    /// Removes whatever this session left on the backend and saves caches.
    pub async fn close(&self) {
        let started = Instant::now();
        self.pipeline.persist();
        // Measuring a cache that grew reads all its records: done while the backend
        // removes this run's containers, which mostly waits for the daemon.
        let (store, backend) = (self.pipeline.store(), self.pipeline.backend());
        let measured = async {
            if self.pipeline.cache_grew() {
                Some(super::cache::usage(store, backend.as_ref()).await.held.bytes())
            } else {
                None
            }
        };
        let (cleaned, used) = tokio::join!(self.backend.cleanup(), measured);
        if let Err(error) = &cleaned {
            tracing::warn!(%error, "cleanup failed; the next run removes what is left");
        }
        // The run is over: what it used may go like anything else if the cache grew past
        // its ceiling (least recently used first, so this run's entries go last).
        self.pipeline.release_pins();
        if let Some(used) = used {
            super::cache::enforce_ceiling(store, backend.as_ref(), self.settings.max_cache_size, used).await;
        }
        // Kept when cleanup failed: once this process ends, the owner file is free and the
        // next run or prune sweeps what is left.
        if cleaned.is_ok() {
            crate::engine::locks::release_owner(&self.settings.cache_root);
        }
        tracing::debug!(target: "tanto::timing", "close: caches saved and backend cleaned in {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
    }
}

/// The module's component: its prebuilt one when tanto.toml names one (`component =
/// "..."`, made by the module's own tool: componentize-js, clang), else its build from
/// source, which runs only when the sources changed.
fn build(root: &Path, manifest: &Manifest, cache_root: &Path, network: Network, reporter: &StepReporter) -> anyhow::Result<(PathBuf, Duration)> {
    if let Some(component) = &manifest.component {
        let wasm = root.join(component);
        if !wasm.is_file() {
            // A JavaScript module with a package.json (as `tanto init` writes) builds with npm.
            let how = if manifest.sdk == crate::module::Sdk::Javascript && root.join("package.json").is_file() {
                " (`npm install && npm run build`)"
            } else {
                ""
            };
            let message = format!(
                "{} names the prebuilt component `{}`, and {} does not exist: build the module with its own tool first{how}",
                root.join(crate::module::manifest::MANIFEST_NAME).display(),
                component.display(),
                wasm.display()
            );
            return Err(UsageError::with_hint(message, Hint::BuildComponent).into());
        }
        return Ok((wasm, Duration::ZERO));
    }
    let built = build_module(manifest.sdk, &root.join(&manifest.source), cache_root, network, reporter)?;
    Ok((built.wasm, if built.rebuilt { built.duration } else { Duration::ZERO }))
}
