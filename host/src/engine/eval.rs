//! Evaluation of the graph: snapshots, exec steps, trees and files, each memoized by
//! structural digest (single flight) and, for steps that touch the backend, cached on
//! disk by content key.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use futures_util::future::{try_join, try_join_all};

use super::cache::{Body, CachedStep, StepWriter};
use super::digest::{Digest, Hasher};
use super::objects::{
    ConfigEdits, Container, CopySource, DirKind, Directory, ExecNode, Expect, File, FileKind, FsKind, FsNode, MountSource, Sharing, join_absolute,
};
use super::progress::{Event, StepOutcome};
use super::tree::{FileEntry, Filter, IgnoreFiles, Tree, normalize_relative};
use super::{Engine, EngineError, ExecFailure, SingleFlight, display_command, tail};
use crate::backend::{self, BackendError, CommitSpec, ImageConfig, OutputSink, RunSpec, Stream};

type Eval<'a, T> = Pin<Box<dyn Future<Output = Result<T, EngineError>> + Send + 'a>>;

/// A materialized root filesystem.
#[derive(Clone, Debug)]
pub(crate) struct Snapshot {
    /// The backend image holding it.
    pub image: String,
    /// Its content key.
    pub key: Digest,
    /// The configuration of the image the filesystem started from (`from`).
    pub base: Arc<ImageConfig>,
}

/// A result of an exec step. Its outputs stay in the cache's files until asked for.
#[derive(Clone, Debug)]
pub(crate) struct ExecResult {
    pub snapshot: Snapshot,
    pub exit_code: i64,
    pub stdout: Body,
    pub stderr: Body,
}

/// A snapshot plus the copies not yet applied to it: an exec step applies them in its own
/// container instead of committing an intermediate image.
struct Pending {
    base: Snapshot,
    copies: Vec<PendingCopy>,
    key: Digest,
}

struct PendingCopy {
    /// Absolute, normalized.
    destination: String,
    content: CopyContent,
}

enum CopyContent {
    Tree(Arc<Tree>),
    File(FileEntry),
}

impl CopyContent {
    fn digest(&self) -> Digest {
        match self {
            CopyContent::Tree(tree) => tree.digest(),
            CopyContent::File(file) => {
                let mut hasher = Hasher::new("copied-file");
                hasher.u64(u64::from(file.mode)).digest(&file.hash);
                hasher.finish()
            }
        }
    }
}

#[derive(Default)]
pub(crate) struct Memo {
    snapshots: SingleFlightDefault<Snapshot>,
    execs: SingleFlightDefault<ExecResult>,
    trees: SingleFlightDefault<Arc<Tree>>,
    files: SingleFlightDefault<FileEntry>,
    images: SingleFlightDefault<String>,
}

struct SingleFlightDefault<T>(SingleFlight<T>);

impl<T: Clone> Default for SingleFlightDefault<T> {
    fn default() -> Self {
        Self(SingleFlight::new())
    }
}

/// `/`-rooted normal form of an absolute path.
fn normalize_absolute(path: &str) -> Result<String, EngineError> {
    Ok(format!("/{}", normalize_relative(path)?))
}

fn local_error(context: &str) -> impl FnOnce(std::io::Error) -> EngineError + '_ {
    move |error| EngineError::Local(format!("{context}: {error}"))
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T, EngineError> + Send + 'static) -> Result<T, EngineError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| EngineError::Local(format!("a background task failed: {error}")))?
}

/// Streams a running step's output to its files in the cache and to the progress sink;
/// only the writer's bounded tails stay in memory.
struct StepSink<'a> {
    engine: &'a Engine,
    id: u64,
    writer: std::sync::Mutex<StepWriter>,
}

impl OutputSink for StepSink<'_> {
    fn output(&self, stream: Stream, bytes: &[u8]) {
        if let Ok(mut writer) = self.writer.lock() {
            writer.write(stream, bytes);
        }
        self.engine.progress.event(Event::StepOutput { id: self.id, stream, bytes });
    }
}

impl Engine {
    fn step_id(&self) -> u64 {
        self.next_step.fetch_add(1, Ordering::Relaxed)
    }

    /// The labels of the snapshot of step `key`: its key, and the cache whose prune may
    /// remove it once no record refers to it.
    fn snapshot_labels(&self, key: &Digest) -> BTreeMap<String, String> {
        BTreeMap::from([
            (backend::SNAPSHOT_LABEL.to_string(), key.to_string()),
            (backend::CACHE_LABEL.to_string(), self.cache_id.clone()),
        ])
    }

    fn finish_step(&self, id: u64, description: &str, outcome: StepOutcome, log: Option<&Path>) {
        self.progress.event(Event::StepFinished { id, description, outcome, log });
    }

    // ---- root filesystems -------------------------------------------------------------

