//! File hashes remembered by stat, so unchanged files of a source tree are not read again.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::super::digest::Digest;
use crate::util::FileStamp;

/// Remembers file hashes by stamp (path, size, times, inode, device), so unchanged files
/// of a large source tree are not read again. A file's times tick with the file system's
/// clock, not by the nanosecond, so a file rewritten at the same size in the same tick
/// keeps its stamp: a file that changed within [`crate::util::RACY_WINDOW`] of its hashing
/// is not remembered (git's rule for "racy" files), unless the cache is of an installed
/// tree, which never changes.
#[derive(Default)]
pub struct HashCache {
    entries: Mutex<HashMap<PathBuf, (FileStamp, Digest)>>,
    dirty: Mutex<bool>,
    unchanging: bool,
}

#[derive(Serialize, Deserialize)]
struct HashCacheFile {
    version: u32,
    entries: Vec<(PathBuf, FileStamp, Digest)>,
}

/// The format of a hashes file: 2 since stamps hold the device.
const HASHES_VERSION: u32 = 2;

/// The name of the hashes kept beside an installed tree of the cache (next to its `root`).
const BESIDE_INSTALLED: &str = "hashes.json";

impl HashCache {
    /// Loads a cache saved by [`HashCache::save`]; a missing or unreadable file gives an
    /// empty cache (it is only an accelerator).
    pub fn load(path: &Path) -> Self {
        Self::load_outside(path, None)
    }

    /// The cache of the user's own files at `path`, for a cache whose folder is `root`:
    /// entries for files under `root` (kept beside their installed trees since, see
    /// [`HashCache::with_installed`]) are dropped, and the file is written again without
    /// them. This file is read at every start, so it holds only what the user's runs hash.
    pub fn load_sources(path: &Path, root: &Path) -> Self {
        Self::load_outside(path, Some(root))
    }

    fn load_outside(path: &Path, excluded: Option<&Path>) -> Self {
        let cache = Self::default();
        if let Ok(bytes) = fs::read(path)
            && let Ok(file) = serde_json::from_slice::<HashCacheFile>(&bytes)
            && file.version == HASHES_VERSION
            && let Ok(mut entries) = cache.entries.lock()
        {
            let count = file.entries.len();
            for (path, key, digest) in file.entries {
                if excluded.is_none_or(|excluded| !path.starts_with(excluded)) {
                    entries.insert(path, (key, digest));
                }
            }
            if entries.len() < count
                && let Ok(mut dirty) = cache.dirty.lock()
            {
                *dirty = true;
            }
        }
        cache
    }

    /// Runs `read` with the hashes of the installed tree of the cache at `installed` (its
    /// files are under `installed/root`), kept beside it and saved when `read` added
    /// some. An installed tree never changes, so its hashes are written once, and only a
    /// run that uses the tree reads them.
    pub fn with_installed<T>(installed: &Path, read: impl FnOnce(&HashCache) -> T) -> T {
        let path = installed.join(BESIDE_INSTALLED);
        let cache = Self {
            unchanging: true,
            ..Self::load(&path)
        };
        let result = read(&cache);
        if let Err(error) = cache.save(&path) {
            tracing::debug!(%error, path = %path.display(), "could not save the hashes of an installed tree");
        }
        result
    }

    /// Writes the cache atomically if it changed since it was loaded, without the entries
    /// of files that are gone (a deleted source folder, a pruned tree).
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let Ok(mut dirty) = self.dirty.lock() else {
            return Ok(());
        };
        if !*dirty {
            return Ok(());
        }
        let Ok(mut entries) = self.entries.lock() else {
            return Ok(());
        };
        entries.retain(|path, _| fs::symlink_metadata(path).is_ok());
        let file = HashCacheFile {
            version: HASHES_VERSION,
            entries: entries.iter().map(|(path, (key, digest))| (path.clone(), *key, *digest)).collect(),
        };
        let bytes = serde_json::to_vec(&file).map_err(io::Error::other)?;
        crate::util::write_atomic(path, &bytes)?;
        *dirty = false;
        Ok(())
    }

    pub(super) fn hash_file(&self, path: &Path, metadata: &fs::Metadata) -> io::Result<Digest> {
        let key = FileStamp::of(metadata);
        if let Ok(entries) = self.entries.lock()
            && let Some((cached_key, digest)) = entries.get(path)
            && *cached_key == key
        {
            return Ok(*digest);
        }
        let digest = hash_file_contents(path)?;
        if !self.unchanging && key.is_recent() {
            return Ok(digest);
        }
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
    hash_reader(fs::File::open(path)?)
}

