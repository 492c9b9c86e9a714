//! Materialized directory trees: what a `Directory` evaluates to.
//!
//! A [`Tree`] is a sorted map from relative path to entry. File contents stay where they
//! are (a host file, an extracted snapshot, bytes in memory) and are referenced by a
//! [`Blob`]; edits (`with-file`, `without-file`, ...) only move entries around, so they
//! cost nothing per byte. The digest covers each path, kind, mode and content hash, never
//! timestamps or owners, so the same content gives the same digest on any machine.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

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

impl FileEntry {
    /// A host file, hashed through `cache`; its bytes stay where they are.
    pub fn from_host(path: &Path, cache: &HashCache) -> Result<Self, TreeError> {
        let metadata = fs::metadata(path).map_err(io_error(format!("cannot read {}", path.display())))?;
        if !metadata.is_file() {
            return Err(TreeError::NotAFile(path.display().to_string()));
        }
        let hash = cache.hash_file(path, &metadata).map_err(io_error(format!("cannot read {}", path.display())))?;
        Ok(Self {
            mode: metadata.permissions().mode() & 0o7777,
            size: metadata.len(),
            hash,
            blob: Blob::Host(path.to_path_buf()),
        })
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
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> TreeError {
    let context = context.into();
    move |source| TreeError::Io { context, source }
}

/// The longest name of one path component, as on Linux (`NAME_MAX`).
pub const MAX_NAME_LEN: usize = 255;
/// The longest path in a tree, as on Linux (`PATH_MAX`).
pub const MAX_PATH_LEN: usize = 4096;

/// Checks that `path` is a normal relative path, the only kind a tree holds: not empty,
/// `/`-separated components that are neither empty, `.` nor `..`, no NUL byte, and within
/// Linux's length limits. A `\` is an ordinary byte of a name (as it is on Linux), never
/// a separator. Every entry enters a tree through [`Tree::insert_with_parents`], which
/// calls this, so no tree can hold a path that climbs out of the folder it is written to.
pub fn validate_relative(path: &str) -> Result<(), TreeError> {
    let invalid = |reason| {
        Err(TreeError::InvalidPath {
            path: path.to_string(),
            reason,
        })
    };
    if path.is_empty() {
        return invalid("it is empty");
    }
    if path.len() > MAX_PATH_LEN {
        return invalid("it is longer than 4096 bytes");
    }
    if path.contains('\0') {
        return invalid("it contains a NUL byte");
    }
    if path.starts_with('/') {
        return invalid("it is absolute");
    }
    for component in path.split('/') {
        match component {
            "" => return invalid("it has an empty component"),
            "." | ".." => return invalid("it has a `.` or `..` component"),
            name if name.len() > MAX_NAME_LEN => return invalid("a component is longer than 255 bytes"),
            _ => {}
        }
    }
    Ok(())
}

/// Normalizes a path inside a tree: drops leading `/`, `.` and empty components and
/// resolves `..`, refusing to climb above the root, NUL bytes and names longer than
/// Linux allows. The root is `""`.
pub fn normalize_relative(path: &str) -> Result<String, TreeError> {
    if path.contains('\0') {
        return Err(TreeError::InvalidPath {
            path: path.to_string(),
            reason: "it contains a NUL byte",
        });
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(TreeError::InvalidPath {
                        path: path.to_string(),
                        reason: "it climbs above the root with `..`",
                    });
                }
            }
            part => parts.push(part),
        }
    }
    let normal = parts.join("/");
    if !normal.is_empty() {
        // What is left is a normal relative path; this also holds it to the length limits.
        validate_relative(&normal)?;
    }
    Ok(normal)
}

/// Joins two relative paths, either of which may be the root `""`.
pub fn join(base: &str, path: &str) -> String {
    match (base.is_empty(), path.is_empty()) {
        (true, _) => path.to_string(),
        (_, true) => base.to_string(),
        _ => format!("{base}/{path}"),
    }
}

fn parent_of(path: &str) -> Option<&str> {
    path.rfind('/').map(|index| &path[..index])
}

/// Include/exclude glob patterns over paths relative to a directory's root.
///
/// `*` does not cross `/` (use `**`). A pattern that matches a directory matches
/// everything below it. With no include pattern everything is included.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
}

