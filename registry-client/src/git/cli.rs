//! [`GitSource`] over the system `git` command.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::debug;

use super::bounded::{Fetched, FilesSizeError, PACKS_ONLY, files_size, run_bounded_fetch};
use super::{CacheLayout, FailureKind, FetchTarget, GitError, GitSource, RemoteRefs, TagTarget};
use crate::reference::is_commit_like;

/// How to run `git`: which program, and extra environment variables for every
/// invocation.
///
/// The process environment is inherited (so `HOME`, `SSH_AUTH_SOCK`, proxies and the
/// user's git config apply); `env` entries are added on top. Tests use `env` to point
/// `GIT_CONFIG_GLOBAL` at a file with `url.<base>.insteadOf` rules instead of mutating
/// the process environment. Every invocation also gets `GIT_TERMINAL_PROMPT=0`, so a
/// private repository fails with an error instead of waiting for a password nobody
/// will type, and `LC_ALL=C`, so git's messages can be classified.
#[derive(Debug, Clone)]
pub struct GitConfig {
    program: OsString,
    env: Vec<(OsString, OsString)>,
    /// The host's check of URLs third-party modules declare (see
    /// [`GitSource::check_declared_url`]).
    declared_url_check: Option<DeclaredUrlCheck>,
    /// The most bytes one fetch may add to the cache, and the files of one checkout take.
    size_limit: Option<u64>,
}

/// Answers whether a URL a third-party module declared may be fetched, and how git is to
/// reach it; `Err` says why not.
pub type DeclaredUrlCheck = fn(&str) -> Result<Reach, String>;

/// How git reaches a URL a third-party module declared, as the host's check answered: the
/// URL to give git (the address checked in place of a name, say) and settings
/// (`name=value`, each given with `-c`) that keep git on what was checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reach {
    pub url: String,
    pub settings: Vec<String>,
}

impl Reach {
    /// The settings as git's `-c NAME=VALUE` options, for before its command.
    pub fn setting_args(&self) -> Vec<OsString> {
        self.settings
            .iter()
            .flat_map(|setting| [OsString::from("-c"), OsString::from(setting)])
            .collect()
    }
}

impl Default for GitConfig {
    fn default() -> Self {
        GitConfig {
            program: OsString::from("git"),
            env: Vec::new(),
            declared_url_check: None,
            size_limit: None,
        }
    }
}

/// The outcome of a git command that ran to completion.
pub(crate) struct Finished {
    pub(crate) success: bool,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) command: String,
}

impl GitConfig {
    /// `git` from `PATH`, with the inherited environment.
    pub fn new() -> GitConfig {
        GitConfig::default()
    }

    /// Runs `program` instead of `git` from `PATH`.
    pub fn with_program(mut self, program: impl Into<OsString>) -> GitConfig {
        self.program = program.into();
        self
    }

    /// Adds an environment variable to every git invocation.
    pub fn with_env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> GitConfig {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Checks the URLs third-party modules declare with `check` before git reaches them.
    pub fn with_declared_url_check(mut self, check: DeclaredUrlCheck) -> GitConfig {
        self.declared_url_check = Some(check);
        self
    }

    /// Stops a fetch once what it received passes `limit` bytes, and refuses to check out
    /// a commit whose files take more: a repository may not fill the disk.
    pub fn with_size_limit(mut self, limit: u64) -> GitConfig {
        self.size_limit = Some(limit);
        self
    }

    /// Renders a command line for messages (arguments with spaces are quoted).
    fn describe(&self, args: &[&OsStr]) -> String {
        let mut text = self.program.to_string_lossy().into_owned();
        for arg in args {
            let arg = arg.to_string_lossy();
            text.push(' ');
            if arg.contains(char::is_whitespace) || arg.is_empty() {
                text.push('\'');
                text.push_str(&arg);
                text.push('\'');
            } else {
                text.push_str(&arg);
            }
        }
        text
    }

    /// git with `args` and this configuration's environment, not started.
    fn command(&self, args: &[&OsStr], extra_env: &[(&str, &OsStr)]) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(args)
            .envs(self.env.iter().map(|(key, value)| (key, value)))
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .stdin(Stdio::null());
        for (key, value) in extra_env {
            command.env(key, value);
        }
        command
    }

