//! Shared fixtures for the integration tests: real git repositories built in a temp
//! dir, served by `git daemon` on 127.0.0.1, and a git config (passed explicitly, never
//! through the process environment) that routes `https://github.com/` to the daemon
//! with `url.<base>.insteadOf`.

#![allow(dead_code)]

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tanto_registry::git::{CacheLayout, GitCli, GitConfig};

/// A `git daemon` serving `base` on 127.0.0.1; killed on drop.
pub struct Daemon {
    child: Child,
    pub port: u16,
}

impl Daemon {
    /// Starts a daemon on a free port and waits until it accepts connections.
    ///
    /// `git daemon` would run `git-daemon` as a child and killing it would orphan the
    /// server, so the `git-daemon` program from `git --exec-path` is started directly.
    pub fn start(base: &Path) -> Daemon {
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
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// Everything one test needs: served repositories, work trees, a cache, a daemon.
pub struct Fixture {
    pub root: tempfile::TempDir,
    /// Served by the daemon: bare repositories at `<served>/acme/<name>`.
    pub served: PathBuf,
    /// Work trees where fixture repositories are authored.
    pub work: PathBuf,
    /// The module cache root.
    pub cache: PathBuf,
    /// The git config file used as `GIT_CONFIG_GLOBAL`.
    pub gitconfig: PathBuf,
    pub daemon: Option<Daemon>,
    pub port: u16,
}

impl Fixture {
    pub fn new() -> Fixture {
        let root = tempfile::tempdir().expect("tempdir");
        let served = root.path().join("served");
        let work = root.path().join("work");
        let cache = root.path().join("cache");
        for dir in [&served, &work, &cache] {
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
        Fixture {
            root,
            served,
            work,
            cache,
            gitconfig,
            daemon: Some(daemon),
            port,
        }
    }

    /// How the library runs git in these tests.
    pub fn git_config(&self) -> GitConfig {
        GitConfig::new()
            .with_env("GIT_CONFIG_GLOBAL", &self.gitconfig)
            .with_env("GIT_CONFIG_NOSYSTEM", "1")
    }

    /// The real git source over this fixture's cache.
    pub fn git_cli(&self) -> GitCli {
        GitCli::new(self.git_config(), CacheLayout::new(&self.cache))
    }

    /// Runs git for fixture setup; panics with stderr on failure.
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

    /// A new repository `acme/<name>`: a work tree with `origin` set to
    /// `https://github.com/acme/<name>`, and the bare repository the daemon serves.
    pub fn repository(&self, name: &str) -> Repo<'_> {
        let work = self.work.join(name);
        let bare = self.served.join("acme").join(name);
        fs::create_dir_all(&work).expect("mkdir");
        fs::create_dir_all(&bare).expect("mkdir");
        self.git(&work, &["init", "--quiet"]);
        self.git(&bare, &["init", "--quiet", "--bare"]);
        self.git(&work, &["remote", "add", "origin", &format!("https://github.com/acme/{name}")]);
        Repo { fixture: self, work, bare }
    }

    /// The repository `acme/<name>` made earlier by [`Fixture::repository`].
    pub fn repository_handle(&self, name: &str) -> Repo<'_> {
        Repo {
            fixture: self,
            work: self.work.join(name),
            bare: self.served.join("acme").join(name),
        }
    }

    /// A project folder with this `tanto.toml`.
    pub fn project(&self, name: &str, manifest: &str) -> PathBuf {
        let dir = self.root.path().join("projects").join(name);
        fs::create_dir_all(&dir).expect("mkdir");
        fs::write(dir.join("tanto.toml"), manifest).expect("write manifest");
        dir
    }

    /// Stops the daemon: from now on nothing answers on its port.
    pub fn stop_daemon(&mut self) {
        self.daemon = None;
    }

    /// Replaces what varies between runs (paths, ports, commits, hashes) in `text`.
    pub fn redact(&self, text: &str) -> String {
        let root = self.root.path().display().to_string();
        let text = text.replace(&root, "[ROOT]").replace(&format!(":{}", self.port), ":[PORT]");
        redact_hex(&text)
    }

    /// The standard repositories most tests use.
    ///
    /// * `acme/single`: one module at the root; v1.0.0, v1.2.0 (annotated),
    ///   v1.5.0-rc.1, v2.0.0 and a branch `feature`.
    /// * `acme/mono`: modules `mods/a` and `mods/b` with tags `mods/a/v1.0.0`,
    ///   `mods/a/v1.1.0`, `mods/b/v2.0.0`, and a root tag `v1.9.0` that must lose.
    /// * `acme/app`: a module whose tanto.toml depends on `github.com/acme/single@^1`.
    pub fn standard(&self) -> Standard {
        let single = self.repository("single");
        single.write("tanto.toml", "name = \"single\"\nsdk = \"rust\"\n");
        single.write("src/lib.rs", "// 1.0.0\n");
        let v1_0 = single.commit("1.0.0");
        single.lightweight_tag("v1.0.0");
        single.write("src/lib.rs", "// 1.2.0\n");
        let v1_2 = single.commit("1.2.0");
        single.annotated_tag("v1.2.0");
        single.write("src/lib.rs", "// 1.5.0-rc.1\n");
        let v1_5_rc = single.commit("1.5.0-rc.1");
        single.annotated_tag("v1.5.0-rc.1");
        single.write("src/lib.rs", "// 2.0.0\n");
        let v2_0 = single.commit("2.0.0");
        single.annotated_tag("v2.0.0");
        single.git(&["checkout", "--quiet", "-b", "feature"]);
        single.write("src/feature.rs", "// feature\n");
        let feature = single.commit("feature work");
        single.git(&["checkout", "--quiet", "main"]);
        single.push();

        let mono = self.repository("mono");
        mono.write("README.md", "monorepo\n");
        mono.write("mods/a/tanto.toml", "name = \"a\"\n");
        mono.write("mods/b/tanto.toml", "name = \"b\"\n");
        let mono_1 = mono.commit("a 1.0.0, b 2.0.0");
        mono.annotated_tag("mods/a/v1.0.0");
        mono.annotated_tag("mods/b/v2.0.0");
        mono.write("mods/a/main.py", "# a 1.1.0\n");
        let mono_2 = mono.commit("a 1.1.0");
        mono.annotated_tag("mods/a/v1.1.0");
        mono.write("README.md", "monorepo, root release\n");
        let mono_root = mono.commit("root 1.9.0");
        mono.annotated_tag("v1.9.0");
        mono.push();

        let app = self.repository("app");
        app.write("tanto.toml", "name = \"app\"\n\n[dependencies]\nlib = \"github.com/acme/single@^1\"\n");
        let app_1 = app.commit("app 1.0.0");
        app.annotated_tag("v1.0.0");
        app.push();

        Standard {
            v1_0,
            v1_2,
            v1_5_rc,
            v2_0,
            feature,
            mono_1,
            mono_2,
            mono_root,
            app_1,
        }
    }
}

/// Commits of the standard repositories.
pub struct Standard {
    pub v1_0: String,
    pub v1_2: String,
    pub v1_5_rc: String,
    pub v2_0: String,
    pub feature: String,
    pub mono_1: String,
    pub mono_2: String,
    pub mono_root: String,
    pub app_1: String,
}

/// A fixture repository: a work tree plus the bare repository the daemon serves.
pub struct Repo<'a> {
    fixture: &'a Fixture,
    pub work: PathBuf,
    pub bare: PathBuf,
}