impl Filter {
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, TreeError> {
        Ok(Self {
            include: build_globs(include)?,
            exclude: build_globs(exclude)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.include.is_none() && self.exclude.is_none()
    }

    fn matches_self_or_ancestor(set: &GlobSet, path: &str) -> bool {
        let mut current = Some(path);
        while let Some(candidate) = current {
            if set.is_match(candidate) {
                return true;
            }
            current = parent_of(candidate);
        }
        false
    }

    /// Whether the file or directory at `path` is kept. Directories that are only
    /// parents of kept paths are added back by [`Tree::filtered`].
    pub fn keeps(&self, path: &str) -> bool {
        if let Some(exclude) = &self.exclude
            && Self::matches_self_or_ancestor(exclude, path)
        {
            return false;
        }
        match &self.include {
            None => true,
            Some(include) => Self::matches_self_or_ancestor(include, path),
        }
    }

    /// Whether a walk must descend into directory `path` (something below may be kept).
    pub fn may_keep_below(&self, path: &str) -> bool {
        if let Some(exclude) = &self.exclude
            && Self::matches_self_or_ancestor(exclude, path)
        {
            return false;
        }
        true
    }
}

fn build_globs(patterns: &[String]) -> Result<Option<GlobSet>, TreeError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let trimmed = pattern.trim_start_matches("./").trim_matches('/');
        let glob = globset::GlobBuilder::new(trimmed)
            .literal_separator(true)
            .build()
            .or_else(|_| Glob::new(trimmed))
            .map_err(|error| TreeError::InvalidPattern {
                pattern: pattern.clone(),
                reason: error.kind().to_string(),
            })?;
        builder.add(glob);
    }
    builder.build().map(Some).map_err(|error| TreeError::InvalidPattern {
        pattern: patterns.join(", "),
        reason: error.to_string(),
    })
}

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

    fn hash_file(&self, path: &Path, metadata: &fs::Metadata) -> io::Result<Digest> {
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

/// How [`Tree::from_host`] treats ignore files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IgnoreFiles {
    /// Honour `.gitignore` (and `.git/info/exclude`) and skip the `.git` folder, as a
    /// source directory given on the command line is treated.
    Honour,
    /// Take every file (an extracted snapshot).
    None,
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a host directory. Files are hashed (through `cache`) but not copied.
    pub fn from_host(root: &Path, filter: &Filter, ignore_files: IgnoreFiles, cache: &HashCache) -> Result<Self, TreeError> {
        let metadata = fs::metadata(root).map_err(io_error(format!("cannot read directory {}", root.display())))?;
        if !metadata.is_dir() {
            return Err(TreeError::NotADirectory(root.display().to_string()));
        }
        let honour = ignore_files == IgnoreFiles::Honour;
        let mut walker = ignore::WalkBuilder::new(root);
        walker
            .hidden(false)
            .parents(false)
            .ignore(false)
            .git_global(false)
            .git_ignore(honour)
            .git_exclude(honour)
            .require_git(false)
            .follow_links(false)
            .sort_by_file_name(|a, b| a.cmp(b));
        let filter_for_walk = filter.clone();
        let root_for_filter = root.to_path_buf();
        walker.filter_entry(move |entry| {
            let Ok(relative) = entry.path().strip_prefix(&root_for_filter) else {
                return true;
            };
            let relative = relative.to_string_lossy();
            if relative.is_empty() {
                return true;
            }
            if honour && entry.file_name() == ".git" {
                return false;
            }
            let is_dir = entry.file_type().is_some_and(|kind| kind.is_dir());
            if is_dir { filter_for_walk.may_keep_below(&relative) } else { true }
        });

        let mut tree = Tree::new();
        for entry in walker.build() {
            let entry = entry.map_err(|error| TreeError::Io {
                context: format!("cannot walk {}", root.display()),
                source: io::Error::other(error.to_string()),
            })?;
            let path = entry.path();
            let relative = path
                .strip_prefix(root)
                .map_err(|_| TreeError::NotFound(path.display().to_string()))?
                .to_string_lossy()
                // A `\\` stays a byte of its component: turning it into a separator would let
                // a name like `a\\..\\x` climb out of the tree.
                .into_owned();
            if relative.is_empty() || !filter.keeps(&relative) {
                continue;
            }
            let metadata = fs::symlink_metadata(path).map_err(io_error(format!("cannot read {}", path.display())))?;
            let file_type = metadata.file_type();
            let entry = if file_type.is_dir() {
                Entry::Directory {
                    mode: metadata.permissions().mode() & 0o7777,
                }
            } else if file_type.is_symlink() {
                let target = fs::read_link(path).map_err(io_error(format!("cannot read link {}", path.display())))?;
                Entry::Symlink {
                    target: target.to_string_lossy().into_owned(),
                }
            } else if file_type.is_file() {
                let hash = cache.hash_file(path, &metadata).map_err(io_error(format!("cannot read {}", path.display())))?;
                Entry::File(FileEntry {
                    mode: metadata.permissions().mode() & 0o7777,
                    size: metadata.len(),
                    hash,
                    blob: Blob::Host(path.to_path_buf()),
                })
            } else {
                // Sockets, fifos and devices have no content to copy.
                continue;
            };
            tree.insert_with_parents(&relative, entry)?;
        }
        Ok(tree)
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
        let mut hasher = Hasher::new("tree");
        hasher.u64(self.entries.len() as u64);
        for (path, entry) in &self.entries {
            hasher.str(path);
            match entry {
                Entry::Directory { mode } => hasher.str("dir").u64(u64::from(*mode)),
                Entry::File(file) => hasher.str("file").u64(u64::from(file.mode)).digest(&file.hash),
                Entry::Symlink { target } => hasher.str("link").str(target),
            };
        }
        hasher.finish()
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

    /// A tar archive that, extracted at `/`, puts this tree's content at `destination`
    /// (absolute). The destination and its parents get no entries of their own, so
    /// existing directories keep their owner and mode (a `/tmp` stays `1777`); missing
    /// ones are created by the extractor.
    pub fn to_tar(&self, destination: &str) -> Result<Vec<u8>, TreeError> {
        let prefix = normalize_relative(destination)?;
        let mut builder = tar::Builder::new(Vec::new());
        builder.mode(tar::HeaderMode::Deterministic);
        for (path, entry) in &self.entries {
            let name = join(&prefix, path);
            append_entry(&mut builder, &name, entry)?;
        }
        builder.into_inner().map_err(io_error("cannot build archive"))
    }

    /// Writes the tree under `root` (which must exist), for bind mounts and exports.
    ///
    /// Everything goes through a capability handle on `root` (`cap-std`), one component
    /// at a time, and never follows a link: nothing outside `root` is created, changed or
    /// read, whatever names and links the tree or the folder already holds. Links are
    /// written as links with their targets as they are. A file or link the folder already
    /// has where the tree puts an entry is replaced, and so is a folder where the tree
    /// puts a file or link; a folder where the tree puts a folder is kept.
    pub fn write_to(&self, root: &Path) -> Result<(), TreeError> {
        let context = |path: &str| format!("cannot write {}", root.join(path).display());
        let root_dir = cap_std::fs::Dir::open_ambient_dir(root, cap_std::ambient_authority()).map_err(io_error(format!("cannot open {}", root.display())))?;
        let mut writer = DirectoryWalker::new(root_dir);
        let mut directory_modes = Vec::new();
        for (path, entry) in &self.entries {
            let (parent, name) = match path.rsplit_once('/') {
                Some((parent, name)) => (parent, name),
                None => ("", path.as_str()),
            };
            let directory = writer.open(parent, false).map_err(io_error(context(path)))?;
            let keep_directory = matches!(entry, Entry::Directory { .. });
            match directory.symlink_metadata(name) {
                Ok(existing) if existing.is_dir() && keep_directory => {}
                Ok(existing) if existing.is_dir() => directory.remove_dir_all(name).map_err(io_error(context(path)))?,
                Ok(_) => directory.remove_file(name).map_err(io_error(context(path)))?,
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(io_error(context(path))(error)),
            }
            match entry {
                Entry::Directory { mode } => {
                    if let Err(error) = directory.create_dir(name)
                        && error.kind() != io::ErrorKind::AlreadyExists
                    {
                        return Err(io_error(context(path))(error));
                    }
                    directory_modes.push((path.as_str(), *mode));
                }
                Entry::File(file) => {
                    // `create_new` refuses to open anything that exists, links included.
                    let mut output = directory
                        .open_with(name, cap_std::fs::OpenOptions::new().write(true).create_new(true))
                        .map_err(io_error(context(path)))?;
                    match &file.blob {
                        Blob::Host(source) => {
                            let mut input = fs::File::open(source).map_err(io_error(format!("cannot read {}", source.display())))?;
                            io::copy(&mut (&mut input).take(file.size), &mut output).map(|_| ())
                        }
                        Blob::Bytes(bytes) => io::Write::write_all(&mut output, bytes),
                    }
                    .map_err(io_error(context(path)))?;
                    output
                        .set_permissions(cap_std::fs::Permissions::from_std(fs::Permissions::from_mode(file.mode)))
                        .map_err(io_error(context(path)))?;
                }
                Entry::Symlink { target } => directory.symlink_contents(target, name).map_err(io_error(context(path)))?,
            }
        }
        // Modes last, deepest first, so that a read-only folder can still be filled.
        for (path, mode) in directory_modes.into_iter().rev() {
            writer.set_directory_mode(path, mode).map_err(io_error(context(path)))?;
        }
        Ok(())
    }
}

/// Opens folders below a root one component at a time, refusing links, and keeps the
/// chain of the last one's ancestors open (at most one handle per level), since a
/// sorted tree visits each folder's entries together.
pub(crate) struct DirectoryWalker {
    /// `(path, handle)`, from the root (`""`) down.
    open: Vec<(String, cap_std::fs::Dir)>,
}

impl DirectoryWalker {
    pub(crate) fn new(root: cap_std::fs::Dir) -> Self {
        Self {
            open: vec![(String::new(), root)],
        }
    }

    /// Sets the permission bits of the folder at `path` (never of a link).
    pub(crate) fn set_directory_mode(&mut self, path: &str, mode: u32) -> io::Result<()> {
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        let parent = self.open(parent, false)?;
        if !parent.symlink_metadata(name)?.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotADirectory, format!("{name} is not a folder")));
        }
        parent.set_permissions(name, cap_std::fs::Permissions::from_std(fs::Permissions::from_mode(mode)))
    }

    /// The folder at `path` (relative, `""` for the root), creating missing folders when
    /// `create`. A component that is a link or a file fails with `NotADirectory`.
    pub(crate) fn open(&mut self, path: &str, create: bool) -> io::Result<&cap_std::fs::Dir> {
        while let Some((open, _)) = self.open.last() {
            if open.is_empty() || path == open || path.starts_with(&format!("{open}/")) {
                break;
            }
            self.open.pop();
        }
        let (open, _) = self.open.last().ok_or_else(|| io::Error::other("the root folder is not open"))?;
        let rest = if open.is_empty() { path } else { &path[open.len()..] };
        let names: Vec<String> = rest.split('/').filter(|name| !name.is_empty()).map(str::to_string).collect();
        for name in names {
            let (open, directory) = self.open.last().ok_or_else(|| io::Error::other("the root folder is not open"))?;
            let metadata = match directory.symlink_metadata(&name) {
                Err(error) if create && error.kind() == io::ErrorKind::NotFound => {
                    directory.create_dir(&name)?;
                    directory.symlink_metadata(&name)?
                }
                other => other?,
            };
            if !metadata.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::NotADirectory,
                    format!("{name} is not a folder (links are never followed)"),
                ));
            }
            let child = directory.open_dir(&name)?;
            let child_path = join(open, &name);
            self.open.push((child_path, child));
        }
        match self.open.last() {
            Some((_, directory)) => Ok(directory),
            None => Err(io::Error::other("the root folder is not open")),
        }
    }
}

