//! Git fixtures for the registry tests: real repositories built in a temporary folder,
//! served by `git daemon` on 127.0.0.1, and a git config file that routes
//! `https://github.com/` to that daemon with git's own `url.<base>.insteadOf`.
//!
//! tanto reads the config through `GIT_CONFIG_GLOBAL` (with `GIT_CONFIG_NOSYSTEM=1`),
//! set on the tanto process only ([`GitServer::tanto`]): the test process's own
//! environment is never changed, so tests run in parallel.
//!
//! Fixture modules ship a prebuilt component (`component = "module.wasm"`, a copy of a
//! test guest), so installing one costs a fetch and a checkout, never a cargo build.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::{Tanto, guest_wasm};

/// A `git daemon` serving a folder on 127.0.0.1; killed on drop.
struct Daemon {
    child: Child,
    port: u16,
}

impl Daemon {
    /// Starts a daemon on a free port (pushes allowed, for `tanto publish`) and waits
    /// until it accepts connections.
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
                    return Daemon { child, port };
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

/// A port nothing listens on right now (bound to 127.0.0.1:0, then released).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// Served repositories, their work trees and a daemon: everything a registry test
/// needs besides tanto itself.
pub struct GitServer {
    root: tempfile::TempDir,
    /// Bare repositories the daemon serves, at `<served>/acme/<name>`.
    served: PathBuf,
    /// Work trees where fixture repositories are authored.
    work: PathBuf,
    /// The git config file given to git and tanto as `GIT_CONFIG_GLOBAL`.
    gitconfig: PathBuf,
    /// Behind a mutex so [`GitServer::stop`] works while repositories borrow the server.
    daemon: Mutex<Option<Daemon>>,
    port: u16,
}

impl GitServer {
    /// A new server with no repositories.
    pub fn start() -> GitServer {
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
        GitServer {
            root,
            served,
            work,
            gitconfig,
            daemon: Mutex::new(Some(daemon)),
            port,
        }
    }

    /// A [`Tanto`] whose git sees this server as github.com.
    pub fn tanto(&self) -> Tanto {
        Tanto::new()
            .env("GIT_CONFIG_GLOBAL", &self.gitconfig.display().to_string())
            .env("GIT_CONFIG_NOSYSTEM", "1")
    }

    /// Stops the daemon: from now on nothing answers on its port, as when the network
    /// is gone.
    pub fn stop(&self) {
        let stopped = self.daemon.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        drop(stopped);
    }

    /// Runs git for fixture setup, with this server's config; panics with stderr on
    /// failure.
    pub fn git(&self, dir: &Path, args: &[&str]) -> String {
        let output = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", &self.gitconfig)
            .env("GIT_CONFIG_NOSYSTEM", "1")
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
    pub fn repository(&self, name: &str) -> Repo<'_> {
        let work = self.work.join(name);
        let bare = self.served.join("acme").join(name);
        fs::create_dir_all(&work).expect("mkdir");
        fs::create_dir_all(&bare).expect("mkdir");
        self.git(&work, &["init", "--quiet"]);
        self.git(&bare, &["init", "--quiet", "--bare"]);
        self.git(&work, &["remote", "add", "origin", &format!("https://github.com/acme/{name}")]);
        Repo { server: self, work, bare }
    }

    /// A project folder (not a git repository) with this `tanto.toml`.
    pub fn project(&self, name: &str, manifest: &str) -> PathBuf {
        let dir = self.root.path().join("projects").join(name);
        fs::create_dir_all(&dir).expect("mkdir");
        fs::write(dir.join("tanto.toml"), manifest).expect("write manifest");
        dir
    }

    /// Replaces what varies between runs in `text`: this server's folder and port,
    /// the tanto cache folder, commits (`[COMMIT]`, `[SHORT]`) and digests (`[HASH]`).
    pub fn redact(&self, tanto: &Tanto, text: &str) -> String {
        let text = text
            .replace(&self.root.path().display().to_string(), "[ROOT]")
            .replace(&tanto.cache.path().display().to_string(), "[CACHE]")
            .replace(&format!(":{}", self.port), ":[PORT]");
        redact_hex(&text)
    }

    /// `acme/single`: one module at the repository root.
    ///
    /// Releases v1.0.0 (lightweight tag), v1.2.0 (annotated), v1.5.0-rc.1 and v2.0.0,
    /// and a branch `feature` one commit past v2.0.0.
    pub fn single_module(&self) -> SingleModule<'_> {
        let repo = self.repository("single");
        repo.module("", "single", "1.0.0", &[]);
        let v1_0 = repo.commit("1.0.0");
        repo.lightweight_tag("v1.0.0");
        repo.module("", "single", "1.2.0", &[]);
        let v1_2 = repo.commit("1.2.0");
        repo.annotated_tag("v1.2.0");
        repo.module("", "single", "1.5.0-rc.1", &[]);
        let v1_5_rc = repo.commit("1.5.0-rc.1");
        repo.annotated_tag("v1.5.0-rc.1");
        repo.module("", "single", "2.0.0", &[]);
        let v2_0 = repo.commit("2.0.0");
        repo.annotated_tag("v2.0.0");
        repo.git(&["checkout", "--quiet", "-b", "feature"]);
        repo.module("", "single", "feature", &[]);
        let feature = repo.commit("feature work");
        repo.git(&["checkout", "--quiet", "main"]);
        repo.push();
        SingleModule {
            repo,
            v1_0,
            v1_2,
            v1_5_rc,
            v2_0,
            feature,
        }
    }

