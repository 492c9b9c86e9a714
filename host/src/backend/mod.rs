//! The container backend: the one capability the engine needs from the outside world.
//! [`Backend`] is implemented for Docker in [`docker`] (the only module that knows
//! bollard) and by a fake in the engine's unit tests. [`endpoint`] chooses the engine as
//! the docker CLI does (`DOCKER_HOST`, contexts, TLS files); `ssh` carries the API over
//! `ssh … docker system dial-stdio`.

pub mod credentials;
pub mod docker;
pub mod endpoint;
mod pause;
mod session;
mod ssh;
mod tls;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

pub use self::credentials::{Credentials, registry_of};
use crate::error::{Diagnose, ErrorKind, Hint};

/// The label every container, volume and network tanto creates carries, so nothing is
/// ever left behind that `tanto` cannot find.
pub const MANAGED_LABEL: &str = "tanto.managed";
/// The label naming the session that created a container (one process, or a group of
/// processes that tooling runs under one `TANTO_SESSION`).
pub const SESSION_LABEL: &str = "tanto.session";
/// The label naming the one process that created a container: what that process's
/// cleanup sweeps, so it never touches a sibling's running steps.
pub const OWNER_LABEL: &str = "tanto.owner";
/// The label on snapshot images (and only on them): the content key of the step that
/// made them. Images made for users carry none.
pub const SNAPSHOT_LABEL: &str = "tanto.snapshot";
/// The label on snapshot images naming the cache they belong to
/// ([`CacheStore::id`](crate::engine::CacheStore::id)).
pub const CACHE_LABEL: &str = "tanto.cache";
/// The label on cache volumes: the volume's key.
pub const CACHE_VOLUME_LABEL: &str = "tanto.cache-volume";
/// The label on the image a failed step is committed to for `tanto call --interactive`
/// (and only on it): the process that made it, whose cleanup, or the sweep after it was
/// killed, removes it.
pub const DEBUG_LABEL: &str = "tanto.debug";
/// The labels tanto puts on what it makes for itself. Images handed to users carry none.
pub const INTERNAL_LABELS: [&str; 7] = [
    MANAGED_LABEL,
    SESSION_LABEL,
    OWNER_LABEL,
    SNAPSHOT_LABEL,
    CACHE_LABEL,
    CACHE_VOLUME_LABEL,
    DEBUG_LABEL,
];

/// An image the backend can start containers from.
#[derive(Clone, Debug)]
pub struct ImageInfo {
    /// The backend's id for the image (`sha256:...` on Docker).
    pub id: String,
    pub config: ImageConfig,
}

/// The parts of an image's configuration tanto reads and writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// `NAME=value` entries; a bare `NAME` unsets a variable the parent image sets.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
    /// `PORT/PROTOCOL` (`80/tcp`), as Docker's `ExposedPorts` names them: the image's
    /// `EXPOSE`s plus the container's `with-exposed-port`s.
    pub exposed_ports: Vec<String>,
}

/// A mount for the duration of one step.
#[derive(Clone, Debug)]
pub enum Mount {
    /// A host folder bind-mounted at `target`.
    Bind {
        source: std::path::PathBuf,
        target: String,
        read_only: bool,
    },
    /// A named volume (made with [`Backend::ensure_volume`]) mounted at `target`.
    Volume { name: String, target: String },
    /// An empty tmpfs at `target`.
    Tmpfs { target: String },
    /// A folder at `target` holding what `archive` holds (extracted at `/`, so its entries
    /// are under `target`), private to the container and discarded with it: a mounted
    /// directory on an engine that does not share this machine's file system.
    Upload { archive: ArchiveFile, target: String },
    /// A read-only file at `target` holding `contents`, with `mode` and, if given, owned
    /// by `owner` (`uid`, `gid`): a secret on an engine that does not share this machine's
    /// file system. It is kept in memory there too and gone when the step ends.
    SecretFile {
        contents: SecretBytes,
        mode: u32,
        owner: Option<(u32, u32)>,
        target: String,
    },
}

/// A secret's bytes on their way to an engine: never shown by `Debug`, zeroed when the
/// last handle goes.
#[derive(Clone)]
pub struct SecretBytes(std::sync::Arc<ZeroedOnDrop>);

struct ZeroedOnDrop(Vec<u8>);

