//! The shared cache in an OCI registry (`--cache-to` / `--cache-from registry://HOST/REPO`):
//! a step made on one machine is answered on another by pulling what the first pushed.
//!
//! Each step key `K` (hex `H`) is two tags of one repository, both ordinary images, so
//! any registry v2 and any Docker daemon carry them (protocol: `docs/registry-cache.md`):
//! * `REPO:snapshot-H`, the step's snapshot image itself;
//! * `REPO:record-H`, the step's record: an image of one layer (no base) holding
//!   `tanto-record/record.json` (the key, the snapshot's image id, the exit code, and the
//!   length and sha256 of each output) and the outputs `tanto-record/stdout` and
//!   `tanto-record/stderr`.
//!
//! Nothing pulled is trusted: the record must be well formed and name this key, its
//! outputs must match their lengths and sha256, and the pulled snapshot's image id (the
//! digest of its configuration, which pins every layer) must be the one the record names
//! and carry this key's snapshot label. Anything else is a warning and the step runs.
//!
//! Steps whose key depends on a secret (directly, or through a parent snapshot) are never
//! pushed nor looked up: their keys hold keyed hashes under the machine's own secret key
//! (`<cache>/secret-key`), so no other machine could ever ask for them, and their outputs
//! are the ones most likely to carry something derived from the secret.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::cache::{CacheStore, CachedStep, body_file_name};
use super::digest::Digest;
use crate::backend::{Backend, BackendError, SNAPSHOT_LABEL, Stream};

/// Where the shared cache is read from and written to: repository addresses
/// (`HOST[:PORT]/PATH`), each from a `registry://HOST/REPO` location.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistryCache {
    pub from: Option<String>,
    pub to: Option<String>,
}

impl RegistryCache {
    pub fn is_empty(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }
}

/// Why a cache location was refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "{location:?} is not a registry cache location ({problem}); write registry://HOST[:PORT]/REPOSITORY, e.g. registry://registry.example.com/team/ci-cache"
)]
pub struct CacheLocationError {
    pub location: String,
    pub problem: &'static str,
}

/// The repository address of `registry://HOST[:PORT]/REPOSITORY`.
pub fn parse_location(location: &str) -> Result<String, CacheLocationError> {
    let refuse = |problem| CacheLocationError {
        location: location.to_string(),
        problem,
    };
    let Some(address) = location.strip_prefix("registry://") else {
        return Err(refuse("it does not start with registry://"));
    };
    let Some((host, repository)) = address.split_once('/') else {
        return Err(refuse("it names no repository after the host"));
    };
    if host.is_empty() || repository.is_empty() || repository.ends_with('/') || repository.contains("//") {
        return Err(refuse("its host or repository is empty"));
    }
    if address.contains('@') || repository.contains(':') {
        return Err(refuse("it names a tag or digest; tanto picks the tags"));
    }
    let allowed_host = |character: char| character.is_ascii_alphanumeric() || ".-:[]".contains(character);
    let allowed_path = |character: char| character.is_ascii_lowercase() || character.is_ascii_digit() || "._-/".contains(character);
    if !host.chars().all(allowed_host) || !repository.chars().all(allowed_path) {
        return Err(refuse("a repository is lowercase letters, digits and ._-/"));
    }
    Ok(address.to_string())
}

/// The tag of step `key`'s snapshot in the repository.
pub fn snapshot_tag(repository: &str, key: &Digest) -> String {
    format!("{repository}:snapshot-{}", key.hex())
}

/// The tag of step `key`'s record in the repository.
pub fn record_tag(repository: &str, key: &Digest) -> String {
    format!("{repository}:record-{}", key.hex())
}

const RECORD_VERSION: u32 = 1;
const RECORD_FOLDER: &str = "tanto-record";
const RECORD_FILE: &str = "record.json";
/// A record is a few hundred bytes: anything longer is not one.
const MAX_RECORD_BYTES: u64 = 64 << 10;
/// `manifest.json` of a one-image archive is well under this.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct BodyRecord {
    len: u64,
    sha256: Digest,
}