    /// Materializes a root filesystem as a snapshot image.
    pub(crate) fn eval_fs<'a>(&'a self, node: &'a Arc<FsNode>) -> Eval<'a, Snapshot> {
        Box::pin(self.memo.snapshots.0.run(node.digest, move || async move {
            match &node.kind {
                FsKind::Scratch => {
                    let image = self.backend.scratch_image().await?;
                    let mut hasher = Hasher::new("scratch-snapshot");
                    hasher.str(&image.id);
                    Ok(Snapshot {
                        image: image.id,
                        key: hasher.finish(),
                        base: Arc::new(image.config),
                    })
                }
                FsKind::Image { address } => {
                    let image = self.backend.resolve_image(address).await?;
                    let mut hasher = Hasher::new("image-snapshot");
                    hasher.str(&image.id);
                    Ok(Snapshot {
                        image: image.id,
                        key: hasher.finish(),
                        base: Arc::new(image.config),
                    })
                }
                FsKind::Exec(exec) => Ok(self.eval_exec(exec).await?.snapshot),
                FsKind::Copy { .. } => {
                    let pending = self.eval_pending(node).await?;
                    self.commit_pending(pending).await
                }
            }
        }))
    }

    /// A root filesystem as a materialized base plus the copies still to apply.
    fn eval_pending<'a>(&'a self, node: &'a Arc<FsNode>) -> Eval<'a, Pending> {
        Box::pin(async move {
            match &node.kind {
                FsKind::Copy { parent, path, workdir, source } => {
                    let (mut pending, content) = try_join(self.eval_pending(parent), self.eval_copy_source(source)).await?;
                    let edits = ConfigEdits {
                        workdir: workdir.clone(),
                        ..Default::default()
                    };
                    let destination = normalize_absolute(&join_absolute(&edits.workdir_in(&pending.base.base), path))?;
                    let mut hasher = Hasher::new("copy-key");
                    hasher.digest(&pending.key).str(&destination).digest(&content.digest());
                    pending.key = hasher.finish();
                    pending.copies.push(PendingCopy { destination, content });
                    Ok(pending)
                }
                _ => {
                    let snapshot = self.eval_fs(node).await?;
                    Ok(Pending {
                        key: snapshot.key,
                        base: snapshot,
                        copies: Vec::new(),
                    })
                }
            }
        })
    }

    async fn eval_copy_source(&self, source: &CopySource) -> Result<CopyContent, EngineError> {
        match source {
            CopySource::Directory { directory, include, exclude } => {
                let tree = self.eval_tree(directory).await?;
                let filter = Filter::new(include, exclude)?;
                Ok(CopyContent::Tree(if filter.is_empty() { tree } else { Arc::new(tree.filtered(&filter)) }))
            }
            CopySource::File { file, permissions } => {
                let mut entry = self.eval_file(file).await?;
                if let Some(mode) = permissions {
                    entry.mode = *mode;
                }
                Ok(CopyContent::File(entry))
            }
        }
    }

    async fn archives(copies: Vec<PendingCopyRef>) -> Result<Vec<Vec<u8>>, EngineError> {
        blocking(move || {
            copies
                .into_iter()
                .map(|copy| match copy.content {
                    CopyContentRef::Tree(tree) => Ok(tree.to_tar(&copy.destination)?),
                    CopyContentRef::File(file) => file_archive(&copy.destination, &file),
                })
                .collect()
        })
        .await
    }

    async fn commit_pending(&self, pending: Pending) -> Result<Snapshot, EngineError> {
        if pending.copies.is_empty() {
            return Ok(pending.base);
        }
        let key = pending.key;
        let base = pending.base.base.clone();
        let _lock = match self.cached_or_lock(&key).await? {
            Lookup::Cached(step) => return Ok(Snapshot { image: step.image, key, base }),
            Lookup::Missing(lock) => lock,
        };
        let archives = Self::archives(pending.copies.iter().map(PendingCopyRef::from).collect()).await?;
        let image = self
            .commit_snapshot(
                &key,
                CommitSpec {
                    image: pending.base.image.clone(),
                    archives,
                    config: (*base).clone(),
                    snapshot_labels: self.snapshot_labels(&key),
                },
            )
            .await?;
        Ok(Snapshot { image, key, base })
    }

    /// Commits `spec` (no command runs) and records the image as the snapshot of `key`.
    async fn commit_snapshot(&self, key: &Digest, spec: CommitSpec) -> Result<String, EngineError> {
        let image = self.backend.commit(spec).await?;
        self.record_snapshot(key, &image).await;
        Ok(image)
    }

    /// Records `image` as the snapshot of `key`, a step with no command and no output. A
    /// failure only costs the next run a re-commit.
    async fn record_snapshot(&self, key: &Digest, image: &str) {
        let store = self.store.clone();
        let (recorded_key, recorded_image) = (*key, image.to_string());
        if let Err(error) = blocking(move || {
            store
                .put_snapshot(&recorded_key, &recorded_image)
                .map_err(local_error("cannot record a snapshot"))
        })
        .await
        {
            tracing::warn!(%error, "could not record a step in the cache");
        } else {
            self.recorded(key);
        }
    }