    /// Runs git and collects its output; fails only when git cannot be started.
    pub(crate) fn output(&self, args: &[&OsStr], current_dir: Option<&Path>, extra_env: &[(&str, &OsStr)]) -> Result<Finished, GitError> {
        let command_line = self.describe(args);
        debug!(command = %command_line, "running git");
        let mut command = self.command(args, extra_env);
        if let Some(dir) = current_dir {
            command.current_dir(dir);
        }
        let output = command.output().map_err(|source| GitError::Spawn {
            command: command_line.clone(),
            source,
        })?;
        Ok(Finished {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            command: command_line,
        })
    }

    /// Runs git and returns its stdout; a non-zero exit becomes [`GitError::Failed`]
    /// classified from stderr.
    pub(crate) fn run(&self, args: &[&OsStr], current_dir: Option<&Path>, url: Option<&str>) -> Result<String, GitError> {
        self.run_with_env(args, current_dir, url, &[])
    }

    pub(crate) fn run_with_env(
        &self,
        args: &[&OsStr],
        current_dir: Option<&Path>,
        url: Option<&str>,
        extra_env: &[(&str, &OsStr)],
    ) -> Result<String, GitError> {
        let finished = self.output(args, current_dir, extra_env)?;
        if finished.success { Ok(finished.stdout) } else { Err(failed(finished, url)) }
    }
}

/// Turns a failed command into a classified [`GitError::Failed`].
pub(crate) fn failed(finished: Finished, url: Option<&str>) -> GitError {
    GitError::Failed {
        kind: classify(&finished.stderr, url),
        command: finished.command,
        url: url.map(str::to_owned),
        stderr: finished.stderr.trim().to_owned(),
    }
}

/// Reads git's (C locale) stderr to tell DNS, access and network failures apart.
pub(crate) fn classify(stderr: &str, url: Option<&str>) -> FailureKind {
    let lower = stderr.to_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|needle| lower.contains(needle));
    if any(&[
        "could not resolve host",
        "could not resolve hostname",
        "name or service not known",
        "temporary failure in name resolution",
        "nodename nor servname",
        "no address associated with hostname",
        "unable to look up",
    ]) {
        FailureKind::UnknownHost { host: url.and_then(url_host) }
    } else if any(&[
        "repository not found",
        "does not appear to be a git repository",
        "not exported",
        "access denied",
        "authentication failed",
        "could not read username",
        "could not read password",
        "terminal prompts disabled",
        "permission denied",
        "returned error: 401",
        "returned error: 403",
        "returned error: 404",
        "not found",
    ]) {
        FailureKind::RepositoryNotFound
    } else if any(&[
        "network is unreachable",
        "connection refused",
        "connection timed out",
        "operation timed out",
        "failed to connect",
        "could not connect",
        "unable to connect",
        "no route to host",
        "connection reset",
    ]) {
        FailureKind::NetworkUnreachable
    } else {
        FailureKind::Other
    }
}

/// The host of a clone URL (`https://user@host:port/x`, `user@host:x`).
pub(crate) fn url_host(url: &str) -> Option<String> {
    let (authority, has_scheme) = match url.split_once("://") {
        Some((_, rest)) => (rest.split('/').next()?, true),
        None => (url.split(':').next()?, false),
    };
    let host = authority.rsplit('@').next()?;
    let host = if has_scheme {
        host.rsplit_once(':').map(|(host, _)| host).unwrap_or(host)
    } else {
        host
    };
    (!host.is_empty()).then(|| host.to_owned())
}

