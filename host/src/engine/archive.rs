//! Unpacking a container's tar archive onto the host, confined to one folder.
//!
//! A container's files are whatever a module's commands made them: names with `..`,
//! absolute paths, links to host files, a link followed by a file "inside" it. The
//! archive is read as a stream (never held whole in memory) and each entry is written
//! through a capability handle on the destination (`cap-std`), one component at a time,
//! never through a link: an entry whose path is not a normal relative path, or whose
//! parent is a link, is refused. Links are written as links and never read.
//!
//! The `tar` crate's own `unpack` is not used: it follows links inside the destination
//! and checks containment by canonicalizing paths, which is weaker than never following.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::digest::Digest;
use super::tree::{DigestPart, DirectoryWalker, Owner, TreeError, digest_entries, hash_reader, join, normalize_relative, validate_relative};

fn refused(path: &str, reason: &'static str) -> TreeError {
    TreeError::InvalidPath {
        path: path.to_string(),
        reason,
    }
}

fn io_error(context: String) -> impl FnOnce(io::Error) -> TreeError {
    move |source| TreeError::Io { context, source }
}

/// Unpacks the tar `archive` into `destination` (a new, empty folder), its entries checked
/// as [`walk_archive`] checks them: it refuses (and stops at) an entry whose name is
/// absolute, climbs with `..`, has empty components or a NUL byte, whose parent is a link
/// or a file, or a hard link to anything but a regular file unpacked before it. Devices
/// and fifos are skipped. Folder modes are applied last, so a read-only folder can still
/// be filled.
pub fn unpack(archive: impl Read, destination: &Path) -> Result<(), TreeError> {
    let root =
        cap_std::fs::Dir::open_ambient_dir(destination, cap_std::ambient_authority()).map_err(io_error(format!("cannot open {}", destination.display())))?;
    let mut walker = DirectoryWalker::new(root.try_clone().map_err(io_error(format!("cannot open {}", destination.display())))?);
    let mut directory_modes: Vec<(String, u32)> = Vec::new();
    walk_archive(archive, Layout::Root, |entry| {
        let path = entry.path().to_string();
        let context = || format!("cannot unpack {path}");
        let (parent, base) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        // The walk saw every parent as a folder of the archive, made here before this
        // entry: opening one never follows a link.
        let directory = walker.open(parent, false).map_err(io_error(context()))?;
        // An entry that is not a folder replaces a file or link of an earlier entry, as
        // tar does (the walk refuses one replacing a folder).
        let replace = || match directory.remove_file(base) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(io_error(context())(error)),
            _ => Ok(()),
        };
        match entry {
            Below::Directory { mode, .. } => {
                if !directory.symlink_metadata(base).is_ok_and(|metadata| metadata.is_dir()) {
                    directory.create_dir(base).map_err(io_error(context()))?;
                }
                directory_modes.push((path.clone(), mode));
            }
            Below::File { mode, contents, .. } => {
                replace()?;
                let mut output = directory
                    .open_with(base, cap_std::fs::OpenOptions::new().write(true).create_new(true))
                    .map_err(io_error(context()))?;
                io::copy(contents, &mut output).map_err(io_error(context()))?;
                output
                    .set_permissions(cap_std::fs::Permissions::from_std(std::fs::Permissions::from_mode(mode)))
                    .map_err(io_error(context()))?;
            }
            Below::Symlink { target, .. } => {
                replace()?;
                directory.symlink_contents(&target, base).map_err(io_error(context()))?;
            }
            Below::HardLink { target, .. } => {
                replace()?;
                // Both paths are real folders and files this function made (never links),
                // so no component of either is followed out of the destination.
                root.hard_link(&target, directory, base).map_err(io_error(context()))?;
            }
            // Character and block devices and fifos have no content to keep.
            Below::Dropped { .. } => replace()?,
        }
        Ok(())
    })?;
    directory_modes.sort_by_key(|(path, _)| std::cmp::Reverse(path.matches('/').count()));
    for (path, mode) in directory_modes {
        walker.set_directory_mode(&path, mode).map_err(io_error(format!("cannot unpack {path}")))?;
    }
    Ok(())
}

/// What a path archive (Docker's archive of one path in a container: a top entry named
/// after the path, then everything below it) has at its top.
#[derive(Debug, PartialEq, Eq)]
pub enum PathTop {
    /// A folder; what is below it went to the visitor.
    Directory,
    File,
    /// A symbolic link, with its target as the container wrote it.
    Link(String),
}

