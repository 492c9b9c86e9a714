//! Small file-system and process helpers every layer uses; this file depends on
//! nothing else in the crate.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let parent = path.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(parent)?;
    let mut file = tempfile::NamedTempFile::new_in(parent)?;
    file.write_all(bytes)?;
    file.as_file().sync_data()?;
    file.persist(path).map_err(|error| error.error)?;
    Ok(())
}

/// Copies `from` to `to` through a temporary file and a rename, so `to` is complete or
/// absent.
pub(crate) fn copy_atomic(from: &Path, to: &Path) -> std::io::Result<()> {
    let bytes = fs::read(from)?;
    write_atomic(to, &bytes)
}

/// A name unique to this process among all processes on the machine, now and later
/// (pids are reused; the start time makes it unique).
pub(crate) fn process_unique_id() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or_default()
    )
}

/// This process's owner name: [`process_unique_id`], fixed at first use. Everything the
/// process creates (containers, work folders, its owner lock, its pins) is filed under
/// it, so whoever finds the owner gone can sweep all of it.
pub(crate) fn process_owner() -> &'static str {
    static OWNER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    OWNER.get_or_init(process_unique_id)
}

/// Removes a folder tree, first making read-only folders writable (extracted snapshots
/// can contain `0555` directories that would otherwise refuse removal).
pub(crate) fn remove_tree(path: &Path) {
    if fs::remove_dir_all(path).is_ok() {
        return;
    }
    for entry in walk_dirs(path) {
        let _ = fs::set_permissions(&entry, fs::Permissions::from_mode(0o755));
    }
    let _ = fs::remove_dir_all(path);
}

fn walk_dirs(root: &Path) -> Vec<std::path::PathBuf> {
    let mut dirs = vec![root.to_path_buf()];
    let mut index = 0;
    while index < dirs.len() {
        let _ = fs::set_permissions(&dirs[index], fs::Permissions::from_mode(0o755));
        if let Ok(entries) = fs::read_dir(&dirs[index]) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                    dirs.push(entry.path());
                }
            }
        }
        index += 1;
    }
    dirs
}

/// The entries of `dir`, as paths; none when it cannot be read.
pub(crate) fn read_dir_paths(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).map(|entry| entry.path()).collect())
        .unwrap_or_default()
}

/// The bytes of the regular files under `path`.
pub(crate) fn folder_size(path: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in read_dir_paths(&dir) {
            match fs::symlink_metadata(&entry) {
                Ok(metadata) if metadata.is_dir() => stack.push(entry),
                Ok(metadata) if metadata.is_file() => total += metadata.len(),
                _ => {}
            }
        }
    }
    total
}

/// Bytes for people: `1.5 GB`, `12.0 MB`, `800 B`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// How long after a file changed its stamp is trusted (see [`FileStamp::is_recent`]).
pub(crate) const RACY_WINDOW: std::time::Duration = std::time::Duration::from_secs(2);

/// What a file's metadata says of its version: size, modification and change times to the
/// nanosecond, inode and device. A file whose stamp has not changed is taken to be the same
/// file with the same bytes (git's rule), so what was computed from it (a hash, a build)
/// is used again without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct FileStamp {
    pub size: u64,
    pub mtime_nanos: i128,
    pub ctime_nanos: i128,
    pub inode: u64,
    pub device: u64,
}

impl FileStamp {
    pub(crate) fn of(metadata: &fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt as _;
        let nanos = |seconds: i64, nanos: i64| i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
        Self {
            size: metadata.len(),
            mtime_nanos: nanos(metadata.mtime(), metadata.mtime_nsec()),
            ctime_nanos: nanos(metadata.ctime(), metadata.ctime_nsec()),
            inode: metadata.ino(),
            device: metadata.dev(),
        }
    }

    /// Whether the file changed so recently that a second change within the same tick of
    /// the file system's clock, at the same size, could still leave this stamp as it is
    /// (git's "racy" files): what was computed from it must not be remembered yet.
    pub(crate) fn is_recent(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let newest = self.mtime_nanos.max(self.ctime_nanos);
        i128::try_from(now).unwrap_or(i128::MAX) - newest < RACY_WINDOW.as_nanos() as i128
    }

    /// The stamp of the file (or folder) at `path`, following links.
    pub(crate) fn of_path(path: &Path) -> Option<Self> {
        fs::metadata(path).ok().as_ref().map(Self::of)
    }
}