    /// `acme/mono`: modules `mods/a` and `mods/b`. Tags `mods/a/v1.0.0` and
    /// `mods/b/v2.0.0` on the first commit, `mods/a/v1.1.0` on the second, and a root
    /// tag `v1.9.0` on the third, which must never be chosen for `mods/a`.
    pub fn monorepo(&self) -> Monorepo {
        let repo = self.repository("mono");
        repo.write("README.md", "monorepo\n");
        repo.module("mods/a", "a", "1.0.0", &[]);
        repo.module("mods/b", "b", "2.0.0", &[]);
        let first = repo.commit("a 1.0.0, b 2.0.0");
        repo.annotated_tag("mods/a/v1.0.0");
        repo.annotated_tag("mods/b/v2.0.0");
        repo.module("mods/a", "a", "1.1.0", &[]);
        let a_1_1 = repo.commit("a 1.1.0");
        repo.annotated_tag("mods/a/v1.1.0");
        repo.module("mods/a", "a", "1.9.0 (root release)", &[]);
        let root_release = repo.commit("root 1.9.0");
        repo.annotated_tag("v1.9.0");
        repo.push();
        Monorepo { first, a_1_1, root_release }
    }

    /// `acme/app`: a module v1.0.0 whose tanto.toml depends on
    /// `lib = "github.com/acme/single@^1"` (so it needs [`GitServer::single_module`]).
    pub fn dependent_module(&self) -> String {
        let repo = self.repository("app");
        repo.module("", "app", "1.0.0", &[("lib", "github.com/acme/single@^1")]);
        let commit = repo.commit("app 1.0.0");
        repo.annotated_tag("v1.0.0");
        repo.push();
        commit
    }
}

/// Commits of [`GitServer::single_module`].
pub struct SingleModule<'a> {
    pub repo: Repo<'a>,
    pub v1_0: String,
    pub v1_2: String,
    pub v1_5_rc: String,
    pub v2_0: String,
    pub feature: String,
}

/// Commits of [`GitServer::monorepo`].
pub struct Monorepo {
    /// `mods/a/v1.0.0` and `mods/b/v2.0.0`.
    pub first: String,
    /// `mods/a/v1.1.0`.
    pub a_1_1: String,
    /// The root tag `v1.9.0`.
    pub root_release: String,
}

/// A fixture repository: a work tree plus the bare repository the daemon serves.
pub struct Repo<'a> {
    server: &'a GitServer,
    pub work: PathBuf,
    pub bare: PathBuf,
}

impl Repo<'_> {
    pub fn git(&self, args: &[&str]) -> String {
        self.server.git(&self.work, args)
    }

    /// Writes a file of the work tree.
    pub fn write(&self, path: &str, contents: &str) {
        let file = self.work.join(path);
        if let Some(parent) = file.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(file, contents).expect("write");
    }

    /// Writes a module at `subpath` ("" for the root): a `tanto.toml` naming `name`,
    /// shipping the `api` test guest as its prebuilt component, marked with `release`
    /// (so each release has its own content) and declaring `dependencies`.
    pub fn module(&self, subpath: &str, name: &str, release: &str, dependencies: &[(&str, &str)]) {
        let prefix = if subpath.is_empty() { String::new() } else { format!("{subpath}/") };
        let mut manifest = format!("# release {release}\nname = \"{name}\"\nsdk = \"rust\"\ncomponent = \"module.wasm\"\n");
        if !dependencies.is_empty() {
            manifest.push_str("\n[dependencies]\n");
            for (dependency, reference) in dependencies {
                manifest.push_str(&format!("{dependency} = \"{reference}\"\n"));
            }
        }
        self.write(&format!("{prefix}tanto.toml"), &manifest);
        let component = self.work.join(format!("{prefix}module.wasm"));
        fs::copy(guest_wasm("api"), component).expect("copy the prebuilt component");
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

    /// Pushes every branch and tag to the served bare repository (forced, so moved
    /// tags move there too).
    pub fn push(&self) {
        let bare = self.bare.display().to_string();
        self.git(&["push", "--quiet", "--force", &bare, "refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*"]);
    }

    /// The commit a tag of the served repository peels to, if the tag exists there.
    pub fn served_tag(&self, name: &str) -> Option<String> {
        let output = self.server.git(
            &self.bare,
            &["for-each-ref", "--format=%(*objectname) %(objectname)", &format!("refs/tags/{name}")],
        );
        // The peeled commit for an annotated tag, else the only id printed.
        output.split_whitespace().next().map(str::to_owned)
    }
}

/// Replaces 40-hex commit ids with `[COMMIT]`, 64-hex digests with `[HASH]` and
/// abbreviated commits (7 to 39 hex digits) with `[SHORT]`.
pub fn redact_hex(text: &str) -> String {
    let mut output = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, output: &mut String| {
        match run.len() {
            40 => output.push_str("[COMMIT]"),
            64 => output.push_str("[HASH]"),
            7..40 => output.push_str("[SHORT]"),
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
