//! Materialized directory trees: what a `Directory` evaluates to.
//!
//! A [`Tree`] is a sorted map from relative path to entry. File contents stay where they
//! are (a host file, an extracted snapshot, bytes in memory) and are referenced by a
//! [`Blob`]; edits (`with-file`, `without-file`, ...) only move entries around, so they
//! cost nothing per byte. The digest covers each path, kind, mode and content hash, never
//! timestamps or owners, so the same content gives the same digest on any machine.
//!
//! This file is the model (entries, edits, digest); beside it: `path` (the one gate a
//! tree path passes), `filter` (include/exclude globs), `hash_cache` (file hashes
//! remembered by stat), `host` (reading a host folder, writing a tree into one) and
//! `archive` (a tree as a tar archive for a container).

mod archive;
mod filter;
mod hash_cache;
mod host;
mod path;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use self::archive::Owner;
pub use self::filter::Filter;
pub use self::hash_cache::HashCache;
pub(crate) use self::hash_cache::hash_reader;
pub(crate) use self::host::DirectoryWalker;
pub use self::host::IgnoreFiles;
use self::path::parent_of;
pub use self::path::{MAX_NAME_LEN, MAX_PATH_LEN, join, normalize_relative, validate_relative};
use super::digest::{Digest, Hasher};

/// Where a file's bytes live.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Blob {
    /// A file on the host (a source directory or an extracted snapshot).
    Host(PathBuf),
    /// Bytes held in memory (`with-new-file`).
    Bytes(#[serde(with = "serde_bytes_as_base")] Arc<[u8]>),
}

/// Serializes in-memory bytes as a plain list; they are small (`with-new-file` contents).
mod serde_bytes_as_base {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Arc<[u8]>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(bytes.iter())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Arc<[u8]>, D::Error> {
        Ok(Vec::<u8>::deserialize(deserializer)?.into())
    }
}

impl Blob {
    /// Reads the whole blob.
    pub fn read(&self) -> io::Result<Vec<u8>> {
        match self {
            Blob::Host(path) => fs::read(path),
            Blob::Bytes(bytes) => Ok(bytes.to_vec()),
        }
    }
}

/// A regular file in a tree.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FileEntry {
    /// Permission bits (`0o644`, `0o755`, ...).
    pub mode: u32,
    pub size: u64,
    /// sha256 of the contents.
    pub hash: Digest,
    pub blob: Blob,
}

impl FileEntry {
    /// A file made of `bytes`.
    pub fn from_bytes(bytes: impl Into<Arc<[u8]>>, mode: u32) -> Self {
        let bytes: Arc<[u8]> = bytes.into();
        Self {
            mode,
            size: bytes.len() as u64,
            hash: Digest::of_bytes(&bytes),
            blob: Blob::Bytes(bytes),
        }
    }
}

/// One entry of a tree.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Entry {
    Directory { mode: u32 },
    File(FileEntry),
    Symlink { target: String },
}

/// A directory tree. Paths are relative, `/`-separated, never empty, never `.`/`..`;
/// every parent of an entry is itself a `Directory` entry.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Tree {
    entries: BTreeMap<String, Entry>,
}

/// What a tree's digest takes of one entry.
pub(crate) enum DigestPart<'a> {
    Directory { mode: u32 },
    File { mode: u32, hash: &'a Digest },
    Symlink { target: &'a str },
}

/// The digest of a tree's content from its `count` entries, sorted by path: [`Tree::digest`],
/// and the same for a tree known only from an archive's stream (see
/// [`crate::engine::archive::digest_path_archive`]).
pub(crate) fn digest_entries<'a>(count: usize, entries: impl Iterator<Item = (&'a str, DigestPart<'a>)>) -> Digest {
    let mut hasher = Hasher::new("tree");
    hasher.u64(count as u64);
    for (path, part) in entries {
        hasher.str(path);
        match part {
            DigestPart::Directory { mode } => hasher.str("dir").u64(u64::from(mode)),
            DigestPart::File { mode, hash } => hasher.str("file").u64(u64::from(mode)).digest(hash),
            DigestPart::Symlink { target } => hasher.str("link").str(target),
        };
    }
    hasher.finish()
}