impl Drop for ZeroedOnDrop {
    fn drop(&mut self) {
        for byte in self.0.iter_mut() {
            // SAFETY: `byte` is a valid, aligned, exclusive reference; the volatile write
            // keeps the compiler from dropping a store to memory about to be freed.
            unsafe { std::ptr::write_volatile(byte, 0) };
        }
    }
}

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(std::sync::Arc::new(ZeroedOnDrop(bytes)))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0.0
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBytes(***)")
    }
}

/// A tar archive on disk, removed when its last handle goes. The backend streams it from
/// the file, so a copied host directory of any size never sits whole in memory.
#[derive(Clone, Debug)]
pub struct ArchiveFile(std::sync::Arc<tempfile::TempPath>);

impl ArchiveFile {
    pub fn new(path: tempfile::TempPath) -> Self {
        Self(std::sync::Arc::new(path))
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

/// One exec step: start from `image`, extract `archives` at `/` in order, run `command`
/// with `config`, optionally commit the result.
#[derive(Clone, Debug)]
pub struct RunSpec {
    pub image: String,
    pub archives: Vec<ArchiveFile>,
    /// The configuration the command runs with, also written into the committed image.
    pub config: ImageConfig,
    /// The program and its arguments (the entrypoint is already applied or not).
    pub command: Vec<String>,
    pub stdin: Option<Vec<u8>>,
    pub mounts: Vec<Mount>,
    /// Labels for the committed snapshot image.
    pub snapshot_labels: BTreeMap<String, String>,
    pub commit: Commit,
    /// When the step's exit code fails its [`Commit`] test, commit the container anyway
    /// as a debug image (labelled [`DEBUG_LABEL`]), so a shell can be opened in the state
    /// the command left (`tanto call --interactive`).
    pub keep_failed: bool,
    /// The services the step reaches; `None` keeps the backend's default network.
    pub services: Option<ServiceHosts>,
}

/// Where a step or a service reaches the services bound to it: on the run's services
/// network, each alias naming a running service's address.
#[derive(Clone, Debug, Default)]
pub struct ServiceHosts {
    /// `(alias, address)`.
    pub hosts: Vec<(String, String)>,
}

/// A service to start: a container left running in the background on the run's services
/// network, where `hostname` names it.
#[derive(Clone, Debug)]
pub struct ServiceSpec {
    pub image: String,
    pub archives: Vec<ArchiveFile>,
    pub config: ImageConfig,
    pub command: Vec<String>,
    /// Its mounts, as a step's ([`RunSpec::mounts`]), for as long as it runs.
    pub mounts: Vec<Mount>,
    pub hostname: String,
    /// The services this one reaches itself.
    pub services: ServiceHosts,
    /// The TCP ports it exposes: an engine this machine cannot route to publishes them
    /// (see [`Backend::connect_service`]).
    pub ports: Vec<u16>,
}

/// A connection from this machine to a service's port.
pub trait ServiceIo: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> ServiceIo for T {}

/// How long one readiness probe of a service port may take.
pub const SERVICE_PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// A service the backend started.
#[derive(Clone, Debug)]
pub struct StartedService {
    /// The backend's id for its container.
    pub id: String,
    /// Its address on the run's services network, which the engine's machine routes to
    /// (this machine too only when the engine runs here).
    pub address: String,
    /// Where the engine published its TCP ports for this machine, by service port: for
    /// an engine reached over TCP, whose bridge this machine cannot route to; empty
    /// otherwise.
    pub published: BTreeMap<u16, std::net::SocketAddr>,
}

/// Whether a step's result becomes an image.
#[derive(Clone, Copy, Debug)]
pub enum Commit {
    /// Commit the container's filesystem as an image.
    Always,
    /// Commit only when the exit code satisfies the step's expectation.
    WhenExit(fn(i64) -> bool),
}

/// What a step produced. Its output went to the [`OutputSink`] as it arrived: the
/// backend keeps no copy, so a step printing gigabytes costs it no memory.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    pub exit_code: i64,
    /// The committed image, when one was asked for.
    pub image: Option<String>,
    /// The debug image of a failed step, when [`RunSpec::keep_failed`] asked for one:
    /// the caller removes it with [`Backend::remove_image`] (and the backend's cleanup
    /// does if the caller cannot).
    pub failed_image: Option<String>,
    pub duration: Duration,
}

/// An interactive shell: a container from `image` with `config` and `mounts`, running
/// `command` on a pseudo-terminal wired to the user's.
#[derive(Clone, Debug)]
pub struct TerminalSpec {
    pub image: String,
    pub config: ImageConfig,
    pub command: Vec<String>,
    pub mounts: Vec<Mount>,
    /// The services the shell reaches, as a step binding them would; `None` keeps the
    /// backend's default network.
    pub services: Option<ServiceHosts>,
}

/// A terminal's size in characters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TerminalSize {
    pub rows: u16,
    pub columns: u16,
}

