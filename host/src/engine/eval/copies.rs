//! Copies pending on a snapshot: the next exec step applies them in its own container;
//! anything else that needs the filesystem gets them committed as a snapshot.

use std::sync::Arc;

use super::record::Lookup;
use super::{Snapshot, blocking, local_error};
use crate::backend::{ArchiveFile, CommitSpec};
use crate::engine::digest::{Digest, Hasher};
use crate::engine::tree::{FileEntry, Owner, Tree, normalize_relative};
use crate::engine::{Engine, EngineError};

/// A snapshot plus the copies not yet applied to it: an exec step applies them in its own
/// container instead of committing an intermediate image.
pub(super) struct Pending {
    pub(super) base: Snapshot,
    pub(super) copies: Vec<PendingCopy>,
    pub(super) key: Digest,
}

pub(super) struct PendingCopy {
    /// Absolute, normalized.
    pub(super) destination: String,
    pub(super) content: CopyContent,
    pub(super) owner: Owner,
}

pub(super) enum CopyContent {
    Tree(Arc<Tree>),
    /// A folder of a snapshot, as the archive the backend gave of it (kept in the tree
    /// cache, never unpacked), with its tree's digest: rewritten to its destination as it
    /// is copied.
    Archived {
        archive: Arc<std::path::Path>,
        digest: Digest,
    },
    File(FileEntry),
    /// Removes what is at the destination. An OCI whiteout (an empty `.wh.<name>` beside
    /// it): the extractor writes it as a plain file, and the commit that follows applies
    /// the container's changes as a layer, where it deletes `<name>`. So a removal is
    /// only ever the last change of a commit of its own (see `FsKind::Remove`).
    Whiteout,
}

impl CopyContent {
    pub(super) fn digest(&self) -> Digest {
        match self {
            CopyContent::Tree(tree) => tree.digest(),
            CopyContent::Archived { digest, .. } => *digest,
            CopyContent::File(file) => {
                let mut hasher = Hasher::new("copied-file");
                hasher.u64(u64::from(file.mode)).digest(&file.hash);
                hasher.finish()
            }
            CopyContent::Whiteout => Hasher::new("whiteout").finish(),
        }
    }
}

impl Engine {
    /// The archives of `copies`, each written to a file in the cache's work area as it is
    /// built (file contents stream from the host, a snapshot's folder from its archive),
    /// never held in memory.
    pub(super) async fn archives(&self, copies: Vec<PendingCopyRef>) -> Result<Vec<ArchiveFile>, EngineError> {
        let store = self.store.clone();
        blocking(move || {
            copies
                .into_iter()
                .map(|copy| {
                    let file = store.temp_file().map_err(local_error("cannot create an archive file"))?;
                    let writer = std::io::BufWriter::with_capacity(256 << 10, file);
                    let writer = match copy.content {
                        CopyContentRef::Tree(tree) => tree.write_tar_owned(&copy.destination, writer, copy.owner)?,
                        CopyContentRef::Archived(archive) => {
                            let source = std::fs::File::open(&archive).map_err(local_error("cannot read a folder's archive"))?;
                            crate::engine::archive::rebase_path_archive(
                                std::io::BufReader::with_capacity(256 << 10, source),
                                writer,
                                &copy.destination,
                                copy.owner,
                            )?
                        }
                        CopyContentRef::File(file) => {
                            let (tree, parent) = file_tree(&copy.destination, &file)?;
                            tree.write_tar_owned(&parent, writer, copy.owner)?
                        }
                        CopyContentRef::Whiteout => {
                            let (tree, parent) = whiteout_tree(&copy.destination)?;
                            tree.write_tar(&parent, writer)?
                        }
                    };
                    let file = writer
                        .into_inner()
                        .map_err(|error| EngineError::Local(format!("cannot write an archive file: {}", error.error())))?;
                    Ok(ArchiveFile::new(file.into_temp_path()))
                })
                .collect()
        })
        .await
    }

    pub(super) async fn commit_pending(&self, pending: Pending) -> Result<Snapshot, EngineError> {
        if pending.copies.is_empty() {
            return Ok(pending.base);
        }
        let key = pending.key;
        let base = pending.base.base.clone();
        self.inherit_privacy(&key, &pending.base.key, false);
        let _lock = match self.cached_or_lock(&key).await? {
            Lookup::Cached(step) => return Ok(Snapshot { image: step.image, key, base }),
            Lookup::Missing(lock) => lock,
        };
        let archives = self.archives(pending.copies.iter().map(PendingCopyRef::from).collect()).await?;
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
}

/// Owned copies of pending copies, for archive building on a blocking thread.
pub(super) struct PendingCopyRef {
    destination: String,
    content: CopyContentRef,
    owner: Owner,
}

enum CopyContentRef {
    Tree(Arc<Tree>),
    Archived(Arc<std::path::Path>),
    File(FileEntry),
    Whiteout,
}

impl From<&PendingCopy> for PendingCopyRef {
    fn from(copy: &PendingCopy) -> Self {
        Self {
            destination: copy.destination.clone(),
            content: match &copy.content {
                CopyContent::Tree(tree) => CopyContentRef::Tree(tree.clone()),
                CopyContent::Archived { archive, .. } => CopyContentRef::Archived(archive.clone()),
                CopyContent::File(file) => CopyContentRef::File(file.clone()),
                CopyContent::Whiteout => CopyContentRef::Whiteout,
            },
            owner: copy.owner,
        }
    }
}

/// A tree holding one file, and the folder to archive it at so that it lands at
/// `destination` (with no entries for its parents).
fn file_tree(destination: &str, file: &FileEntry) -> Result<(Tree, String), EngineError> {
    let relative = normalize_relative(destination)?;
    let Some((parent, name)) = relative.rsplit_once('/').or(Some(("", relative.as_str()))) else {
        return Err(EngineError::InvalidArgument(format!("invalid file path {destination:?}")));
    };
    if name.is_empty() {
        return Err(EngineError::InvalidArgument(format!("{destination:?} names a directory, not a file")));
    }
    let tree = Tree::new().with_file(name, file.clone())?;
    Ok((tree, format!("/{parent}")))
}

/// A tree holding the whiteout of `destination` (absolute, normalized, not `/`), and the
/// folder to archive it at.
fn whiteout_tree(destination: &str) -> Result<(Tree, String), EngineError> {
    let relative = normalize_relative(destination)?;
    let (parent, name) = relative.rsplit_once('/').unwrap_or(("", relative.as_str()));
    if name.is_empty() {
        return Err(EngineError::InvalidArgument("the root directory cannot be removed".into()));
    }
    let tree = Tree::new().with_file(&format!(".wh.{name}"), FileEntry::from_bytes(Vec::new(), 0o600))?;
    Ok((tree, format!("/{parent}")))
}