    /// The recorded step `key` whose snapshot still exists, or else the key's lock: this
    /// process then runs the step and publishes it (snapshot, then record) before the
    /// lock goes, while other processes needing the same key wait for the lock and read
    /// the record. Waiting happens before a `-j` slot is taken, so it holds none.
    async fn cached_or_lock(&self, key: &Digest) -> Result<Lookup, EngineError> {
        if let Some(step) = self.cached_step(key).await? {
            return Ok(Lookup::Cached(step));
        }
        // Pinned before the lock, so from here to the record a prune leaves the snapshot
        // this process is about to commit alone.
        self.pin(key);
        let lock = super::locks::KeyLock::acquire(self.store.root(), key)
            .await
            .map_err(local_error("cannot lock a cache entry"))?;
        match self.cached_step(key).await? {
            Some(step) => Ok(Lookup::Cached(step)),
            None => Ok(Lookup::Missing(lock)),
        }
    }

    async fn cached_step(&self, key: &Digest) -> Result<Option<CachedStep>, EngineError> {
        if self.cache_mode == super::CacheMode::Refresh {
            return Ok(None);
        }
        // Pinned before it is checked, so a concurrent prune either sees the pin or has
        // already removed the image (and the check below notices).
        self.pin(key);
        let store = self.store.clone();
        let lookup = *key;
        let Some(step) = blocking(move || Ok(store.get_step(&lookup))).await? else {
            return Ok(None);
        };
        if self.backend.image_exists(&step.image).await? {
            self.store.touch_step(key, self.run_started);
            Ok(Some(step))
        } else {
            // Removed behind tanto's back (`docker rmi`): the step runs again and its new
            // record replaces this one. A run never removes records; only prune does.
            Ok(None)
        }
    }

    /// Publishes a step's record: its outputs are in the cache from now on, and only there.
    async fn record(&self, key: &Digest, image: &str, exit_code: i64, outputs: super::cache::StepOutputs) -> Result<CachedStep, EngineError> {
        let store = self.store.clone();
        let (recorded_key, image) = (*key, image.to_string());
        let step = blocking(move || {
            store
                .put_step(&recorded_key, &image, exit_code, outputs)
                .map_err(local_error("cannot record the step's output in the cache"))
        })
        .await?;
        self.recorded(key);
        Ok(step)
    }

    fn recorded(&self, key: &Digest) {
        self.pin(key);
        self.grew.store(true, Ordering::Relaxed);
        self.store.touch_step(key, self.run_started);
    }

    // ---- exec steps -------------------------------------------------------------------

    pub(crate) fn eval_exec<'a>(&'a self, exec: &'a Arc<ExecNode>) -> Eval<'a, ExecResult> {
        Box::pin(self.memo.execs.0.run(exec.digest, move || self.run_exec(exec)))
    }

