//! `tanto cache du` and `tanto cache prune`, and the automatic size ceiling that keeps
//! the cache from ever filling the disk.
//!
//! What the cache holds: snapshot images of steps (in Docker), their records, trees
//! extracted from snapshots and compiled components (under the cache root), and cache
//! volumes (in Docker, removed only when asked). Pruning goes least recently used
//! first, newest snapshot first among equals (a child snapshot before its parent, which
//! Docker would refuse to remove first), and never touches what a running `tanto` has
//! pinned. Only a prune removes snapshots and records (runs never do), one prune at a
//! time under the cache's prune lock; each prune also removes the snapshots no record
//! refers to and what ended processes left behind.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use super::module_cache::{FileRecord, ModuleCache};
use crate::backend::{Backend, Removal};
use crate::engine::{CacheStore, Digest, locks};

/// The default ceiling of the cache: everything `tanto cache du` counts but cache volumes.
pub const DEFAULT_MAX_SIZE: u64 = crate::engine::DEFAULT_CACHE_CEILING;

/// The size ceiling from `TANTO_CACHE_MAX_SIZE` (`10GB`, `512MiB`, ...), or the default.
pub fn max_size_from_env() -> Result<u64, String> {
    match std::env::var("TANTO_CACHE_MAX_SIZE") {
        Ok(text) if !text.trim().is_empty() => parse_size(&text).map_err(|error| format!("TANTO_CACHE_MAX_SIZE: {error}")),
        _ => Ok(DEFAULT_MAX_SIZE),
    }
}

/// Parses `10GB`, `512MiB`, `2g`, `1048576` into bytes. Decimal and binary units are both
/// read as binary (`1GB` = 2^30), as Docker does.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("{text:?} is not a size such as 10GB or 512MiB"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => return Err(format!("unknown size unit {other:?} in {text:?} (use B, KB, MB, GB or TB)")),
    };
    Ok((number * factor as f64) as u64)
}

/// Parses `90s`, `30m`, `24h`, `7d`, `2w` into a duration.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration such as 24h or 7d"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        other => return Err(format!("unknown duration unit {other:?} in {text:?} (use s, m, h, d or w)")),
    };
    Ok(Duration::from_secs(number * seconds))
}

pub use crate::util::human_bytes;

/// How long ago, for people: `5s`, `3m`, `2h`, `4d`.
pub fn human_age(time: SystemTime) -> String {
    let seconds = SystemTime::now().duration_since(time).unwrap_or_default().as_secs();
    match seconds {
        0..60 => format!("{seconds}s ago"),
        60..3600 => format!("{}m ago", seconds / 60),
        3600..86_400 => format!("{}h ago", seconds / 3600),
        _ => format!("{}d ago", seconds / 86_400),
    }
}

/// Entries and bytes by kind: what the cache holds, or what a prune removed.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub steps: usize,
    /// Bytes of the snapshot layers and their records.
    pub step_bytes: u64,
    pub trees: usize,
    pub tree_bytes: u64,
    pub components: usize,
    pub component_bytes: u64,
    /// Bytes of fetched repositories and their checkouts.
    pub git_bytes: u64,
    /// Bytes of the third-party packages Python modules list.
    pub python_package_bytes: u64,
    /// Bytes of the digest stamps of component files and the schemas kept for completion.
    pub index_bytes: u64,
    /// Kept output of recent steps that failed.
    pub logs: usize,
    pub log_bytes: u64,
}

impl Tally {
    pub fn bytes(&self) -> u64 {
        self.step_bytes + self.tree_bytes + self.component_bytes + self.git_bytes + self.python_package_bytes + self.index_bytes + self.log_bytes
    }

    pub fn entries(&self) -> usize {
        self.steps + self.trees + self.components
    }
}

/// What the cache holds.
#[derive(Debug, Default)]
pub struct Usage {
    pub held: Tally,
    pub volumes: usize,
    pub oldest: Option<SystemTime>,
    pub newest: Option<SystemTime>,
}

/// How many snapshot layers are measured at once: each is one request to the daemon,
/// and a run that ran many steps measures them all before it ends.
const MEASURED_AT_ONCE: usize = 8;

