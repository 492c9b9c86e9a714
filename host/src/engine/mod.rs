//! The lazy operation graph and its evaluation: objects ([`Container`], [`Directory`],
//! [`File`]) with structural digests, and an [`Engine`] that evaluates them on a
//! [`Backend`](crate::backend::Backend) with single-flight memoization and a persistent
//! cache keyed by content.
//!
//! Two kinds of digest are at work. A node's *structural digest* is known when the node is
//! built (kind, arguments, input digests) and keys the in-process memo. A step's *content
//! key* is known once its inputs are evaluated: it chains the resolved image id, the
//! content digests of copied and mounted directories, and the step's own arguments, and
//! keys the persistent cache. So a re-tagged base image or an edited source file changes
//! the key of every step downstream, and nothing upstream.

pub mod archive;
pub mod cache;
pub mod console;
pub mod digest;
#[doc(hidden)]
pub mod fuzzing;
pub mod locks;
pub mod objects;
pub mod progress;
pub mod remote;
pub mod sources;
pub mod tree;

mod eval;
pub(crate) use eval::check_declared_module_url;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::{OnceCell, Semaphore};

pub use self::cache::CacheStore;
pub use self::digest::Digest;
pub use self::eval::ExportError;
pub use self::objects::{CacheVolume, Container, Directory, ExecOptions, Expect, ExposedPort, File, NetworkProtocol, Secret, Service, Sharing};
pub use self::progress::{Event, NoProgress, Progress, RunningCall, RunningStep, StepOutcome, StepReporter};
pub use self::sources::{GitRef, GitRepository};
use self::tree::{HashCache, TreeError};
use crate::backend::{Backend, BackendError};
use crate::error::{Diagnose, ErrorKind, Hint};

/// Why a command failed, with the tails of its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecFailure {
    pub command: Vec<String>,
    pub exit_code: i64,
    pub stdout_tail: String,
    pub stderr_tail: String,
}

impl std::fmt::Display for ExecFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "command {} exited with code {}", display_command(&self.command), self.exit_code)?;
        if !self.stderr_tail.trim().is_empty() {
            write!(f, "\nstderr (last lines):\n{}", self.stderr_tail.trim_end())?;
        } else if !self.stdout_tail.trim().is_empty() {
            write!(f, "\nstdout (last lines):\n{}", self.stdout_tail.trim_end())?;
        }
        Ok(())
    }
}

