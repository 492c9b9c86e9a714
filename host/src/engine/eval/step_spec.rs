//! What an exec step hands the backend: the archives of its pending copies, scratch
//! folders for mounted directories, cache volumes (with their locks), and the run spec.

use std::collections::BTreeMap;

use super::copies::{Pending, PendingCopyRef};
use super::exec::{ResolvedMount, StepSink};
use super::volumes::VolumeLocks;
use super::{blocking, local_error};
use crate::backend::{self, ImageConfig, RunSpec};
use crate::engine::digest::Digest;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

use crate::engine::objects::{ExecNode, Expect, Secret};
use crate::engine::{Engine, EngineError};

/// What a command's mounts became on the backend, held while the command (a step, or a
/// shell in its state) runs: scratch folders of mounted directories (removed on drop, so
/// whatever the command wrote there goes with it), the locks of cache volumes (keeping
/// `locked` volumes exclusive and `private` instances the command's own) and the files
/// of its secrets (removed on drop, however the command ends).
pub(super) struct PreparedMounts {
    pub backend: Vec<backend::Mount>,
    dirs: Vec<tempfile::TempDir>,
    volumes: VolumeLocks,
    secret_files: Option<SecretFiles>,
}

impl Drop for PreparedMounts {
    fn drop(&mut self) {
        for work in self.dirs.drain(..) {
            crate::util::remove_tree(&work.keep());
        }
    }
}

impl Engine {
    /// Makes `mounts` (absolute paths) ready for a command running as `config`'s user,
    /// on the volumes of `volumes` (from [`Engine::lock_volumes`]), whose locks it then
    /// holds.
    pub(super) async fn prepare_mounts(
        &self,
        mounts: &[(String, ResolvedMount)],
        config: &ImageConfig,
        volumes: VolumeLocks,
    ) -> Result<PreparedMounts, EngineError> {
        let mut prepared = PreparedMounts {
            backend: Vec::new(),
            dirs: Vec::new(),
            volumes,
            secret_files: None,
        };
        for (path, source) in mounts {
            match source {
                // An engine elsewhere gets the directory's files as an upload into a volume
                // of the container's own (discarded with it, as the scratch folder is).
                ResolvedMount::Directory(tree) if !self.backend.shares_host_files() => {
                    let file = self.store.temp_file().map_err(local_error("cannot create an archive file"))?;
                    let tree = tree.clone();
                    let target = path.clone();
                    let archive = blocking(move || {
                        let (handle, temp_path) = file.into_parts();
                        let writer = std::io::BufWriter::new(handle);
                        let writer = tree.write_tar(&target, writer).map_err(EngineError::from)?;
                        writer
                            .into_inner()
                            .map_err(|error| error.into_error())
                            .map_err(local_error("cannot write an archive file"))?;
                        Ok(backend::ArchiveFile::new(temp_path))
                    })
                    .await?;
                    prepared.backend.push(backend::Mount::Upload { archive, target: path.clone() });
                }
                ResolvedMount::Directory(tree) => {
                    let work = self.store.temp_dir().map_err(local_error("cannot create a mount folder"))?;
                    let tree = tree.clone();
                    let root = work.path().to_path_buf();
                    prepared.dirs.push(work);
                    blocking(move || tree.write_to(&root).map_err(EngineError::from)).await?;
                    prepared.backend.push(backend::Mount::Bind {
                        source: prepared.dirs.last().map(|work| work.path().to_path_buf()).unwrap_or_default(),
                        target: path.clone(),
                        read_only: false,
                    });
                }
                ResolvedMount::Cache { key, sharing } => {
                    let name = prepared.volumes.volume(key, *sharing)?.to_string();
                    let labels = BTreeMap::from([(backend::CACHE_VOLUME_LABEL.to_string(), key.clone())]);
                    self.backend.ensure_volume(&name, &labels).await?;
                    self.store.record_volume(&name, key).map_err(local_error("cannot record a cache volume"))?;
                    prepared.backend.push(backend::Mount::Volume { name, target: path.clone() });
                }
                ResolvedMount::Temp => prepared.backend.push(backend::Mount::Tmpfs { target: path.clone() }),
                ResolvedMount::Secret { secret, owner, mode } if !self.backend.shares_host_files() => {
                    let owner = owner_ids(owner.as_deref(), config.user.as_deref())?;
                    prepared.backend.push(backend::Mount::SecretFile {
                        contents: backend::SecretBytes::new(secret.value().as_bytes().to_vec()),
                        mode: mode.unwrap_or(0o400),
                        owner,
                        target: path.clone(),
                    });
                }
                ResolvedMount::Secret { secret, owner, mode } => {
                    let files = match &mut prepared.secret_files {
                        Some(files) => files,
                        None => prepared.secret_files.insert(SecretFiles::create()?),
                    };
                    let owner = owner_ids(owner.as_deref(), config.user.as_deref())?;
                    let source = files.write(secret.value().as_bytes(), mode.unwrap_or(0o400), owner)?;
                    prepared.backend.push(backend::Mount::Bind {
                        source,
                        target: path.clone(),
                        read_only: true,
                    });
                }
            }
        }
        Ok(prepared)
    }