/// Measures the snapshot layers whose size is not recorded yet.
async fn measure_steps(store: &CacheStore, backend: &dyn Backend) -> Vec<crate::engine::cache::StepRecord> {
    use futures_util::StreamExt;
    let mut steps = store.steps();
    let unmeasured = steps.iter_mut().filter(|step| step.size.is_none());
    futures_util::stream::iter(unmeasured)
        .for_each_concurrent(MEASURED_AT_ONCE, |step| async move {
            match backend.layer_size(&step.image).await {
                Ok(size) => {
                    store.set_step_size(&step.key, size);
                    step.size = Some(size);
                }
                Err(error) => tracing::debug!(%error, image = %step.image, "cannot measure a snapshot"),
            }
        })
        .await;
    steps
}

/// What the cache at `store` holds. Measuring snapshots needs the backend.
pub async fn usage(store: &CacheStore, backend: &dyn Backend) -> Usage {
    let steps = measure_steps(store, backend).await;
    let trees = store.trees();
    let modules = ModuleCache::new(store.root());
    let components = modules.components();
    let (logs, log_bytes) = store.failed_logs();
    let times = steps.iter().map(|step| step.last_used).chain(trees.iter().map(|tree| tree.last_used));
    Usage {
        held: Tally {
            steps: steps.len(),
            step_bytes: steps.iter().map(|step| step.size.unwrap_or(0) + step.record_bytes).sum(),
            trees: trees.len(),
            tree_bytes: trees.iter().map(|tree| tree.size).sum(),
            components: components.len(),
            component_bytes: components.iter().map(|component| component.size).sum(),
            git_bytes: modules.git_bytes(),
            python_package_bytes: modules.python_package_bytes(),
            index_bytes: modules.index_bytes(),
            logs,
            log_bytes,
        },
        volumes: store.volumes().len(),
        oldest: times.clone().min(),
        newest: times.max(),
    }
}

/// What to remove.
#[derive(Clone, Debug, Default)]
pub struct PruneSettings {
    /// Everything (but cache volumes, unless `volumes`).
    pub all: bool,
    /// Remove least recently used entries until the cache is at most this big.
    pub keep_storage: Option<u64>,
    /// Remove entries not used for this long.
    pub older_than: Option<Duration>,
    /// Also remove cache volumes made through this cache.
    pub volumes: bool,
}

/// What a prune removed and what it left because it is in use.
#[derive(Debug, Default)]
pub struct PruneReport {
    pub removed: Tally,
    pub volumes: Vec<String>,
    /// Snapshot images no record referred to (left by `--no-cache` re-runs, or by a
    /// process that ended between committing a snapshot and recording it).
    pub unreferenced_snapshots: usize,
    /// What ended processes had left behind.
    pub swept: SweepReport,
    /// Entries kept, each with the reason.
    pub kept: Vec<Kept>,
}

/// An entry a prune left, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// What it is: `image 0123456789ab`, `tree …`, `cache volume NAME`.
    pub entry: String,
    /// Why: `used by running container …`, `pinned by running pid 1234`, ….
    pub reason: String,
}

/// What the ended processes whose leftovers a sweep removed had left.
#[derive(Debug, Default, Clone)]
pub struct SweepReport {
    /// Process ids of the ended processes.
    pub processes: Vec<u32>,
    pub containers: Vec<String>,
    /// Debug images of failed steps (`tanto call --interactive`).
    pub images: Vec<String>,
    pub volumes: Vec<String>,
    pub networks: Vec<String>,
    pub work_bytes: u64,
}

impl SweepReport {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.images.is_empty() && self.volumes.is_empty() && self.networks.is_empty() && self.work_bytes == 0
    }
}

impl std::fmt::Display for SweepReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let processes = self.processes.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
        let counted = |count: usize, noun: &str| (count > 0).then(|| format!("{count} {noun}{}", if count == 1 { "" } else { "s" }));
        let parts: Vec<String> = [
            counted(self.containers.len(), "container"),
            counted(self.images.len(), "debug image"),
            counted(self.volumes.len(), "volume"),
            counted(self.networks.len(), "network"),
            (self.work_bytes > 0).then(|| format!("work folders of {}", human_bytes(self.work_bytes))),
        ]
        .into_iter()
        .flatten()
        .collect();
        write!(f, "removed what ended tanto processes (pid {processes}) left behind: {}", parts.join(", "))
    }
}

