//! Services: a container's command kept running in the background for the steps that
//! bind it. One instance per service digest, started by its first binder (and ready once
//! its TCP ports accept connections), stopped when its last binder lets go. Whatever is
//! still running when the run ends goes with the backend's cleanup, Ctrl-C included.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Eval;
use super::copies::PendingCopyRef;
use crate::backend::{BackendError, ServiceHosts, ServiceSpec, StartedService};
use crate::engine::digest::{Digest, Hasher};
use crate::engine::objects::{NetworkProtocol, Service};
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
    /// configuration it runs with, its ports and the keys of the services it binds. A step
    /// that binds it is cached by this key, like any input.
    pub(crate) fn service_key<'a>(&'a self, service: &'a Service) -> Eval<'a, Digest> {
        Box::pin(async move {
            let container = &service.0.container.0;
            let pending = self.eval_pending(&container.rootfs).await?;
            let config = container.config.apply(&pending.base.base);
            let command = service_command(service, &config)?;
            let mut hasher = Hasher::new("service-key");
            hasher
                .digest(&pending.key)
                .strs(&command)
                .strs(&config.env)
                .opt_str(config.workdir.as_deref())
                .opt_str(config.user.as_deref());
            hasher.u64(container.config.exposed_ports.len() as u64);
            for port in container.config.exposed_ports.keys() {
                hasher.u64(u64::from(port.port)).str(port.protocol.name());
            }
            hasher.u64(container.config.services.len() as u64);
            for (alias, bound) in &container.config.services {
                hasher.str(alias).digest(&self.service_key(bound).await?);
            }
            Ok(hasher.finish())
        })
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

    /// Starts one instance of `service` and waits until it is ready.
    async fn start_instance(&self, service: &Service) -> Result<Instance, EngineError> {
        let container = &service.0.container.0;
        let hostname = service.hostname();
        if !container.mounts.is_empty() || !container.config.secret_env.is_empty() {
            return Err(EngineError::InvalidArgument(format!(
                "as-service: service {hostname} has mounts or secret variables, which services do not take yet; copy files in with with-directory or with-file instead"
            )));
        }
        for port in container.config.exposed_ports.keys() {
            if port.port == 0 || port.port > u32::from(u16::MAX) {
                return Err(EngineError::InvalidArgument(format!(
                    "with-exposed-port: {} is not a port (1 to 65535)",
                    port.port
                )));
            }
        }
        let pending = self.eval_pending(&container.rootfs).await?;
        let config = container.config.apply(&pending.base.base);
        let command = service_command(service, &config)?;
        let archives = self.archives(pending.copies.iter().map(PendingCopyRef::from).collect()).await?;
        let bound = container.config.services.clone();
        let services = self.bind_services(&bound).await?;
        let spec = ServiceSpec {
            image: pending.base.image.clone(),
            archives,
            config,
            command: command.clone(),
            hostname: hostname.clone(),
            services,
            ports: tcp_ports(service),
        };
        let started = match self.backend.start_service(spec).await {
            Ok(started) => started,
            Err(error) => {
                self.unbind_services(&bound).await;
                return Err(error.into());
            }
        };
        self.services.started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let instance = Instance { started, bound };
        match self.wait_ready(service, &instance.started, &command).await {
            Ok(()) => Ok(instance),
            Err(error) => {
                if let Err(stop_error) = self.stop_instance(instance).await {
                    tracing::warn!(error = %stop_error, service = %hostname, "could not stop a service that failed to start");
                }
                Err(error)
            }
        }
    }

    /// Waits until every TCP port the service exposes accepts a connection from this
    /// machine (however the backend reaches the engine), the service ends, or the ready
    /// timeout passes; the last two fail with the tail of its log.
    async fn wait_ready(&self, service: &Service, started: &StartedService, command: &[String]) -> Result<(), EngineError> {
        let timeout = ready_timeout();
        let deadline = Instant::now() + timeout;
        let ports = tcp_ports(service);
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
fn tcp_ports(service: &Service) -> Vec<u16> {
    service
        .ports()
        .into_iter()
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
