//! The modules' side of the cache root: what loading and building modules keeps there,
//! beside the engine's steps and trees (whose books [`crate::engine::CacheStore`] keeps).
//!
//! ```text
//! <root>/components/   compiled components (`.cwasm`), by component sha256 and engine
//! <root>/modules/      components built from the source of git dependencies, by commit,
//!                      subpath and toolchain
//! <root>/git/          fetched repositories and checkouts of dependencies (the layout
//!                      of `tanto_registry::git::CacheLayout`)
//! <root>/digests/      the sha256 of component files, by path, trusted while their size,
//!                      times and inode are unchanged
//! <root>/schemas/      the schema each component described, by component sha256, for
//!                      shell completion (which never builds nor runs a module)
//! <root>/python-packages/
//!                      third-party packages Python modules list, installed by pip, one
//!                      folder per exact list (see `crate::module::python`)
//! ```
//!
//! `tanto cache du` and `prune` count and remove these through [`ModuleCache`].

use std::fs;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::util::{folder_size, read_dir_paths};

/// The module folders of one cache root.
#[derive(Clone, Debug)]
pub struct ModuleCache {
    root: PathBuf,
}

/// A cached file (a compiled or built component).
#[derive(Clone, Debug)]
pub struct FileRecord {
    pub path: PathBuf,
    pub size: u64,
    pub last_used: SystemTime,
}

impl ModuleCache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Where the runtime keeps compiled components.
    pub fn compiled_dir(&self) -> PathBuf {
        self.root.join("components")
    }

    /// Where the sha256 of component files is remembered by their size, times and inode,
    /// so a cached call need not read and hash a big component (small JSON files).
    pub fn digests_dir(&self) -> PathBuf {
        self.root.join("digests")
    }

    /// Where the schemas components described are kept (small JSON files).
    pub fn schemas_dir(&self) -> PathBuf {
        self.root.join("schemas")
    }

    /// Keeps `schema`, which the component with sha256 `component` described.
    pub fn store_schema(&self, component: &crate::engine::Digest, schema: &crate::runtime::ModuleSchema) {
        let path = self.schemas_dir().join(format!("{}.json", component.hex()));
        if path.exists() {
            return;
        }
        let written = serde_json::to_vec(schema)
            .map_err(std::io::Error::other)
            .and_then(|bytes| crate::util::write_atomic(&path, &bytes));
        if let Err(error) = written {
            tracing::debug!(%error, path = %path.display(), "could not keep the module's schema");
        }
    }

    /// The schema the component with sha256 `component` described, if kept (and valid:
    /// the file is checked as a module's own `describe` is).
    pub fn schema(&self, component: &crate::engine::Digest) -> Option<crate::runtime::ModuleSchema> {
        let bytes = fs::read(self.schemas_dir().join(format!("{}.json", component.hex()))).ok()?;
        let schema: crate::runtime::ModuleSchema = serde_json::from_slice(&bytes).ok()?;
        schema.validate().ok()?;
        Some(schema)
    }

    /// Where components built from the source of git dependencies are kept.
    pub fn built_dir(&self) -> PathBuf {
        self.root.join("modules")
    }

    /// Where the checkouts of git dependencies are, one folder per commit.
    pub fn checkouts_dir(&self) -> PathBuf {
        self.git_dir().join("checkouts")
    }

    fn git_dir(&self) -> PathBuf {
        self.root.join("git")
    }

    /// Compiled components (`components/`) and components built from the source of git
    /// dependencies (`modules/`).
    pub fn components(&self) -> Vec<FileRecord> {
        read_dir_paths(&self.compiled_dir())
            .into_iter()
            .chain(read_dir_paths(&self.built_dir()))
            .filter_map(|path| {
                let metadata = fs::metadata(&path).ok()?;
                Some(FileRecord {
                    size: metadata.len(),
                    last_used: metadata.modified().unwrap_or(UNIX_EPOCH),
                    path,
                })
            })
            .collect()
    }

    /// The git cache (bare repositories and checkouts by commit): its size in bytes.
    pub fn git_bytes(&self) -> u64 {
        folder_size(&self.git_dir())
    }

    /// Removes the git cache; the next install or call fetches again.
    pub fn remove_git(&self) {
        crate::util::remove_tree(&self.git_dir());
    }

    /// Where pip installs the packages Python modules list.
    pub fn python_packages_dir(&self) -> PathBuf {
        self.root.join("python-packages")
    }

    /// The installed Python packages: their size in bytes.
    pub fn python_package_bytes(&self) -> u64 {
        folder_size(&self.python_packages_dir())
    }

    /// Removes the installed Python packages; the next build of a module listing some
    /// installs them again.
    pub fn remove_python_packages(&self) {
        crate::util::remove_tree(&self.python_packages_dir());
    }

    /// The digest stamps and kept schemas: their size in bytes.
    pub fn index_bytes(&self) -> u64 {
        folder_size(&self.digests_dir()) + folder_size(&self.schemas_dir())
    }

    /// Removes the digest stamps and kept schemas: the next call hashes its component once
    /// more, and completion of a module not called since lists no functions.
    pub fn remove_index(&self) {
        crate::util::remove_tree(&self.digests_dir());
        crate::util::remove_tree(&self.schemas_dir());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_of_both_kinds_are_listed_and_the_git_cache_counted_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ModuleCache::new(dir.path());
        fs::create_dir_all(cache.compiled_dir()).unwrap();
        fs::create_dir_all(cache.built_dir()).unwrap();
        fs::create_dir_all(cache.checkouts_dir().join("repo")).unwrap();
        fs::write(cache.compiled_dir().join("a.cwasm"), [0u8; 10]).unwrap();
        fs::write(cache.built_dir().join("b.wasm"), [0u8; 20]).unwrap();
        fs::write(cache.checkouts_dir().join("repo/file"), [0u8; 30]).unwrap();
        let mut sizes: Vec<u64> = cache.components().iter().map(|component| component.size).collect();
        sizes.sort();
        assert_eq!(sizes, [10, 20]);
        assert_eq!(cache.git_bytes(), 30);
        cache.remove_git();
        assert_eq!(cache.git_bytes(), 0);
        assert!(!dir.path().join("git").exists());
        assert_eq!(cache.components().len(), 2, "removing the git cache leaves components");
    }

    #[test]
    fn python_packages_digests_and_schemas_are_counted_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ModuleCache::new(dir.path());
        fs::create_dir_all(cache.python_packages_dir().join("key/package")).unwrap();
        fs::create_dir_all(cache.digests_dir()).unwrap();
        fs::create_dir_all(cache.schemas_dir()).unwrap();
        fs::write(cache.python_packages_dir().join("key/package/__init__.py"), [0u8; 40]).unwrap();
        fs::write(cache.digests_dir().join("stamp.json"), [0u8; 5]).unwrap();
        fs::write(cache.schemas_dir().join("schema.json"), [0u8; 7]).unwrap();
        assert_eq!(cache.python_package_bytes(), 40);
        assert_eq!(cache.index_bytes(), 12);
        cache.remove_python_packages();
        cache.remove_index();
        assert_eq!(cache.python_package_bytes() + cache.index_bytes(), 0);
        assert!(!cache.python_packages_dir().exists() && !cache.digests_dir().exists() && !cache.schemas_dir().exists());
    }
}