/// One entry below the top folder of a path archive, checked as [`unpack`] checks it:
/// a normal relative path (below the top), no parent that is a link or a file, no folder
/// replacing a file or link nor the other way round, hard links only to regular files
/// earlier in the archive.
pub enum Below<'entry, 'archive, R: Read> {
    /// A folder; one that only stands as the parent of a later entry comes with `0o755`,
    /// the mode [`unpack`] makes it with.
    Directory {
        path: String,
        mode: u32,
    },
    File {
        path: String,
        mode: u32,
        contents: &'entry mut tar::Entry<'archive, R>,
    },
    Symlink {
        path: String,
        target: String,
    },
    /// `mode` is the target's: the two are one file.
    HardLink {
        path: String,
        target: String,
        mode: u32,
    },
    /// A device or fifo: nothing is kept of it, but it replaces what stood at `path`.
    Dropped {
        path: String,
    },
}

impl<R: Read> Below<'_, '_, R> {
    /// Where the entry goes, relative to the top folder.
    pub fn path(&self) -> &str {
        match self {
            Below::Directory { path, .. } | Below::File { path, .. } | Below::Symlink { path, .. } | Below::HardLink { path, .. } | Below::Dropped { path } => {
                path
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Seen {
    Directory,
    File { mode: u32 },
    Other,
}

/// How an archive's entries are named.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Relative to the folder it is unpacked in.
    Root,
    /// Docker's archive of one path: a top entry named after the path, then everything
    /// below it.
    Path,
}

/// Walks path archive `archive`, handing each entry below its top folder to `visit`.
/// Stops at the top entry when it is not a folder.
pub fn walk_path_archive<R: Read>(archive: R, visit: impl FnMut(Below<'_, '_, R>) -> Result<(), TreeError>) -> Result<PathTop, TreeError> {
    walk_archive(archive, Layout::Path, visit)
}

/// Walks `archive`, handing each entry (below the top folder of a path archive) to
/// `visit`, checked as [`Below`] says. A root archive always has a folder at its top.
fn walk_archive<R: Read>(archive: R, layout: Layout, mut visit: impl FnMut(Below<'_, '_, R>) -> Result<(), TreeError>) -> Result<PathTop, TreeError> {
    let mut reader = tar::Archive::new(archive);
    let mut top: Option<String> = None;
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let entries = reader.entries().map_err(io_error("cannot read the archive".into()))?;
    for entry in entries {
        let mut entry = entry.map_err(io_error("cannot read the archive".into()))?;
        let raw = entry.path_bytes();
        let Some(name) = entry_name(&raw) else { continue };
        let kind = entry.header().entry_type();
        let path = match (layout, &top) {
            (Layout::Root, _) => name,
            (Layout::Path, Some(top)) => below_top(top, &name)?,
            (Layout::Path, None) if kind.is_dir() => {
                top = Some(name);
                continue;
            }
            (Layout::Path, None) if kind.is_symlink() => return Ok(PathTop::Link(link_target(&entry, &name)?)),
            (Layout::Path, None) => return Ok(PathTop::File),
        };
        // Hard link targets are named as entries are.
        let in_archive = |name: String| match &top {
            Some(top) => below_top(top, &name).ok(),
            None => Some(name),
        };
        validate_relative(&path)?;
        let mut parent = path.rsplit_once('/').map(|(parent, _)| parent);
        let mut missing = Vec::new();
        while let Some(directory) = parent {
            match seen.get(directory) {
                Some(Seen::Directory) => break,
                Some(_) => return Err(refused(&path, "its parent is a link or a file in the archive")),
                None => missing.push(directory.to_string()),
            }
            parent = directory.rsplit_once('/').map(|(parent, _)| parent);
        }
        for directory in missing.into_iter().rev() {
            seen.insert(directory.clone(), Seen::Directory);
            visit(Below::Directory { path: directory, mode: 0o755 })?;
        }
        let mode = entry.header().mode().unwrap_or(0o644) & 0o7777;
        let existing = seen.get(&path).copied();
        if kind.is_dir() {
            if existing.is_some_and(|existing| existing != Seen::Directory) {
                return Err(refused(&path, "a folder would replace a file or link of the archive"));
            }
            seen.insert(path.clone(), Seen::Directory);
            visit(Below::Directory { path, mode })?;
            continue;
        }
        if existing == Some(Seen::Directory) {
            return Err(refused(&path, "it would replace a folder of the archive"));
        }
        if kind.is_file() || kind == tar::EntryType::Continuous {
            seen.insert(path.clone(), Seen::File { mode });
            visit(Below::File {
                path,
                mode,
                contents: &mut entry,
            })?;
        } else if kind.is_symlink() {
            let target = link_target(&entry, &path)?;
            seen.insert(path.clone(), Seen::Other);
            visit(Below::Symlink { path, target })?;
        } else if kind.is_hard_link() {
            let raw_target = entry.link_name_bytes().ok_or_else(|| refused(&path, "it is a hard link without a target"))?;
            let (target, mode) = entry_name(&raw_target)
                .and_then(in_archive)
                .and_then(|target| match seen.get(&target) {
                    Some(Seen::File { mode }) => Some((target, *mode)),
                    _ => None,
                })
                .ok_or_else(|| refused(&path, "it is a hard link to something other than a file of the archive"))?;
            seen.insert(path.clone(), Seen::File { mode });
            visit(Below::HardLink { path, target, mode })?;
        } else {
            seen.remove(&path);
            visit(Below::Dropped { path })?;
        }
    }
    match (layout, top) {
        (Layout::Root, _) | (Layout::Path, Some(_)) => Ok(PathTop::Directory),
        (Layout::Path, None) => Err(TreeError::NotFound("the container returned an empty archive".into())),
    }
}

/// An entry's name without `./` prefixes or a trailing `/`; `None` for the archive's root.
fn entry_name(raw: &[u8]) -> Option<String> {
    let name = String::from_utf8_lossy(raw);
    let mut name = name.trim_end_matches('/');
    while let Some(rest) = name.strip_prefix("./") {
        name = rest;
    }
    (!name.is_empty() && name != ".").then(|| name.to_string())
}

/// `name` relative to the top entry `top`; refused when it is not below it.
fn below_top(top: &str, name: &str) -> Result<String, TreeError> {
    name.strip_prefix(top)
        .and_then(|rest| rest.strip_prefix('/'))
        .map(str::to_string)
        .ok_or_else(|| refused(name, "it is not below the archive's top folder"))
}

fn link_target<R: Read>(entry: &tar::Entry<'_, R>, path: &str) -> Result<String, TreeError> {
    let target = entry.link_name_bytes().ok_or_else(|| refused(path, "it is a link without a target"))?;
    if target.contains(&0) {
        return Err(refused(path, "its link target contains a NUL byte"));
    }
    Ok(String::from_utf8_lossy(&target).into_owned())
}

/// What a path archive read as a stream holds at its top; nothing of it is written anywhere.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StreamedPath {
    /// A folder, with the digest [`Tree::digest`](super::tree::Tree::digest) gives the tree
    /// that [`unpack`] and `Tree::from_host` make of the same archive.
    Directory(Digest),
    File,
    /// A symbolic link, with its target as the container wrote it.
    Link(String),
}

/// Reads path archive `archive` as a stream, hashing the files below its top folder.
pub fn digest_path_archive(archive: impl Read) -> Result<StreamedPath, TreeError> {
    enum Kind {
        Directory(u32),
        File { mode: u32, hash: Digest },
        Symlink(String),
    }
    let mut tree: BTreeMap<String, Kind> = BTreeMap::new();
    let top = walk_path_archive(archive, |below| {
        match below {
            Below::Directory { path, mode } => {
                tree.insert(path, Kind::Directory(mode));
            }
            Below::File { path, mode, contents } => {
                let hash = hash_reader(contents).map_err(io_error(format!("cannot read {path} from the archive")))?;
                tree.insert(path, Kind::File { mode, hash });
            }
            Below::Symlink { path, target } => {
                tree.insert(path, Kind::Symlink(target));
            }
            // The host's copy is the same inode: the target's contents and mode.
            Below::HardLink { path, target, .. } => {
                if let Some(Kind::File { mode, hash }) = tree.get(&target) {
                    let file = Kind::File { mode: *mode, hash: *hash };
                    tree.insert(path, file);
                }
            }
            Below::Dropped { path } => {
                tree.remove(&path);
            }
        }
        Ok(())
    })?;
    Ok(match top {
        PathTop::File => StreamedPath::File,
        PathTop::Link(target) => StreamedPath::Link(target),
        PathTop::Directory => {
            let entries = tree.iter().map(|(path, kind)| {
                let part = match kind {
                    Kind::Directory(mode) => DigestPart::Directory { mode: *mode },
                    Kind::File { mode, hash, .. } => DigestPart::File { mode: *mode, hash },
                    Kind::Symlink(target) => DigestPart::Symlink { target },
                };
                (path.as_str(), part)
            });
            StreamedPath::Directory(digest_entries(tree.len(), entries))
        }
    })
}

/// Rewrites the folder of path archive `archive` as an archive that extracts at `/` to
/// below `destination` (absolute), owned by `owner`: what extracting the folder's tree
/// there (`Tree::write_tar_owned`) gives, with no entry for `destination` or its parents,
/// but streamed from one container to another without the folder ever being on the host.
/// Hard links stay hard links; devices and fifos are left out.
pub fn rebase_path_archive<W: Write>(archive: impl Read, writer: W, destination: &str, owner: Owner) -> Result<W, TreeError> {
    let prefix = normalize_relative(destination)?;
    let mut builder = tar::Builder::new(writer);
    let top = walk_path_archive(archive, |below| {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(u64::from(owner.uid));
        header.set_gid(u64::from(owner.gid));
        header.set_size(0);
        let appended = match below {
            Below::Directory { path, mode } => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(mode);
                builder.append_data(&mut header, format!("{}/", join(&prefix, &path)), io::empty())
            }
            Below::File { path, mode, contents } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(mode);
                header.set_size(contents.header().size().unwrap_or(0));
                builder.append_data(&mut header, join(&prefix, &path), contents)
            }
            Below::Symlink { path, target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                builder.append_link(&mut header, join(&prefix, &path), target)
            }
            // Docker's extraction gives the file the mode of its hard link's entry.
            Below::HardLink { path, target, mode } => {
                header.set_entry_type(tar::EntryType::Link);
                header.set_mode(mode);
                builder.append_link(&mut header, join(&prefix, &path), join(&prefix, &target))
            }
            Below::Dropped { .. } => Ok(()),
        };
        appended.map_err(io_error(format!("cannot copy an entry to {destination}")))
    })?;
    match top {
        PathTop::Directory => builder.into_inner().map_err(io_error("cannot finish an archive".into())),
        PathTop::File | PathTop::Link(_) => Err(TreeError::NotADirectory(destination.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    /// An archive of raw entries: `(name, kind, contents or link target)`; names are
    /// written as they are, without the `tar` crate's checks.
    fn archive(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let entries: Vec<_> = entries.iter().map(|(name, kind, data)| (*name, *kind, *data, 0o644)).collect();
        archive_with_modes(&entries)
    }

    /// [`archive`] with each entry's mode.
    fn archive_with_modes(entries: &[(&str, tar::EntryType, &str, u32)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, kind, data, mode) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_mode(*mode);
            {
                let bytes = name.as_bytes();
                let gnu = header.as_gnu_mut().unwrap();
                gnu.name[..bytes.len()].copy_from_slice(bytes);
            }
            if kind.is_symlink() || kind.is_hard_link() {
                header.set_link_name_literal(data).unwrap();
                header.set_size(0);
                header.set_cksum();
                builder.append(&header, io::empty()).unwrap();
            } else {
                header.set_size(data.len() as u64);
                header.set_cksum();
                builder.append(&header, data.as_bytes()).unwrap();
            }
        }
        builder.into_inner().unwrap()
    }

    /// A destination folder beside a victim file and folder outside it.
    struct Scene {
        _base: tempfile::TempDir,
        destination: std::path::PathBuf,
        victim: std::path::PathBuf,
    }

    fn scene() -> Scene {
        let (base, destination, victim) = super::super::tree::victim_scene();
        Scene {
            _base: base,
            destination,
            victim,
        }
    }

    impl Scene {
        #[track_caller]
        fn assert_victim_untouched(&self) {
            let names: Vec<_> = fs::read_dir(&self.victim).unwrap().map(|entry| entry.unwrap().file_name()).collect();
            assert_eq!(names, vec!["file"]);
            assert_eq!(fs::read_to_string(self.victim.join("file")).unwrap(), "original");
        }
    }

    use tar::EntryType::{Directory as Dir, Link, Regular, Symlink};

    #[test]
    fn unpacks_files_folders_links_and_hard_links() {
        let scene = scene();
        let bytes = archive(&[
            ("top/", Dir, ""),
            ("top/a.txt", Regular, "hello"),
            ("top/link", Symlink, "/etc/passwd"),
            ("top/hard", Link, "top/a.txt"),
            ("top/deep/er/b.txt", Regular, "implicit parents"),
        ]);
        unpack(&bytes[..], &scene.destination).unwrap();
        let top = scene.destination.join("top");
        assert_eq!(fs::read_to_string(top.join("a.txt")).unwrap(), "hello");
        assert_eq!(fs::read_link(top.join("link")).unwrap(), Path::new("/etc/passwd"));
        assert_eq!(fs::read_to_string(top.join("hard")).unwrap(), "hello");
        assert_eq!(fs::read_to_string(top.join("deep/er/b.txt")).unwrap(), "implicit parents");
    }

    #[test]
    fn refuses_climbing_and_absolute_names() {
        for name in ["../escape", "a/../../escape", "/abs", "a//b"] {
            let scene = scene();
            let bytes = archive(&[(name, Regular, "x")]);
            let error = unpack(&bytes[..], &scene.destination).unwrap_err();
            assert!(matches!(error, TreeError::InvalidPath { .. }), "{name}: {error}");
            scene.assert_victim_untouched();
        }
    }

    #[test]
    fn never_writes_through_a_link() {
        let scene = scene();
        let victim = scene.victim.display().to_string();
        for (link, entry) in [(victim.as_str(), "escape/file"), ("../victim", "escape/file"), ("..", "escape/victim/file")] {
            let bytes = archive(&[("escape", Symlink, link), (entry, Regular, "overwritten")]);
            let error = unpack(&bytes[..], &scene.destination).unwrap_err();
            assert!(error.to_string().contains("its parent is a link"), "{link}: {error}");
            scene.assert_victim_untouched();
            fs::remove_file(scene.destination.join("escape")).unwrap();
        }
    }

    #[test]
    fn keeps_backslashes_as_bytes_of_a_name() {
        let scene = scene();
        let victim = scene.victim.display().to_string();
        let bytes = archive(&[("0", Symlink, victim.as_str()), ("a\\..\\0\\file", Regular, "overwritten")]);
        unpack(&bytes[..], &scene.destination).unwrap();
        assert_eq!(fs::read_to_string(scene.destination.join("a\\..\\0\\file")).unwrap(), "overwritten");
        scene.assert_victim_untouched();
    }

    #[test]
    fn refuses_hard_links_to_host_files() {
        let scene = scene();
        let victim = scene.victim.join("file").display().to_string();
        for target in [victim.as_str(), "../victim/file", "missing"] {
            let bytes = archive(&[("hard", Link, target)]);
            assert!(unpack(&bytes[..], &scene.destination).is_err(), "{target}");
            scene.assert_victim_untouched();
        }
    }

    #[test]
    fn a_later_entry_replaces_a_link_instead_of_writing_through_it() {
        let scene = scene();
        let victim = scene.victim.join("file").display().to_string();
        let bytes = archive(&[("f", Symlink, victim.as_str()), ("f", Regular, "new")]);
        unpack(&bytes[..], &scene.destination).unwrap();
        assert_eq!(fs::read_to_string(scene.destination.join("f")).unwrap(), "new");
        scene.assert_victim_untouched();
    }

    /// A path archive as Docker sends one: folders of several modes, an executable, links, a hard link, a fifo, a file replaced by a later entry.
    fn path_archive() -> Vec<u8> {
        archive_with_modes(&[
            ("build/", Dir, "", 0o755),
            ("build/bin/", Dir, "", 0o700),
            ("build/bin/prog", Regular, "ELF", 0o4755),
            ("build/lib/", Dir, "", 0o755),
            ("build/lib/deep/", Dir, "", 0o750),
            ("build/lib/deep/a.o", Regular, "object", 0o644),
            ("build/current", Symlink, "bin/prog", 0o777),
            ("build/escape", Symlink, "/etc/passwd", 0o777),
            ("build/bin/same", Link, "build/bin/prog", 0o644),
            ("build/pipe", tar::EntryType::Fifo, "", 0o644),
            ("build/notes", Regular, "first", 0o600),
            ("build/notes", Regular, "second", 0o640),
        ])
    }

    /// The digest of the tree the engine makes of a path archive on the host: unpacked,
    /// then read with `Tree::from_host` from its top folder.
    fn host_digest(bytes: &[u8]) -> Digest {
        let scene = scene();
        unpack(bytes, &scene.destination).unwrap();
        let top = fs::read_dir(&scene.destination).unwrap().next().unwrap().unwrap().path();
        Tree::from_host(&top, &Filter::default(), IgnoreFiles::None, &HashCache::default())
            .unwrap()
            .digest()
    }

    use super::super::tree::{Filter, HashCache, IgnoreFiles, Tree};

    #[test]
    fn a_streamed_folder_has_the_digest_of_its_tree_on_the_host() {
        let bytes = path_archive();
        assert_eq!(digest_path_archive(&bytes[..]).unwrap(), StreamedPath::Directory(host_digest(&bytes)));
        let other = archive_with_modes(&[("build/", Dir, "", 0o755), ("build/bin/", Dir, "", 0o755)]);
        assert_ne!(digest_path_archive(&other[..]).unwrap(), digest_path_archive(&bytes[..]).unwrap());
    }

    #[test]
    fn a_streamed_file_or_link_is_told_apart_from_a_folder() {
        let file = archive(&[("prog", Regular, "ELF")]);
        assert_eq!(digest_path_archive(&file[..]).unwrap(), StreamedPath::File);
        let link = archive(&[("current", Symlink, "../bin")]);
        assert_eq!(digest_path_archive(&link[..]).unwrap(), StreamedPath::Link("../bin".into()));
        let error = digest_path_archive(&archive(&[])[..]).unwrap_err();
        assert!(matches!(error, TreeError::NotFound(_)), "{error}");
    }

    #[test]
    fn a_rebased_folder_extracts_below_its_destination_as_its_tree_would() {
        let bytes = path_archive();
        let rebased = rebase_path_archive(&bytes[..], Vec::new(), "/out/O2", Owner { uid: 1000, gid: 100 }).unwrap();
        let mut names = Vec::new();
        for entry in tar::Archive::new(&rebased[..]).entries().unwrap() {
            let entry = entry.unwrap();
            let header = entry.header();
            assert_eq!((header.uid().unwrap(), header.gid().unwrap(), header.mtime().unwrap()), (1000, 100, 0));
            if header.entry_type().is_hard_link() {
                assert_eq!(header.mode().unwrap(), 0o4755, "the mode of the file it links to");
            }
            names.push(String::from_utf8_lossy(&entry.path_bytes()).into_owned());
        }
        assert_eq!(
            names,
            [
                "out/O2/bin/",
                "out/O2/bin/prog",
                "out/O2/lib/",
                "out/O2/lib/deep/",
                "out/O2/lib/deep/a.o",
                "out/O2/current",
                "out/O2/escape",
                "out/O2/bin/same",
                "out/O2/notes",
                "out/O2/notes",
            ],
            "no entry for the destination or its parents, none for the fifo"
        );
        // Unpacked, the destination holds the tree the source folder's digest describes.
        let scene = scene();
        unpack(&rebased[..], &scene.destination).unwrap();
        let copied = Tree::from_host(&scene.destination.join("out/O2"), &Filter::default(), IgnoreFiles::None, &HashCache::default()).unwrap();
        assert_eq!(StreamedPath::Directory(copied.digest()), digest_path_archive(&bytes[..]).unwrap());
        scene.assert_victim_untouched();
    }

    #[test]
    fn streamed_folders_refuse_what_unpacking_refuses() {
        let refused = [
            archive(&[("build/", Dir, ""), ("other/file", Regular, "outside the top folder")]),
            archive(&[("build/", Dir, ""), ("build/../escape", Regular, "climbs")]),
            archive(&[
                ("build/", Dir, ""),
                ("build/link", Symlink, "/etc"),
                ("build/link/passwd", Regular, "through a link"),
            ]),
            archive(&[("build/", Dir, ""), ("build/hard", Link, "/etc/shadow")]),
            archive(&[("build/", Dir, ""), ("build/a", Dir, ""), ("build/a", Regular, "replaces a folder")]),
        ];
        for bytes in refused {
            assert!(digest_path_archive(&bytes[..]).is_err());
            assert!(rebase_path_archive(&bytes[..], Vec::new(), "/dest", Owner::ROOT).is_err());
        }
        let file = archive(&[("prog", Regular, "ELF")]);
        let error = rebase_path_archive(&file[..], Vec::new(), "/dest", Owner::ROOT).unwrap_err();
        assert!(matches!(error, TreeError::NotADirectory(_)), "{error}");
    }
}