/// Why a tree operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("no such file or directory: {0}")]
    NotFound(String),
    #[error("not a directory: {0}")]
    NotADirectory(String),
    #[error("not a regular file: {0}")]
    NotAFile(String),
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error("invalid glob pattern {pattern:?}: {reason}")]
    InvalidPattern { pattern: String, reason: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// Writing into the folder a tree is written to failed (see [`Tree::write_to`]): a
    /// path there, and what stood in the way.
    #[error("cannot write {}: {error}", path.display())]
    Write { path: PathBuf, error: io::Error },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> TreeError {
    let context = context.into();
    move |source| TreeError::Io { context, source }
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts `entry` at `path`, creating missing parents as `0o755` directories and
    /// replacing a file or link that stands where a parent directory must be.
    ///
    /// The one gate into a tree: `path` must be a normal relative path
    /// ([`validate_relative`]), whatever it came from (a host folder, a container's
    /// archive, a module's call). Since every parent of an entry is a `Directory` entry,
    /// no entry ever sits below a symlink.
    pub fn insert_with_parents(&mut self, path: &str, entry: Entry) -> Result<(), TreeError> {
        validate_relative(path)?;
        if let Entry::Symlink { target } = &entry
            && target.contains('\0')
        {
            return Err(TreeError::InvalidPath {
                path: path.to_string(),
                reason: "its link target contains a NUL byte",
            });
        }
        let mut parent = parent_of(path);
        let mut missing = Vec::new();
        while let Some(directory) = parent {
            match self.entries.get(directory) {
                Some(Entry::Directory { .. }) => break,
                _ => missing.push(directory.to_string()),
            }
            parent = parent_of(directory);
        }
        for directory in missing.into_iter().rev() {
            self.entries.insert(directory, Entry::Directory { mode: 0o755 });
        }
        if !matches!(entry, Entry::Directory { .. }) {
            self.remove_below(path);
        }
        self.entries.insert(path.to_string(), entry);
        Ok(())
    }

    fn remove_below(&mut self, path: &str) {
        let prefix = format!("{path}/");
        let doomed: Vec<String> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix))
            .map(|(key, _)| key.clone())
            .collect();
        for key in doomed {
            self.entries.remove(&key);
        }
    }

    /// The digest of the tree's content: paths, kinds, modes, file hashes, link targets.
    pub fn digest(&self) -> Digest {
        digest_entries(
            self.entries.len(),
            self.entries.iter().map(|(path, entry)| {
                let part = match entry {
                    Entry::Directory { mode } => DigestPart::Directory { mode: *mode },
                    Entry::File(file) => DigestPart::File {
                        mode: file.mode,
                        hash: &file.hash,
                    },
                    Entry::Symlink { target } => DigestPart::Symlink { target },
                };
                (path.as_str(), part)
            }),
        )
    }

    /// The entries, sorted by path.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Entry)> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Total bytes of the regular files.
    pub fn size(&self) -> u64 {
        self.entries
            .values()
            .map(|entry| if let Entry::File(file) = entry { file.size } else { 0 })
            .sum()
    }

    /// The subtree at `path` (relative), as a tree of its own.
    pub fn subtree(&self, path: &str) -> Result<Tree, TreeError> {
        let path = normalize_relative(path)?;
        if path.is_empty() {
            return Ok(self.clone());
        }
        match self.entries.get(&path) {
            Some(Entry::Directory { .. }) => {}
            Some(_) => return Err(TreeError::NotADirectory(path)),
            None => return Err(TreeError::NotFound(path)),
        }
        let prefix = format!("{path}/");
        let entries = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix))
            .map(|(key, entry)| (key[prefix.len()..].to_string(), entry.clone()))
            .collect();
        Ok(Tree { entries })
    }

    /// The regular file at `path`.
    pub fn file(&self, path: &str) -> Result<&FileEntry, TreeError> {
        let path = normalize_relative(path)?;
        match self.entries.get(&path) {
            Some(Entry::File(file)) => Ok(file),
            Some(Entry::Symlink { target }) => {
                // Follow links that stay inside the tree, as reading the file in a
                // container would.
                let base = parent_of(&path).unwrap_or("");
                let resolved = if target.starts_with('/') { target.clone() } else { join(base, target) };
                match normalize_relative(&resolved) {
                    Ok(resolved) if resolved != path => self.file(&resolved),
                    _ => Err(TreeError::NotAFile(path)),
                }
            }
            Some(Entry::Directory { .. }) => Err(TreeError::NotAFile(path)),
            None => Err(TreeError::NotFound(path)),
        }
    }

    /// Names of the entries directly under `path`, sorted; directories end with `/`.
    pub fn entries(&self, path: &str) -> Result<Vec<String>, TreeError> {
        let path = normalize_relative(path)?;
        let subtree = self.subtree(&path)?;
        Ok(subtree
            .entries
            .iter()
            .filter(|(key, _)| !key.contains('/'))
            .map(|(key, entry)| match entry {
                Entry::Directory { .. } => format!("{key}/"),
                _ => key.clone(),
            })
            .collect())
    }

    /// This tree with a file at `path`.
    pub fn with_file(mut self, path: &str, file: FileEntry) -> Result<Tree, TreeError> {
        let path = normalize_relative(path)?;
        if path.is_empty() {
            return Err(TreeError::InvalidPath {
                path,
                reason: "a file cannot replace the root directory",
            });
        }
        self.insert_with_parents(&path, Entry::File(file))?;
        Ok(self)
    }

    /// This tree with a symbolic link at `path` pointing to `target` (kept as it is:
    /// links are resolved, if ever, inside a container or by [`Tree::file`], never on
    /// the host).
    pub fn with_symlink(mut self, path: &str, target: &str) -> Result<Tree, TreeError> {
        let path = normalize_relative(path)?;
        self.insert_with_parents(&path, Entry::Symlink { target: target.to_string() })?;
        Ok(self)
    }

    /// This tree with `source` (filtered) merged in at `path`.
    pub fn with_tree(mut self, path: &str, source: &Tree, filter: &Filter) -> Result<Tree, TreeError> {
        let path = normalize_relative(path)?;
        if !path.is_empty() {
            match self.entries.get(&path) {
                Some(Entry::Directory { .. }) => {}
                _ => self.insert_with_parents(&path, Entry::Directory { mode: 0o755 })?,
            }
        }
        let source = source.filtered(filter);
        for (relative, entry) in source.entries {
            self.insert_with_parents(&join(&path, &relative), entry)?;
        }
        Ok(self)
    }

    /// This tree without the entry at `path` (and everything under it).
    pub fn without(mut self, path: &str) -> Result<Tree, TreeError> {
        let path = normalize_relative(path)?;
        if path.is_empty() {
            return Ok(Tree::new());
        }
        self.remove_below(&path);
        self.entries.remove(&path);
        Ok(self)
    }

    /// The paths of the entries (files, directories, links) that match `pattern`, sorted.
    /// `*` does not cross `/`; `**` does.
    pub fn glob(&self, pattern: &str) -> Result<Vec<String>, TreeError> {
        let matcher = filter::glob_matcher(pattern)?;
        Ok(self.entries.keys().filter(|path| matcher.is_match(path.as_str())).cloned().collect())
    }

    /// This tree with the modes git records: directories `0o755`, files `0o755` when
    /// executable and `0o644` otherwise. A checkout's modes follow the umask of the
    /// process that made it; these do not, so a commit's tree has one digest everywhere.
    pub fn with_git_modes(mut self) -> Tree {
        for entry in self.entries.values_mut() {
            match entry {
                Entry::Directory { mode } => *mode = 0o755,
                Entry::File(file) => file.mode = if file.mode & 0o100 != 0 { 0o755 } else { 0o644 },
                Entry::Symlink { .. } => {}
            }
        }
        self
    }

    /// Only the entries `filter` keeps, plus the directories that hold them.
    pub fn filtered(&self, filter: &Filter) -> Tree {
        if filter.is_empty() {
            return self.clone();
        }
        let mut tree = Tree::new();
        for (path, entry) in &self.entries {
            if filter.keeps(path) {
                // The paths of a valid tree, and their parents, are valid.
                let _ = tree.insert_with_parents(path, entry.clone());
            }
        }
        tree
    }
}

