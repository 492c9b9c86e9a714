//! Why an installation failed, and what the user can do about it.

use std::path::PathBuf;

use super::InstallReport;
use crate::git::GitError;
use crate::hash::HashError;
use crate::hint::Hint;
use crate::lockfile::{LockfileError, VerifyError};
use crate::manifest::{MANIFEST_NAME, ManifestError};
use crate::resolve::ResolveError;

/// Installation failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Lockfile(#[from] LockfileError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// A dependency could not be resolved.
    #[error("{error}{}", required_by.as_ref().map(|by| format!("\n  required by {by}")).unwrap_or_default())]
    Resolve {
        dependency: String,
        required_by: Option<String>,
        error: Box<ResolveError>,
    },
    /// A checkout could not be made.
    #[error("could not check out {dependency}: {error}")]
    Checkout { dependency: String, error: Box<GitError> },
    /// A checkout could not be hashed.
    #[error("could not hash {dependency}: {error}")]
    Hash { dependency: String, error: HashError },
    /// The resolved folder is not a module.
    #[error("{dependency} is not a module: `{subpath}` at commit {commit} has no {MANIFEST_NAME}")]
    NotAModule { dependency: String, subpath: String, commit: String },
    /// A local dependency does not exist.
    #[error("local dependency {dependency} not found at `{}`", path.display())]
    LocalNotFound { dependency: String, path: PathBuf },
    /// A local dependency of a git module points outside its repository.
    #[error("local dependency {dependency} of a git module points outside its repository: `{}`", path.display())]
    LocalOutsideRepository { dependency: String, path: PathBuf },
    /// A dependency's tanto.toml (or the folder it is in) is a symlink out of its
    /// repository: reading it would read a file of this machine.
    #[error("the {MANIFEST_NAME} of {dependency} lies outside its repository (`{}` is reached through a symlink); refusing to read it", path.display())]
    ManifestOutsideRepository { dependency: String, path: PathBuf },
    /// Locked mode, and the lock would change.
    #[error("`{}` is out of date with tanto.toml{}", path.display(), render_changes(report.as_deref()))]
    LockOutOfDate { path: PathBuf, report: Option<Box<InstallReport>> },
    /// `update` named a module the lock does not have.
    #[error("`{name}` is not in tanto.lock")]
    UnknownModule { name: String, known: Vec<String> },
    /// Modules depend on each other in a circle. `cycle` starts and ends with the same
    /// module; each depends on the next.
    #[error("the dependencies form a cycle: {}{}", render_cycle_names(cycle), render_cycle_edges(cycle))]
    Cycle { cycle: Vec<CycleMember> },
}

/// A module of a dependency cycle, as the error names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleMember {
    /// The dependency name it was first met under.
    pub name: String,
    /// `1.2.0 (github.com/acme/lib)` for a git module, `(./mods/x)` for a local one.
    pub location: String,
}

fn render_cycle_names(cycle: &[CycleMember]) -> String {
    cycle.iter().map(|member| member.name.as_str()).collect::<Vec<_>>().join(" → ")
}

fn render_cycle_edges(cycle: &[CycleMember]) -> String {
    cycle
        .windows(2)
        .map(|pair| format!("\n  {} {} depends on {}", pair[0].name, pair[0].location, pair[1].name))
        .collect()
}

fn render_changes(report: Option<&InstallReport>) -> String {
    let Some(report) = report else {
        return " (no tanto.lock)".to_owned();
    };
    let mut parts = Vec::new();
    for added in &report.added {
        parts.push(format!("  would add {added}"));
    }
    for updated in &report.updated {
        parts.push(format!("  would update {updated}"));
    }
    for removed in &report.removed {
        parts.push(format!("  would remove {removed}"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(":\n{}", parts.join("\n"))
    }
}

impl InstallError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            InstallError::Manifest(_) => None,
            InstallError::Lockfile(error) => error.hint(),
            InstallError::Verify(error) => error.hint(),
            InstallError::Resolve { error, .. } => error.hint(),
            InstallError::Checkout { error, .. } => error.hint(),
            InstallError::Hash { .. } => None,
            InstallError::NotAModule { subpath, .. } => Some(Hint::CheckSubpath { subpath: subpath.clone() }),
            InstallError::LocalNotFound { .. } | InstallError::LocalOutsideRepository { .. } => None,
            InstallError::ManifestOutsideRepository { .. } => None,
            InstallError::LockOutOfDate { .. } => Some(Hint::RunInstall),
            InstallError::UnknownModule { known, .. } => Some(Hint::KnownModules { names: known.clone() }),
            InstallError::Cycle { .. } => Some(Hint::BreakCycle),
        }
    }
}
