//! Version resolution: from a reference and the refs of its repository to one commit.
//!
//! # Which tags count
//!
//! Version tags are `vX.Y.Z` or `X.Y.Z` (semver, pre-releases allowed). For a module in
//! a subpath `sub/dir`, monorepo tags `sub/dir/vX.Y.Z` are preferred: **if any version
//! tag with that prefix exists, only prefixed tags count**, so a root `v1.0.0` (which
//! versions some other module, or the repository as a whole) can never shadow the
//! module's own releases. Without prefixed tags, root tags version every module of the
//! repository.
//!
//! # How a version spec is resolved
//!
//! The spec's parsed [`VersionKind`] is a reading; the repository decides. In order:
//!
//! 1. a tag of exactly that name (in the module's tag namespace: `sub/dir/<spec>` when
//!    prefixed tags exist) → that tag;
//! 2. a branch of that name → the branch head;
//! 3. 7–40 hex digits → that commit (verified to exist after fetching);
//! 4. an exact version (`1.2.0`, `v1.2.0`) → the tag carrying that version;
//! 5. a requirement (`^1.2`, `~1.4`, `1`, `>=1, <2`, `*`) → the highest version that
//!    matches. Pre-releases match only when the requirement itself names a pre-release
//!    of the same `X.Y.Z` (semver's rule), so `^1` never picks `1.5.0-rc.1`;
//! 6. otherwise: an error naming the spec, with the available versions.
//!
//! No version at all means the newest stable version tag, or, in a repository without
//! version tags, the head of the default branch.

use std::fmt;

use semver::Version;
use tracing::debug;

use crate::git::{FetchTarget, GitError, GitSource, RemoteRefs};
use crate::hint::Hint;
use crate::reference::{Reference, VersionKind, is_commit_like, parse_exact_version};

/// Whether resolution may use the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// Ask remotes for their refs and fetch what is missing.
    #[default]
    Online,
    /// Use only what the cache holds; fail, naming the module, when it lacks something.
    Offline,
}

/// A reference resolved to one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The reference as given.
    pub reference: Reference,
    /// The semver version, when the commit was chosen through a version tag.
    pub version: Option<Version>,
    /// The tag that was followed, if any (full name, e.g. `mods/a/v1.0.0`).
    pub tag: Option<String>,
    /// The branch that was followed, if any.
    pub branch: Option<String>,
    /// The full commit id.
    pub commit: String,
}

/// What a version spec selects among a repository's refs, before the commit is known
/// to be fetchable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// A tag and the commit it peels to.
    Tag { name: String, version: Option<Version>, commit: String },
    /// A branch and its head.
    Branch { name: String, commit: String, default: bool },
    /// A commit id, possibly abbreviated, still to be verified.
    Commit { id: String },
}

/// A version tag in a module's namespace.
#[derive(Debug, Clone)]
struct VersionTag<'a> {
    name: &'a str,
    version: Version,
    commit: &'a str,
}

/// A reference that could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// No version tag satisfies the spec.
    #[error("no version of {location} matches `{spec}`{}", render_available(available, *total))]
    NoMatchingVersion {
        location: String,
        spec: String,
        /// The newest versions (at most ten), newest first.
        available: Vec<Version>,
        /// How many versions exist in all.
        total: usize,
    },
    /// The spec names no tag, branch or commit.
    #[error("{location} has no tag, branch or commit named `{spec}`")]
    NotFound { location: String, spec: String },
    /// No version was given, and the repository has neither version tags nor a
    /// default branch.
    #[error("{location} has no version tags and no default branch to follow")]
    NothingToResolve { location: String },
    /// The spec reads as a commit, and the repository has no such commit.
    #[error("commit `{commit}` of {location} does not exist")]
    CommitNotFound { location: String, commit: String },
    /// Offline, and the cache lacks the module (or the needed commit of it).
    #[error("offline mode: {module} is not in the module cache (missing: {needed} of {url})")]
    NotCached { module: String, url: String, needed: String },
    /// A local path has no versions to resolve.
    #[error("`{reference}` is a local path; only git references are resolved")]
    LocalReference { reference: String },
    /// Talking to git failed.
    #[error("could not resolve {reference}: {error}")]
    Git { reference: String, error: GitError },
}

fn render_available(available: &[Version], total: usize) -> String {
    if available.is_empty() {
        return "; the repository has no version tags".to_owned();
    }
    let list: Vec<String> = available.iter().map(Version::to_string).collect();
    let more = total.saturating_sub(available.len());
    if more > 0 {
        format!("; available versions: {} (and {more} older)", list.join(", "))
    } else {
        format!("; available versions: {}", list.join(", "))
    }
}

