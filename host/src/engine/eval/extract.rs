//! Reading paths out of snapshots: a path archive from the backend, unpacked confined to
//! a work folder, kept in the tree cache; links are followed inside the snapshot, never
//! on the host.

use std::path::Path;
use std::sync::Arc;

use super::{Snapshot, blocking, local_error};
use crate::engine::archive::{StreamedPath, digest_path_archive};
use crate::engine::digest::{Digest, Hasher};
use crate::engine::tree::{FileEntry, Filter, HashCache, IgnoreFiles, Tree};
use crate::engine::{Engine, EngineError};

impl Engine {
    /// Reads `path` out of a snapshot, following links at `path` inside the snapshot (as
    /// a command in the container would), never on the host.
    pub(super) async fn extract_resolved(&self, snapshot: &Snapshot, path: &str) -> Result<Extracted, EngineError> {
        let mut current = path.to_string();
        for _ in 0..MAX_LINK_HOPS {
            match self.extract(snapshot, &current).await? {
                Extracted::Link(target) => current = resolve_link(&current, &target),
                extracted => return Ok(extracted),
            }
        }
        Err(too_many_links(path))
    }

    /// Reads `path` out of a snapshot, through the on-disk tree cache. A link at `path`
    /// comes back as its target, unread.
    async fn extract(&self, snapshot: &Snapshot, path: &str) -> Result<Extracted, EngineError> {
        let mut hasher = Hasher::new("extract");
        hasher.digest(&snapshot.key).str(path);
        let key = hasher.finish();
        let installed = self
            .cached_tree_dir(&key, "an extracted tree", |work| async move {
                // A folder copied whole into another container was kept as its archive
                // (see [`Engine::archived_folder`]): unpacked from there, it is not
                // downloaded again. Pinned, so a prune leaves it while it is read.
                let kept_key = path_archive_key(snapshot, path);
                self.pin(&kept_key);
                let kept = self.store.tree_dir(&kept_key).join(PATH_ARCHIVE);
                let (archive, downloaded) = if kept.is_file() {
                    (kept, false)
                } else {
                    let archive = work.path().join("archive.tar");
                    self.backend.read_path(&snapshot.image, path, &archive).await?;
                    (archive, true)
                };
                let is_root = path == "/";
                blocking(move || {
                    unpack_top_entry(&archive, work.path(), is_root)?;
                    if downloaded {
                        std::fs::remove_file(&archive).map_err(local_error("cannot remove an unpacked archive"))?;
                    }
                    Ok(work)
                })
                .await
            })
            .await?;
        let root = installed.join("root");
        blocking(move || {
            // `symlink_metadata`: a link the container made is never followed on the host.
            let metadata = std::fs::symlink_metadata(&root).map_err(local_error("cannot read an extracted tree"))?;
            if metadata.is_symlink() {
                let target = std::fs::read_link(&root).map_err(local_error("cannot read an extracted link"))?;
                Ok(Extracted::Link(target.to_string_lossy().into_owned()))
            } else if metadata.is_dir() {
                let tree = HashCache::with_installed(&installed, |hashes| Tree::from_host(&root, &Filter::default(), IgnoreFiles::None, hashes))?;
                Ok(Extracted::Directory(tree))
            } else if metadata.is_file() {
                Ok(Extracted::File(HashCache::with_installed(&installed, |hashes| {
                    FileEntry::from_host(&root, hashes)
                })?))
            } else {
                Err(EngineError::InvalidArgument("the path is neither a file, a folder nor a link".into()))
            }
        })
        .await
    }

