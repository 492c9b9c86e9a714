//! The immutable objects of a pipeline: containers, directories and files.
//!
//! Each object is a node of a lazy graph with a structural [`Digest`] over its kind, its
//! arguments and the digests of its inputs. Building a node never fails and never
//! blocks; invalid arguments (a path that climbs above `/`, a bad glob) are reported
//! when the node is evaluated, as the API contract requires.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::digest::{Digest, Hasher};
use super::sources::GitRef;
use super::tree::Tree;
use crate::backend::{BuildSpec, ImageConfig};

/// Which exit codes of a command count as success.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Expect {
    #[default]
    Success,
    Failure,
    Any,
}

impl Expect {
    /// Whether `exit_code` satisfies this expectation.
    pub fn allows(self, exit_code: i64) -> bool {
        match self {
            Expect::Success => exit_code == 0,
            Expect::Failure => exit_code != 0,
            Expect::Any => true,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Expect::Success => "success",
            Expect::Failure => "failure",
            Expect::Any => "any",
        }
    }
}

/// How `with_exec` runs its command.
#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    pub expect: Expect,
    pub stdin: Option<String>,
    pub use_entrypoint: bool,
}

/// Configuration changes made on top of the base image's configuration, which is only
/// known once the image is resolved.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConfigEdits {
    /// `None` removes a variable.
    pub env: BTreeMap<String, Option<String>>,
    /// Absolute, or relative to the base image's working directory.
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    /// `Some(empty)` clears the base image's default arguments.
    pub default_args: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
    /// Variables set from secrets when a command starts: never part of the image's
    /// configuration ([`ConfigEdits::apply`] leaves them out).
    pub secret_env: BTreeMap<String, Secret>,
    /// Ports a service made from this container listens on, with their descriptions.
    pub exposed_ports: BTreeMap<ExposedPort, Option<String>>,
    /// Services the commands that follow reach by alias (`with-service-binding`).
    pub services: BTreeMap<String, Service>,
}

impl ConfigEdits {
    fn hash_into(&self, hasher: &mut Hasher) {
        // Hashed only when present, so the digests of containers without them stay what
        // they were before services existed.
        if !self.exposed_ports.is_empty() {
            hasher.str("exposed-ports").u64(self.exposed_ports.len() as u64);
            for (port, description) in &self.exposed_ports {
                hasher.u64(u64::from(port.port)).str(port.protocol.name()).opt_str(description.as_deref());
            }
        }
        if !self.services.is_empty() {
            hasher.str("services").u64(self.services.len() as u64);
            for (alias, service) in &self.services {
                hasher.str(alias).digest(&service.digest());
            }
        }
        if !self.secret_env.is_empty() {
            hasher.str("secret-env").u64(self.secret_env.len() as u64);
            for (name, secret) in &self.secret_env {
                hasher.str(name).digest(&secret.digest());
            }
        }
        hasher.u64(self.env.len() as u64);
        for (name, value) in &self.env {
            hasher.str(name).opt_str(value.as_deref());
        }
        hasher.opt_str(self.workdir.as_deref()).opt_str(self.user.as_deref());
        hash_opt_strs(hasher, self.entrypoint.as_deref());
        hash_opt_strs(hasher, self.default_args.as_deref());
        hasher.u64(self.labels.len() as u64);
        for (name, value) in &self.labels {
            hasher.str(name).str(value);
        }
    }

    /// The effective configuration on top of `base`.
    pub fn apply(&self, base: &ImageConfig) -> ImageConfig {
        let mut env: Vec<String> = base.env.clone();
        for (name, value) in &self.env {
            env.retain(|entry| entry.split_once('=').map_or(entry.as_str(), |(key, _)| key) != name);
            match value {
                Some(value) => env.push(format!("{name}={value}")),
                // A bare name makes Docker drop a variable the image sets.
                None => env.push(name.clone()),
            }
        }
        let mut labels = base.labels.clone();
        labels.extend(self.labels.clone());
        let entrypoint = self.entrypoint.clone().or_else(|| base.entrypoint.clone()).filter(|args| !args.is_empty());
        let cmd = match &self.default_args {
            Some(args) => Some(args.clone()).filter(|args| !args.is_empty()),
            None => base.cmd.clone(),
        };
        let mut exposed_ports = base.exposed_ports.clone();
        for port in self.exposed_ports.keys() {
            let name = port.to_string();
            if !exposed_ports.contains(&name) {
                exposed_ports.push(name);
            }
        }
        ImageConfig {
            env,
            workdir: Some(self.workdir_in(base)),
            user: self.user.clone().or_else(|| base.user.clone()),
            entrypoint,
            cmd,
            labels,
            exposed_ports,
        }
    }

    /// The working directory on top of `base`: always absolute.
    pub fn workdir_in(&self, base: &ImageConfig) -> String {
        let base_dir = base.workdir.clone().unwrap_or_else(|| "/".to_string());
        match &self.workdir {
            None => base_dir,
            Some(dir) => join_absolute(&base_dir, dir),
        }
    }
}

fn hash_opt_strs(hasher: &mut Hasher, values: Option<&[String]>) {
    match values {
        None => {
            hasher.opt_str(None);
        }
        Some(values) => {
            hasher.strs(values);
        }
    }
}

/// `path` made absolute against `base` (without normalizing `..`).
pub(crate) fn join_absolute(base: &str, path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{}", base.trim_end_matches('/'), path)
    }
}