/// A name no other process or thread uses, for temporary siblings of cache entries.
pub(crate) fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.subsec_nanos()).unwrap_or(0);
    format!("{}-{}-{}", std::process::id(), nanos, COUNTER.fetch_add(1, Ordering::Relaxed))
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> GitError + use<> {
    let path = path.to_path_buf();
    move |source| GitError::Io { action, path, source }
}

/// The real [`GitSource`]: the system `git` command plus an on-disk cache (see
/// [`CacheLayout`]).
///
/// Concurrency: changes to one bare repository happen under a file lock, so two tanto
/// processes can share a cache; checkouts are built in a temporary sibling and renamed
/// into place, so a checkout directory that exists is always complete.
///
/// Checkouts are written with `read-tree` + `checkout-index` into the temporary folder,
/// using a private index file: unlike `git worktree add`, that leaves no metadata in
/// the bare repository pointing at a path that is renamed afterwards, and unlike
/// `git archive | tar -x` it needs no second program and ignores `export-ignore`, so
/// the tree is exactly the commit's.
#[derive(Debug, Clone)]
pub struct GitCli {
    config: GitConfig,
    cache: CacheLayout,
    /// How the host's check said to reach the URLs third parties declared, by URL.
    reaches: Arc<Mutex<HashMap<String, Reach>>>,
}

impl GitCli {
    /// A git source that runs `config` and caches under `cache`.
    pub fn new(config: GitConfig, cache: CacheLayout) -> GitCli {
        GitCli {
            config,
            cache,
            reaches: Arc::default(),
        }
    }

    /// The settings (as `-c` arguments) and the URL to give git for `url`: as the host's
    /// check of a URL a third party declared said, else none and `url` itself.
    fn reach(&self, url: &str) -> (Vec<OsString>, OsString) {
        let reaches = self.reaches.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match reaches.get(url) {
            Some(reach) => (
                reach
                    .settings
                    .iter()
                    .flat_map(|setting| [OsString::from("-c"), OsString::from(setting)])
                    .collect(),
                OsString::from(&reach.url),
            ),
            None => (Vec::new(), OsString::from(url)),
        }
    }

    /// The cache layout in use.
    pub fn cache(&self) -> &CacheLayout {
        &self.cache
    }

    /// How git is run.
    pub fn config(&self) -> &GitConfig {
        &self.config
    }

    fn check_url(url: &str) -> Result<(), GitError> {
        // A URL starting with `-` would be read by git as an option.
        if url.starts_with('-') || url.is_empty() {
            return Err(GitError::Failed {
                command: String::new(),
                url: Some(url.to_owned()),
                kind: FailureKind::Other,
                stderr: "refusing a URL that starts with `-` or is empty".to_owned(),
            });
        }
        Ok(())
    }