impl ResolveError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            ResolveError::NoMatchingVersion { available, .. } => {
                if available.is_empty() {
                    Some(Hint::AvailableVersions { versions: vec![] })
                } else {
                    Some(Hint::CheckVersionSpec)
                }
            }
            ResolveError::NotFound { .. } | ResolveError::CommitNotFound { .. } => Some(Hint::CheckVersionSpec),
            ResolveError::NothingToResolve { .. } => Some(Hint::CheckVersionSpec),
            ResolveError::NotCached { .. } => Some(Hint::FillCache),
            ResolveError::LocalReference { .. } => None,
            ResolveError::Git { error, .. } => error.hint(),
        }
    }
}

/// The version tags that count for a module (see the module docs), newest first; for
/// equal versions a `v`-prefixed tag comes first.
fn version_tags<'a>(subpath: Option<&str>, refs: &'a RemoteRefs) -> (String, Vec<VersionTag<'a>>) {
    let collect = |prefix: &str| -> Vec<VersionTag<'a>> {
        let mut tags: Vec<VersionTag<'a>> = refs
            .tags
            .iter()
            .filter_map(|(name, target)| {
                let rest = name.strip_prefix(prefix)?;
                if rest.contains('/') {
                    return None;
                }
                let version = parse_exact_version(rest)?;
                Some(VersionTag {
                    name,
                    version,
                    commit: &target.commit,
                })
            })
            .collect();
        tags.sort_by(|a, b| {
            b.version
                .cmp(&a.version)
                .then_with(|| {
                    let a_v = a.name[prefix.len()..].starts_with('v');
                    let b_v = b.name[prefix.len()..].starts_with('v');
                    b_v.cmp(&a_v)
                })
                .then_with(|| a.name.cmp(b.name))
        });
        tags
    };
    if let Some(subpath) = subpath {
        let prefix = format!("{subpath}/");
        let prefixed = collect(&prefix);
        if !prefixed.is_empty() {
            return (prefix, prefixed);
        }
    }
    (String::new(), collect(""))
}

fn available(tags: &[VersionTag<'_>]) -> (Vec<Version>, usize) {
    let mut versions: Vec<Version> = tags.iter().map(|tag| tag.version.clone()).collect();
    versions.dedup();
    let total = versions.len();
    versions.truncate(10);
    (versions, total)
}

/// Chooses what `reference`'s version spec selects among `refs`, without touching git
/// (see the module docs for the order of the rules).
pub fn select(reference: &Reference, refs: &RemoteRefs) -> Result<Selection, ResolveError> {
    let location = reference.source().to_string();
    let (prefix, tags) = version_tags(reference.subpath(), refs);
    let tag_selection = |tag: &VersionTag<'_>| Selection::Tag {
        name: tag.name.to_owned(),
        version: Some(tag.version.clone()),
        commit: tag.commit.to_owned(),
    };
    let Some(spec) = reference.version() else {
        if let Some(tag) = tags.iter().find(|tag| tag.version.pre.is_empty()) {
            return Ok(tag_selection(tag));
        }
        if let Some(branch) = &refs.default_branch
            && let Some(commit) = refs.branches.get(branch)
        {
            return Ok(Selection::Branch {
                name: branch.clone(),
                commit: commit.clone(),
                default: true,
            });
        }
        return Err(ResolveError::NothingToResolve { location });
    };
    let raw = spec.as_str();

    // 1. A tag of exactly that name, in the module's namespace.
    let literal = if !prefix.is_empty() && !raw.starts_with(&prefix) {
        format!("{prefix}{raw}")
    } else {
        raw.to_owned()
    };
    if let Some(target) = refs.tags.get(&literal) {
        let version = literal.strip_prefix(&prefix).and_then(parse_exact_version);
        return Ok(Selection::Tag {
            name: literal,
            version,
            commit: target.commit.clone(),
        });
    }
    // 2. A branch.
    if let Some(commit) = refs.branches.get(raw) {
        return Ok(Selection::Branch {
            name: raw.to_owned(),
            commit: commit.clone(),
            default: false,
        });
    }
    // 3. A commit id: expand it when a ref advertises it, verify later otherwise.
    if is_commit_like(raw) {
        let lower = raw.to_ascii_lowercase();
        let advertised = refs
            .branches
            .values()
            .chain(refs.tags.values().map(|target| &target.commit))
            .find(|commit| commit.starts_with(&lower));
        return Ok(Selection::Commit {
            id: advertised.cloned().unwrap_or(lower),
        });
    }
    match spec.kind() {
        // 4. An exact version.
        VersionKind::Exact(version) => tags.iter().find(|tag| &tag.version == version).map(tag_selection).ok_or_else(|| {
            let (available, total) = available(&tags);
            ResolveError::NoMatchingVersion {
                location,
                spec: raw.to_owned(),
                available,
                total,
            }
        }),
        // 5. The highest version matching a requirement.
        VersionKind::Requirement(requirement) => tags.iter().find(|tag| requirement.matches(&tag.version)).map(tag_selection).ok_or_else(|| {
            let (available, total) = available(&tags);
            ResolveError::NoMatchingVersion {
                location,
                spec: raw.to_owned(),
                available,
                total,
            }
        }),
        VersionKind::Commit | VersionKind::Branch => Err(ResolveError::NotFound {
            location,
            spec: raw.to_owned(),
        }),
    }
}

