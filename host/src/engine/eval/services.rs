//! Services: a container's command kept running in the background for the steps that
//! bind it, with the mounts and secrets a step of that container would have. One instance
//! per service digest, started by its first binder (and ready once its TCP ports accept
//! connections; UDP ports are not waited for), stopped when its last binder lets go. Whatever is
//! still running when the run ends goes with the backend's cleanup, Ctrl-C included.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::try_join;

use super::Eval;
use super::copies::PendingCopyRef;
use super::exec::absolute_mounts;
use super::step_spec::PreparedMounts;
use crate::backend::{BackendError, ServiceHosts, ServiceSpec, StartedService};
use crate::engine::digest::{Digest, Hasher};
use crate::engine::objects::{ExposedPort, NetworkProtocol, Service};
use crate::engine::{Engine, EngineError, display_command};

/// How long a service may take to open its ports, unless `TANTO_SERVICE_TIMEOUT` (in
/// seconds) says otherwise.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How many lines of a failed service's log its error shows.
const LOG_TAIL_LINES: usize = 20;

/// The running services of this engine, by service digest.
#[derive(Default)]
pub(crate) struct Services {
    slots: std::sync::Mutex<HashMap<Digest, Arc<tokio::sync::Mutex<Slot>>>>,
    /// How many instances were started, for tests and reports.
    started: std::sync::atomic::AtomicUsize,
}

#[derive(Default)]
struct Slot {
    instance: Option<Instance>,
    /// Steps (and services) binding it right now.
    binders: usize,
    /// Kept running by `service.start()` until `service.stop()` or the end of the run.
    held: bool,
}

struct Instance {
    started: StartedService,
    /// The services this one binds, released when it stops.
    bound: BTreeMap<String, Service>,
    /// Its mounts' scratch folders, volume locks and secret files, let go when it stops.
    _mounts: PreparedMounts,
}

impl Services {
    fn slot(&self, digest: Digest) -> Result<Arc<tokio::sync::Mutex<Slot>>, EngineError> {
        let mut slots = self.slots.lock().map_err(|_| EngineError::Local("the service table is poisoned".into()))?;
        Ok(slots.entry(digest).or_default().clone())
    }
}

/// The ready timeout, from `TANTO_SERVICE_TIMEOUT` when it holds a number of seconds.
fn ready_timeout() -> Duration {
    std::env::var("TANTO_SERVICE_TIMEOUT")
        .ok()
        .and_then(|seconds| seconds.trim().parse::<f64>().ok())
        .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
        .map_or(READY_TIMEOUT, Duration::from_secs_f64)
}