fn append_entry(builder: &mut tar::Builder<Vec<u8>>, name: &str, entry: &Entry) -> Result<(), TreeError> {
    let mut header = tar::Header::new_gnu();
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    let context = || format!("cannot add {name} to an archive");
    match entry {
        Entry::Directory { mode } => {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(*mode);
            header.set_size(0);
            builder.append_data(&mut header, format!("{name}/"), io::empty()).map_err(io_error(context()))
        }
        Entry::File(file) => {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(file.mode);
            header.set_size(file.size);
            match &file.blob {
                Blob::Host(path) => {
                    let source = fs::File::open(path).map_err(io_error(format!("cannot read {}", path.display())))?;
                    // The file may have changed since it was hashed; never let the archive
                    // and the header disagree about its length.
                    builder.append_data(&mut header, name, source.take(file.size)).map_err(io_error(context()))
                }
                Blob::Bytes(bytes) => builder.append_data(&mut header, name, &bytes[..]).map_err(io_error(context())),
            }
        }
        Entry::Symlink { target } => {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_mode(0o777);
            header.set_size(0);
            builder.append_link(&mut header, name, target).map_err(io_error(context()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree_of(files: &[(&str, &str)]) -> Tree {
        let mut tree = Tree::new();
        for (path, contents) in files {
            tree = tree.with_file(path, FileEntry::from_bytes(contents.as_bytes().to_vec(), 0o644)).unwrap();
        }
        tree
    }

    #[test]
    fn normalizes_paths_and_refuses_escapes() {
        assert_eq!(normalize_relative("/a/./b//c/").unwrap(), "a/b/c");
        assert_eq!(normalize_relative("a/../b").unwrap(), "b");
        assert_eq!(normalize_relative("/").unwrap(), "");
        assert!(normalize_relative("../etc").is_err());
    }

    #[test]
    fn only_normal_relative_paths_enter_a_tree() {
        for bad in ["", "/abs", "a/../b", "..", "a//b", "a/./b", "a/", "nul\0byte", &"x".repeat(256)] {
            assert!(validate_relative(bad).is_err(), "{bad:?}");
            let mut tree = Tree::new();
            assert!(tree.insert_with_parents(bad, Entry::Directory { mode: 0o755 }).is_err(), "{bad:?}");
        }
        for good in ["a", "a/b", "a\\..\\b", ".hidden", "..."] {
            validate_relative(good).unwrap();
        }
        assert!(normalize_relative("a\0b").is_err());
        // A backslash is a byte of a name, not a separator.
        let tree = tree_of(&[("a\\..\\..\\x", "1")]);
        assert_eq!(tree.entries("").unwrap(), vec!["a\\..\\..\\x"]);
    }

    /// A folder to write into beside a victim folder holding a file, outside it.
    fn victim_scene() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let base = tempfile::tempdir().unwrap();
        let destination = base.path().join("destination");
        let victim = base.path().join("victim");
        fs::create_dir(&destination).unwrap();
        fs::create_dir(&victim).unwrap();
        fs::write(victim.join("file"), "original").unwrap();
        fs::set_permissions(victim.join("file"), fs::Permissions::from_mode(0o600)).unwrap();
        (base, destination, victim)
    }

    #[track_caller]
    fn assert_untouched(victim: &Path) {
        let names: Vec<_> = fs::read_dir(victim).unwrap().map(|entry| entry.unwrap().file_name()).collect();
        assert_eq!(names, vec!["file"]);
        assert_eq!(fs::read_to_string(victim.join("file")).unwrap(), "original");
        assert_eq!(fs::metadata(victim.join("file")).unwrap().permissions().mode() & 0o7777, 0o600);
    }

    #[test]
    fn written_trees_keep_links_as_links_and_never_write_through_them() {
        let (_base, destination, victim) = victim_scene();
        let tree = Tree::new()
            .with_symlink("0", &victim.display().to_string())
            .unwrap()
            .with_symlink("rel", "../victim")
            .unwrap()
            .with_symlink("file-link", &victim.join("file").display().to_string())
            .unwrap()
            .with_file("a\\..\\0\\file", FileEntry::from_bytes(b"overwritten".to_vec(), 0o777))
            .unwrap()
            .with_file("ro/inner.txt", FileEntry::from_bytes(b"inner".to_vec(), 0o644))
            .unwrap();
        let mut tree = tree;
        tree.insert_with_parents("ro", Entry::Directory { mode: 0o555 }).unwrap();
        tree.write_to(&destination).unwrap();
        assert_untouched(&victim);
        assert_eq!(fs::read_link(destination.join("0")).unwrap(), victim);
        assert_eq!(fs::read_to_string(destination.join("a\\..\\0\\file")).unwrap(), "overwritten");
        assert_eq!(fs::read_to_string(destination.join("ro/inner.txt")).unwrap(), "inner");
        assert_eq!(fs::metadata(destination.join("ro")).unwrap().permissions().mode() & 0o777, 0o555);
        fs::set_permissions(destination.join("ro"), fs::Permissions::from_mode(0o755)).unwrap();

        // Written again over what is there: a link where the tree has a folder or a
        // file is replaced, never followed.
        let over = Tree::new()
            .with_file("0/file", FileEntry::from_bytes(b"through a link".to_vec(), 0o777))
            .unwrap()
            .with_file("file-link", FileEntry::from_bytes(b"through a link".to_vec(), 0o777))
            .unwrap()
            .with_file("rel/file", FileEntry::from_bytes(b"through a link".to_vec(), 0o777))
            .unwrap();
        over.write_to(&destination).unwrap();
        assert_untouched(&victim);
        assert!(fs::symlink_metadata(destination.join("0")).unwrap().is_dir());
        assert_eq!(fs::read_to_string(destination.join("file-link")).unwrap(), "through a link");
    }

    #[test]
    fn host_trees_keep_backslashes_and_links_as_they_are() {
        let (_base, source, victim) = victim_scene();
        std::os::unix::fs::symlink(&victim, source.join("0")).unwrap();
        fs::write(source.join("a\\..\\0\\x"), "x").unwrap();
        let tree = Tree::from_host(&source, &Filter::default(), IgnoreFiles::None, &HashCache::default()).unwrap();
        let paths: Vec<&String> = tree.iter().map(|(path, _)| path).collect();
        assert_eq!(paths, vec!["0", "a\\..\\0\\x"]);
        assert!(matches!(tree.iter().next(), Some((_, Entry::Symlink { .. }))));
        let (_out_base, destination, out_victim) = victim_scene();
        tree.write_to(&destination).unwrap();
        assert_untouched(&victim);
        assert_untouched(&out_victim);
    }

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
    fn filters_include_and_exclude() {
        let tree = tree_of(&[("src/main.rs", "m"), ("src/lib.rs", "l"), ("README.md", "r"), ("target/out", "o")]);
        let filter = Filter::new(&["src/**".into(), "*.md".into()], &["src/lib.rs".into()]).unwrap();
        let filtered = tree.filtered(&filter);
        let paths: Vec<&String> = filtered.iter().map(|(path, _)| path).collect();
        assert_eq!(paths, vec!["README.md", "src", "src/main.rs"]);
        let only_dir = tree.filtered(&Filter::new(&["src".into()], &[]).unwrap());
        assert_eq!(only_dir.entries("src").unwrap(), vec!["lib.rs", "main.rs"]);
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

    #[test]
    fn tar_has_no_entries_for_the_destination_or_its_parents() {
        let tree = tree_of(&[("x/y.txt", "hello")]);
        let bytes = tree.to_tar("/tmp/dest").unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|entry| entry.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["tmp/dest/x/", "tmp/dest/x/y.txt"]);
    }

    #[test]
    fn host_trees_honour_gitignore_and_hash_by_content() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".gitignore"), "ignored.txt\n").unwrap();
        fs::write(dir.path().join("ignored.txt"), "x").unwrap();
        fs::write(dir.path().join("kept.txt"), "y").unwrap();
        fs::create_dir(dir.path().join(".git")).unwrap();
        fs::write(dir.path().join(".git/HEAD"), "ref").unwrap();
        let cache = HashCache::default();
        let tree = Tree::from_host(dir.path(), &Filter::default(), IgnoreFiles::Honour, &cache).unwrap();
        assert_eq!(tree.entries("").unwrap(), vec![".gitignore", "kept.txt"]);
        let before = tree.digest();
        fs::write(dir.path().join("ignored.txt"), "changed").unwrap();
        let again = Tree::from_host(dir.path(), &Filter::default(), IgnoreFiles::Honour, &cache).unwrap();
        assert_eq!(again.digest(), before);
        fs::write(dir.path().join("kept.txt"), "z").unwrap();
        let changed = Tree::from_host(dir.path(), &Filter::default(), IgnoreFiles::Honour, &cache).unwrap();
        assert_ne!(changed.digest(), before);
    }
}