impl Repo<'_> {
    pub fn git(&self, args: &[&str]) -> String {
        self.fixture.git(&self.work, args)
    }

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

    /// Pushes every branch and tag to the served bare repository (forcing, so moved
    /// tags move there too).
    pub fn push(&self) {
        let bare = self.bare.display().to_string();
        self.git(&["push", "--quiet", "--force", &bare, "refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*"]);
    }

    /// Whether the served repository has this tag, and its peeled commit.
    pub fn served_tag(&self, name: &str) -> Option<String> {
        let output = self.fixture.git(
            &self.bare,
            &["for-each-ref", "--format=%(*objectname) %(objectname)", &format!("refs/tags/{name}")],
        );
        // The peeled commit for an annotated tag, else the only id printed.
        output.split_whitespace().next().map(str::to_owned)
    }
}

/// Replaces 40-hex commit ids with `[COMMIT]` and 64-hex digests with `[HASH]`.
pub fn redact_hex(text: &str) -> String {
    let mut output = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, output: &mut String| {
        match run.len() {
            40 => output.push_str("[COMMIT]"),
            64 => output.push_str("[HASH]"),
            _ => output.push_str(run),
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_hexdigit() && c.is_ascii_lowercase() || c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut output);
            output.push(c);
        }
    }
    flush(&mut run, &mut output);
    output
}
