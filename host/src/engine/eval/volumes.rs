//! Cache volumes and their sharing modes: which volume a step mounts, and the file lock
//! that keeps it shared, exclusive or private.

use super::{blocking, local_error};
use crate::engine::digest::Digest;
use crate::engine::objects::Sharing;
use crate::engine::{Engine, EngineError};

impl Engine {
    /// The volume a step mounts for cache `key`, and the lock that keeps it the step's
    /// own while it runs. File locks work between processes and within one (each open
    /// file is locked on its own), so the sharing modes hold for every `tanto` on the
    /// machine.
    pub(super) async fn acquire_volume(&self, key: &str, sharing: Sharing) -> Result<(String, Option<std::fs::File>), EngineError> {
        let base = format!("tanto-cache-{}", &Digest::of_bytes(key.as_bytes()).hex()[..20]);
        let locks = self.store.root().join("volumes");
        std::fs::create_dir_all(&locks).map_err(local_error("cannot create the volume lock folder"))?;
        match sharing {
            Sharing::Shared => Ok((base, None)),
            Sharing::Locked => {
                let path = locks.join(format!("{base}.lock"));
                let file = blocking(move || {
                    let file = std::fs::File::create(&path).map_err(local_error("cannot open a volume lock"))?;
                    file.lock().map_err(local_error("cannot lock a cache volume"))?;
                    Ok(file)
                })
                .await?;
                Ok((base, Some(file)))
            }
            Sharing::Private => {
                // The first instance nobody holds; instance 0 is the volume itself.
                for instance in 0..256 {
                    let name = if instance == 0 { base.clone() } else { format!("{base}-{instance}") };
                    let file = std::fs::File::create(locks.join(format!("{name}.private.lock"))).map_err(local_error("cannot open a volume lock"))?;
                    match file.try_lock() {
                        Ok(()) => return Ok((name, Some(file))),
                        Err(std::fs::TryLockError::WouldBlock) => continue,
                        Err(std::fs::TryLockError::Error(error)) => return Err(local_error("cannot lock a cache volume")(error)),
                    }
                }
                Err(EngineError::Local(format!("more than 256 concurrent private users of cache volume {key:?}")))
            }
        }
    }
}
