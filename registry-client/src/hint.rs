//! What a user can do about an error, as data.
//!
//! Errors in this crate never glue advice into their message. Each error type has a
//! `hint()` method returning an [`Hint`]; the CLI renders it in one place (for example
//! as a `hint:` line under the error), the way uv renders its hints.

use std::fmt;
use std::path::PathBuf;

/// A suggestion that accompanies an error. `Display` renders one sentence (or a short
/// list) without a `hint:` prefix: the caller chooses the presentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    /// The host name of a reference did not resolve.
    CheckHost { host: String },
    /// The remote answered "not found" or refused access: either the repository does
    /// not exist or git could not authenticate to it.
    CheckCredentials { url: String },
    /// The network path to the remote failed (refused, unreachable, timed out).
    CheckNetwork { url: String },
    /// No version satisfies the requirement; these are the ones that exist.
    AvailableVersions { versions: Vec<String> },
    /// The reference names no tag, branch or commit of the repository.
    CheckVersionSpec,
    /// Offline mode met a module the cache does not hold.
    FillCache,
    /// `tanto.lock` does not match what `tanto.toml` asks for.
    RunInstall,
    /// A locked dependency changed upstream; accepting the change is explicit.
    RunUpdate { names: Vec<String> },
    /// The module's subpath does not exist at the resolved commit, or holds no
    /// `tanto.toml`.
    CheckSubpath { subpath: String },
    /// Publishing needs a clean work tree, so the tag describes exactly what is
    /// committed.
    CommitOrStash,
    /// The version is already released; pick a new one.
    BumpVersion,
    /// The remote URL cannot be turned into a reference users can install.
    UseHostRemote,
    /// The lockfile is newer than this tanto understands.
    UpgradeTanto,
    /// A checkout differs from what the lock recorded: someone changed the cache, or
    /// the lock was edited.
    RemoveCheckout { path: PathBuf },
    /// A name given to `update` is not in the lockfile.
    KnownModules { names: Vec<String> },
    /// A dependency name can only hold letters, digits, `-` and `_`.
    RenameDependency,
    /// Modules depend on each other in a circle.
    BreakCycle,
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hint::CheckHost { host } => write!(f, "check the spelling of `{host}` and that this machine can resolve it (DNS, proxy settings)"),
            Hint::CheckCredentials { url } => write!(
                f,
                "check that {url} exists; if it is private, make sure plain `git ls-remote {url}` works: \
                 configure a credential helper (`git credential`), load your key into an SSH agent, \
                 or reroute the URL with `git config --global url.<base>.insteadOf <prefix>`"
            ),
            Hint::CheckNetwork { url } => write!(
                f,
                "check the network connection to {url} (proxy, firewall), or use offline mode if the cache already holds the module"
            ),
            Hint::AvailableVersions { versions } => {
                if versions.is_empty() {
                    write!(f, "the repository has no version tags (`vX.Y.Z`); depend on a branch or a commit instead")
                } else {
                    write!(f, "available versions: {}", versions.join(", "))
                }
            }
            Hint::CheckVersionSpec => write!(
                f,
                "a version is an exact tag (`v1.2.0`), a semver requirement (`^1.2`, `~1.4`, `1`), a branch or a commit"
            ),
            Hint::FillCache => write!(f, "run once without offline mode so the module is fetched into the cache"),
            Hint::RunInstall => write!(f, "run `tanto install` to update tanto.lock"),
            Hint::RunUpdate { names } => {
                if names.is_empty() {
                    write!(f, "if the change is expected, run `tanto update` to accept it")
                } else {
                    write!(f, "if the change is expected, run `tanto update {}` to accept it", names.join(" "))
                }
            }
            Hint::CheckSubpath { subpath } => write!(f, "check that `{subpath}` exists at that version and holds a tanto.toml"),
            Hint::CommitOrStash => write!(f, "commit or stash your changes, then publish again"),
            Hint::BumpVersion => {
                write!(f, "released versions are immutable; publish a new version")
            }
            Hint::UseHostRemote => write!(
                f,
                "set the remote to an https or ssh URL of a hosted repository (for example https://github.com/owner/repo)"
            ),
            Hint::RemoveCheckout { path } => write!(
                f,
                "inspect `{}`; remove it to fetch the commit again, and review tanto.lock if it was edited",
                path.display()
            ),
            Hint::KnownModules { names } => {
                write!(f, "modules in tanto.lock: {}", names.join(", "))
            }
            Hint::UpgradeTanto => write!(f, "upgrade tanto to read this lockfile"),
            Hint::RenameDependency => write!(f, "dependency names may contain only ASCII letters, digits, `-` and `_`"),
            Hint::BreakCycle => write!(
                f,
                "a module cannot depend on itself, directly or through other modules: remove one dependency of the cycle from its tanto.toml (for a published module, ask its maintainer)"
            ),
        }
    }
}