/// Removes the containers, volumes, networks and work folders of every process that used
/// this cache and ended without removing them (its owner lock is free): killed, crashed,
/// or cut off from a daemon that went away. Touches the backend only when there is such a
/// process.
pub async fn sweep_orphans(store: &CacheStore, backend: &dyn Backend) -> SweepReport {
    let mut report = SweepReport::default();
    for dead in locks::dead_owners(store.root(), crate::util::process_owner()) {
        // Its containers are on another daemon: a run talking to that one sweeps it.
        if dead.backend.as_ref().is_some_and(|address| *address != backend.address()) {
            continue;
        }
        match backend.sweep_owner(&dead.owner).await {
            Ok(swept) => {
                report.processes.extend(dead.pid());
                report.containers.extend(swept.containers);
                report.images.extend(swept.images);
                report.volumes.extend(swept.volumes);
                report.networks.extend(swept.networks);
                report.work_bytes += dead.finish(store.root());
            }
            // Its owner file stays: the next run or prune tries again.
            Err(error) => tracing::warn!(%error, owner = %dead.owner, "cannot remove what an ended tanto process left behind"),
        }
    }
    report
}

enum Candidate {
    Step(crate::engine::cache::StepRecord),
    Tree(crate::engine::cache::TreeRecord),
    Component(FileRecord),
}

impl Candidate {
    fn last_used(&self) -> SystemTime {
        match self {
            Candidate::Step(step) => step.last_used,
            Candidate::Tree(tree) => tree.last_used,
            Candidate::Component(component) => component.last_used,
        }
    }

    fn size(&self) -> u64 {
        match self {
            Candidate::Step(step) => step.size.unwrap_or(0) + step.record_bytes,
            Candidate::Tree(tree) => tree.size,
            Candidate::Component(component) => component.size,
        }
    }

    fn created(&self) -> u64 {
        match self {
            Candidate::Step(step) => step.created,
            _ => 0,
        }
    }
}

fn short_image(image: &str) -> String {
    let hex = image.strip_prefix("sha256:").unwrap_or(image);
    format!("image {}", &hex[..hex.len().min(12)])
}

fn pinned_by(pid: u32) -> String {
    format!("pinned by running pid {pid}")
}

/// Removes what `settings` selects from the cache at `store`, after what ended processes
/// left behind. Waits for a prune another process is running.
pub async fn prune(store: &CacheStore, backend: &dyn Backend, settings: &PruneSettings) -> std::io::Result<PruneReport> {
    let root = store.root().to_path_buf();
    let _lock = tokio::task::spawn_blocking(move || locks::PruneLock::acquire(&root))
        .await
        .map_err(std::io::Error::other)??;
    let swept = sweep_orphans(store, backend).await;
    let mut report = prune_locked(store, backend, settings).await;
    report.swept = swept;
    Ok(report)
}