    /// `command`, started by a shell that first sets `secret_env` from a file mounted for
    /// it in `prepared` (handed over as a [`backend::Mount::SecretFile`] when the backend
    /// does not share this machine's files); `command` itself when there are none.
    pub(super) fn with_secret_env(
        command: Vec<String>,
        secret_env: &BTreeMap<String, Secret>,
        prepared: &mut PreparedMounts,
        backend_shares_host_files: bool,
    ) -> Result<Vec<String>, EngineError> {
        if secret_env.is_empty() {
            return Ok(command);
        }
        // Set at container create, a variable would be committed with the snapshot
        // (Docker merges the container's environment into the image it commits, and
        // keeps the container's configuration beside it): it is read from a file on a
        // tmpfs by the shell that starts the command instead.
        if !backend_shares_host_files {
            prepared.backend.push(backend::Mount::SecretFile {
                contents: backend::SecretBytes::new(secret_env_script(secret_env)?),
                mode: 0o444,
                owner: None,
                target: SECRET_ENV_PATH.into(),
            });
            return Ok(started_with_secret_env(command));
        }
        let files = match &mut prepared.secret_files {
            Some(files) => files,
            None => prepared.secret_files.insert(SecretFiles::create()?),
        };
        let source = files.write(&secret_env_script(secret_env)?, 0o444, None)?;
        prepared.backend.push(backend::Mount::Bind {
            source,
            target: SECRET_ENV_PATH.into(),
            read_only: true,
        });
        Ok(started_with_secret_env(command))
    }

    /// Runs an exec step on the backend. Its mounts are handed back with the outcome, so
    /// that a shell opened in the state of a failed step (`--interactive`) has them as
    /// the command had them.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn run_exec_on_backend(
        &self,
        exec: &ExecNode,
        pending: &Pending,
        config: ImageConfig,
        command: Vec<String>,
        mounts: &[(String, ResolvedMount)],
        volumes: VolumeLocks,
        key: Digest,
        sink: &StepSink<'_>,
    ) -> Result<(backend::RunOutcome, PreparedMounts), EngineError> {
        let archives = self.archives(pending.copies.iter().map(PendingCopyRef::from).collect()).await?;
        let mut prepared = self.prepare_mounts(mounts, &config, volumes).await?;
        // A failed step's shell (`--interactive`) opens on the volumes as the command had
        // them, locks included; otherwise they go as the command exits.
        if !self.debugs_failures()
            && let Ok(mut held) = sink.held_while_running.lock()
        {
            *held = prepared.volumes.take_locks();
        }
        let command = Self::with_secret_env(command, &exec.config.secret_env, &mut prepared, self.backend.shares_host_files())?;
        let expect = exec.options.expect;
        let spec = RunSpec {
            image: pending.base.image.clone(),
            archives,
            config,
            command,
            stdin: exec.options.stdin.clone().map(String::into_bytes),
            mounts: prepared.backend.clone(),
            snapshot_labels: self.snapshot_labels(&key),
            commit: match expect {
                Expect::Success => backend::Commit::WhenExit(|code| code == 0),
                Expect::Failure => backend::Commit::WhenExit(|code| code != 0),
                Expect::Any => backend::Commit::Always,
            },
            keep_failed: self.debugs_failures(),
            services: None,
        };
        let bound = &exec.config.services;
        let outcome = if bound.is_empty() {
            self.backend.run(spec, sink).await?
        } else {
            // Started (or joined) right before the step, let go right after it.
            let hosts = self.bind_services(bound).await?;
            let outcome = self.backend.run(RunSpec { services: Some(hosts), ..spec }, sink).await;
            self.unbind_services(bound).await;
            outcome?
        };
        Ok((outcome, prepared))
    }
}

/// Where the file that sets a step's secret variables is mounted: under `/dev`, which is
/// a tmpfs of the container's, so not even the mount point enters the snapshot.
const SECRET_ENV_PATH: &str = "/dev/.tanto-secret-env";

/// `command` started by a shell that first reads the secret variables' file (mounted by
/// [`Engine::with_secret_env`]).
pub(super) fn started_with_secret_env(command: Vec<String>) -> Vec<String> {
    [
        "/bin/sh".to_string(),
        "-c".to_string(),
        format!(". {SECRET_ENV_PATH} && exec \"$@\""),
        "sh".to_string(),
    ]
    .into_iter()
    .chain(command)
    .collect()
}