/// A folder to write into beside a victim folder holding a file (mode 600), outside it:
/// what the tests of host writes and of archive unpacking try to reach.
#[cfg(test)]
pub(crate) fn victim_scene() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let base = tempfile::tempdir().unwrap();
    let destination = base.path().join("destination");
    let victim = base.path().join("victim");
    std::fs::create_dir(&destination).unwrap();
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("file"), "original").unwrap();
    std::fs::set_permissions(victim.join("file"), std::fs::Permissions::from_mode(0o600)).unwrap();
    (base, destination, victim)
}

/// A tree of regular files (mode 644) with the given paths and contents, for tests.
#[cfg(test)]
pub(crate) fn tree_of(files: &[(&str, &str)]) -> Tree {
    let mut tree = Tree::new();
    for (path, contents) in files {
        tree = tree.with_file(path, FileEntry::from_bytes(contents.as_bytes().to_vec(), 0o644)).unwrap();
    }
    tree
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_depends_on_content_not_insertion_order() {
        let first = tree_of(&[("a.txt", "1"), ("b/c.txt", "2")]);
        let second = tree_of(&[("b/c.txt", "2"), ("a.txt", "1")]);
        assert_eq!(first.digest(), second.digest());
        let third = tree_of(&[("a.txt", "1"), ("b/c.txt", "3")]);
        assert_ne!(first.digest(), third.digest());
    }

    #[test]
    fn entries_list_children_with_directory_markers() {
        let tree = tree_of(&[("a.txt", "1"), ("b/c.txt", "2"), ("b/d/e.txt", "3")]);
        assert_eq!(tree.entries("").unwrap(), vec!["a.txt", "b/"]);
        assert_eq!(tree.entries("b").unwrap(), vec!["c.txt", "d/"]);
        assert!(matches!(tree.entries("nope"), Err(TreeError::NotFound(_))));
        assert!(matches!(tree.entries("a.txt"), Err(TreeError::NotADirectory(_))));
    }

    #[test]
    fn without_removes_subtrees_and_with_file_replaces_files() {
        let tree = tree_of(&[("a/b.txt", "1"), ("a/c.txt", "2"), ("d.txt", "3")]);
        let tree = tree.without("a").unwrap();
        assert_eq!(tree.entries("").unwrap(), vec!["d.txt"]);
        let tree = tree.with_file("d.txt/e.txt", FileEntry::from_bytes(b"4".to_vec(), 0o600)).unwrap();
        assert_eq!(tree.entries("").unwrap(), vec!["d.txt/"]);
        assert_eq!(tree.file("d.txt/e.txt").unwrap().mode, 0o600);
    }
}