/// The working directory's stand-in while the image's own is unknown: a part no real
/// path holds (paths with NUL bytes are refused), so a path relative to it never
/// compares equal to an absolute one.
const UNKNOWN_WORKDIR: &str = "/\0workdir";

/// `path` (absolute, maybe under [`UNKNOWN_WORKDIR`]) in a normal form: no `.`, no
/// empty parts, `..` taken back (never above the root, and kept above the unknown
/// directory), so that two spellings of one path compare equal.
fn lexical_absolute(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(last) if !last.starts_with('\0') && *last != ".." => {
                    parts.pop();
                }
                Some(_) => parts.push(".."),
                None => {}
            },
            part => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

/// A container: a root filesystem, configuration edits, mounts and the last command.
#[derive(Clone)]
pub struct Container(pub(crate) Arc<ContainerNode>);

pub(crate) struct ContainerNode {
    pub digest: Digest,
    pub rootfs: Arc<FsNode>,
    pub config: ConfigEdits,
    pub mounts: Vec<Mount>,
    pub last_exec: Option<Arc<ExecNode>>,
    /// Credentials for `from` and `publish`, by registry. Not part of the digest: they
    /// change where an image may come from or go, never what the container is.
    pub registry_auths: RegistryAuths,
}

/// Registry credentials a pipeline gave (`with-registry-auth`), by registry (`host:port`).
pub(crate) type RegistryAuths = Arc<BTreeMap<String, RegistryAuth>>;

/// A user name and the secret holding its password, for one registry.
#[derive(Clone, Debug)]
pub(crate) struct RegistryAuth {
    pub username: String,
    pub secret: Secret,
}

impl RegistryAuth {
    /// The credentials the backend sends; the password leaves the secret only here.
    pub fn credentials(&self) -> crate::backend::Credentials {
        crate::backend::Credentials {
            username: self.username.clone(),
            password: self.secret.value().to_string(),
        }
    }
}

/// A root filesystem state.
pub(crate) struct FsNode {
    pub digest: Digest,
    pub kind: FsKind,
}

pub(crate) enum FsKind {
    Scratch,
    Image {
        address: String,
        /// The credentials to pull it with, when the pipeline gave some for its registry.
        auth: Option<RegistryAuth>,
    },
    Exec(Arc<ExecNode>),
    /// The one image of an image archive (`docker save` format).
    Import {
        archive: File,
    },
    /// The image a Dockerfile builds from a directory.
    DockerBuild {
        context: Directory,
        build: BuildSpec,
    },
    /// Files copied on top of `parent`; `path` may be relative to `workdir`.
    Copy {
        parent: Arc<FsNode>,
        path: String,
        workdir: Option<String>,
        source: CopySource,
        /// `user`, `uid`, `user:group` or `uid:gid`; `None` keeps root.
        owner: Option<String>,
    },
    /// `parent` without the file, link or directory at `path` (relative to `workdir`).
    Remove {
        parent: Arc<FsNode>,
        path: String,
        workdir: Option<String>,
    },
}

pub(crate) enum CopySource {
    Directory {
        directory: Directory,
        include: Vec<String>,
        exclude: Vec<String>,
    },
    File {
        file: File,
        permissions: Option<u32>,
    },
}

/// A command run on a root filesystem.
pub(crate) struct ExecNode {
    pub digest: Digest,
    pub rootfs: Arc<FsNode>,
    pub config: ConfigEdits,
    pub mounts: Vec<Mount>,
    pub args: Vec<String>,
    pub options: ExecOptions,
}

/// Something mounted for the commands that follow, never part of the root filesystem.
#[derive(Clone)]
pub(crate) struct Mount {
    /// Absolute, or relative to the working directory.
    pub path: String,
    pub source: MountSource,
}

#[derive(Clone)]
pub(crate) enum MountSource {
    Directory(Directory),
    /// A persistent cache volume: its key, not its contents, is part of the identity.
    Cache {
        volume: CacheVolume,
        sharing: Sharing,
    },
    /// An empty tmpfs.
    Temp,
    /// A secret's value as a read-only file.
    Secret {
        secret: Secret,
        /// `uid` or `uid:gid`.
        owner: Option<String>,
        mode: Option<u32>,
    },
}

impl Mount {
    fn hash_into(&self, hasher: &mut Hasher) {
        hasher.str(&self.path);
        match &self.source {
            MountSource::Directory(directory) => hasher.str("directory").digest(&directory.digest()),
            MountSource::Cache { volume, sharing } => hasher.str("cache").str(volume.key()).str(sharing.name()),
            MountSource::Temp => hasher.str("temp"),
            MountSource::Secret { secret, owner, mode } => hasher.str("secret").digest(&secret.digest()).opt_str(owner.as_deref()).opt_u32(*mode),
        };
    }
}

/// A secret: its name and its value, held in memory only. Its [`Debug`] shows the name,
/// never the value, and its digest is a keyed hash whose key never leaves the process.
#[derive(Clone)]
pub struct Secret(Arc<SecretNode>);

struct SecretNode {
    name: String,
    value: String,
    digest: Digest,
}

