//! The persistent cache: recorded exec steps, committed snapshots and extracted trees,
//! under one root shared by every `tanto` process on the machine.
//!
//! Layout (`<root>` is `$TANTO_CACHE_DIR` or the user cache directory + `tanto`):
//! ```text
//! <root>/ops/<2 hex>/<key>/        a step's record: `header.json`, `stdout`, `stderr`
//! <root>/logs/<key>/               the output of a recent step that failed (no snapshot)
//! <root>/trees/<key>/root          a path extracted from a snapshot
//! <root>/trees/<key>/hashes.json   the content hashes of its files, once computed
//! <root>/hashes.json               the content hashes of the user's own files
//! <root>/tmp/<owner>/              work areas of one process, renamed into place when
//!                                  complete, swept once that process is gone
//! ```
//! (and the lock files of [`super::locks`]). The same root holds what loading modules
//! keeps (compiled components, built components, the git cache); its books are kept by
//! `ops::module_cache`, not here: the engine knows nothing about modules.
//! Every write goes to a temporary file or folder and is renamed into place, so a reader
//! sees a complete entry or none, and two processes writing the same key both leave a
//! valid entry (the later rename wins; both describe the same step).
//!
//! A step's output is never held whole in memory: [`StepWriter`] streams each stream to
//! its file in a work folder as it arrives (hashing it on the way and keeping a bounded
//! tail for error messages), and [`CacheStore::put_step`] publishes the folder as the
//! record with one rename. The header holds each body's length and sha256, so listing
//! records reads headers only, and a body that changed on disk reads as a miss.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::digest::Digest;
use crate::backend::Stream;
use crate::util::{folder_size, read_dir_paths, write_atomic};

/// What a cached step produced. The outputs stay on disk; [`CacheStore::read_body`]
/// reads one when it is asked for.
#[derive(Clone, Debug)]
pub struct CachedStep {
    /// The snapshot image the step committed.
    pub image: String,
    pub exit_code: i64,
    pub stdout: Body,
    pub stderr: Body,
}

/// One recorded output stream: where it is and what it must hash to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Body {
    /// The file holding it, in the step's record folder (absent when `len` is 0).
    pub path: PathBuf,
    pub len: u64,
    pub sha256: Digest,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
struct BodyHeader {
    len: u64,
    sha256: Digest,
}

#[derive(Serialize, Deserialize)]
struct EntryHeader {
    version: u32,
    image: String,
    exit_code: i64,
    stdout: BodyHeader,
    stderr: BodyHeader,
    created: u64,
    /// Bytes of the snapshot's own layer, measured lazily (by `du`, `prune` or the
    /// automatic ceiling) to keep Docker calls off the step's path.
    #[serde(default)]
    size: Option<u64>,
}

/// Version 1 records were single `<key>.entry` files with the outputs inline; they are
/// listed (so prune removes them) but never answer a step.
const ENTRY_VERSION: u32 = 2;
const HEADER_FILE: &str = "header.json";
/// Headers are a few hundred bytes: anything longer is not a header.
const MAX_HEADER_BYTES: u64 = 64 << 10;
/// How much of the end of each stream a running step keeps in memory, for the tails an
/// `exec-failed` error carries (they show at most 4 KiB).
pub const TAIL_BYTES: usize = 8 << 10;
/// How many logs of failed steps `<root>/logs` keeps: the most recent ones, as long as
/// they fit in [`KEPT_FAILED_LOG_BYTES`] (the newest is always kept).
const KEPT_FAILED_LOGS: usize = 32;
const KEPT_FAILED_LOG_BYTES: u64 = 1 << 30;

/// The name of a stream's file in a record or log folder.
pub fn body_file_name(stream: Stream) -> &'static str {
    match stream {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    }
}

/// Receives a running step's output and streams it to files in a work folder, keeping
/// only a bounded tail of each stream in memory.
pub struct StepWriter {
    work: tempfile::TempDir,
    stdout: BodyWriter,
    stderr: BodyWriter,
    /// The first write error: the record is not published if any write failed.
    error: Option<io::Error>,
}

struct BodyWriter {
    file: io::BufWriter<fs::File>,
    hasher: Sha256,
    len: u64,
    /// The last [`TAIL_BYTES`] (or up to twice that, trimmed in batches).
    tail: Vec<u8>,
}

