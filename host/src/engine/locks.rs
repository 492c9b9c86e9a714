//! File locks that let every `tanto` process on the machine share one cache root, and
//! find what a process that ended without cleaning up (kill -9, OOM killer, a crash)
//! left behind.
//!
//! ```text
//! <root>/owners/<owner>.lock    held exclusively by the live process <owner>
//! <root>/locks/<2 hex>/<key>.lock  held by the process running step <key>
//! <root>/prune.lock             held by `tanto cache prune` (and the automatic ceiling)
//! ```
//! Locks are advisory `flock`s: the kernel releases them when the process dies, however
//! it dies, so a free owner lock means its process is gone. Lock files are never removed
//! while another process may wait on them, except by the sweeper that holds them.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::digest::Digest;

/// The lock a live process holds on its owner file for as long as it runs.
#[derive(Debug)]
pub struct OwnerLock {
    root: PathBuf,
    path: PathBuf,
    /// Locked; the lock goes with the file handle.
    _file: fs::File,
}

impl OwnerLock {
    /// Creates and locks `<root>/owners/<owner>.lock`, holding `backend` (where the
    /// process's containers live). The file is locked under a temporary name and renamed
    /// into place, so a sweeper never sees it unlocked.
    pub fn acquire(root: &Path, owner: &str, backend: &str) -> io::Result<Self> {
        let dir = root.join("owners");
        fs::create_dir_all(&dir)?;
        let mut temporary = tempfile::Builder::new().prefix(".owner-").tempfile_in(&dir)?;
        temporary.as_file().lock()?;
        io::Write::write_all(&mut temporary, backend.as_bytes())?;
        let path = dir.join(format!("{owner}.lock"));
        let file = temporary.persist(&path).map_err(|error| error.error)?;
        Ok(Self {
            root: root.to_path_buf(),
            path,
            _file: file,
        })
    }
}

impl Drop for OwnerLock {
    /// Removes the process's work folder, then the owner file, while still holding it: a
    /// sweeper that opened it meanwhile finds it locked until it is gone from the folder,
    /// and no folder is left for a sweeper to find.
    fn drop(&mut self) {
        if let Some(owner) = self.path.file_stem().and_then(|stem| stem.to_str()) {
            crate::util::remove_tree(&owner_work_dir(&self.root, owner));
        }
        let _ = fs::remove_file(&self.path);
    }
}

/// The owner locks this process holds, one per cache root it used.
static HELD: std::sync::Mutex<Vec<OwnerLock>> = std::sync::Mutex::new(Vec::new());

/// Makes sure this process holds its owner lock under `root`: called before it creates
/// anything a sweeper could take for an orphan (containers, work folders). `backend`
/// names the daemon its containers go to (empty when it makes none), so that only a
/// sweeper talking to that daemon sweeps it.
pub fn hold_owner(root: &Path, backend: &str) -> io::Result<()> {
    let mut held = HELD.lock().map_err(|_| io::Error::other("the owner lock registry is poisoned"))?;
    if !held.iter().any(|lock| lock.root == root) {
        held.push(OwnerLock::acquire(root, crate::util::process_owner(), backend)?);
    }
    Ok(())
}

/// Lets go of this process's owner lock under `root`, once it removed what it created.
pub fn release_owner(root: &Path) {
    if let Ok(mut held) = HELD.lock() {
        held.retain(|lock| lock.root != root);
    }
}

/// An owner whose process is gone, locked by the sweeper until [`DeadOwner::finish`].
#[derive(Debug)]
pub struct DeadOwner {
    pub owner: String,
    /// The daemon its containers went to, when it made any.
    pub backend: Option<String>,
    path: PathBuf,
    _file: fs::File,
}

impl DeadOwner {
    /// The process id the owner name starts with (`<pid>-<start time>`).
    pub fn pid(&self) -> Option<u32> {
        pid_of_owner(&self.owner)
    }

    /// Removes the owner's work folders and its owner file: call once its containers,
    /// volumes and networks are gone. Returns the work folders' bytes.
    pub fn finish(self, root: &Path) -> u64 {
        let work = owner_work_dir(root, &self.owner);
        let bytes = crate::util::folder_size(&work);
        crate::util::remove_tree(&work);
        let _ = fs::remove_file(&self.path);
        bytes
    }
}

/// Owners under `root` whose process is gone. Each comes back locked by this process, so
/// two sweepers never work on the same owner.
pub fn dead_owners(root: &Path, live_owner: &str) -> Vec<DeadOwner> {
    let mut dead = Vec::new();
    let Ok(entries) = fs::read_dir(root.join("owners")) else {
        return dead;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let Some(owner) = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_suffix(".lock"))
            .filter(|owner| !owner.starts_with('.') && *owner != live_owner)
            .map(str::to_string)
        else {
            continue;
        };
        let Ok(file) = fs::File::open(&path) else { continue };
        if file.try_lock().is_ok() {
            let backend = fs::read_to_string(&path).ok().filter(|backend| !backend.is_empty());
            dead.push(DeadOwner {
                owner,
                backend,
                path,
                _file: file,
            });
        }
    }
    // Work folders of owners whose owner file is already gone (the sweeper was killed
    // between the two removals) are swept too.
    if let Ok(entries) = fs::read_dir(root.join("tmp")) {
        for entry in entries.filter_map(Result::ok) {
            let Some(owner) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if owner == live_owner || pid_of_owner(&owner).is_none() || root.join("owners").join(format!("{owner}.lock")).exists() {
                continue;
            }
            // Recreated and locked at once, so the normal path handles it.
            let path = root.join("owners").join(format!("{owner}.lock"));
            if let Ok(file) = fs::File::create_new(&path)
                && file.try_lock().is_ok()
            {
                dead.push(DeadOwner {
                    owner,
                    backend: None,
                    path,
                    _file: file,
                });
            }
        }
    }
    dead
}

