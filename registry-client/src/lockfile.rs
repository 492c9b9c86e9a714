//! Reading, writing and verifying `tanto.lock` (the format is in
//! [`crate::schema::lock`]).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::git::RemoteRefs;
use crate::hash::{HashError, content_hash};
use crate::hint::Hint;
use crate::manifest::line_column;
use crate::schema::lock::{LOCKFILE_VERSION, LockedModule, Lockfile};

/// A lockfile that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LockfileError {
    /// A file operation failed.
    #[error("could not {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file is not a valid lockfile, at this line and column.
    #[error("invalid lockfile `{}` at line {line}, column {column}: {message}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// The file uses a format version this crate does not know.
    #[error("lockfile `{}` has format version {found}; this tanto reads version {LOCKFILE_VERSION}", path.display())]
    UnsupportedVersion { path: PathBuf, found: u32 },
    /// The lockfile could not be serialized.
    #[error("could not serialize lockfile `{}`: {message}", path.display())]
    Serialize { path: PathBuf, message: String },
}

impl LockfileError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            LockfileError::UnsupportedVersion { .. } => Some(Hint::UpgradeTanto),
            LockfileError::Parse { .. } => Some(Hint::RunInstall),
            LockfileError::Io { .. } | LockfileError::Serialize { .. } => None,
        }
    }
}

/// Reads the lockfile at `path`; `Ok(None)` when it does not exist.
pub fn read_lockfile(path: &Path) -> Result<Option<Lockfile>, LockfileError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(LockfileError::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            });
        }
    };
    parse_lockfile(path, &text).map(Some)
}

/// Parses lockfile text read from `path` (named in errors).
pub fn parse_lockfile(path: &Path, text: &str) -> Result<Lockfile, LockfileError> {
    let lockfile = Lockfile::from_toml(text).map_err(|error| {
        let (line, column) = error.span().map(|span| line_column(text, span.start)).unwrap_or((1, 1));
        LockfileError::Parse {
            path: path.to_path_buf(),
            line,
            column,
            message: error.message().trim().to_owned(),
        }
    })?;
    if lockfile.version != LOCKFILE_VERSION {
        return Err(LockfileError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: lockfile.version,
        });
    }
    Ok(lockfile)
}

/// Writes `lockfile` to `path` in canonical form, only when the bytes differ from what
/// is there; returns whether the file changed.
///
/// The write is atomic (a temporary file in the same folder, synced, then renamed
/// over the old one), so a crash leaves either the old or the new lockfile, never a
/// truncated one.
pub fn write_lockfile(path: &Path, lockfile: &Lockfile) -> Result<bool, LockfileError> {
    let text = lockfile.to_toml().map_err(|error| LockfileError::Serialize {
        path: path.to_path_buf(),
        message: error.to_string(),
    })?;
    match fs::read(path) {
        Ok(existing) if existing == text.as_bytes() => return Ok(false),
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(LockfileError::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            });
        }
    }
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "tanto.lock".to_owned());
    let temporary = directory.join(format!(".{file_name}.tmp-{}", crate::git::unique_suffix()));
    let io_error = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| LockfileError::Io { action, path, source }
    };
    let result = (|| {
        let mut file = fs::File::create(&temporary).map_err(io_error("create", &temporary))?;
        file.write_all(text.as_bytes()).map_err(io_error("write", &temporary))?;
        file.sync_all().map_err(io_error("sync", &temporary))?;
        fs::rename(&temporary, path).map_err(io_error("replace", path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result.map(|()| true)
}

/// A locked module that no longer matches what the lock recorded. Each variant holds
/// the lock entry (expected values) and what was found.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The tag the lock followed now points at another commit (or is gone).
    #[error(
        "tag `{}` of {} ({}) has moved: tanto.lock has commit {}, the repository now has {}",
        entry.tag.as_deref().unwrap_or_default(),
        entry.id(),
        entry.source,
        entry.commit,
        found.as_deref().map(|found| format!("commit {found}")).unwrap_or_else(|| "no such tag".to_owned())
    )]
    TagMoved { entry: Box<LockedModule>, found: Option<String> },
    /// The checkout's content differs from the hash the lock recorded.
    #[error(
        "the content of {} ({}) at commit {} does not match tanto.lock: expected {}, found {found}",
        entry.id(),
        entry.source,
        entry.commit,
        entry.hash
    )]
    ContentMismatch {
        entry: Box<LockedModule>,
        found: String,
        checkout: PathBuf,
    },
    /// The checkout is at another commit than the lock recorded.
    #[error("{} ({}) is at commit {found}, but tanto.lock has commit {}", entry.id(), entry.source, entry.commit)]
    CommitMismatch { entry: Box<LockedModule>, found: String },
    /// A component's digest differs from the one the lock recorded.
    #[error(
        "the component of {} does not match tanto.lock: expected {}, found {found}",
        entry.id(),
        entry.component.as_deref().unwrap_or_default()
    )]
    ComponentMismatch { entry: Box<LockedModule>, found: String },
    /// The checkout could not be hashed.
    #[error("could not verify {dependency}: {error}")]
    Hash { dependency: String, error: HashError },
}

impl VerifyError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            VerifyError::TagMoved { entry, .. } | VerifyError::CommitMismatch { entry, .. } | VerifyError::ComponentMismatch { entry, .. } => {
                Some(Hint::RunUpdate {
                    names: vec![entry.name.clone()],
                })
            }
            VerifyError::ContentMismatch { checkout, .. } => Some(Hint::RemoveCheckout { path: checkout.clone() }),
            VerifyError::Hash { .. } => None,
        }
    }

    /// The lock entry that failed verification, when there is one.
    pub fn entry(&self) -> Option<&LockedModule> {
        match self {
            VerifyError::TagMoved { entry, .. }
            | VerifyError::ContentMismatch { entry, .. }
            | VerifyError::CommitMismatch { entry, .. }
            | VerifyError::ComponentMismatch { entry, .. } => Some(entry),
            VerifyError::Hash { .. } => None,
        }
    }
}