/// The user's terminal as a shell uses it: keystrokes in (raw bytes, as typed), what the
/// shell prints out, and the terminal's size as it changes.
pub struct TerminalIo {
    pub input: tokio::sync::mpsc::Receiver<Vec<u8>>,
    pub output: Box<dyn tokio::io::AsyncWrite + Send + Unpin>,
    pub size: tokio::sync::watch::Receiver<TerminalSize>,
}

/// What a Dockerfile build is asked for.
#[derive(Clone, Debug, Default)]
pub struct BuildSpec {
    /// The Dockerfile's path in the build context.
    pub dockerfile: String,
    pub build_args: BTreeMap<String, String>,
    /// The stage to stop at; the last one when `None`.
    pub target: Option<String>,
    /// Secrets by id, for `RUN --mount=type=secret,id=ID`: served to BuildKit over a
    /// session while the build runs, never part of the image.
    pub secrets: BTreeMap<String, crate::engine::Secret>,
}

/// Makes an image from `image` plus `archives`, with `config`, without running anything.
#[derive(Clone, Debug)]
pub struct CommitSpec {
    pub image: String,
    pub archives: Vec<ArchiveFile>,
    pub config: ImageConfig,
    pub snapshot_labels: BTreeMap<String, String>,
}

/// Which stream a chunk of output came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Receives every byte of a step's output, in order per stream, while it runs: the only
/// place the output goes (to the cache's files and to live progress).
pub trait OutputSink: Send + Sync {
    fn output(&self, stream: Stream, bytes: &[u8]);

    /// The command has exited and wrote its last output; its snapshot is not committed
    /// yet. What only the running command needed (a `locked` cache volume, which no
    /// snapshot holds) may go now instead of after the commit.
    fn exited(&self) {}
}

/// What became of an image removal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removal {
    Removed,
    /// It was gone already.
    Gone,
    /// The backend keeps it, for this reason (a container uses it, a child image needs it).
    Refused(String),
}

/// A snapshot image tanto made, as the backend lists it.
#[derive(Clone, Debug)]
pub struct SnapshotImage {
    pub id: String,
    /// The step key its [`SNAPSHOT_LABEL`] names.
    pub key: String,
    /// The image it was committed on, if the backend still has it.
    pub parent: Option<String>,
    /// Seconds since the epoch.
    pub created: i64,
}

/// What a sweep of an ended process's leftovers removed.
#[derive(Clone, Debug, Default)]
pub struct Swept {
    pub containers: Vec<String>,
    /// Debug images of failed steps ([`DEBUG_LABEL`]).
    pub images: Vec<String>,
    pub volumes: Vec<String>,
    pub networks: Vec<String>,
}

impl Swept {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.images.is_empty() && self.volumes.is_empty() && self.networks.is_empty()
    }
}

/// Why the backend failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    /// The daemon could not be reached at all.
    #[error("cannot connect to the Docker daemon at {address}: {reason}")]
    Unreachable { address: String, reason: String },
    #[error("image {address:?} is not available locally and could not be pulled: {reason}")]
    ImageNotFound { address: String, reason: String },
    #[error("no such file or directory in the container: {path}")]
    PathNotFound { path: String },
    #[error("the step was cancelled")]
    Cancelled,
    #[error("{operation} failed: {reason}")]
    Failed { operation: String, reason: String },
    /// No engine could be chosen from `DOCKER_HOST`, the Docker context or its TLS files.
    #[error(transparent)]
    Endpoint(#[from] endpoint::EndpointError),
    /// A registry refused a push or a pull for want of valid credentials.
    #[error("{operation}: registry {registry} {problem}: {reason}")]
    Registry {
        operation: String,
        registry: String,
        problem: RegistryProblem,
        reason: String,
    },
}

/// Why a registry refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryProblem {
    /// Credentials were given and the registry rejected them.
    Rejected,
    /// The registry wants credentials and none were given.
    Missing,
}

impl std::fmt::Display for RegistryProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RegistryProblem::Rejected => "rejected the credentials",
            RegistryProblem::Missing => "requires authentication and no credentials were given for it",
        })
    }
}

