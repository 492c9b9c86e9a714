//! Interactive shells: in a container's state (`container.terminal`), and in the state a
//! failed step left (`tanto call --interactive`). Both run on the backend as a container
//! with a pseudo-terminal wired to the user's, with the command's configuration (env,
//! working directory, user), mounts (directories, cache volumes, secrets) and bound
//! services.

use std::collections::BTreeMap;

use futures_util::future::try_join;

use super::exec::absolute_mounts;
use super::step_spec::{PreparedMounts, started_with_secret_env};
use crate::backend::{ImageConfig, TerminalSpec};
use crate::engine::console::{FailureShell, no_terminal};
use crate::engine::objects::{Container, Secret, Service};
use crate::engine::{Engine, EngineError};

/// The shell opened when no command is given.
pub const DEFAULT_SHELL: &str = "/bin/sh";

impl Engine {
    /// Opens `command` (`/bin/sh` when empty) interactively in `container`'s state: its
    /// filesystem after every pending command, its configuration and its mounts. Waits
    /// for it to exit and returns its exit code; nothing it does changes `container`.
    pub async fn terminal(&self, container: &Container, command: Vec<String>) -> Result<i64, EngineError> {
        if self.console.get().is_none() {
            return Err(no_terminal("container.terminal"));
        }
        let command = if command.is_empty() { vec![DEFAULT_SHELL.to_string()] } else { command };
        let node = &container.0;
        let (snapshot, mounts) = try_join(self.eval_fs(&node.rootfs), self.resolve_mounts(&node.mounts)).await?;
        let config = node.config.apply(&snapshot.base);
        let mounts = absolute_mounts(mounts, config.workdir.as_deref().unwrap_or("/"))?;
        let volumes = self.lock_volumes(&mounts, || {}).await?;
        let mut prepared = self.prepare_mounts(&mounts, &config, volumes).await?;
        let command = Self::with_secret_env(command, &node.config.secret_env, &mut prepared, self.backend.shares_host_files())?;
        let spec = TerminalSpec {
            image: snapshot.image,
            config,
            command,
            mounts: prepared.backend.clone(),
            services: None,
        };
        let exit_code = self
            .shell_binding(spec, &node.config.services, "a shell in the container: leave it with `exit`")
            .await;
        drop(prepared);
        exit_code
    }

    /// Runs one shell on the user's terminal with `services` bound under their aliases,
    /// as a step binding them would have them: started (or joined) before the shell, let
    /// go when it ends.
    async fn shell_binding(&self, spec: TerminalSpec, services: &BTreeMap<String, Service>, banner: &str) -> Result<i64, EngineError> {
        if services.is_empty() {
            return self.shell(spec, banner).await;
        }
        let hosts = self.bind_services(services).await?;
        let exit_code = self.shell(TerminalSpec { services: Some(hosts), ..spec }, banner).await;
        self.unbind_services(services).await;
        exit_code
    }

    /// Runs one shell on the user's terminal. Shells take turns: two failing steps (or
    /// two `terminal` calls of parallel work) never share the keyboard.
    async fn shell(&self, spec: TerminalSpec, banner: &str) -> Result<i64, EngineError> {
        let Some((console, _)) = self.console.get() else {
            return Err(no_terminal("a shell"));
        };
        let _turn = self.shell_turn.lock().await;
        let lease = console
            .lease(banner)
            .map_err(|reason| EngineError::Local(format!("cannot take the terminal for a shell: {reason}")))?;
        let exit_code = self.backend.terminal(spec, lease.io).await;
        drop(lease.guard);
        Ok(exit_code?)
    }

    /// Whether failed steps are committed and debugged in a shell (`--interactive`).
    pub(super) fn debugs_failures(&self) -> bool {
        self.console.get().is_some_and(|(_, failure_shell)| *failure_shell == FailureShell::Open) && self.debugged.get().is_none()
    }

    /// Opens a shell in the state a failed step left: `image` (its container committed
    /// when the command ended), with the step's configuration and its mounts, still held
    /// in `prepared`. Only the first failure of a run gets one; the run then ends with
    /// it ([`Engine::debugged_failure`]). The image is removed when the shell ends.
    pub(super) async fn debug_failed_step(
        &self,
        image: String,
        config: ImageConfig,
        secret_env: &BTreeMap<String, Secret>,
        services: &BTreeMap<String, Service>,
        prepared: PreparedMounts,
        failure: &EngineError,
    ) {
        if self.debugged.set(failure.clone()).is_ok() {
            let command = vec![DEFAULT_SHELL.to_string()];
            let command = if secret_env.is_empty() { command } else { started_with_secret_env(command) };
            let spec = TerminalSpec {
                image: image.clone(),
                config,
                command,
                mounts: prepared.backend.clone(),
                services: None,
            };
            let banner = format!("{failure}\n\na shell in the failed step's state; leaving it with `exit` ends the run with this failure");
            if let Err(error) = self.shell_binding(spec, services, &banner).await {
                tracing::warn!(%error, "cannot open a shell in the failed step's state");
            }
        }
        drop(prepared);
        if let Err(error) = self.backend.remove_image(&image).await {
            tracing::debug!(%error, image, "cannot remove a failed step's debug image; cleanup removes it");
        }
    }
}
