//! Evaluating network sources: git refs (resolved with `git ls-remote`, fetched once per
//! commit into a bare repository the cache owns, checked out into the tree cache) and
//! files over HTTP (streamed to disk, kept by content).
//!
//! Git runs as the system `git`, so the user's credential helpers, SSH agent, proxies
//! and `url.<base>.insteadOf` apply, but hardened against what an untrusted module could
//! name: network transports only (`GIT_ALLOW_PROTOCOL`, `protocol.file.allow=never`), no
//! prompts, no hooks, no submodules.

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use sha2::{Digest as _, Sha256};
use tanto_registry::git::{Fetched, FilesSizeError};

use super::{blocking, local_error};
use crate::engine::digest::{Digest, Hasher};
use crate::engine::sources::{
    GitRef, GitReference, LOCAL_ADDRESSES, Reach, check_git_url, check_http_url, display_url, git_remote, is_local_address, is_local_host, local_url_refused,
    local_urls_allowed,
};
use crate::engine::tree::{FileEntry, Filter, HashCache, IgnoreFiles, Tree};
use crate::engine::{Engine, EngineError};

/// Resolves names as the system does and drops this machine's own and link-local
/// addresses: a module's download never connects to them (a name that resolves only to
/// them fails).
struct RemoteOnly;

impl reqwest::dns::Resolve for RemoteOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addresses: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|address| !is_local_address(address.ip()))
                .collect();
            if addresses.is_empty() {
                return Err(format!("{host} resolves to no address but {LOCAL_ADDRESSES}, which modules may not fetch from").into());
            }
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The transports git may use, whatever `insteadOf` rewrites a URL to.
const ALLOWED_PROTOCOLS: &str = "https:http:ssh:git";

/// How long an HTTP download may take, start to end, before it fails.
const HTTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

impl Engine {
    /// The commit `git_ref` resolves to, once per process.
    pub async fn git_commit(&self, git_ref: &GitRef) -> Result<String, EngineError> {
        self.memo
            .commits
            .0
            .run(git_ref.digest(), || async {
                check_git_url(&git_ref.0.url)?;
                let url = git_ref.0.url.to_string();
                let reference = git_ref.0.reference.clone();
                blocking(move || resolve(&url, &reference)).await
            })
            .await
    }

    /// The tree of the commit `git_ref` resolves to, from the tree cache when that
    /// commit was checked out before.
    pub(super) async fn git_tree(&self, git_ref: &GitRef) -> Result<Arc<Tree>, EngineError> {
        let commit = self.git_commit(git_ref).await?;
        let mut hasher = Hasher::new("git-tree");
        hasher.str(&commit);
        let key = hasher.finish();
        let installed = self
            .cached_tree_dir(&key, "a git checkout", |work| async move {
                let database = self.store.root().join("git").join(Digest::of_bytes(git_ref.0.url.as_bytes()).hex());
                let url = git_ref.0.url.to_string();
                // Both the fetched objects and the files checked out stay in the cache, so
                // neither may be bigger than the cache may grow.
                let limit = self.max_download;
                blocking(move || {
                    fetch_commit(&database, &url, &commit, limit)?;
                    checkout(&database, &url, &commit, &work.path().join("root"), limit)?;
                    Ok(work)
                })
                .await
            })
            .await?;
        let root = installed.join("root");
        blocking(move || {
            let tree = HashCache::with_installed(&installed, |hashes| Tree::from_host(&root, &Filter::default(), IgnoreFiles::None, hashes))?;
            Ok(Arc::new(tree.with_git_modes()))
        })
        .await
    }