/// Removes what `settings` selects; the caller holds the prune lock.
async fn prune_locked(store: &CacheStore, backend: &dyn Backend, settings: &PruneSettings) -> PruneReport {
    let mut candidates: Vec<Candidate> = measure_steps(store, backend).await.into_iter().map(Candidate::Step).collect();
    candidates.extend(store.trees().into_iter().map(Candidate::Tree));
    let modules = ModuleCache::new(store.root());
    candidates.extend(modules.components().into_iter().map(Candidate::Component));
    // Least recently used first; among equals the newest step first, so children go
    // before the parents Docker would otherwise refuse to remove.
    candidates.sort_by(|a, b| a.last_used().cmp(&b.last_used()).then(b.created().cmp(&a.created())));

    let total: u64 = candidates.iter().map(Candidate::size).sum();
    let now = SystemTime::now();
    let mut remaining = total;
    let mut selected = Vec::new();
    for candidate in candidates {
        let too_old = settings
            .older_than
            .is_some_and(|age| now.duration_since(candidate.last_used()).unwrap_or_default() >= age);
        let over_budget = settings.keep_storage.is_some_and(|limit| remaining > limit);
        if settings.all || too_old || over_budget {
            remaining = remaining.saturating_sub(candidate.size());
            selected.push(candidate);
        }
    }
    // Children before parents, whatever their use times.
    selected.sort_by_key(|candidate| std::cmp::Reverse(candidate.created()));

    let mut report = PruneReport::default();
    let mut steps = Vec::new();
    for candidate in selected {
        match candidate {
            Candidate::Step(step) => steps.push(step),
            Candidate::Tree(tree) => {
                // Read again right before each removal: a pipeline that started meanwhile
                // may have pinned the entry.
                if let Some(pid) = store.pinned_keys().get(&tree.key) {
                    report.kept.push(Kept {
                        entry: format!("tree {}", &tree.key.hex()[..12]),
                        reason: pinned_by(*pid),
                    });
                    continue;
                }
                crate::util::remove_tree(&tree.path);
                report.removed.trees += 1;
                report.removed.tree_bytes += tree.size;
            }
            Candidate::Component(component) => {
                if std::fs::remove_file(&component.path).is_ok() {
                    report.removed.components += 1;
                    report.removed.component_bytes += component.size;
                }
            }
        }
    }
    // Docker refuses to remove a snapshot while a child snapshot exists; children are
    // tried first, and what is refused is tried again once a pass removed something.
    loop {
        let mut refused = Vec::new();
        let before = report.removed.steps;
        for step in steps {
            if let Some(pid) = store.pinned_keys().get(&step.key) {
                report.kept.push(Kept {
                    entry: short_image(&step.image),
                    reason: pinned_by(*pid),
                });
                continue;
            }
            match backend.remove_image(&step.image).await {
                // A record whose image is gone (removed now, or before) goes too.
                Ok(Removal::Removed | Removal::Gone) => {
                    store.remove_step(&step.key);
                    locks::remove_key_lock(store.root(), &step.key);
                    report.removed.steps += 1;
                    report.removed.step_bytes += step.size.unwrap_or(0) + step.record_bytes;
                }
                Ok(Removal::Refused(reason)) => refused.push((step, reason)),
                Err(error) => report.kept.push(Kept {
                    entry: short_image(&step.image),
                    reason: error.to_string(),
                }),
            }
        }
        if refused.is_empty() || report.removed.steps == before {
            // Still needed by a container or by a child outside the selection.
            report.kept.extend(refused.into_iter().map(|(step, reason)| Kept {
                entry: short_image(&step.image),
                reason,
            }));
            break;
        }
        steps = refused.into_iter().map(|(step, _)| step).collect();
    }
    remove_unreferenced_snapshots(store, backend, &mut report).await;
    // Fetched repositories, installed Python packages, digest stamps, schemas and
    // failed-step logs go only with everything else: least-recently-used pruning cannot
    // see inside the first two (they are build inputs; the components built from them
    // are what calls use), stamps and schemas are a few hundred bytes each, and the logs
    // are bounded on their own (the newest few are kept).
    if settings.all {
        report.removed.git_bytes = modules.git_bytes();
        modules.remove_git();
        report.removed.python_package_bytes = modules.python_package_bytes();
        modules.remove_python_packages();
        report.removed.index_bytes = modules.index_bytes();
        modules.remove_index();
        (report.removed.logs, report.removed.log_bytes) = store.failed_logs();
        store.remove_failed_logs();
    }
    if settings.volumes {
        for volume in store.volumes() {
            match backend.remove_volume(&volume.name).await {
                Ok(true) => {
                    let _ = std::fs::remove_file(&volume.path);
                    report.volumes.push(volume.name);
                }
                // In use by a running step: it stays, and so does its record.
                Ok(false) if volume_exists_elsewhere(backend, &volume.name).await => report.kept.push(Kept {
                    entry: format!("cache volume {}", volume.name),
                    reason: "mounted by a container".into(),
                }),
                Ok(false) => {
                    let _ = std::fs::remove_file(&volume.path);
                }
                Err(error) => tracing::warn!(%error, volume = %volume.name, "cannot remove a cache volume"),
            }
        }
    }
    report
}

