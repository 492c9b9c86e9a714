//! The persistent cache: recorded exec steps, committed snapshots and extracted trees,
//! under one root shared by every `tanto` process on the machine.
//!
//! Layout (`<root>` is `$TANTO_CACHE_DIR` or the user cache directory + `tanto`):
//! ```text
//! <root>/ops/<2 hex>/<key>.entry   a step's record: a JSON header line, then stdout, stderr
//! <root>/trees/<key>/root          a path extracted from a snapshot
//! <root>/tmp/<owner>/              work areas of one process, renamed into place when
//!                                  complete, swept once that process is gone
//! ```
//! (and the lock files of [`super::locks`]).
//! Every write goes to a temporary file or folder and is renamed into place, so a reader
//! sees a complete entry or none, and two processes writing the same key both leave a
//! valid entry (the later rename wins; both describe the same step).

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::digest::Digest;

/// What a cached step produced.
#[derive(Clone, Debug)]
pub struct CachedStep {
    /// The snapshot image the step committed.
    pub image: String,
    pub exit_code: i64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct EntryHeader {
    version: u32,
    image: String,
    exit_code: i64,
    stdout_len: u64,
    stderr_len: u64,
    created: u64,
    /// Bytes of the snapshot's own layer, measured lazily (by `du`, `prune` or the
    /// automatic ceiling) to keep Docker calls off the step's path.
    #[serde(default)]
    size: Option<u64>,
}

const ENTRY_VERSION: u32 = 1;

/// The cache root and its record store.
#[derive(Clone, Debug)]
pub struct CacheStore {
    root: PathBuf,
}

impl CacheStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The default root: `$TANTO_CACHE_DIR`, else `<user cache dir>/tanto`.
    pub fn default_root() -> PathBuf {
        if let Some(dir) = std::env::var_os("TANTO_CACHE_DIR").filter(|dir| !dir.is_empty()) {
            return PathBuf::from(dir);
        }
        dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("tanto")
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A name for this cache, the same for every process using it: what its snapshot
    /// images carry, so that its prune removes its own unreferenced snapshots and never
    /// those of another cache on the same daemon.
    pub fn id(&self) -> String {
        let _ = fs::create_dir_all(&self.root);
        let root = fs::canonicalize(&self.root).unwrap_or_else(|_| self.root.clone());
        Digest::of_bytes(root.as_os_str().as_encoded_bytes()).hex()[..20].to_string()
    }

    fn entry_path(&self, key: &Digest) -> PathBuf {
        let hex = key.hex();
        self.root.join("ops").join(&hex[..2]).join(format!("{hex}.entry"))
    }

    /// A fresh work folder under `<root>/tmp/<owner>`, on the same file system as the
    /// cache so renames are atomic. The process holds its owner lock first, so a folder
    /// it leaves behind (killed mid-step) is swept by the next run.
    pub fn temp_dir(&self) -> io::Result<tempfile::TempDir> {
        super::locks::hold_owner(&self.root, "")?;
        let tmp = super::locks::owner_work_dir(&self.root, crate::util::process_owner());
        fs::create_dir_all(&tmp)?;
        tempfile::Builder::new().prefix("work-").tempdir_in(tmp)
    }

    /// The record of step `key`, if one is stored and readable. A damaged record reads as
    /// a miss: the step runs again and rewrites it.
    pub fn get_step(&self, key: &Digest) -> Option<CachedStep> {
        let bytes = fs::read(self.entry_path(key)).ok()?;
        let newline = bytes.iter().position(|byte| *byte == b'\n')?;
        let header: EntryHeader = serde_json::from_slice(&bytes[..newline]).ok()?;
        if header.version != ENTRY_VERSION {
            return None;
        }
        let body = &bytes[newline + 1..];
        let stdout_len = usize::try_from(header.stdout_len).ok()?;
        let stderr_len = usize::try_from(header.stderr_len).ok()?;
        if body.len() != stdout_len.checked_add(stderr_len)? {
            return None;
        }
        Some(CachedStep {
            image: header.image,
            exit_code: header.exit_code,
            stdout: body[..stdout_len].to_vec(),
            stderr: body[stdout_len..].to_vec(),
        })
    }

    /// Records step `key`.
    pub fn put_step(&self, key: &Digest, step: &CachedStep) -> io::Result<()> {
        let header = EntryHeader {
            version: ENTRY_VERSION,
            image: step.image.clone(),
            exit_code: step.exit_code,
            stdout_len: step.stdout.len() as u64,
            stderr_len: step.stderr.len() as u64,
            created: unix_now(),
            size: None,
        };
        let mut bytes = serde_json::to_vec(&header).map_err(io::Error::other)?;
        bytes.push(b'\n');
        bytes.extend_from_slice(&step.stdout);
        bytes.extend_from_slice(&step.stderr);
        crate::util::write_atomic(&self.entry_path(key), &bytes)
    }

    /// Marks step `key` as used by the run that started at `run_started`. Every entry a
    /// run uses gets the same time, so least-recently-used pruning treats a run's steps as
    /// one generation and can order them children first (Docker removes a parent
    /// snapshot only after its children).
    pub fn touch_step(&self, key: &Digest, run_started: SystemTime) {
        if let Ok(file) = fs::File::options().append(true).open(self.entry_path(key)) {
            let _ = file.set_modified(run_started);
        }
    }

    /// Every recorded step, with what is known of its size and use.
    pub fn steps(&self) -> Vec<StepRecord> {
        let mut steps = Vec::new();
        for bucket in read_dir_paths(&self.root.join("ops")) {
            for path in read_dir_paths(&bucket) {
                let Some(key) = path.file_stem().and_then(|stem| stem.to_str()).and_then(|stem| stem.parse::<Digest>().ok()) else {
                    continue;
                };
                let Ok(bytes) = fs::read(&path) else { continue };
                let Some(newline) = bytes.iter().position(|byte| *byte == b'\n') else {
                    continue;
                };
                let Ok(header) = serde_json::from_slice::<EntryHeader>(&bytes[..newline]) else {
                    continue;
                };
                let last_used = fs::metadata(&path).and_then(|metadata| metadata.modified()).unwrap_or(UNIX_EPOCH);
                steps.push(StepRecord {
                    key,
                    image: header.image,
                    size: header.size,
                    created: header.created,
                    last_used,
                    record_bytes: bytes.len() as u64,
                });
            }
        }
        steps
    }

    /// Records the measured layer size of step `key`, keeping its last-use time.
    pub fn set_step_size(&self, key: &Digest, size: u64) {
        let path = self.entry_path(key);
        let Ok(bytes) = fs::read(&path) else { return };
        let Some(newline) = bytes.iter().position(|byte| *byte == b'\n') else {
            return;
        };
        let Ok(mut header) = serde_json::from_slice::<EntryHeader>(&bytes[..newline]) else {
            return;
        };
        let last_used = fs::metadata(&path).and_then(|metadata| metadata.modified()).ok();
        header.size = Some(size);
        let Ok(mut rewritten) = serde_json::to_vec(&header) else { return };
        rewritten.extend_from_slice(&bytes[newline..]);
        if write_atomic(&path, &rewritten).is_ok()
            && let (Some(time), Ok(file)) = (last_used, fs::File::options().append(true).open(&path))
        {
            let _ = file.set_modified(time);
        }
    }

    /// Every extracted tree.
    pub fn trees(&self) -> Vec<TreeRecord> {
        read_dir_paths(&self.root.join("trees"))
            .into_iter()
            .filter_map(|path| {
                let key = path.file_name()?.to_str()?.parse::<Digest>().ok()?;
                let last_used = fs::metadata(&path).and_then(|metadata| metadata.modified()).unwrap_or(UNIX_EPOCH);
                Some(TreeRecord {
                    key,
                    size: folder_size(&path),
                    last_used,
                    path,
                })
            })
            .collect()
    }

    /// Compiled components.
    /// Compiled components (`components/`) and components built from the source of git
    /// dependencies (`modules/`).
    pub fn components(&self) -> Vec<FileRecord> {
        read_dir_paths(&self.root.join("components"))
            .into_iter()
            .chain(read_dir_paths(&self.root.join("modules")))
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
        folder_size(&self.root.join("git"))
    }

    /// Removes the git cache; the next install or call fetches again.
    pub fn remove_git(&self) {
        crate::util::remove_tree(&self.root.join("git"));
    }

    /// Cache volumes made through this cache.
    pub fn volumes(&self) -> Vec<VolumeRecord> {
        read_dir_paths(&self.root.join("volumes"))
            .into_iter()
            .filter(|path| path.extension().is_some_and(|extension| extension == "json"))
            .filter_map(|path| {
                let value: serde_json::Value = serde_json::from_slice(&fs::read(&path).ok()?).ok()?;
                Some(VolumeRecord {
                    name: value["name"].as_str()?.to_string(),
                    key: value["key"].as_str()?.to_string(),
                    path,
                })
            })
            .collect()
    }

    /// Keys that running processes hold, each with the id of a process holding it (and
    /// cleans up the pins of finished ones).
    pub fn pinned_keys(&self) -> HashMap<Digest, u32> {
        let mut keys = HashMap::new();
        for path in read_dir_paths(&self.root.join("pins")) {
            let Ok(file) = fs::File::open(&path) else { continue };
            match file.try_lock_shared() {
                // Nobody holds it: the process that wrote it is gone.
                Ok(()) => {
                    let _ = fs::remove_file(&path);
                }
                Err(_) => {
                    let text = fs::read_to_string(&path).unwrap_or_default();
                    let pid = path
                        .file_stem()
                        .and_then(|stem| stem.to_str())
                        .and_then(super::locks::pid_of_owner)
                        .unwrap_or_default();
                    keys.extend(text.lines().filter_map(|line| line.parse::<Digest>().ok()).map(|key| (key, pid)));
                }
            }
        }
        keys
    }

    /// Forgets step `key` (its snapshot image is gone).
    pub fn remove_step(&self, key: &Digest) {
        let _ = fs::remove_file(self.entry_path(key));
    }

    /// Records that cache volume `name` (for `key`) was made through this cache, so that
    /// `tanto cache prune --volumes` finds it.
    pub fn record_volume(&self, name: &str, key: &str) -> io::Result<()> {
        let path = self.root.join("volumes").join(format!("{name}.json"));
        if path.exists() {
            return Ok(());
        }
        let record = serde_json::json!({ "name": name, "key": key });
        write_atomic(&path, record.to_string().as_bytes())
    }

    /// The folder holding the extracted tree `key` (it may not exist).
    pub fn tree_dir(&self, key: &Digest) -> PathBuf {
        self.root.join("trees").join(key.hex())
    }

    /// Moves a completed work folder into place as tree `key`. If another process got
    /// there first, its copy is kept and ours is dropped.
    pub fn install_tree(&self, key: &Digest, work: tempfile::TempDir) -> io::Result<PathBuf> {
        let destination = self.tree_dir(key);
        if let Some(parent) = destination.parent() {
            fs::create_dir_all(parent)?;
        }
        let work = work.keep();
        match fs::rename(&work, &destination) {
            Ok(()) => Ok(destination),
            Err(_) if destination.is_dir() => {
                crate::util::remove_tree(&work);
                Ok(destination)
            }
            Err(error) => {
                crate::util::remove_tree(&work);
                Err(error)
            }
        }
    }
}

/// A recorded step.
#[derive(Clone, Debug)]
pub struct StepRecord {
    pub key: Digest,
    pub image: String,
    /// Bytes of the snapshot layer, when measured.
    pub size: Option<u64>,
    /// Milliseconds since the epoch.
    pub created: u64,
    pub last_used: SystemTime,
    /// Bytes of the record itself (outputs included).
    pub record_bytes: u64,
}

/// An extracted tree.
#[derive(Clone, Debug)]
pub struct TreeRecord {
    pub key: Digest,
    pub size: u64,
    pub last_used: SystemTime,
    pub path: PathBuf,
}

/// A cached file (a compiled component).
#[derive(Clone, Debug)]
pub struct FileRecord {
    pub path: PathBuf,
    pub size: u64,
    pub last_used: SystemTime,
}

/// A cache volume made through this cache.
#[derive(Clone, Debug)]
pub struct VolumeRecord {
    pub name: String,
    pub key: String,
    pub path: PathBuf,
}

/// The keys one process uses, in a file it holds locked while it lives, so that a
/// concurrent `tanto cache prune` leaves them alone.
pub struct Pins {
    file: std::sync::Mutex<fs::File>,
    path: PathBuf,
}

impl Pins {
    /// Opens this process's pin file under `<root>/pins`.
    pub fn create(store: &CacheStore, owner: &str) -> io::Result<Self> {
        let dir = store.root.join("pins");
        fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{owner}.pins"));
        let file = fs::File::options().create(true).append(true).open(&path)?;
        file.lock()?;
        Ok(Self {
            file: std::sync::Mutex::new(file),
            path,
        })
    }