impl Secret {
    /// A secret named `name` holding `value`; from now on the value is scrubbed from
    /// everything this process shows.
    pub fn new(name: &str, value: String) -> Self {
        crate::secrets::register(value.as_bytes());
        let mut hasher = Hasher::new("secret");
        hasher
            .str(name)
            .str(&crate::secrets::keyed_hash(crate::secrets::process_key(), value.as_bytes()));
        Self(Arc::new(SecretNode {
            name: name.to_string(),
            value,
            digest: hasher.finish(),
        }))
    }

    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The value, for the one place that hands it to a command.
    pub(crate) fn value(&self) -> &str {
        &self.0.value
    }

    /// Changes with the name and the value; computed with a key of this process's, so it
    /// tells nothing about the value.
    pub fn digest(&self) -> Digest {
        self.0.digest
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({:?})", self.0.name)
    }
}

impl Drop for SecretNode {
    fn drop(&mut self) {
        // Overwritten before the allocator reuses the memory, so a later dump of the
        // process is less likely to hold it (`black_box` keeps the writes).
        let mut bytes = std::mem::take(&mut self.value).into_bytes();
        bytes.fill(0);
        std::hint::black_box(&bytes);
    }
}

/// How concurrent users of one cache volume share it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sharing {
    #[default]
    Shared,
    Private,
    Locked,
}

impl Sharing {
    pub fn name(self) -> &'static str {
        match self {
            Sharing::Shared => "shared",
            Sharing::Private => "private",
            Sharing::Locked => "locked",
        }
    }
}

/// A persistent cache volume, named by its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheVolume(Arc<str>);

impl CacheVolume {
    pub fn new(key: &str) -> Self {
        Self(key.into())
    }

    pub fn key(&self) -> &str {
        &self.0
    }
}

/// The transport protocol of an exposed port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NetworkProtocol {
    #[default]
    Tcp,
    Udp,
}

impl NetworkProtocol {
    pub fn name(self) -> &'static str {
        match self {
            NetworkProtocol::Tcp => "tcp",
            NetworkProtocol::Udp => "udp",
        }
    }
}

/// A port a service listens on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExposedPort {
    pub port: u32,
    pub protocol: NetworkProtocol,
}

impl ExposedPort {
    /// The ports of Docker's `ExposedPorts` names (`80/tcp`, `53/udp`, a bare `80` being
    /// TCP), in order, each once; others (`sctp`) are left out, as no API names them.
    pub fn parse_all(names: &[String]) -> Vec<ExposedPort> {
        let mut ports = Vec::new();
        for name in names {
            let (port, protocol) = name.split_once('/').unwrap_or((name, "tcp"));
            let protocol = match protocol.to_ascii_lowercase().as_str() {
                "tcp" => NetworkProtocol::Tcp,
                "udp" => NetworkProtocol::Udp,
                _ => continue,
            };
            if let Ok(port) = port.trim().parse::<u32>() {
                let port = ExposedPort { port, protocol };
                if !ports.contains(&port) {
                    ports.push(port);
                }
            }
        }
        ports
    }
}

impl std::fmt::Display for ExposedPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.port, self.protocol.name())
    }
}

/// A service: a container's command run in the background, reached over the network by
/// the steps that bind it. Its digest is the container's plus the command, so two
/// bindings of the same service share one running instance.
#[derive(Clone)]
pub struct Service(pub(crate) Arc<ServiceNode>);

pub(crate) struct ServiceNode {
    pub digest: Digest,
    pub container: Container,
    /// The command; empty runs the container's default command.
    pub args: Vec<String>,
    pub use_entrypoint: bool,
}

impl Service {
    pub fn digest(&self) -> Digest {
        self.0.digest
    }

    /// The name the service has on the run's network: the same for the same service, so
    /// it can be known before the service starts.
    pub fn hostname(&self) -> String {
        format!("tanto-service-{}", self.0.digest.short())
    }

    /// `scheme://hostname:port` (`hostname:port` without a scheme); `port` defaults to
    /// the first of `exposed` (the service's ports, its image's first).
    pub fn endpoint(&self, port: Option<u32>, exposed: &[ExposedPort], scheme: Option<&str>) -> Result<String, crate::engine::EngineError> {
        let port = match port {
            Some(port) => port,
            None => exposed.first().map(|exposed| exposed.port).ok_or_else(|| {
                crate::engine::EngineError::InvalidArgument(
                    "endpoint: the service exposes no port (neither its image nor with-exposed-port); name one, or expose one with with-exposed-port".into(),
                )
            })?,
        };
        Ok(match scheme.filter(|scheme| !scheme.is_empty()) {
            Some(scheme) => format!("{scheme}://{}:{port}", self.hostname()),
            None => format!("{}:{port}", self.hostname()),
        })
    }
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Service({})", self.hostname())
    }
}

impl Container {
    /// A container with an empty root filesystem.
    pub fn scratch() -> Self {
        let rootfs = Arc::new(FsNode {
            digest: Hasher::new("scratch").finish(),
            kind: FsKind::Scratch,
        });
        Self::assemble(rootfs, ConfigEdits::default(), Vec::new(), None, RegistryAuths::default())
    }

    fn assemble(rootfs: Arc<FsNode>, config: ConfigEdits, mounts: Vec<Mount>, last_exec: Option<Arc<ExecNode>>, registry_auths: RegistryAuths) -> Self {
        let mut hasher = Hasher::new("container");
        hasher.digest(&rootfs.digest);
        config.hash_into(&mut hasher);
        hasher.u64(mounts.len() as u64);
        for mount in &mounts {
            mount.hash_into(&mut hasher);
        }
        match &last_exec {
            Some(exec) => hasher.digest(&exec.digest),
            None => hasher.opt_str(None),
        };
        Self(Arc::new(ContainerNode {
            digest: hasher.finish(),
            rootfs,
            config,
            mounts,
            last_exec,
            registry_auths,
        }))
    }