impl BodyWriter {
    fn create(path: &Path) -> io::Result<Self> {
        Ok(Self {
            file: io::BufWriter::with_capacity(64 << 10, fs::File::create(path)?),
            hasher: Sha256::new(),
            len: 0,
            tail: Vec::new(),
        })
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        let keep = &bytes[bytes.len().saturating_sub(TAIL_BYTES)..];
        // Trimmed only once the buffer doubles, so appending stays linear.
        if self.tail.len() + keep.len() > 2 * TAIL_BYTES {
            let drop = (self.tail.len() + keep.len()).saturating_sub(TAIL_BYTES).min(self.tail.len());
            self.tail.drain(..drop);
        }
        self.tail.extend_from_slice(keep);
        self.file.write_all(bytes)
    }

    fn tail(&self) -> &[u8] {
        &self.tail[self.tail.len().saturating_sub(TAIL_BYTES)..]
    }

    fn finish(mut self) -> io::Result<BodyHeader> {
        self.file.flush()?;
        Ok(BodyHeader {
            len: self.len,
            sha256: Digest::from_raw(self.hasher.finalize().into()),
        })
    }
}

impl StepWriter {
    /// Appends `bytes` to `stream`. A failed write is remembered and reported by
    /// [`StepWriter::finish`]; the step goes on (its output is then not recorded).
    pub fn write(&mut self, stream: Stream, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let body = match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        };
        if let Err(error) = body.write(bytes)
            && self.error.is_none()
        {
            self.error = Some(error);
        }
    }

    /// The last bytes (at most [`TAIL_BYTES`]) written to `stream`.
    pub fn tail(&self, stream: Stream) -> &[u8] {
        match stream {
            Stream::Stdout => self.stdout.tail(),
            Stream::Stderr => self.stderr.tail(),
        }
    }

    /// Flushes both streams: the folder is complete and ready to publish.
    pub fn finish(self) -> io::Result<StepOutputs> {
        if let Some(error) = self.error {
            return Err(error);
        }
        Ok(StepOutputs {
            stdout: self.stdout.finish()?,
            stderr: self.stderr.finish()?,
            work: self.work,
        })
    }
}

/// A step's outputs, complete, in a work folder not yet published.
pub struct StepOutputs {
    work: tempfile::TempDir,
    stdout: BodyHeader,
    stderr: BodyHeader,
}