    /// Holds the file lock of `url`'s bare repository until the returned file drops.
    fn lock_database(&self, url: &str) -> Result<File, GitError> {
        let path = self.cache.database_lock(url);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_error("create directory", parent))?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_error("open lock file", &path))?;
        file.lock().map_err(io_error("lock", &path))?;
        Ok(file)
    }

    /// The bare repository for `url`, created (atomically) if missing. Call with the
    /// database lock held.
    fn ensure_database(&self, url: &str) -> Result<PathBuf, GitError> {
        let database = self.cache.database(url);
        if database.join("HEAD").is_file() {
            return Ok(database);
        }
        let parent = database.parent().map(Path::to_path_buf).unwrap_or_else(|| self.cache.root().to_path_buf());
        fs::create_dir_all(&parent).map_err(io_error("create directory", &parent))?;
        if database.exists() {
            // Left over from an interrupted creation (no HEAD): start again.
            fs::remove_dir_all(&database).map_err(io_error("remove", &database))?;
        }
        let temporary = parent.join(format!(".tmp-{}", unique_suffix()));
        self.config.run(
            &[OsStr::new("init"), OsStr::new("--bare"), OsStr::new("--quiet"), temporary.as_os_str()],
            None,
            None,
        )?;
        fs::rename(&temporary, &database).map_err(io_error("create", &database))?;
        Ok(database)
    }

    fn fetch_refspecs(&self, database: &Path, url: &str, refspecs: &[&str]) -> Result<(), GitError> {
        let git_dir = git_dir_arg(database);
        let (settings, reached) = self.reach(url);
        let mut args: Vec<&OsStr> = settings.iter().map(OsString::as_os_str).collect();
        args.extend(PACKS_ONLY.iter().map(OsStr::new));
        args.extend([
            git_dir.as_os_str(),
            OsStr::new("fetch"),
            OsStr::new("--quiet"),
            OsStr::new("--no-tags"),
            reached.as_os_str(),
        ]);
        args.extend(refspecs.iter().map(OsStr::new));
        let Some(limit) = self.config.size_limit else {
            self.config.run(&args, None, Some(url))?;
            return Ok(());
        };
        let command_line = self.config.describe(&args);
        debug!(command = %command_line, limit, "running git, bounded");
        match run_bounded_fetch(self.config.command(&args, &[]), database, limit) {
            Ok(Fetched::Exited { success: true, .. }) => Ok(()),
            Ok(Fetched::Exited { stdout, stderr, .. }) => Err(failed(
                Finished {
                    success: false,
                    stdout,
                    stderr,
                    command: command_line,
                },
                Some(url),
            )),
            Ok(Fetched::TooBig) => Err(GitError::FetchTooBig { url: url.to_owned(), limit }),
            Err(source) => Err(GitError::Spawn { command: command_line, source }),
        }
    }

    fn fetch_everything(&self, database: &Path, url: &str) -> Result<(), GitError> {
        self.fetch_refspecs(database, url, &["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"])
    }
}

fn git_dir_arg(database: &Path) -> OsString {
    let mut arg = OsString::from("--git-dir=");
    arg.push(database);
    arg
}

impl GitSource for GitCli {
    fn list_remote_refs(&self, url: &str) -> Result<RemoteRefs, GitError> {
        Self::check_url(url)?;
        let (settings, reached) = self.reach(url);
        let mut args: Vec<&OsStr> = settings.iter().map(OsString::as_os_str).collect();
        args.extend([
            OsStr::new("ls-remote"),
            OsStr::new("--symref"),
            reached.as_os_str(),
            OsStr::new("HEAD"),
            OsStr::new("refs/heads/*"),
            OsStr::new("refs/tags/*"),
        ]);
        let output = self.config.run(&args, None, Some(url))?;
        Ok(RemoteRefs::parse_ls_remote(&output))
    }

    fn list_cached_refs(&self, url: &str) -> Result<Option<RemoteRefs>, GitError> {
        let database = self.cache.database(url);
        if !database.join("HEAD").is_file() {
            return Ok(None);
        }
        let git_dir = git_dir_arg(&database);
        let output = self.config.run(
            &[
                git_dir.as_os_str(),
                OsStr::new("for-each-ref"),
                OsStr::new("--format=%(objectname)%09%(refname)%09%(*objectname)"),
                OsStr::new("refs/tags"),
                OsStr::new("refs/heads"),
            ],
            None,
            Some(url),
        )?;
        let mut refs = RemoteRefs::default();
        for line in output.lines() {
            let mut fields = line.split('\t');
            let (Some(object), Some(name)) = (fields.next(), fields.next()) else {
                continue;
            };
            let peeled = fields.next().unwrap_or_default();
            if let Some(tag) = name.strip_prefix("refs/tags/") {
                let commit = if peeled.is_empty() { object } else { peeled };
                refs.tags.insert(
                    tag.to_owned(),
                    TagTarget {
                        object: object.to_owned(),
                        commit: commit.to_owned(),
                    },
                );
            } else if let Some(branch) = name.strip_prefix("refs/heads/") {
                refs.branches.insert(branch.to_owned(), object.to_owned());
            }
        }
        let head = self.config.output(
            &[git_dir.as_os_str(), OsStr::new("symbolic-ref"), OsStr::new("--quiet"), OsStr::new("HEAD")],
            None,
            &[],
        )?;
        if head.success
            && let Some(branch) = head.stdout.trim().strip_prefix("refs/heads/")
            && refs.branches.contains_key(branch)
        {
            refs.default_branch = Some(branch.to_owned());
        }
        Ok(Some(refs))
    }