impl Engine {
    /// How many service instances this engine started.
    pub fn services_started(&self) -> usize {
        self.services.started.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The content key of `service`: its root filesystem's key, the command and
    /// configuration it runs with, its ports (its image's included), its mounts and
    /// secrets (as a step's key takes them: a keyed hash of a secret's value, never the
    /// value) and the keys of the services it binds. A step that binds it is cached by
    /// this key, like any input; a key whose service holds a secret is private, as the
    /// key of a step holding one is.
    pub(crate) fn service_key<'a>(&'a self, service: &'a Service) -> Eval<'a, Digest> {
        Box::pin(async move {
            let container = &service.0.container.0;
            let (pending, mounts) = try_join(self.eval_pending(&container.rootfs), self.resolve_mounts(&container.mounts)).await?;
            let config = container.config.apply(&pending.base.base);
            let mounts = absolute_mounts(mounts, config.workdir.as_deref().unwrap_or("/"))?;
            let command = service_command(service, &config)?;
            let mut hasher = Hasher::new("service-key");
            hasher
                .digest(&pending.key)
                .strs(&command)
                .strs(&config.env)
                .opt_str(config.workdir.as_deref())
                .opt_str(config.user.as_deref());
            let ports = ExposedPort::parse_all(&config.exposed_ports);
            hasher.u64(ports.len() as u64);
            for port in &ports {
                hasher.u64(u64::from(port.port)).str(port.protocol.name());
            }
            let mut uses_secret = self.hash_mounts(&mut hasher, &mounts, &container.config.secret_env)?;
            hasher.u64(container.config.services.len() as u64);
            for (alias, bound) in &container.config.services {
                let bound_key = self.service_key(bound).await?;
                uses_secret |= self.ledger.is_private(&bound_key);
                hasher.str(alias).digest(&bound_key);
            }
            let key = hasher.finish();
            self.inherit_privacy(&key, &pending.base.key, uses_secret);
            Ok(key)
        })
    }

    /// The ports `service` listens on: its image's (`EXPOSE`, in the image's order), then
    /// those given with `with-exposed-port`. Knowing the image's needs the container's
    /// filesystem evaluated.
    pub async fn service_ports(&self, service: &Service) -> Result<Vec<ExposedPort>, EngineError> {
        let container = &service.0.container.0;
        let pending = self.eval_pending(&container.rootfs).await?;
        Ok(ExposedPort::parse_all(&container.config.apply(&pending.base.base).exposed_ports))
    }

    /// Starts each of `services` that is not running and counts one more binder of each;
    /// returns where each alias points. On failure, what it bound is released.
    pub(crate) async fn bind_services(&self, services: &BTreeMap<String, Service>) -> Result<ServiceHosts, EngineError> {
        let mut hosts = Vec::new();
        let mut bound = BTreeMap::new();
        for (alias, service) in services {
            match self.acquire_service(service).await {
                Ok(address) => {
                    hosts.push((alias.clone(), address));
                    bound.insert(alias.clone(), service.clone());
                }
                Err(error) => {
                    self.unbind_services(&bound).await;
                    return Err(error);
                }
            }
        }
        Ok(ServiceHosts { hosts })
    }

    /// One binder fewer for each of `services`; those nothing binds any more stop.
    pub(crate) async fn unbind_services(&self, services: &BTreeMap<String, Service>) {
        for service in services.values() {
            if let Err(error) = self.release_service(service).await {
                tracing::warn!(%error, service = %service.hostname(), "could not let go of a service");
            }
        }
    }

    /// `service.start()`: keeps the service running until [`Engine::stop_service`] or the
    /// end of the run.
    pub async fn start_service(&self, service: &Service) -> Result<(), EngineError> {
        let slot = self.services.slot(service.digest())?;
        let mut slot = slot.lock().await;
        if slot.instance.is_none() {
            slot.instance = Some(self.start_instance(service).await?);
        }
        slot.held = true;
        Ok(())
    }

    /// `service.stop()`: lets go of what `start` held; the service stops unless a running
    /// step binds it (it stops after that step).
    pub async fn stop_service(&self, service: &Service) -> Result<(), EngineError> {
        let slot = self.services.slot(service.digest())?;
        let mut slot = slot.lock().await;
        slot.held = false;
        if slot.binders == 0
            && let Some(instance) = slot.instance.take()
        {
            self.stop_instance(instance).await?;
        }
        Ok(())
    }

    /// `service` once it runs and is ready; for the command line's `up`, which forwards
    /// host ports to it.
    pub async fn service_instance(&self, service: &Service) -> Result<StartedService, EngineError> {
        self.start_service(service).await?;
        let slot = self.services.slot(service.digest())?;
        let slot = slot.lock().await;
        slot.instance
            .as_ref()
            .map(|instance| instance.started.clone())
            .ok_or_else(|| EngineError::Local("a started service has no instance".into()))
    }

    /// A connection from this machine to `port` of a started service, however the engine
    /// is reached (see [`crate::backend::Backend::connect_service`]).
    pub async fn connect_service(&self, started: &StartedService, port: u16) -> Result<Box<dyn crate::backend::ServiceIo>, EngineError> {
        Ok(self.backend.connect_service(started, port).await?)
    }

    fn acquire_service<'a>(&'a self, service: &'a Service) -> Eval<'a, String> {
        Box::pin(async move {
            let slot = self.services.slot(service.digest())?;
            let mut slot = slot.lock().await;
            if slot.instance.is_none() {
                slot.instance = Some(self.start_instance(service).await?);
            }
            slot.binders += 1;
            Ok(slot.instance.as_ref().map(|instance| instance.started.address.clone()).unwrap_or_default())
        })
    }

    fn release_service<'a>(&'a self, service: &'a Service) -> Eval<'a, ()> {
        Box::pin(async move {
            let slot = self.services.slot(service.digest())?;
            let mut slot = slot.lock().await;
            slot.binders = slot.binders.saturating_sub(1);
            if slot.binders == 0
                && !slot.held
                && let Some(instance) = slot.instance.take()
                && let Err(error) = self.stop_instance(instance).await
            {
                // The run's cleanup removes it at the latest.
                tracing::warn!(%error, service = %service.hostname(), "could not stop a service");
            }
            Ok(())
        })
    }

    async fn stop_instance(&self, instance: Instance) -> Result<(), EngineError> {
        let stopped = self.backend.stop_service(&instance.started.id).await;
        self.unbind_services(&instance.bound).await;
        Ok(stopped?)
    }

    /// Starts one instance of `service` and waits until it is ready. It gets its mounts
    /// and secrets as a step of its container would ([`Engine::prepare_mounts`]), held
    /// until the instance stops.
    async fn start_instance(&self, service: &Service) -> Result<Instance, EngineError> {
        let container = &service.0.container.0;
        let hostname = service.hostname();
        let (pending, mounts) = try_join(self.eval_pending(&container.rootfs), self.resolve_mounts(&container.mounts)).await?;
        let config = container.config.apply(&pending.base.base);
        let ports = ExposedPort::parse_all(&config.exposed_ports);
        for port in &ports {
            if port.port == 0 || port.port > u32::from(u16::MAX) {
                return Err(EngineError::InvalidArgument(format!(
                    "with-exposed-port: {} is not a port (1 to 65535)",
                    port.port
                )));
            }
        }
        let mounts = absolute_mounts(mounts, config.workdir.as_deref().unwrap_or("/"))?;
        let command = service_command(service, &config)?;
        let archives = self.archives(pending.copies.iter().map(PendingCopyRef::from).collect()).await?;
        let volumes = self.lock_volumes(&mounts, || {}).await?;
        let mut prepared = self.prepare_mounts(&mounts, &config, volumes).await?;
        let run = Self::with_secret_env(command.clone(), &container.config.secret_env, &mut prepared, self.backend.shares_host_files())?;
        let bound = container.config.services.clone();
        let services = self.bind_services(&bound).await?;
        let spec = ServiceSpec {
            image: pending.base.image.clone(),
            archives,
            config,
            command: run,
            mounts: prepared.backend.clone(),
            hostname: hostname.clone(),
            services,
            ports: tcp_ports(&ports),
        };
        let started = match self.backend.start_service(spec).await {
            Ok(started) => started,
            Err(error) => {
                self.unbind_services(&bound).await;
                return Err(error.into());
            }
        };
        self.services.started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let instance = Instance {
            started,
            bound,
            _mounts: prepared,
        };
        match self.wait_ready(service, &instance.started, &ports, &command).await {
            Ok(()) => Ok(instance),
            Err(error) => {
                if let Err(stop_error) = self.stop_instance(instance).await {
                    tracing::warn!(error = %stop_error, service = %hostname, "could not stop a service that failed to start");
                }
                Err(error)
            }
        }
    }

    /// Waits until every TCP port of `ports` accepts a connection from this machine
    /// (however the backend reaches the engine), the service ends, or the ready timeout
    /// passes; the last two fail with the tail of its log. UDP ports are not waited for:
    /// nothing answers a probe there (Dagger does the same), so a service exposing only
    /// UDP is ready once its command runs.
    async fn wait_ready(&self, service: &Service, started: &StartedService, ports: &[ExposedPort], command: &[String]) -> Result<(), EngineError> {
        let timeout = ready_timeout();
        let deadline = Instant::now() + timeout;
        let ports = tcp_ports(ports);
        let failed = |reason: String, log: String| {
            let mut reason = reason;
            if log.trim().is_empty() {
                reason.push_str("\n(the service wrote nothing to its log)");
            } else {
                reason.push_str(&format!("\nlast lines of its log:\n{}", log.trim_end()));
            }
            EngineError::Backend(BackendError::Failed {
                operation: format!("starting service {} ({})", service.hostname(), display_command(command)),
                reason,
            })
        };
        let mut pause = Duration::from_millis(5);
        loop {
            if let Some(exit_code) = self.backend.service_exit_code(&started.id).await? {
                let log = self.backend.service_log_tail(&started.id, LOG_TAIL_LINES).await.unwrap_or_default();
                return Err(failed(
                    format!("its command ended with exit code {exit_code} before the service was ready"),
                    log,
                ));
            }
            let mut waiting = Vec::new();
            for port in &ports {
                if !self.backend.service_port_ready(started, *port).await {
                    waiting.push(*port);
                }
            }
            if waiting.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let log = self.backend.service_log_tail(&started.id, LOG_TAIL_LINES).await.unwrap_or_default();
                let ports = waiting.iter().map(|port| format!("{port}/tcp")).collect::<Vec<_>>().join(", ");
                return Err(failed(
                    format!(
                        "its port {ports} did not accept connections within {:.0} s (set TANTO_SERVICE_TIMEOUT, in seconds, for services that start slowly)",
                        timeout.as_secs_f64()
                    ),
                    log,
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }
}

/// The TCP ports `service` exposes (the ones waited for and forwarded).
fn tcp_ports(ports: &[ExposedPort]) -> Vec<u16> {
    ports
        .iter()
        .filter(|port| port.protocol == NetworkProtocol::Tcp)
        .filter_map(|port| u16::try_from(port.port).ok())
        .collect()
}

/// The command a service runs: its arguments (after the entrypoint when asked), or with
/// none, the container's default command (entrypoint and default arguments).
fn service_command(service: &Service, config: &crate::backend::ImageConfig) -> Result<Vec<String>, EngineError> {
    let node = &service.0;
    let mut command = Vec::new();
    if node.args.is_empty() {
        command.extend(config.entrypoint.clone().unwrap_or_default());
        command.extend(config.cmd.clone().unwrap_or_default());
    } else {
        if node.use_entrypoint {
            command.extend(config.entrypoint.clone().unwrap_or_default());
        }
        command.extend(node.args.iter().cloned());
    }
    if command.is_empty() {
        return Err(EngineError::InvalidArgument(format!(
            "as-service: service {} has no command: give it arguments, or use an image with a default command",
            service.hostname()
        )));
    }
    Ok(command)
}
