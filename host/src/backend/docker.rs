//! The Docker implementation of [`Backend`], over bollard. The only module that knows
//! bollard or the Docker API.
//!
//! Each exec step is one short-lived container: created from the parent snapshot with an
//! explicit configuration, given the pending file edits with `put_archive`, attached
//! before it starts (so no output is lost and stdout and stderr stay apart), waited for,
//! committed as the snapshot image of the step, and removed. Removal happens off the
//! critical path (removing a container whose layer holds a big install takes seconds, and
//! nothing after the step needs it gone): it runs in the background, and
//! [`Backend::cleanup`] waits for every removal still under way. Steps that bind no
//! service join the network namespace of a running holder container when one is idle,
//! which spares them Docker's network set-up and release (see [`NetworkHolder`]).
//! Every container carries [`MANAGED_LABEL`], [`SESSION_LABEL`] and [`OWNER_LABEL`];
//! the ones still alive when the process stops (Ctrl-C, a failure) are removed by
//! [`Backend::cleanup`], and those of a process that was killed by
//! [`Backend::sweep_owner`] in a later one. Snapshot images carry [`SNAPSHOT_LABEL`] and
//! [`CACHE_LABEL`] with those three blanked; images made for users carry only the
//! user's labels.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use bollard::Docker;
use bollard::body_full;
use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::models::{ContainerConfig, ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CommitContainerOptionsBuilder, CreateImageOptionsBuilder, DownloadFromContainerOptionsBuilder, ListContainersOptionsBuilder,
    ListImagesOptionsBuilder, RemoveContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use futures_util::{StreamExt, TryStreamExt};
use tokio::io::AsyncWriteExt;
use tokio::sync::OnceCell;

use super::credentials::{self, Credentials, registry_of};
use super::endpoint::{self, Endpoint};
use super::pause;
use super::{
    ArchiveFile, Backend, BackendError, BuildSpec, CACHE_LABEL, Commit, CommitSpec, DEBUG_LABEL, ImageConfig, ImageInfo, MANAGED_LABEL, Mount, OWNER_LABEL,
    OutputSink, RegistryProblem, Removal, RunOutcome, RunSpec, SESSION_LABEL, SNAPSHOT_LABEL, ServiceHosts, ServiceSpec, SnapshotImage, StartedService, Stream,
    Swept, TerminalIo, TerminalSpec,
};

/// A program path that never exists: containers that are only created (to receive
/// archives, to be committed or read) need a command, and must never run one.
const NEVER_RUN: &str = "/.tanto-never-run";

/// How many of its last output lines a failed Dockerfile build shows.
const BUILD_OUTPUT_LINES: usize = 20;

/// What the daemon says it is.
#[derive(Clone, Debug)]
pub struct EngineVersion {
    /// The engine's release (`20.10.24`).
    pub engine: String,
    /// The API version tanto speaks with it, negotiated down to the daemon's (`1.41`).
    pub api: String,
}

/// Talks to the Docker engine that `DOCKER_HOST`, the Docker context or the default
/// socket names ([`endpoint::resolve`]).
pub struct DockerBackend {
    address: String,
    /// The engine chosen, or why none could be: reported by the first operation, so that
    /// commands that never touch a container work whatever the environment says.
    endpoint: Result<endpoint::Resolved, endpoint::EndpointError>,
    session: String,
    owner: String,
    client: OnceCell<Docker>,
    scratch: OnceCell<ImageInfo>,
    /// The run's services network, made when the first service starts.
    services_network: OnceCell<String>,
    /// Containers created and not yet removed, for cleanup on failure or Ctrl-C.
    live: Arc<Mutex<HashSet<String>>>,
    /// Removals running in the background; cleanup waits for them.
    removals: Mutex<tokio::task::JoinSet<()>>,
    /// Debug images of failed steps not yet removed, for the same cleanup.
    live_images: Mutex<HashSet<String>>,
    /// What running services' mounts need on the engine (secret holders), by service
    /// container, let go when the service stops.
    service_mounts: Mutex<HashMap<String, EngineMounts>>,
    /// Operations that talked to the daemon, for timing reports.
    round_trips: std::sync::atomic::AtomicUsize,
    /// The pause image's tag, or `None` when the engine cannot have one (see [`pause`]).
    pause_image: OnceCell<Option<String>>,
    /// Network holders no step is using (see [`NetworkHolder`]).
    idle_holders: Arc<Mutex<Vec<NetworkHolder>>>,
    /// Network holders being started in the background; cleanup waits for them.
    holder_starts: Mutex<tokio::task::JoinSet<()>>,
    /// Network holders that end with this process's connection to them, which the daemon
    /// removes: cleanup leaves them be.
    attached_holders: Arc<Mutex<HashSet<String>>>,
    /// Network holders idle or in use (see [`MAX_NETWORK_HOLDERS`]).
    holders_alive: Arc<std::sync::atomic::AtomicUsize>,
}

/// A running container whose network namespace steps join (`NetworkMode:
/// container:ID`), one step at a time. Starting a container on Docker's bridge costs
/// most of its start (the namespace, a veth pair, the bridge's port) and again after it
/// exits (the network released before its commit): a step joining a holder's namespace
/// skips both. A run starts its holder in the background when its first step starts
/// (and again if one is let go), so that step keeps its own network and later ones take
/// turns in the holder ([`MAX_NETWORK_HOLDERS`]); a step running while another uses it
/// keeps its own network too.
/// Processes, mounts and the file system stay the step's own; what the steps of one
/// holder share is the namespace (nothing of a step outlives it there: its processes
/// and their sockets end with it, and a step without `NET_ADMIN` can change no address,
/// route or rule) and the holder's `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`,
/// which Docker mounts writable into every step joining it. Those are compared with what
/// the daemon made after each step (while it is committed), and a holder whose files a
/// step changed is let go, never joined again.
///
/// A holder runs the pause image's hold program with this process attached to its
/// standard input, and the daemon removes it when it exits (`AutoRemove`): dropping the
/// holder ends it, and so does this process ending in any way, `kill -9` included, with
/// nothing for the process to wait for at exit.
struct NetworkHolder {
    id: String,
    /// The daemon's archive of the holder's `/etc` when it started.
    etc: Vec<u8>,
    /// The connection attached to the holder: it exits when this is dropped, and its
    /// output (the holder writes nothing) ends when it has exited. The lock makes the
    /// holder shareable with the step that joins it.
    attached: Mutex<bollard::container::AttachContainerResults>,
    /// The run's count of holders alive, which this one leaves when dropped.
    alive: Arc<std::sync::atomic::AtomicUsize>,
}

impl Drop for NetworkHolder {
    fn drop(&mut self) {
        self.alive.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl NetworkHolder {
    /// Whether the holder still runs, as far as its connection tells without waiting (a
    /// holder someone else stopped must not be joined: the step would fail to start).
    fn running(&self) -> bool {
        use futures_util::FutureExt as _;
        let Ok(mut attached) = self.attached.lock() else {
            return false;
        };
        !matches!(attached.output.next().now_or_never(), Some(None | Some(Err(_))))
    }
}

/// How many network holders a run keeps. Steps running alongside the one using it keep
/// their own network: on two cores, a second holder (started while the steps that need
/// the daemon most start, its `/etc` read after each step) cost the four-way fan-out of
/// `benches/c-project.sh` about what it saved.
const MAX_NETWORK_HOLDERS: usize = 1;

/// Marks network holders among a run's containers (for who counts its steps' containers).
const NETWORK_HOLDER_LABEL: &str = "tanto.network-holder";

/// The most the archive of a holder's `/etc` may hold: three short files. A bigger one
/// was written by a step, and retires the holder.
const MAX_HOLDER_ETC_BYTES: usize = 64 * 1024;

/// The daemon's archive of a holder's `/etc`, or `None` when it cannot be read or is
/// bigger than [`MAX_HOLDER_ETC_BYTES`].
async fn holder_etc(docker: &Docker, id: &str) -> Option<Vec<u8>> {
    let options = DownloadFromContainerOptionsBuilder::default().path("/etc").build();
    let mut stream = docker.download_from_container(id, Some(options));
    let mut etc = Vec::new();
    while let Some(chunk) = stream.next().await {
        etc.extend_from_slice(&chunk.ok()?);
        if etc.len() > MAX_HOLDER_ETC_BYTES {
            return None;
        }
    }
    Some(etc)
}

/// Where a network holder's start puts what it makes.
struct HolderPool {
    /// Containers to remove at cleanup, as [`DockerBackend`]'s.
    live: Arc<Mutex<HashSet<String>>>,
    /// Holders whose input this process holds (see [`NetworkHolder`]).
    attached: Arc<Mutex<HashSet<String>>>,
    /// Holders no step is using.
    idle: Arc<Mutex<Vec<NetworkHolder>>>,
    /// Holders idle or in use.
    alive: Arc<std::sync::atomic::AtomicUsize>,
}

/// Starts a network holder from `pause` and makes it idle in `pool`; one that fails is
/// removed.
async fn start_network_holder(docker: Docker, pause: String, mut labels: HashMap<String, String>, pool: HolderPool) {
    labels.insert(NETWORK_HOLDER_LABEL.to_string(), "true".to_string());
    let body = ContainerCreateBody {
        image: Some(pause),
        entrypoint: Some(vec![pause::HOLD.to_string()]),
        cmd: Some(Vec::new()),
        labels: Some(labels),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        open_stdin: Some(true),
        stdin_once: Some(true),
        host_config: Some(HostConfig {
            auto_remove: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let id = match docker.create_container(None, body).await {
        Ok(created) => created.id,
        Err(error) => {
            tracing::debug!(%error, "no network holder");
            return;
        }
    };
    if let Ok(mut live) = pool.live.lock() {
        live.insert(id.clone());
    }
    // Its output too, though it writes nothing: the daemon ends an attachment that
    // includes output when the container exits, which is how `running` learns of it.
    let options = AttachContainerOptionsBuilder::default().stream(true).stdin(true).stdout(true).build();
    let started = async {
        let input = docker.attach_container(&id, Some(options)).await?;
        docker.start_container(&id, None).await?;
        Ok::<_, DockerError>(input)
    };
    let input = match started.await {
        Ok(input) => input,
        Err(error) => {
            // Never started, so the daemon will not remove it.
            tracing::debug!(%error, "no network holder");
            remove_tracked(&docker, &pool.live, &id).await;
            return;
        }
    };
    // From here the holder ends with `input` and the daemon removes it.
    if let (Ok(mut live), Ok(mut attached)) = (pool.live.lock(), pool.attached.lock()) {
        live.remove(&id);
        attached.insert(id.clone());
    }
    if let Some(etc) = holder_etc(&docker, &id).await
        && let Ok(mut idle) = pool.idle.lock()
    {
        pool.alive.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        idle.push(NetworkHolder {
            id,
            etc,
            attached: Mutex::new(input),
            alive: pool.alive.clone(),
        });
    }
}

impl DockerBackend {
    /// A backend for the engine the environment names (see [`endpoint`]). Connecting is
    /// lazy: commands that never touch a container (`tanto functions`) work without one.
    pub fn new(session: impl Into<String>) -> Self {
        let endpoint = endpoint::resolve(&endpoint::ProcessEnvironment);
        let address = match &endpoint {
            Ok(resolved) => resolved.address.clone(),
            Err(_) => std::env::var("DOCKER_HOST").unwrap_or_default(),
        };
        let owner = crate::util::process_owner().to_string();
        Self {
            address,
            endpoint,
            session: session.into(),
            owner,
            client: OnceCell::new(),
            scratch: OnceCell::new(),
            services_network: OnceCell::new(),
            live: Arc::new(Mutex::new(HashSet::new())),
            removals: Mutex::new(tokio::task::JoinSet::new()),
            live_images: Mutex::new(HashSet::new()),
            service_mounts: Mutex::new(HashMap::new()),
            round_trips: std::sync::atomic::AtomicUsize::new(0),
            pause_image: OnceCell::new(),
            idle_holders: Arc::new(Mutex::new(Vec::new())),
            holder_starts: Mutex::new(tokio::task::JoinSet::new()),
            attached_holders: Arc::new(Mutex::new(HashSet::new())),
            holders_alive: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        }
    }

    /// Where services' ports are published for this machine (see [`engine_ip`]).
    async fn publish_address(&self) -> Result<Option<std::net::IpAddr>, BackendError> {
        let Ok(resolved) = &self.endpoint else {
            return Ok(None);
        };
        engine_ip(&resolved.endpoint).await.map_err(|reason| BackendError::Failed {
            operation: "publishing a service's ports on the engine".into(),
            reason,
        })
    }

    /// How many daemon operations this backend made (each one or a few API requests).
    pub fn round_trips(&self) -> usize {
        self.round_trips.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The connected client, with the API version negotiated down to the daemon's (Debian's
    /// Engine 20.10 speaks API 1.41, older than bollard's default).
    async fn client(&self) -> Result<&Docker, BackendError> {
        self.round_trips.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.client
            .get_or_try_init(|| async {
                let unreachable = |error: DockerError| BackendError::Unreachable {
                    address: self.address.clone(),
                    reason: with_causes(&error),
                };
                let resolved = self.endpoint.as_ref().map_err(|error| BackendError::Endpoint(error.clone()))?;
                let docker = connect(resolved)?;
                docker.negotiate_version().await.map_err(|error| match (&resolved.endpoint, unreachable(error)) {
                    // With TLS 1.3 an engine refusing this client's certificate only
                    // closes the connection after the handshake: say so, since the
                    // client's error does not.
                    (Endpoint::Tcp { tls: Some(tls), .. }, BackendError::Unreachable { address, reason }) if !refused_outright(&reason) => BackendError::Unreachable {
                        address,
                        reason: match &tls.client {
                            Some((cert, _)) => format!(
                                "{reason} (over TLS with {}: the engine may have refused this client's certificate, or its own may not be signed by that ca.pem)",
                                cert.display()
                            ),
                            None => format!("{reason} (over TLS without a client certificate: the engine may want one)"),
                        },
                    },
                    (_, error) => error,
                })
            })
            .await
    }

    /// The daemon's engine version and the API version spoken with it, asking the daemon
    /// once. `tanto version` shows it; nothing else depends on it.
    pub async fn engine_version(&self) -> Result<EngineVersion, BackendError> {
        let docker = self.client().await?;
        let version = docker.version().await.map_err(self.failed("ask the daemon its version"))?;
        Ok(EngineVersion {
            engine: version.version.unwrap_or_else(|| "unknown".into()),
            api: docker.client_version().to_string(),
        })
    }

    fn failed(&self, operation: impl Into<String>) -> impl FnOnce(DockerError) -> BackendError + '_ {
        let operation = operation.into();
        move |error| classify(&self.address, operation, error)
    }

    fn container_labels(&self) -> HashMap<String, String> {
        HashMap::from([
            (MANAGED_LABEL.to_string(), "true".to_string()),
            (SESSION_LABEL.to_string(), self.session.clone()),
            (OWNER_LABEL.to_string(), self.owner.clone()),
        ])
    }

    /// A debug image is gone: cleanup has nothing more to do for it.
    fn forget_image(&self, image: &str) {
        if let Ok(mut live) = self.live_images.lock() {
            live.remove(image);
        }
    }

    fn track(&self, id: &str) {
        if let Ok(mut live) = self.live.lock() {
            live.insert(id.to_string());
        }
    }

    /// Removes a container; `false` when it may still be there.
    async fn remove_container(&self, id: &str) -> bool {
        let Ok(docker) = self.client().await else {
            return false;
        };
        remove_tracked(docker, &self.live, id).await
    }

    /// Removes a container in the background: the caller goes on at once, and
    /// [`Backend::cleanup`] waits for the removal (or removes the container itself if the
    /// removal failed).
    async fn remove_container_later(&self, id: &str) {
        let Ok(docker) = self.client().await else {
            return;
        };
        let (docker, live, id) = (docker.clone(), self.live.clone(), id.to_string());
        if let Ok(mut removals) = self.removals.lock() {
            // Finished removals are reaped here, so the set holds only those under way.
            while removals.try_join_next().is_some() {}
            removals.spawn(async move {
                remove_tracked(&docker, &live, &id).await;
            });
        }
    }

    /// An idle network holder for a step (its `/etc` as the daemon made it); `None` when
    /// there is none (one is then started in the background for later steps, unless one
    /// is being started already or the run has its holders) or the engine has no pause
    /// image.
    async fn network_holder(&self) -> Option<NetworkHolder> {
        loop {
            let holder = self.idle_holders.lock().ok()?.pop();
            match holder {
                Some(holder) if holder.running() => return Some(holder),
                Some(holder) => tracing::debug!(holder = holder.id, "a network holder stopped"),
                None => break,
            }
        }
        let pause = self.pause_image().await?;
        let docker = self.client().await.ok()?;
        let mut starts = self.holder_starts.lock().ok()?;
        while starts.try_join_next().is_some() {}
        if starts.is_empty() && self.holders_alive.load(std::sync::atomic::Ordering::Relaxed) < MAX_NETWORK_HOLDERS {
            let pool = HolderPool {
                live: self.live.clone(),
                attached: self.attached_holders.clone(),
                idle: self.idle_holders.clone(),
                alive: self.holders_alive.clone(),
            };
            starts.spawn(start_network_holder(docker.clone(), pause, self.container_labels(), pool));
        }
        None
    }

    /// Makes `holder` idle again after a step that ended as it should and left its
    /// `/etc` as it was; otherwise lets it go (it exits, and the daemon removes it).
    fn release_holder(&self, holder: NetworkHolder, reusable: bool) {
        if !reusable {
            tracing::debug!(holder = holder.id, "network holder let go");
            return;
        }
        if let Ok(mut idle) = self.idle_holders.lock() {
            idle.push(holder);
        }
    }

    /// The pause image on the engine, imported the first time it is needed (see
    /// [`pause`]); `None` when the engine's architecture has no pause program or the
    /// import failed.
    async fn pause_image(&self) -> Option<String> {
        self.pause_image
            .get_or_init(|| async {
                let docker = self.client().await.ok()?;
                let version = docker.version().await.ok()?;
                let (archive, tag) = pause::pause_image(version.arch.as_deref()?)?.ok()?;
                let reference = format!("{}:{tag}", pause::REPOSITORY);
                if docker.inspect_image(&reference).await.is_err() {
                    let options = CreateImageOptionsBuilder::default().from_src("-").repo(pause::REPOSITORY).tag(&tag).build();
                    if let Err(error) = docker
                        .create_image(Some(options), Some(body_full(archive.into())), None)
                        .try_collect::<Vec<_>>()
                        .await
                    {
                        tracing::debug!(%error, "no pause image");
                        return None;
                    }
                }
                Some(reference)
            })
            .await
            .clone()
    }

    /// The run's services network, created on first use: a user-defined bridge, where
    /// Docker's DNS answers for each service's hostname. Labelled like this process's
    /// containers, so [`Backend::cleanup`] removes it and, after a crash,
    /// [`Backend::sweep_owner`] does.
    async fn services_network(&self) -> Result<&str, BackendError> {
        self.services_network
            .get_or_try_init(|| async {
                let docker = self.client().await?;
                let name = format!("tanto-services-{}", self.owner);
                let request = bollard::models::NetworkCreateRequest {
                    name: name.clone(),
                    driver: Some("bridge".into()),
                    labels: Some(self.container_labels()),
                    ..Default::default()
                };
                docker
                    .create_network(request)
                    .await
                    .map_err(self.failed(format!("creating the services network {name}")))?;
                Ok(name)
            })
            .await
            .map(String::as_str)
    }

    /// The network settings of a container that binds services: on the services network,
    /// each alias naming its service's address.
    async fn service_host_config(&self, services: &ServiceHosts) -> Result<(String, Vec<String>), BackendError> {
        let network = self.services_network().await?.to_string();
        let hosts = services.hosts.iter().map(|(alias, address)| format!("{alias}:{address}")).collect();
        Ok((network, hosts))
    }

    /// The network mode and extra hosts of a step or shell: the services network when it
    /// binds services, else the daemon's default network (as before services existed).
    async fn binding_network(&self, services: Option<&ServiceHosts>) -> Result<(Option<String>, Option<Vec<String>>), BackendError> {
        Ok(match services {
            Some(services) => {
                let (network, hosts) = self.service_host_config(services).await?;
                (Some(network), Some(hosts))
            }
            None => (None, None),
        })
    }

    /// A labelled container of `image` running `program` with `arguments` in `config`'s
    /// environment, working directory and user (steps and shells add how they attach).
    fn command_container(&self, image: &str, program: &str, arguments: &[String], config: &ImageConfig) -> ContainerCreateBody {
        ContainerCreateBody {
            image: Some(image.to_string()),
            entrypoint: Some(vec![program.to_string()]),
            cmd: Some(arguments.to_vec()),
            env: Some(config.env.clone()),
            working_dir: config.workdir.clone(),
            user: config.user.clone(),
            labels: Some(self.container_labels()),
            ..Default::default()
        }
    }

    /// Creates a container from `body` and tracks it for cleanup; `what` names it in errors
    /// ("creating a container for …").
    async fn create_tracked(&self, body: ContainerCreateBody, what: String) -> Result<String, BackendError> {
        let docker = self.client().await?;
        let created = docker.create_container(None, body).await.map_err(self.failed(what))?;
        self.track(&created.id);
        Ok(created.id)
    }

    /// Creates a container that will never start, for receiving archives, committing or
    /// reading paths.
    async fn create_idle(&self, image: &str) -> Result<String, BackendError> {
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            entrypoint: Some(vec![NEVER_RUN.to_string()]),
            cmd: Some(Vec::new()),
            labels: Some(self.container_labels()),
            network_disabled: Some(true),
            ..Default::default()
        };
        self.create_tracked(body, format!("creating a container from {image}")).await
    }

    /// Extracts the archives at `/` in the container, in order, streamed from their files
    /// in one request: every request costs the daemon an extraction process of its own
    /// (~50 ms), and a step often copies several things in. The archives are joined by
    /// leaving out the end-of-archive blocks of all but the last.
    async fn upload(&self, id: &str, archives: &[ArchiveFile]) -> Result<(), BackendError> {
        if archives.is_empty() {
            return Ok(());
        }
        let docker = self.client().await?;
        let mut parts = Vec::with_capacity(archives.len());
        for (index, archive) in archives.iter().enumerate() {
            let mut file = open_archive(archive.path()).await?;
            let last = index + 1 == archives.len();
            let length = if last { u64::MAX } else { entries_length(&mut file, archive.path()).await? };
            parts.push(tokio::io::AsyncReadExt::take(file, length));
        }
        let body = futures_util::stream::iter(parts).flat_map(chunks);
        let options = UploadToContainerOptionsBuilder::default().path("/").build();
        docker
            .upload_to_container(id, Some(options), bollard::body_try_stream(body))
            .await
            .map_err(self.failed("copying files into the container"))?;
        Ok(())
    }

    async fn commit_container(&self, id: &str, config: &ImageConfig, labels: &BTreeMap<String, String>) -> Result<String, BackendError> {
        let mut all_labels: HashMap<String, String> = config.labels.clone().into_iter().collect();
        all_labels.extend(labels.clone());
        // Docker copies the committed container's labels into the image, and every
        // container made from that image inherits them: blanked here, so that a container
        // someone starts from a snapshot is never taken for one of tanto's and swept.
        for label in [MANAGED_LABEL, SESSION_LABEL, OWNER_LABEL] {
            all_labels.insert(label.to_string(), String::new());
        }
        self.commit_labelled(id, config, all_labels).await
    }

    /// Commits a failed step's container as a debug image: labelled with this process
    /// ([`DEBUG_LABEL`]) and session, so that cleanup, or the sweep after a kill, finds it.
    async fn commit_debug(&self, id: &str, config: &ImageConfig) -> Result<String, BackendError> {
        let mut labels: HashMap<String, String> = config.labels.clone().into_iter().collect();
        labels.insert(DEBUG_LABEL.to_string(), self.owner.clone());
        labels.insert(SESSION_LABEL.to_string(), self.session.clone());
        for label in [MANAGED_LABEL, OWNER_LABEL] {
            labels.insert(label.to_string(), String::new());
        }
        let image = self.commit_labelled(id, config, labels).await?;
        if let Ok(mut live) = self.live_images.lock() {
            live.insert(image.clone());
        }
        Ok(image)
    }

    async fn commit_labelled(&self, id: &str, config: &ImageConfig, all_labels: HashMap<String, String>) -> Result<String, BackendError> {
        let docker = self.client().await?;
        let body = ContainerConfig {
            env: Some(config.env.clone()),
            cmd: config.cmd.clone(),
            entrypoint: config.entrypoint.clone(),
            working_dir: config.workdir.clone(),
            user: config.user.clone(),
            labels: Some(all_labels),
            exposed_ports: Some(config.exposed_ports.clone()),
            ..Default::default()
        };
        let options = CommitContainerOptionsBuilder::default().container(id).pause(false).build();
        let response = docker.commit_container(options, body).await.map_err(self.failed("committing the snapshot"))?;
        Ok(response.id)
    }

    /// Feeds stdin, hands stdout and stderr to `sink` chunk by chunk (keeping nothing)
    /// until the command ends, and returns its exit code.
    async fn collect(
        &self,
        id: &str,
        attached: bollard::container::AttachContainerResults,
        stdin: Option<Vec<u8>>,
        sink: &dyn OutputSink,
    ) -> Result<i64, BackendError> {
        let docker = self.client().await?;
        let mut input = attached.input;
        let mut output = attached.output;
        let feed = async move {
            if let Some(bytes) = stdin {
                // A command that exits without reading its input closes the pipe; that is
                // its business, not an error of the step.
                let _ = input.write_all(&bytes).await;
                let _ = input.shutdown().await;
            }
        };
        let collect = async {
            while let Some(chunk) = output.next().await {
                match chunk.map_err(self.failed("reading the command's output"))? {
                    LogOutput::StdOut { message } | LogOutput::Console { message } => sink.output(Stream::Stdout, &message),
                    LogOutput::StdErr { message } => sink.output(Stream::Stderr, &message),
                    LogOutput::StdIn { .. } => {}
                }
            }
            Ok::<(), BackendError>(())
        };
        let ((), collected) = tokio::join!(feed, collect);
        collected?;
        let exit_code = match docker.wait_container(id, None).try_collect::<Vec<_>>().await {
            Ok(responses) => responses.last().map(|response| response.status_code).unwrap_or(0),
            Err(DockerError::DockerContainerWaitError { code, .. }) => code,
            Err(error) => return Err(self.failed("waiting for the command")(error)),
        };
        Ok(exit_code)
    }

    /// Wires the user's terminal to the created shell container `id` until the shell exits:
    /// keystrokes to its input, its output to the user, each new size to a resize of its
    /// pseudo-terminal.
    async fn run_terminal(&self, id: &str, spec: &TerminalSpec, io: TerminalIo) -> Result<i64, BackendError> {
        let docker = self.client().await?;
        let TerminalIo {
            input: mut keystrokes,
            mut output,
            mut size,
        } = io;
        let attach_options = AttachContainerOptionsBuilder::default()
            .stream(true)
            .stdin(true)
            .stdout(true)
            .stderr(true)
            .build();
        let attached = docker
            .attach_container(id, Some(attach_options))
            .await
            .map_err(self.failed("attaching to the shell"))?;
        match docker.start_container(id, None).await {
            Ok(()) => {}
            // As for a step: the runtime could not start the program (not found, not
            // executable), which a shell reports with 127.
            Err(DockerError::DockerResponseServerError { message, .. }) if message.contains("OCI runtime") => {
                let _ = output.write_all(format!("{message}\r\n").as_bytes()).await;
                let _ = output.flush().await;
                return Ok(127);
            }
            Err(error) => return Err(self.failed(format!("starting {:?}", spec.command))(error)),
        }
        let mut input = attached.input;
        let mut shell_output = attached.output;
        let resize = |size: super::TerminalSize| async move {
            if size.rows == 0 || size.columns == 0 {
                return;
            }
            let options = bollard::query_parameters::ResizeContainerTTYOptions {
                h: i32::from(size.rows),
                w: i32::from(size.columns),
            };
            // A resize that races the shell's exit fails harmlessly.
            if let Err(error) = docker.resize_container_tty(id, options).await {
                tracing::debug!(%error, "could not resize the shell's terminal");
            }
        };
        let initial = *size.borrow_and_update();
        resize(initial).await;
        let forward_input = async {
            while let Some(bytes) = keystrokes.recv().await {
                if input.write_all(&bytes).await.is_err() || input.flush().await.is_err() {
                    break;
                }
            }
            // The user's side went away: wait for the shell to end on its own.
            std::future::pending::<()>().await
        };
        let forward_resizes = async {
            while size.changed().await.is_ok() {
                let changed = *size.borrow_and_update();
                resize(changed).await;
            }
            std::future::pending::<()>().await
        };
        let forward_output = async {
            while let Some(chunk) = shell_output.next().await {
                let message = match chunk.map_err(self.failed("reading the shell's output"))? {
                    LogOutput::StdOut { message } | LogOutput::StdErr { message } | LogOutput::Console { message } => message,
                    LogOutput::StdIn { .. } => continue,
                };
                // The terminal is the user's: what it cannot take is dropped, the shell
                // goes on.
                let _ = output.write_all(&message).await;
                let _ = output.flush().await;
            }
            Ok::<(), BackendError>(())
        };
        tokio::select! {
            ended = forward_output => ended?,
            () = forward_input => {}
            () = forward_resizes => {}
        }
        match docker.wait_container(id, None).try_collect::<Vec<_>>().await {
            Ok(responses) => Ok(responses.last().map(|response| response.status_code).unwrap_or(0)),
            Err(DockerError::DockerContainerWaitError { code, .. }) => Ok(code),
            Err(error) => Err(self.failed("waiting for the shell")(error)),
        }
    }

    /// A container's mounts as the engine takes them: binds, volumes and tmpfs mounts in
    /// its host configuration; for [`Mount::Upload`], a fresh anonymous volume (removed
    /// with the container) whose archive [`Backend::run`] uploads before the start; for
    /// [`Mount::SecretFile`], a bind of a file held in memory by a [`SecretHolder`].
    async fn engine_mounts(&self, image: &str, mounts: &[Mount]) -> Result<EngineMounts, BackendError> {
        let mut host = host_config(mounts);
        let mut uploads = Vec::new();
        let mut volumes = Vec::new();
        let mut secrets = Vec::new();
        for mount in mounts {
            match mount {
                Mount::Upload { archive, target } => {
                    uploads.push(archive.clone());
                    volumes.push(bollard::models::Mount {
                        target: Some(target.clone()),
                        typ: Some(bollard::models::MountType::VOLUME),
                        // Empty: the upload is its content, not what the image has there.
                        volume_options: Some(bollard::models::MountVolumeOptions {
                            no_copy: Some(true),
                            labels: Some(self.container_labels()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    });
                }
                Mount::SecretFile { .. } => secrets.push(mount),
                Mount::Bind { .. } | Mount::Volume { .. } | Mount::Tmpfs { .. } => {}
            }
        }
        if !volumes.is_empty() {
            host.mounts = Some(volumes);
        }
        let secrets = if secrets.is_empty() {
            None
        } else {
            let holder = self.hold_secrets(image, &secrets).await?;
            let binds = host.binds.get_or_insert_with(Vec::new);
            binds.extend(holder.binds.iter().cloned());
            Some(holder)
        };
        Ok(EngineMounts { host, uploads, secrets })
    }

    /// Puts `secrets` ([`Mount::SecretFile`]) on a tmpfs of the engine's machine: a
    /// volume of Docker's `local` driver with `type=tmpfs`, which holds its files only
    /// while a running container mounts it. That container is the holder, from the
    /// step's own image, waiting on `read` with its input open; the files are uploaded
    /// into it, and the step binds each one from the volume's folder on the engine's
    /// machine. Removing the holder unmounts the tmpfs, and the values are gone: nothing
    /// reaches a disk, a layer or a volume that outlives the step.
    async fn hold_secrets(&self, image: &str, secrets: &[&Mount]) -> Result<SecretHolder, BackendError> {
        const FOLDER: &str = "/tanto-secrets";
        let volume = bollard::models::Mount {
            target: Some(FOLDER.into()),
            typ: Some(bollard::models::MountType::VOLUME),
            volume_options: Some(bollard::models::MountVolumeOptions {
                no_copy: Some(true),
                labels: Some(self.container_labels()),
                driver_config: Some(bollard::models::MountVolumeOptionsDriverConfig {
                    name: Some("local".into()),
                    options: Some(HashMap::from([
                        ("type".to_string(), "tmpfs".to_string()),
                        ("device".to_string(), "tmpfs".to_string()),
                        ("o".to_string(), "size=16m,mode=0700".to_string()),
                    ])),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        // The pause image needs nothing of the step's; an engine without one gets the
        // step's own image, waiting in its shell.
        let (holder_image, entrypoint, cmd) = match self.pause_image().await {
            Some(pause) => (pause, vec![pause::PAUSE.to_string()], Vec::new()),
            None => (image.to_string(), vec!["/bin/sh".into()], vec!["-c".into(), "read _".into()]),
        };
        let body = ContainerCreateBody {
            image: Some(holder_image.clone()),
            entrypoint: Some(entrypoint),
            cmd: Some(cmd),
            open_stdin: Some(true),
            user: Some("0".into()),
            labels: Some(self.container_labels()),
            network_disabled: Some(true),
            host_config: Some(HostConfig {
                mounts: Some(vec![volume]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let holder = self
            .create_tracked(body, format!("creating the holder of a step's secrets from {holder_image}"))
            .await?;
        let held = async {
            let docker = self.client().await?;
            docker.start_container(&holder, None).await.map_err(|error| {
                let mut reason = error.to_string();
                if holder_image == image {
                    reason.push_str(
                        " (on an engine that does not share this machine's files and has no pause image for its architecture, a mounted secret is handed over by /bin/sh of the step's image)",
                    );
                }
                BackendError::Failed {
                    operation: format!("starting the holder of a step's secrets from {holder_image}"),
                    reason,
                }
            })?;
            let mut archive = tar::Builder::new(Vec::new());
            let mut binds = Vec::new();
            for (index, mount) in secrets.iter().enumerate() {
                let Mount::SecretFile { contents, mode, owner, target } = mount else {
                    continue;
                };
                let name = format!("secret-{index}");
                let mut header = tar::Header::new_gnu();
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(contents.expose().len() as u64);
                header.set_mode(mode & 0o7777);
                let (uid, gid) = owner.unwrap_or((0, 0));
                header.set_uid(u64::from(uid));
                header.set_gid(u64::from(gid));
                header.set_mtime(0);
                archive
                    .append_data(&mut header, &name, contents.expose())
                    .map_err(|error| BackendError::Failed {
                        operation: "packing a step's secrets".into(),
                        reason: error.to_string(),
                    })?;
                binds.push((name, target.clone()));
            }
            let archive = archive.into_inner().map_err(|error| BackendError::Failed {
                operation: "packing a step's secrets".into(),
                reason: error.to_string(),
            })?;
            // Extracted by the engine into the tmpfs the running holder keeps mounted.
            let options = UploadToContainerOptionsBuilder::default().path(FOLDER).copy_uidgid("1").build();
            docker
                .upload_to_container(&holder, Some(options), body_full(archive.into()))
                .await
                .map_err(self.failed("handing a step's secrets to the engine"))?;
            let inspect = docker
                .inspect_container(&holder, None)
                .await
                .map_err(self.failed("inspecting the holder of a step's secrets"))?;
            let source = inspect
                .mounts
                .unwrap_or_default()
                .into_iter()
                .find(|mount| mount.destination.as_deref() == Some(FOLDER))
                .and_then(|mount| mount.source)
                .ok_or_else(|| BackendError::Failed {
                    operation: "handing a step's secrets to the engine".into(),
                    reason: "the engine did not say where the secrets' tmpfs is".into(),
                })?;
            Ok(binds.into_iter().map(|(name, target)| format!("{source}/{name}:{target}:ro")).collect())
        }
        .await;
        match held {
            Ok(binds) => Ok(SecretHolder { container: holder, binds }),
            Err(error) => {
                self.remove_container(&holder).await;
                Err(error)
            }
        }
    }

    /// Lets go of what [`DockerBackend::engine_mounts`] made beyond the container itself.
    async fn release_mounts(&self, mounts: EngineMounts) {
        if let Some(holder) = mounts.secrets {
            // Killing the holder unmounts the tmpfs (the values go with it); `v` removes
            // the anonymous volume.
            self.remove_container(&holder.container).await;
        }
    }

    /// Runs the created step `id` and commits it; with the step's network `holder`, also
    /// says whether the holder's `/etc` is as the daemon made it (read while the step is
    /// committed).
    async fn run_created(&self, id: &str, spec: &RunSpec, sink: &dyn OutputSink, holder: Option<&NetworkHolder>) -> Result<(RunOutcome, bool), BackendError> {
        let docker = self.client().await?;
        self.upload(id, &spec.archives).await?;
        let attach_options = AttachContainerOptionsBuilder::default()
            .stream(true)
            .stdout(true)
            .stderr(true)
            .stdin(spec.stdin.is_some())
            .build();
        let attached = docker
            .attach_container(id, Some(attach_options))
            .await
            .map_err(self.failed("attaching to the container"))?;
        let started = Instant::now();
        let exit_code = match docker.start_container(id, None).await {
            Ok(()) => self.collect(id, attached, spec.stdin.clone(), sink).await?,
            // The runtime could not start the command (not found, not executable, unknown
            // user): that is the command failing, as a shell reports it, with exit 127.
            Err(DockerError::DockerResponseServerError { message, .. }) if message.contains("OCI runtime") => {
                sink.output(Stream::Stderr, format!("{message}\n").as_bytes());
                127
            }
            Err(error) => return Err(self.failed(format!("starting {:?}", spec.command))(error)),
        };
        let duration = started.elapsed();
        sink.exited();

        let commit = match spec.commit {
            Commit::Always => true,
            Commit::WhenExit(accepts) => accepts(exit_code),
        };
        let holder_intact = async {
            match holder {
                Some(holder) => holder_etc(docker, &holder.id).await.is_some_and(|etc| etc == holder.etc),
                None => false,
            }
        };
        let snapshot = async {
            let image = if commit {
                Some(self.commit_container(id, &spec.config, &spec.snapshot_labels).await?)
            } else {
                None
            };
            let failed_image = if !commit && spec.keep_failed {
                Some(self.commit_debug(id, &spec.config).await?)
            } else {
                None
            };
            Ok::<_, BackendError>((image, failed_image))
        };
        let (snapshot, holder_intact) = tokio::join!(snapshot, holder_intact);
        let (image, failed_image) = snapshot?;
        Ok((
            RunOutcome {
                exit_code,
                image,
                failed_image,
                duration,
            },
            holder_intact,
        ))
    }
}

#[async_trait]
impl Backend for DockerBackend {
    fn address(&self) -> String {
        self.address.clone()
    }

    fn shares_host_files(&self) -> bool {
        // An engine that cannot be chosen is reported by the first operation; until then
        // nothing is bind-mounted from this machine.
        self.endpoint.as_ref().is_ok_and(endpoint::Resolved::is_local)
    }

    async fn resolve_image(&self, address: &str, credentials: Option<&Credentials>) -> Result<ImageInfo, BackendError> {
        let docker = self.client().await?;
        match docker.inspect_image(address).await {
            Ok(inspect) => return Ok(image_info(address, inspect)),
            Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => {}
            Err(error) => return Err(self.failed(format!("inspecting image {address}"))(error)),
        }
        tracing::info!(image = address, "pulling");
        let auth = registry_auth(address, credentials).await?;
        let had_credentials = auth.is_some();
        let refused = |reason: String| match registry_refusal(&reason, had_credentials) {
            Some(problem) => BackendError::Registry {
                operation: format!("pulling {address}"),
                registry: registry_of(address),
                problem,
                reason,
            },
            None => BackendError::ImageNotFound {
                address: address.to_string(),
                reason,
            },
        };
        let options = CreateImageOptionsBuilder::default().from_image(address).build();
        let mut pull = docker.create_image(Some(options), None, auth);
        while let Some(progress) = pull.next().await {
            match progress {
                Ok(info) => {
                    if let Some(error) = info.error_detail.and_then(|detail| detail.message) {
                        return Err(refused(error));
                    }
                }
                Err(DockerError::DockerResponseServerError { message, .. }) | Err(DockerError::DockerStreamError { error: message }) => {
                    return Err(refused(message));
                }
                Err(error) => return Err(self.failed(format!("pulling image {address}"))(error)),
            }
        }
        let inspect = docker.inspect_image(address).await.map_err(|error| BackendError::ImageNotFound {
            address: address.to_string(),
            reason: error.to_string(),
        })?;
        Ok(image_info(address, inspect))
    }

    async fn push_image(&self, image: &str, address: &str, credentials: Option<&Credentials>) -> Result<String, BackendError> {
        let docker = self.client().await?;
        let (repository, tag) = split_tag(address);
        let options = bollard::query_parameters::TagImageOptionsBuilder::default().repo(repository).tag(tag).build();
        docker
            .tag_image(image, Some(options))
            .await
            .map_err(self.failed(format!("tagging the image as {repository}:{tag}")))?;
        let auth = registry_auth(address, credentials).await?;
        let had_credentials = auth.is_some();
        let operation = format!("pushing {repository}:{tag}");
        let refused = |reason: String| match registry_refusal(&reason, had_credentials) {
            Some(problem) => BackendError::Registry {
                operation: operation.clone(),
                registry: registry_of(address),
                problem,
                reason,
            },
            None => BackendError::Failed {
                operation: operation.clone(),
                reason,
            },
        };
        // A tag always: without one the daemon pushes every tag of the repository.
        let options = bollard::query_parameters::PushImageOptionsBuilder::default().tag(tag).build();
        let mut push = docker.push_image(repository, Some(options), auth);
        let mut digest = None;
        while let Some(progress) = push.next().await {
            match progress {
                Ok(info) => {
                    if let Some(error) = info.error_detail.and_then(|detail| detail.message) {
                        return Err(refused(error));
                    }
                    // "TAG: digest: sha256:... size: N", the last status of a push.
                    if let Some(status) = info.status
                        && let Some((_, rest)) = status.split_once("digest: ")
                    {
                        digest = rest.split_whitespace().next().map(str::to_string);
                    }
                }
                Err(DockerError::DockerResponseServerError { message, .. }) | Err(DockerError::DockerStreamError { error: message }) => {
                    return Err(refused(message));
                }
                Err(error) => return Err(self.failed(operation.clone())(error)),
            }
        }
        digest.ok_or_else(|| BackendError::Failed {
            operation: operation.clone(),
            reason: "the daemon did not report the digest of the pushed manifest".into(),
        })
    }

    async fn save_image(&self, image: &str, archive: &std::path::Path) -> Result<(), BackendError> {
        let docker = self.client().await?;
        let local = |error: std::io::Error| BackendError::Failed {
            operation: format!("writing {}", archive.display()),
            reason: error.to_string(),
        };
        let mut output = tokio::fs::OpenOptions::new().write(true).create_new(true).open(archive).await.map_err(local)?;
        let mut stream = docker.export_image(image);
        while let Some(chunk) = stream.next().await {
            let bytes = chunk.map_err(self.failed(format!("saving image {image}")))?;
            output.write_all(&bytes).await.map_err(local)?;
        }
        output.flush().await.map_err(local)
    }

    async fn load_image(&self, archive: &std::path::Path) -> Result<ImageInfo, BackendError> {
        let docker = self.client().await?;
        let file = open_archive(archive).await?;
        let options = bollard::query_parameters::ImportImageOptionsBuilder::default().quiet(true).build();
        let mut load = docker.import_image(options, bollard::body_try_stream(chunks(file)), None);
        let mut id = None;
        while let Some(progress) = load.next().await {
            let info = progress.map_err(self.failed("loading an image archive"))?;
            if let Some(error) = info.error_detail.and_then(|detail| detail.message) {
                return Err(BackendError::Failed {
                    operation: "loading an image archive".into(),
                    reason: error,
                });
            }
            if let Some(loaded) = info.stream.as_deref().and_then(|line| line.trim().strip_prefix("Loaded image ID: ")) {
                id = Some(loaded.to_string());
            }
        }
        let id = id.ok_or_else(|| BackendError::Failed {
            operation: "loading an image archive".into(),
            reason: "the daemon did not say which image it loaded".into(),
        })?;
        let inspect = docker
            .inspect_image(&id)
            .await
            .map_err(self.failed(format!("inspecting the loaded image {id}")))?;
        Ok(image_info(&id, inspect))
    }

    async fn build_image(&self, context: &std::path::Path, build: &BuildSpec, labels: &BTreeMap<String, String>) -> Result<ImageInfo, BackendError> {
        let docker = self.client().await?;
        let build_args: HashMap<String, String> = build.build_args.clone().into_iter().collect();
        let labels: HashMap<String, String> = labels.clone().into_iter().collect();
        let mut options = bollard::query_parameters::BuildImageOptionsBuilder::default()
            .dockerfile(&build.dockerfile)
            .buildargs(&build_args)
            .labels(&labels)
            .rm(true)
            .forcerm(true);
        if let Some(target) = &build.target {
            options = options.target(target);
        }
        // Only the daemon's BuildKit builder takes secrets (over a session the build reads
        // them from); builds without secrets keep the classic builder, as fast here and
        // what `docker build` of Docker 20.10 does by default.
        let session = if build.secrets.is_empty() {
            None
        } else {
            Some(super::session::open(&self.address, build.secrets.clone()).await?)
        };
        if let Some(session) = &session {
            // BuildKit's own cache of a `RUN` ignores the values of its secrets: it would
            // answer a build with a new value with the layer made with the old one. tanto's
            // cache (keyed by the values' keyed hashes) already skips unchanged builds.
            options = options
                .version(bollard::query_parameters::BuilderVersion::BuilderBuildKit)
                .session(&session.id)
                .nocache(true);
        }
        let file = open_archive(context).await?;
        let operation = format!("building {}", build.dockerfile);
        let mut stream = docker.build_image(options.build(), None, Some(bollard::body_try_stream(chunks(file))));
        let mut id = None;
        let mut last_lines = std::collections::VecDeque::new();
        let mut keep = |line: String| {
            tracing::debug!(target: "tanto::build", "{}", crate::secrets::scrub(line.trim_end()));
            last_lines.push_back(line);
            if last_lines.len() > BUILD_OUTPUT_LINES {
                last_lines.pop_front();
            }
        };
        let failure = loop {
            let Some(progress) = stream.next().await else { break None };
            let info = match progress {
                Ok(info) => info,
                Err(DockerError::DockerResponseServerError { message, .. }) | Err(DockerError::DockerStreamError { error: message }) => break Some(message),
                Err(error) => return Err(self.failed(operation)(error)),
            };
            if let Some(error) = info.error_detail.and_then(|detail| detail.message) {
                break Some(error);
            }
            match info.aux {
                Some(bollard::models::BuildInfoAux::Default(image)) => id = image.id.or(id),
                // BuildKit's progress: the output of its steps comes as logs.
                Some(bollard::models::BuildInfoAux::BuildKit(status)) => {
                    for log in status.logs {
                        for line in String::from_utf8_lossy(&log.msg).split_inclusive('\n') {
                            keep(line.to_string());
                        }
                    }
                }
                None => {}
            }
            if let Some(line) = info.stream {
                if let Some(short) = line.trim().strip_prefix("Successfully built ") {
                    id = id.or_else(|| Some(short.to_string()));
                }
                keep(line);
            }
        };
        drop(session);
        if let Some(error) = failure {
            let output: String = last_lines.into_iter().collect();
            let reason = if output.is_empty() { error } else { format!("{error}\n{output}") };
            return Err(BackendError::Failed {
                operation,
                reason: crate::secrets::scrub(&reason).into_owned(),
            });
        }
        let id = id.ok_or_else(|| BackendError::Failed {
            operation: operation.clone(),
            reason: "the daemon did not say which image it built".into(),
        })?;
        let inspect = docker
            .inspect_image(&id)
            .await
            .map_err(self.failed(format!("inspecting the built image {id}")))?;
        Ok(image_info(&id, inspect))
    }

    async fn scratch_image(&self) -> Result<ImageInfo, BackendError> {
        self.scratch
            .get_or_try_init(|| async {
                let docker = self.client().await?;
                // `docker import` of an empty archive: the only way to get an empty image
                // through the API without a registry.
                let empty = tar::Builder::new(Vec::new()).into_inner().map_err(|error| BackendError::Failed {
                    operation: "building an empty archive".into(),
                    reason: error.to_string(),
                })?;
                let options = CreateImageOptionsBuilder::default().from_src("-").repo("tanto-scratch").tag("latest").build();
                docker
                    .create_image(Some(options), Some(body_full(empty.into())), None)
                    .try_collect::<Vec<_>>()
                    .await
                    .map_err(self.failed("creating the scratch image"))?;
                let inspect = docker
                    .inspect_image("tanto-scratch:latest")
                    .await
                    .map_err(self.failed("inspecting the scratch image"))?;
                Ok(image_info("scratch", inspect))
            })
            .await
            .cloned()
    }

    async fn run(&self, spec: RunSpec, sink: &dyn OutputSink) -> Result<RunOutcome, BackendError> {
        let Some((program, arguments)) = spec.command.split_first() else {
            return Err(BackendError::Failed {
                operation: "running a command".into(),
                reason: "the command is empty".into(),
            });
        };
        let (network_mode, extra_hosts) = self.binding_network(spec.services.as_ref()).await?;
        let holder = match network_mode {
            None => self.network_holder().await,
            Some(_) => None,
        };
        let network_mode = network_mode.or_else(|| holder.as_ref().map(|holder| format!("container:{}", holder.id)));
        let mounts = match self.engine_mounts(&spec.image, &spec.mounts).await {
            Ok(mounts) => mounts,
            Err(error) => {
                if let Some(holder) = holder {
                    self.release_holder(holder, true);
                }
                return Err(error);
            }
        };
        let body = ContainerCreateBody {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            attach_stdin: Some(spec.stdin.is_some()),
            open_stdin: Some(spec.stdin.is_some()),
            stdin_once: Some(spec.stdin.is_some()),
            tty: Some(false),
            host_config: Some(HostConfig {
                network_mode,
                extra_hosts,
                ..mounts.host.clone()
            }),
            ..self.command_container(&spec.image, program, arguments, &spec.config)
        };
        let outcome = match self.create_tracked(body, format!("creating a container for {:?}", spec.command)).await {
            Ok(created) => {
                let outcome = match self.upload(&created, &mounts.uploads).await {
                    Ok(()) => self.run_created(&created, &spec, sink, holder.as_ref()).await,
                    Err(error) => Err(error),
                };
                self.remove_container_later(&created).await;
                outcome
            }
            Err(error) => Err(error),
        };
        let (outcome, holder_intact) = match outcome {
            Ok((outcome, intact)) => (Ok(outcome), intact),
            Err(error) => (Err(error), false),
        };
        if let Some(holder) = holder {
            self.release_holder(holder, holder_intact);
        }
        self.release_mounts(mounts).await;
        outcome
    }

    async fn terminal(&self, spec: TerminalSpec, io: TerminalIo) -> Result<i64, BackendError> {
        let Some((program, arguments)) = spec.command.split_first() else {
            return Err(BackendError::Failed {
                operation: "opening a terminal".into(),
                reason: "the command is empty".into(),
            });
        };
        let (network_mode, extra_hosts) = self.binding_network(spec.services.as_ref()).await?;
        let mounts = self.engine_mounts(&spec.image, &spec.mounts).await?;
        let body = ContainerCreateBody {
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            open_stdin: Some(true),
            tty: Some(true),
            host_config: Some(HostConfig {
                network_mode,
                extra_hosts,
                ..mounts.host.clone()
            }),
            ..self.command_container(&spec.image, program, arguments, &spec.config)
        };
        let result = match self.create_tracked(body, format!("creating a container for {:?}", spec.command)).await {
            Ok(created) => {
                let result = match self.upload(&created, &mounts.uploads).await {
                    Ok(()) => self.run_terminal(&created, &spec, io).await,
                    Err(error) => Err(error),
                };
                self.remove_container(&created).await;
                result
            }
            Err(error) => Err(error),
        };
        self.release_mounts(mounts).await;
        result
    }

    async fn commit(&self, spec: CommitSpec) -> Result<String, BackendError> {
        let id = self.create_idle(&spec.image).await?;
        let result = async {
            self.upload(&id, &spec.archives).await?;
            self.commit_container(&id, &spec.config, &spec.snapshot_labels).await
        }
        .await;
        self.remove_container_later(&id).await;
        result
    }

    async fn read_path(&self, image: &str, path: &str, archive: &std::path::Path) -> Result<(), BackendError> {
        let id = self.create_idle(image).await?;
        let result = async {
            let docker = self.client().await?;
            let options = DownloadFromContainerOptionsBuilder::default().path(path).build();
            let local = |error: std::io::Error| BackendError::Failed {
                operation: format!("writing {}", archive.display()),
                reason: error.to_string(),
            };
            let mut output = tokio::fs::OpenOptions::new().write(true).create_new(true).open(archive).await.map_err(local)?;
            let mut stream = docker.download_from_container(&id, Some(options));
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(bytes) => tokio::io::AsyncWriteExt::write_all(&mut output, &bytes).await.map_err(local)?,
                    Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => {
                        return Err(BackendError::PathNotFound { path: path.to_string() });
                    }
                    Err(error) => return Err(self.failed(format!("reading {path}"))(error)),
                }
            }
            tokio::io::AsyncWriteExt::flush(&mut output).await.map_err(local)
        }
        .await;
        self.remove_container_later(&id).await;
        result
    }

    async fn image_exists(&self, image: &str) -> Result<bool, BackendError> {
        let docker = self.client().await?;
        match docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => Ok(false),
            Err(error) => Err(self.failed(format!("inspecting image {image}"))(error)),
        }
    }

    async fn ensure_volume(&self, name: &str, labels: &BTreeMap<String, String>) -> Result<(), BackendError> {
        let docker = self.client().await?;
        let mut all_labels: HashMap<String, String> = labels.clone().into_iter().collect();
        all_labels.insert(MANAGED_LABEL.to_string(), "true".to_string());
        // Creating a volume that exists is a no-op that returns it.
        let options = bollard::models::VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(all_labels),
            ..Default::default()
        };
        docker.create_volume(options).await.map_err(self.failed(format!("creating volume {name}")))?;
        Ok(())
    }

    async fn volume_exists(&self, name: &str) -> Result<bool, BackendError> {
        let docker = self.client().await?;
        match docker.inspect_volume(name).await {
            Ok(_) => Ok(true),
            Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => Ok(false),
            Err(error) => Err(self.failed(format!("inspecting volume {name}"))(error)),
        }
    }

    async fn remove_volume(&self, name: &str) -> Result<bool, BackendError> {
        let docker = self.client().await?;
        match docker.remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>).await {
            Ok(()) => Ok(true),
            Err(DockerError::DockerResponseServerError { status_code: 404 | 409, .. }) => Ok(false),
            Err(error) => Err(self.failed(format!("removing volume {name}"))(error)),
        }
    }

    async fn layer_size(&self, image: &str) -> Result<u64, BackendError> {
        let docker = self.client().await?;
        let history = docker
            .image_history(image)
            .await
            .map_err(self.failed(format!("reading the history of {image}")))?;
        Ok(history.first().map(|layer| u64::try_from(layer.size).unwrap_or(0)).unwrap_or(0))
    }

    async fn remove_image(&self, image: &str) -> Result<Removal, BackendError> {
        let docker = self.client().await?;
        // `noprune`: Docker would otherwise also remove the untagged parents, which are
        // snapshots other steps and other processes use.
        let options = bollard::query_parameters::RemoveImageOptionsBuilder::default().noprune(true).build();
        match docker.remove_image(image, Some(options), None).await {
            Ok(_) => {
                self.forget_image(image);
                Ok(Removal::Removed)
            }
            Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => {
                self.forget_image(image);
                Ok(Removal::Gone)
            }
            // "conflict: unable to delete … (cannot be forced) - image is being used by
            // running container …": the part after the dash is the cause.
            Err(DockerError::DockerResponseServerError { status_code: 409, message }) => Ok(Removal::Refused(
                message.rsplit_once(" - ").map(|(_, cause)| cause.to_string()).unwrap_or(message),
            )),
            Err(error) => Err(self.failed(format!("removing image {image}"))(error)),
        }
    }

    async fn image_with_config(&self, image: &str, config: &ImageConfig) -> Result<String, BackendError> {
        let docker = self.client().await?;
        let inspect = docker.inspect_image(image).await.map_err(self.failed(format!("inspecting image {image}")))?;
        // Committing would copy the labels of the container and of the snapshot into the
        // image. Loading an image whose configuration is written here, over the layers the
        // daemon already has, gives exactly `config` and copies no layer: `docker load`
        // reads a layer from the archive only when the daemon lacks it.
        let mut container_config = serde_json::to_value(inspect.config.unwrap_or_default()).map_err(|error| BackendError::Failed {
            operation: format!("reading the configuration of {image}"),
            reason: error.to_string(),
        })?;
        if let Some(fields) = container_config.as_object_mut() {
            for field in ["Hostname", "Domainname", "Image"] {
                fields.remove(field);
            }
            fields.insert("Env".into(), serde_json::json!(config.env));
            fields.insert("Cmd".into(), serde_json::json!(config.cmd));
            fields.insert("Entrypoint".into(), serde_json::json!(config.entrypoint));
            fields.insert("WorkingDir".into(), serde_json::json!(config.workdir.clone().unwrap_or_default()));
            fields.insert("User".into(), serde_json::json!(config.user.clone().unwrap_or_default()));
            fields.insert("Labels".into(), serde_json::json!(config.labels));
            // The image's `EXPOSE`s and the container's `with-exposed-port`s, as Docker
            // writes them: an object of empty objects.
            let ports: serde_json::Map<String, serde_json::Value> = config.exposed_ports.iter().map(|port| (port.clone(), serde_json::json!({}))).collect();
            fields.insert("ExposedPorts".into(), if ports.is_empty() { serde_json::Value::Null } else { ports.into() });
        }
        let layers = inspect.root_fs.and_then(|root_fs| root_fs.layers).unwrap_or_default();
        let image_config = serde_json::json!({
            "architecture": inspect.architecture.unwrap_or_else(|| "amd64".into()),
            "os": inspect.os.unwrap_or_else(|| "linux".into()),
            "created": inspect.created,
            "config": container_config,
            "rootfs": { "type": "layers", "diff_ids": layers },
            "history": [],
        });
        let config_bytes = serde_json::to_vec(&image_config).map_err(|error| BackendError::Failed {
            operation: "writing an image configuration".into(),
            reason: error.to_string(),
        })?;
        // Docker names an image by the sha256 of its configuration.
        let id = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&config_bytes));
        let config_name = format!("{id}.json");
        let manifest = serde_json::json!([{
            "Config": config_name,
            "RepoTags": null,
            "Layers": (0..layers.len()).map(|index| format!("layer-{index}.tar")).collect::<Vec<_>>(),
        }]);
        let archive = (|| {
            let mut archive = tar::Builder::new(Vec::new());
            for (name, bytes) in [("manifest.json", serde_json::to_vec(&manifest)?), (config_name.as_str(), config_bytes)] {
                let mut header = tar::Header::new_gnu();
                header.set_size(bytes.len() as u64);
                header.set_mode(0o644);
                header.set_cksum();
                archive.append_data(&mut header, name, bytes.as_slice())?;
            }
            archive.into_inner()
        })()
        .map_err(|error| BackendError::Failed {
            operation: "building an image archive".into(),
            reason: error.to_string(),
        })?;
        let options = bollard::query_parameters::ImportImageOptionsBuilder::default().quiet(true).build();
        docker
            .import_image(options, body_full(archive.into()), None)
            .try_collect::<Vec<_>>()
            .await
            .map_err(self.failed(format!("making an image from {image}")))?;
        Ok(format!("sha256:{id}"))
    }

    async fn snapshot_images(&self, cache: &str) -> Result<Vec<SnapshotImage>, BackendError> {
        let docker = self.client().await?;
        let filters = HashMap::from([("label".to_string(), vec![SNAPSHOT_LABEL.to_string(), format!("{CACHE_LABEL}={cache}")])]);
        // `all`: snapshots are untagged, and Docker hides untagged images with children.
        let options = ListImagesOptionsBuilder::default().all(true).filters(&filters).build();
        let images = docker.list_images(Some(options)).await.map_err(self.failed("listing snapshot images"))?;
        Ok(images
            .into_iter()
            .filter_map(|image| {
                Some(SnapshotImage {
                    key: image.labels.get(SNAPSHOT_LABEL).filter(|key| !key.is_empty())?.clone(),
                    parent: Some(image.parent_id).filter(|parent| !parent.is_empty()),
                    created: image.created,
                    id: image.id,
                })
            })
            .collect())
    }

    async fn sweep_owner(&self, owner: &str) -> Result<Swept, BackendError> {
        let docker = self.client().await?;
        let filters = HashMap::from([("label".to_string(), vec![format!("{OWNER_LABEL}={owner}")])]);
        let mut swept = Swept::default();
        let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let containers = docker
            .list_containers(Some(options))
            .await
            .map_err(self.failed("listing the containers of an ended process"))?;
        for id in containers.into_iter().filter_map(|container| container.id) {
            let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
            match docker.remove_container(&id, Some(options)).await {
                Ok(()) => swept.containers.push(id),
                Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => {}
                Err(error) => return Err(self.failed(format!("removing container {id}"))(error)),
            }
        }
        let image_filters = HashMap::from([("label".to_string(), vec![format!("{DEBUG_LABEL}={owner}")])]);
        let options = ListImagesOptionsBuilder::default().all(true).filters(&image_filters).build();
        let images = docker
            .list_images(Some(options))
            .await
            .map_err(self.failed("listing the debug images of an ended process"))?;
        for image in images {
            if let Removal::Removed = self.remove_image(&image.id).await? {
                swept.images.push(image.id);
            }
        }
        let options = bollard::query_parameters::ListVolumesOptionsBuilder::default().filters(&filters).build();
        let volumes = docker
            .list_volumes(Some(options))
            .await
            .map_err(self.failed("listing the volumes of an ended process"))?;
        for volume in volumes.volumes.unwrap_or_default() {
            match docker.remove_volume(&volume.name, None::<bollard::query_parameters::RemoveVolumeOptions>).await {
                Ok(()) => swept.volumes.push(volume.name),
                Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => {}
                Err(error) => return Err(self.failed(format!("removing volume {}", volume.name))(error)),
            }
        }
        let options = bollard::query_parameters::ListNetworksOptionsBuilder::default().filters(&filters).build();
        let networks = docker
            .list_networks(Some(options))
            .await
            .map_err(self.failed("listing the networks of an ended process"))?;
        for network in networks.into_iter().filter_map(|network| network.id.or(network.name)) {
            match docker.remove_network(&network).await {
                Ok(()) => swept.networks.push(network),
                Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => {}
                Err(error) => return Err(self.failed(format!("removing network {network}"))(error)),
            }
        }
        Ok(swept)
    }

    async fn cleanup(&self) -> Result<(), BackendError> {
        // Never connect just to clean up: no client means nothing was created.
        let Some(docker) = self.client.get() else {
            return Ok(());
        };
        // Removals under way finish first; a container one failed to remove is still in
        // `live` and is removed below.
        let mut removals = self.removals.lock().map(|mut removals| std::mem::take(&mut *removals)).unwrap_or_default();
        while removals.join_next().await.is_some() {}
        // Network holders starting finish first; then all are let go, and the daemon
        // removes them as they exit.
        let mut starts = self.holder_starts.lock().map(|mut starts| std::mem::take(&mut *starts)).unwrap_or_default();
        while starts.join_next().await.is_some() {}
        if let Ok(mut idle) = self.idle_holders.lock() {
            idle.clear();
        }
        let let_go = self.attached_holders.lock().map(|attached| attached.clone()).unwrap_or_default();
        let mut doomed: HashSet<String> = self.live.lock().map(|live| live.clone()).unwrap_or_default();
        let filters = HashMap::from([("label".to_string(), vec![format!("{OWNER_LABEL}={}", self.owner)])]);
        let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let listed = docker.list_containers(Some(options)).await;
        let mut removed_all = listed.is_ok();
        if let Ok(containers) = listed {
            doomed.extend(containers.into_iter().filter_map(|container| container.id).filter(|id| !let_go.contains(id)));
        }
        for id in doomed {
            removed_all &= self.remove_container(&id).await;
        }
        // Networks after containers: a network with a container on it cannot go.
        let options = bollard::query_parameters::ListNetworksOptionsBuilder::default().filters(&filters).build();
        match docker.list_networks(Some(options)).await {
            Ok(networks) => {
                for network in networks.into_iter().filter_map(|network| network.id.or(network.name)) {
                    match docker.remove_network(&network).await {
                        Ok(()) | Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => {}
                        Err(error) => {
                            tracing::warn!(network, %error, "could not remove network");
                            removed_all = false;
                        }
                    }
                }
            }
            Err(_) => removed_all = false,
        }
        // After the containers: a debug image is refused while its shell still uses it.
        let images: Vec<String> = self.live_images.lock().map(|live| live.iter().cloned().collect()).unwrap_or_default();
        for image in images {
            removed_all &= matches!(self.remove_image(&image).await, Ok(Removal::Removed | Removal::Gone));
        }
        if removed_all {
            Ok(())
        } else {
            // The daemon went away or refused: what is left is swept by a later run, once
            // this process has ended.
            Err(BackendError::Failed {
                operation: "removing this run's containers and networks".into(),
                reason: "the daemon did not remove them all".into(),
            })
        }
    }

    async fn start_service(&self, spec: ServiceSpec) -> Result<StartedService, BackendError> {
        let docker = self.client().await?;
        let Some((program, arguments)) = spec.command.split_first() else {
            return Err(BackendError::Failed {
                operation: "starting a service".into(),
                reason: "its command is empty".into(),
            });
        };
        let (network, hosts) = self.service_host_config(&spec.services).await?;
        let mounts = self.engine_mounts(&spec.image, &spec.mounts).await?;
        // An engine reached over TCP runs on a machine whose bridge this one cannot
        // route to: its ports are published there, on the address tanto reaches the
        // engine at (a port the engine picks), for the readiness probe and `up`. They are
        // open to whoever reaches that address while the service runs (README, "Remote
        // engines"). Over ssh the engine's machine connects for us (`ssh -W`) instead.
        let publish_on = self.publish_address().await?;
        let published_ports = publish_on.map(|ip| {
            spec.ports
                .iter()
                .map(|port| {
                    let binding = bollard::models::PortBinding {
                        host_ip: Some(ip.to_string()),
                        host_port: Some(String::new()),
                    };
                    (format!("{port}/tcp"), Some(vec![binding]))
                })
                .collect::<bollard::models::PortMap>()
        });
        let body = ContainerCreateBody {
            hostname: Some(spec.hostname.clone()),
            tty: Some(false),
            exposed_ports: published_ports.as_ref().map(|ports| ports.keys().cloned().collect()),
            host_config: Some(HostConfig {
                network_mode: Some(network.clone()),
                extra_hosts: (!hosts.is_empty()).then_some(hosts),
                port_bindings: published_ports,
                ..mounts.host.clone()
            }),
            networking_config: Some(bollard::models::NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    network.clone(),
                    bollard::models::EndpointSettings {
                        aliases: Some(vec![spec.hostname.clone()]),
                        ..Default::default()
                    },
                )])),
            }),
            ..self.command_container(&spec.image, program, arguments, &spec.config)
        };
        let created = match self.create_tracked(body, format!("creating the service {}", spec.hostname)).await {
            Ok(created) => created,
            Err(error) => {
                self.release_mounts(mounts).await;
                return Err(error);
            }
        };
        let started = async {
            self.upload(&created, &mounts.uploads).await?;
            self.upload(&created, &spec.archives).await?;
            docker
                .start_container(&created, None)
                .await
                .map_err(self.failed(format!("starting the service {} ({:?})", spec.hostname, spec.command)))?;
            let inspect = docker
                .inspect_container(&created, None)
                .await
                .map_err(self.failed(format!("inspecting the service {}", spec.hostname)))?;
            let settings = inspect.network_settings.unwrap_or_default();
            let address = settings
                .networks
                .and_then(|mut networks| networks.remove(&network))
                .and_then(|endpoint| endpoint.ip_address)
                .filter(|address| !address.is_empty());
            let mut published = BTreeMap::new();
            if let Some(ip) = publish_on {
                let mut bound = settings.ports.unwrap_or_default();
                for port in &spec.ports {
                    let host_port = bound
                        .remove(&format!("{port}/tcp"))
                        .flatten()
                        .into_iter()
                        .flatten()
                        .find_map(|binding| binding.host_port.and_then(|text| text.parse::<u16>().ok()));
                    if let Some(host_port) = host_port {
                        published.insert(*port, std::net::SocketAddr::new(ip, host_port));
                    }
                }
            }
            // A command that ended at once has no address (nor published ports): that is
            // the service failing, which its readiness check reports with its log.
            Ok::<_, BackendError>((address.unwrap_or_default(), published))
        }
        .await;
        match started {
            Ok((address, published)) => {
                if let Ok(mut held) = self.service_mounts.lock() {
                    held.insert(created.clone(), mounts);
                }
                Ok(StartedService {
                    id: created,
                    address,
                    published,
                })
            }
            Err(error) => {
                self.remove_container(&created).await;
                self.release_mounts(mounts).await;
                Err(error)
            }
        }
    }

    async fn service_port_ready(&self, service: &StartedService, port: u16) -> bool {
        match self.endpoint.as_ref().map(|resolved| &resolved.endpoint) {
            Ok(Endpoint::Ssh(destination)) => {
                tracing::debug!(service = %service.id, port, route = "ssh -W", "probing a service port");
                super::ssh::probe(destination, &service.address, port, SSH_PROBE_TIMEOUT).await
            }
            Ok(Endpoint::Tcp { .. }) => match service.published.get(&port) {
                Some(published) => {
                    tracing::debug!(service = %service.id, port, route = "published", %published, "probing a service port");
                    published_port_accepts(*published).await
                }
                None => false,
            },
            _ => {
                tracing::debug!(service = %service.id, port, route = "bridge", "probing a service port");
                super::port_accepts(&service.address, port).await
            }
        }
    }

    async fn connect_service(&self, service: &StartedService, port: u16) -> Result<Box<dyn super::ServiceIo>, BackendError> {
        match self.endpoint.as_ref().map(|resolved| &resolved.endpoint) {
            Ok(Endpoint::Ssh(destination)) => {
                let stream = super::ssh::dial(destination, &service.address, port).map_err(|error| BackendError::Failed {
                    operation: format!("connecting to port {port} of a service through ssh ({})", self.address),
                    reason: error.to_string(),
                })?;
                Ok(Box::new(stream))
            }
            Ok(Endpoint::Tcp { .. }) => match service.published.get(&port) {
                Some(published) => super::connect_port(&published.ip().to_string(), published.port()).await,
                None => Err(BackendError::Failed {
                    operation: format!("connecting to port {port} of a service on {}", self.address),
                    reason: format!("the engine did not publish port {port}: only the ports the service exposes (with-exposed-port) are published"),
                }),
            },
            _ => super::connect_port(&service.address, port).await,
        }
    }

    async fn service_exit_code(&self, id: &str) -> Result<Option<i64>, BackendError> {
        let docker = self.client().await?;
        let inspect = docker.inspect_container(id, None).await.map_err(self.failed("inspecting a service"))?;
        let state = inspect.state.unwrap_or_default();
        Ok(match state.running {
            Some(true) => None,
            _ => Some(state.exit_code.unwrap_or(0)),
        })
    }

    async fn service_log_tail(&self, id: &str, lines: usize) -> Result<String, BackendError> {
        let docker = self.client().await?;
        let options = bollard::query_parameters::LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&lines.to_string())
            .build();
        let mut log = Vec::new();
        let mut stream = docker.logs(id, Some(options));
        while let Some(chunk) = stream.next().await {
            match chunk.map_err(self.failed("reading a service's log"))? {
                LogOutput::StdOut { message } | LogOutput::StdErr { message } | LogOutput::Console { message } => log.extend_from_slice(&message),
                LogOutput::StdIn { .. } => {}
            }
        }
        Ok(String::from_utf8_lossy(&log).into_owned())
    }

    async fn stop_service(&self, id: &str) -> Result<(), BackendError> {
        let removed = self.remove_container(id).await;
        let mounts = self.service_mounts.lock().ok().and_then(|mut held| held.remove(id));
        if let Some(mounts) = mounts {
            self.release_mounts(mounts).await;
        }
        if removed {
            Ok(())
        } else {
            Err(BackendError::Failed {
                operation: format!("removing the service container {id}"),
                reason: "the daemon did not remove it".into(),
            })
        }
    }
}

/// What a container's mounts need on the engine (see [`DockerBackend::engine_mounts`]).
struct EngineMounts {
    host: HostConfig,
    /// Archives of [`Mount::Upload`]s, extracted at `/` after create, before start.
    uploads: Vec<ArchiveFile>,
    secrets: Option<SecretHolder>,
}

/// The running container that keeps a step's secrets in memory on the engine's machine.
struct SecretHolder {
    container: String,
    /// `source:target:ro` binds of each secret file.
    binds: Vec<String>,
}

/// `error` and each cause under it that adds something ("client error (Connect)" alone
/// does not say that the connection was refused).
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let said = inner.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = inner.source();
    }
    text
}

/// Whether a connection failed before any TLS could be spoken (nothing listens, no route,
/// no such host).
fn refused_outright(reason: &str) -> bool {
    let reason = reason.to_ascii_lowercase();
    [
        "connection refused",
        "no route",
        "timed out",
        "dns error",
        "failed to lookup",
        "network is unreachable",
    ]
    .iter()
    .any(|sign| reason.contains(sign))
}

/// How long one request may take before it is abandoned: as long as bollard's default,
/// since a step's wait and a big upload are single requests.
const REQUEST_TIMEOUT_SECONDS: u64 = 120;

/// A client for the engine at `resolved` (not yet contacted).
/// How long a readiness probe through ssh may take: a new `ssh` process (sharing the
/// engine's connection) and one round trip to the engine's machine.
const SSH_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether the service behind a port the engine published accepts connections. The
/// engine's proxy (docker-proxy) accepts on the service's behalf and closes at once when
/// the service refuses, so connecting is not enough: the connection must also stay open
/// a little (a few round trips to the engine, at least 250 ms) or carry the service's
/// first bytes.
async fn published_port_accepts(published: std::net::SocketAddr) -> bool {
    use tokio::io::AsyncReadExt;
    let started = Instant::now();
    let Ok(Ok(mut stream)) = tokio::time::timeout(super::SERVICE_PROBE_TIMEOUT, tokio::net::TcpStream::connect(published)).await else {
        return false;
    };
    let settle = (started.elapsed() * 4).max(std::time::Duration::from_millis(250));
    let mut byte = [0u8; 1];
    match tokio::time::timeout(settle, stream.read(&mut byte)).await {
        // Held open, or the service spoke first: it is there.
        Err(_) | Ok(Ok(1..)) => true,
        // Closed or reset by the proxy: nothing listens behind it yet.
        Ok(Ok(0) | Err(_)) => false,
    }
}

/// The address of this machine's way to the engine, on which a service's ports are
/// published: the host of a `tcp://` engine's address (resolved here); `None` for the
/// others. A name resolving to no address the engine's machine has fails the service's
/// start with Docker's words.
async fn engine_ip(endpoint: &Endpoint) -> Result<Option<std::net::IpAddr>, String> {
    let Endpoint::Tcp { address, .. } = endpoint else {
        return Ok(None);
    };
    let mut addresses = tokio::net::lookup_host(address.as_str())
        .await
        .map_err(|error| format!("cannot resolve {address}: {error}"))?;
    addresses
        .next()
        .map(|found| Some(found.ip()))
        .ok_or_else(|| format!("{address} resolves to no address"))
}

fn connect(resolved: &endpoint::Resolved) -> Result<Docker, BackendError> {
    let version = bollard::API_DEFAULT_VERSION;
    let unreachable = |error: DockerError| BackendError::Unreachable {
        address: resolved.address.clone(),
        reason: with_causes(&error),
    };
    match &resolved.endpoint {
        Endpoint::Unix(path) => Docker::connect_with_unix(&path.to_string_lossy(), REQUEST_TIMEOUT_SECONDS, version).map_err(unreachable),
        Endpoint::Tcp { address, tls: None } => Docker::connect_with_http(&format!("tcp://{address}"), REQUEST_TIMEOUT_SECONDS, version).map_err(unreachable),
        Endpoint::Tcp { address, tls: Some(tls) } => super::tls::connect(address, tls, REQUEST_TIMEOUT_SECONDS).map_err(|(path, reason)| {
            BackendError::Endpoint(endpoint::EndpointError::TlsMaterial {
                address: resolved.address.clone(),
                path,
                reason,
            })
        }),
        Endpoint::Ssh(destination) => Ok(super::ssh::connect(destination, &resolved.address, REQUEST_TIMEOUT_SECONDS)),
    }
}

/// Removes container `id` (with its anonymous volumes) and forgets it in `live`; `false`
/// when it may still be there.
async fn remove_tracked(docker: &Docker, live: &Mutex<HashSet<String>>, id: &str) -> bool {
    let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
    match docker.remove_container(id, Some(options)).await {
        Ok(()) | Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => {
            if let Ok(mut live) = live.lock() {
                live.remove(id);
            }
            true
        }
        Err(error) => {
            tracing::warn!(container = id, %error, "could not remove container");
            false
        }
    }
}

/// The binds and tmpfs mounts of a container.
fn host_config(mounts: &[Mount]) -> HostConfig {
    let mut binds = Vec::new();
    let mut tmpfs = HashMap::new();
    for mount in mounts {
        match mount {
            Mount::Bind { source, target, read_only } => binds.push(format!("{}:{}:{}", source.display(), target, if *read_only { "ro" } else { "rw" })),
            Mount::Volume { name, target } => binds.push(format!("{name}:{target}:rw")),
            Mount::Tmpfs { target } => {
                tmpfs.insert(target.clone(), String::new());
            }
            // Made on the engine by `DockerBackend::engine_mounts`.
            Mount::Upload { .. } | Mount::SecretFile { .. } => {}
        }
    }
    HostConfig {
        binds: (!binds.is_empty()).then_some(binds),
        tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
        ..Default::default()
    }
}

/// The credentials for `address`'s registry, as the daemon takes them: the given ones,
/// else the user's own from their Docker configuration (a credential helper is a process,
/// so the lookup runs off the async threads).
async fn registry_auth(address: &str, given: Option<&Credentials>) -> Result<Option<bollard::auth::DockerCredentials>, BackendError> {
    let registry = registry_of(address);
    let found = match given {
        Some(credentials) => Some(credentials.clone()),
        None => {
            let lookup = registry.clone();
            tokio::task::spawn_blocking(move || credentials::user_credentials(&lookup))
                .await
                .map_err(|error| BackendError::Failed {
                    operation: format!("reading the credentials for {registry}"),
                    reason: error.to_string(),
                })?
                .map_err(|error| BackendError::Failed {
                    operation: format!("reading the credentials for {registry}"),
                    reason: error.to_string(),
                })?
        }
    };
    Ok(found.map(|credentials| bollard::auth::DockerCredentials {
        username: Some(credentials.username),
        password: Some(credentials.password),
        serveraddress: Some(registry),
        ..Default::default()
    }))
}

/// Whether a registry's answer is a refusal for want of (valid) credentials, and which.
fn registry_refusal(message: &str, had_credentials: bool) -> Option<RegistryProblem> {
    let message = message.to_ascii_lowercase();
    let refused = [
        "unauthorized",
        "authentication required",
        "no basic auth credentials",
        "access denied",
        "denied:",
    ]
    .iter()
    .any(|sign| message.contains(sign));
    match (refused, had_credentials) {
        (false, _) => None,
        (true, true) => Some(RegistryProblem::Rejected),
        (true, false) => Some(RegistryProblem::Missing),
    }
}

/// `host:5000/app:1` → (`host:5000/app`, `1`); no tag is `latest`.
fn split_tag(address: &str) -> (&str, &str) {
    let name_start = address.rfind('/').map_or(0, |slash| slash + 1);
    match address[name_start..].rfind(':') {
        Some(colon) => (&address[..name_start + colon], &address[name_start + colon + 1..]),
        None => (address, "latest"),
    }
}

/// Opens `path` to be streamed as a request body (see [`chunks`]).
async fn open_archive(path: &std::path::Path) -> Result<tokio::fs::File, BackendError> {
    tokio::fs::File::open(path).await.map_err(|error| BackendError::Failed {
        operation: format!("reading {}", path.display()),
        reason: error.to_string(),
    })
}

/// How long the archive in `file` is without the two zero blocks that end every archive
/// tanto writes (`tar::Builder::finish`), checked, with `file` read from its start again.
async fn entries_length(file: &mut tokio::fs::File, path: &std::path::Path) -> Result<u64, BackendError> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    const END: u64 = 1024;
    let failed = |reason: String| BackendError::Failed {
        operation: format!("reading {}", path.display()),
        reason,
    };
    let length = file.metadata().await.map_err(|error| failed(error.to_string()))?.len();
    let mut end = [0u8; END as usize];
    if length >= END {
        file.seek(std::io::SeekFrom::Start(length - END))
            .await
            .map_err(|error| failed(error.to_string()))?;
        file.read_exact(&mut end).await.map_err(|error| failed(error.to_string()))?;
        file.seek(std::io::SeekFrom::Start(0)).await.map_err(|error| failed(error.to_string()))?;
    }
    if length < END || end.iter().any(|byte| *byte != 0) {
        return Err(failed("the archive does not end with the two zero blocks of a tar archive".into()));
    }
    Ok(length - END)
}

/// The bytes `reader` gives as a stream of chunks, so a request body's size is not bounded
/// by memory (generic over the chunk type: bollard's is not nameable here).
fn chunks<Chunk: From<Vec<u8>>>(
    file: impl tokio::io::AsyncRead + Unpin + Send + 'static,
) -> impl futures_util::Stream<Item = Result<Chunk, std::io::Error>> + Send + 'static {
    futures_util::stream::unfold(file, |mut file| async move {
        let mut buffer = vec![0u8; 256 * 1024];
        match tokio::io::AsyncReadExt::read(&mut file, &mut buffer).await {
            Ok(0) => None,
            Ok(read) => {
                buffer.truncate(read);
                Some((Ok(Chunk::from(buffer)), file))
            }
            Err(error) => Some((Err(error), file)),
        }
    })
}