    async fn run_exec(&self, exec: &Arc<ExecNode>) -> Result<ExecResult, EngineError> {
        let mount_sources = try_join_all(exec.mounts.iter().map(|mount| async move {
            let resolved = match &mount.source {
                MountSource::Directory(directory) => ResolvedMount::Directory(self.eval_tree(directory).await?),
                MountSource::Cache { volume, sharing } => ResolvedMount::Cache {
                    key: volume.key().to_string(),
                    sharing: *sharing,
                },
                MountSource::Temp => ResolvedMount::Temp,
            };
            Ok::<_, EngineError>((mount.path.clone(), resolved))
        }));
        let (pending, mount_sources) = try_join(self.eval_pending(&exec.rootfs), mount_sources).await?;
        let config = exec.config.apply(&pending.base.base);
        let workdir = config.workdir.clone().unwrap_or_else(|| "/".into());
        let command = exec_command(&exec.args, &config, exec.options.use_entrypoint)?;
        let mut mounts = Vec::new();
        for (path, source) in mount_sources {
            mounts.push((normalize_absolute(&join_absolute(&workdir, &path))?, source));
        }

        let mut hasher = Hasher::new("exec-key");
        hasher
            .digest(&pending.key)
            .strs(&command)
            .strs(&config.env)
            .str(&workdir)
            .opt_str(config.user.as_deref());
        hasher.u64(mounts.len() as u64);
        for (path, source) in &mounts {
            hasher.str(path);
            match source {
                ResolvedMount::Directory(tree) => hasher.str("directory").digest(&tree.digest()),
                // The key, never the contents: a cache volume is an accelerator, not an input.
                ResolvedMount::Cache { key, sharing } => hasher.str("cache").str(key).str(sharing.name()),
                ResolvedMount::Temp => hasher.str("temp"),
            };
        }
        hasher.str(match exec.options.expect {
            Expect::Success => "success",
            Expect::Failure => "failure",
            Expect::Any => "any",
        });
        hasher.opt_str(exec.options.stdin.as_deref());
        let key = hasher.finish();

        let description = display_command(&command);
        let id = self.step_id();
        let base = pending.base.base.clone();
        // Held until the step is recorded.
        let _lock = match self.cached_or_lock(&key).await? {
            Lookup::Cached(step) => {
                self.finish_step(id, &description, StepOutcome::Cached, step.stdout.path.parent());
                return Ok(ExecResult {
                    snapshot: Snapshot { image: step.image, key, base },
                    exit_code: step.exit_code,
                    stdout: step.stdout,
                    stderr: step.stderr,
                });
            }
            Lookup::Missing(lock) => lock,
        };

        let _permit = self
            .steps
            .acquire()
            .await
            .map_err(|_| EngineError::Cancelled("the engine is shutting down".into()))?;
        let writer = self
            .store
            .begin_step()
            .map_err(local_error("cannot create a work folder for the step's output"))?;
        let sink = StepSink {
            engine: self,
            id,
            writer: std::sync::Mutex::new(writer),
        };
        self.progress.event(Event::StepStarted { id, description: &description });
        let started = Instant::now();
        let result = self.run_exec_on_backend(exec, &pending, config, command.clone(), &mounts, key, &sink).await;
        let elapsed = started.elapsed();
        let failed = |log: Option<&Path>| self.finish_step(id, &description, StepOutcome::Failed(elapsed), log);
        let writer = sink
            .writer
            .into_inner()
            .map_err(|_| EngineError::Local("the step's output writer is poisoned".into()));
        let (outcome, writer) = match (result, writer) {
            (Ok(outcome), Ok(writer)) => (outcome, writer),
            (Err(error), _) | (_, Err(error)) => {
                failed(None);
                return Err(error);
            }
        };
        if !exec.options.expect.allows(outcome.exit_code) {
            let failure = ExecFailure {
                command,
                exit_code: outcome.exit_code,
                stdout_tail: tail(writer.tail(Stream::Stdout), 20, 4096),
                stderr_tail: tail(writer.tail(Stream::Stderr), 20, 4096),
            };
            // No snapshot, so no record: the whole output is kept as a log to read.
            let log = writer
                .finish()
                .and_then(|outputs| self.store.keep_failed_log(&key, outputs))
                .inspect_err(|error| tracing::debug!(%error, "cannot keep the log of a failed step"))
                .ok();
            failed(log.as_deref());
            return Err(EngineError::ExecFailed(Arc::new(failure)));
        }
        let recorded = async {
            let outputs = writer.finish().map_err(local_error("cannot write the step's output to the cache"))?;
            let image = outcome.image.ok_or_else(|| EngineError::Local("the backend committed no snapshot".into()))?;
            self.record(&key, &image, outcome.exit_code, outputs).await
        }
        .await;
        let step = match recorded {
            Ok(step) => step,
            Err(error) => {
                failed(None);
                return Err(error);
            }
        };
        self.finish_step(id, &description, StepOutcome::Done(elapsed), step.stdout.path.parent());
        Ok(ExecResult {
            snapshot: Snapshot { image: step.image, key, base },
            exit_code: step.exit_code,
            stdout: step.stdout,
            stderr: step.stderr,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_exec_on_backend(
        &self,
        exec: &ExecNode,
        pending: &Pending,
        config: ImageConfig,
        command: Vec<String>,
        mounts: &[(String, ResolvedMount)],
        key: Digest,
        sink: &StepSink<'_>,
    ) -> Result<backend::RunOutcome, EngineError> {
        let archives = Self::archives(pending.copies.iter().map(PendingCopyRef::from).collect()).await?;
        // Mounted directories are written to a scratch folder per step, so whatever the
        // command writes there is thrown away with it.
        let mut mount_dirs = Vec::new();
        let mut backend_mounts = Vec::new();
        // Held until the step ends: they keep `locked` volumes exclusive and `private`
        // instances to this step.
        let mut volume_locks = Vec::new();
        for (path, source) in mounts {
            match source {
                ResolvedMount::Directory(tree) => {
                    let work = self.store.temp_dir().map_err(local_error("cannot create a mount folder"))?;
                    let tree = tree.clone();
                    let root = work.path().to_path_buf();
                    blocking(move || tree.write_to(&root).map_err(EngineError::from)).await?;
                    backend_mounts.push(backend::Mount::Bind {
                        source: work.path().to_path_buf(),
                        target: path.clone(),
                        read_only: false,
                    });
                    mount_dirs.push(work);
                }
                ResolvedMount::Cache { key, sharing } => {
                    let (name, lock) = self.acquire_volume(key, *sharing).await?;
                    let labels = BTreeMap::from([(backend::CACHE_VOLUME_LABEL.to_string(), key.clone())]);
                    self.backend.ensure_volume(&name, &labels).await?;
                    self.store.record_volume(&name, key).map_err(local_error("cannot record a cache volume"))?;
                    backend_mounts.push(backend::Mount::Volume { name, target: path.clone() });
                    volume_locks.extend(lock);
                }
                ResolvedMount::Temp => backend_mounts.push(backend::Mount::Tmpfs { target: path.clone() }),
            }
        }
        let expect = exec.options.expect;
        let spec = RunSpec {
            image: pending.base.image.clone(),
            archives,
            config,
            command,
            stdin: exec.options.stdin.clone().map(String::into_bytes),
            mounts: backend_mounts,
            snapshot_labels: self.snapshot_labels(&key),
            commit: match expect {
                Expect::Success => backend::Commit::WhenExit(|code| code == 0),
                Expect::Failure => backend::Commit::WhenExit(|code| code != 0),
                Expect::Any => backend::Commit::Always,
            },
        };
        let outcome = self.backend.run(spec, sink).await;
        for work in mount_dirs {
            crate::util::remove_tree(&work.keep());
        }
        Ok(outcome?)
    }

    /// The volume a step mounts for cache `key`, and the lock that keeps it the step's
    /// own while it runs. File locks work between processes and within one (each open
    /// file is locked on its own), so the sharing modes hold for every `tanto` on the
    /// machine.
    async fn acquire_volume(&self, key: &str, sharing: Sharing) -> Result<(String, Option<std::fs::File>), EngineError> {
        let base = format!("tanto-cache-{}", &Digest::of_bytes(key.as_bytes()).hex()[..20]);
        let locks = self.store.root().join("volumes");
        std::fs::create_dir_all(&locks).map_err(local_error("cannot create the volume lock folder"))?;
        match sharing {
            Sharing::Shared => Ok((base, None)),
            Sharing::Locked => {
                let path = locks.join(format!("{base}.lock"));
                let file = blocking(move || {
                    let file = std::fs::File::create(&path).map_err(local_error("cannot open a volume lock"))?;
                    file.lock().map_err(local_error("cannot lock a cache volume"))?;
                    Ok(file)
                })
                .await?;
                Ok((base, Some(file)))
            }
            Sharing::Private => {
                // The first instance nobody holds; instance 0 is the volume itself.
                for instance in 0..256 {
                    let name = if instance == 0 { base.clone() } else { format!("{base}-{instance}") };
                    let file = std::fs::File::create(locks.join(format!("{name}.private.lock"))).map_err(local_error("cannot open a volume lock"))?;
                    match file.try_lock() {
                        Ok(()) => return Ok((name, Some(file))),
                        Err(std::fs::TryLockError::WouldBlock) => continue,
                        Err(std::fs::TryLockError::Error(error)) => return Err(local_error("cannot lock a cache volume")(error)),
                    }
                }
                Err(EngineError::Local(format!("more than 256 concurrent private users of cache volume {key:?}")))
            }
        }
    }

    // ---- directories and files ------------------------------------------------------

    pub(crate) fn eval_tree<'a>(&'a self, directory: &'a Directory) -> Eval<'a, Arc<Tree>> {
        Box::pin(self.memo.trees.0.run(directory.digest(), move || async move {
            match &directory.0.kind {
                DirKind::Tree(tree) => Ok(tree.clone()),
                DirKind::ContainerPath { rootfs, path, workdir } => {
                    let snapshot = self.eval_fs(rootfs).await?;
                    let edits = ConfigEdits {
                        workdir: workdir.clone(),
                        ..Default::default()
                    };
                    let absolute = normalize_absolute(&join_absolute(&edits.workdir_in(&snapshot.base), path))?;
                    let extracted = self.extract_resolved(&snapshot, &absolute).await?;
                    match extracted {
                        Extracted::Directory(tree) => Ok(Arc::new(tree)),
                        Extracted::File(_) | Extracted::Link(_) => Err(EngineError::InvalidArgument(format!("{absolute} is a file, not a directory"))),
                    }
                }
                DirKind::Sub { parent, path } => Ok(Arc::new(self.eval_tree(parent).await?.subtree(path)?)),
                DirKind::WithNewFile {
                    parent,
                    path,
                    contents,
                    permissions,
                } => {
                    let tree = (*self.eval_tree(parent).await?).clone();
                    Ok(Arc::new(
                        tree.with_file(path, FileEntry::from_bytes(contents.clone(), permissions.unwrap_or(0o644)))?,
                    ))
                }
                DirKind::WithFile {
                    parent,
                    path,
                    file,
                    permissions,
                } => {
                    let (tree, mut entry) = try_join(self.eval_tree(parent), self.eval_file(file)).await?;
                    if let Some(mode) = permissions {
                        entry.mode = *mode;
                    }
                    Ok(Arc::new((*tree).clone().with_file(path, entry)?))
                }
                DirKind::WithDirectory {
                    parent,
                    path,
                    source,
                    include,
                    exclude,
                } => {
                    let (tree, source) = try_join(self.eval_tree(parent), self.eval_tree(source)).await?;
                    let filter = Filter::new(include, exclude)?;
                    Ok(Arc::new((*tree).clone().with_tree(path, &source, &filter)?))
                }
                DirKind::Without { parent, path } => Ok(Arc::new((*self.eval_tree(parent).await?).clone().without(path)?)),
            }
        }))
    }

    pub(crate) fn eval_file<'a>(&'a self, file: &'a File) -> Eval<'a, FileEntry> {
        Box::pin(self.memo.files.0.run(file.digest(), move || async move {
            match &file.0.kind {
                FileKind::InDirectory { directory, path } => Ok(self.eval_tree(directory).await?.file(path)?.clone()),
                FileKind::InContainer { rootfs, path, workdir } => {
                    let snapshot = self.eval_fs(rootfs).await?;
                    let edits = ConfigEdits {
                        workdir: workdir.clone(),
                        ..Default::default()
                    };
                    let absolute = normalize_absolute(&join_absolute(&edits.workdir_in(&snapshot.base), path))?;
                    match self.extract_resolved(&snapshot, &absolute).await? {
                        Extracted::File(entry) => Ok(entry),
                        Extracted::Directory(_) | Extracted::Link(_) => Err(EngineError::InvalidArgument(format!("{absolute} is a directory, not a file"))),
                    }
                }
            }
        }))
    }

    /// Reads `path` out of a snapshot, following links at `path` inside the snapshot (as
    /// a command in the container would), never on the host.
    async fn extract_resolved(&self, snapshot: &Snapshot, path: &str) -> Result<Extracted, EngineError> {
        let mut current = path.to_string();
        for _ in 0..MAX_LINK_HOPS {
            match self.extract(snapshot, &current).await? {
                Extracted::Link(target) => current = resolve_link(&current, &target),
                extracted => return Ok(extracted),
            }
        }
        Err(EngineError::InvalidArgument(format!(
            "{path}: too many levels of symbolic links in the container (more than {MAX_LINK_HOPS})"
        )))
    }

    /// Reads `path` out of a snapshot, through the on-disk tree cache. A link at `path`
    /// comes back as its target, unread.
    async fn extract(&self, snapshot: &Snapshot, path: &str) -> Result<Extracted, EngineError> {
        let mut hasher = Hasher::new("extract");
        hasher.digest(&snapshot.key).str(path);
        let key = hasher.finish();
        self.pin(&key);
        let mut installed = self.store.tree_dir(&key);
        if std::fs::symlink_metadata(installed.join("root")).is_ok() {
            if let Ok(dir) = std::fs::File::open(&installed) {
                let _ = dir.set_modified(self.run_started);
            }
        } else {
            self.grew.store(true, Ordering::Relaxed);
            let work = self.store.temp_dir().map_err(local_error("cannot create a work folder"))?;
            let archive = work.path().join("archive.tar");
            self.backend.read_path(&snapshot.image, path, &archive).await?;
            let is_root = path == "/";
            let work = blocking(move || {
                unpack_top_entry(&archive, work.path(), is_root)?;
                std::fs::remove_file(&archive).map_err(local_error("cannot remove an unpacked archive"))?;
                Ok(work)
            })
            .await?;
            installed = self.store.install_tree(&key, work).map_err(local_error("cannot store an extracted tree"))?;
        }
        let root = installed.join("root");
        let hash_cache = self.hash_cache.clone();
        blocking(move || {
            // `symlink_metadata`: a link the container made is never followed on the host.
            let metadata = std::fs::symlink_metadata(&root).map_err(local_error("cannot read an extracted tree"))?;
            if metadata.is_symlink() {
                let target = std::fs::read_link(&root).map_err(local_error("cannot read an extracted link"))?;
                Ok(Extracted::Link(target.to_string_lossy().into_owned()))
            } else if metadata.is_dir() {
                Ok(Extracted::Directory(Tree::from_host(
                    &root,
                    &Filter::default(),
                    IgnoreFiles::None,
                    &hash_cache,
                )?))
            } else if metadata.is_file() {
                Ok(Extracted::File(FileEntry::from_host(&root, &hash_cache)?))
            } else {
                Err(EngineError::InvalidArgument("the path is neither a file, a folder nor a link".into()))
            }
        })
        .await
    }

    // ---- terminal operations ----------------------------------------------------------

    fn last_exec(container: &Container) -> Result<&Arc<ExecNode>, EngineError> {
        container
            .0
            .last_exec
            .as_ref()
            .ok_or_else(|| EngineError::InvalidArgument("no command has run in this container yet: call with-exec first".into()))
    }

    /// The standard output of the container's last command.
    pub async fn stdout(&self, container: &Container) -> Result<String, EngineError> {
        self.read_output(Self::last_exec(container)?, Stream::Stdout).await
    }

    /// The standard error of the container's last command.
    pub async fn stderr(&self, container: &Container) -> Result<String, EngineError> {
        self.read_output(Self::last_exec(container)?, Stream::Stderr).await
    }

    /// An exec step's recorded output as text, read from the cache into the one buffer
    /// that becomes the string (no second copy unless it is not valid UTF-8); nothing
    /// else keeps it. A body that no longer matches its sha256 (or is gone) makes the
    /// record a miss: the step runs again, once, and its record is rewritten.
    async fn read_output(&self, exec: &Arc<ExecNode>, stream: Stream) -> Result<String, EngineError> {
        let pick = |result: ExecResult| match stream {
            Stream::Stdout => result.stdout,
            Stream::Stderr => result.stderr,
        };
        let result = self.eval_exec(exec).await?;
        let key = result.snapshot.key;
        let bytes = match self.read_body(pick(result)).await? {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(%error, "a recorded output is damaged; running its step again");
                self.store.remove_step(&key);
                self.memo.execs.0.forget(&exec.digest);
                let result = self.eval_exec(exec).await?;
                self.read_body(pick(result))
                    .await?
                    .map_err(|error| EngineError::Local(format!("cannot read a step's recorded output: {error}")))?
            }
        };
        Ok(String::from_utf8(bytes).unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()))
    }

    /// The bytes of `body`; the inner error is a damaged or missing body.
    async fn read_body(&self, body: Body) -> Result<std::io::Result<Vec<u8>>, EngineError> {
        let store = self.store.clone();
        blocking(move || Ok(store.read_body(&body))).await
    }

    /// The exit code of the container's last command.
    pub async fn exit_code(&self, container: &Container) -> Result<i64, EngineError> {
        Ok(self.eval_exec(Self::last_exec(container)?).await?.exit_code)
    }

    /// Evaluates the container: every pending command runs and its root filesystem is
    /// committed.
    pub async fn sync(&self, container: &Container) -> Result<(), EngineError> {
        let mounts = try_join_all(container.0.mounts.iter().map(|mount| async move {
            match &mount.source {
                MountSource::Directory(directory) => self.eval_tree(directory).await.map(|_| ()),
                MountSource::Cache { .. } | MountSource::Temp => Ok(()),
            }
        }));
        try_join(self.eval_fs(&container.0.rootfs), mounts).await?;
        Ok(())
    }

    /// Evaluates several containers concurrently.
    pub async fn sync_all(&self, containers: &[Container]) -> Result<(), EngineError> {
        try_join_all(containers.iter().map(|container| self.sync(container))).await?;
        Ok(())
    }

    /// An image of the container with exactly its configuration (entrypoint, default
    /// arguments, environment, working directory, user, labels), for the user to run.
    pub async fn image(&self, container: &Container) -> Result<String, EngineError> {
        self.memo
            .images
            .0
            .run(container.digest(), || async {
                let snapshot = self.eval_fs(&container.0.rootfs).await?;
                let mut config = container.0.config.apply(&snapshot.base);
                // An image handed to a user never carries tanto's own labels, even when its
                // base was a tanto snapshot; labels the user set are theirs to keep.
                config.labels.retain(|name, _| !backend::INTERNAL_LABELS.contains(&name.as_str()));
                // "user-image": images made before they carried only the user's labels
                // are not reused.
                let mut hasher = Hasher::new("user-image");
                hasher
                    .digest(&snapshot.key)
                    .strs(&config.env)
                    .opt_str(config.workdir.as_deref())
                    .opt_str(config.user.as_deref());
                hasher
                    .strs(config.entrypoint.as_deref().unwrap_or_default())
                    .strs(config.cmd.as_deref().unwrap_or_default());
                for (name, value) in &config.labels {
                    hasher.str(name).str(value);
                }
                let key = hasher.finish();
                let _lock = match self.cached_or_lock(&key).await? {
                    Lookup::Cached(step) => return Ok(step.image),
                    Lookup::Missing(lock) => lock,
                };
                let image = self.backend.image_with_config(&snapshot.image, &config).await?;
                self.record_snapshot(&key, &image).await;
                Ok(image)
            })
            .await
    }

    /// Names of the entries at `path` in the directory.
    pub async fn entries(&self, directory: &Directory, path: &str) -> Result<Vec<String>, EngineError> {
        Ok(self.eval_tree(directory).await?.entries(path)?)
    }

    /// The content digest of the directory.
    pub async fn directory_digest(&self, directory: &Directory) -> Result<Digest, EngineError> {
        Ok(self.eval_tree(directory).await?.digest())
    }

    /// The evaluated tree of a directory.
    pub async fn tree(&self, directory: &Directory) -> Result<Arc<Tree>, EngineError> {
        self.eval_tree(directory).await
    }

    /// The file's bytes.
    pub async fn contents(&self, file: &File) -> Result<Vec<u8>, EngineError> {
        let entry = self.eval_file(file).await?;
        blocking(move || entry.blob.read().map_err(local_error("cannot read the file"))).await
    }

    pub async fn size(&self, file: &File) -> Result<u64, EngineError> {
        Ok(self.eval_file(file).await?.size)
    }

    /// `sha256` of the file's contents.
    pub async fn file_digest(&self, file: &File) -> Result<Digest, EngineError> {
        Ok(self.eval_file(file).await?.hash)
    }

    /// Writes the directory's content into `destination` on the host.
    pub async fn export_directory(&self, directory: &Directory, destination: &Path) -> Result<(), EngineError> {
        let tree = self.eval_tree(directory).await?;
        let destination = destination.to_path_buf();
        blocking(move || {
            std::fs::create_dir_all(&destination).map_err(local_error("cannot create the destination folder"))?;
            // Replaces what stands in the way itself, through a handle on the destination.
            Ok(tree.write_to(&destination)?)
        })
        .await
    }

    /// Writes the file to `destination` on the host.
    pub async fn export_file(&self, file: &File, destination: &Path) -> Result<(), EngineError> {
        let entry = self.eval_file(file).await?;
        let destination = destination.to_path_buf();
        blocking(move || {
            if let Some(parent) = destination.parent().filter(|parent| !parent.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(local_error("cannot create the destination folder"))?;
            }
            let bytes = entry.blob.read().map_err(local_error("cannot read the file"))?;
            std::fs::write(&destination, bytes).map_err(local_error("cannot write the file"))?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&destination, std::fs::Permissions::from_mode(entry.mode)).map_err(local_error("cannot set the file's mode"))
        })
        .await
    }
}