    fn with_config(&self, edit: impl FnOnce(&mut ConfigEdits)) -> Self {
        let mut config = self.0.config.clone();
        edit(&mut config);
        Self::assemble(
            self.0.rootfs.clone(),
            config,
            self.0.mounts.clone(),
            self.0.last_exec.clone(),
            self.0.registry_auths.clone(),
        )
    }

    fn with_rootfs(&self, rootfs: Arc<FsNode>) -> Self {
        Self::assemble(
            rootfs,
            self.0.config.clone(),
            self.0.mounts.clone(),
            self.0.last_exec.clone(),
            self.0.registry_auths.clone(),
        )
    }

    /// The structural digest of this container.
    pub fn digest(&self) -> Digest {
        self.0.digest
    }

    /// This container's root filesystem replaced by the image at `address`; the image's
    /// configuration replaces the configuration edits.
    pub fn from(&self, address: &str) -> Self {
        let auth = self.0.registry_auths.get(&crate::backend::registry_of(address)).cloned();
        let digest = {
            let mut hasher = Hasher::new("image");
            hasher.str(address);
            // Other credentials may see another image (or none): a pull with them is
            // another node. The secret enters as its keyed digest only.
            if let Some(auth) = &auth {
                hasher.str("auth").str(&auth.username).digest(&auth.secret.digest());
            }
            hasher.finish()
        };
        let rootfs = Arc::new(FsNode {
            digest,
            kind: FsKind::Image {
                address: address.to_string(),
                auth,
            },
        });
        Self::assemble(rootfs, ConfigEdits::default(), self.0.mounts.clone(), None, self.0.registry_auths.clone())
    }

    /// This container with `username` and the password in `secret` as its credentials
    /// for the registry of `address` (a registry, `host:port`, or an image address), for
    /// the `from` and `publish` that follow.
    pub fn with_registry_auth(&self, address: &str, username: &str, secret: &Secret) -> Self {
        let mut auths = (*self.0.registry_auths).clone();
        auths.insert(
            crate::backend::credentials::registry_of_auth_address(address),
            RegistryAuth {
                username: username.to_string(),
                secret: secret.clone(),
            },
        );
        Self::assemble(
            self.0.rootfs.clone(),
            self.0.config.clone(),
            self.0.mounts.clone(),
            self.0.last_exec.clone(),
            Arc::new(auths),
        )
    }

    /// The credentials the pipeline gave for the registry of `address`, if any.
    pub(crate) fn registry_auth(&self, address: &str) -> Option<&RegistryAuth> {
        self.0.registry_auths.get(&crate::backend::registry_of(address))
    }

    /// This container's root filesystem and configuration replaced by those of the image
    /// in the archive `archive` (`docker save` format).
    pub fn import(&self, archive: &File) -> Self {
        let mut hasher = Hasher::new("import");
        hasher.digest(&archive.digest());
        let rootfs = Arc::new(FsNode {
            digest: hasher.finish(),
            kind: FsKind::Import { archive: archive.clone() },
        });
        Self::assemble(rootfs, ConfigEdits::default(), self.0.mounts.clone(), None, self.0.registry_auths.clone())
    }

    /// This container as an image archive (`docker save` format, untagged).
    pub fn export(&self) -> File {
        File::new(FileKind::ImageArchive { container: self.clone() })
    }

    /// This container after running `args`.
    pub fn with_exec(&self, args: Vec<String>, options: ExecOptions) -> Self {
        let mut hasher = Hasher::new("exec");
        hasher.digest(&self.0.rootfs.digest);
        self.0.config.hash_into(&mut hasher);
        hasher.u64(self.0.mounts.len() as u64);
        for mount in &self.0.mounts {
            mount.hash_into(&mut hasher);
        }
        hasher
            .strs(&args)
            .str(options.expect.name())
            .opt_str(options.stdin.as_deref())
            .bool(options.use_entrypoint);
        let exec = Arc::new(ExecNode {
            digest: hasher.finish(),
            rootfs: self.0.rootfs.clone(),
            config: self.0.config.clone(),
            mounts: self.0.mounts.clone(),
            args,
            options,
        });
        let rootfs_digest = {
            let mut hasher = Hasher::new("exec-rootfs");
            hasher.digest(&exec.digest);
            hasher.finish()
        };
        let rootfs = Arc::new(FsNode {
            digest: rootfs_digest,
            kind: FsKind::Exec(exec.clone()),
        });
        Self::assemble(rootfs, self.0.config.clone(), self.0.mounts.clone(), Some(exec), self.0.registry_auths.clone())
    }

    pub fn with_env_variable(&self, name: &str, value: &str) -> Self {
        self.with_config(|config| {
            config.secret_env.remove(name);
            config.env.insert(name.to_string(), Some(value.to_string()));
        })
    }

    pub fn without_env_variable(&self, name: &str) -> Self {
        self.with_config(|config| {
            config.secret_env.remove(name);
            config.env.insert(name.to_string(), None);
        })
    }

    /// Sets `name` to the value of `secret` for the commands that follow, never in the
    /// image's configuration.
    pub fn with_secret_variable(&self, name: &str, secret: &Secret) -> Self {
        self.with_config(|config| {
            config.env.remove(name);
            config.secret_env.insert(name.to_string(), secret.clone());
        })
    }

