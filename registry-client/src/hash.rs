//! Content hashes of module trees, recorded in `tanto.lock` to detect tampering.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A tree that could not be read for hashing.
#[derive(Debug, thiserror::Error)]
#[error("could not read `{}` to hash it: {source}", path.display())]
pub struct HashError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// The `sha256:<hex>` content hash of the tree under `dir`.
///
/// Guarantees: the same files give the same hash on every machine and file system.
/// Every regular file and symlink below `dir` (any `.git` entry excluded) contributes,
/// in byte order of its `/`-separated relative path, the record
/// `<kind> <mode> <path> NUL <length> NUL <bytes>` where kind is `file` or `link`, mode
/// is `755` for a file with any execute bit and `644` otherwise (never the raw mode,
/// which depends on the umask), and the bytes of a link are its target. Empty
/// directories do not count (git does not store them either).
pub fn content_hash(dir: &Path) -> Result<String, HashError> {
    let mut entries = Vec::new();
    collect(dir, "", &mut entries)?;
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hasher = Sha256::new();
    for (relative, path, kind) in entries {
        let (kind, mode, bytes) = match kind {
            EntryKind::File { executable } => {
                let bytes = fs::read(&path).map_err(|source| HashError { path: path.clone(), source })?;
                ("file", if executable { "755" } else { "644" }, bytes)
            }
            EntryKind::Link => {
                let target = fs::read_link(&path).map_err(|source| HashError { path: path.clone(), source })?;
                ("link", "777", target.to_string_lossy().replace('\\', "/").into_bytes())
            }
        };
        hasher.update(format!("{kind} {mode} {relative}\0{}\0", bytes.len()).as_bytes());
        hasher.update(&bytes);
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

enum EntryKind {
    File { executable: bool },
    Link,
}

fn collect(dir: &Path, prefix: &str, entries: &mut Vec<(String, PathBuf, EntryKind)>) -> Result<(), HashError> {
    let read = fs::read_dir(dir).map_err(|source| HashError {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in read {
        let entry = entry.map_err(|source| HashError {
            path: dir.to_path_buf(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == ".git" {
            continue;
        }
        let path = entry.path();
        let relative = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let metadata = fs::symlink_metadata(&path).map_err(|source| HashError { path: path.clone(), source })?;
        let file_type = metadata.file_type();
        if file_type.is_symlink() {
            entries.push((relative, path, EntryKind::Link));
        } else if file_type.is_dir() {
            collect(&path, &relative, entries)?;
        } else if file_type.is_file() {
            entries.push((
                relative,
                path,
                EntryKind::File {
                    executable: is_executable(&metadata),
                },
            ));
        }
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(metadata: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_metadata: &fs::Metadata) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_depends_on_content_paths_and_modes_only() {
        let one = tempfile::tempdir().expect("tempdir");
        let two = tempfile::tempdir().expect("tempdir");
        for root in [one.path(), two.path()] {
            fs::create_dir_all(root.join("src/nested")).expect("mkdir");
            fs::write(root.join("tanto.toml"), "name = \"x\"\n").expect("write");
            fs::write(root.join("src/nested/lib.rs"), "fn main() {}\n").expect("write");
        }
        // Creation order and `.git` do not matter.
        fs::create_dir_all(two.path().join(".git")).expect("mkdir");
        fs::write(two.path().join(".git/HEAD"), "ref: x").expect("write");
        let first = content_hash(one.path()).expect("hash");
        assert!(first.starts_with("sha256:"));
        assert_eq!(first, content_hash(two.path()).expect("hash"));

        fs::write(two.path().join("src/nested/lib.rs"), "fn main() { }\n").expect("write");
        assert_ne!(first, content_hash(two.path()).expect("hash"));

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let file = one.path().join("tanto.toml");
            fs::set_permissions(&file, fs::Permissions::from_mode(0o755)).expect("chmod");
            assert_ne!(first, content_hash(one.path()).expect("hash"));
        }
    }
}