/// Owned copies of pending copies, for archive building on a blocking thread.
struct PendingCopyRef {
    destination: String,
    content: CopyContentRef,
}

enum CopyContentRef {
    Tree(Arc<Tree>),
    File(FileEntry),
}

impl From<&PendingCopy> for PendingCopyRef {
    fn from(copy: &PendingCopy) -> Self {
        Self {
            destination: copy.destination.clone(),
            content: match &copy.content {
                CopyContent::Tree(tree) => CopyContentRef::Tree(tree.clone()),
                CopyContent::File(file) => CopyContentRef::File(file.clone()),
            },
        }
    }
}

/// A mount with its source evaluated.
enum ResolvedMount {
    Directory(Arc<Tree>),
    Cache { key: String, sharing: Sharing },
    Temp,
}

/// What the cache holds for a key.
enum Lookup {
    Cached(CachedStep),
    /// Nothing yet: the holder of this lock makes and records it.
    Missing(super::locks::KeyLock),
}

enum Extracted {
    Directory(Tree),
    File(FileEntry),
    /// A symbolic link, with its target as the container wrote it.
    Link(String),
}

/// How many links a path read out of a container may go through, as Linux allows
/// (`MAXSYMLINKS`); a loop of links ends here.
const MAX_LINK_HOPS: usize = 40;