impl StepOutputs {
    /// The length and sha256 of one stream's output.
    pub fn body(&self, stream: Stream) -> (u64, Digest) {
        let header = match stream {
            Stream::Stdout => self.stdout,
            Stream::Stderr => self.stderr,
        };
        (header.len, header.sha256)
    }
}

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

    /// The key of the keyed hashes that stand for secret values in step keys: 32 random
    /// bytes in `<root>/secret-key` (mode 0600), made by the first process that needs
    /// it. A step key then changes with a secret's value, and whoever reads the records
    /// without this file cannot test guesses of the value against them.
    pub fn secret_key(&self) -> io::Result<[u8; 32]> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.root.join("secret-key");
        let read = |path: &Path| -> io::Result<[u8; 32]> {
            let bytes = fs::read(path)?;
            <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} is not 32 bytes long (remove it: a new key only makes steps that use secrets run again)",
                        path.display()
                    ),
                )
            })
        };
        match read(&path) {
            Ok(key) => return Ok(key),
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            Err(_) => {}
        }
        fs::create_dir_all(&self.root)?;
        // Written whole under a unique name, then linked into place: a concurrent process
        // sees no key or the whole key, and the first link wins.
        let temporary = self.root.join(format!("secret-key.{}", crate::util::process_unique_id()));
        {
            let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temporary)?;
            io::Write::write_all(&mut file, &crate::secrets::random_key()?)?;
            file.sync_all()?;
        }
        let linked = fs::hard_link(&temporary, &path);
        let _ = fs::remove_file(&temporary);
        match linked {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(error),
        }
        read(&path)
    }

    /// Where version 1 kept the record of `key`.
    fn legacy_entry_path(&self, key: &Digest) -> PathBuf {
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

    /// A fresh file in this process's work area (see [`CacheStore::temp_dir`]), removed
    /// when dropped.
    pub fn temp_file(&self) -> io::Result<tempfile::NamedTempFile> {
        super::locks::hold_owner(&self.root, "")?;
        let tmp = super::locks::owner_work_dir(&self.root, crate::util::process_owner());
        fs::create_dir_all(&tmp)?;
        tempfile::Builder::new().prefix("archive-").tempfile_in(tmp)
    }

    /// The record folder of step `key`.
    fn record_dir(&self, key: &Digest) -> PathBuf {
        let hex = key.hex();
        self.root.join("ops").join(&hex[..2]).join(hex)
    }

    /// Starts recording a step's output in a fresh work folder.
    pub fn begin_step(&self) -> io::Result<StepWriter> {
        let work = self.temp_dir()?;
        Ok(StepWriter {
            stdout: BodyWriter::create(&work.path().join(body_file_name(Stream::Stdout)))?,
            stderr: BodyWriter::create(&work.path().join(body_file_name(Stream::Stderr)))?,
            work,
            error: None,
        })
    }

    /// The record of step `key`, if one is stored whole. Only lengths are checked here
    /// (a truncated or missing body is a miss, so the step runs again and rewrites it);
    /// contents are checked against their sha256 by [`CacheStore::read_body`] when an
    /// output is read, so a run that never reads a 300 MB output never hashes it.
    pub fn get_step(&self, key: &Digest) -> Option<CachedStep> {
        let dir = self.record_dir(key);
        let header = read_header(&dir.join(HEADER_FILE))?;
        if header.version != ENTRY_VERSION {
            return None;
        }
        let stdout = body(&dir, Stream::Stdout, header.stdout);
        let stderr = body(&dir, Stream::Stderr, header.stderr);
        for body in [&stdout, &stderr] {
            let len = fs::metadata(&body.path).map(|metadata| metadata.len()).unwrap_or(0);
            if len != body.len {
                tracing::warn!(record = %dir.display(), "a cache record is damaged; running its step again");
                return None;
            }
        }
        Some(CachedStep {
            image: header.image,
            exit_code: header.exit_code,
            stdout,
            stderr,
        })
    }

    /// The snapshot image recorded for step `key`, from its header alone.
    pub fn recorded_image(&self, key: &Digest) -> Option<String> {
        read_header(&self.record_dir(key).join(HEADER_FILE)).map(|header| header.image)
    }

    /// The bytes of a recorded output, checked against its length and sha256: a body
    /// that changed since its header was written is an error of kind `InvalidData` (and
    /// one that is gone, `NotFound`), never served.
    pub fn read_body(&self, body: &Body) -> io::Result<Vec<u8>> {
        if body.len == 0 {
            return Ok(Vec::new());
        }
        let mut file = fs::File::open(&body.path)?;
        let capacity = usize::try_from(body.len).map_err(io::Error::other)?;
        // Exactly the recorded length, read into one buffer: the only copy the host makes.
        let mut bytes = Vec::with_capacity(capacity);
        io::Read::read_to_end(&mut io::Read::take(&mut file, body.len + 1), &mut bytes)?;
        if bytes.len() as u64 != body.len || Digest::of_bytes(&bytes) != body.sha256 {
            return Err(damaged(&body.path));
        }
        Ok(bytes)
    }

    /// Records a step without output (a commit of copied files, an image config).
    pub fn put_snapshot(&self, key: &Digest, image: &str) -> io::Result<CachedStep> {
        let outputs = self.begin_step()?.finish()?;
        self.put_step(key, image, 0, outputs)
    }

    /// Publishes `outputs` as the record of step `key`, replacing any earlier record.
    pub fn put_step(&self, key: &Digest, image: &str, exit_code: i64, outputs: StepOutputs) -> io::Result<CachedStep> {
        let StepOutputs { work, stdout, stderr } = outputs;
        let header = EntryHeader {
            version: ENTRY_VERSION,
            image: image.to_string(),
            exit_code,
            stdout,
            stderr,
            created: unix_now(),
            size: None,
        };
        let bytes = serde_json::to_vec(&header).map_err(io::Error::other)?;
        let mut file = fs::File::create(work.path().join(HEADER_FILE))?;
        file.write_all(&bytes)?;
        // Bodies and header reach the disk before the rename makes them the record.
        for name in [body_file_name(Stream::Stdout), body_file_name(Stream::Stderr)] {
            fs::File::open(work.path().join(name))?.sync_data()?;
        }
        file.sync_data()?;
        let dir = self.record_dir(key);
        self.publish(work, &dir)?;
        Ok(CachedStep {
            image: image.to_string(),
            exit_code,
            stdout: body(&dir, Stream::Stdout, stdout),
            stderr: body(&dir, Stream::Stderr, stderr),
        })
    }

    /// Keeps the output of a step that failed (it has no record) under `<root>/logs`,
    /// for the user to read; only the most recent are kept (see [`KEPT_FAILED_LOGS`]).
    pub fn keep_failed_log(&self, key: &Digest, outputs: StepOutputs) -> io::Result<PathBuf> {
        let logs = self.root.join("logs");
        let dir = logs.join(key.hex());
        self.publish(outputs.work, &dir)?;
        let _ = fs::File::open(&dir).and_then(|folder| folder.set_modified(SystemTime::now()));
        let mut kept: Vec<(SystemTime, PathBuf)> = read_dir_paths(&logs)
            .into_iter()
            .map(|path| (fs::metadata(&path).and_then(|metadata| metadata.modified()).unwrap_or(UNIX_EPOCH), path))
            .collect();
        // Newest first: the one just kept leads (its time was set now).
        kept.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
        let mut bytes = 0;
        for (index, (_, log)) in kept.iter().enumerate() {
            bytes += folder_size(log);
            if index > 0 && (index >= KEPT_FAILED_LOGS || bytes > KEPT_FAILED_LOG_BYTES) {
                crate::util::remove_tree(log);
            }
        }
        Ok(dir)
    }

    /// Renames the complete folder `work` to `destination`. An existing folder there is
    /// moved aside first and removed after; if another process published meanwhile, its
    /// folder stands and ours is dropped (both describe the same step).
    fn publish(&self, work: tempfile::TempDir, destination: &Path) -> io::Result<()> {
        if let Some(parent) = destination.parent() {
            fs::create_dir_all(parent)?;
        }
        let work = work.keep();
        let result = match fs::rename(&work, destination) {
            Ok(()) => Ok(()),
            Err(_) if destination.exists() => {
                let aside = self.temp_dir()?.keep();
                let moved = fs::rename(destination, aside.join("old"));
                let result = fs::rename(&work, destination);
                crate::util::remove_tree(&aside);
                match (moved, result) {
                    (_, Ok(())) => Ok(()),
                    (_, Err(_)) if destination.is_dir() => Ok(()),
                    (_, Err(error)) => Err(error),
                }
            }
            Err(error) => Err(error),
        };
        if result.is_err() || work.exists() {
            crate::util::remove_tree(&work);
        }
        result
    }

    /// Marks step `key` as used by the run that started at `run_started`. Every entry a
    /// run uses gets the same time, so least-recently-used pruning treats a run's steps as
    /// one generation and can order them children first (Docker removes a parent
    /// snapshot only after its children).
    pub fn touch_step(&self, key: &Digest, run_started: SystemTime) {
        if let Ok(file) = fs::File::options().append(true).open(self.record_dir(key).join(HEADER_FILE)) {
            let _ = file.set_modified(run_started);
        }
    }

    /// Every recorded step, with what is known of its size and use. Reads headers only.
    pub fn steps(&self) -> Vec<StepRecord> {
        let mut steps = Vec::new();
        for bucket in read_dir_paths(&self.root.join("ops")) {
            for path in read_dir_paths(&bucket) {
                let Some(key) = path.file_stem().and_then(|stem| stem.to_str()).and_then(|stem| stem.parse::<Digest>().ok()) else {
                    continue;
                };
                let legacy = path.extension().is_some_and(|extension| extension == "entry");
                let header_path = if legacy { path.clone() } else { path.join(HEADER_FILE) };
                let Some(header) = read_header_fields(&header_path, legacy) else {
                    continue;
                };
                let last_used = fs::metadata(&header_path).and_then(|metadata| metadata.modified()).unwrap_or(UNIX_EPOCH);
                let record_bytes = if legacy {
                    fs::metadata(&path).map(|metadata| metadata.len()).unwrap_or(0)
                } else {
                    folder_size(&path)
                };
                steps.push(StepRecord {
                    key,
                    image: header.image,
                    size: header.size,
                    created: header.created,
                    last_used,
                    record_bytes,
                });
            }
        }
        steps
    }

    /// Records the measured layer size of step `key`, keeping its last-use time.
    pub fn set_step_size(&self, key: &Digest, size: u64) {
        let path = self.record_dir(key).join(HEADER_FILE);
        let Some(mut header) = read_header(&path) else { return };
        let last_used = fs::metadata(&path).and_then(|metadata| metadata.modified()).ok();
        header.size = Some(size);
        let Ok(rewritten) = serde_json::to_vec(&header) else { return };
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

    /// How many logs of failed steps are kept, and their bytes.
    pub fn failed_logs(&self) -> (usize, u64) {
        let logs = self.root.join("logs");
        (read_dir_paths(&logs).len(), folder_size(&logs))
    }

    /// Removes the logs of failed steps.
    pub fn remove_failed_logs(&self) {
        crate::util::remove_tree(&self.root.join("logs"));
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
        crate::util::remove_tree(&self.record_dir(key));
        let _ = fs::remove_file(self.legacy_entry_path(key));
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
    /// Bytes of the record itself (outputs included), from file sizes.
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
    /// The file, and the keys already written to it: a key is looked up, locked and
    /// recorded within one run, and each of those pins it, but it is written once.
    file: std::sync::Mutex<(fs::File, HashSet<Digest>)>,
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
            file: std::sync::Mutex::new((file, HashSet::new())),
            path,
        })
    }

    /// Declares `key` in use by this process.
    pub fn pin(&self, key: &Digest) {
        if let Ok(mut pinned) = self.file.lock() {
            let (file, written) = &mut *pinned;
            if written.insert(*key) && writeln!(file, "{key}").is_err() {
                // Not on disk: the next pin of this key tries again.
                written.remove(key);
            }
        }
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// The header of a record, read alone (bodies are separate files).
fn read_header(path: &Path) -> Option<EntryHeader> {
    let mut text = Vec::new();
    io::Read::read_to_end(&mut io::Read::take(fs::File::open(path).ok()?, MAX_HEADER_BYTES), &mut text).ok()?;
    serde_json::from_slice(&text).ok()
}

/// What listing needs from a header, of this version or a version 1 `.entry` file (whose
/// header is its first line; the outputs that follow are not read).
fn read_header_fields(path: &Path, legacy: bool) -> Option<EntryHeader> {
    if !legacy {
        return read_header(path);
    }
    #[derive(Deserialize)]
    struct LegacyHeader {
        image: String,
        created: u64,
        #[serde(default)]
        size: Option<u64>,
    }
    let mut line = Vec::new();
    let mut reader = io::BufReader::new(io::Read::take(fs::File::open(path).ok()?, MAX_HEADER_BYTES));
    io::BufRead::read_until(&mut reader, b'\n', &mut line).ok()?;
    let legacy: LegacyHeader = serde_json::from_slice(line.strip_suffix(b"\n").unwrap_or(&line)).ok()?;
    let empty = BodyHeader {
        len: 0,
        sha256: Digest::of_bytes(b""),
    };
    Some(EntryHeader {
        version: 1,
        image: legacy.image,
        exit_code: 0,
        stdout: empty,
        stderr: empty,
        created: legacy.created,
        size: legacy.size,
    })
}

fn body(dir: &Path, stream: Stream, header: BodyHeader) -> Body {
    Body {
        path: dir.join(body_file_name(stream)),
        len: header.len,
        sha256: header.sha256,
    }
}

fn damaged(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{} does not match the length and sha256 its record names", path.display()),
    )
}

