//! Reading git repositories: the [`GitSource`] trait, its real implementation over the
//! system `git` command ([`GitCli`]) and an in-memory fake ([`FakeGit`]) for tests.
//!
//! The real implementation shells out to `git` on purpose: credential helpers, SSH
//! agents, proxies and `url.<base>.insteadOf` mirrors then behave exactly as they do for
//! the user's own `git clone`.

mod bounded;
mod cache;
mod cli;
mod fake;

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

pub use bounded::{Fetched, FilesSizeError, PACKS_ONLY, files_size, run_bounded_fetch};
pub use cache::{CacheLayout, default_cache_root};
pub(crate) use cli::unique_suffix;
pub use cli::{DeclaredUrlCheck, GitCli, GitConfig, Reach};
pub use fake::{FakeGit, FakeRepository};

use crate::hint::Hint;

/// What a remote (or the cache, offline) advertises: tags and branches with the commit
/// each one points at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteRefs {
    /// Tag name (without `refs/tags/`) → target.
    pub tags: BTreeMap<String, TagTarget>,
    /// Branch name (without `refs/heads/`) → head commit.
    pub branches: BTreeMap<String, String>,
    /// The branch the remote's `HEAD` points at, when it says so.
    pub default_branch: Option<String>,
}

/// Where a tag points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagTarget {
    /// The object the tag ref names: the tag object for an annotated tag, the commit
    /// for a lightweight one.
    pub object: String,
    /// The commit the tag peels to. For an annotated tag this is the `^{}` line of
    /// `git ls-remote`, never the tag object itself.
    pub commit: String,
}

impl RemoteRefs {
    /// Parses `git ls-remote` output: `<oid>\t<ref>` lines, `refs/tags/x^{}` lines
    /// giving the peeled commit of annotated tags, and (with `--symref`) a
    /// `ref: refs/heads/<branch>\tHEAD` line naming the default branch. Other refs
    /// (`HEAD` itself, `refs/pull/...`) are ignored.
    pub fn parse_ls_remote(output: &str) -> RemoteRefs {
        let mut refs = RemoteRefs::default();
        let mut peeled: BTreeMap<&str, &str> = BTreeMap::new();
        for line in output.lines() {
            let Some((oid, name)) = line.split_once('\t') else {
                continue;
            };
            let (oid, name) = (oid.trim(), name.trim());
            if let Some(target) = oid.strip_prefix("ref: ") {
                if name == "HEAD" {
                    refs.default_branch = target.trim().strip_prefix("refs/heads/").map(str::to_owned);
                }
                continue;
            }
            if let Some(tag) = name.strip_prefix("refs/tags/") {
                if let Some(tag) = tag.strip_suffix("^{}") {
                    peeled.insert(tag, oid);
                } else {
                    refs.tags.insert(
                        tag.to_owned(),
                        TagTarget {
                            object: oid.to_owned(),
                            commit: oid.to_owned(),
                        },
                    );
                }
            } else if let Some(branch) = name.strip_prefix("refs/heads/") {
                refs.branches.insert(branch.to_owned(), oid.to_owned());
            }
        }
        for (tag, commit) in peeled {
            if let Some(target) = refs.tags.get_mut(tag) {
                target.commit = commit.to_owned();
            }
        }
        refs
    }
}

/// What to fetch into the bare cache.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FetchTarget {
    /// One tag (`refs/tags/<name>`).
    Tag(String),
    /// One branch (`refs/heads/<name>`).
    Branch(String),
    /// The remote's default branch, by name: fetched like a branch, and remembered as
    /// the cache's `HEAD` so offline resolution knows the default too.
    DefaultBranch(String),
    /// One commit, full or abbreviated. A full id is asked for directly; when the
    /// server refuses unadvertised objects, or the id is abbreviated, every branch and
    /// tag is fetched instead.
    Commit(String),
}

/// Access to git repositories, by URL.
///
/// Implementations keep fetched objects in a cache so that the same (URL, commit) is
/// fetched once, and so that offline mode can work from it. They are `Send + Sync` so
/// the host can resolve from a blocking task of its async runtime.
pub trait GitSource: Send + Sync {
    /// Tags and branches the remote advertises now.
    fn list_remote_refs(&self, url: &str) -> Result<RemoteRefs, GitError>;

    /// Tags and branches of the cached copy of `url`, or `None` when nothing of it is
    /// cached. Offline resolution uses this instead of [`GitSource::list_remote_refs`].
    fn list_cached_refs(&self, url: &str) -> Result<Option<RemoteRefs>, GitError>;

    /// Fetches `target` from `url` into the cache.
    fn fetch(&self, url: &str, target: &FetchTarget) -> Result<(), GitError>;

    /// The full id of `commit` (possibly abbreviated) if the cache holds that commit.
    fn find_commit(&self, url: &str, commit: &str) -> Result<Option<String>, GitError>;

    /// A read-only tree of `commit` (which must be cached), keyed by commit: the same
    /// commit always yields the same directory, and a directory that exists is
    /// complete.
    fn checkout(&self, url: &str, commit: &str) -> Result<PathBuf, GitError>;