    /// The folder at `path` in a snapshot, for a copy into another container: its archive
    /// as the backend gives it (once links at `path` are followed inside the snapshot),
    /// and its tree's digest, hashed as the archive is read. The archive is kept in the
    /// tree cache under the snapshot's key and the path and is never unpacked: a copy
    /// rewrites it to its destination ([`crate::engine::archive::rebase_path_archive`]), so
    /// a folder going from container to container is written on the host once, as one
    /// file, and a run that finds it there asks the backend nothing.
    pub(super) async fn archived_folder(&self, snapshot: &Snapshot, path: &str) -> Result<(Arc<Path>, Digest), EngineError> {
        let mut current = path.to_string();
        for _ in 0..MAX_LINK_HOPS {
            match self.path_archive(snapshot, &current).await? {
                (StreamedPath::Directory(digest), archive) => return Ok((archive, digest)),
                (StreamedPath::Link(target), _) => current = resolve_link(&current, &target),
                (StreamedPath::File, _) => return Err(EngineError::InvalidArgument(format!("{current} is a file, not a directory"))),
            }
        }
        Err(too_many_links(path))
    }

    /// The archive of `path` in a snapshot and what is at its top, through the tree cache:
    /// `root` records the top, `archive.tar` (kept for a folder only) is the archive.
    async fn path_archive(&self, snapshot: &Snapshot, path: &str) -> Result<(StreamedPath, Arc<Path>), EngineError> {
        let key = path_archive_key(snapshot, path);
        self.memo
            .archives
            .0
            .run(key, || async move {
                let installed = self
                    .cached_tree_dir(&key, "a folder's archive", |work| async move {
                        let archive = work.path().join(PATH_ARCHIVE);
                        self.backend.read_path(&snapshot.image, path, &archive).await?;
                        blocking(move || {
                            let file = std::fs::File::open(&archive).map_err(local_error("cannot read the archive read from the container"))?;
                            let top = digest_path_archive(std::io::BufReader::with_capacity(256 << 10, file))?;
                            if !matches!(top, StreamedPath::Directory(_)) {
                                std::fs::remove_file(&archive).map_err(local_error("cannot remove an archive"))?;
                            }
                            let record = serde_json::to_vec(&top).map_err(|error| EngineError::Local(format!("cannot record an archive's top: {error}")))?;
                            std::fs::write(work.path().join("root"), record).map_err(local_error("cannot record an archive's top"))?;
                            Ok(work)
                        })
                        .await
                    })
                    .await?;
                blocking(move || {
                    let record = std::fs::read(installed.join("root")).map_err(local_error("cannot read an archive's record"))?;
                    let top = serde_json::from_slice(&record)
                        .map_err(|error| EngineError::Local(format!("cannot read the record {}: {error}", installed.join("root").display())))?;
                    Ok((top, Arc::from(installed.join(PATH_ARCHIVE))))
                })
                .await
            })
            .await
    }
}

/// The tree-cache key of the archive of `path` in `snapshot`.
fn path_archive_key(snapshot: &Snapshot, path: &str) -> Digest {
    let mut hasher = Hasher::new("path-archive");
    hasher.digest(&snapshot.key).str(path);
    hasher.finish()
}

/// The name of a folder's archive in its tree-cache folder.
const PATH_ARCHIVE: &str = "archive.tar";

pub(super) enum Extracted {
    Directory(Tree),
    File(FileEntry),
    /// A symbolic link, with its target as the container wrote it.
    Link(String),
}

fn too_many_links(path: &str) -> EngineError {
    EngineError::InvalidArgument(format!(
        "{path}: too many levels of symbolic links in the container (more than {MAX_LINK_HOPS})"
    ))
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

/// Unpacks the top entry of a Docker path archive (the file `archive`) into `work/root`,
/// confined to `work` (see [`crate::engine::archive`]).
fn unpack_top_entry(archive: &Path, work: &Path, is_root: bool) -> Result<(), EngineError> {
    let unpacked = work.join("unpacked");
    std::fs::create_dir_all(&unpacked).map_err(local_error("cannot create a work folder"))?;
    let reader = std::io::BufReader::new(std::fs::File::open(archive).map_err(local_error("cannot read the archive read from the container"))?);
    crate::engine::archive::unpack(reader, &unpacked)?;
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
