//! Publishing a module: tag the commit and push the tag.
//!
//! A release is a git tag: `subpath/vX.Y.Z` for a module in a subfolder (the monorepo
//! tags that [`crate::resolve`] prefers), `vX.Y.Z` for a module at the repository
//! root. The tag is **annotated** (it records who released and when, `git describe`
//! sees it, and resolution peels it to its commit like any other).
//!
//! [`publish`] refuses a dirty work tree (the tag must describe exactly what is
//! committed) and an existing tag (released versions are immutable), creates the tag,
//! pushes it, and returns the release's reference (and, as
//! [`Published::install_reference`], the caret requirement to suggest to users). Building the module before
//! publishing, and notifying an index, are the host's job.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use semver::Version;
use tracing::info;

use crate::git::{GitConfig, GitError};
use crate::hint::Hint;
use crate::manifest::MANIFEST_NAME;
use crate::reference::{Reference, Source, VersionKind, VersionSpec};

/// What to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOptions {
    /// The version to release.
    pub version: Version,
    /// The remote to push to (usually `origin`).
    pub remote: String,
}

/// A published release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The tag created and pushed.
    pub tag: String,
    /// The commit it points at.
    pub commit: String,
    /// The repository root.
    pub repository_root: PathBuf,
    /// The module's folder in the repository, if not the root.
    pub subpath: Option<String>,
    /// The remote's URL as configured (`remote.<name>.url`, before `insteadOf`).
    pub remote_url: String,
    /// This release, exactly (`github.com/owner/repo/subpath@vX.Y.Z`).
    pub reference: Reference,
}

impl Published {
    /// What to suggest users install: a caret requirement on this release
    /// (`github.com/owner/repo/subpath@^X.Y.Z`). An exact tag is a pin `tanto update`
    /// never moves; the caret takes later compatible releases, as `cargo add` writes.
    pub fn install_reference(&self) -> Reference {
        let version = self.reference.version().and_then(|spec| match spec.kind() {
            VersionKind::Exact(version) => Some(version),
            _ => None,
        });
        let Some(version) = version else {
            return self.reference.clone();
        };
        // Build metadata has no meaning in a requirement.
        let requirement = semver::Version {
            build: semver::BuildMetadata::EMPTY,
            ..version.clone()
        };
        match VersionSpec::parse(&format!("^{requirement}")) {
            Ok(spec) => self.reference.clone().with_version(Some(spec)),
            Err(_) => self.reference.clone(),
        }
    }
}

/// Why a release could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The folder is not inside a git work tree.
    #[error("`{}` is not inside a git work tree: {error}", path.display())]
    NotARepository { path: PathBuf, error: Box<GitError> },
    /// The folder has no `tanto.toml`.
    #[error("`{}` is not a module: it has no {MANIFEST_NAME}", path.display())]
    NotAModule { path: PathBuf },
    /// The work tree has uncommitted changes.
    #[error("the work tree `{}` has uncommitted changes:\n{}", root.display(), changes.iter().map(|line| format!("  {line}")).collect::<Vec<_>>().join("\n"))]
    DirtyWorkTree { root: PathBuf, changes: Vec<String> },
    /// The tag exists already.
    #[error("tag `{tag}` already exists {location}")]
    TagExists { tag: String, location: String },
    /// The remote is not configured.
    #[error("the repository has no remote `{remote}`")]
    NoRemote { remote: String },
    /// The remote's URL does not name a hosted repository.
    #[error("remote `{remote}` ({url}) is not a hosted repository URL, so no reference can be derived from it")]
    RemoteNotHosted { remote: String, url: String },
    /// Creating the tag failed.
    #[error("could not create tag `{tag}`: {error}")]
    Tag { tag: String, error: Box<GitError> },
    /// Pushing the tag failed (the local tag was removed again).
    #[error("could not push tag `{tag}` to `{remote}`: {error}")]
    Push { tag: String, remote: String, error: Box<GitError> },
    /// Another git command failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The module folder could not be read.
    #[error("could not read `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl PublishError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            PublishError::DirtyWorkTree { .. } => Some(Hint::CommitOrStash),
            PublishError::TagExists { .. } => Some(Hint::BumpVersion),
            PublishError::RemoteNotHosted { .. } => Some(Hint::UseHostRemote),
            PublishError::Push { error, .. } => error.hint(),
            PublishError::Git(error) => error.hint(),
            _ => None,
        }
    }
}

