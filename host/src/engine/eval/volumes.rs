//! Cache volumes and their sharing modes: which volume a step mounts, and the file lock
//! that keeps it shared, exclusive or private.
//!
//! A step takes its volumes' locks before it takes one of the `-j` step slots (see
//! [`Engine::lock_volumes`]), and lets go of them when it ends: a step waiting for a
//! `locked` volume never keeps another step from running.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use super::exec::ResolvedMount;
use super::local_error;
use crate::engine::digest::Digest;
use crate::engine::objects::Sharing;
use crate::engine::{Engine, EngineError};

/// The volumes a command's cache mounts use, by cache key and sharing, with the locks
/// that keep `locked` volumes exclusive and `private` instances the command's own; the
/// locks go when this is dropped.
#[derive(Debug, Default)]
pub(super) struct VolumeLocks {
    volumes: BTreeMap<(String, &'static str), String>,
    locks: Vec<std::fs::File>,
}

impl VolumeLocks {
    /// The locks, leaving the volume names: for whoever lets go of them first.
    pub fn take_locks(&mut self) -> Vec<std::fs::File> {
        std::mem::take(&mut self.locks)
    }

    /// The volume to mount for cache `key` shared as `sharing`.
    pub fn volume(&self, key: &str, sharing: Sharing) -> Result<&str, EngineError> {
        self.volumes
            .get(&(key.to_string(), sharing.name()))
            .map(String::as_str)
            .ok_or_else(|| EngineError::Local(format!("cache volume {key:?} was not locked before its step")))
    }
}

/// The keys of the cache volumes `mounts` mount `locked`.
fn locked_keys(mounts: &[crate::engine::objects::Mount]) -> BTreeSet<String> {
    mounts
        .iter()
        .filter_map(|mount| match &mount.source {
            crate::engine::objects::MountSource::Cache {
                volume,
                sharing: Sharing::Locked,
            } => Some(volume.key().to_string()),
            _ => None,
        })
        .collect()
}

/// Refuses what would wait forever: a step and a service it binds (or two services it
/// binds, at any depth) mounting one cache volume `locked`. A service holds its volumes'
/// locks for its whole life, and it lives at least as long as the step, so the other
/// could never take the lock. `step_mounts` are the step's own mounts.
pub(super) fn refuse_locked_by_bound_services(
    step_mounts: &[crate::engine::objects::Mount],
    services: &BTreeMap<String, crate::engine::objects::Service>,
) -> Result<(), EngineError> {
    let mut holders: Vec<(String, BTreeSet<String>)> = vec![("the step".to_string(), locked_keys(step_mounts))];
    // Each service instance once (one bound under two aliases, or twice, is one instance).
    let mut seen = BTreeSet::new();
    let mut pending: Vec<(String, &crate::engine::objects::Service)> = services.iter().map(|(alias, service)| (alias.clone(), service)).collect();
    while let Some((alias, service)) = pending.pop() {
        if !seen.insert(service.0.digest) {
            continue;
        }
        let container = &service.0.container.0;
        holders.push((format!("the service bound as `{alias}`"), locked_keys(&container.mounts)));
        pending.extend(container.config.services.iter().map(|(alias, service)| (alias.clone(), service)));
    }
    for (index, (first, first_keys)) in holders.iter().enumerate() {
        for (second, second_keys) in &holders[index + 1..] {
            if let Some(key) = first_keys.intersection(second_keys).next() {
                return Err(EngineError::InvalidArgument(format!(
                    "{first} and {second} both mount the cache volume {key:?} with locked sharing: a service holds its locks while it runs, so {first} could never take this one; mount it shared or private in one of them"
                )));
            }
        }
    }
    Ok(())
}

/// The volume of cache `key` (its instance 0).
fn volume_name(key: &str) -> String {
    format!("tanto-cache-{}", &Digest::of_bytes(key.as_bytes()).hex()[..20])
}

impl Engine {
    /// The volumes of the cache mounts among `mounts`, their locks taken. `locked`
    /// volumes are locked in the order of their names, so that two steps that mount the
    /// same two volumes never each hold one and wait for the other; a volume mounted
    /// twice by one step is locked once. `waiting` is called once, before the first wait.
    ///
    /// File locks work between processes and within one (each open file is locked on its
    /// own), so the sharing modes hold for every `tanto` on the machine.
    pub(super) async fn lock_volumes(&self, mounts: &[(String, ResolvedMount)], waiting: impl FnOnce()) -> Result<VolumeLocks, EngineError> {
        let mut locks = VolumeLocks::default();
        let caches: Vec<(&str, Sharing)> = mounts
            .iter()
            .filter_map(|(_, source)| match source {
                ResolvedMount::Cache { key, sharing } => Some((key.as_str(), *sharing)),
                _ => None,
            })
            .collect();
        if caches.is_empty() {
            return Ok(locks);
        }
        let folder = self.store.root().join("volumes");
        std::fs::create_dir_all(&folder).map_err(local_error("cannot create the volume lock folder"))?;
        let mut locked: Vec<(String, &str)> = caches
            .iter()
            .filter(|(_, sharing)| *sharing == Sharing::Locked)
            .map(|(key, _)| (volume_name(key), *key))
            .collect();
        locked.sort();
        locked.dedup();
        let mut waiting = Some(waiting);
        for (name, key) in locked {
            let file = wait_for_lock(&folder.join(format!("{name}.lock")), &mut waiting).await?;
            locks.locks.push(file);
            locks.volumes.insert((key.to_string(), Sharing::Locked.name()), name);
        }
        for (key, sharing) in caches {
            if locks.volumes.contains_key(&(key.to_string(), sharing.name())) {
                continue;
            }
            let name = match sharing {
                Sharing::Locked => continue,
                Sharing::Shared => volume_name(key),
                Sharing::Private => {
                    let (name, file) = private_instance(&folder, key)?;
                    locks.locks.push(file);
                    name
                }
            };
            locks.volumes.insert((key.to_string(), sharing.name()), name);
        }
        Ok(locks)
    }
}

/// Locks `path`, calling `waiting` (once) if another holds it. Waits by polling, like
/// [`crate::engine::locks::KeyLock`]: a cancelled run must not leave a blocked thread
/// behind that the runtime would wait for at exit.
async fn wait_for_lock(path: &Path, waiting: &mut Option<impl FnOnce()>) -> Result<std::fs::File, EngineError> {
    let file = std::fs::File::create(path).map_err(local_error("cannot open a volume lock"))?;
    let mut pause = Duration::from_millis(5);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => {
                if let Some(waiting) = waiting.take() {
                    waiting();
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(std::fs::TryLockError::Error(error)) => return Err(local_error("cannot lock a cache volume")(error)),
        }
    }
}

/// The first instance of cache `key`'s volume that nobody holds, locked; instance 0 is
/// the volume itself.
fn private_instance(folder: &Path, key: &str) -> Result<(String, std::fs::File), EngineError> {
    let base = volume_name(key);
    for instance in 0..256 {
        let name = if instance == 0 { base.clone() } else { format!("{base}-{instance}") };
        let file = std::fs::File::create(folder.join(format!("{name}.private.lock"))).map_err(local_error("cannot open a volume lock"))?;
        match file.try_lock() {
            Ok(()) => return Ok((name, file)),
            Err(std::fs::TryLockError::WouldBlock) => continue,
            Err(std::fs::TryLockError::Error(error)) => return Err(local_error("cannot lock a cache volume")(error)),
        }
    }
    Err(EngineError::Local(format!("more than 256 concurrent private users of cache volume {key:?}")))
}