/// Milliseconds since the epoch: fine enough to order a parent snapshot before its child.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(store: &CacheStore, key: &Digest, stdout: &[u8], stderr: &[u8]) -> CachedStep {
        let mut writer = store.begin_step().unwrap();
        // In pieces, as a running step delivers it.
        for chunk in stdout.chunks(3) {
            writer.write(Stream::Stdout, chunk);
        }
        writer.write(Stream::Stderr, stderr);
        store.put_step(key, "sha256:abc", 3, writer.finish().unwrap()).unwrap()
    }

    #[test]
    fn a_key_pinned_again_is_written_once_and_held_while_the_pins_live() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::new(dir.path());
        let (first, second) = (Digest::of_bytes(b"first"), Digest::of_bytes(b"second"));
        let pins = Pins::create(&store, "1-100").unwrap();
        for key in [&first, &second, &first, &first] {
            pins.pin(key);
        }
        assert_eq!(fs::read_to_string(&pins.path).unwrap(), format!("{first}\n{second}\n"));
        assert_eq!(store.pinned_keys().into_keys().collect::<HashSet<_>>(), HashSet::from([first, second]));
        drop(pins);
        assert!(store.pinned_keys().is_empty());
    }

    #[test]
    fn steps_round_trip_and_damaged_entries_miss() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::new(dir.path());
        let key = Digest::of_bytes(b"step");
        assert!(store.get_step(&key).is_none());
        let written = record(&store, &key, b"out\n", b"err");
        let read = store.get_step(&key).unwrap();
        assert_eq!(read.stdout, written.stdout);
        assert_eq!(
            (
                read.image.as_str(),
                read.exit_code,
                store.read_body(&read.stdout).unwrap(),
                store.read_body(&read.stderr).unwrap()
            ),
            ("sha256:abc", 3, b"out\n".to_vec(), b"err".to_vec())
        );

        // A flipped byte: same length, different sha256.
        fs::write(&read.stdout.path, b"oUt\n").unwrap();
        let error = store.read_body(&store.get_step(&key).unwrap().stdout).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData, "a body with a flipped byte is never served");
        fs::write(&read.stdout.path, b"out").unwrap();
        assert!(store.get_step(&key).is_none(), "a truncated body is a miss");

        // Running the step again replaces the damaged record.
        record(&store, &key, b"out\n", b"err");
        let read = store.get_step(&key).unwrap();
        assert_eq!(store.read_body(&read.stdout).unwrap(), b"out\n");
        let work = super::super::locks::owner_work_dir(dir.path(), crate::util::process_owner());
        assert!(read_dir_paths(&work).is_empty(), "no work folder is left behind");
    }

    #[test]
    fn a_writer_keeps_only_a_bounded_tail() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::new(dir.path());
        let mut writer = store.begin_step().unwrap();
        let mut all = Vec::new();
        for index in 0..10_000u32 {
            let line = format!("line {index}\n");
            writer.write(Stream::Stdout, line.as_bytes());
            all.extend_from_slice(line.as_bytes());
            assert!(writer.stdout.tail.len() <= 2 * TAIL_BYTES);
        }
        assert_eq!(writer.tail(Stream::Stdout), &all[all.len() - TAIL_BYTES..]);
        let key = Digest::of_bytes(b"tail");
        let step = store.put_step(&key, "sha256:abc", 0, writer.finish().unwrap()).unwrap();
        assert_eq!(step.stdout.len, all.len() as u64);
        assert_eq!(store.read_body(&step.stdout).unwrap(), all);
    }

    #[test]
    fn only_the_most_recent_failed_logs_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::new(dir.path());
        let mut kept = Vec::new();
        for index in 0..KEPT_FAILED_LOGS + 2 {
            let mut writer = store.begin_step().unwrap();
            writer.write(Stream::Stderr, format!("failure {index}\n").as_bytes());
            let key = Digest::of_bytes(format!("failed {index}").as_bytes());
            kept.push(store.keep_failed_log(&key, writer.finish().unwrap()).unwrap());
        }
        let newest = kept.last().unwrap();
        assert_eq!(
            fs::read_to_string(newest.join("stderr")).unwrap(),
            format!("failure {}\n", KEPT_FAILED_LOGS + 1)
        );
        assert_eq!(read_dir_paths(&dir.path().join("logs")).len(), KEPT_FAILED_LOGS);
        assert!(!kept[0].exists() && !kept[1].exists(), "the oldest went");
    }

    #[test]
    fn listing_reads_headers_and_lists_version_1_records_for_removal() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::new(dir.path());
        let key = Digest::of_bytes(b"new");
        record(&store, &key, &vec![b'x'; 100_000], b"");
        let old = Digest::of_bytes(b"old");
        let legacy = store.legacy_entry_path(&old);
        fs::create_dir_all(legacy.parent().unwrap()).unwrap();
        let legacy_bytes = b"{\"version\":1,\"image\":\"sha256:def\",\"exit_code\":0,\"stdout_len\":2,\"stderr_len\":0,\"created\":5}\nhi";
        fs::write(&legacy, legacy_bytes).unwrap();
        let mut steps = store.steps();
        steps.sort_by_key(|step| step.created);
        assert_eq!(steps.len(), 2);
        assert_eq!(
            (steps[0].key, steps[0].image.as_str(), steps[0].record_bytes),
            (old, "sha256:def", legacy_bytes.len() as u64)
        );
        assert_eq!(steps[1].key, key);
        assert!(steps[1].record_bytes > 100_000);
        assert!(store.get_step(&old).is_none(), "a version 1 record answers nothing");
        store.set_step_size(&key, 42);
        assert_eq!(store.steps().iter().find(|step| step.key == key).unwrap().size, Some(42));
        assert!(store.get_step(&key).is_some(), "setting the size keeps the record intact");
        store.remove_step(&key);
        store.remove_step(&old);
        assert!(store.steps().is_empty());
    }
}
