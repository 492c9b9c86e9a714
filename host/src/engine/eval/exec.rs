//! Exec steps: the content key of a step, and running it once (or answering it from the
//! cache), its output streamed to the cache's files.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::{try_join, try_join_all};

use super::record::Lookup;
use super::{Eval, ExecResult, Snapshot, local_error, normalize_absolute};
use crate::backend::{ImageConfig, OutputSink, Stream};
use crate::engine::cache::StepWriter;
use crate::engine::digest::Hasher;
use crate::engine::objects::{ExecNode, Expect, Mount, MountSource, Secret, Sharing, join_absolute};
use crate::engine::progress::{Event, StepOutcome};
use crate::engine::tree::Tree;
use crate::engine::{Engine, EngineError, ExecFailure, display_command, tail};
use crate::secrets::StreamScrubber;

/// Streams a running step's output to its files in the cache and to the progress sink;
/// only the writer's bounded tails stay in memory. Every byte passes the secrets
/// scrubber first, so neither the cache nor the screen ever holds a secret's value.
pub(super) struct StepSink<'a> {
    engine: &'a Engine,
    id: u64,
    writer: std::sync::Mutex<StepWriter>,
    /// One per stream: stdout, stderr.
    scrubbers: std::sync::Mutex<[StreamScrubber; 2]>,
    /// The cache volumes' locks, let go as the command exits (see [`OutputSink::exited`]).
    pub(super) held_while_running: std::sync::Mutex<Vec<std::fs::File>>,
}

impl StepSink<'_> {
    fn emit(&self, stream: Stream, bytes: &[u8]) {
        if let Ok(mut writer) = self.writer.lock() {
            writer.write(stream, bytes);
        }
        self.engine.reporter.event(Event::StepOutput { id: self.id, stream, bytes });
    }

    /// The streams ended: what the scrubbers held back goes out.
    fn finish(&self) {
        if let Ok(mut scrubbers) = self.scrubbers.lock() {
            for (index, stream) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
                scrubbers[index].finish(&mut |bytes| self.emit(stream, bytes));
            }
        }
    }
}

impl OutputSink for StepSink<'_> {
    fn output(&self, stream: Stream, bytes: &[u8]) {
        let index = match stream {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        };
        if let Ok(mut scrubbers) = self.scrubbers.lock() {
            scrubbers[index].push(bytes, &mut |scrubbed| self.emit(stream, scrubbed));
        }
    }

    fn exited(&self) {
        if let Ok(mut locks) = self.held_while_running.lock() {
            locks.clear();
        }
    }
}

impl Engine {
    pub(crate) fn eval_exec<'a>(&'a self, exec: &'a Arc<ExecNode>) -> Eval<'a, ExecResult> {
        Box::pin(self.memo.execs.0.run(exec.digest, move || self.run_exec(exec)))
    }

