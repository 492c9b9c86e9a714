//! Small file-system helpers shared across modules.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

pub(crate) use crate::engine::cache::write_atomic;

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