/// Docker's `ExposedPorts` (a map, so in no order) by port number, then protocol: the
/// order `EXPOSE` most often lists them in, and the same on every run.
fn sorted_ports(mut ports: Vec<String>) -> Vec<String> {
    let number = |port: &String| port.split('/').next().and_then(|number| number.parse::<u32>().ok()).unwrap_or(u32::MAX);
    ports.sort_by(|a, b| number(a).cmp(&number(b)).then_with(|| a.cmp(b)));
    ports.dedup();
    ports
}

fn image_info(address: &str, inspect: bollard::models::ImageInspect) -> ImageInfo {
    let config = inspect.config.unwrap_or_default();
    ImageInfo {
        id: inspect.id.unwrap_or_else(|| address.to_string()),
        config: ImageConfig {
            env: config.env.unwrap_or_default(),
            workdir: config.working_dir.filter(|dir| !dir.is_empty()),
            user: config.user.filter(|user| !user.is_empty()),
            entrypoint: config.entrypoint.filter(|entrypoint| !entrypoint.is_empty()),
            cmd: config.cmd.filter(|cmd| !cmd.is_empty()),
            labels: config.labels.unwrap_or_default().into_iter().collect(),
            exposed_ports: sorted_ports(config.exposed_ports.unwrap_or_default()),
        },
    }
}