impl Diagnose for BackendError {
    fn kind(&self) -> ErrorKind {
        match self {
            BackendError::Unreachable { .. } | BackendError::Registry { .. } | BackendError::Endpoint(_) => ErrorKind::User,
            BackendError::Cancelled => ErrorKind::Interrupted { signal: None },
            BackendError::ImageNotFound { .. } | BackendError::PathNotFound { .. } | BackendError::Failed { .. } => ErrorKind::Pipeline,
        }
    }

    fn hint(&self) -> Option<Hint> {
        match self {
            BackendError::Unreachable { address, reason } => Some(unreachable_hint(address, reason)),
            BackendError::Endpoint(error) => Some(match error {
                endpoint::EndpointError::BadAddress { .. } => Hint::CheckDockerHost,
                endpoint::EndpointError::UnknownContext { name, .. } | endpoint::EndpointError::BadContext { name, .. } => {
                    Hint::CheckDockerContext { name: name.clone() }
                }
                endpoint::EndpointError::TlsMaterial { address, .. } => Hint::CheckEngineTls { address: address.clone() },
            }),
            BackendError::ImageNotFound { .. } => Some(Hint::ImageUnavailable),
            BackendError::Registry { registry, problem, .. } => Some(match problem {
                RegistryProblem::Rejected => Hint::CheckRegistryCredentials { registry: registry.clone() },
                RegistryProblem::Missing => Hint::GiveRegistryCredentials { registry: registry.clone() },
            }),
            _ => None,
        }
    }
}

/// What to check when the engine at `address` did not answer: the local daemon, the
/// remote one and the way there, or the TLS material it refused.
fn unreachable_hint(address: &str, reason: &str) -> Hint {
    let reason = reason.to_ascii_lowercase();
    if address.starts_with("unix://") || address.is_empty() {
        Hint::StartDocker
    } else if address.starts_with("ssh://") {
        Hint::CheckEngineSsh { address: address.to_string() }
    } else if ["certificate", "tls", "handshake", "x509", "pem"].iter().any(|sign| reason.contains(sign)) {
        Hint::CheckEngineTls { address: address.to_string() }
    } else {
        Hint::ReachRemoteEngine { address: address.to_string() }
    }
}