/// Resolves `reference` to a commit and makes sure the cache holds it: lists the
/// remote's refs (or the cache's, offline), applies [`select`], fetches what is missing
/// and verifies the commit exists.
pub fn resolve(git: &dyn GitSource, reference: &Reference, network: Network) -> Result<Resolved, ResolveError> {
    let url = reference.clone_url().ok_or_else(|| ResolveError::LocalReference {
        reference: reference.to_string(),
    })?;
    let git_error = |error: GitError| ResolveError::Git {
        reference: reference.to_string(),
        error,
    };
    let refs = match network {
        Network::Online => git.list_remote_refs(&url).map_err(git_error)?,
        Network::Offline => git.list_cached_refs(&url).map_err(git_error)?.ok_or_else(|| ResolveError::NotCached {
            module: reference.to_string(),
            url: url.clone(),
            needed: "the tags and branches".to_owned(),
        })?,
    };
    let selection = select(reference, &refs)?;
    debug!(%reference, ?selection, "selected");
    let (version, tag, branch, commit) = match selection {
        Selection::Tag { name, version, commit } => {
            let target = FetchTarget::Tag(name.clone());
            ensure_commit(git, reference, &url, &commit, &target, network)?;
            (version, Some(name), None, commit)
        }
        Selection::Branch { name, commit, default } => {
            let target = if default {
                FetchTarget::DefaultBranch(name.clone())
            } else {
                FetchTarget::Branch(name.clone())
            };
            ensure_commit(git, reference, &url, &commit, &target, network)?;
            (None, None, Some(name), commit)
        }
        Selection::Commit { id } => {
            let target = FetchTarget::Commit(id.clone());
            let commit = ensure_commit(git, reference, &url, &id, &target, network)?;
            (None, None, None, commit)
        }
    };
    Ok(Resolved {
        reference: reference.clone(),
        version,
        tag,
        branch,
        commit,
    })
}

/// Makes sure the cache holds `commit` of `url`, fetching `target` when online, and
/// returns the full commit id.
pub fn ensure_commit(
    git: &dyn GitSource,
    reference: &Reference,
    url: &str,
    commit: &str,
    target: &FetchTarget,
    network: Network,
) -> Result<String, ResolveError> {
    let git_error = |error: GitError| ResolveError::Git {
        reference: reference.to_string(),
        error,
    };
    let cached_refs_current = || -> Result<bool, ResolveError> {
        let Some(cached) = git.list_cached_refs(url).map_err(git_error)? else {
            return Ok(false);
        };
        Ok(match target {
            FetchTarget::Tag(tag) => cached.tags.get(tag).is_some_and(|t| t.commit == commit),
            FetchTarget::Branch(branch) => cached.branches.get(branch).is_some_and(|c| c == commit),
            FetchTarget::DefaultBranch(branch) => {
                cached.default_branch.as_deref() == Some(branch.as_str()) && cached.branches.get(branch).is_some_and(|c| c == commit)
            }
            FetchTarget::Commit(_) => true,
        })
    };
    if let Some(full) = git.find_commit(url, commit).map_err(git_error)?
        && (network == Network::Offline || cached_refs_current()?)
    {
        return Ok(full);
    }
    if network == Network::Offline {
        return Err(ResolveError::NotCached {
            module: reference.to_string(),
            url: url.to_owned(),
            needed: format!("commit {commit}"),
        });
    }
    git.fetch(url, target).map_err(git_error)?;
    git.find_commit(url, commit).map_err(git_error)?.ok_or_else(|| ResolveError::CommitNotFound {
        location: reference.source().to_string(),
        commit: commit.to_owned(),
    })
}