/// Removes the snapshot images no record refers to, neither directly nor as the parent of
/// a snapshot that one does: nothing can ever use them again. Those a running process
/// pinned (it committed them and is about to record them) stay. Children go first.
async fn remove_unreferenced_snapshots(store: &CacheStore, backend: &dyn Backend, report: &mut PruneReport) {
    let images = match backend.snapshot_images(&store.id()).await {
        Ok(images) => images,
        Err(error) => {
            tracing::warn!(%error, "cannot list snapshot images");
            return;
        }
    };
    let parents: HashMap<&str, Option<&str>> = images.iter().map(|image| (image.id.as_str(), image.parent.as_deref())).collect();
    let mut needed: HashSet<String> = HashSet::new();
    for step in store.steps() {
        let mut next = Some(step.image);
        while let Some(image) = next.take() {
            let parent = parents.get(image.as_str()).copied().flatten().map(str::to_string);
            if !needed.insert(image) {
                break;
            }
            next = parent;
        }
    }
    let mut remaining: Vec<_> = images.iter().filter(|image| !needed.contains(&image.id)).collect();
    let mut refused = Vec::new();
    while !remaining.is_empty() {
        // The images no other remaining image descends from, newest first.
        let parents_of_remaining: HashSet<&str> = remaining.iter().filter_map(|image| image.parent.as_deref()).collect();
        let (mut leaves, rest): (Vec<_>, Vec<_>) = remaining.into_iter().partition(|image| !parents_of_remaining.contains(image.id.as_str()));
        if leaves.is_empty() {
            break;
        }
        leaves.sort_by_key(|image| std::cmp::Reverse(image.created));
        let pinned = store.pinned_keys();
        let mut blocked = HashSet::new();
        for image in leaves {
            if let Some(pid) = image.key.parse::<Digest>().ok().and_then(|key| pinned.get(&key)) {
                refused.push(Kept {
                    entry: short_image(&image.id),
                    reason: pinned_by(*pid),
                });
                blocked.insert(image.parent.clone());
                continue;
            }
            match backend.remove_image(&image.id).await {
                Ok(Removal::Removed) => report.unreferenced_snapshots += 1,
                Ok(Removal::Gone) => {}
                Ok(Removal::Refused(reason)) => {
                    refused.push(Kept {
                        entry: short_image(&image.id),
                        reason,
                    });
                    blocked.insert(image.parent.clone());
                }
                Err(error) => {
                    refused.push(Kept {
                        entry: short_image(&image.id),
                        reason: error.to_string(),
                    });
                    blocked.insert(image.parent.clone());
                }
            }
        }
        // A parent whose child stays stays too; it is not reported on its own.
        remaining = rest.into_iter().filter(|image| !blocked.contains(&Some(image.id.clone()))).collect();
    }
    report.kept.extend(refused);
}

/// Whether a volume that could not be removed still exists (in use) rather than gone.
async fn volume_exists_elsewhere(backend: &dyn Backend, name: &str) -> bool {
    backend.volume_exists(name).await.unwrap_or(true)
}

/// Brings the cache under `max_size` if it holds more (`used` bytes, as [`usage`] counts
/// them), removing the least recently used entries down to 80% of the ceiling so the next
/// runs do not prune again at once.
pub async fn enforce_ceiling(store: &CacheStore, backend: &dyn Backend, max_size: u64, used: u64) -> Option<PruneReport> {
    if used <= max_size {
        return None;
    }
    // Another process pruning will bring the cache down; this one does not wait for it.
    let _lock = match locks::PruneLock::try_acquire(store.root()) {
        Ok(Some(lock)) => lock,
        Ok(None) => return None,
        Err(error) => {
            tracing::warn!(%error, "cannot lock the cache for pruning");
            return None;
        }
    };
    let settings = PruneSettings {
        keep_storage: Some(max_size / 10 * 8),
        ..Default::default()
    };
    let report = prune_locked(store, backend, &settings).await;
    tracing::info!(
        removed = report.removed.entries(),
        bytes = report.removed.bytes(),
        "the cache passed its ceiling; pruned"
    );
    Some(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_size("10GB").unwrap(), 10 << 30);
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        assert_eq!(parse_size("42").unwrap(), 42);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("3 parsecs").is_err());
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert!(parse_duration("soon").is_err());
        assert_eq!(human_bytes(1536), "1.5 KB");
        assert_eq!(human_bytes(800), "800 B");
    }

    #[test]
    fn a_sweep_names_what_it_removed() {
        let report = SweepReport {
            processes: vec![12, 34],
            containers: vec!["a".into()],
            images: Vec::new(),
            volumes: vec!["v".into(), "w".into()],
            networks: Vec::new(),
            work_bytes: 2048,
        };
        assert_eq!(
            report.to_string(),
            "removed what ended tanto processes (pid 12, 34) left behind: 1 container, 2 volumes, work folders of 2.0 KB"
        );
    }
}