/// `tanto-record/record.json`.
#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct Record {
    version: u32,
    key: Digest,
    /// The snapshot's image id (`sha256:` of its configuration).
    image: String,
    exit_code: i64,
    stdout: BodyRecord,
    stderr: BodyRecord,
}

/// What one run did with the shared cache: the keys it used (pushed after the run), those
/// that depend on a secret (never shared) and those it pulled.
#[derive(Default)]
pub(crate) struct Ledger {
    used: Mutex<(Vec<Digest>, HashSet<Digest>)>,
    private: Mutex<HashSet<Digest>>,
    pulled: Mutex<HashSet<Digest>>,
}

impl Ledger {
    pub(crate) fn use_key(&self, key: &Digest) {
        if let Ok(mut used) = self.used.lock() {
            let (order, seen) = &mut *used;
            if seen.insert(*key) {
                order.push(*key);
            }
        }
    }

    pub(crate) fn mark_private(&self, key: &Digest) {
        if let Ok(mut private) = self.private.lock() {
            private.insert(*key);
        }
    }

    pub(crate) fn is_private(&self, key: &Digest) -> bool {
        self.private.lock().map(|private| private.contains(key)).unwrap_or(true)
    }

    pub(crate) fn mark_pulled(&self, key: &Digest) {
        if let Ok(mut pulled) = self.pulled.lock() {
            pulled.insert(*key);
        }
    }

    /// The keys to push, in the order the run first used them.
    fn to_push(&self, skip_pulled: bool) -> Vec<Digest> {
        let used = self.used.lock().map(|used| used.0.clone()).unwrap_or_default();
        let pulled = self.pulled.lock().map(|pulled| pulled.clone()).unwrap_or_default();
        used.into_iter()
            .filter(|key| !(self.is_private(key) || skip_pulled && pulled.contains(key)))
            .collect()
    }
}

