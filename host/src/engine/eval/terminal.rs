//! The terminal operations: the ones that evaluate the graph and return a value
//! (`stdout`, `sync`, `image`, `entries`, `contents`, ...).

use std::sync::Arc;

use futures_util::future::{try_join, try_join_all};

use super::record::Lookup;
use super::{ExecResult, blocking, local_error};
use crate::backend::{self, Stream};
use crate::engine::cache::Body;
use crate::engine::digest::{Digest, Hasher};
use crate::engine::objects::{Container, Directory, ExecNode, File, MountSource};
use crate::engine::tree::Tree;
use crate::engine::{Engine, EngineError};

impl Engine {
    fn last_exec(container: &Container) -> Result<&Arc<ExecNode>, EngineError> {
        container
            .0
            .last_exec
            .as_ref()
            .ok_or_else(|| EngineError::InvalidArgument("no command has run in this container yet: call with-exec first".into()))
    }

    /// The standard output of the container's last command.
    pub async fn stdout(&self, container: &Container) -> Result<String, EngineError> {
        self.read_output(Self::last_exec(container)?, Stream::Stdout).await
    }

    /// The standard error of the container's last command.
    pub async fn stderr(&self, container: &Container) -> Result<String, EngineError> {
        self.read_output(Self::last_exec(container)?, Stream::Stderr).await
    }

    /// An exec step's recorded output as text, read from the cache into the one buffer
    /// that becomes the string (no second copy unless it is not valid UTF-8); nothing
    /// else keeps it. A body that no longer matches its sha256 (or is gone) makes the
    /// record a miss: the step runs again, once, and its record is rewritten.
    async fn read_output(&self, exec: &Arc<ExecNode>, stream: Stream) -> Result<String, EngineError> {
        let pick = |result: ExecResult| match stream {
            Stream::Stdout => result.stdout,
            Stream::Stderr => result.stderr,
        };
        let result = self.eval_exec(exec).await?;
        let key = result.snapshot.key;
        let bytes = match self.read_body(pick(result)).await? {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(%error, "a recorded output is damaged; running its step again");
                self.store.remove_step(&key);
                self.memo.execs.0.forget(&exec.digest);
                let result = self.eval_exec(exec).await?;
                self.read_body(pick(result))
                    .await?
                    .map_err(|error| EngineError::Local(format!("cannot read a step's recorded output: {error}")))?
            }
        };
        Ok(String::from_utf8(bytes).unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()))
    }

    /// The bytes of `body`; the inner error is a damaged or missing body.
    async fn read_body(&self, body: Body) -> Result<std::io::Result<Vec<u8>>, EngineError> {
        let store = self.store.clone();
        blocking(move || Ok(store.read_body(&body))).await
    }

    /// The exit code of the container's last command.
    pub async fn exit_code(&self, container: &Container) -> Result<i64, EngineError> {
        Ok(self.eval_exec(Self::last_exec(container)?).await?.exit_code)
    }

    /// Evaluates the container: every pending command runs and its root filesystem is
    /// committed.
    pub async fn sync(&self, container: &Container) -> Result<(), EngineError> {
        let mounts = try_join_all(container.0.mounts.iter().map(|mount| async move {
            match &mount.source {
                MountSource::Directory(directory) => self.eval_tree(directory).await.map(|_| ()),
                MountSource::Cache { .. } | MountSource::Temp | MountSource::Secret { .. } => Ok(()),
            }
        }));
        try_join(self.eval_fs(&container.0.rootfs), mounts).await?;
        Ok(())
    }

    /// Evaluates several containers concurrently.
    pub async fn sync_all(&self, containers: &[Container]) -> Result<(), EngineError> {
        try_join_all(containers.iter().map(|container| self.sync(container))).await?;
        Ok(())
    }

    /// An image of the container with exactly its configuration (entrypoint, default
    /// arguments, environment, working directory, user, labels, exposed ports), for the
    /// user to run.
    pub async fn image(&self, container: &Container) -> Result<String, EngineError> {
        self.memo
            .images
            .0
            .run(container.digest(), || async {
                let snapshot = self.eval_fs(&container.0.rootfs).await?;
                let mut config = container.0.config.apply(&snapshot.base);
                // An image handed to a user never carries tanto's own labels, even when its
                // base was a tanto snapshot; labels the user set are theirs to keep.
                config.labels.retain(|name, _| !backend::INTERNAL_LABELS.contains(&name.as_str()));
                // "user-image": images made before they carried only the user's labels
                // are not reused.
                let mut hasher = Hasher::new("user-image");
                hasher
                    .digest(&snapshot.key)
                    .strs(&config.env)
                    .opt_str(config.workdir.as_deref())
                    .opt_str(config.user.as_deref());
                hasher
                    .strs(config.entrypoint.as_deref().unwrap_or_default())
                    .strs(config.cmd.as_deref().unwrap_or_default());
                for (name, value) in &config.labels {
                    hasher.str(name).str(value);
                }
                // Always, so that no image made before exposed ports were written is
                // taken for one that has them.
                hasher.str("exposed-ports").strs(&config.exposed_ports);
                let key = hasher.finish();
                self.inherit_privacy(&key, &snapshot.key, false);
                let _lock = match self.cached_or_lock(&key).await? {
                    Lookup::Cached(step) => return Ok(step.image),
                    Lookup::Missing(lock) => lock,
                };
                let image = self.backend.image_with_config(&snapshot.image, &config).await?;
                self.record_snapshot(&key, &image).await;
                Ok(image)
            })
            .await
    }

    /// Names of the entries at `path` in the directory.
    pub async fn entries(&self, directory: &Directory, path: &str) -> Result<Vec<String>, EngineError> {
        Ok(self.eval_tree(directory).await?.entries(path)?)
    }

    /// The paths in the directory that match `pattern`, sorted.
    pub async fn glob(&self, directory: &Directory, pattern: &str) -> Result<Vec<String>, EngineError> {
        Ok(self.eval_tree(directory).await?.glob(pattern)?)
    }

    /// The content digest of the directory.
    pub async fn directory_digest(&self, directory: &Directory) -> Result<Digest, EngineError> {
        Ok(self.eval_tree(directory).await?.digest())
    }

    /// The evaluated tree of a directory.
    pub async fn tree(&self, directory: &Directory) -> Result<Arc<Tree>, EngineError> {
        self.eval_tree(directory).await
    }

    /// The file's bytes.
    pub async fn contents(&self, file: &File) -> Result<Vec<u8>, EngineError> {
        let entry = self.eval_file(file).await?;
        blocking(move || entry.blob.read().map_err(local_error("cannot read the file"))).await
    }

    pub async fn size(&self, file: &File) -> Result<u64, EngineError> {
        Ok(self.eval_file(file).await?.size)
    }

    /// `sha256` of the file's contents.
    pub async fn file_digest(&self, file: &File) -> Result<Digest, EngineError> {
        Ok(self.eval_file(file).await?.hash)
    }
}