    /// Mounts the value of `secret` as a read-only file at `path` for the commands that
    /// follow.
    pub fn with_mounted_secret(&self, path: &str, secret: &Secret, owner: Option<String>, mode: Option<u32>) -> Self {
        self.with_mount(
            path,
            MountSource::Secret {
                secret: secret.clone(),
                owner,
                mode,
            },
        )
    }

    pub fn with_workdir(&self, path: &str) -> Self {
        self.with_config(|config| {
            let joined = match &config.workdir {
                Some(current) if !path.starts_with('/') => join_absolute(current, path),
                _ => path.to_string(),
            };
            config.workdir = Some(joined);
        })
    }

    pub fn with_user(&self, name: &str) -> Self {
        self.with_config(|config| config.user = Some(name.to_string()))
    }

    /// Sets the entrypoint and clears the default arguments, as Dagger does: arguments
    /// meant for the old entrypoint rarely suit the new one.
    pub fn with_entrypoint(&self, args: Vec<String>) -> Self {
        self.with_config(|config| {
            config.entrypoint = Some(args);
            config.default_args = Some(Vec::new());
        })
    }

    pub fn with_default_args(&self, args: Vec<String>) -> Self {
        self.with_config(|config| config.default_args = Some(args))
    }

    /// This container with `port` exposed: a service made from it listens there, and is
    /// ready when its TCP ports accept connections.
    pub fn with_exposed_port(&self, port: u32, protocol: NetworkProtocol, description: Option<String>) -> Self {
        // An out-of-range port is refused when the service starts (builders never fail).
        self.with_config(|config| {
            config.exposed_ports.insert(ExposedPort { port, protocol }, description);
        })
    }

    /// This container with `service` reachable as `alias` by the commands that follow.
    pub fn with_service_binding(&self, alias: &str, service: &Service) -> Self {
        self.with_config(|config| {
            config.services.insert(alias.to_string(), service.clone());
        })
    }

    /// This container's command run as a service: `args` (prefixed by the entrypoint
    /// when `use_entrypoint`), or the default command when `args` is empty.
    pub fn as_service(&self, args: Vec<String>, use_entrypoint: bool) -> Service {
        let mut hasher = Hasher::new("service");
        hasher.digest(&self.0.digest).strs(&args).bool(use_entrypoint);
        Service(Arc::new(ServiceNode {
            digest: hasher.finish(),
            container: self.clone(),
            args,
            use_entrypoint,
        }))
    }

    pub fn with_label(&self, name: &str, value: &str) -> Self {
        self.with_config(|config| {
            config.labels.insert(name.to_string(), value.to_string());
        })
    }

    fn with_copy(&self, path: &str, source: CopySource, owner: Option<&str>) -> Self {
        let mut hasher = Hasher::new("copy");
        hasher
            .digest(&self.0.rootfs.digest)
            .str(path)
            .opt_str(self.0.config.workdir.as_deref())
            .opt_str(owner);
        match &source {
            CopySource::Directory { directory, include, exclude } => hasher.str("directory").digest(&directory.digest()).strs(include).strs(exclude),
            CopySource::File { file, permissions } => hasher.str("file").digest(&file.digest()).opt_u32(*permissions),
        };
        let rootfs = Arc::new(FsNode {
            digest: hasher.finish(),
            kind: FsKind::Copy {
                parent: self.0.rootfs.clone(),
                path: path.to_string(),
                workdir: self.0.config.workdir.clone(),
                source,
                owner: owner.map(str::to_string),
            },
        });
        self.with_rootfs(rootfs)
    }

    /// `owner` (`user`, `uid`, `user:group`, `uid:gid`) owns what is copied; `None`
    /// leaves it to root. Names are looked up in the container's `/etc/passwd` and
    /// `/etc/group`.
    pub fn with_directory(&self, path: &str, directory: &Directory, include: Vec<String>, exclude: Vec<String>, owner: Option<&str>) -> Self {
        self.with_copy(
            path,
            CopySource::Directory {
                directory: directory.clone(),
                include,
                exclude,
            },
            owner,
        )
    }

    pub fn with_file(&self, path: &str, file: &File, permissions: Option<u32>, owner: Option<&str>) -> Self {
        self.with_copy(
            path,
            CopySource::File {
                file: file.clone(),
                permissions,
            },
            owner,
        )
    }

    pub fn with_new_file(&self, path: &str, contents: &str, permissions: Option<u32>, owner: Option<&str>) -> Self {
        self.with_new_file_bytes(path, contents.as_bytes(), permissions, owner)
    }

    pub fn with_new_file_bytes(&self, path: &str, contents: &[u8], permissions: Option<u32>, owner: Option<&str>) -> Self {
        let name = path.rsplit('/').next().unwrap_or(path);
        let file = Directory::empty().with_new_file_bytes(name, contents, permissions).file(name);
        self.with_file(path, &file, permissions, owner)
    }

    /// This container with a symbolic link at `link_name` pointing to `target`, kept as
    /// it is (resolved, if ever, inside the container).
    pub fn with_symlink(&self, target: &str, link_name: &str) -> Self {
        let (parent, name) = match link_name.rsplit_once('/') {
            Some(("", name)) => ("/", name),
            Some((parent, name)) => (parent, name),
            None => ("", link_name),
        };
        let link = Directory::empty().with_symlink(target, name);
        self.with_copy(
            parent,
            CopySource::Directory {
                directory: link,
                include: Vec::new(),
                exclude: Vec::new(),
            },
            None,
        )
    }