/// Why a pulled entry was not used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PullError {
    /// The registry has no entry for the key: the ordinary miss.
    #[error("not in the registry")]
    Absent,
    #[error("{0}")]
    Backend(#[from] BackendError),
    #[error("the entry fails verification: {0}")]
    Invalid(String),
    #[error("{0}")]
    Local(#[from] io::Error),
}

/// What pushing a run's steps did.
#[derive(Debug, Default)]
pub struct PushReport {
    pub pushed: usize,
    pub failed: Vec<String>,
}

/// Pulls step `key` from `repository`, verifies it, and records it in `store`.
pub(crate) async fn pull(backend: &dyn Backend, store: &CacheStore, repository: &str, key: &Digest) -> Result<CachedStep, PullError> {
    let record_address = record_tag(repository, key);
    let record_image = match backend.resolve_image(&record_address, None).await {
        Ok(image) => image,
        Err(BackendError::ImageNotFound { reason, .. }) if is_absence(&reason) => return Err(PullError::Absent),
        Err(error) => return Err(error.into()),
    };
    let work = store.temp_dir()?;
    let archive = work.path().join("record.tar");
    let saved = backend.save_image(&record_image.id, &archive).await;
    // The record is read from the archive; its tag goes (it was the image's only name).
    let _ = backend.remove_image(&record_address).await;
    saved?;
    let (store_copy, expected) = (store.clone(), *key);
    let (record, outputs) = tokio::task::spawn_blocking(move || read_record_archive(&store_copy, &archive, &expected))
        .await
        .map_err(|error| PullError::Local(io::Error::other(error)))??;

    let snapshot_address = snapshot_tag(repository, key);
    let snapshot = match backend.resolve_image(&snapshot_address, None).await {
        Ok(image) => image,
        Err(BackendError::ImageNotFound { reason, .. }) => {
            return Err(PullError::Invalid(format!("its snapshot {snapshot_address} cannot be pulled: {reason}")));
        }
        Err(error) => return Err(error.into()),
    };
    let labelled = snapshot.config.labels.get(SNAPSHOT_LABEL).map(String::as_str) == Some(key.to_string().as_str());
    if snapshot.id != record.image || !labelled {
        let _ = backend.remove_image(&snapshot_address).await;
        return Err(PullError::Invalid(format!(
            "the snapshot pulled as {snapshot_address} is image {}, the record names {}",
            snapshot.id, record.image
        )));
    }
    Ok(store.put_step(key, &snapshot.id, record.exit_code, outputs)?)
}

/// Whether a pull failed because the tag is not there (rather than for any other reason).
fn is_absence(reason: &str) -> bool {
    let reason = reason.to_ascii_lowercase();
    reason.contains("manifest unknown") || reason.contains("not found")
}

/// Reads a `docker save` archive of a record image: exactly one image of exactly one
/// layer, holding a record for `key` whose outputs match it. The outputs stream into a
/// step writer of `store` (nothing is held whole in memory).
fn read_record_archive(store: &CacheStore, archive: &Path, key: &Digest) -> Result<(Record, super::cache::StepOutputs), PullError> {
    let invalid = |reason: String| PullError::Invalid(reason);
    // First pass: which member is the one layer.
    let mut layer = None;
    let mut archive_reader = tar::Archive::new(std::fs::File::open(archive)?);
    for entry in archive_reader.entries().map_err(|error| invalid(error.to_string()))? {
        let entry = entry.map_err(|error| invalid(error.to_string()))?;
        let path = entry.path().map_err(|error| invalid(error.to_string()))?.into_owned();
        if path.to_str() == Some("manifest.json") {
            let mut text = Vec::new();
            entry.take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut text)?;
            #[derive(Deserialize)]
            struct Image {
                #[serde(rename = "Layers")]
                layers: Vec<String>,
            }
            let images: Vec<Image> = serde_json::from_slice(&text).map_err(|error| invalid(format!("manifest.json: {error}")))?;
            match images.as_slice() {
                [image] if image.layers.len() == 1 => layer = Some(image.layers[0].clone()),
                _ => return Err(invalid("a record is one image of one layer".into())),
            }
        }
    }
    let layer = layer.ok_or_else(|| invalid("the image archive has no manifest.json".into()))?;

    let mut writer = store.begin_step()?;
    let mut record: Option<Record> = None;
    let mut archive_reader = tar::Archive::new(std::fs::File::open(archive)?);
    for entry in archive_reader.entries().map_err(|error| invalid(error.to_string()))? {
        let entry = entry.map_err(|error| invalid(error.to_string()))?;
        if entry.path().map_err(|error| invalid(error.to_string()))?.to_str() != Some(layer.as_str()) {
            continue;
        }
        let mut files = tar::Archive::new(entry);
        for file in files.entries().map_err(|error| invalid(error.to_string()))? {
            let mut file = file.map_err(|error| invalid(error.to_string()))?;
            let path = file.path().map_err(|error| invalid(error.to_string()))?.into_owned();
            let name = path
                .strip_prefix(RECORD_FOLDER)
                .ok()
                .and_then(|name| name.to_str())
                .unwrap_or_default()
                .to_string();
            match name.as_str() {
                RECORD_FILE => {
                    let mut text = Vec::new();
                    (&mut file).take(MAX_RECORD_BYTES + 1).read_to_end(&mut text)?;
                    record = Some(serde_json::from_slice(&text).map_err(|error| invalid(format!("{RECORD_FILE}: {error}")))?);
                }
                "stdout" | "stderr" => {
                    let stream = if name == "stdout" { Stream::Stdout } else { Stream::Stderr };
                    let mut buffer = vec![0u8; 64 << 10];
                    loop {
                        let read = file.read(&mut buffer)?;
                        if read == 0 {
                            break;
                        }
                        writer.write(stream, &buffer[..read]);
                    }
                }
                _ => {}
            }
        }
    }
    let record = record.ok_or_else(|| invalid(format!("the record image holds no {RECORD_FOLDER}/{RECORD_FILE}")))?;
    if record.version != RECORD_VERSION || record.key != *key {
        return Err(invalid(format!("the record is version {} for key {}", record.version, record.key)));
    }
    if !record.image.starts_with("sha256:") {
        return Err(invalid(format!("the record names no image id ({:?})", record.image)));
    }
    let outputs = writer.finish()?;
    for (stream, expected) in [(Stream::Stdout, record.stdout), (Stream::Stderr, record.stderr)] {
        let (len, sha256) = outputs.body(stream);
        if (len, sha256) != (expected.len, expected.sha256) {
            return Err(invalid(format!(
                "its {} does not match the length and sha256 the record names",
                body_file_name(stream)
            )));
        }
    }
    Ok((record, outputs))
}