/// Shows a command the way a shell user would type it.
pub fn display_command(command: &[String]) -> String {
    command
        .iter()
        .map(|arg| {
            if !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c)) {
                arg.clone()
            } else {
                format!("'{}'", arg.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last `lines` lines of `bytes`, at most `max_bytes` long, as text.
pub(crate) fn tail(bytes: &[u8], lines: usize, max_bytes: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut start = text.len();
    for _ in 0..=lines {
        match text[..start].trim_end_matches('\n').rfind('\n') {
            Some(index) => start = index + 1,
            None => {
                start = 0;
                break;
            }
        }
        if start == 0 {
            break;
        }
    }
    let mut tail = &text[start..];
    if tail.len() > max_bytes {
        let mut cut = tail.len() - max_bytes;
        while !tail.is_char_boundary(cut) {
            cut += 1;
        }
        tail = &tail[cut..];
    }
    tail.to_string()
}

/// An evaluation error. Cloneable because single-flight evaluation hands the same result
/// to every waiter.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    ExecFailed(Arc<ExecFailure>),
    #[error("{0}")]
    NotFound(String),
    /// An image is neither on the backend nor pullable. Guests see it as `not-found`
    /// with this message (the WIT has no variant of its own for it); the host keeps the
    /// type, so the CLI can say what to do about it.
    #[error("image {image:?} is not available locally and could not be pulled: {reason}")]
    ImageUnavailable { image: String, reason: String },
    #[error("{0}")]
    InvalidArgument(String),
    #[error(transparent)]
    Backend(BackendError),
    #[error("{0}")]
    Cancelled(String),
    /// A module's own failure, passed through from its function.
    #[error("{0}")]
    Failed(String),
    /// The cache or a local file operation failed.
    #[error("{0}")]
    Local(String),
}

impl Diagnose for EngineError {
    fn kind(&self) -> ErrorKind {
        match self {
            EngineError::ExecFailed(_)
            | EngineError::NotFound(_)
            | EngineError::ImageUnavailable { .. }
            | EngineError::InvalidArgument(_)
            | EngineError::Failed(_) => ErrorKind::Pipeline,
            EngineError::Backend(error) => error.kind(),
            EngineError::Cancelled(_) => ErrorKind::Interrupted { signal: None },
            EngineError::Local(_) => ErrorKind::Internal,
        }
    }

    fn hint(&self) -> Option<Hint> {
        match self {
            EngineError::Backend(error) => error.hint(),
            EngineError::ImageUnavailable { .. } => Some(Hint::ImageUnavailable),
            EngineError::Local(_) => Some(Hint::CheckCacheFolder),
            _ => None,
        }
    }
}

impl From<BackendError> for EngineError {
    fn from(error: BackendError) -> Self {
        match error {
            BackendError::ImageNotFound { address, reason } => EngineError::ImageUnavailable { image: address, reason },
            BackendError::PathNotFound { .. } => EngineError::NotFound(error.to_string()),
            BackendError::Cancelled => EngineError::Cancelled(error.to_string()),
            error => EngineError::Backend(error),
        }
    }
}

impl From<TreeError> for EngineError {
    fn from(error: TreeError) -> Self {
        match error {
            TreeError::NotFound(_) => EngineError::NotFound(error.to_string()),
            TreeError::Io { .. } | TreeError::Write { .. } => EngineError::Local(error.to_string()),
            _ => EngineError::InvalidArgument(error.to_string()),
        }
    }
}

/// Whether the persistent cache answers steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheMode {
    /// Steps whose content key is recorded are not run again.
    Use,
    /// Every step runs; results are recorded for the next run (`--no-cache`). The
    /// snapshots the new records replace are not removed by the run: another process may
    /// be using them at that moment. No record refers to them any more, so the next
    /// `tanto cache prune` (of any kind, or the automatic ceiling) removes them.
    Refresh,
}

/// The cache's default size ceiling (`TANTO_CACHE_MAX_SIZE`), which is also the default
/// limit of a download.
pub const DEFAULT_CACHE_CEILING: u64 = 10 << 30;

/// How an [`Engine`] is set up.
#[derive(Clone, Debug)]
pub struct EngineSettings {
    pub cache_root: PathBuf,
    pub cache_mode: CacheMode,
    /// How many steps may run on the backend at once.
    pub parallelism: usize,
    /// The largest file a module may download (`http`): the cache's size ceiling, since
    /// a download is kept in the cache.
    pub max_download: u64,
}

impl EngineSettings {
    /// The cache at its default root, used; one step per core.
    pub fn from_env() -> Self {
        Self {
            cache_root: CacheStore::default_root(),
            cache_mode: CacheMode::Use,
            parallelism: std::thread::available_parallelism().map(|count| count.get()).unwrap_or(2),
            max_download: DEFAULT_CACHE_CEILING,
        }
    }
}

/// The shared slot of one in-flight or finished evaluation.
type Flight<T> = Arc<OnceCell<Result<T, EngineError>>>;

/// One result per key, computed once however many callers ask at the same time.
pub(crate) struct SingleFlight<T> {
    cells: Mutex<HashMap<Digest, Flight<T>>>,
}

impl<T: Clone> SingleFlight<T> {
    fn new() -> Self {
        Self {
            cells: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) async fn run<F, Fut>(&self, key: Digest, compute: F) -> Result<T, EngineError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, EngineError>>,
    {
        let cell = {
            let mut cells = self.cells.lock().map_err(|_| EngineError::Local("the evaluation memo is poisoned".into()))?;
            cells.entry(key).or_default().clone()
        };
        cell.get_or_init(compute).await.clone()
    }

    /// Whether the result for `key` is computed or being computed.
    pub(crate) fn started(&self, key: &Digest) -> bool {
        self.cells
            .lock()
            .is_ok_and(|cells| cells.get(key).is_some_and(|cell| cell.initialized() || Arc::strong_count(cell) > 1))
    }

    /// Drops the result for `key`, so that the next [`SingleFlight::run`] computes it again.
    pub(crate) fn forget(&self, key: &Digest) {
        if let Ok(mut cells) = self.cells.lock() {
            cells.remove(key);
        }
    }
}

/// Evaluates pipeline objects.
pub struct Engine {
    backend: Arc<dyn Backend>,
    store: CacheStore,
    hash_cache: Arc<HashCache>,
    reporter: StepReporter,
    cache_mode: CacheMode,
    max_download: u64,
    steps: Semaphore,
    memo: eval::Memo,
    /// The services running for this run's steps.
    services: eval::Services,
    /// Keys this process uses, visible to a concurrent `tanto cache prune`; released
    /// when the run is over.
    pins: std::sync::Mutex<Option<cache::Pins>>,
    /// Names this cache on the snapshots it makes ([`CacheStore::id`]).
    cache_id: String,
    /// When this run started: the last-use time of every cache entry it touches.
    run_started: std::time::SystemTime,
    /// Whether this process added anything to the cache (the size ceiling is checked only
    /// then).
    grew: std::sync::atomic::AtomicBool,
    /// The cache's secret key, read on the first step that uses a secret.
    secret_key: std::sync::OnceLock<[u8; 32]>,
    /// Whether cached steps' snapshots still exist: asked one image at a time for the
    /// first few, then answered by one listing of the cache's snapshots.
    snapshot_checks: eval::SnapshotChecks,
    /// The shared cache in a registry, if any, and what this run did with it.
    registry_cache: std::sync::RwLock<remote::RegistryCache>,
    ledger: remote::Ledger,
    /// The user's terminal, when tanto has one, and whether failed steps open a shell.
    console: std::sync::OnceLock<(Arc<dyn console::Console>, console::FailureShell)>,
    /// Taken by each shell while it runs: they use the terminal one after the other.
    shell_turn: tokio::sync::Mutex<()>,
    /// The failure a shell was opened for (`--interactive`): the run ends with it.
    debugged: std::sync::OnceLock<EngineError>,
}

impl Engine {
    pub fn new(backend: Arc<dyn Backend>, settings: EngineSettings, progress: Arc<dyn Progress>) -> Self {
        let store = CacheStore::new(&settings.cache_root);
        let hash_cache = Arc::new(HashCache::load_sources(&settings.cache_root.join("hashes.json"), &settings.cache_root));
        Self {
            backend,
            cache_id: store.id(),
            store,
            hash_cache,
            reporter: StepReporter::new(progress),
            cache_mode: settings.cache_mode,
            max_download: settings.max_download,
            steps: Semaphore::new(settings.parallelism.max(1)),
            memo: eval::Memo::default(),
            services: eval::Services::default(),
            pins: std::sync::Mutex::new(
                cache::Pins::create(&CacheStore::new(&settings.cache_root), &crate::util::process_unique_id())
                    .inspect_err(|error| tracing::debug!(%error, "cannot create the pin file; a concurrent prune may remove what this run uses"))
                    .ok(),
            ),
            grew: std::sync::atomic::AtomicBool::new(false),
            secret_key: std::sync::OnceLock::new(),
            snapshot_checks: eval::SnapshotChecks::default(),
            console: std::sync::OnceLock::new(),
            shell_turn: tokio::sync::Mutex::new(()),
            debugged: std::sync::OnceLock::new(),
            run_started: std::time::SystemTime::now(),
            registry_cache: std::sync::RwLock::new(remote::RegistryCache::default()),
            ledger: remote::Ledger::default(),
        }
    }

    /// Numbers and reports steps; work outside the graph (module builds) reports through
    /// it too.
    pub fn reporter(&self) -> &StepReporter {
        &self.reporter
    }

    /// Lends the engine the user's terminal for interactive shells; `failure_shell` says
    /// whether a failed step opens one (`--interactive`). Set once, before evaluating.
    pub fn set_console(&self, console: Arc<dyn console::Console>, failure_shell: console::FailureShell) {
        if self.console.set((console, failure_shell)).is_err() {
            tracing::debug!("the engine's console was set twice; the first stays");
        }
    }

    /// Whether interactive shells can open.
    pub fn has_console(&self) -> bool {
        self.console.get().is_some()
    }

    /// The failure a shell was opened for under `--interactive`: once the user leaves
    /// that shell, the run ends with this failure, even if a module handled the error.
    pub fn debugged_failure(&self) -> Option<EngineError> {
        self.debugged.get().cloned()
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    pub fn store(&self) -> &CacheStore {
        &self.store
    }

    /// The file-hash cache, shared with whoever snapshots host directories.
    pub fn hash_cache(&self) -> &HashCache {
        &self.hash_cache
    }

    /// Reads steps from and writes them to a registry (set before anything is evaluated).
    pub fn set_registry_cache(&self, cache: remote::RegistryCache) {
        if let Ok(mut current) = self.registry_cache.write() {
            *current = cache;
        }
    }

    pub fn registry_cache(&self) -> remote::RegistryCache {
        self.registry_cache.read().map(|cache| cache.clone()).unwrap_or_default()
    }

    /// Pushes the steps this run used (and that depend on no secret) to the `--cache-to`
    /// repository: their snapshots and records. A step that cannot be pushed is a warning;
    /// the run's result stands.
    pub async fn push_to_registry(&self) -> Option<remote::PushReport> {
        let cache = self.registry_cache();
        let repository = cache.to.as_deref()?;
        let skip_pulled = cache.from.as_deref() == Some(repository);
        Some(remote::push(self.backend.as_ref(), &self.store, &self.ledger, repository, skip_pulled).await)
    }

    /// Whether this process recorded new entries in the cache.
    pub fn cache_grew(&self) -> bool {
        self.grew.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn pin(&self, key: &Digest) {
        if let Ok(pins) = self.pins.lock()
            && let Some(pins) = pins.as_ref()
        {
            pins.pin(key);
        }
    }

    /// Lets go of everything this process pinned: the run is over, and what it used is
    /// now fair game for pruning like anything else.
    pub fn release_pins(&self) {
        if let Ok(mut pins) = self.pins.lock() {
            pins.take();
        }
    }

    /// Saves what is worth keeping between runs (the file-hash cache).
    pub fn persist(&self) {
        if let Err(error) = self.hash_cache.save(&self.store.root().join("hashes.json")) {
            tracing::debug!(%error, "could not save the file-hash cache");
        }
    }
}

#[cfg(test)]
mod tests;
