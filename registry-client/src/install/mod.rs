//! Resolving a module's whole dependency graph into `tanto.lock`.
//!
//! [`install`] reads `tanto.toml` and `tanto.lock` in a project folder, resolves every
//! direct and transitive dependency ([`resolve_graph`]), and writes the lock (or, in
//! [`LockMode::Locked`], fails if it would change). [`update`] is the same with the
//! named (or all) lock entries released so they move to the newest allowed version.
//!
//! # Rules
//!
//! * **Pins are honoured.** A dependency whose source is in the lock, with a locked
//!   entry that still satisfies its version spec (same tag, branch or commit, or a
//!   version the requirement matches), keeps that entry's commit; only `update`
//!   moves it.
//! * **The lock and the cache come first.** A kept entry whose commit the cache holds
//!   is used without asking the network, as cargo builds from `Cargo.lock` and its
//!   caches: an install that the lock fully determines works with no network and
//!   without `--offline`. Only what the lock does not determine (a new or changed
//!   dependency, an entry released by `update`) or the cache does not hold is asked
//!   of the remote. A kept entry that followed a tag and has to be fetched is first
//!   checked against the remote: a tag that now points elsewhere is an error, never
//!   a silent change (a tag moving upstream never changes what a warm cache installs
//!   either: the locked commit is used; `update` shows and accepts the move).
//!   Every checkout of a kept entry is hashed and compared with the lock.
//! * **One entry per (source, commit).** Dependents that land on the same source and
//!   commit share one entry (and one fetch and checkout); its `requirements` list
//!   every spec that led there. Different commits of one source coexist as distinct
//!   entries (`name@1.2.0`, `name@2.0.0`), reported in [`InstallReport::duplicates`]:
//!   each module runs in its own sandbox, so that is allowed.
//! * **A module's dependencies** are the `[dependencies]` of the `tanto.toml` in its
//!   checked-out subpath. Local path dependencies are followed (relative to the
//!   manifest naming them; inside a git module they must stay inside its repository)
//!   but never locked: their content is the work tree.
//! * **Entry names** are the dependency name the first dependent used (direct
//!   dependencies first, then breadth first in name order). Should two different
//!   modules end up with the same id, the later one gets a `-2`, `-3`… suffix.
//!
//! Building components is the host's job: the result lists each module's checkout
//! folder and commit, and the host records component digests with
//! [`Lockfile::set_component`].
//!
//! # Files
//!
//! This file is the API ([`install`], [`update`], their options and results); beside
//! it: `error` ([`InstallError`]), `graph` (the walk over the dependency graph,
//! [`resolve_graph`]) and `report` ([`InstallReport`]: what changed in the lock).

mod error;
mod graph;
mod report;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use tracing::info;

pub use self::error::{CycleMember, InstallError};
pub use self::graph::resolve_graph;
pub use self::report::{Duplicate, InstallReport, ModuleSummary, ModuleUpdate};
use crate::git::GitSource;
use crate::lockfile::{read_lockfile, write_lockfile};
use crate::manifest::{MANIFEST_NAME, read_dependencies};
use crate::resolve::Network;
use crate::schema::lock::{LOCKFILE_NAME, Lockfile};

/// Whether the lockfile may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LockMode {
    /// Write `tanto.lock` when the resolution differs from it.
    #[default]
    Write,
    /// Fail when `tanto.lock` is missing or would change (CI).
    Locked,
}

/// Which lock entries may move to a newer version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum UpdateSelection {
    /// None: every pin that still satisfies its spec is kept.
    #[default]
    Nothing,
    /// Every entry.
    All,
    /// The entries with these names or ids.
    Modules(Vec<String>),
}

/// How to install.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InstallOptions {
    /// Online or offline (cache only).
    pub network: Network,
    /// Whether the lockfile may change.
    pub lock_mode: LockMode,
    /// Which entries to move to the newest allowed version.
    pub update: UpdateSelection,
}

/// A git module ready for the host: where its checkout is and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledModule {
    /// Lock entry id (`name@version`).
    pub id: String,
    /// Dependency name.
    pub name: String,
    /// Source as written, without version.
    pub source: String,
    /// Resolved commit.
    pub commit: String,
    /// The module folder: the checkout joined with the subpath.
    pub path: PathBuf,
    /// Ids (for git modules) or paths (for local ones) of its dependencies.
    pub dependencies: Vec<String>,
}

/// A local-path module met in the graph (not locked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalModule {
    /// Dependency name.
    pub name: String,
    /// Canonical path of the module folder.
    pub path: PathBuf,
    /// Ids (for git modules) or paths (for local ones) of its dependencies.
    pub dependencies: Vec<String>,
}

/// The resolved graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The lock describing the graph.
    pub lockfile: Lockfile,
    /// Git modules, in lock order.
    pub modules: Vec<InstalledModule>,
    /// Local modules met on the way.
    pub local_modules: Vec<LocalModule>,
    /// Differences from the previous lock.
    pub report: InstallReport,
}

/// The outcome of [`install`] / [`update`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installation {
    /// The resolved graph.
    pub resolution: Resolution,
    /// Where the lock is.
    pub lockfile_path: PathBuf,
    /// Whether `tanto.lock` was written.
    pub lockfile_changed: bool,
}
/// Installs the dependencies of the module in `project_dir`: reads `tanto.toml` and
/// `tanto.lock`, resolves, and writes the lock (see [`LockMode`]).
pub fn install(git: &dyn GitSource, project_dir: &Path, options: &InstallOptions) -> Result<Installation, InstallError> {
    let dependencies = read_dependencies(&project_dir.join(MANIFEST_NAME))?;
    let lockfile_path = project_dir.join(LOCKFILE_NAME);
    let existing = read_lockfile(&lockfile_path)?;
    let resolution = resolve_graph(git, project_dir, &dependencies, existing.as_ref(), options)?;
    let lockfile_changed = match options.lock_mode {
        LockMode::Locked => {
            let unchanged = match &existing {
                Some(existing) => same_lock(existing, &resolution.lockfile),
                None => false,
            };
            if !unchanged {
                return Err(InstallError::LockOutOfDate {
                    path: lockfile_path,
                    report: existing.is_some().then(|| Box::new(resolution.report)),
                });
            }
            false
        }
        LockMode::Write => write_lockfile(&lockfile_path, &resolution.lockfile)?,
    };
    info!(
        path = %lockfile_path.display(),
        changed = lockfile_changed,
        modules = resolution.modules.len(),
        "dependencies installed"
    );
    Ok(Installation {
        resolution,
        lockfile_path,
        lockfile_changed,
    })
}

/// [`install`] with the named lock entries (names or ids; all when `names` is empty)
/// moved to the newest version their specs allow. The report lists old → new.
pub fn update(git: &dyn GitSource, project_dir: &Path, names: &[String], options: &InstallOptions) -> Result<Installation, InstallError> {
    let options = InstallOptions {
        update: if names.is_empty() {
            UpdateSelection::All
        } else {
            UpdateSelection::Modules(names.to_vec())
        },
        ..options.clone()
    };
    install(git, project_dir, &options)
}

fn same_lock(a: &Lockfile, b: &Lockfile) -> bool {
    let mut a = a.clone();
    let mut b = b.clone();
    a.normalize();
    b.normalize();
    a == b
}