/// Writes the record image of `step` (for `key`) as a `docker save` archive at
/// `destination`, streaming the outputs from the record's files.
fn write_record_archive(key: &Digest, step: &CachedStep, work: &Path, destination: &Path) -> io::Result<()> {
    let record = Record {
        version: RECORD_VERSION,
        key: *key,
        image: step.image.clone(),
        exit_code: step.exit_code,
        stdout: BodyRecord {
            len: step.stdout.len,
            sha256: step.stdout.sha256,
        },
        stderr: BodyRecord {
            len: step.stderr.len,
            sha256: step.stderr.sha256,
        },
    };
    // The layer: fixed times, owners and modes, so the same record is the same image.
    let layer_path = work.join("layer.tar");
    {
        let mut layer = tar::Builder::new(io::BufWriter::new(std::fs::File::create(&layer_path)?));
        let mut folder = tar::Header::new_ustar();
        folder.set_entry_type(tar::EntryType::Directory);
        folder.set_mode(0o755);
        folder.set_size(0);
        folder.set_mtime(0);
        layer.append_data(&mut folder, format!("{RECORD_FOLDER}/"), io::empty())?;
        let record_bytes = serde_json::to_vec(&record).map_err(io::Error::other)?;
        layer.append_data(
            &mut file_header(record_bytes.len() as u64),
            format!("{RECORD_FOLDER}/{RECORD_FILE}"),
            record_bytes.as_slice(),
        )?;
        for (stream, body) in [(Stream::Stdout, &step.stdout), (Stream::Stderr, &step.stderr)] {
            let name = format!("{RECORD_FOLDER}/{}", body_file_name(stream));
            if body.len == 0 {
                layer.append_data(&mut file_header(0), name, io::empty())?;
            } else {
                // Read through the length it was recorded with; a body changed on disk
                // would fail verification on the other side, so it is checked here first.
                let file = std::fs::File::open(&body.path)?;
                layer.append_data(&mut file_header(body.len), name, HashingReader::new(file.take(body.len), body.sha256))?;
            }
        }
        layer.into_inner()?.flush()?;
    }
    let diff_id = {
        let mut hasher = Sha256::new();
        io::copy(&mut std::fs::File::open(&layer_path)?, &mut HashWriter(&mut hasher))?;
        format!("sha256:{}", hex::encode(hasher.finalize()))
    };
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": { "Labels": { "tanto.record": key.to_string() } },
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
    });
    let config_bytes = serde_json::to_vec(&config).map_err(io::Error::other)?;
    let config_name = format!("{}.json", Digest::of_bytes(&config_bytes).hex());
    let manifest =
        serde_json::to_vec(&serde_json::json!([{ "Config": config_name, "RepoTags": null, "Layers": ["layer/layer.tar"] }])).map_err(io::Error::other)?;
    let mut archive = tar::Builder::new(io::BufWriter::new(std::fs::File::create(destination)?));
    archive.append_data(&mut file_header(config_bytes.len() as u64), &config_name, config_bytes.as_slice())?;
    let layer_len = std::fs::metadata(&layer_path)?.len();
    archive.append_data(&mut file_header(layer_len), "layer/layer.tar", std::fs::File::open(&layer_path)?)?;
    archive.append_data(&mut file_header(manifest.len() as u64), "manifest.json", manifest.as_slice())?;
    archive.into_inner()?.flush()?;
    Ok(())
}

fn file_header(len: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(len);
    header.set_mtime(0);
    header
}

struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Passes bytes through and fails at the end if they do not hash to `expected`.
struct HashingReader<R> {
    inner: R,
    hasher: Option<Sha256>,
    expected: Digest,
}