impl fmt::Display for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = &self.commit[..self.commit.len().min(12)];
        match (&self.version, &self.tag, &self.branch) {
            (Some(version), _, _) => write!(f, "{version} ({short})"),
            (None, Some(tag), _) => write!(f, "{tag} ({short})"),
            (None, None, Some(branch)) => write!(f, "{branch} ({short})"),
            _ => write!(f, "{short}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::{FakeGit, FakeRepository, TagTarget};

    fn commit(n: u8) -> String {
        format!("{n:02x}").repeat(20)
    }

    fn refs(tags: &[(&str, u8)], branches: &[(&str, u8)]) -> RemoteRefs {
        RemoteRefs {
            tags: tags
                .iter()
                .map(|(name, n)| {
                    (
                        (*name).to_owned(),
                        TagTarget {
                            object: commit(*n),
                            commit: commit(*n),
                        },
                    )
                })
                .collect(),
            branches: branches.iter().map(|(name, n)| ((*name).to_owned(), commit(*n))).collect(),
            default_branch: Some("main".to_owned()),
        }
    }

    fn single_module() -> RemoteRefs {
        refs(
            &[("v1.0.0", 1), ("v1.2.0", 2), ("v1.5.0-rc.1", 3), ("v2.0.0", 4), ("unrelated", 9)],
            &[("main", 5), ("feature/x", 6)],
        )
    }

    fn select_str(reference: &str, refs: &RemoteRefs) -> Result<Selection, ResolveError> {
        select(&Reference::parse(reference).expect("reference"), refs)
    }

    fn selected_tag(reference: &str, refs: &RemoteRefs) -> String {
        match select_str(reference, refs) {
            Ok(Selection::Tag { name, .. }) => name,
            other => panic!("{reference}: expected a tag, got {other:?}"),
        }
    }

    #[test]
    fn requirements_pick_the_highest_match_without_pre_releases() {
        let refs = single_module();
        assert_eq!(selected_tag("github.com/acme/m@^1", &refs), "v1.2.0");
        assert_eq!(selected_tag("github.com/acme/m@1", &refs), "v1.2.0");
        assert_eq!(selected_tag("github.com/acme/m@v1", &refs), "v1.2.0");
        assert_eq!(selected_tag("github.com/acme/m@~1.0", &refs), "v1.0.0");
        assert_eq!(selected_tag("github.com/acme/m@>=1.0, <3", &refs), "v2.0.0");
        assert_eq!(selected_tag("github.com/acme/m@*", &refs), "v2.0.0");
        assert_eq!(selected_tag("github.com/acme/m@^1.5.0-rc.0", &refs), "v1.5.0-rc.1");
        assert_eq!(selected_tag("github.com/acme/m", &refs), "v2.0.0");
    }

    #[test]
    fn exact_versions_find_their_tag_with_or_without_v() {
        let refs = single_module();
        assert_eq!(selected_tag("github.com/acme/m@v1.2.0", &refs), "v1.2.0");
        assert_eq!(selected_tag("github.com/acme/m@1.2.0", &refs), "v1.2.0");
        assert_eq!(selected_tag("github.com/acme/m@v1.5.0-rc.1", &refs), "v1.5.0-rc.1");
        assert_eq!(selected_tag("github.com/acme/m@unrelated", &refs), "unrelated");
    }

    #[test]
    fn branches_and_commits_resolve() {
        let refs = single_module();
        assert_eq!(
            select_str("github.com/acme/m@feature/x", &refs).expect("branch"),
            Selection::Branch {
                name: "feature/x".into(),
                commit: commit(6),
                default: false
            }
        );
        assert_eq!(
            select_str(&format!("github.com/acme/m@{}", &commit(5)[..8]), &refs).expect("commit"),
            Selection::Commit { id: commit(5) }
        );
        assert_eq!(
            select_str("github.com/acme/m@abcdef1", &refs).expect("commit"),
            Selection::Commit { id: "abcdef1".into() }
        );
        assert!(matches!(select_str("github.com/acme/m@nope", &refs), Err(ResolveError::NotFound { .. })));
    }

    #[test]
    fn existing_names_win_over_the_parsed_reading() {
        // A branch named like a requirement, and a tag named like a commit.
        let refs = refs(&[("v1.0.0", 1), ("abcdef12", 2)], &[("v1", 3)]);
        assert!(matches!(
            select_str("github.com/acme/m@v1", &refs),
            Ok(Selection::Branch { name, .. }) if name == "v1"
        ));
        assert_eq!(selected_tag("github.com/acme/m@abcdef12", &refs), "abcdef12");
    }

    #[test]
    fn monorepo_prefixed_tags_win_over_root_tags() {
        let refs = refs(
            &[("v9.0.0", 9), ("mods/a/v1.0.0", 1), ("mods/a/v1.1.0", 2), ("mods/b/v2.0.0", 3)],
            &[("main", 5)],
        );
        assert_eq!(selected_tag("github.com/acme/mono/mods/a@^1", &refs), "mods/a/v1.1.0");
        assert_eq!(selected_tag("github.com/acme/mono/mods/a", &refs), "mods/a/v1.1.0");
        assert_eq!(selected_tag("github.com/acme/mono/mods/a@v1.0.0", &refs), "mods/a/v1.0.0");
        assert_eq!(selected_tag("github.com/acme/mono/mods/a@mods/a/v1.0.0", &refs), "mods/a/v1.0.0");
        assert_eq!(selected_tag("github.com/acme/mono/mods/b", &refs), "mods/b/v2.0.0");
        // The root tag does not count once prefixed tags exist ...
        assert!(matches!(
            select_str("github.com/acme/mono/mods/a@^9", &refs),
            Err(ResolveError::NoMatchingVersion { .. })
        ));
        // ... but versions a module without prefixed tags.
        assert_eq!(selected_tag("github.com/acme/mono/mods/c@^9", &refs), "v9.0.0");
    }

    #[test]
    fn no_match_lists_available_versions_newest_first() {
        let error = select_str("github.com/acme/m@^3", &single_module()).expect_err("no match");
        insta::assert_snapshot!(error.to_string(), @"no version of github.com/acme/m matches `^3`; available versions: 2.0.0, 1.5.0-rc.1, 1.2.0, 1.0.0");
        let many: Vec<(String, u8)> = (0..15).map(|minor| (format!("v1.{minor}.0"), 1)).collect();
        let many: Vec<(&str, u8)> = many.iter().map(|(name, n)| (name.as_str(), *n)).collect();
        let error = select_str("github.com/acme/m@^2", &refs(&many, &[])).expect_err("no match");
        insta::assert_snapshot!(error.to_string(), @"no version of github.com/acme/m matches `^2`; available versions: 1.14.0, 1.13.0, 1.12.0, 1.11.0, 1.10.0, 1.9.0, 1.8.0, 1.7.0, 1.6.0, 1.5.0 (and 5 older)");
    }

    #[test]
    fn no_version_without_tags_follows_the_default_branch() {
        let refs = refs(&[], &[("main", 5), ("dev", 6)]);
        assert_eq!(
            select_str("github.com/acme/m", &refs).expect("default branch"),
            Selection::Branch {
                name: "main".into(),
                commit: commit(5),
                default: true
            }
        );
    }

    #[test]
    fn resolve_fetches_and_verifies_through_the_git_source() {
        let root = tempfile::tempdir().expect("tempdir");
        let git = FakeGit::new(root.path());
        let url = "https://github.com/acme/m";
        git.set_repository(
            url,
            FakeRepository::new()
                .commit(&commit(1), &[("tanto.toml", "name = \"m\"\n")])
                .commit(&commit(2), &[("tanto.toml", "name = \"m\"\n")])
                .tag("v1.0.0", &commit(1))
                .branch("main", &commit(2)),
        );
        let reference = Reference::parse("github.com/acme/m@^1").expect("reference");
        let resolved = resolve(&git, &reference, Network::Online).expect("resolve");
        assert_eq!(resolved.commit, commit(1));
        assert_eq!(resolved.tag.as_deref(), Some("v1.0.0"));
        assert_eq!(resolved.version, Some(Version::new(1, 0, 0)));

        // The same resolution works offline from the cache, without fetching again.
        let fetches = git.fetches().len();
        let offline = resolve(&git, &reference, Network::Offline).expect("offline");
        assert_eq!(offline, resolved);
        assert_eq!(git.fetches().len(), fetches);

        // A commit that does not exist is reported after fetching.
        let missing = Reference::parse("github.com/acme/m@abcdef1").expect("reference");
        assert!(matches!(resolve(&git, &missing, Network::Online), Err(ResolveError::CommitNotFound { .. })));
        // Offline, an uncached repository names the module.
        let other = Reference::parse("github.com/acme/other@^1").expect("reference");
        let error = resolve(&git, &other, Network::Offline).expect_err("not cached");
        assert!(error.to_string().contains("github.com/acme/other@^1"), "{error}");
    }
}
