//! Git fixtures for the registry tests of the tanto CLI, on a [`GitHost`] from
//! `tanto-git-fixtures`: real repositories served by `git daemon` on 127.0.0.1 as
//! github.com.
//!
//! tanto reads the host's git config through the variables of [`GitHost::env`], set on
//! the tanto process only ([`GitServer::tanto`]): the test process's own environment is
//! never changed, so tests run in parallel.
//!
//! Fixture modules ship a prebuilt component (`component = "module.wasm"`, a copy of a
//! test guest), so installing one costs a fetch and a checkout, never a cargo build.

use std::fs;
use std::path::{Path, PathBuf};

pub use tanto_git_fixtures::Repository;
use tanto_git_fixtures::{Abbreviated, GitHost};

use crate::{Tanto, guest_wasm};

/// Served repositories, their work trees and a daemon: everything a registry test
/// needs besides tanto itself.
pub struct GitServer {
    host: GitHost,
}

impl GitServer {
    /// A new server with no repositories.
    pub fn start() -> GitServer {
        GitServer { host: GitHost::start() }
    }

    /// A [`Tanto`] whose git sees this server as github.com.
    pub fn tanto(&self) -> Tanto {
        self.host
            .env()
            .into_iter()
            .fold(Tanto::new(), |tanto, (name, value)| tanto.env(name, &value.to_string_lossy()))
    }

    /// Stops the daemon: from now on nothing answers on its port, as when the network
    /// is gone.
    pub fn stop(&self) {
        self.host.stop();
    }

    /// Runs git for fixture setup, with this server's config; panics with stderr on
    /// failure.
    pub fn git(&self, dir: &Path, args: &[&str]) -> String {
        self.host.git(dir, args)
    }

    /// A new repository `acme/<name>`: a work tree whose `origin` is
    /// `https://github.com/acme/<name>`, and the bare repository the daemon serves.
    pub fn repository(&self, name: &str) -> Repository<'_> {
        self.host.repository(name)
    }

    /// A project folder (not a git repository) with this `tanto.toml`.
    pub fn project(&self, name: &str, manifest: &str) -> PathBuf {
        self.host.project(name, manifest)
    }

    /// Replaces what varies between runs in `text`: the tanto cache folder, this
    /// server's folder and port, commits (`[COMMIT]`, `[SHORT]`) and digests (`[HASH]`).
    pub fn redact(&self, tanto: &Tanto, text: &str) -> String {
        let text = crate::without_progress(text);
        let text = text.replace(&tanto.cache.path().display().to_string(), "[CACHE]");
        self.host.redact(&text, Abbreviated::Redact)
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
    pub repo: Repository<'a>,
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

/// Writes tanto modules into a fixture repository.
pub trait WriteModule {
    /// Writes a module at `subpath` ("" for the root): a `tanto.toml` naming `name`,
    /// shipping the `api` test guest as its prebuilt component, marked with `release`
    /// (so each release has its own content) and declaring `dependencies`.
    fn module(&self, subpath: &str, name: &str, release: &str, dependencies: &[(&str, &str)]);
}

impl WriteModule for Repository<'_> {
    fn module(&self, subpath: &str, name: &str, release: &str, dependencies: &[(&str, &str)]) {
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
}