/// `export NAME='value'` lines, one per secret variable, for a POSIX shell to read.
fn secret_env_script(variables: &BTreeMap<String, Secret>) -> Result<Vec<u8>, EngineError> {
    let mut script = String::new();
    for (name, secret) in variables {
        let valid = name.starts_with(|first: char| first.is_ascii_alphabetic() || first == '_')
            && name.chars().all(|character| character.is_ascii_alphanumeric() || character == '_');
        if !valid {
            return Err(EngineError::InvalidArgument(format!(
                "with-secret-variable: {name:?} is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)"
            )));
        }
        script.push_str(&format!("export {name}='{}'\n", secret.value().replace('\'', r"'\''")));
    }
    Ok(script.into_bytes())
}

/// The numeric owner of a mounted secret: `owner` (`uid` or `uid:gid`), else the
/// container's user when it is numeric, else none to set (the file is tanto's, which the
/// container's root reads).
fn owner_ids(owner: Option<&str>, user: Option<&str>) -> Result<Option<(u32, u32)>, EngineError> {
    let parse = |text: &str| -> Option<(u32, u32)> {
        let (uid, gid) = text.split_once(':').unwrap_or((text, text));
        Some((uid.parse().ok()?, gid.parse().ok()?))
    };
    match owner {
        Some(owner) => parse(owner).map(Some).ok_or_else(|| {
            EngineError::InvalidArgument(format!(
                "with-mounted-secret: owner {owner:?} is not `uid` or `uid:gid` (numeric ids: user names are not resolved)"
            ))
        }),
        None => Ok(user.and_then(parse)),
    }
}

/// The files a step's secrets are handed to Docker in: a folder of their own (mode 0700)
/// on a host tmpfs, so a value never touches a disk, bind-mounted read-only into the
/// container and removed when the step ends. Only for an engine on this machine
/// ([`crate::backend::Backend::shares_host_files`]); one elsewhere gets
/// [`backend::Mount::SecretFile`]s.
struct SecretFiles {
    folder: std::path::PathBuf,
    count: usize,
}

impl SecretFiles {
    fn create() -> Result<Self, EngineError> {
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(std::path::PathBuf::from)
            .filter(|dir| is_tmpfs(dir))
            .unwrap_or_else(|| std::path::PathBuf::from("/dev/shm"));
        if !is_tmpfs(&base) {
            return Err(EngineError::Local(format!(
                "cannot hand a secret to a step: {} is not an in-memory file system (tanto keeps secret values off disks; mount a tmpfs there or set XDG_RUNTIME_DIR to one)",
                base.display()
            )));
        }
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let folder = base.join(format!(
            "tanto-secrets-{}-{}",
            crate::util::process_unique_id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&folder)
            .map_err(local_error("cannot create a folder for a step's secrets"))?;
        Ok(Self { folder, count: 0 })
    }

    /// A new file holding `contents` with `mode` and, if given, owned by `owner`.
    fn write(&mut self, contents: &[u8], mode: u32, owner: Option<(u32, u32)>) -> Result<std::path::PathBuf, EngineError> {
        self.count += 1;
        let path = self.folder.join(format!("secret-{}", self.count));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(local_error("cannot write a step's secret"))?;
        std::io::Write::write_all(&mut file, contents).map_err(local_error("cannot write a step's secret"))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::fchown(&file, Some(uid), Some(gid)).map_err(|error| {
                EngineError::InvalidArgument(format!(
                    "with-mounted-secret: cannot give the secret's file to {uid}:{gid}: {error} (tanto needs to run as root to give it to another user)"
                ))
            })?;
        }
        file.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))
            .map_err(local_error("cannot set a secret's permissions"))?;
        Ok(path)
    }
}

impl Drop for SecretFiles {
    fn drop(&mut self) {
        crate::util::remove_tree(&self.folder);
    }
}

/// Whether `path` is on a tmpfs (or ramfs): memory, not a disk.
fn is_tmpfs(path: &std::path::Path) -> bool {
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    const RAMFS_MAGIC: i64 = 0x8584_58f6;
    let Ok(name) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    let mut stat = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `name` is a NUL-terminated path and `stat` a buffer of the right type.
    if unsafe { libc::statfs(name.as_ptr(), stat.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: statfs succeeded, so it filled `stat`.
    #[allow(clippy::unnecessary_cast)] // `f_type`'s integer type differs between targets.
    let kind = unsafe { stat.assume_init() }.f_type as i64;
    kind == TMPFS_MAGIC || kind == RAMFS_MAGIC
}