/// Sorts a bollard error into "the daemon is not there" and "this operation failed".
fn classify(address: &str, operation: String, error: DockerError) -> BackendError {
    match &error {
        DockerError::SocketNotFoundError(_) | DockerError::HyperLegacyError { .. } | DockerError::IOError { .. } | DockerError::RequestTimeoutError => {
            BackendError::Unreachable {
                address: address.to_string(),
                reason: with_causes(&error),
            }
        }
        DockerError::DockerResponseServerError { message, .. } => BackendError::Failed {
            operation,
            reason: message.clone(),
        },
        _ => BackendError::Failed {
            operation,
            reason: error.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn archives_are_joined_without_their_end_blocks() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("one.tar");
        let mut builder = tar::Builder::new(std::fs::File::create(&path).unwrap());
        let mut header = tar::Header::new_gnu();
        header.set_size(5);
        header.set_mode(0o644);
        builder.append_data(&mut header, "a.txt", &b"hello"[..]).unwrap();
        builder.into_inner().unwrap();
        let length = std::fs::metadata(&path).unwrap().len();
        let mut file = tokio::fs::File::open(&path).await.unwrap();
        assert_eq!(entries_length(&mut file, &path).await.unwrap(), length - 1024);
        // Read from the start again: the entries follow.
        let mut start = [0u8; 5];
        tokio::io::AsyncReadExt::read_exact(&mut file, &mut start).await.unwrap();
        assert_eq!(&start, b"a.txt");

        let not_an_archive = folder.path().join("text");
        std::fs::write(&not_an_archive, vec![b'x'; 2048]).unwrap();
        let mut file = tokio::fs::File::open(&not_an_archive).await.unwrap();
        let error = entries_length(&mut file, &not_an_archive).await.unwrap_err();
        assert!(error.to_string().contains("does not end with the two zero blocks"), "{error}");
    }
}