/// The folder holding the work folders of `owner`.
pub fn owner_work_dir(root: &Path, owner: &str) -> PathBuf {
    root.join("tmp").join(owner)
}

/// The process id an owner name (`<pid>-<start time>`) starts with.
pub fn pid_of_owner(owner: &str) -> Option<u32> {
    let (pid, started) = owner.split_once('-')?;
    started.parse::<u128>().ok()?;
    pid.parse().ok()
}

/// Held while this process runs and publishes step `key`: processes that need the same
/// key wait for it and then read its record instead of running the step again.
#[derive(Debug)]
pub struct KeyLock {
    _file: fs::File,
}

impl KeyLock {
    /// Takes the lock of `key`, waiting while another process holds it. Waits by polling
    /// rather than in a blocking thread: a cancelled run must not stay behind in a
    /// thread the runtime waits for at exit, blocked on a step another process runs.
    pub async fn acquire(root: &Path, key: &Digest) -> io::Result<Self> {
        let hex = key.hex();
        let dir = root.join("locks").join(&hex[..2]);
        fs::create_dir_all(&dir)?;
        let file = fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{hex}.lock")))?;
        let mut pause = Duration::from_millis(10);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Self { _file: file }),
                Err(fs::TryLockError::WouldBlock) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                Err(fs::TryLockError::Error(error)) => return Err(error),
            }
        }
    }
}

/// Removes the lock file of `key` once prune removed its record, so that lock files do
/// not pile up. A process that opened it just before waits on a file no longer in the
/// folder, and may run the step a second time beside a newcomer: a duplicate execution,
/// whose identical record is harmless.
pub fn remove_key_lock(root: &Path, key: &Digest) {
    let hex = key.hex();
    let _ = fs::remove_file(root.join("locks").join(&hex[..2]).join(format!("{hex}.lock")));
}

/// Held by whoever prunes, so two prunes never remove the same entries at once.
#[derive(Debug)]
pub struct PruneLock {
    _file: fs::File,
}

impl PruneLock {
    fn open(root: &Path) -> io::Result<fs::File> {
        fs::create_dir_all(root)?;
        fs::File::options().create(true).truncate(false).write(true).open(root.join("prune.lock"))
    }

    /// Waits for a concurrent prune to end.
    pub fn acquire(root: &Path) -> io::Result<Self> {
        let file = Self::open(root)?;
        file.lock()?;
        Ok(Self { _file: file })
    }

    /// The lock, or `None` while another process prunes.
    pub fn try_acquire(root: &Path) -> io::Result<Option<Self>> {
        let file = Self::open(root)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self { _file: file })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(error)) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_owner_lock_is_alive_and_a_released_one_is_dead() {
        let root = tempfile::tempdir().unwrap();
        let alive = OwnerLock::acquire(root.path(), "1-100", "unix:///one.sock").unwrap();
        hold_owner(root.path(), "").unwrap();
        // What a killed process leaves: the file, unlocked, and a work folder.
        fs::write(root.path().join("owners/2-200.lock"), "unix:///two.sock").unwrap();
        fs::create_dir_all(owner_work_dir(root.path(), "2-200").join("work-x")).unwrap();
        fs::write(owner_work_dir(root.path(), "2-200").join("work-x/file"), "12345").unwrap();
        // A work folder whose owner file is gone.
        fs::create_dir_all(owner_work_dir(root.path(), "3-300")).unwrap();

        let mut dead = dead_owners(root.path(), crate::util::process_owner());
        dead.sort_by(|a, b| a.owner.cmp(&b.owner));
        assert_eq!(dead.iter().map(|owner| owner.owner.as_str()).collect::<Vec<_>>(), ["2-200", "3-300"]);
        assert_eq!(dead[0].pid(), Some(2));
        assert_eq!(dead[0].backend.as_deref(), Some("unix:///two.sock"));
        assert_eq!(dead[1].backend, None);
        // While one sweeper holds them, another sees nothing to do.
        assert!(dead_owners(root.path(), crate::util::process_owner()).is_empty());
        let bytes: u64 = dead.into_iter().map(|owner| owner.finish(root.path())).sum();
        assert_eq!(bytes, 5);
        assert!(!owner_work_dir(root.path(), "2-200").exists());
        assert!(!root.path().join("owners/2-200.lock").exists());
        drop(alive);
        assert!(!root.path().join("owners/1-100.lock").exists(), "a process removes its own owner file");
        let own = root.path().join("owners").join(format!("{}.lock", crate::util::process_owner()));
        let own_work = owner_work_dir(root.path(), crate::util::process_owner());
        fs::create_dir_all(&own_work).unwrap();
        release_owner(root.path());
        assert!(!own.exists() && !own_work.exists(), "a process removes its owner file and work folder");
    }

    #[tokio::test]
    async fn a_key_lock_waits_for_its_holder() {
        let root = tempfile::tempdir().unwrap();
        let key = Digest::of_bytes(b"step");
        let first = KeyLock::acquire(root.path(), &key).await.unwrap();
        let root_path = root.path().to_path_buf();
        let second = tokio::spawn(async move { KeyLock::acquire(&root_path, &key).await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!second.is_finished(), "the second waits while the first holds the key");
        drop(first);
        second.await.unwrap().unwrap();
    }
}