    /// The file at `url`, downloaded (each process downloads it once) and kept in the
    /// tree cache by its content's sha256.
    pub(super) async fn http_file(&self, url: &str) -> Result<FileEntry, EngineError> {
        check_http_url(url)?;
        let shown = display_url(url);
        let failed = |error: reqwest::Error| EngineError::Failed(format!("GET {shown}: {}", error_chain(&error)));
        let mut client = reqwest::Client::builder().timeout(HTTP_TIMEOUT);
        if !local_urls_allowed() {
            if reqwest::Url::parse(url).ok().and_then(|parsed| parsed.host_str().map(is_local_host)) != Some(false) {
                return Err(local_url_refused(url, "URL"));
            }
            // Every hop is checked: a redirect's literal address here, any name as it is
            // resolved (so neither a redirect nor DNS can lead back to this machine).
            client = client
                .redirect(reqwest::redirect::Policy::custom(|attempt| {
                    if attempt.previous().len() >= 10 {
                        attempt.error("more than 10 redirects")
                    } else if attempt.url().host_str().is_none_or(is_local_host) {
                        attempt.error(format!("it redirects to {LOCAL_ADDRESSES}, which modules may not fetch from"))
                    } else {
                        attempt.follow()
                    }
                }))
                .dns_resolver(Arc::new(RemoteOnly));
        }
        let client = client.build().map_err(failed)?;
        let mut response = client.get(url).send().await.map_err(failed)?;
        let status = response.status();
        if !status.is_success() {
            let message = format!("GET {shown}: the server answered {status}");
            return Err(if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
                EngineError::NotFound(message)
            } else {
                EngineError::Failed(message)
            });
        }
        // Kept in the cache, so no bigger than the cache may grow: told before the body
        // when the server says its length, else as soon as the body passes it.
        let too_big = || {
            EngineError::Failed(format!(
                "GET {shown}: the file is larger than the cache's size ceiling ({}); raise TANTO_CACHE_MAX_SIZE to download it",
                crate::util::human_bytes(self.max_download)
            ))
        };
        if response.content_length().is_some_and(|length| length > self.max_download) {
            return Err(too_big());
        }
        // Streamed to disk chunk by chunk: memory stays bounded whatever the size.
        let work = self.store.temp_dir().map_err(local_error("cannot create a work folder"))?;
        let download = work.path().join("root");
        let mut file = std::io::BufWriter::new(std::fs::File::create(&download).map_err(local_error("cannot create a download file"))?);
        let mut hasher = Sha256::new();
        let mut received: u64 = 0;
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            received += chunk.len() as u64;
            if received > self.max_download {
                return Err(too_big());
            }
            hasher.update(&chunk);
            file.write_all(&chunk).map_err(local_error("cannot write a download"))?;
        }
        file.into_inner()
            .map_err(|error| EngineError::Local(format!("cannot write a download: {}", error.error())))?
            .sync_all()
            .map_err(local_error("cannot write a download"))?;
        let content = hex::encode(hasher.finalize());
        let mut key = Hasher::new("http-file");
        key.str(&content);
        let key = key.finish();
        self.pin(&key);
        self.grew.store(true, Ordering::Relaxed);
        let installed = self.store.install_tree(&key, work).map_err(local_error("cannot store a download"))?;
        blocking(move || {
            Ok(HashCache::with_installed(&installed, |hashes| {
                FileEntry::from_host(&installed.join("root"), hashes)
            })?)
        })
        .await
    }
}

/// An error with its causes (reqwest's own message hides why a connection failed).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

/// `git` hardened for URLs an untrusted module gives: the user's configuration and
/// credentials apply, but only network transports, no prompts, no hooks, no submodules.
fn git(args: &[&str]) -> Command {
    let mut command = Command::new("git");
    command
        .args(["-c", "protocol.file.allow=never", "-c", "protocol.ext.allow=never"])
        .args(["-c", "core.hooksPath=/dev/null", "-c", "submodule.recurse=false", "-c", "core.symlinks=true"])
        .args(["-c", "http.lowSpeedLimit=1", "-c", "http.lowSpeedTime=120"])
        .args(args)
        .env("GIT_ALLOW_PROTOCOL", ALLOWED_PROTOCOLS)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_PROTOCOL_FROM_USER", "0")
        .env("LC_ALL", "C")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .stdin(Stdio::null());
    command
}

/// `git ls-remote` of `remote`, patterns to follow.
fn ls_remote(remote: &Reach) -> Command {
    let mut command = git(&[]);
    command.args(remote.setting_args());
    command.args(["ls-remote", "--"]).arg(&remote.url);
    command
}

/// `url` checked and git kept on what was checked (see [`git_remote`]), just before git
/// reaches it.
fn checked_remote(url: &str) -> Result<Reach, EngineError> {
    let mut expand = git(&["ls-remote", "--get-url", "--"]);
    expand.arg(url);
    let expanded = run(expand, &format!("git ls-remote --get-url {}", display_url(url)))?;
    git_remote(url, expanded.trim_end() != url)
}