/// The sha256 of everything `reader` gives, the hash of a file's contents in a tree.
pub(crate) fn hash_reader(mut reader: impl Read) -> io::Result<Digest> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = reader.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(Digest::from_raw(hasher.finalize().into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(cache: &HashCache, path: &Path) -> Digest {
        cache.hash_file(path, &fs::metadata(path).unwrap()).unwrap()
    }

    fn saved_paths(path: &Path) -> Vec<PathBuf> {
        let file: HashCacheFile = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
        let mut paths: Vec<PathBuf> = file.entries.into_iter().map(|(path, _, _)| path).collect();
        paths.sort();
        paths
    }

    #[test]
    fn the_sources_file_keeps_only_live_files_outside_the_cache() {
        let folder = tempfile::tempdir().unwrap();
        let (sources, cache_root) = (folder.path().join("sources"), folder.path().join("cache"));
        fs::create_dir_all(&sources).unwrap();
        fs::create_dir_all(cache_root.join("trees/t/root")).unwrap();
        let (kept, deleted, installed) = (sources.join("kept.txt"), sources.join("deleted.txt"), cache_root.join("trees/t/root/a.o"));
        for file in [&kept, &deleted, &installed] {
            fs::write(file, "contents").unwrap();
        }
        std::thread::sleep(crate::util::RACY_WINDOW + std::time::Duration::from_millis(100));
        let saved = cache_root.join("hashes.json");
        // As tanto wrote it before installed trees kept their own hashes.
        let old = HashCache::load(&saved);
        for file in [&kept, &deleted, &installed] {
            hash(&old, file);
        }
        old.save(&saved).unwrap();
        assert_eq!(saved_paths(&saved).len(), 3);

        fs::remove_file(&deleted).unwrap();
        let cache = HashCache::load_sources(&saved, &cache_root);
        cache.save(&saved).unwrap();
        assert_eq!(
            saved_paths(&saved),
            std::slice::from_ref(&kept),
            "no entry under the cache, none of a deleted file"
        );
        assert_eq!(hash(&HashCache::load_sources(&saved, &cache_root), &kept), hash(&HashCache::default(), &kept));
    }

    #[test]
    fn an_installed_tree_keeps_its_hashes_beside_it() {
        let folder = tempfile::tempdir().unwrap();
        let installed = folder.path().join("trees/t");
        fs::create_dir_all(installed.join("root")).unwrap();
        let file = installed.join("root/a.o");
        fs::write(&file, "object").unwrap();
        let digest = HashCache::with_installed(&installed, |hashes| hash(hashes, &file));
        assert_eq!(saved_paths(&installed.join(BESIDE_INSTALLED)), std::slice::from_ref(&file));
        // The next use reads them: the entry answers without the file being read (a
        // changed content under the same stat would go unnoticed, which is why only
        // trees that never change keep their hashes this way).
        let again = HashCache::with_installed(&installed, |hashes| hashes.entries.lock().unwrap().get(&file).map(|(_, digest)| *digest));
        assert_eq!(again, Some(digest));
    }

    #[test]
    fn a_file_changed_just_now_is_hashed_again_until_its_stamp_is_old_enough() {
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("a.txt");
        fs::write(&file, "a").unwrap();
        let cache = HashCache::default();
        hash(&cache, &file);
        assert!(
            cache.entries.lock().unwrap().is_empty(),
            "a rewrite in the same clock tick would keep its stamp"
        );
        std::thread::sleep(crate::util::RACY_WINDOW + std::time::Duration::from_millis(100));
        hash(&cache, &file);
        assert_eq!(cache.entries.lock().unwrap().len(), 1);
    }
}
