//! `tanto-registry`: where tanto modules come from.
//!
//! A module is a folder with a `tanto.toml`, usually inside a git repository. This
//! crate turns references such as `github.com/acme/ci-modules/golang@^1.2` into exact
//! commits, keeps fetched repositories in a cache, records the result in `tanto.lock`
//! and publishes releases as git tags. It knows nothing of wasm or containers: it
//! hands the host folders and commits, and the host builds.
//!
//! # Overview
//!
//! | module | what lives there |
//! | --- | --- |
//! | [`reference`](mod@reference) | parsing and printing references (host style, URLs, scp-like, local paths) and version specs |
//! | [`git`] | the [`git::GitSource`] trait; [`git::GitCli`] over the system `git` with the on-disk cache; [`git::FakeGit`] for tests |
//! | [`resolve`] | choosing a tag, branch or commit for one reference ([`resolve::select`], [`resolve::resolve`]) |
//! | [`install`](mod@install) | the whole dependency graph: [`install::install`], [`install::update`], locked and offline modes, reports |
//! | [`schema`] | serde types of `tanto.lock` and of `tanto.toml`'s `[dependencies]`, with no I/O |
//! | [`lockfile`], [`manifest`] | reading and writing those files; lock verification |
//! | [`hash`] | the content hash of a module tree |
//! | [`publish`] | tagging and pushing a release |
//! | [`hint`] | [`Hint`]: what a user can do about an error, as data |
//!
//! # How resolution flows
//!
//! ```text
//! tanto.toml [dependencies] ──► Reference
//!                                   ▼
//!                   tanto.lock pin still satisfied? ──yes──► commit in the cache? ──yes──► keep it (no network)
//!                                   │ no (or update)             │ no
//!                                   │                  verify tag (git ls-remote), fetch, keep commit
//!                                   ▼
//!              GitSource::list_remote_refs (git ls-remote; offline: refs of the bare cache)
//!                                   ▼
//!                  resolve::select: tag > branch > commit > exact version > requirement
//!                                   ▼
//!          GitSource::fetch (bare repo per URL) ──► GitSource::checkout (per commit)
//!                                   ▼
//!     content hash (checked against the lock) + the module's own tanto.toml ──► next edges
//!                                   ▼
//!                        Lockfile + InstallReport ──► tanto.lock (written only on change)
//! ```
//!
//! # Cache
//!
//! Under a root given by the caller ([`git::default_cache_root`]: `$TANTO_CACHE_DIR`,
//! else the user cache dir + `tanto`): `git/db/<url-key>/` holds one bare repository
//! per URL and `git/checkouts/<url-key>/<commit>/` one complete tree per commit (see
//! [`git::CacheLayout`]).
//!
//! # Errors
//!
//! Every module has its own `thiserror` enum naming what failed (command, URL, path,
//! reference); each has a `hint()` returning a [`Hint`] for the CLI to render. [`Error`]
//! gathers them for callers that want one type. Library code never prints; it emits
//! `tracing` events.

pub mod git;
pub mod hash;
pub mod hint;
pub mod install;
pub mod lockfile;
pub mod manifest;
pub mod publish;
pub mod reference;
pub mod resolve;
pub mod schema;

pub use hint::Hint;
pub use install::{InstallError, InstallOptions, InstallReport, Installation, LockMode, UpdateSelection, install, update};
pub use reference::{Reference, ReferenceError, VersionSpec};
pub use resolve::{Network, Resolved};
pub use schema::lock::{LockedModule, Lockfile};
pub use schema::manifest::Dependencies;

/// Any error of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Reference(#[from] reference::ReferenceError),
    #[error(transparent)]
    Git(#[from] git::GitError),
    #[error(transparent)]
    Resolve(#[from] resolve::ResolveError),
    #[error(transparent)]
    Install(#[from] install::InstallError),
    #[error(transparent)]
    Lockfile(#[from] lockfile::LockfileError),
    #[error(transparent)]
    Verify(#[from] lockfile::VerifyError),
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestError),
    #[error(transparent)]
    Publish(#[from] publish::PublishError),
}

impl Error {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            Error::Reference(_) => None,
            Error::Git(error) => error.hint(),
            Error::Resolve(error) => error.hint(),
            Error::Install(error) => error.hint(),
            Error::Lockfile(error) => error.hint(),
            Error::Verify(error) => error.hint(),
            Error::Manifest(_) => None,
            Error::Publish(error) => error.hint(),
        }
    }
}
