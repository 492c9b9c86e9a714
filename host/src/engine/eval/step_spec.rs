//! What an exec step hands the backend: the archives of its pending copies, scratch
//! folders for mounted directories, cache volumes (with their locks), and the run spec.

use std::collections::BTreeMap;

use super::copies::{Pending, PendingCopyRef};
use super::exec::{ResolvedMount, StepSink};
use super::{blocking, local_error};
use crate::backend::{self, ImageConfig, RunSpec};
use crate::engine::digest::Digest;
use crate::engine::objects::{ExecNode, Expect};
use crate::engine::{Engine, EngineError};

impl Engine {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn run_exec_on_backend(
        &self,
        exec: &ExecNode,
        pending: &Pending,
        config: ImageConfig,
        command: Vec<String>,
        mounts: &[(String, ResolvedMount)],
        key: Digest,
        sink: &StepSink<'_>,
    ) -> Result<backend::RunOutcome, EngineError> {
        let archives = Self::archives(pending.copies.iter().map(PendingCopyRef::from).collect()).await?;
        // Mounted directories are written to a scratch folder per step, so whatever the
        // command writes there is thrown away with it.
        let mut mount_dirs = Vec::new();
        let mut backend_mounts = Vec::new();
        // Held until the step ends: they keep `locked` volumes exclusive and `private`
        // instances to this step.
        let mut volume_locks = Vec::new();
        for (path, source) in mounts {
            match source {
                ResolvedMount::Directory(tree) => {
                    let work = self.store.temp_dir().map_err(local_error("cannot create a mount folder"))?;
                    let tree = tree.clone();
                    let root = work.path().to_path_buf();
                    blocking(move || tree.write_to(&root).map_err(EngineError::from)).await?;
                    backend_mounts.push(backend::Mount::Bind {
                        source: work.path().to_path_buf(),
                        target: path.clone(),
                        read_only: false,
                    });
                    mount_dirs.push(work);
                }
                ResolvedMount::Cache { key, sharing } => {
                    let (name, lock) = self.acquire_volume(key, *sharing).await?;
                    let labels = BTreeMap::from([(backend::CACHE_VOLUME_LABEL.to_string(), key.clone())]);
                    self.backend.ensure_volume(&name, &labels).await?;
                    self.store.record_volume(&name, key).map_err(local_error("cannot record a cache volume"))?;
                    backend_mounts.push(backend::Mount::Volume { name, target: path.clone() });
                    volume_locks.extend(lock);
                }
                ResolvedMount::Temp => backend_mounts.push(backend::Mount::Tmpfs { target: path.clone() }),
            }
        }
        let expect = exec.options.expect;
        let spec = RunSpec {
            image: pending.base.image.clone(),
            archives,
            config,
            command,
            stdin: exec.options.stdin.clone().map(String::into_bytes),
            mounts: backend_mounts,
            snapshot_labels: self.snapshot_labels(&key),
            commit: match expect {
                Expect::Success => backend::Commit::WhenExit(|code| code == 0),
                Expect::Failure => backend::Commit::WhenExit(|code| code != 0),
                Expect::Any => backend::Commit::Always,
            },
        };
        let outcome = self.backend.run(spec, sink).await;
        for work in mount_dirs {
            crate::util::remove_tree(&work.keep());
        }
        Ok(outcome?)
    }
}