    async fn run_exec(&self, exec: &Arc<ExecNode>) -> Result<ExecResult, EngineError> {
        let mount_sources = self.resolve_mounts(&exec.mounts);
        let (pending, mount_sources) = try_join(self.eval_pending(&exec.rootfs), mount_sources).await?;
        let config = exec.config.apply(&pending.base.base);
        let workdir = config.workdir.clone().unwrap_or_else(|| "/".into());
        let command = exec_command(&exec.args, &config, exec.options.use_entrypoint)?;
        let mounts = absolute_mounts(mount_sources, &workdir)?;

        let mut hasher = Hasher::new("exec-key");
        hasher
            .digest(&pending.key)
            .strs(&command)
            .strs(&config.env)
            .str(&workdir)
            .opt_str(config.user.as_deref());
        let mut uses_secret = self.hash_mounts(&mut hasher, &mounts, &exec.config.secret_env)?;
        if !exec.config.services.is_empty() {
            super::volumes::refuse_locked_by_bound_services(&exec.mounts, &exec.config.services)?;
            // A bound service is an input like any other: the step runs again when what
            // the service runs changes. One that holds a secret makes the step's output
            // as private as a secret of its own would.
            hasher.str("services").u64(exec.config.services.len() as u64);
            for (alias, service) in &exec.config.services {
                let service_key = self.service_key(service).await?;
                uses_secret |= self.ledger.is_private(&service_key);
                hasher.str(alias).digest(&service_key);
            }
        }
        hasher.str(match exec.options.expect {
            Expect::Success => "success",
            Expect::Failure => "failure",
            Expect::Any => "any",
        });
        hasher.opt_str(exec.options.stdin.as_deref());
        let key = hasher.finish();
        self.inherit_privacy(&key, &pending.base.key, uses_secret);

        let description = display_command(&command);
        let id = self.step_id();
        let base = pending.base.base.clone();
        // Held until the step is recorded.
        let _lock = match self.cached_or_lock(&key).await? {
            Lookup::Cached(step) => {
                self.finish_step(id, &description, StepOutcome::Cached, step.stdout.path.parent(), &key, Some(step.exit_code));
                return Ok(ExecResult {
                    snapshot: Snapshot { image: step.image, key, base },
                    exit_code: step.exit_code,
                    stdout: step.stdout,
                    stderr: step.stderr,
                });
            }
            Lookup::Missing(lock) => lock,
        };

        // The volumes' locks before a step slot: a step waiting for a `locked` volume
        // holds no slot, so the slots go to steps that can run. The locks go as the
        // command exits (before its snapshot is committed), the slot when the step ends.
        let queued = std::sync::atomic::AtomicBool::new(false);
        let queue = || {
            if !queued.swap(true, std::sync::atomic::Ordering::Relaxed) {
                self.reporter.event(Event::StepQueued { id, description: &description });
            }
        };
        let volumes = self.lock_volumes(&mounts, queue).await.inspect_err(|_| {
            if queued.load(std::sync::atomic::Ordering::Relaxed) {
                self.finish_step(id, &description, StepOutcome::Failed(Duration::ZERO), None, &key, None);
            }
        })?;
        let _permit = match self.steps.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                queue();
                self.steps.acquire().await.map_err(|_| {
                    // Closed while the step waited: its queued line is closed too.
                    self.finish_step(id, &description, StepOutcome::Failed(Duration::ZERO), None, &key, None);
                    EngineError::Cancelled("the engine is shutting down".into())
                })?
            }
        };
        let writer = self
            .store
            .begin_step()
            .map_err(local_error("cannot create a work folder for the step's output"))?;
        let sink = StepSink {
            engine: self,
            id,
            writer: std::sync::Mutex::new(writer),
            scrubbers: std::sync::Mutex::new(Default::default()),
            held_while_running: std::sync::Mutex::new(Vec::new()),
        };
        self.reporter.event(Event::StepStarted { id, description: &description });
        let started = Instant::now();
        let shell_config = self.debugs_failures().then(|| config.clone());
        let result = self
            .run_exec_on_backend(exec, &pending, config, command.clone(), &mounts, volumes, key, &sink)
            .await;
        sink.finish();
        let elapsed = started.elapsed();
        let failed = |log: Option<&Path>, exit_code: Option<i64>| self.finish_step(id, &description, StepOutcome::Failed(elapsed), log, &key, exit_code);
        let writer = sink
            .writer
            .into_inner()
            .map_err(|_| EngineError::Local("the step's output writer is poisoned".into()));
        let ((outcome, prepared), writer) = match (result, writer) {
            (Ok(outcome), Ok(writer)) => (outcome, writer),
            (Err(error), _) | (_, Err(error)) => {
                failed(None, None);
                return Err(error);
            }
        };
        if !exec.options.expect.allows(outcome.exit_code) {
            let failure = ExecFailure {
                command,
                exit_code: outcome.exit_code,
                stdout_tail: tail(writer.tail(Stream::Stdout), 20, 4096),
                stderr_tail: tail(writer.tail(Stream::Stderr), 20, 4096),
            };
            // No snapshot, so no record: the whole output is kept as a log to read.
            let log = writer
                .finish()
                .and_then(|outputs| self.store.keep_failed_log(&key, outputs))
                .inspect_err(|error| tracing::debug!(%error, "cannot keep the log of a failed step"))
                .ok();
            failed(log.as_deref(), Some(outcome.exit_code));
            let failure = EngineError::ExecFailed(Arc::new(failure));
            if let (Some(image), Some(config)) = (outcome.failed_image, shell_config) {
                self.debug_failed_step(image, config, &exec.config.secret_env, &exec.config.services, prepared, &failure)
                    .await;
            }
            return Err(failure);
        }
        drop(prepared);
        let recorded = async {
            let outputs = writer.finish().map_err(local_error("cannot write the step's output to the cache"))?;
            let image = outcome.image.ok_or_else(|| EngineError::Local("the backend committed no snapshot".into()))?;
            self.record(&key, &image, outcome.exit_code, outputs).await
        }
        .await;
        let step = match recorded {
            Ok(step) => step,
            Err(error) => {
                failed(None, None);
                return Err(error);
            }
        };
        self.finish_step(
            id,
            &description,
            StepOutcome::Done(elapsed),
            step.stdout.path.parent(),
            &key,
            Some(step.exit_code),
        );
        Ok(ExecResult {
            snapshot: Snapshot { image: step.image, key, base },
            exit_code: step.exit_code,
            stdout: step.stdout,
            stderr: step.stderr,
        })
    }
}