    fn fetch(&self, url: &str, target: &FetchTarget) -> Result<(), GitError> {
        Self::check_url(url)?;
        let _lock = self.lock_database(url)?;
        let database = self.ensure_database(url)?;
        debug!(url, ?target, "fetching into the cache");
        match target {
            FetchTarget::Tag(tag) => {
                let refspec = format!("+refs/tags/{tag}:refs/tags/{tag}");
                self.fetch_refspecs(&database, url, &[&refspec])
            }
            FetchTarget::Branch(branch) => {
                let refspec = format!("+refs/heads/{branch}:refs/heads/{branch}");
                self.fetch_refspecs(&database, url, &[&refspec])
            }
            FetchTarget::DefaultBranch(branch) => {
                let refspec = format!("+refs/heads/{branch}:refs/heads/{branch}");
                self.fetch_refspecs(&database, url, &[&refspec])?;
                let git_dir = git_dir_arg(&database);
                let head = format!("refs/heads/{branch}");
                self.config.run(
                    &[git_dir.as_os_str(), OsStr::new("symbolic-ref"), OsStr::new("HEAD"), OsStr::new(&head)],
                    None,
                    Some(url),
                )?;
                Ok(())
            }
            FetchTarget::Commit(commit) if commit.len() == 40 && is_commit_like(commit) => {
                let refspec = format!("{commit}:refs/tanto/commits/{commit}");
                match self.fetch_refspecs(&database, url, &[&refspec]) {
                    Ok(()) => Ok(()),
                    Err(GitError::Failed { kind: FailureKind::Other, .. }) => {
                        debug!(url, commit, "server refused the commit id; fetching all refs");
                        self.fetch_everything(&database, url)
                    }
                    Err(error) => Err(error),
                }
            }
            FetchTarget::Commit(_) => self.fetch_everything(&database, url),
        }
    }

    fn find_commit(&self, url: &str, commit: &str) -> Result<Option<String>, GitError> {
        let database = self.cache.database(url);
        if !is_commit_like(commit) || !database.join("HEAD").is_file() {
            return Ok(None);
        }
        let git_dir = git_dir_arg(&database);
        let revision = format!("{commit}^{{commit}}");
        let finished = self.config.output(
            &[
                git_dir.as_os_str(),
                OsStr::new("rev-parse"),
                OsStr::new("--verify"),
                OsStr::new("--quiet"),
                OsStr::new(&revision),
            ],
            None,
            &[],
        )?;
        if finished.success {
            let full = finished.stdout.trim();
            return Ok((!full.is_empty()).then(|| full.to_owned()));
        }
        if finished.stderr.contains("ambiguous") {
            return Err(failed(finished, Some(url)));
        }
        Ok(None)
    }