/// Where link `path` (absolute, in a container) pointing to `target` leads, resolved the
/// way the kernel resolves it inside the container's root: `..` at `/` stays at `/`.
fn resolve_link(path: &str, target: &str) -> String {
    let base = path.rsplit_once('/').map_or("", |(parent, _)| parent);
    let combined = if target.starts_with('/') {
        target.to_string()
    } else {
        format!("{base}/{target}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in combined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The program and arguments an exec step runs: `args`, prefixed by the entrypoint when
/// asked; with no `args`, the default arguments.
fn exec_command(args: &[String], config: &ImageConfig, use_entrypoint: bool) -> Result<Vec<String>, EngineError> {
    let mut command = Vec::new();
    if use_entrypoint {
        command.extend(config.entrypoint.clone().unwrap_or_default());
    }
    if args.is_empty() {
        command.extend(config.cmd.clone().unwrap_or_default());
    } else {
        command.extend(args.iter().cloned());
    }
    if command.is_empty() {
        return Err(EngineError::InvalidArgument(
            "with-exec needs a command: the arguments are empty and the image has no default arguments".into(),
        ));
    }
    Ok(command)
}

/// An archive holding one file at `destination`, with no entries for its parents.
fn file_archive(destination: &str, file: &FileEntry) -> Result<Vec<u8>, EngineError> {
    let relative = normalize_relative(destination)?;
    let Some((parent, name)) = relative.rsplit_once('/').or(Some(("", relative.as_str()))) else {
        return Err(EngineError::InvalidArgument(format!("invalid file path {destination:?}")));
    };
    if name.is_empty() {
        return Err(EngineError::InvalidArgument(format!("{destination:?} names a directory, not a file")));
    }
    let tree = Tree::new().with_file(name, file.clone())?;
    Ok(tree.to_tar(&format!("/{parent}"))?)
}

/// Unpacks the top entry of a Docker path archive (the file `archive`) into `work/root`,
/// confined to `work` (see [`super::archive`]).
fn unpack_top_entry(archive: &Path, work: &Path, is_root: bool) -> Result<(), EngineError> {
    let unpacked = work.join("unpacked");
    std::fs::create_dir_all(&unpacked).map_err(local_error("cannot create a work folder"))?;
    let reader = std::io::BufReader::new(std::fs::File::open(archive).map_err(local_error("cannot read the archive read from the container"))?);
    super::archive::unpack(reader, &unpacked)?;
    let top = if is_root {
        unpacked.clone()
    } else {
        let mut entries = std::fs::read_dir(&unpacked).map_err(local_error("cannot read the unpacked archive"))?;
        match entries.next() {
            Some(entry) => entry.map_err(local_error("cannot read the unpacked archive"))?.path(),
            None => {
                return Err(EngineError::NotFound("the container returned an empty archive".into()));
            }
        }
    };
    std::fs::rename(&top, work.join("root")).map_err(local_error("cannot move the unpacked archive"))?;
    if !is_root {
        crate::util::remove_tree(&unpacked);
    }
    Ok(())
}

impl From<&BackendError> for EngineError {
    fn from(error: &BackendError) -> Self {
        EngineError::from(error.clone())
    }
}