/// Whether `url`, a dependency a third-party module declared, may be fetched, and how git
/// is to reach it: the rule of the git sources a module reads (see [`git_remote`]),
/// checked as the install is about to reach it.
pub(crate) fn check_declared_module_url(url: &str) -> Result<Reach, String> {
    checked_remote(url).map_err(|error| error.to_string())
}

/// `error` of git reaching `remote`, told why when the server redirected git.
fn not_redirected(error: EngineError, remote: &Reach) -> EngineError {
    match error {
        EngineError::Failed(message)
            if remote.settings.iter().any(|setting| setting == "http.followRedirects=false") && message.contains("returned error: 30") =>
        {
            EngineError::Failed(format!(
                "{message} (the server redirects elsewhere: tanto does not let git follow a module's git URL to another address, which could be one of {LOCAL_ADDRESSES}; use the URL it redirects to)"
            ))
        }
        error => error,
    }
}

/// Runs `command`; its stdout, or an error naming `what` with git's stderr.
fn run(mut command: Command, what: &str) -> Result<String, EngineError> {
    let output = command.output().map_err(|error| cannot_run_git(what, &error))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(EngineError::Failed(format!("{what}: {}", String::from_utf8_lossy(&output.stderr).trim())))
    }
}

fn is_full_commit(id: &str) -> bool {
    (id.len() == 40 || id.len() == 64) && id.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// The commit `reference` of `url` points at, asked of the remote.
fn resolve(url: &str, reference: &GitReference) -> Result<String, EngineError> {
    let shown = display_url(url);
    let name = reference.name();
    if let GitReference::Commit(id) = reference {
        return if is_full_commit(id) {
            Ok(id.to_ascii_lowercase())
        } else {
            Err(EngineError::InvalidArgument(format!(
                "commit {id:?} of {shown} is not a full commit id (40 hexadecimal digits)"
            )))
        };
    }
    if name.is_empty() || name.starts_with('-') || name.contains(|c: char| c.is_control() || c.is_whitespace()) {
        return Err(EngineError::InvalidArgument(format!("{reference} of {shown} is not a valid ref name")));
    }
    let candidates: Vec<String> = match reference {
        GitReference::Branch(name) => vec![format!("refs/heads/{name}")],
        GitReference::Tag(name) => vec![format!("refs/tags/{name}")],
        GitReference::Ref(name) if name.starts_with("refs/") || name == "HEAD" => vec![name.clone()],
        GitReference::Ref(name) => vec![format!("refs/heads/{name}"), format!("refs/tags/{name}")],
        GitReference::Commit(_) => Vec::new(),
    };
    // Checked now, as git is about to reach it, and git kept on what was checked.
    let remote = checked_remote(url)?;
    // A pattern lists no `^{}` line (the commit of an annotated tag) unless asked for.
    let mut command = ls_remote(&remote);
    command.args(candidates.iter().flat_map(|candidate| [candidate.clone(), format!("{candidate}^{{}}")]));
    let listed = run(command, &format!("git ls-remote {shown}")).map_err(|error| not_redirected(error, &remote))?;
    // `<oid>\t<ref>` lines; an annotated tag also has `<ref>^{}` with its commit.
    let oid_of = |wanted: &str| {
        listed
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .find(|(_, name)| *name == wanted)
            .map(|(oid, _)| oid.trim().to_string())
    };
    for candidate in &candidates {
        if let Some(commit) = oid_of(&format!("{candidate}^{{}}")).or_else(|| oid_of(candidate)) {
            return Ok(commit);
        }
    }
    Err(EngineError::NotFound(format!("{shown} has no {reference}")))
}

/// Makes sure the bare repository at `database` holds `commit` of `url`: a commit
/// fetched before is never fetched again. What a fetch adds may not pass `limit` bytes.
fn fetch_commit(database: &Path, url: &str, commit: &str, limit: u64) -> Result<(), EngineError> {
    let shown = display_url(url);
    if database.join("HEAD").exists() && has_commit(database, commit) {
        return Ok(());
    }
    std::fs::create_dir_all(database).map_err(local_error("cannot create a git cache folder"))?;
    // One fetch at a time into a repository, across processes: git's own locks
    // (`shallow.lock`, refs) fail a concurrent fetch rather than wait for it, and the
    // size bound must count what this fetch adds alone. A commit fetched while this one
    // waited is then found below.
    let lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(database.with_extension("lock"))
        .map_err(local_error("cannot open a git cache lock"))?;
    lock.lock().map_err(local_error("cannot lock a git cache folder"))?;
    if !database.join("HEAD").exists() {
        run(git_in(database, None, &["init", "--bare", "--quiet"]), "git init")?;
    }
    if has_commit(database, commit) {
        return Ok(());
    }
    let remote = checked_remote(url)?;
    // By id first (servers that allow it send only what is needed), then everything
    // the remote advertises, for servers that only serve advertised tips.
    let mut by_id = git_in(
        database,
        Some(&remote),
        &["fetch", "--quiet", "--no-tags", "--no-recurse-submodules", "--depth=1", "--"],
    );
    by_id.arg(&remote.url).arg(commit);
    // A failed fetch by id is tried again the other way; one that was too big is not.
    let fetched = match run_bounded(by_id, "", database, limit) {
        Err(Bounded::TooBig) => return Err(Bounded::TooBig.into_error(&shown, limit)),
        fetched => fetched.is_ok(),
    };
    if !fetched || !has_commit(database, commit) {
        let mut everything = git_in(database, Some(&remote), &["fetch", "--quiet", "--no-recurse-submodules", "--"]);
        everything
            .arg(&remote.url)
            .args(["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"]);
        run_bounded(everything, &format!("git fetch {shown}"), database, limit)
            .map_err(|stopped| not_redirected(stopped.into_error(&shown, limit), &remote))?;
    }
    if has_commit(database, commit) {
        Ok(())
    } else {
        Err(EngineError::NotFound(format!("{shown} has no commit {commit}")))
    }
}

/// Why a bounded fetch did not finish.
enum Bounded {
    Failed(EngineError),
    TooBig,
}

impl Bounded {
    /// The error of a fetch of `shown` bounded by `limit` bytes.
    fn into_error(self, shown: &str, limit: u64) -> EngineError {
        match self {
            Bounded::Failed(error) => error,
            Bounded::TooBig => EngineError::Failed(format!(
                "git fetch {shown}: the repository sends more than the cache's size ceiling ({}); raise TANTO_CACHE_MAX_SIZE to fetch it",
                crate::util::human_bytes(limit)
            )),
        }
    }
}

/// Runs `command`, a fetch into `database`, like [`run`], stopped once the packs it
/// writes pass `limit` bytes (see [`tanto_registry::git::run_bounded_fetch`]).
fn run_bounded(command: Command, what: &str, database: &Path, limit: u64) -> Result<String, Bounded> {
    match tanto_registry::git::run_bounded_fetch(command, database, limit) {
        Ok(Fetched::Exited { success: true, stdout, .. }) => Ok(stdout),
        Ok(Fetched::Exited { stderr, .. }) => Err(Bounded::Failed(EngineError::Failed(format!("{what}: {}", stderr.trim())))),
        Ok(Fetched::TooBig) => Err(Bounded::TooBig),
        Err(error) => Err(Bounded::Failed(cannot_run_git(what, &error))),
    }
}

/// The error of a git command that could not be run (or waited for).
fn cannot_run_git(what: &str, error: &std::io::Error) -> EngineError {
    EngineError::Failed(format!("{what}: cannot run git ({error}); install git to read git sources"))
}

/// `git` on the bare repository `database`, with the settings that keep it on `remote`'s
/// checked addresses when it reaches one.
fn git_in(database: &Path, remote: Option<&Reach>, args: &[&str]) -> Command {
    let mut git_dir = OsString::from("--git-dir=");
    git_dir.push(database);
    let mut command = git(&[]);
    if let Some(remote) = remote {
        command.args(remote.setting_args());
    }
    command.args(tanto_registry::git::PACKS_ONLY).arg(git_dir).args(args);
    command
}

fn has_commit(database: &Path, commit: &str) -> bool {
    let mut command = git_in(database, None, &["cat-file", "-e"]);
    command.arg(format!("{commit}^{{commit}}")).stdout(Stdio::null()).stderr(Stdio::null());
    command.status().is_ok_and(|status| status.success())
}

/// Writes the files of `commit` into `destination` (a new folder): no `.git`, links as
/// links, no submodules, no hooks. Refused when its files take more than `limit` bytes.
fn checkout(database: &Path, url: &str, commit: &str, destination: &Path, limit: u64) -> Result<(), EngineError> {
    let what = format!("git ls-tree {commit}");
    let size = tanto_registry::git::files_size(git(&[]), database, commit, limit).map_err(|error| match error {
        FilesSizeError::Spawn(error) => cannot_run_git(&what, &error),
        error => EngineError::Failed(format!("{what}: {error}")),
    })?;
    if size > limit {
        return Err(EngineError::Failed(format!(
            "{} at {commit}: its files take more than the cache's size ceiling ({}); raise TANTO_CACHE_MAX_SIZE to check it out",
            display_url(url),
            crate::util::human_bytes(limit)
        )));
    }
    std::fs::create_dir(destination).map_err(local_error("cannot create a checkout folder"))?;
    let index = destination.with_file_name("index");
    let mut work_tree = OsString::from("--work-tree=");
    work_tree.push(destination);
    let mut command = git_in(database, None, &[]);
    command
        .arg(work_tree)
        .args(["checkout", "--quiet", "--force", commit, "--", "."])
        .env("GIT_INDEX_FILE", &index);
    run(command, &format!("git checkout {commit}"))?;
    std::fs::remove_file(&index).map_err(local_error("cannot remove a checkout's index"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{IpAddr, TcpListener};

    use super::*;
    use crate::engine::sources::git_remote_resolved;

    /// This machine's address on its route out (no packet is sent): not one tanto refuses,
    /// yet a listener on every address answers on it.
    fn routable_address() -> IpAddr {
        let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        socket
            .connect("198.51.100.1:9")
            .expect("this test needs a route off this machine (any default route)");
        socket.local_addr().unwrap().ip()
    }

    /// A listener on every address, and what the first connection to it sent until its
    /// first blank line or NUL-ended request (at most 4 KiB).
    fn one_request() -> (u16, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("0.0.0.0:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.fill_buf().is_ok_and(|bytes| bytes.starts_with(b"GET ")) {
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).map_or(true, |read| read == 0) || line == "\r\n" {
                        break;
                    }
                    request.push_str(&line);
                }
                let _ = (&stream).write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            } else {
                // A git protocol request: `<4 hex digits of length>git-upload-pack /path\0host=...\0`.
                let mut bytes = Vec::new();
                let mut chunk = [0; 4096];
                while bytes.iter().filter(|byte| **byte == 0).count() < 2 && bytes.len() < 4096 {
                    match reader.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(read) => bytes.extend_from_slice(&chunk[..read]),
                    }
                }
                request = String::from_utf8_lossy(&bytes).into_owned();
            }
            request
        });
        (port, served)
    }

    /// A name DNS does not know, resolved by the test to this machine's routable address:
    /// git reaching the listener by it shows that git used the addresses tanto checked
    /// rather than asking DNS again.
    #[test]
    fn git_reaches_only_the_addresses_tanto_checked() {
        let address = routable_address();
        let resolver = move |host: &str, _port: u16| match host {
            "tanto-pinned.invalid" => Ok(vec![address]),
            _ => Err(std::io::Error::other("unknown in this test")),
        };

        let (port, served) = one_request();
        let url = format!("http://tanto-pinned.invalid:{port}/repo.git");
        let command = ls_remote(&git_remote_resolved(&url, false, &resolver).unwrap());
        let error = run(command, "git ls-remote").unwrap_err().to_string();
        assert!(error.contains("not found"), "{error}");
        let request = served.join().unwrap();
        assert!(request.starts_with("GET /repo.git/info/refs"), "{request}");
        assert!(request.contains(&format!("Host: tanto-pinned.invalid:{port}")), "{request}");

        let (port, served) = one_request();
        let url = format!("git://tanto-pinned.invalid:{port}/repo");
        let command = ls_remote(&git_remote_resolved(&url, false, &resolver).unwrap());
        assert!(run(command, "git ls-remote").is_err());
        let request = served.join().unwrap();
        assert!(request.contains("git-upload-pack /repo\0"), "{request:?}");

        // An answer with one local address among others is refused whole: git would pick.
        let rebound = move |_: &str, _: u16| Ok(vec![address, "127.0.0.1".parse().unwrap()]);
        let error = git_remote_resolved("https://tanto-pinned.invalid/repo.git", false, &rebound).unwrap_err();
        assert!(error.to_string().contains("reaches this machine's own or link-local addresses"), "{error}");
    }
}