/// Checks that the tag a lock entry followed still points at the locked commit.
/// Entries that follow a branch or a commit always pass: a branch moving is expected,
/// and the lock pins the commit anyway.
pub fn verify_tag(entry: &LockedModule, refs: &RemoteRefs) -> Result<(), VerifyError> {
    let Some(tag) = &entry.tag else {
        return Ok(());
    };
    let found = refs.tags.get(tag).map(|target| target.commit.clone());
    if found.as_deref() == Some(entry.commit.as_str()) {
        return Ok(());
    }
    Err(VerifyError::TagMoved {
        entry: Box::new(entry.clone()),
        found,
    })
}

/// Checks a fresh checkout of a lock entry: the commit must be the locked one and the
/// content hash of `module_dir` (the subpath inside the checkout) the locked hash.
pub fn verify_checkout(entry: &LockedModule, commit: &str, module_dir: &Path) -> Result<(), VerifyError> {
    if commit != entry.commit {
        return Err(VerifyError::CommitMismatch {
            entry: Box::new(entry.clone()),
            found: commit.to_owned(),
        });
    }
    let found = content_hash(module_dir).map_err(|error| VerifyError::Hash { dependency: entry.id(), error })?;
    verify_hash(entry, &found, module_dir)
}

/// Compares an already computed content hash with the locked one.
pub fn verify_hash(entry: &LockedModule, found: &str, module_dir: &Path) -> Result<(), VerifyError> {
    if found == entry.hash {
        return Ok(());
    }
    Err(VerifyError::ContentMismatch {
        entry: Box::new(entry.clone()),
        found: found.to_owned(),
        checkout: module_dir.to_path_buf(),
    })
}

/// Checks a component digest (computed by the host) against the locked one. An entry
/// without a recorded component passes: the host records it on first build.
pub fn verify_component(entry: &LockedModule, digest: &str) -> Result<(), VerifyError> {
    match &entry.component {
        Some(expected) if expected != digest => Err(VerifyError::ComponentMismatch {
            entry: Box::new(entry.clone()),
            found: digest.to_owned(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::TagTarget;

    fn entry() -> LockedModule {
        LockedModule {
            name: "golang".into(),
            source: "github.com/acme/ci-modules/golang".into(),
            requirements: vec!["^1".into()],
            version: Some(semver::Version::new(1, 2, 0)),
            tag: Some("golang/v1.2.0".into()),
            branch: None,
            commit: "a".repeat(40),
            subpath: Some("golang".into()),
            hash: "sha256:00".into(),
            component: None,
            dependencies: vec![],
        }
    }

    #[test]
    fn writes_only_when_content_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tanto.lock");
        let mut lock = Lockfile::new();
        lock.modules.push(entry());
        assert!(write_lockfile(&path, &lock).expect("write"));
        assert!(!write_lockfile(&path, &lock).expect("write again"));
        assert_eq!(read_lockfile(&path).expect("read"), Some(lock.clone()));
        lock.modules[0].component = Some("sha256:11".into());
        assert!(write_lockfile(&path, &lock).expect("write changed"));
        // No temporary files are left behind.
        let names: Vec<_> = fs::read_dir(dir.path()).expect("list").map(|entry| entry.expect("entry").file_name()).collect();
        assert_eq!(names, ["tanto.lock"]);
        assert_eq!(read_lockfile(&dir.path().join("missing.lock")).expect("read"), None);
    }

    #[test]
    fn malformed_lockfiles_name_file_and_line() {
        let path = Path::new("/project/tanto.lock");
        let error = parse_lockfile(path, "version = 1\n\n[[module]]\nname = \"x\"\ncommit = 5\n").expect_err("malformed");
        insta::assert_snapshot!(error.to_string());
        let error = parse_lockfile(path, "version = 7\n").expect_err("future version");
        assert!(matches!(error, LockfileError::UnsupportedVersion { found: 7, .. }));
    }

    #[test]
    fn moved_tags_and_tampered_content_are_errors() {
        let entry = entry();
        let mut refs = RemoteRefs::default();
        refs.tags.insert(
            "golang/v1.2.0".into(),
            TagTarget {
                object: "c".repeat(40),
                commit: "a".repeat(40),
            },
        );
        verify_tag(&entry, &refs).expect("tag in place");
        refs.tags.get_mut("golang/v1.2.0").expect("tag").commit = "b".repeat(40);
        let error = verify_tag(&entry, &refs).expect_err("moved");
        insta::assert_snapshot!(error.to_string(), @"tag `golang/v1.2.0` of golang@1.2.0 (github.com/acme/ci-modules/golang) has moved: tanto.lock has commit aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, the repository now has commit bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
        assert_eq!(
            error.hint().map(|hint| hint.to_string()).as_deref(),
            Some("if the change is expected, run `tanto update golang` to accept it")
        );

        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("tanto.toml"), "name = \"golang\"\n").expect("write");
        let error = verify_checkout(&entry, &entry.commit, dir.path()).expect_err("tampered");
        assert!(matches!(&error, VerifyError::ContentMismatch { entry, .. } if entry.hash == "sha256:00"));
        let mut good = entry.clone();
        good.hash = content_hash(dir.path()).expect("hash");
        verify_checkout(&good, &good.commit, dir.path()).expect("matches");
        assert!(matches!(
            verify_checkout(&good, &"b".repeat(40), dir.path()),
            Err(VerifyError::CommitMismatch { .. })
        ));
        assert!(verify_component(&good, "sha256:x").is_ok());
    }
}