/// Runs container operations. Every container it creates is labelled with
/// [`MANAGED_LABEL`] and removed when the operation ends, fails or is cancelled.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Where the backend runs containers (for Docker, the daemon's address), so that
    /// what a process left there is swept only by a process talking to the same place.
    fn address(&self) -> String;
    /// Whether the engine sees this machine's file system, so that a host folder can be
    /// bind-mounted ([`Mount::Bind`]); when it does not, mounted directories and secrets
    /// are [`Mount::Upload`] and [`Mount::SecretFile`].
    fn shares_host_files(&self) -> bool;
    /// The local image for `address`, pulled when it is not present, with `credentials`
    /// or else the user's own for its registry.
    async fn resolve_image(&self, address: &str, credentials: Option<&Credentials>) -> Result<ImageInfo, BackendError>;
    /// Tags `image` as `address` (a tag of `latest` when it names none) and pushes it with
    /// `credentials` or else the user's own for its registry; returns the manifest digest
    /// the registry stored (`sha256:...`).
    async fn push_image(&self, image: &str, address: &str, credentials: Option<&Credentials>) -> Result<String, BackendError>;
    /// Writes `image` as a `docker save` archive to the new file `archive`, as it streams
    /// in.
    async fn save_image(&self, image: &str, archive: &std::path::Path) -> Result<(), BackendError>;
    /// Loads the one image of the `docker save` archive `archive` (streamed from disk;
    /// it names no tag) and returns it.
    async fn load_image(&self, archive: &std::path::Path) -> Result<ImageInfo, BackendError>;
    /// Builds the tar build context `context` (streamed from disk) with the daemon's
    /// builder and returns the image; `labels` go on it.
    async fn build_image(&self, context: &std::path::Path, build: &BuildSpec, labels: &BTreeMap<String, String>) -> Result<ImageInfo, BackendError>;
    /// An empty image, for containers without a base (`scratch`).
    async fn scratch_image(&self) -> Result<ImageInfo, BackendError>;
    /// Runs one exec step.
    async fn run(&self, spec: RunSpec, sink: &dyn OutputSink) -> Result<RunOutcome, BackendError>;
    /// Runs an interactive shell until it exits and returns its exit code. The container
    /// is removed when the shell ends, fails, or the future is dropped (then by
    /// [`Backend::cleanup`]).
    async fn terminal(&self, spec: TerminalSpec, io: TerminalIo) -> Result<i64, BackendError>;
    /// Commits `archives` on top of an image without running a command.
    async fn commit(&self, spec: CommitSpec) -> Result<String, BackendError>;
    /// Writes a tar archive of `path` in `image` (its last component is the archive's top
    /// entry; a link there is archived as a link) to the new file `archive`, as it
    /// streams in, so its size is not bounded by memory.
    async fn read_path(&self, image: &str, path: &str, archive: &std::path::Path) -> Result<(), BackendError>;
    /// Whether an image still exists (snapshots can be pruned behind tanto's back).
    async fn image_exists(&self, image: &str) -> Result<bool, BackendError>;
    /// Creates the named volume with `labels` unless it exists.
    async fn ensure_volume(&self, name: &str, labels: &BTreeMap<String, String>) -> Result<(), BackendError>;
    /// Whether a volume exists.
    async fn volume_exists(&self, name: &str) -> Result<bool, BackendError>;
    /// Removes a volume; `Ok(false)` when it is in use or gone.
    async fn remove_volume(&self, name: &str) -> Result<bool, BackendError>;
    /// The size in bytes of an image's own top layer (what committing it added).
    async fn layer_size(&self, image: &str) -> Result<u64, BackendError>;
    /// Removes an image, never its parents (snapshot chains are shared), and never by
    /// force: an image a container or a child image needs stays, with the reason.
    async fn remove_image(&self, image: &str) -> Result<Removal, BackendError>;
    /// An image with the filesystem of `image` and exactly `config`, labels included:
    /// what a user gets, with none of the labels tanto puts on its own snapshots.
    async fn image_with_config(&self, image: &str, config: &ImageConfig) -> Result<String, BackendError>;
    /// Every image carrying [`SNAPSHOT_LABEL`] and [`CACHE_LABEL`] `cache`.
    async fn snapshot_images(&self, cache: &str) -> Result<Vec<SnapshotImage>, BackendError>;
    /// Removes the containers, volumes and networks that process `owner` (which has
    /// ended) created, found by their [`OWNER_LABEL`], and its debug images
    /// ([`DEBUG_LABEL`]).
    async fn sweep_owner(&self, owner: &str) -> Result<Swept, BackendError>;
    /// Removes every container, network and debug image this process created that is
    /// still there.
    async fn cleanup(&self) -> Result<(), BackendError>;
    /// Starts a service (creating the run's services network on first use) and returns
    /// once its command is running.
    async fn start_service(&self, spec: ServiceSpec) -> Result<StartedService, BackendError>;
    /// The exit code of a service's command once it has ended; `None` while it runs.
    async fn service_exit_code(&self, id: &str) -> Result<Option<i64>, BackendError>;
    /// The last `lines` lines of a service's output, both streams.
    async fn service_log_tail(&self, id: &str, lines: usize) -> Result<String, BackendError>;
    /// Stops and removes a service's container, and what its mounts needed.
    async fn stop_service(&self, id: &str) -> Result<(), BackendError>;
    /// Whether `port` of `service` accepts a connection from this machine now (the
    /// readiness probe). By default through the service's address, which the engine's
    /// network must route to.
    async fn service_port_ready(&self, service: &StartedService, port: u16) -> bool {
        port_accepts(&service.address, port).await
    }
    /// A connection from this machine to `port` of `service` (what `up` forwards). By
    /// default to the service's address, as [`Backend::service_port_ready`].
    async fn connect_service(&self, service: &StartedService, port: u16) -> Result<Box<dyn ServiceIo>, BackendError> {
        connect_port(&service.address, port).await
    }
}

/// Whether `host:port` accepts a TCP connection from this machine within
/// [`SERVICE_PROBE_TIMEOUT`].
pub(crate) async fn port_accepts(host: &str, port: u16) -> bool {
    let attempt = tokio::time::timeout(SERVICE_PROBE_TIMEOUT, tokio::net::TcpStream::connect((host, port))).await;
    matches!(attempt, Ok(Ok(_)))
}

/// A TCP connection from this machine to `host:port`.
pub(crate) async fn connect_port(host: &str, port: u16) -> Result<Box<dyn ServiceIo>, BackendError> {
    let stream = tokio::net::TcpStream::connect((host, port)).await.map_err(|error| BackendError::Failed {
        operation: format!("connecting to a service's port at {host}:{port}"),
        reason: error.to_string(),
    })?;
    Ok(Box::new(stream))
}

#[cfg(test)]
pub(crate) mod fake;
