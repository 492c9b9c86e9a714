//! A session: the backend, the engine and the wasmtime runtime of one `tanto` process,
//! and loading a module from its folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::backend::Backend;
use crate::backend::docker::DockerBackend;
use crate::engine::{CacheMode, Engine, EngineSettings, Progress};
use crate::module::build::build_rust_module;
use crate::module::{Manifest, Sdk, find_module_root};
use crate::runtime::{Limits, LoadedModule, ModuleSchema, Runtime, RuntimeSettings};

/// How a session is set up.
#[derive(Clone, Debug)]
pub struct SessionSettings {
    pub cache_root: PathBuf,
    pub cache_mode: CacheMode,
    pub parallelism: usize,
    /// Limits for modules that do not set their own in `tanto.toml`.
    pub limits: Limits,
    /// The cache is pruned back under this size after a run that grew it past it.
    pub max_cache_size: u64,
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
}

/// A module loaded and described.
pub struct LoadedSchema {
    pub root: PathBuf,
    pub manifest: Option<Manifest>,
    pub module: LoadedModule,
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
}

impl Session {
    pub fn new(settings: SessionSettings, progress: Arc<dyn Progress>) -> Self {
        // TANTO_SESSION lets tooling (a CI job, the test suite) find what one invocation
        // made; by default every process is its own session.
        let session_id = std::env::var("TANTO_SESSION").ok().filter(|id| !id.is_empty()).unwrap_or_else(|| {
            format!(
                "{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or(0)
            )
        });
        let backend = Arc::new(DockerBackend::new(session_id));
        let engine_settings = EngineSettings {
            cache_root: settings.cache_root.clone(),
            cache_mode: settings.cache_mode,
            parallelism: settings.parallelism,
        };
        let pipeline = Arc::new(Engine::new(backend.clone() as Arc<dyn Backend>, engine_settings, progress));
        Self { settings, backend, pipeline }
    }

    fn runtime(&self, limits: Limits) -> anyhow::Result<Arc<Runtime>> {
        let runtime = Runtime::new(RuntimeSettings {
            compiled_cache: self.settings.cache_root.join("components"),
            limits,
        })?;
        Ok(Arc::new(runtime))
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
                let (wasm, build_time) = build(path, &manifest, &self.settings.cache_root)?;
                (path.clone(), Some(manifest), wasm, build_time)
            }
            ModuleLocation::Search(start) => {
                let root = find_module_root(start)?;
                let manifest = Manifest::read(&root)?;
                let (wasm, build_time) = build(&root, &manifest, &self.settings.cache_root)?;
                (root, Some(manifest), wasm, build_time)
            }
        };
        let mut limits = self.settings.limits.clone();
        if let Some(module_limits) = manifest.as_ref().and_then(|manifest| manifest.limits.as_ref()) {
            if let Some(seconds) = module_limits.cpu_seconds {
                limits.cpu_time = Duration::from_secs_f64(seconds.max(0.0));
            }
            if let Some(mib) = module_limits.memory_mib {
                limits.memory_bytes = usize::try_from(mib << 20).unwrap_or(usize::MAX);
            }
        }
        let located = started.elapsed();
        let runtime = self.runtime(limits)?;
        let bytes = std::fs::read(&wasm).with_context(|| format!("cannot read the component {}", wasm.display()))?;
        let module = runtime.load(&wasm, &bytes)?;
        let loaded = started.elapsed();
        let schema = runtime.describe(&module, self.pipeline.clone()).await?;
        tracing::debug!(
            target: "tanto::timing",
            "module: found and build checked in {:.1} ms, component loaded in {:.1} ms ({}), described in {:.2} ms",
            located.as_secs_f64() * 1e3,
            (loaded - located).as_secs_f64() * 1e3,
            if module.load.compiled_cache_hit { "compiled cache hit" } else { "compiled now" },
            (started.elapsed() - loaded).as_secs_f64() * 1e3
        );
        Ok(LoadedSchema {
            root,
            manifest,
            module,
            schema,
            runtime,
            build_time,
        })
    }

    /// Removes whatever this session left on the backend and saves caches.
    pub async fn close(&self) {
        let started = Instant::now();
        self.pipeline.persist();
        if let Err(error) = self.backend.cleanup().await {
            tracing::warn!(%error, "cleanup failed");
        }
        tracing::debug!(target: "tanto::timing", "close: caches saved and backend cleaned in {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
    }
}

fn build(root: &Path, manifest: &Manifest, cache_root: &Path) -> anyhow::Result<(PathBuf, Duration)> {
    match manifest.sdk {
        Sdk::Rust => {
            let built = build_rust_module(&root.join(&manifest.source), cache_root)?;
            Ok((built.wasm, if built.rebuilt { built.duration } else { Duration::ZERO }))
        }
    }
}