    /// This container without the file, link or directory at `path` (nothing changes
    /// when there is none).
    pub fn without_path(&self, path: &str) -> Self {
        let mut hasher = Hasher::new("remove");
        hasher.digest(&self.0.rootfs.digest).str(path).opt_str(self.0.config.workdir.as_deref());
        let rootfs = Arc::new(FsNode {
            digest: hasher.finish(),
            kind: FsKind::Remove {
                parent: self.0.rootfs.clone(),
                path: path.to_string(),
                workdir: self.0.config.workdir.clone(),
            },
        });
        self.with_rootfs(rootfs)
    }

    fn with_mount(&self, path: &str, source: MountSource) -> Self {
        let mut mounts = self.0.mounts.clone();
        mounts.retain(|mount| mount.path != path);
        mounts.push(Mount {
            path: path.to_string(),
            source,
        });
        mounts.sort_by(|a, b| a.path.cmp(&b.path));
        Self::assemble(
            self.0.rootfs.clone(),
            self.0.config.clone(),
            mounts,
            self.0.last_exec.clone(),
            self.0.registry_auths.clone(),
        )
    }

    pub fn with_mounted_directory(&self, path: &str, directory: &Directory) -> Self {
        self.with_mount(path, MountSource::Directory(directory.clone()))
    }

    pub fn with_mounted_cache(&self, path: &str, volume: &CacheVolume, sharing: Sharing) -> Self {
        self.with_mount(
            path,
            MountSource::Cache {
                volume: volume.clone(),
                sharing,
            },
        )
    }

    pub fn with_mounted_temp(&self, path: &str) -> Self {
        self.with_mount(path, MountSource::Temp)
    }

    /// This container without the mount at `path`, for the commands that follow: they
    /// neither see it nor depend on it (their cache keys no longer name it). `path` is
    /// compared with each mount's after both are resolved against the working directory
    /// set by `with-workdir` (when none is set, the image's is unknown here, so `src`
    /// matches `./src` but not `/src`). Unchanged when nothing is mounted there:
    /// builders never fail.
    pub fn without_mount(&self, path: &str) -> Self {
        let workdir = match self.0.config.workdir.as_deref() {
            Some(workdir) if workdir.starts_with('/') => workdir.to_string(),
            Some(workdir) => join_absolute(UNKNOWN_WORKDIR, workdir),
            None => UNKNOWN_WORKDIR.to_string(),
        };
        let resolved = |path: &str| lexical_absolute(&join_absolute(&workdir, path));
        let removed = resolved(path);
        let mut mounts = self.0.mounts.clone();
        mounts.retain(|mount| resolved(&mount.path) != removed);
        if mounts.len() == self.0.mounts.len() {
            return self.clone();
        }
        Self::assemble(
            self.0.rootfs.clone(),
            self.0.config.clone(),
            mounts,
            self.0.last_exec.clone(),
            self.0.registry_auths.clone(),
        )
    }

    /// The file at `path` in this container's root filesystem.
    pub fn file(&self, path: &str) -> File {
        File::new(FileKind::InContainer {
            rootfs: self.0.rootfs.clone(),
            path: path.to_string(),
            workdir: self.0.config.workdir.clone(),
        })
    }

    /// The directory at `path` in this container's root filesystem.
    pub fn directory(&self, path: &str) -> Directory {
        Directory::new(DirKind::ContainerPath {
            rootfs: self.0.rootfs.clone(),
            path: path.to_string(),
            workdir: self.0.config.workdir.clone(),
        })
    }
}

/// A directory tree.
#[derive(Clone)]
pub struct Directory(pub(crate) Arc<DirectoryNode>);

pub(crate) struct DirectoryNode {
    pub digest: Digest,
    pub kind: DirKind,
}

pub(crate) enum DirKind {
    /// A tree already known by content (a host directory, an empty directory).
    Tree(Arc<Tree>),
    ContainerPath {
        rootfs: Arc<FsNode>,
        path: String,
        workdir: Option<String>,
    },
    Sub {
        parent: Directory,
        path: String,
    },
    WithNewFile {
        parent: Directory,
        path: String,
        contents: Arc<[u8]>,
        permissions: Option<u32>,
    },
    WithFile {
        parent: Directory,
        path: String,
        file: File,
        permissions: Option<u32>,
    },
    WithDirectory {
        parent: Directory,
        path: String,
        source: Directory,
        include: Vec<String>,
        exclude: Vec<String>,
    },
    Without {
        parent: Directory,
        path: String,
    },
    WithSymlink {
        parent: Directory,
        path: String,
        target: String,
    },
    /// The tree of a git commit.
    Git(GitRef),
}

impl Directory {
    /// A container from the image that the Dockerfile `build.dockerfile` builds with this
    /// directory as its context.
    pub fn docker_build(&self, build: BuildSpec) -> Container {
        let mut hasher = Hasher::new("docker-build");
        hasher.digest(&self.digest()).str(&build.dockerfile).u64(build.build_args.len() as u64);
        for (name, value) in &build.build_args {
            hasher.str(name).str(value);
        }
        hasher.opt_str(build.target.as_deref());
        // A secret enters as its keyed digest only.
        if !build.secrets.is_empty() {
            hasher.str("secrets").u64(build.secrets.len() as u64);
            for (id, secret) in &build.secrets {
                hasher.str(id).digest(&secret.digest());
            }
        }
        let rootfs = Arc::new(FsNode {
            digest: hasher.finish(),
            kind: FsKind::DockerBuild { context: self.clone(), build },
        });
        Container::assemble(rootfs, ConfigEdits::default(), Vec::new(), None, RegistryAuths::default())
    }