/// The tag for `version` of a module at `subpath`.
pub fn release_tag(subpath: Option<&str>, version: &Version) -> String {
    match subpath {
        Some(subpath) => format!("{subpath}/v{version}"),
        None => format!("v{version}"),
    }
}

/// Tags the module in `module_dir` as `options.version` and pushes the tag (see the
/// module docs).
pub fn publish(config: &GitConfig, module_dir: &Path, options: &PublishOptions) -> Result<Published, PublishError> {
    let module_dir = module_dir.canonicalize().map_err(|source| PublishError::Io {
        path: module_dir.to_path_buf(),
        source,
    })?;
    if !module_dir.join(MANIFEST_NAME).is_file() {
        return Err(PublishError::NotAModule { path: module_dir });
    }
    let git = |args: &[&str], dir: &Path| -> Result<String, GitError> {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        config.run(&args, Some(dir), None)
    };

    let toplevel = git(&["rev-parse", "--show-toplevel"], &module_dir).map_err(|error| PublishError::NotARepository {
        path: module_dir.clone(),
        error: Box::new(error),
    })?;
    let root = PathBuf::from(toplevel.trim()).canonicalize().map_err(|source| PublishError::Io {
        path: PathBuf::from(toplevel.trim()),
        source,
    })?;
    let subpath = module_dir
        .strip_prefix(&root)
        .ok()
        .map(|relative| {
            relative
                .components()
                .map(|component| component.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/")
        })
        .filter(|subpath| !subpath.is_empty());

    let status = git(&["status", "--porcelain"], &root)?;
    let changes: Vec<String> = status.lines().filter(|line| !line.trim().is_empty()).map(str::to_owned).collect();
    if !changes.is_empty() {
        return Err(PublishError::DirtyWorkTree { root, changes });
    }

    let tag = release_tag(subpath.as_deref(), &options.version);
    let tag_ref = format!("refs/tags/{tag}");
    let local = config.output(
        &[OsStr::new("rev-parse"), OsStr::new("--verify"), OsStr::new("--quiet"), OsStr::new(&tag_ref)],
        Some(&root),
        &[],
    )?;
    if local.success {
        return Err(PublishError::TagExists {
            tag,
            location: "in this repository".to_owned(),
        });
    }

    let url_key = format!("remote.{}.url", options.remote);
    let remote_url = git(&["config", "--get", &url_key], &root)
        .map_err(|_| PublishError::NoRemote {
            remote: options.remote.clone(),
        })?
        .trim()
        .to_owned();
    let reference = release_reference(&remote_url, subpath.as_deref(), &options.version).ok_or_else(|| PublishError::RemoteNotHosted {
        remote: options.remote.clone(),
        url: remote_url.clone(),
    })?;

    let on_remote = config.run(
        &[OsStr::new("ls-remote"), OsStr::new("--tags"), OsStr::new(&options.remote), OsStr::new(&tag_ref)],
        Some(&root),
        Some(&remote_url),
    )?;
    if on_remote.lines().any(|line| !line.trim().is_empty()) {
        return Err(PublishError::TagExists {
            tag,
            location: format!("on remote `{}`", options.remote),
        });
    }

    let commit = git(&["rev-parse", "HEAD"], &root)?.trim().to_owned();
    let message = match &subpath {
        Some(subpath) => format!("Release {subpath} v{}", options.version),
        None => format!("Release v{}", options.version),
    };
    git(&["tag", "--annotate", "--message", &message, &tag, &commit], &root).map_err(|error| PublishError::Tag {
        tag: tag.clone(),
        error: Box::new(error),
    })?;
    if let Err(error) = config.run(
        &[OsStr::new("push"), OsStr::new("--quiet"), OsStr::new(&options.remote), OsStr::new(&tag_ref)],
        Some(&root),
        Some(&remote_url),
    ) {
        // Leave no local tag behind, so publishing again after fixing the cause works.
        let _ = git(&["tag", "--delete", &tag], &root);
        return Err(PublishError::Push {
            tag,
            remote: options.remote.clone(),
            error: Box::new(error),
        });
    }
    info!(%tag, %commit, remote = %options.remote, "published");
    Ok(Published {
        tag,
        commit,
        repository_root: root,
        subpath,
        remote_url,
        reference,
    })
}

/// The reference users install for a release, derived from the remote URL as written:
/// `host/owner/repo[/subpath]@vX.Y.Z` when the repository path has two segments, else
/// the URL form with a `.git` marker so the repository boundary survives.
pub fn release_reference(remote_url: &str, subpath: Option<&str>, version: &Version) -> Option<Reference> {
    let parsed = Reference::parse(remote_url).ok()?;
    let Source::Remote(remote) = parsed.source() else {
        return None;
    };
    if remote.subpath().is_some() || parsed.version().is_some() {
        // A URL whose path is longer than owner/repo without `.git`: keep it whole.
        let base = remote_url.trim_end_matches('/').trim_end_matches(".git");
        let text = match subpath {
            Some(subpath) => format!("{base}.git/{subpath}@v{version}"),
            None => format!("{base}.git@v{version}"),
        };
        return Reference::parse(&text).ok();
    }
    let repository = remote.repository();
    let text = if repository.path().matches('/').count() == 1 {
        match subpath {
            Some(subpath) => format!("{}/{}/{subpath}@v{version}", repository.host(), repository.path()),
            None => format!("{}/{}@v{version}", repository.host(), repository.path()),
        }
    } else {
        let base = repository.clone_url();
        let base = base.trim_end_matches(".git");
        match subpath {
            Some(subpath) => format!("{base}.git/{subpath}@v{version}"),
            None => format!("{base}.git@v{version}"),
        }
    };
    Reference::parse(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_derived_from_remote_urls() {
        let version = Version::new(1, 2, 0);
        let derive = |url: &str, subpath: Option<&str>| release_reference(url, subpath, &version).map(|reference| reference.to_string());
        assert_eq!(
            derive("https://github.com/acme/mono", Some("mods/a")).as_deref(),
            Some("github.com/acme/mono/mods/a@v1.2.0")
        );
        assert_eq!(derive("git@github.com:acme/mono.git", None).as_deref(), Some("github.com/acme/mono@v1.2.0"));
        assert_eq!(
            derive("ssh://git@gitlab.com/group/sub/repo.git", Some("x")).as_deref(),
            Some("ssh://git@gitlab.com/group/sub/repo.git/x@v1.2.0")
        );
        assert_eq!(derive("/srv/git/repo", None), None);
        assert_eq!(derive("file:///srv/git/repo", None), None);
        assert_eq!(release_tag(Some("mods/a"), &version), "mods/a/v1.2.0");

        let suggested = |url: &str, subpath: Option<&str>, version: &str| {
            let version = Version::parse(version).expect("version");
            Published {
                tag: release_tag(subpath, &version),
                commit: "0".repeat(40),
                repository_root: PathBuf::from("/repo"),
                subpath: subpath.map(str::to_owned),
                remote_url: url.to_owned(),
                reference: release_reference(url, subpath, &version).expect("reference"),
            }
            .install_reference()
            .to_string()
        };
        assert_eq!(
            suggested("https://github.com/acme/mono", Some("mods/a"), "1.2.0"),
            "github.com/acme/mono/mods/a@^1.2.0"
        );
        assert_eq!(suggested("git@github.com:acme/tools.git", None, "0.3.1"), "github.com/acme/tools@^0.3.1");
        assert_eq!(
            suggested("https://github.com/acme/tools", None, "2.0.0-rc.1+build.5"),
            "github.com/acme/tools@^2.0.0-rc.1"
        );
        assert_eq!(
            suggested("ssh://git@gitlab.com/group/sub/repo.git", Some("x"), "1.0.0"),
            "ssh://git@gitlab.com/group/sub/repo.git/x@^1.0.0"
        );
        assert_eq!(release_tag(None, &version), "v1.2.0");
    }
}
