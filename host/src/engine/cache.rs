//! The persistent cache: recorded exec steps, committed snapshots and extracted trees,
//! under one root shared by every `tanto` process on the machine.
//!
//! Layout (`<root>` is `$TANTO_CACHE_DIR` or the user cache directory + `tanto`):
//! ```text
//! <root>/ops/<2 hex>/<key>.entry   a step's record: a JSON header line, then stdout, stderr
//! <root>/trees/<key>/root          a path extracted from a snapshot
//! <root>/tmp/                      work areas, renamed into place when complete
//! ```
//! Every write goes to a temporary file or folder and is renamed into place, so a reader
//! sees a complete entry or none, and two processes writing the same key both leave a
//! valid entry (the later rename wins; both describe the same step).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::digest::Digest;

/// What a cached step produced.
#[derive(Clone, Debug)]
pub struct CachedStep {
    /// The snapshot image the step committed.
    pub image: String,
    pub exit_code: i64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct EntryHeader {
    version: u32,
    image: String,
    exit_code: i64,
    stdout_len: u64,
    stderr_len: u64,
    created: u64,
}

const ENTRY_VERSION: u32 = 1;

/// The cache root and its record store.
#[derive(Clone, Debug)]
pub struct CacheStore {
    root: PathBuf,
}

impl CacheStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The default root: `$TANTO_CACHE_DIR`, else `<user cache dir>/tanto`.
    pub fn default_root() -> PathBuf {
        if let Some(dir) = std::env::var_os("TANTO_CACHE_DIR").filter(|dir| !dir.is_empty()) {
            return PathBuf::from(dir);
        }
        dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("tanto")
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn entry_path(&self, key: &Digest) -> PathBuf {
        let hex = key.hex();
        self.root.join("ops").join(&hex[..2]).join(format!("{hex}.entry"))
    }

    /// A fresh work folder under `<root>/tmp`, on the same file system as the cache so
    /// renames are atomic.
    pub fn temp_dir(&self) -> io::Result<tempfile::TempDir> {
        let tmp = self.root.join("tmp");
        fs::create_dir_all(&tmp)?;
        tempfile::Builder::new().prefix("work-").tempdir_in(tmp)
    }

    /// The record of step `key`, if one is stored and readable. A damaged record reads as
    /// a miss: the step runs again and rewrites it.
    pub fn get_step(&self, key: &Digest) -> Option<CachedStep> {
        let bytes = fs::read(self.entry_path(key)).ok()?;
        let newline = bytes.iter().position(|byte| *byte == b'\n')?;
        let header: EntryHeader = serde_json::from_slice(&bytes[..newline]).ok()?;
        if header.version != ENTRY_VERSION {
            return None;
        }
        let body = &bytes[newline + 1..];
        let stdout_len = usize::try_from(header.stdout_len).ok()?;
        let stderr_len = usize::try_from(header.stderr_len).ok()?;
        if body.len() != stdout_len.checked_add(stderr_len)? {
            return None;
        }
        Some(CachedStep {
            image: header.image,
            exit_code: header.exit_code,
            stdout: body[..stdout_len].to_vec(),
            stderr: body[stdout_len..].to_vec(),
        })
    }

    /// Records step `key`.
    pub fn put_step(&self, key: &Digest, step: &CachedStep) -> io::Result<()> {
        let header = EntryHeader {
            version: ENTRY_VERSION,
            image: step.image.clone(),
            exit_code: step.exit_code,
            stdout_len: step.stdout.len() as u64,
            stderr_len: step.stderr.len() as u64,
            created: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|elapsed| elapsed.as_secs())
                .unwrap_or_default(),
        };
        let mut bytes = serde_json::to_vec(&header).map_err(io::Error::other)?;
        bytes.push(b'\n');
        bytes.extend_from_slice(&step.stdout);
        bytes.extend_from_slice(&step.stderr);
        crate::util::write_atomic(&self.entry_path(key), &bytes)
    }

    /// Forgets step `key` (its snapshot image is gone).
    pub fn remove_step(&self, key: &Digest) {
        let _ = fs::remove_file(self.entry_path(key));
    }

    /// The folder holding the extracted tree `key` (it may not exist).
    pub fn tree_dir(&self, key: &Digest) -> PathBuf {
        self.root.join("trees").join(key.hex())
    }

    /// Moves a completed work folder into place as tree `key`. If another process got
    /// there first, its copy is kept and ours is dropped.
    pub fn install_tree(&self, key: &Digest, work: tempfile::TempDir) -> io::Result<PathBuf> {
        let destination = self.tree_dir(key);
        if let Some(parent) = destination.parent() {
            fs::create_dir_all(parent)?;
        }
        let work = work.keep();
        match fs::rename(&work, &destination) {
            Ok(()) => Ok(destination),
            Err(_) if destination.is_dir() => {
                crate::util::remove_tree(&work);
                Ok(destination)
            }
            Err(error) => {
                crate::util::remove_tree(&work);
                Err(error)
            }
        }
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let parent = path.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(parent)?;
    let mut file = tempfile::NamedTempFile::new_in(parent)?;
    file.write_all(bytes)?;
    file.as_file().sync_data()?;
    file.persist(path).map_err(|error| error.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_round_trip_and_damaged_entries_miss() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::new(dir.path());
        let key = Digest::of_bytes(b"step");
        assert!(store.get_step(&key).is_none());
        let step = CachedStep {
            image: "sha256:abc".into(),
            exit_code: 3,
            stdout: b"out\n".to_vec(),
            stderr: b"err".to_vec(),
        };
        store.put_step(&key, &step).unwrap();
        let read = store.get_step(&key).unwrap();
        assert_eq!(
            (read.image.as_str(), read.exit_code, read.stdout.as_slice(), read.stderr.as_slice()),
            ("sha256:abc", 3, &b"out\n"[..], &b"err"[..])
        );
        let path = store.entry_path(&key);
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(store.get_step(&key).is_none(), "a truncated entry is a miss");
    }
}
