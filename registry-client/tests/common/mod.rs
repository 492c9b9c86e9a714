//! Fixtures for the registry tests: the standard repositories on a [`GitHost`] (real
//! repositories served by `git daemon` on 127.0.0.1 as github.com), and the library's git
//! configured to reach them and to cache under the fixture's folder.

#![allow(dead_code)]

use std::fs;
use std::path::PathBuf;

use tanto_git_fixtures::{Abbreviated, GitHost};
use tanto_registry::git::{CacheLayout, GitCli, GitConfig};

/// Everything one test needs: a git host with its repositories, and a module cache.
pub struct Fixture {
    pub host: GitHost,
    /// The module cache root, `[ROOT]/cache` in redacted text.
    pub cache: PathBuf,
}

impl Fixture {
    pub fn new() -> Fixture {
        let host = GitHost::start();
        let cache = host.root().join("cache");
        fs::create_dir_all(&cache).expect("mkdir");
        Fixture { host, cache }
    }

    /// How the library runs git in these tests: with the host's config, passed
    /// explicitly, never through the process environment.
    pub fn git_config(&self) -> GitConfig {
        self.host
            .env()
            .into_iter()
            .fold(GitConfig::new(), |config, (key, value)| config.with_env(key, value))
    }

    /// The real git source over this fixture's cache.
    pub fn git_cli(&self) -> GitCli {
        GitCli::new(self.git_config(), CacheLayout::new(&self.cache))
    }

    /// Replaces what varies between runs (paths, ports, commits, hashes) in `text`.
    /// Shorter hex is kept: the snapshots assert on the stable URL hash in cache folder
    /// names.
    pub fn redact(&self, text: &str) -> String {
        self.host.redact(text, Abbreviated::Keep)
    }

    /// The standard repositories most tests use.
    ///
    /// * `acme/single`: one module at the root; v1.0.0, v1.2.0 (annotated),
    ///   v1.5.0-rc.1, v2.0.0 and a branch `feature`.
    /// * `acme/mono`: modules `mods/a` and `mods/b` with tags `mods/a/v1.0.0`,
    ///   `mods/a/v1.1.0`, `mods/b/v2.0.0`, and a root tag `v1.9.0` that must lose.
    /// * `acme/app`: a module whose tanto.toml depends on `github.com/acme/single@^1`.
    pub fn standard(&self) -> Standard {
        let single = self.host.repository("single");
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

        let mono = self.host.repository("mono");
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

        let app = self.host.repository("app");
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