    fn new(kind: DirKind) -> Self {
        let mut hasher;
        match &kind {
            DirKind::Tree(tree) => {
                hasher = Hasher::new("dir-tree");
                hasher.digest(&tree.digest());
            }
            DirKind::ContainerPath { rootfs, path, workdir } => {
                hasher = Hasher::new("dir-container");
                hasher.digest(&rootfs.digest).str(path).opt_str(workdir.as_deref());
            }
            DirKind::Sub { parent, path } => {
                hasher = Hasher::new("dir-sub");
                hasher.digest(&parent.digest()).str(path);
            }
            DirKind::WithNewFile {
                parent,
                path,
                contents,
                permissions,
            } => {
                hasher = Hasher::new("dir-with-new-file");
                hasher.digest(&parent.digest()).str(path).bytes(contents).opt_u32(*permissions);
            }
            DirKind::WithFile {
                parent,
                path,
                file,
                permissions,
            } => {
                hasher = Hasher::new("dir-with-file");
                hasher.digest(&parent.digest()).str(path).digest(&file.digest()).opt_u32(*permissions);
            }
            DirKind::WithDirectory {
                parent,
                path,
                source,
                include,
                exclude,
            } => {
                hasher = Hasher::new("dir-with-directory");
                hasher.digest(&parent.digest()).str(path).digest(&source.digest()).strs(include).strs(exclude);
            }
            DirKind::Without { parent, path } => {
                hasher = Hasher::new("dir-without");
                hasher.digest(&parent.digest()).str(path);
            }
            DirKind::WithSymlink { parent, path, target } => {
                hasher = Hasher::new("dir-with-symlink");
                hasher.digest(&parent.digest()).str(path).str(target);
            }
            DirKind::Git(git_ref) => {
                hasher = Hasher::new("dir-git");
                hasher.digest(&git_ref.digest());
            }
        }
        Self(Arc::new(DirectoryNode { digest: hasher.finish(), kind }))
    }

    /// An empty directory.
    pub fn empty() -> Self {
        Self::from_tree(Tree::new())
    }

    /// A directory whose content is already known (a snapshot of a host directory).
    pub fn from_tree(tree: Tree) -> Self {
        Self::new(DirKind::Tree(Arc::new(tree)))
    }

    /// The structural digest (for trees known by content, a digest of the content).
    pub fn digest(&self) -> Digest {
        self.0.digest
    }

    pub fn file(&self, path: &str) -> File {
        File::new(FileKind::InDirectory {
            directory: self.clone(),
            path: path.to_string(),
        })
    }

    pub fn directory(&self, path: &str) -> Directory {
        Self::new(DirKind::Sub {
            parent: self.clone(),
            path: path.to_string(),
        })
    }

    pub fn with_new_file(&self, path: &str, contents: &str, permissions: Option<u32>) -> Directory {
        self.with_new_file_bytes(path, contents.as_bytes(), permissions)
    }

    pub fn with_new_file_bytes(&self, path: &str, contents: &[u8], permissions: Option<u32>) -> Directory {
        Self::new(DirKind::WithNewFile {
            parent: self.clone(),
            path: path.to_string(),
            contents: contents.into(),
            permissions,
        })
    }

    pub fn with_file(&self, path: &str, file: &File, permissions: Option<u32>) -> Directory {
        Self::new(DirKind::WithFile {
            parent: self.clone(),
            path: path.to_string(),
            file: file.clone(),
            permissions,
        })
    }

    pub fn with_directory(&self, path: &str, source: &Directory, include: Vec<String>, exclude: Vec<String>) -> Directory {
        Self::new(DirKind::WithDirectory {
            parent: self.clone(),
            path: path.to_string(),
            source: source.clone(),
            include,
            exclude,
        })
    }

    pub fn without_file(&self, path: &str) -> Directory {
        Self::new(DirKind::Without {
            parent: self.clone(),
            path: path.to_string(),
        })
    }

    /// This directory with a symbolic link at `link_name` pointing to `target`, kept as
    /// it is: never followed on the host.
    pub fn with_symlink(&self, target: &str, link_name: &str) -> Directory {
        Self::new(DirKind::WithSymlink {
            parent: self.clone(),
            path: link_name.to_string(),
            target: target.to_string(),
        })
    }

    /// The tree of the commit `git_ref` resolves to.
    pub(crate) fn git(git_ref: GitRef) -> Directory {
        Self::new(DirKind::Git(git_ref))
    }
}

/// A file.
#[derive(Clone)]
pub struct File(pub(crate) Arc<FileNode>);

pub(crate) struct FileNode {
    pub digest: Digest,
    pub kind: FileKind,
}

pub(crate) enum FileKind {
    InDirectory {
        directory: Directory,
        path: String,
    },
    InContainer {
        rootfs: Arc<FsNode>,
        path: String,
        workdir: Option<String>,
    },
    /// Downloaded from an `http://` or `https://` URL.
    Http {
        url: String,
    },
    /// The image archive of a container.
    ImageArchive {
        container: Container,
    },
}