    /// Checks `url`, which a third-party module declared (the user did not), before the
    /// network is reached for it: where such a module may make this machine fetch from
    /// is the host's policy. Everything passes by default.
    fn check_declared_url(&self, url: &str) -> Result<(), GitError> {
        let _ = url;
        Ok(())
    }
}

/// How a git command failed, read from its stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// The host name did not resolve.
    UnknownHost { host: Option<String> },
    /// The repository does not exist, or git could not authenticate to it (servers
    /// answer both the same way so as not to reveal private repositories).
    RepositoryNotFound,
    /// The connection failed: refused, unreachable, timed out.
    NetworkUnreachable,
    /// Anything else; git's stderr says what.
    Other,
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailureKind::UnknownHost { host: Some(host) } => write!(f, "unknown host `{host}`"),
            FailureKind::UnknownHost { host: None } => write!(f, "unknown host"),
            FailureKind::RepositoryNotFound => write!(f, "repository not found or access denied"),
            FailureKind::NetworkUnreachable => write!(f, "network unreachable"),
            FailureKind::Other => write!(f, "git failed"),
        }
    }
}

/// A failure of the git layer. Every variant names what was being done and on what
/// (command, URL, path), and [`GitError::hint`] says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// `git` itself could not be started.
    #[error("could not run `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: io::Error,
    },
    /// `git` ran and failed.
    #[error("{kind}{}\n  command: {command}{}", url.as_ref().map(|url| format!(": {url}")).unwrap_or_default(), render_stderr(stderr))]
    Failed {
        command: String,
        url: Option<String>,
        kind: FailureKind,
        stderr: String,
    },
    /// The commit is not in the repository (after fetching).
    #[error("commit `{commit}` does not exist in {url}")]
    CommitNotFound { url: String, commit: String },
    /// A fetch received more than the cache may take from it.
    #[error("{url} sends more than {limit} bytes, the most one fetch may add to the module cache (TANTO_CACHE_MAX_SIZE)")]
    FetchTooBig { url: String, limit: u64 },
    /// A commit's files take more than the cache may hold of them.
    #[error("the files of {url} at {commit} take more than {limit} bytes, the most one checkout may take in the module cache (TANTO_CACHE_MAX_SIZE)")]
    CheckoutTooBig { url: String, commit: String, limit: u64 },
    /// A third-party module declared a URL the host does not let it reach.
    #[error("{reason}")]
    Refused { url: String, reason: String },
    /// Offline mode, and the cache holds nothing of this repository.
    #[error("{url} is not in the module cache")]
    NotCached { url: String },
    /// A file-system operation on the cache failed.
    #[error("could not {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn render_stderr(stderr: &str) -> String {
    let stderr = stderr.trim();
    if stderr.is_empty() {
        return String::new();
    }
    let mut text = String::from("\n  git said:");
    for line in stderr.lines() {
        text.push_str("\n    ");
        text.push_str(line);
    }
    text
}

impl GitError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            GitError::Failed { kind, url, .. } => {
                let url = url.clone().unwrap_or_default();
                match kind {
                    FailureKind::UnknownHost { host } => Some(Hint::CheckHost {
                        host: host.clone().unwrap_or(url),
                    }),
                    FailureKind::RepositoryNotFound => Some(Hint::CheckCredentials { url }),
                    FailureKind::NetworkUnreachable => Some(Hint::CheckNetwork { url }),
                    FailureKind::Other => None,
                }
            }
            GitError::CommitNotFound { .. } => Some(Hint::CheckVersionSpec),
            GitError::NotCached { .. } => Some(Hint::FillCache),
            GitError::Spawn { .. } | GitError::Io { .. } | GitError::Refused { .. } | GitError::FetchTooBig { .. } | GitError::CheckoutTooBig { .. } => None,
        }
    }

    /// How the command failed, when it was a failed git command.
    pub fn failure_kind(&self) -> Option<&FailureKind> {
        match self {
            GitError::Failed { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ls_remote_output_peels_annotated_tags() {
        let output = "\
ref: refs/heads/main\tHEAD
1111111111111111111111111111111111111111\tHEAD
1111111111111111111111111111111111111111\trefs/heads/main
2222222222222222222222222222222222222222\trefs/tags/v1.0.0
3333333333333333333333333333333333333333\trefs/tags/v1.0.0^{}
4444444444444444444444444444444444444444\trefs/tags/light
5555555555555555555555555555555555555555\trefs/heads/feature/x
";
        let refs = RemoteRefs::parse_ls_remote(output);
        assert_eq!(
            refs.tags["v1.0.0"],
            TagTarget {
                object: "2".repeat(40),
                commit: "3".repeat(40),
            }
        );
        assert_eq!(refs.tags["light"].commit, "4".repeat(40));
        assert_eq!(refs.branches["main"], "1".repeat(40));
        assert_eq!(refs.branches["feature/x"], "5".repeat(40));
        assert_eq!(refs.tags.len(), 2);
        assert_eq!(refs.branches.len(), 2);
        assert_eq!(refs.default_branch.as_deref(), Some("main"));
    }
}