    fn checkout(&self, url: &str, commit: &str) -> Result<PathBuf, GitError> {
        if commit.len() != 40 || !is_commit_like(commit) {
            return Err(GitError::CommitNotFound {
                url: url.to_owned(),
                commit: commit.to_owned(),
            });
        }
        let destination = self.cache.checkout(url, commit);
        if destination.is_dir() {
            return Ok(destination);
        }
        let database = self.cache.database(url);
        if let Some(limit) = self.config.size_limit {
            let size = files_size(self.config.command(&[], &[]), &database, commit, limit).map_err(|error| match error {
                FilesSizeError::Spawn(source) => GitError::Spawn {
                    command: self.config.describe(&[OsStr::new("ls-tree"), OsStr::new(commit)]),
                    source,
                },
                error => GitError::Failed {
                    command: self.config.describe(&[OsStr::new("ls-tree"), OsStr::new(commit)]),
                    url: Some(url.to_owned()),
                    kind: FailureKind::Other,
                    stderr: error.to_string(),
                },
            })?;
            if size > limit {
                return Err(GitError::CheckoutTooBig {
                    url: url.to_owned(),
                    commit: commit.to_owned(),
                    limit,
                });
            }
        }
        let parent = self.cache.checkouts(url);
        fs::create_dir_all(&parent).map_err(io_error("create directory", &parent))?;
        let suffix = unique_suffix();
        let temporary = parent.join(format!(".tmp-{commit}-{suffix}"));
        let index = parent.join(format!(".tmp-{commit}-{suffix}.index"));
        fs::create_dir(&temporary).map_err(io_error("create directory", &temporary))?;
        let git_dir = git_dir_arg(&database);
        let mut work_tree = OsString::from("--work-tree=");
        work_tree.push(&temporary);
        let index_env = [("GIT_INDEX_FILE", index.as_os_str())];
        let result = self
            .config
            .run_with_env(
                &[git_dir.as_os_str(), work_tree.as_os_str(), OsStr::new("read-tree"), OsStr::new(commit)],
                None,
                Some(url),
                &index_env,
            )
            .and_then(|_| {
                self.config.run_with_env(
                    &[
                        git_dir.as_os_str(),
                        work_tree.as_os_str(),
                        OsStr::new("checkout-index"),
                        OsStr::new("--all"),
                        OsStr::new("--force"),
                    ],
                    None,
                    Some(url),
                    &index_env,
                )
            });
        let _ = fs::remove_file(&index);
        if let Err(error) = result {
            let _ = fs::remove_dir_all(&temporary);
            return Err(error);
        }
        match fs::rename(&temporary, &destination) {
            Ok(()) => {
                debug!(url, commit, path = %destination.display(), "checked out");
                Ok(destination)
            }
            Err(_) if destination.is_dir() => {
                // Another process finished the same checkout first; theirs is complete.
                let _ = fs::remove_dir_all(&temporary);
                Ok(destination)
            }
            Err(source) => {
                let _ = fs::remove_dir_all(&temporary);
                Err(GitError::Io {
                    action: "move checkout into place at",
                    path: destination,
                    source,
                })
            }
        }
    }

    fn check_declared_url(&self, url: &str) -> Result<(), GitError> {
        let Some(check) = self.config.declared_url_check else {
            return Ok(());
        };
        let reach = check(url).map_err(|reason| GitError::Refused { url: url.to_owned(), reason })?;
        self.reaches
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(url.to_owned(), reach);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified() {
        let url = Some("https://nope.invalid/a/b");
        assert_eq!(
            classify("fatal: unable to access 'https://nope.invalid/a/b/': Could not resolve host: nope.invalid", url),
            FailureKind::UnknownHost {
                host: Some("nope.invalid".into())
            }
        );
        assert_eq!(
            classify("fatal: remote error: access denied or repository not exported: /a/b", url),
            FailureKind::RepositoryNotFound
        );
        assert_eq!(
            classify("remote: Repository not found.\nfatal: repository 'https://github.com/a/b/' not found", url),
            FailureKind::RepositoryNotFound
        );
        assert_eq!(
            classify("fatal: could not read Username for 'https://github.com': terminal prompts disabled", url),
            FailureKind::RepositoryNotFound
        );
        assert_eq!(
            classify("fatal: unable to connect to 127.0.0.1:\n127.0.0.1[0: 127.0.0.1]: errno=Connection refused", url),
            FailureKind::NetworkUnreachable
        );
        assert_eq!(classify("fatal: bad object", url), FailureKind::Other);
    }

    #[test]
    fn hosts_are_read_from_urls() {
        assert_eq!(url_host("https://github.com/a/b").as_deref(), Some("github.com"));
        assert_eq!(url_host("ssh://git@example.com:2222/a/b").as_deref(), Some("example.com"));
        assert_eq!(url_host("git@github.com:a/b").as_deref(), Some("github.com"));
    }
}