/// The name of a container's image archive, as a file.
pub(crate) const IMAGE_ARCHIVE_NAME: &str = "image.tar";

impl File {
    fn new(kind: FileKind) -> Self {
        let mut hasher;
        match &kind {
            FileKind::InDirectory { directory, path } => {
                hasher = Hasher::new("file-in-directory");
                hasher.digest(&directory.digest()).str(path);
            }
            FileKind::InContainer { rootfs, path, workdir } => {
                hasher = Hasher::new("file-in-container");
                hasher.digest(&rootfs.digest).str(path).opt_str(workdir.as_deref());
            }
            FileKind::Http { url } => {
                hasher = Hasher::new("file-http");
                hasher.str(url);
            }
            FileKind::ImageArchive { container } => {
                hasher = Hasher::new("file-image-archive");
                hasher.digest(&container.digest());
            }
        }
        Self(Arc::new(FileNode { digest: hasher.finish(), kind }))
    }

    pub fn digest(&self) -> Digest {
        self.0.digest
    }

    /// The file at `url`, downloaded when evaluated.
    pub fn http(url: &str) -> File {
        File::new(FileKind::Http { url: url.to_string() })
    }

    /// The file's name: the last component of its path. Known without evaluating.
    pub fn name(&self) -> String {
        let path = match &self.0.kind {
            FileKind::InDirectory { path, .. } | FileKind::InContainer { path, .. } => path.as_str(),
            FileKind::Http { url } => return super::sources::url_file_name(url),
            FileKind::ImageArchive { .. } => IMAGE_ARCHIVE_NAME,
        };
        path.trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Container {
        Container::scratch().from("busybox:latest")
    }

    #[test]
    fn exposed_ports_are_the_images_then_the_containers() {
        let image = ImageConfig {
            exposed_ports: vec!["8080/tcp".into(), "53/udp".into(), "9/sctp".into()],
            ..Default::default()
        };
        let container = base()
            .with_exposed_port(53, NetworkProtocol::Udp, None)
            .with_exposed_port(80, NetworkProtocol::Tcp, Some("web".into()));
        let config = container.0.config.apply(&image);
        assert_eq!(config.exposed_ports, ["8080/tcp", "53/udp", "9/sctp", "80/tcp"]);
        // SCTP has no protocol in the API: left out of the service's ports, kept in the image.
        assert_eq!(
            ExposedPort::parse_all(&config.exposed_ports),
            [
                ExposedPort {
                    port: 8080,
                    protocol: NetworkProtocol::Tcp
                },
                ExposedPort {
                    port: 53,
                    protocol: NetworkProtocol::Udp
                },
                ExposedPort {
                    port: 80,
                    protocol: NetworkProtocol::Tcp
                },
            ]
        );
        assert_eq!(
            ExposedPort::parse_all(&["443".into(), "443/tcp".into()]),
            [ExposedPort {
                port: 443,
                protocol: NetworkProtocol::Tcp
            }]
        );
    }

    #[test]
    fn same_operations_give_the_same_digest() {
        let first = base().with_env_variable("A", "1").with_exec(vec!["true".into()], ExecOptions::default());
        let second = base().with_env_variable("A", "1").with_exec(vec!["true".into()], ExecOptions::default());
        assert_eq!(first.digest(), second.digest());
    }

    #[test]
    fn any_argument_changes_the_digest() {
        let plain = base().with_exec(vec!["true".into()], ExecOptions::default());
        let variants = [
            base().with_exec(vec!["false".into()], ExecOptions::default()),
            base().with_exec(
                vec!["true".into()],
                ExecOptions {
                    expect: Expect::Any,
                    ..Default::default()
                },
            ),
            base().with_env_variable("A", "1").with_exec(vec!["true".into()], ExecOptions::default()),
            base().with_workdir("/tmp").with_exec(vec!["true".into()], ExecOptions::default()),
            base()
                .with_new_file("/a", "x", None, None)
                .with_exec(vec!["true".into()], ExecOptions::default()),
        ];
        for variant in variants {
            assert_ne!(variant.digest(), plain.digest());
        }
    }

    #[test]
    fn directory_digest_follows_content() {
        let first = Directory::empty().with_new_file("a.txt", "1", None);
        let second = Directory::empty().with_new_file("a.txt", "1", None);
        let third = Directory::empty().with_new_file("a.txt", "2", None);
        assert_eq!(first.digest(), second.digest());
        assert_ne!(first.digest(), third.digest());
    }

    #[test]
    fn config_edits_apply_on_top_of_the_image() {
        let image = ImageConfig {
            env: vec!["PATH=/bin".into(), "REMOVED=1".into()],
            workdir: Some("/srv".into()),
            cmd: Some(vec!["sh".into()]),
            ..Default::default()
        };
        let container = base()
            .with_env_variable("A", "1")
            .without_env_variable("REMOVED")
            .with_workdir("app")
            .with_entrypoint(vec!["/bin/echo".into()]);
        let config = container.0.config.apply(&image);
        assert_eq!(config.env, vec!["PATH=/bin", "A=1", "REMOVED"]);
        assert_eq!(config.workdir.as_deref(), Some("/srv/app"));
        assert_eq!(config.entrypoint, Some(vec!["/bin/echo".to_string()]));
        assert_eq!(config.cmd, None, "a new entrypoint clears the default arguments");
    }
}
