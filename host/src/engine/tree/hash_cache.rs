//! File hashes remembered by stat, so unchanged files of a source tree are not read again.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::super::digest::Digest;

/// Remembers file hashes by (path, size, mtime, inode, ctime), so unchanged files of a
/// large source tree are not read again. The key never includes content, so a stale
/// entry is impossible unless a file is rewritten with the same size within the same
/// nanosecond and inode, which the ctime check also catches.
#[derive(Default)]
pub struct HashCache {
    entries: Mutex<HashMap<PathBuf, (StatKey, Digest)>>,
    dirty: Mutex<bool>,
}

#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct StatKey {
    size: u64,
    mtime_nanos: i128,
    ctime_nanos: i128,
    inode: u64,
}

impl StatKey {
    fn of(metadata: &fs::Metadata) -> Self {
        Self {
            size: metadata.len(),
            mtime_nanos: i128::from(metadata.mtime()) * 1_000_000_000 + i128::from(metadata.mtime_nsec()),
            ctime_nanos: i128::from(metadata.ctime()) * 1_000_000_000 + i128::from(metadata.ctime_nsec()),
            inode: metadata.ino(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct HashCacheFile {
    version: u32,
    entries: Vec<(PathBuf, StatKey, Digest)>,
}

impl HashCache {
    /// Loads a cache saved by [`HashCache::save`]; a missing or unreadable file gives an
    /// empty cache (it is only an accelerator).
    pub fn load(path: &Path) -> Self {
        let cache = Self::default();
        if let Ok(bytes) = fs::read(path)
            && let Ok(file) = serde_json::from_slice::<HashCacheFile>(&bytes)
            && file.version == 1
            && let Ok(mut entries) = cache.entries.lock()
        {
            for (path, key, digest) in file.entries {
                entries.insert(path, (key, digest));
            }
        }
        cache
    }

    /// Writes the cache atomically if it changed since it was loaded.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let Ok(mut dirty) = self.dirty.lock() else {
            return Ok(());
        };
        if !*dirty {
            return Ok(());
        }
        let Ok(entries) = self.entries.lock() else {
            return Ok(());
        };
        let file = HashCacheFile {
            version: 1,
            entries: entries.iter().map(|(path, (key, digest))| (path.clone(), *key, *digest)).collect(),
        };
        let bytes = serde_json::to_vec(&file).map_err(io::Error::other)?;
        crate::util::write_atomic(path, &bytes)?;
        *dirty = false;
        Ok(())
    }

    pub(super) fn hash_file(&self, path: &Path, metadata: &fs::Metadata) -> io::Result<Digest> {
        let key = StatKey::of(metadata);
        if let Ok(entries) = self.entries.lock()
            && let Some((cached_key, digest)) = entries.get(path)
            && *cached_key == key
        {
            return Ok(*digest);
        }
        let digest = hash_file_contents(path)?;
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(path.to_path_buf(), (key, digest));
        }
        if let Ok(mut dirty) = self.dirty.lock() {
            *dirty = true;
        }
        Ok(digest)
    }
}

fn hash_file_contents(path: &Path) -> io::Result<Digest> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(Digest::from_raw(hasher.finalize().into()))
}
