//! Reading paths out of snapshots: a path archive from the backend, unpacked confined to
//! a work folder, kept in the tree cache; links are followed inside the snapshot, never
//! on the host.

use std::path::Path;

use super::{Snapshot, blocking, local_error};
use crate::engine::digest::Hasher;
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
        let installed = self
            .cached_tree_dir(&key, "an extracted tree", |work| async move {
                let archive = work.path().join("archive.tar");
                self.backend.read_path(&snapshot.image, path, &archive).await?;
                let is_root = path == "/";
                blocking(move || {
                    unpack_top_entry(&archive, work.path(), is_root)?;
                    std::fs::remove_file(&archive).map_err(local_error("cannot remove an unpacked archive"))?;
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
}

pub(super) enum Extracted {
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