    /// Declares `key` in use by this process.
    pub fn pin(&self, key: &Digest) {
        if let Ok(mut file) = self.file.lock() {
            let _ = writeln!(file, "{key}");
        }
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Milliseconds since the epoch: fine enough to order a parent snapshot before its child.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or_default()
}

fn read_dir_paths(dir: &Path) -> Vec<PathBuf> {
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

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let parent = path.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(parent)?;
    let mut file = tempfile::NamedTempFile::new_in(parent)?;
    file.write_all(bytes)?;
    file.as_file().sync_data()?;
    file.persist(path).map_err(|error| error.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_round_trip_and_damaged_entries_miss() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::new(dir.path());
        let key = Digest::of_bytes(b"step");
        assert!(store.get_step(&key).is_none());
        let step = CachedStep {
            image: "sha256:abc".into(),
            exit_code: 3,
            stdout: b"out\n".to_vec(),
            stderr: b"err".to_vec(),
        };
        store.put_step(&key, &step).unwrap();
        let read = store.get_step(&key).unwrap();
        assert_eq!(
            (read.image.as_str(), read.exit_code, read.stdout.as_slice(), read.stderr.as_slice()),
            ("sha256:abc", 3, &b"out\n"[..], &b"err"[..])
        );
        let path = store.entry_path(&key);
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(store.get_step(&key).is_none(), "a truncated entry is a miss");
    }
}
