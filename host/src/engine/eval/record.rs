//! Steps and the persistent cache: looking a step up (or taking its key's lock to make
//! it), and recording what a step made.

use std::sync::atomic::Ordering;

use super::{blocking, local_error};
use crate::backend::CommitSpec;
use crate::engine::cache::CachedStep;
use crate::engine::digest::Digest;
use crate::engine::{Engine, EngineError};

impl Engine {
    /// Commits `spec` (no command runs) and records the image as the snapshot of `key`.
    pub(super) async fn commit_snapshot(&self, key: &Digest, spec: CommitSpec) -> Result<String, EngineError> {
        let image = self.backend.commit(spec).await?;
        self.record_snapshot(key, &image).await;
        Ok(image)
    }

    /// Records `image` as the snapshot of `key`, a step with no command and no output. A
    /// failure only costs the next run a re-commit.
    pub(super) async fn record_snapshot(&self, key: &Digest, image: &str) {
        let store = self.store.clone();
        let (recorded_key, recorded_image) = (*key, image.to_string());
        if let Err(error) = blocking(move || {
            store
                .put_snapshot(&recorded_key, &recorded_image)
                .map_err(local_error("cannot record a snapshot"))
        })
        .await
        {
            tracing::warn!(%error, "could not record a step in the cache");
        } else {
            self.recorded(key);
        }
    }

    /// The recorded step `key` whose snapshot still exists, or else the key's lock: this
    /// process then runs the step and publishes it (snapshot, then record) before the
    /// lock goes, while other processes needing the same key wait for the lock and read
    /// the record. Waiting happens before a `-j` slot is taken, so it holds none.
    pub(super) async fn cached_or_lock(&self, key: &Digest) -> Result<Lookup, EngineError> {
        self.ledger.use_key(key);
        if let Some(step) = self.cached_step(key).await? {
            return Ok(Lookup::Cached(step));
        }
        // Pinned before the lock, so from here to the record a prune leaves the snapshot
        // this process is about to commit alone.
        self.pin(key);
        let lock = crate::engine::locks::KeyLock::acquire(self.store.root(), key)
            .await
            .map_err(local_error("cannot lock a cache entry"))?;
        if let Some(step) = self.cached_step(key).await? {
            return Ok(Lookup::Cached(step));
        }
        match self.pull_step(key).await {
            Some(step) => Ok(Lookup::Cached(step)),
            None => Ok(Lookup::Missing(lock)),
        }
    }

    /// Step `key` from the `--cache-from` registry, verified and recorded locally; `None`
    /// (with a warning when the entry was there but unusable) and the step runs.
    async fn pull_step(&self, key: &Digest) -> Option<CachedStep> {
        if self.cache_mode == crate::engine::CacheMode::Refresh || self.ledger.is_private(key) {
            return None;
        }
        let repository = self.registry_cache().from?;
        match crate::engine::remote::pull(self.backend.as_ref(), &self.store, &repository, key).await {
            Ok(step) => {
                tracing::debug!(key = %key, repository, "step pulled from the registry cache");
                self.ledger.mark_pulled(key);
                self.recorded(key);
                Some(step)
            }
            Err(crate::engine::remote::PullError::Absent) => None,
            Err(error) => {
                tracing::warn!("ignoring the registry cache's entry for step {} in {repository}: {error}", key.short());
                None
            }
        }
    }

    /// Marks `key` as depending on a secret when `uses_secret` or when the snapshot it
    /// builds on does: such steps never go to, nor come from, a shared cache.
    pub(super) fn inherit_privacy(&self, key: &Digest, parent: &Digest, uses_secret: bool) {
        if uses_secret || self.ledger.is_private(parent) {
            self.ledger.mark_private(key);
        }
    }

    async fn cached_step(&self, key: &Digest) -> Result<Option<CachedStep>, EngineError> {
        if self.cache_mode == crate::engine::CacheMode::Refresh {
            return Ok(None);
        }
        // Pinned before it is checked, so a concurrent prune either sees the pin or has
        // already removed the image (and the check below notices).
        self.pin(key);
        let store = self.store.clone();
        let lookup = *key;
        let Some(step) = blocking(move || Ok(store.get_step(&lookup))).await? else {
            return Ok(None);
        };
        if self.snapshot_exists(&step.image).await? {
            self.store.touch_step(key, self.run_started);
            Ok(Some(step))
        } else {
            // Removed behind tanto's back (`docker rmi`): the step runs again and its new
            // record replaces this one. A run never removes records; only prune does.
            Ok(None)
        }
    }

    /// Whether a recorded step's image is still on the backend. A long cached chain would
    /// cost one request per step; after [`SnapshotChecks::SINGLE`] of them, one listing of
    /// the cache's snapshots answers the rest. An image missing from the listing is asked
    /// about alone: it may be newer (committed by a concurrent run) or no snapshot (a
    /// pulled or built image).
    async fn snapshot_exists(&self, image: &str) -> Result<bool, EngineError> {
        let checks = &self.snapshot_checks;
        if checks.asked.fetch_add(1, Ordering::Relaxed) >= SnapshotChecks::SINGLE {
            let listed = checks
                .listed
                .get_or_try_init(|| async {
                    let snapshots = self.backend.snapshot_images(&self.cache_id).await?;
                    Ok::<_, EngineError>(snapshots.into_iter().map(|snapshot| snapshot.id).collect())
                })
                .await?;
            if listed.contains(image) {
                return Ok(true);
            }
        }
        Ok(self.backend.image_exists(image).await?)
    }

    /// Publishes a step's record: its outputs are in the cache from now on, and only there.
    pub(super) async fn record(
        &self,
        key: &Digest,
        image: &str,
        exit_code: i64,
        outputs: crate::engine::cache::StepOutputs,
    ) -> Result<CachedStep, EngineError> {
        let store = self.store.clone();
        let (recorded_key, image) = (*key, image.to_string());
        let step = blocking(move || {
            store
                .put_step(&recorded_key, &image, exit_code, outputs)
                .map_err(local_error("cannot record the step's output in the cache"))
        })
        .await?;
        self.recorded(key);
        Ok(step)
    }

    fn recorded(&self, key: &Digest) {
        self.pin(key);
        self.grew.store(true, Ordering::Relaxed);
        self.store.touch_step(key, self.run_started);
    }
}

/// The existence checks of cached steps' snapshots in one run.
#[derive(Default)]
pub(crate) struct SnapshotChecks {
    asked: std::sync::atomic::AtomicUsize,
    /// The cache's snapshot images when they were first listed.
    listed: tokio::sync::OnceCell<std::collections::HashSet<String>>,
}

impl SnapshotChecks {
    /// Checks made one image at a time before listing: a short call pays one small
    /// request per step rather than a listing of every snapshot in a large cache.
    const SINGLE: usize = 8;
}

/// What the cache holds for a key.
pub(super) enum Lookup {
    Cached(CachedStep),
    /// Nothing yet: the holder of this lock makes and records it.
    Missing(crate::engine::locks::KeyLock),
}