impl Engine {
    /// Hashes what a command's `mounts` and `secret_env` bring in, as a step's key (and a
    /// service's) takes them; returns whether any of them is a secret.
    pub(super) fn hash_mounts(
        &self,
        hasher: &mut Hasher,
        mounts: &[(String, ResolvedMount)],
        secret_env: &BTreeMap<String, Secret>,
    ) -> Result<bool, EngineError> {
        hasher.u64(mounts.len() as u64);
        for (path, source) in mounts {
            hasher.str(path);
            match source {
                ResolvedMount::Directory(tree) => hasher.str("directory").digest(&tree.digest()),
                // The key, never the contents: a cache volume is an accelerator, not an input.
                ResolvedMount::Cache { key, sharing } => hasher.str("cache").str(key).str(sharing.name()),
                ResolvedMount::Temp => hasher.str("temp"),
                // A keyed hash of the value: a new value runs the step again, and the
                // key tells nothing about the value without the cache's secret key.
                ResolvedMount::Secret { secret, owner, mode } => hasher.str("secret").str(&self.secret_hash(secret)?).opt_str(owner.as_deref()).opt_u32(*mode),
            };
        }
        if !secret_env.is_empty() {
            hasher.str("secret-env").u64(secret_env.len() as u64);
            for (name, secret) in secret_env {
                hasher.str(name).str(&self.secret_hash(secret)?);
            }
        }
        Ok(!secret_env.is_empty() || mounts.iter().any(|(_, source)| matches!(source, ResolvedMount::Secret { .. })))
    }

    /// The sources of `mounts` evaluated (directories to trees), their paths as given.
    pub(super) async fn resolve_mounts(&self, mounts: &[Mount]) -> Result<Vec<(String, ResolvedMount)>, EngineError> {
        try_join_all(mounts.iter().map(|mount| async move {
            let resolved = match &mount.source {
                MountSource::Directory(directory) => ResolvedMount::Directory(self.eval_tree(directory).await?),
                MountSource::Cache { volume, sharing } => ResolvedMount::Cache {
                    key: volume.key().to_string(),
                    sharing: *sharing,
                },
                MountSource::Temp => ResolvedMount::Temp,
                MountSource::Secret { secret, owner, mode } => ResolvedMount::Secret {
                    secret: secret.clone(),
                    owner: owner.clone(),
                    mode: *mode,
                },
            };
            Ok::<_, EngineError>((mount.path.clone(), resolved))
        }))
        .await
    }
}

/// Mount paths made absolute against the working directory `workdir`.
pub(super) fn absolute_mounts(mounts: Vec<(String, ResolvedMount)>, workdir: &str) -> Result<Vec<(String, ResolvedMount)>, EngineError> {
    mounts
        .into_iter()
        .map(|(path, source)| Ok((normalize_absolute(&join_absolute(workdir, &path))?, source)))
        .collect()
}

/// A mount with its source evaluated.
pub(super) enum ResolvedMount {
    Directory(Arc<Tree>),
    Cache { key: String, sharing: Sharing },
    Temp,
    Secret { secret: Secret, owner: Option<String>, mode: Option<u32> },
}

impl Engine {
    /// The keyed hash that stands for `secret`'s value in step keys (see
    /// [`CacheStore::secret_key`](crate::engine::CacheStore::secret_key)).
    pub(super) fn secret_hash(&self, secret: &Secret) -> Result<String, EngineError> {
        let key = match self.secret_key.get() {
            Some(key) => *key,
            None => {
                let key = self.store.secret_key().map_err(local_error("cannot read or create the cache's secret key"))?;
                *self.secret_key.get_or_init(|| key)
            }
        };
        Ok(crate::secrets::keyed_hash(&key, secret.value().as_bytes()))
    }
}

/// The program and arguments an exec step runs: `args`, prefixed by the entrypoint when
/// asked; with no `args`, the default arguments.
fn exec_command(args: &[String], config: &ImageConfig, use_entrypoint: bool) -> Result<Vec<String>, EngineError> {
    let mut command = Vec::new();
    if use_entrypoint {
        command.extend(config.entrypoint.clone().unwrap_or_default());
    }
    if args.is_empty() {
        command.extend(config.cmd.clone().unwrap_or_default());
    } else {
        command.extend(args.iter().cloned());
    }
    if command.is_empty() {
        return Err(EngineError::InvalidArgument(
            "with-exec needs a command: the arguments are empty and the image has no default arguments".into(),
        ));
    }
    Ok(command)
}
