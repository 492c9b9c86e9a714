//! An in-memory [`GitSource`] for unit tests of resolution and installation.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use super::{CacheLayout, FailureKind, FetchTarget, GitError, GitSource, RemoteRefs, TagTarget};

/// One fake repository: its refs and the files of each commit.
#[derive(Debug, Clone, Default)]
pub struct FakeRepository {
    /// Tags and branches.
    pub refs: RemoteRefs,
    /// Commit id → (path → file contents).
    pub commits: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
}

impl FakeRepository {
    /// An empty repository.
    pub fn new() -> FakeRepository {
        FakeRepository::default()
    }

    /// Adds a commit with these files.
    pub fn commit(mut self, id: &str, files: &[(&str, &str)]) -> FakeRepository {
        let files = files
            .iter()
            .map(|(path, contents)| ((*path).to_owned(), contents.as_bytes().to_vec()))
            .collect();
        self.commits.insert(id.to_owned(), files);
        self
    }

    /// Adds a lightweight tag.
    pub fn tag(mut self, name: &str, commit: &str) -> FakeRepository {
        self.refs.tags.insert(
            name.to_owned(),
            TagTarget {
                object: commit.to_owned(),
                commit: commit.to_owned(),
            },
        );
        self
    }

    /// Adds a branch.
    pub fn branch(mut self, name: &str, commit: &str) -> FakeRepository {
        self.refs.branches.insert(name.to_owned(), commit.to_owned());
        self
    }

    /// Names the default branch (`HEAD`).
    pub fn default_branch(mut self, name: &str) -> FakeRepository {
        self.refs.default_branch = Some(name.to_owned());
        self
    }
}

#[derive(Debug, Default)]
struct State {
    remotes: BTreeMap<String, FakeRepository>,
    cached: BTreeMap<String, FakeRepository>,
    fetches: Vec<(String, FetchTarget)>,
}

/// A [`GitSource`] whose remotes are [`FakeRepository`] values. Fetches copy refs and
/// commits into a simulated cache (so offline mode can be tested); checkouts are real
/// directories under the given root, so content hashing and manifests work as usual.
#[derive(Debug)]
pub struct FakeGit {
    layout: CacheLayout,
    state: Mutex<State>,
}

impl FakeGit {
    /// A fake whose checkouts are written under `root`.
    pub fn new(root: impl Into<PathBuf>) -> FakeGit {
        FakeGit {
            layout: CacheLayout::new(root),
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Serves `repository` at `url` (replacing what was there: a way to move tags).
    pub fn set_repository(&self, url: &str, repository: FakeRepository) {
        self.state().remotes.insert(url.to_owned(), repository);
    }

    /// The remote repository at `url` as it now is (empty when there is none), to
    /// change it and set it again.
    pub fn repository(&self, url: &str) -> FakeRepository {
        self.state().remotes.get(url).cloned().unwrap_or_default()
    }

    /// Every fetch made so far, in order.
    pub fn fetches(&self) -> Vec<(String, FetchTarget)> {
        self.state().fetches.clone()
    }

    fn not_found(url: &str) -> GitError {
        GitError::Failed {
            command: format!("git ls-remote --tags --heads {url}"),
            url: Some(url.to_owned()),
            kind: FailureKind::RepositoryNotFound,
            stderr: "fatal: repository not found".to_owned(),
        }
    }
}

impl GitSource for FakeGit {
    fn list_remote_refs(&self, url: &str) -> Result<RemoteRefs, GitError> {
        self.state()
            .remotes
            .get(url)
            .map(|repository| repository.refs.clone())
            .ok_or_else(|| Self::not_found(url))
    }

    fn list_cached_refs(&self, url: &str) -> Result<Option<RemoteRefs>, GitError> {
        Ok(self.state().cached.get(url).map(|repository| repository.refs.clone()))
    }

    fn fetch(&self, url: &str, target: &FetchTarget) -> Result<(), GitError> {
        let mut state = self.state();
        state.fetches.push((url.to_owned(), target.clone()));
        let remote = state.remotes.get(url).cloned().ok_or_else(|| Self::not_found(url))?;
        let cached = state.cached.entry(url.to_owned()).or_default();
        let mut copy_commit = |commit: &str| {
            if let Some(files) = remote.commits.get(commit) {
                cached.commits.insert(commit.to_owned(), files.clone());
            }
        };
        match target {
            FetchTarget::Tag(tag) => {
                if let Some(target) = remote.refs.tags.get(tag) {
                    copy_commit(&target.commit);
                    cached.refs.tags.insert(tag.clone(), target.clone());
                }
            }
            FetchTarget::Branch(branch) | FetchTarget::DefaultBranch(branch) => {
                if let Some(commit) = remote.refs.branches.get(branch) {
                    copy_commit(commit);
                    cached.refs.branches.insert(branch.clone(), commit.clone());
                }
                if matches!(target, FetchTarget::DefaultBranch(_)) {
                    cached.refs.default_branch = Some(branch.clone());
                }
            }
            FetchTarget::Commit(commit) => {
                for id in remote.commits.keys() {
                    if id.starts_with(commit.as_str()) {
                        copy_commit(id);
                    }
                }
            }
        }
        Ok(())
    }

    fn find_commit(&self, url: &str, commit: &str) -> Result<Option<String>, GitError> {
        let state = self.state();
        let Some(cached) = state.cached.get(url) else {
            return Ok(None);
        };
        let matches: Vec<&String> = cached.commits.keys().filter(|id| id.starts_with(commit)).collect();
        match matches.as_slice() {
            [one] => Ok(Some((*one).clone())),
            [] => Ok(None),
            _ => Err(GitError::Failed {
                command: format!("git rev-parse {commit}"),
                url: Some(url.to_owned()),
                kind: FailureKind::Other,
                stderr: format!("error: short object ID {commit} is ambiguous"),
            }),
        }
    }

    fn checkout(&self, url: &str, commit: &str) -> Result<PathBuf, GitError> {
        let files = self
            .state()
            .cached
            .get(url)
            .and_then(|repository| repository.commits.get(commit).cloned())
            .ok_or_else(|| GitError::CommitNotFound {
                url: url.to_owned(),
                commit: commit.to_owned(),
            })?;
        let destination = self.layout.checkout(url, commit);
        if destination.is_dir() {
            return Ok(destination);
        }
        for (path, contents) in files {
            let file = destination.join(&path);
            if let Some(parent) = file.parent() {
                fs::create_dir_all(parent).map_err(|source| GitError::Io {
                    action: "create directory",
                    path: parent.to_path_buf(),
                    source,
                })?;
            }
            fs::write(&file, contents).map_err(|source| GitError::Io {
                action: "write",
                path: file.clone(),
                source,
            })?;
        }
        fs::create_dir_all(&destination).map_err(|source| GitError::Io {
            action: "create directory",
            path: destination.clone(),
            source,
        })?;
        Ok(destination)
    }
}