impl<R> HashingReader<R> {
    fn new(inner: R, expected: Digest) -> Self {
        Self {
            inner,
            hasher: Some(Sha256::new()),
            expected,
        }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        match (read, self.hasher.take()) {
            (0, Some(hasher)) => {
                if Digest::from_raw(hasher.finalize().into()) != self.expected {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "a recorded output changed since it was recorded"));
                }
            }
            (_, Some(mut hasher)) => {
                hasher.update(&buffer[..read]);
                self.hasher = Some(hasher);
            }
            (_, None) => {}
        }
        Ok(read)
    }
}

/// Pushes the steps of this run (those not private, and not just pulled from the same
/// repository) to `repository`: each snapshot, then its record.
pub(crate) async fn push(backend: &dyn Backend, store: &CacheStore, ledger: &Ledger, repository: &str, skip_pulled: bool) -> PushReport {
    let mut report = PushReport::default();
    for key in ledger.to_push(skip_pulled) {
        match push_one(backend, store, repository, &key).await {
            Ok(true) => report.pushed += 1,
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(key = %key, %error, "could not push a step to the registry cache");
                report.failed.push(format!("{}: {error}", key.short()));
            }
        }
    }
    report
}

async fn push_one(backend: &dyn Backend, store: &CacheStore, repository: &str, key: &Digest) -> Result<bool, PullError> {
    let Some(step) = store.get_step(key) else { return Ok(false) };
    backend.push_image(&step.image, &snapshot_tag(repository, key), None).await?;
    let work = store.temp_dir()?;
    let archive = work.path().join("record.tar");
    let (key_copy, step_copy, work_path, archive_path) = (*key, step.clone(), work.path().to_path_buf(), archive.clone());
    tokio::task::spawn_blocking(move || write_record_archive(&key_copy, &step_copy, &work_path, &archive_path))
        .await
        .map_err(|error| PullError::Local(io::Error::other(error)))??;
    let record = backend.load_image(&archive).await?;
    let address = record_tag(repository, key);
    let pushed = backend.push_image(&record.id, &address, None).await;
    // The record image was only made to be pushed: its one tag goes, and the image with it.
    if matches!(backend.remove_image(&address).await, Ok(crate::backend::Removal::Gone) | Err(_)) {
        let _ = backend.remove_image(&record.id).await;
    }
    pushed?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_name_a_registry_and_a_repository() {
        assert_eq!(parse_location("registry://127.0.0.1:5000/team/cache").unwrap(), "127.0.0.1:5000/team/cache");
        for bad in [
            "127.0.0.1:5000/cache",
            "registry://127.0.0.1:5000",
            "registry://127.0.0.1:5000/",
            "registry://host/Cache",
            "registry://host/cache:tag",
            "registry://host/cache@sha256:00",
        ] {
            assert!(parse_location(bad).is_err(), "{bad} is refused");
        }
    }

    #[test]
    fn a_record_archive_round_trips_and_a_changed_record_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = CacheStore::new(dir.path());
        let key = Digest::of_bytes(b"step");
        let mut writer = store.begin_step().unwrap();
        writer.write(Stream::Stdout, b"out\n");
        writer.write(Stream::Stderr, b"err\n");
        let step = store.put_step(&key, "sha256:abc", 3, writer.finish().unwrap()).unwrap();
        let work = store.temp_dir().unwrap();
        let archive = work.path().join("record.tar");
        write_record_archive(&key, &step, work.path(), &archive).unwrap();

        let (record, outputs) = read_record_archive(&store, &archive, &key).unwrap();
        assert_eq!((record.image.as_str(), record.exit_code), ("sha256:abc", 3));
        let read = store.put_step(&Digest::of_bytes(b"copy"), &record.image, record.exit_code, outputs).unwrap();
        assert_eq!(store.read_body(&read.stdout).unwrap(), b"out\n");
        assert_eq!(store.read_body(&read.stderr).unwrap(), b"err\n");

        let other = Digest::of_bytes(b"another step");
        assert!(
            matches!(read_record_archive(&store, &archive, &other), Err(PullError::Invalid(_))),
            "a record answers its own key only"
        );

        // An output changed after recording is refused when the record is written.
        std::fs::write(&step.stdout.path, b"OUT\n").unwrap();
        let second = work.path().join("second.tar");
        assert!(write_record_archive(&key, &step, work.path(), &second).is_err());
    }
}
