//! Evaluation of the graph: snapshots, exec steps, trees and files, each memoized by
//! structural digest (single flight) and, for steps that touch the backend, cached on
//! disk by content key.
//!
//! This file walks the graph (root filesystems, trees, files); beside it: `copies`
//! (copies pending on a snapshot, as archives), `record` (looking steps up in the cache
//! and recording them), `exec` (an exec step: its content key and its run), `step_spec`
//! (what a step hands the backend: archives, mount folders, volumes), `volumes` (the
//! locks behind cache-volume sharing), `extract` (reading paths out of snapshots),
//! `terminal` (the operations that return values), `export` (writing results to the
//! host) and `shell` (interactive shells in a container's or a failed step's state).

mod copies;
mod exec;
mod export;
mod extract;
mod images;
mod owner;
mod record;
mod shell;
pub(crate) use self::record::SnapshotChecks;
mod services;
mod sources;
pub(crate) use sources::check_declared_module_url;
mod step_spec;
mod terminal;
mod volumes;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::future::{try_join, try_join_all};
use futures_util::stream::FuturesUnordered;

use self::copies::{CopyContent, Pending, PendingCopy};
pub use self::export::ExportError;
use self::extract::Extracted;
use self::owner::OwnerSpec;
pub(crate) use self::services::Services;
use super::cache::Body;
use super::digest::{Digest, Hasher};
use super::objects::{ConfigEdits, CopySource, DirKind, Directory, File, FileKind, FsKind, FsNode, join_absolute};
use super::progress::{Event, StepOutcome};
use super::tree::{FileEntry, Filter, Owner, Tree, normalize_relative};
use super::{Engine, EngineError, SingleFlight};
use crate::backend::{self, BackendError, ImageConfig};

type Eval<'a, T> = Pin<Box<dyn Future<Output = Result<T, EngineError>> + Send + 'a>>;

/// How long a chain of unstarted snapshots [`Engine::eval_fs`] evaluates by nesting one
/// future in the next; a longer one is started from the bottom.
const SPINE_DEPTH: usize = 8;

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

#[derive(Default)]
pub(crate) struct Memo {
    snapshots: SingleFlightDefault<Snapshot>,
    execs: SingleFlightDefault<ExecResult>,
    trees: SingleFlightDefault<Arc<Tree>>,
    files: SingleFlightDefault<FileEntry>,
    images: SingleFlightDefault<String>,
    /// Archives of paths in snapshots (see [`Engine::archived_folder`]).
    archives: SingleFlightDefault<(crate::engine::archive::StreamedPath, Arc<Path>)>,
    /// Git refs resolved to commits.
    commits: SingleFlightDefault<String>,
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

/// The absolute, normalized form of `path` in `snapshot`, a relative one taken from
/// `workdir` (or the snapshot's own working folder).
fn container_path(snapshot: &Snapshot, path: &str, workdir: &Option<String>) -> Result<String, EngineError> {
    let edits = ConfigEdits {
        workdir: workdir.clone(),
        ..Default::default()
    };
    normalize_absolute(&join_absolute(&edits.workdir_in(&snapshot.base), path))
}

fn local_error(context: &str) -> impl FnOnce(std::io::Error) -> EngineError + '_ {
    move |error| EngineError::Local(format!("{context}: {error}"))
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T, EngineError> + Send + 'static) -> Result<T, EngineError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| EngineError::Local(format!("a background task failed: {error}")))?
}

impl Engine {
    /// The tree-cache folder of `key` (its content under `root`), made the first time by
    /// `fill` in a fresh work folder and installed whole. An entry used again is marked as
    /// used by this run, so pruning by age keeps what runs still read.
    async fn cached_tree_dir<Filled>(&self, key: &Digest, what: &str, fill: impl FnOnce(tempfile::TempDir) -> Filled) -> Result<std::path::PathBuf, EngineError>
    where
        Filled: Future<Output = Result<tempfile::TempDir, EngineError>>,
    {
        self.pin(key);
        let installed = self.store.tree_dir(key);
        if std::fs::symlink_metadata(installed.join("root")).is_ok() {
            if let Ok(dir) = std::fs::File::open(&installed) {
                let _ = dir.set_modified(self.run_started);
            }
            return Ok(installed);
        }
        self.grew.store(true, std::sync::atomic::Ordering::Relaxed);
        let work = self.store.temp_dir().map_err(local_error("cannot create a work folder"))?;
        let work = fill(work).await?;
        self.store.install_tree(key, work).map_err(local_error(&format!("cannot store {what}")))
    }

    fn step_id(&self) -> u64 {
        self.reporter.next_id()
    }

    /// The labels of the snapshot of step `key`: its key, and the cache whose prune may
    /// remove it once no record refers to it.
    fn snapshot_labels(&self, key: &Digest) -> BTreeMap<String, String> {
        BTreeMap::from([
            (backend::SNAPSHOT_LABEL.to_string(), key.to_string()),
            (backend::CACHE_LABEL.to_string(), self.cache_id.clone()),
        ])
    }

