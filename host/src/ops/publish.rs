//! `tanto publish`: release the module in the nearest `tanto.toml` as a git tag.
//!
//! A release is an annotated tag, `subpath/vX.Y.Z` for a module in a subfolder of its
//! repository and `vX.Y.Z` at the root, pushed to a remote (see
//! [`tanto_registry::publish`]). Before tagging, the module must be loadable by the
//! people who will install it: a module built from source must build, and a prebuilt
//! component must exist **and be committed** (a component ignored by git would be
//! missing from every checkout of the tag).
//!
//! # Why `--version` is required
//!
//! `tanto.toml` has no version field: the tag is the version, as in Go modules and the
//! Daggerverse. Guessing "the next patch" would publish a breaking change as a patch
//! the first time someone forgets the flag, and that tag can never be taken back
//! (released versions are immutable), so the user states the version.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use semver::Version;
use tanto_registry::git::GitConfig;
use tanto_registry::publish::{PublishOptions, Published};

use crate::error::{Diagnose, ErrorKind, Hint};
use crate::module::build::build_module;
use crate::module::{Manifest, find_module_root};

/// `tanto publish --version X.Y.Z [--remote NAME]`.
#[derive(Clone, Debug)]
pub struct PublishSettings {
    /// The nearest `tanto.toml` at or above this folder is the module.
    pub working_dir: PathBuf,
    /// Where builds are cached.
    pub cache_root: PathBuf,
    pub version: Version,
    /// The git remote to push the tag to.
    pub remote: String,
}

/// The module is not ready to publish.
#[derive(Debug, thiserror::Error)]
pub enum PublishCheckError {
    /// `component = "..."` names a file that does not exist.
    #[error("the prebuilt component `{}` named in {} does not exist", component.display(), manifest.display())]
    ComponentMissing { component: PathBuf, manifest: PathBuf },
    /// The prebuilt component is not in the repository.
    #[error("the prebuilt component `{}` is not committed, so a checkout of the release would not have it", component.display())]
    ComponentNotCommitted { component: PathBuf },
}

impl Diagnose for PublishCheckError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::User
    }

    fn hint(&self) -> Option<Hint> {
        Some(match self {
            PublishCheckError::ComponentMissing { .. } => Hint::BuildComponent,
            PublishCheckError::ComponentNotCommitted { component } => Hint::CommitComponent { component: component.clone() },
        })
    }
}

/// Checks the module, tags the current commit as `settings.version` and pushes the tag.
pub async fn publish(settings: PublishSettings) -> anyhow::Result<Published> {
    tokio::task::spawn_blocking(move || publish_blocking(settings))
        .await
        .map_err(|error| anyhow::anyhow!("the publish task stopped: {error}"))?
}

fn publish_blocking(settings: PublishSettings) -> anyhow::Result<Published> {
    let PublishSettings {
        working_dir,
        cache_root,
        version,
        remote,
    } = settings;
    let root = find_module_root(&working_dir)?;
    let manifest = Manifest::read(&root)?;
    match &manifest.component {
        Some(component) => check_prebuilt(&root, component)?,
        // Only a check that it builds: no display is set up for publishing.
        None => {
            build_module(
                manifest.sdk,
                &root.join(&manifest.source),
                &cache_root,
                tanto_registry::resolve::Network::Online,
                &crate::engine::StepReporter::silent(),
            )?;
        }
    }
    // The process environment is git's own: credentials, SSH agents and insteadOf
    // rules apply to the push exactly as to the user's `git push`.
    let published = tanto_registry::publish::publish(&GitConfig::new(), &root, &PublishOptions { version, remote })?;
    Ok(published)
}

fn check_prebuilt(root: &Path, component: &Path) -> Result<(), PublishCheckError> {
    let path = root.join(component);
    if !path.is_file() {
        return Err(PublishCheckError::ComponentMissing {
            component: component.to_path_buf(),
            manifest: root.join(crate::module::MANIFEST_NAME),
        });
    }
    // `--error-unmatch` fails for a file git does not track. Outside a work tree it
    // fails too; the registry's publish then reports the missing repository itself.
    let tracked = git_succeeds(root, &["ls-files".as_ref(), "--error-unmatch".as_ref(), "--".as_ref(), component.as_os_str()]);
    let in_work_tree = git_succeeds(root, &["rev-parse".as_ref(), "--is-inside-work-tree".as_ref()]);
    if in_work_tree && !tracked {
        return Err(PublishCheckError::ComponentNotCommitted {
            component: component.to_path_buf(),
        });
    }
    Ok(())
}

/// Whether `git ARGS` run quietly in `dir` succeeds.
fn git_succeeds(dir: &Path, args: &[&std::ffi::OsStr]) -> bool {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}
