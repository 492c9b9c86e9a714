//! Git fixtures for tanto's tests: real repositories authored in a temporary folder,
//! served by `git daemon` on 127.0.0.1, and a git config file that routes
//! `https://github.com/` to that daemon with git's own `url.<base>.insteadOf`.
//!
//! The config reaches git only through the variables of [`GitHost::env`], set on each
//! command that should see the host as github.com: the test process's own environment is
//! never changed, so tests run in parallel.
//!
//! This crate depends on std and tempfile only, so any crate of the workspace can use it
//! as a dev-dependency without building tanto.

use std::ffi::OsString;
use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// A `git daemon` serving a folder on 127.0.0.1; killed on drop.
struct Daemon {
    child: Child,
    port: u16,
}

impl Daemon {
    /// Starts a daemon on a free port (pushes allowed, for publishing) and waits until it
    /// accepts connections.
    ///
    /// `git daemon` would run `git-daemon` as a child, and killing the parent would
    /// orphan the server; so the program from `git --exec-path` is started directly.
    fn start(base: &Path) -> Daemon {
        let exec_path = Command::new("git").arg("--exec-path").output().expect("git --exec-path");
        let program = PathBuf::from(String::from_utf8_lossy(&exec_path.stdout).trim()).join("git-daemon");
        for _attempt in 0..5 {
            let port = free_port();
            let mut child = Command::new(&program)
                .arg("--reuseaddr")
                .arg(format!("--base-path={}", base.display()))
                .arg("--export-all")
                .arg("--enable=receive-pack")
                .arg(format!("--port={port}"))
                .arg("--listen=127.0.0.1")
                .arg(base)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start git daemon");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    // What answered may be another test's server that took the port first:
                    // then this daemon cannot bind and exits at once. Only a daemon still
                    // running a moment later owns the port.
                    sleep(Duration::from_millis(100));
                    if matches!(child.try_wait(), Ok(None)) {
                        return Daemon { child, port };
                    }
                    let _ = child.wait();
                    break;
                }
                // Another test may have taken the port between probe and bind: retry.
                if matches!(child.try_wait(), Ok(Some(_))) || Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                sleep(Duration::from_millis(20));
            }
        }
        panic!("git daemon did not start");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `len` printable characters that do not compress (a fixed xorshift sequence): a file
/// whose pack is as big as the file, for tests of size bounds.
pub fn incompressible(len: usize) -> String {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'!' + (state % 90) as u8)
        })
        .collect()
}

/// A port nothing listens on right now (bound to 127.0.0.1:0, then released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// A stand-in for github.com: bare repositories served by a `git daemon` on 127.0.0.1,
/// their work trees, and the git config that sends `https://github.com/` there. Everything
/// lives in one temporary folder, removed on drop.
pub struct GitHost {
    root: tempfile::TempDir,
    /// Bare repositories the daemon serves, at `<served>/acme/<name>`.
    served: PathBuf,
    /// Work trees where fixture repositories are authored.
    work: PathBuf,
    /// The git config file given to git as `GIT_CONFIG_GLOBAL`.
    gitconfig: PathBuf,
    /// Behind a mutex so [`GitHost::stop`] works while repositories borrow the host.
    daemon: Mutex<Option<Daemon>>,
    port: u16,
}

impl GitHost {
    /// A new host with no repositories, its daemon accepting connections.
    pub fn start() -> GitHost {
        let root = tempfile::tempdir().expect("tempdir");
        let served = root.path().join("served");
        let work = root.path().join("work");
        for dir in [&served, &work] {
            fs::create_dir_all(dir).expect("mkdir");
        }
        let daemon = Daemon::start(&served);
        let port = daemon.port;
        let gitconfig = root.path().join("gitconfig");
        fs::write(
            &gitconfig,
            format!(
                "[user]\n\tname = Fixture\n\temail = fixture@example.com\n\
                 [init]\n\tdefaultBranch = main\n\
                 [advice]\n\tdetachedHead = false\n\
                 [url \"git://127.0.0.1:{port}/\"]\n\tinsteadOf = https://github.com/\n"
            ),
        )
        .expect("write gitconfig");
        GitHost {
            root,
            served,
            work,
            gitconfig,
            daemon: Mutex::new(Some(daemon)),
            port,
        }
    }

    /// The temporary folder holding everything of this host; callers may add their own
    /// folders (a cache, projects) beside `served` and `work`.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The variables under which git sees this host as github.com: the host's config as
    /// the global one, and no system config.
    pub fn env(&self) -> [(&'static str, OsString); 2] {
        [
            ("GIT_CONFIG_GLOBAL", self.gitconfig.clone().into_os_string()),
            ("GIT_CONFIG_NOSYSTEM", "1".into()),
        ]
    }

    /// Stops the daemon: from now on nothing answers on its port, as when the network is
    /// gone.
    pub fn stop(&self) {
        let stopped = self.daemon.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        drop(stopped);
    }

    /// Runs git for fixture setup, with [`GitHost::env`] and no terminal prompts; returns
    /// its trimmed stdout, panics with its stderr on failure.
    pub fn git(&self, dir: &Path, args: &[&str]) -> String {
        let output = Command::new("git")
            .args(args)
            .current_dir(dir)
            .envs(self.env())
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::null())
            .output()
            .expect("run git");
        assert!(
            output.status.success(),
            "git {args:?} in {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// A new repository `acme/<name>`: a work tree whose `origin` is
    /// `https://github.com/acme/<name>`, and the bare repository the daemon serves.
    pub fn repository(&self, name: &str) -> Repository<'_> {
        let repository = self.existing_repository(name);
        fs::create_dir_all(&repository.work).expect("mkdir");
        fs::create_dir_all(&repository.bare).expect("mkdir");
        self.git(&repository.work, &["init", "--quiet"]);
        self.git(&repository.bare, &["init", "--quiet", "--bare"]);
        self.git(&repository.work, &["remote", "add", "origin", &format!("https://github.com/acme/{name}")]);
        repository
    }

    /// The repository `acme/<name>` made earlier by [`GitHost::repository`].
    pub fn existing_repository(&self, name: &str) -> Repository<'_> {
        Repository {
            host: self,
            work: self.work.join(name),
            bare: self.served.join("acme").join(name),
        }
    }

