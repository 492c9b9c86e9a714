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

use std::collections::HashSet;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::tree::{DirectoryWalker, TreeError, validate_relative};

fn refused(path: &str, reason: &'static str) -> TreeError {
    TreeError::InvalidPath {
        path: path.to_string(),
        reason,
    }
}

fn io_error(context: String) -> impl FnOnce(io::Error) -> TreeError {
    move |source| TreeError::Io { context, source }
}

/// Unpacks the tar `archive` into `destination` (an existing folder).
///
/// Refuses (and stops at) an entry whose name is absolute, climbs with `..`, has empty
/// components or a NUL byte, whose parent is a link or a file, or a hard link to anything
/// but a regular file unpacked before it. Devices and fifos are skipped. Folder modes
/// are applied last, so a read-only folder can still be filled.
pub fn unpack(archive: impl Read, destination: &Path) -> Result<(), TreeError> {
    let root =
        cap_std::fs::Dir::open_ambient_dir(destination, cap_std::ambient_authority()).map_err(io_error(format!("cannot open {}", destination.display())))?;
    let mut walker = DirectoryWalker::new(root.try_clone().map_err(io_error(format!("cannot open {}", destination.display())))?);
    let mut reader = tar::Archive::new(archive);
    // Regular files this archive made, the only possible targets of its hard links.
    let mut files: HashSet<String> = HashSet::new();
    let mut directory_modes: Vec<(String, u32)> = Vec::new();
    let entries = reader.entries().map_err(io_error("cannot read the archive".into()))?;
    for entry in entries {
        let mut entry = entry.map_err(io_error("cannot read the archive".into()))?;
        let raw = entry.path_bytes();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let mut path = name.trim_end_matches('/');
        while let Some(rest) = path.strip_prefix("./") {
            path = rest;
        }
        if path.is_empty() || path == "." {
            continue;
        }
        validate_relative(path)?;
        let path = path.to_string();
        let context = || format!("cannot unpack {path}");
        let (parent, base) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        let directory = walker.open(parent, true).map_err(|error| match error.kind() {
            io::ErrorKind::NotADirectory => refused(&path, "its parent is a link or a file in the archive"),
            _ => io_error(context())(error),
        })?;
        let kind = entry.header().entry_type();
        let mode = entry.header().mode().unwrap_or(0o644) & 0o7777;
        let existing = match directory.symlink_metadata(base) {
            Ok(metadata) => Some(metadata.is_dir()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => None,
            Err(error) => return Err(io_error(context())(error)),
        };
        if kind.is_dir() {
            match existing {
                Some(true) => {}
                Some(false) => return Err(refused(&path, "a folder would replace a file or link of the archive")),
                None => directory.create_dir(base).map_err(io_error(context()))?,
            }
            directory_modes.push((path.clone(), mode));
            continue;
        }
        // Anything else replaces a file or link of an earlier entry, as tar does, but
        // never a folder (which would take the entries below it along).
        match existing {
            Some(true) => return Err(refused(&path, "it would replace a folder of the archive")),
            Some(false) => {
                directory.remove_file(base).map_err(io_error(context()))?;
                files.remove(&path);
            }
            None => {}
        }
        if kind.is_file() || kind == tar::EntryType::Continuous {
            let mut output = directory
                .open_with(base, cap_std::fs::OpenOptions::new().write(true).create_new(true))
                .map_err(io_error(context()))?;
            io::copy(&mut entry, &mut output).map_err(io_error(context()))?;
            output
                .set_permissions(cap_std::fs::Permissions::from_std(std::fs::Permissions::from_mode(mode)))
                .map_err(io_error(context()))?;
            files.insert(path);
        } else if kind.is_symlink() {
            let target = entry.link_name_bytes().ok_or_else(|| refused(&path, "it is a link without a target"))?;
            if target.contains(&0) {
                return Err(refused(&path, "its link target contains a NUL byte"));
            }
            let target = String::from_utf8_lossy(&target).into_owned();
            directory.symlink_contents(&target, base).map_err(io_error(context()))?;
        } else if kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|target| String::from_utf8_lossy(&target).trim_start_matches("./").to_string())
                .ok_or_else(|| refused(&path, "it is a hard link without a target"))?;
            if !files.contains(&target) {
                return Err(refused(&path, "it is a hard link to something other than a file of the archive"));
            }
            // Both paths are real folders and files this function made (never links), so
            // no component of either is followed out of the destination.
            root.hard_link(&target, directory, base).map_err(io_error(context()))?;
            files.insert(path);
        }
        // Character and block devices and fifos have no content to keep.
    }
    directory_modes.sort_by_key(|(path, _)| std::cmp::Reverse(path.matches('/').count()));
    for (path, mode) in directory_modes {
        walker.set_directory_mode(&path, mode).map_err(io_error(format!("cannot unpack {path}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    /// An archive of raw entries: `(name, kind, contents or link target)`; names are
    /// written as they are, without the `tar` crate's checks.
    fn archive(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, kind, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_mode(0o644);
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
}