    fn finish_step(&self, id: u64, description: &str, outcome: StepOutcome, log: Option<&Path>, key: &Digest, exit_code: Option<i64>) {
        self.reporter.event(Event::StepFinished {
            id,
            description,
            outcome,
            log,
            key: Some(key),
            exit_code,
        });
    }

    // ---- root filesystems -------------------------------------------------------------

    /// Materializes a root filesystem as a snapshot image.
    ///
    /// Each node's evaluation awaits its parent's, so a chain of steps evaluated from its
    /// top polls one nested future per step, and a long chain overflows a thread's stack.
    /// A chain whose unstarted part is longer than [`SPINE_DEPTH`] is therefore started
    /// from the bottom: each node then finds its parent in flight and waits for it, so the
    /// stack used does not grow with the chain's length.
    pub(crate) fn eval_fs<'a>(&'a self, node: &'a Arc<FsNode>) -> Eval<'a, Snapshot> {
        Box::pin(async move {
            let below = self.unstarted_spine(node);
            if below.len() > SPINE_DEPTH {
                self.start_spine(below).await?;
            }
            self.eval_fs_node(node).await
        })
    }

    /// The snapshots `node` is built on, top first, down to the first one already in
    /// flight or done (or to a base image): the parents of its steps and removals, seen
    /// through the copies between them (which are applied with the step above them, not
    /// on their own).
    fn unstarted_spine<'a>(&self, node: &'a Arc<FsNode>) -> Vec<&'a Arc<FsNode>> {
        let mut below = Vec::new();
        let mut current = node;
        loop {
            let parent = match &current.kind {
                FsKind::Exec(exec) => &exec.rootfs,
                FsKind::Copy { parent, .. } | FsKind::Remove { parent, .. } => parent,
                FsKind::Scratch | FsKind::Image { .. } | FsKind::Import { .. } | FsKind::DockerBuild { .. } => break,
            };
            if matches!(parent.kind, FsKind::Exec(_) | FsKind::Remove { .. }) {
                if self.memo.snapshots.0.started(&parent.digest) {
                    break;
                }
                below.push(parent);
            }
            current = parent;
        }
        below
    }

    /// Evaluates `spine` (top first) with every node started bottom first, in one flat
    /// set of futures: the first poll of each finds the one below it in flight.
    async fn start_spine(&self, spine: Vec<&Arc<FsNode>>) -> Result<(), EngineError> {
        let mut running = FuturesUnordered::new();
        for node in spine.into_iter().rev() {
            let mut evaluation = self.eval_fs_node(node);
            match std::future::poll_fn(|context| std::task::Poll::Ready(evaluation.as_mut().poll(context))).await {
                std::task::Poll::Ready(result) => {
                    result?;
                }
                std::task::Poll::Pending => running.push(evaluation),
            }
        }
        while let Some(result) = running.next().await {
            result?;
        }
        Ok(())
    }

    fn eval_fs_node<'a>(&'a self, node: &'a Arc<FsNode>) -> Eval<'a, Snapshot> {
        Box::pin(self.memo.snapshots.0.run(node.digest, move || async move {
            match &node.kind {
                FsKind::Scratch => {
                    let image = self.backend.scratch_image().await?;
                    // Not the image id: the daemon stamps the empty image with the time it
                    // made it, and a key must be the same on every machine.
                    let hasher = Hasher::new("scratch-snapshot");
                    Ok(Snapshot {
                        image: image.id,
                        key: hasher.finish(),
                        base: Arc::new(image.config),
                    })
                }
                FsKind::Image { address, auth } => {
                    let credentials = auth.as_ref().map(|auth| auth.credentials());
                    let image = self.backend.resolve_image(address, credentials.as_ref()).await?;
                    let mut hasher = Hasher::new("image-snapshot");
                    hasher.str(&image.id);
                    Ok(Snapshot {
                        image: image.id,
                        key: hasher.finish(),
                        base: Arc::new(image.config),
                    })
                }
                FsKind::Exec(exec) => Ok(self.eval_exec(exec).await?.snapshot),
                FsKind::Import { archive } => self.eval_import(archive).await,
                FsKind::DockerBuild { context, build } => self.eval_docker_build(context, build).await,
                FsKind::Copy { .. } => {
                    let pending = self.eval_pending(node).await?;
                    self.commit_pending(pending).await
                }
                FsKind::Remove { parent, path, workdir } => {
                    // Committed first: a whiteout deletes only what earlier layers hold.
                    let base = self.eval_fs(parent).await?;
                    let edits = ConfigEdits {
                        workdir: workdir.clone(),
                        ..Default::default()
                    };
                    let destination = normalize_absolute(&join_absolute(&edits.workdir_in(&base.base), path))?;
                    if destination == "/" {
                        return Err(EngineError::InvalidArgument(format!("{path:?} is the root directory, which cannot be removed")));
                    }
                    let mut hasher = Hasher::new("remove-key");
                    hasher.digest(&base.key).str(&destination);
                    let pending = Pending {
                        key: hasher.finish(),
                        base,
                        copies: vec![PendingCopy {
                            destination,
                            content: CopyContent::Whiteout,
                            owner: Owner::ROOT,
                        }],
                    };
                    self.commit_pending(pending).await
                }
            }
        }))
    }

    /// A root filesystem as a materialized base plus the copies still to apply. The
    /// copies on top of the base are walked in a loop, not one nested future each, so a
    /// long run of copies needs no more stack than a short one; their sources are
    /// evaluated together with the base.
    fn eval_pending<'a>(&'a self, node: &'a Arc<FsNode>) -> Eval<'a, Pending> {
        Box::pin(async move {
            let mut copies = Vec::new();
            let mut base = node;
            while let FsKind::Copy {
                parent,
                path,
                workdir,
                source,
                owner,
            } = &base.kind
            {
                copies.push((path, workdir, source, owner));
                base = parent;
            }
            copies.reverse();
            let sources = try_join_all(copies.iter().map(|(_, _, source, _)| self.eval_copy_source(source)));
            let (snapshot, contents) = try_join(self.eval_fs(base), sources).await?;
            let mut pending = Pending {
                key: snapshot.key,
                base: snapshot,
                copies: Vec::new(),
            };
            for ((path, workdir, _, owner), content) in copies.into_iter().zip(contents) {
                let owner = match owner {
                    None => Owner::ROOT,
                    Some(owner) => {
                        let spec = OwnerSpec::parse(owner)?;
                        if spec.needs_names() && !pending.copies.is_empty() {
                            // Names are read from the container's own files, which a
                            // pending copy may be writing.
                            let base = self.commit_pending(pending).await?;
                            pending = Pending {
                                key: base.key,
                                base,
                                copies: Vec::new(),
                            };
                        }
                        self.resolve_owner(&pending.base, &spec).await?
                    }
                };
                let edits = ConfigEdits {
                    workdir: workdir.clone(),
                    ..Default::default()
                };
                let destination = normalize_absolute(&join_absolute(&edits.workdir_in(&pending.base.base), path))?;
                let mut hasher = Hasher::new("copy-key");
                hasher.digest(&pending.key).str(&destination).digest(&content.digest());
                if owner != Owner::ROOT {
                    hasher.u64(u64::from(owner.uid)).u64(u64::from(owner.gid));
                }
                pending.key = hasher.finish();
                pending.copies.push(PendingCopy { destination, content, owner });
            }
            Ok(pending)
        })
    }

    async fn eval_copy_source(&self, source: &CopySource) -> Result<CopyContent, EngineError> {
        match source {
            CopySource::Directory { directory, include, exclude } => {
                let filter = Filter::new(include, exclude)?;
                // A whole folder of a container is copied from its archive, never unpacked.
                if let DirKind::ContainerPath { rootfs, path, workdir } = &directory.0.kind
                    && filter.is_empty()
                {
                    let snapshot = self.eval_fs(rootfs).await?;
                    let absolute = container_path(&snapshot, path, workdir)?;
                    if absolute != "/" {
                        let (archive, digest) = self.archived_folder(&snapshot, &absolute).await?;
                        return Ok(CopyContent::Archived { archive, digest });
                    }
                }
                let tree = self.eval_tree(directory).await?;
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

    pub(crate) fn eval_tree<'a>(&'a self, directory: &'a Directory) -> Eval<'a, Arc<Tree>> {
        Box::pin(self.memo.trees.0.run(directory.digest(), move || async move {
            match &directory.0.kind {
                DirKind::Tree(tree) => Ok(tree.clone()),
                DirKind::ContainerPath { rootfs, path, workdir } => {
                    let snapshot = self.eval_fs(rootfs).await?;
                    let absolute = container_path(&snapshot, path, workdir)?;
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
                DirKind::WithSymlink { parent, path, target } => Ok(Arc::new((*self.eval_tree(parent).await?).clone().with_symlink(path, target)?)),
                DirKind::Git(git_ref) => self.git_tree(git_ref).await,
            }
        }))
    }

    pub(crate) fn eval_file<'a>(&'a self, file: &'a File) -> Eval<'a, FileEntry> {
        Box::pin(self.memo.files.0.run(file.digest(), move || async move {
            match &file.0.kind {
                FileKind::InDirectory { directory, path } => Ok(self.eval_tree(directory).await?.file(path)?.clone()),
                FileKind::InContainer { rootfs, path, workdir } => {
                    let snapshot = self.eval_fs(rootfs).await?;
                    let absolute = container_path(&snapshot, path, workdir)?;
                    match self.extract_resolved(&snapshot, &absolute).await? {
                        Extracted::File(entry) => Ok(entry),
                        Extracted::Directory(_) | Extracted::Link(_) => Err(EngineError::InvalidArgument(format!("{absolute} is a directory, not a file"))),
                    }
                }
                FileKind::Http { url } => self.http_file(url).await,
                FileKind::ImageArchive { container } => self.eval_image_archive(container).await,
            }
        }))
    }
}

impl From<&BackendError> for EngineError {
    fn from(error: &BackendError) -> Self {
        EngineError::from(error.clone())
    }
}