    /// A project folder (not a git repository) with this `tanto.toml`.
    pub fn project(&self, name: &str, manifest: &str) -> PathBuf {
        let dir = self.root().join("projects").join(name);
        fs::create_dir_all(&dir).expect("mkdir");
        fs::write(dir.join("tanto.toml"), manifest).expect("write manifest");
        dir
    }

    /// Replaces what varies between runs in `text`: this host's folder (`[ROOT]`) and
    /// port (`[PORT]`), then hex as [`redact_hex`] does.
    pub fn redact(&self, text: &str, abbreviated: Abbreviated) -> String {
        let text = text
            .replace(&self.root().display().to_string(), "[ROOT]")
            .replace(&format!(":{}", self.port), ":[PORT]");
        redact_hex(&text, abbreviated)
    }
}

/// A fixture repository: a work tree plus the bare repository the daemon serves.
pub struct Repository<'a> {
    host: &'a GitHost,
    pub work: PathBuf,
    pub bare: PathBuf,
}

impl Repository<'_> {
    /// Runs git in the work tree (see [`GitHost::git`]).
    pub fn git(&self, args: &[&str]) -> String {
        self.host.git(&self.work, args)
    }

    /// Writes a file of the work tree, creating its folders.
    pub fn write(&self, path: &str, contents: &str) {
        let file = self.work.join(path);
        if let Some(parent) = file.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(file, contents).expect("write");
    }

    /// Commits everything; returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "--message", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    pub fn lightweight_tag(&self, name: &str) {
        self.git(&["tag", name]);
    }

    pub fn annotated_tag(&self, name: &str) {
        self.git(&["tag", "--annotate", "--message", name, name]);
    }

    /// Points an existing tag at HEAD (what a careless maintainer does).
    pub fn move_tag(&self, name: &str) {
        self.git(&["tag", "--force", "--annotate", "--message", name, name]);
    }

    /// Pushes every branch and tag to the served bare repository (forced, so moved tags
    /// move there too).
    pub fn push(&self) {
        let bare = self.bare.display().to_string();
        self.git(&["push", "--quiet", "--force", &bare, "refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*"]);
    }

    /// The commit a tag of the served repository peels to, if the tag exists there.
    pub fn served_tag(&self, name: &str) -> Option<String> {
        let output = self.host.git(
            &self.bare,
            &["for-each-ref", "--format=%(*objectname) %(objectname)", &format!("refs/tags/{name}")],
        );
        // The peeled commit for an annotated tag, else the only id printed.
        output.split_whitespace().next().map(str::to_owned)
    }
}

/// What [`redact_hex`] does with runs of 7 to 39 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abbreviated {
    /// Left as they are: the text has no abbreviated commits, and its shorter hex (such
    /// as the stable hash in a cache folder name) is worth asserting on.
    Keep,
    /// Replaced with `[SHORT]`: the text shows abbreviated commits, which change on
    /// every run.
    Redact,
}

/// Replaces 40-hex commit ids with `[COMMIT]` and 64-hex digests with `[HASH]`; shorter
/// runs of 7 or more hex digits as `abbreviated` says.
pub fn redact_hex(text: &str, abbreviated: Abbreviated) -> String {
    let mut output = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, output: &mut String| {
        match run.len() {
            40 => output.push_str("[COMMIT]"),
            64 => output.push_str("[HASH]"),
            7..40 if abbreviated == Abbreviated::Redact => output.push_str("[SHORT]"),
            _ => output.push_str(run),
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() || ('a'..='f').contains(&c) {
            run.push(c);
        } else {
            flush(&mut run, &mut output);
            output.push(c);
        }
    }
    flush(&mut run, &mut output);
    output
}

#[cfg(test)]
mod tests {
    use super::{Abbreviated, redact_hex};

    #[test]
    fn redact_hex_replaces_commits_and_digests_and_abbreviations_on_request() {
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let digest = format!("{commit}0123456789abcdef01234567");
        let text = format!("{commit} sha256:{digest} 63e993eef41f263b v1.2.0 DEADBEEF1");
        assert_eq!(redact_hex(&text, Abbreviated::Keep), "[COMMIT] sha256:[HASH] 63e993eef41f263b v1.2.0 DEADBEEF1");
        assert_eq!(redact_hex(&text, Abbreviated::Redact), "[COMMIT] sha256:[HASH] [SHORT] v1.2.0 DEADBEEF1");
    }
}
