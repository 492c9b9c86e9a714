//! Trees and the host's file system: reading a host folder into a tree (hashing files,
//! honouring `.gitignore`), and writing a tree into a host folder through a capability
//! handle that never follows a link.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::path::join;
use super::{Blob, Entry, FileEntry, Filter, HashCache, Tree, TreeError, io_error};

/// How [`Tree::from_host`] treats ignore files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IgnoreFiles {
    /// Honour `.gitignore` (and `.git/info/exclude`) and skip the `.git` folder, as a
    /// source directory given on the command line is treated.
    Honour,
    /// Take every file (an extracted snapshot).
    None,
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

impl Tree {
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

    /// Writes the tree under `root` (which must exist), for bind mounts and exports.
    ///
    /// Everything goes through a capability handle on `root` (`cap-std`), one component
    /// at a time, and never follows a link: nothing outside `root` is created, changed or
    /// read, whatever names and links the tree or the folder already holds. Links are
    /// written as links with their targets as they are. A file or link the folder already
    /// has where the tree puts an entry is replaced, and so is a folder where the tree
    /// puts a file or link; a folder where the tree puts a folder is kept.
    pub fn write_to(&self, root: &Path) -> Result<(), TreeError> {
        // Every failure here is the folder's (it is the destination's to accept what is
        // written), except reading a file's bytes from where they are kept.
        let failed = |path: &str| {
            let path = if path.is_empty() { root.to_path_buf() } else { root.join(path) };
            move |error| TreeError::Write { path, error }
        };
        let root_dir = cap_std::fs::Dir::open_ambient_dir(root, cap_std::ambient_authority()).map_err(failed(""))?;
        let mut writer = DirectoryWalker::new(root_dir);
        let mut directory_modes = Vec::new();
        for (path, entry) in &self.entries {
            let (parent, name) = match path.rsplit_once('/') {
                Some((parent, name)) => (parent, name),
                None => ("", path.as_str()),
            };
            let directory = writer.open(parent, false).map_err(failed(path))?;
            let keep_directory = matches!(entry, Entry::Directory { .. });
            match directory.symlink_metadata(name) {
                Ok(existing) if existing.is_dir() && keep_directory => {}
                Ok(existing) if existing.is_dir() => directory.remove_dir_all(name).map_err(failed(path))?,
                Ok(_) => directory.remove_file(name).map_err(failed(path))?,
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(failed(path)(error)),
            }
            match entry {
                Entry::Directory { mode } => {
                    if let Err(error) = directory.create_dir(name)
                        && error.kind() != io::ErrorKind::AlreadyExists
                    {
                        return Err(failed(path)(error));
                    }
                    directory_modes.push((path.as_str(), *mode));
                }
                Entry::File(file) => {
                    // `create_new` refuses to open anything that exists, links included.
                    let mut output = directory
                        .open_with(name, cap_std::fs::OpenOptions::new().write(true).create_new(true))
                        .map_err(failed(path))?;
                    match &file.blob {
                        Blob::Host(source) => {
                            let unreadable = || io_error(format!("cannot read {}", source.display()));
                            let mut input = fs::File::open(source).map_err(unreadable())?.take(file.size);
                            let mut buffer = vec![0u8; 64 << 10];
                            loop {
                                let read = input.read(&mut buffer).map_err(unreadable())?;
                                if read == 0 {
                                    break;
                                }
                                io::Write::write_all(&mut output, &buffer[..read]).map_err(failed(path))?;
                            }
                        }
                        Blob::Bytes(bytes) => io::Write::write_all(&mut output, bytes).map_err(failed(path))?,
                    }
                    output
                        .set_permissions(cap_std::fs::Permissions::from_std(fs::Permissions::from_mode(file.mode)))
                        .map_err(failed(path))?;
                }
                Entry::Symlink { target } => directory.symlink_contents(target, name).map_err(failed(path))?,
            }
        }
        // Modes last, deepest first, so that a read-only folder can still be filled.
        for (path, mode) in directory_modes.into_iter().rev() {
            writer.set_directory_mode(path, mode).map_err(failed(path))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::tree::victim_scene;

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
    fn what_the_destination_refuses_is_a_write_error_naming_the_path() {
        let (_base, destination, _victim) = victim_scene();
        fs::write(destination.join("taken"), "a file where the tree has a folder's child").unwrap();
        let tree = Tree::new().with_file("ok.txt", FileEntry::from_bytes(b"fine".to_vec(), 0o644)).unwrap();
        tree.write_to(&destination).unwrap();
        let below_a_file = destination.join("taken").join("deeper");
        match tree.write_to(&below_a_file) {
            Err(TreeError::Write { path, error }) => {
                assert_eq!(path, below_a_file);
                assert_eq!(error.kind(), io::ErrorKind::NotADirectory);
            }
            other => panic!("expected a write error, got {other:?}"),
        }
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
