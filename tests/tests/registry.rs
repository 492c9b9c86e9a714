//! `tanto install`, `update`, `uninstall` and `publish` against real git repositories
//! served by `git daemon` on 127.0.0.1, with `https://github.com/` routed there by git's
//! own `insteadOf` (see `tanto_tests::git`).
//!
//! Each test checks what the user relies on: the bytes of `tanto.toml` and the versions
//! and commits in `tanto.lock`, the exit code, and (as snapshots, with ports, paths and
//! commits redacted) what tanto printed.

use std::fs;
use std::path::Path;

use tanto_tests::Tanto;
use tanto_tests::git::{GitServer, WriteModule};

/// An empty project: a module with no dependencies.
const APP: &str = "# The app.\nname = \"app\"\nsdk = \"rust\"\n";

/// One `[[module]]` of tanto.lock, as the assertions need it.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    name: String,
    version: Option<String>,
    tag: Option<String>,
    branch: Option<String>,
    commit: String,
    subpath: Option<String>,
    requirements: Vec<String>,
    dependencies: Vec<String>,
    component: Option<String>,
}

fn lock_entries(project: &Path) -> Vec<Entry> {
    let text = fs::read_to_string(project.join("tanto.lock")).expect("tanto.lock exists");
    let mut entries = Vec::new();
    let mut current: Option<Entry> = None;
    let string = |value: &str| value.trim().trim_matches('"').to_owned();
    let list = |value: &str| -> Vec<String> {
        value
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(',')
            .map(|item| item.trim().trim_matches('"').to_owned())
            .filter(|item| !item.is_empty())
            .collect()
    };
    for line in text.lines() {
        if line == "[[module]]" {
            entries.extend(current.take());
            current = Some(Entry {
                name: String::new(),
                version: None,
                tag: None,
                branch: None,
                commit: String::new(),
                subpath: None,
                requirements: vec![],
                dependencies: vec![],
                component: None,
            });
            continue;
        }
        let (Some(entry), Some((key, value))) = (current.as_mut(), line.split_once(" = ")) else {
            continue;
        };
        match key {
            "name" => entry.name = string(value),
            "version" => entry.version = Some(string(value)),
            "tag" => entry.tag = Some(string(value)),
            "branch" => entry.branch = Some(string(value)),
            "commit" => entry.commit = string(value),
            "subpath" => entry.subpath = Some(string(value)),
            "requirements" => entry.requirements = list(value),
            "dependencies" => entry.dependencies = list(value),
            "component" => entry.component = Some(string(value)),
            _ => {}
        }
    }
    entries.extend(current);
    entries
}

/// The sha256 the lock must record for the fixtures' prebuilt component.
fn api_component_digest() -> String {
    let output = std::process::Command::new("sha256sum")
        .arg(tanto_tests::guest_wasm("api"))
        .output()
        .expect("sha256sum runs");
    let text = String::from_utf8_lossy(&output.stdout);
    format!("sha256:{}", text.split_whitespace().next().expect("a digest"))
}

fn manifest(project: &Path) -> String {
    fs::read_to_string(project.join("tanto.toml")).expect("tanto.toml")
}

fn snapshot(server: &GitServer, tanto: &Tanto, run: &tanto_tests::Run) -> String {
    server.redact(tanto, &format!("exit: {:?}\n--- stdout\n{}--- stderr\n{}", run.code, run.stdout, run.stderr))
}

#[test]
fn install_of_a_requirement_picks_the_highest_stable_match() {
    let server = GitServer::start();
    let single = server.single_module();
    let tanto = server.tanto();
    let project = server.project("caret", APP);

    let run = tanto.run_in(&project, &["install", "github.com/acme/single@^1"]).success();
    insta::assert_snapshot!("install_caret", snapshot(&server, &tanto, &run));

    // 1.2.0: not 2.0.0 (another major), not 1.5.0-rc.1 (a pre-release ^1 does not name).
    let entries = lock_entries(&project);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(entry.name, "single");
    assert_eq!(entry.version.as_deref(), Some("1.2.0"));
    assert_eq!(entry.tag.as_deref(), Some("v1.2.0"));
    assert_eq!(entry.commit, single.v1_2);
    assert_eq!(entry.requirements, ["^1"]);
    assert_eq!(entry.component.as_deref(), Some(api_component_digest().as_str()));
    assert_eq!(manifest(&project), format!("{APP}\n[dependencies]\nsingle = \"github.com/acme/single@^1\"\n"));

    // Installing again changes nothing and says so.
    let lock_before = fs::read(project.join("tanto.lock")).expect("lock");
    let run = tanto.run_in(&project, &["install"]).success();
    assert!(run.stderr.contains("tanto.lock is up to date (1 module)"), "{}", run.stderr);
    assert_eq!(fs::read(project.join("tanto.lock")).expect("lock"), lock_before);

    // Installing the same module with another requirement replaces the entry.
    let run = tanto.run_in(&project, &["install", "github.com/acme/single@^2"]).success();
    insta::assert_snapshot!("install_replace", snapshot(&server, &tanto, &run));
    assert_eq!(manifest(&project), format!("{APP}\n[dependencies]\nsingle = \"github.com/acme/single@^2\"\n"));
    let entries = lock_entries(&project);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        (entries[0].version.as_deref(), entries[0].commit.as_str()),
        (Some("2.0.0"), single.v2_0.as_str())
    );
}

#[test]
fn install_of_an_exact_tag_a_branch_and_a_commit() {
    let server = GitServer::start();
    let single = server.single_module();
    let tanto = server.tanto();
    let project = server.project("exact", APP);

    tanto.run_in(&project, &["install", "github.com/acme/single@v1.2.0"]).success();
    tanto
        .run_in(&project, &["install", "github.com/acme/single@feature", "--name", "feat"])
        .success();
    let short = &single.v1_0[..10];
    let run = tanto
        .run_in(&project, &["install", &format!("github.com/acme/single@{short}"), "--name", "pinned"])
        .success();
    // Three commits of one module side by side, each in its own sandbox.
    insta::assert_snapshot!("install_commit", snapshot(&server, &tanto, &run));

    let entries = lock_entries(&project);
    let find = |name: &str| {
        entries
            .iter()
            .find(|entry| entry.name == name)
            .unwrap_or_else(|| panic!("{name} in {entries:?}"))
    };
    let exact = find("single");
    assert_eq!((exact.version.as_deref(), exact.commit.as_str()), (Some("1.2.0"), single.v1_2.as_str()));
    let branch = find("feat");
    assert_eq!((branch.branch.as_deref(), branch.version.as_deref()), (Some("feature"), None));
    assert_eq!(branch.commit, single.feature);
    let commit = find("pinned");
    assert_eq!((commit.tag.as_deref(), commit.branch.as_deref()), (None, None));
    assert_eq!(commit.commit, single.v1_0);
    assert_eq!(entries.len(), 3);
    assert_eq!(
        manifest(&project),
        format!(
            "{APP}\n[dependencies]\nsingle = \"github.com/acme/single@v1.2.0\"\nfeat = \"github.com/acme/single@feature\"\npinned = \"github.com/acme/single@{short}\"\n"
        )
    );
}

#[test]
fn install_without_a_version_adds_a_caret_on_the_newest_release() {
    let server = GitServer::start();
    let single = server.single_module();
    let tanto = server.tanto();
    let project = server.project("latest", APP);

    tanto.run_in(&project, &["install", "github.com/acme/single"]).success();
    assert_eq!(
        manifest(&project),
        format!("{APP}\n[dependencies]\nsingle = \"github.com/acme/single@^2.0.0\"\n")
    );
    let entries = lock_entries(&project);
    assert_eq!(entries[0].version.as_deref(), Some("2.0.0"));
    assert_eq!(entries[0].commit, single.v2_0);
    assert_ne!(single.v1_5_rc, single.v2_0);
}

#[test]
fn monorepo_prefixed_tags_win_over_root_tags() {
    let server = GitServer::start();
    let mono = server.monorepo();
    let tanto = server.tanto();
    let project = server.project("mono", APP);

    tanto.run_in(&project, &["install", "github.com/acme/mono/mods/a@^1"]).success();
    tanto.run_in(&project, &["install", "github.com/acme/mono/mods/b"]).success();

    let entries = lock_entries(&project);
    let a = entries.iter().find(|entry| entry.name == "a").expect("a");
    // The root tag v1.9.0 matches ^1 too, and is newer: it must lose to mods/a's own tags.
    assert_eq!(a.tag.as_deref(), Some("mods/a/v1.1.0"));
    assert_eq!(a.version.as_deref(), Some("1.1.0"));
    assert_eq!(a.commit, mono.a_1_1);
    assert_eq!(a.subpath.as_deref(), Some("mods/a"));
    assert_ne!(a.commit, mono.root_release);
    let b = entries.iter().find(|entry| entry.name == "b").expect("b");
    assert_eq!((b.tag.as_deref(), b.commit.as_str()), (Some("mods/b/v2.0.0"), mono.first.as_str()));
    assert!(manifest(&project).contains("b = \"github.com/acme/mono/mods/b@^2.0.0\"\n"));
}

#[test]
fn transitive_dependencies_are_locked_and_two_majors_coexist() {
    let server = GitServer::start();
    let single = server.single_module();
    let app_commit = server.dependent_module();
    let tanto = server.tanto();
    let project = server.project(
        "transitive",
        &format!("{APP}\n[dependencies]\n# the newest major, directly\nsingle = \"github.com/acme/single@^2\"  # keep\n"),
    );

    let run = tanto.run_in(&project, &["install", "github.com/acme/app@^1"]).success();
    insta::assert_snapshot!("install_transitive", snapshot(&server, &tanto, &run));

    let entries = lock_entries(&project);
    let app = entries.iter().find(|entry| entry.name == "app").expect("app");
    assert_eq!(app.commit, app_commit);
    assert_eq!(app.dependencies, ["lib@1.2.0"]);
    let lib = entries.iter().find(|entry| entry.name == "lib").expect("lib");
    assert_eq!((lib.version.as_deref(), lib.commit.as_str()), (Some("1.2.0"), single.v1_2.as_str()));
    let direct = entries.iter().find(|entry| entry.name == "single").expect("single");
    assert_eq!((direct.version.as_deref(), direct.commit.as_str()), (Some("2.0.0"), single.v2_0.as_str()));
    // The user's comments and layout survive the edit.
    assert_eq!(
        manifest(&project),
        format!("{APP}\n[dependencies]\n# the newest major, directly\nsingle = \"github.com/acme/single@^2\"  # keep\napp = \"github.com/acme/app@^1\"\n")
    );

    // Uninstalling app drops it and the lib only it needed.
    let run = tanto.run_in(&project, &["uninstall", "app"]).success();
    insta::assert_snapshot!("uninstall", snapshot(&server, &tanto, &run));
    let names: Vec<String> = lock_entries(&project).into_iter().map(|entry| entry.name).collect();
    assert_eq!(names, ["single"]);
    assert_eq!(
        manifest(&project),
        format!("{APP}\n[dependencies]\n# the newest major, directly\nsingle = \"github.com/acme/single@^2\"  # keep\n")
    );

    let run = tanto.run_in(&project, &["uninstall", "nope"]).failure(2);
    insta::assert_snapshot!("uninstall_unknown", snapshot(&server, &tanto, &run));
}

#[test]
fn update_moves_a_requirement_to_a_new_release_and_reports_it() {
    let server = GitServer::start();
    let single = server.single_module();
    let tanto = server.tanto();
    let project = server.project("update", APP);
    tanto.run_in(&project, &["install", "github.com/acme/single@^1"]).success();

    // 1.3.0 is released on a branch of 1.x.
    let repo = &single.repo;
    repo.git(&["checkout", "--quiet", "-b", "release-1", &single.v1_2]);
    repo.module("", "single", "1.3.0", &[]);
    let v1_3 = repo.commit("1.3.0");
    repo.annotated_tag("v1.3.0");
    repo.push();

    // A plain install honours the pin.
    tanto.run_in(&project, &["install"]).success();
    assert_eq!(lock_entries(&project)[0].commit, single.v1_2);

    let run = tanto.run_in(&project, &["update"]).success();
    insta::assert_snapshot!("update", snapshot(&server, &tanto, &run));
    assert!(run.stderr.contains("single 1.2.0 → 1.3.0"), "{}", run.stderr);
    let entry = &lock_entries(&project)[0];
    assert_eq!((entry.version.as_deref(), entry.commit.as_str()), (Some("1.3.0"), v1_3.as_str()));
    assert_eq!(entry.tag.as_deref(), Some("v1.3.0"));

    let run = tanto.run_in(&project, &["update", "single"]).success();
    assert!(run.stderr.contains("Everything is up to date (1 module)"), "{}", run.stderr);

    let run = tanto.run_in(&project, &["update", "nope"]).failure(2);
    insta::assert_snapshot!("update_unknown", snapshot(&server, &tanto, &run));
}

#[test]
fn locked_fails_when_the_lock_would_change_and_names_the_fix() {
    let server = GitServer::start();
    let single = server.single_module();
    let tanto = server.tanto();
    let project = server.project("locked", &format!("{APP}\n[dependencies]\nsingle = \"github.com/acme/single@^1\"\n"));

    let run = tanto.run_in(&project, &["install", "--locked"]).failure(2);
    assert!(run.stderr.contains("hint: run `tanto install` to update tanto.lock"), "{}", run.stderr);
    assert!(!project.join("tanto.lock").exists());

    tanto.run_in(&project, &["install"]).success();
    tanto.run_in(&project, &["install", "--locked"]).success();
    let lock_before = fs::read(project.join("tanto.lock")).expect("lock");

    // A dependency added by hand: the lock no longer matches.
    fs::write(
        project.join("tanto.toml"),
        format!("{APP}\n[dependencies]\nsingle = \"github.com/acme/single@^1\"\nnext = \"github.com/acme/single@^2\"\n"),
    )
    .expect("edit tanto.toml");
    let run = tanto.run_in(&project, &["install", "--locked"]).failure(2);
    insta::assert_snapshot!("locked_install", snapshot(&server, &tanto, &run));
    assert_eq!(fs::read(project.join("tanto.lock")).expect("lock"), lock_before);

    // Adding with --locked changes nothing either.
    let manifest_before = manifest(&project);
    tanto
        .run_in(&project, &["install", "--locked", "github.com/acme/mono/mods/a@^1", "--name", "a"])
        .failure(2);
    assert_eq!(manifest(&project), manifest_before);

    // `update --locked` with a newer release available names `tanto update`.
    tanto.run_in(&project, &["install"]).success();
    let repo = &single.repo;
    repo.git(&["checkout", "--quiet", "-b", "release-1", &single.v1_2]);
    repo.module("", "single", "1.3.0", &[]);
    repo.commit("1.3.0");
    repo.annotated_tag("v1.3.0");
    repo.push();
    let run = tanto.run_in(&project, &["update", "--locked"]).failure(2);
    insta::assert_snapshot!("locked_update", snapshot(&server, &tanto, &run));
    let entry = lock_entries(&project).into_iter().find(|entry| entry.name == "single").expect("single");
    assert_eq!(entry.commit, single.v1_2);
}

#[test]
fn a_moved_tag_is_refused_naming_dependency_and_commits() {
    let server = GitServer::start();
    let single = server.single_module();
    let tanto = server.tanto();
    let project = server.project("moved", APP);
    tanto.run_in(&project, &["install", "github.com/acme/single@^1"]).success();
    let lock_before = fs::read(project.join("tanto.lock")).expect("lock");

    let repo = &single.repo;
    repo.git(&["checkout", "--quiet", &single.v1_2]);
    repo.write("EXTRA", "sneaked into 1.2.0\n");
    let moved_to = repo.commit("rewrite 1.2.0");
    repo.move_tag("v1.2.0");
    repo.push();
    assert_eq!(repo.served_tag("v1.2.0").as_deref(), Some(moved_to.as_str()));

    // The cache holds the locked commit: the lock decides, and the move changes nothing.
    let run = tanto.run_in(&project, &["install"]).success();
    assert!(run.stderr.contains("tanto.lock is up to date (1 module)"), "{}", run.stderr);
    assert_eq!(fs::read(project.join("tanto.lock")).expect("lock"), lock_before);

    // Another machine (an empty cache) has to fetch it, and refuses the moved tag.
    let elsewhere = server.tanto();
    let run = elsewhere.run_in(&project, &["install"]).failure(2);
    assert!(run.stderr.contains("single@1.2.0"), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("tanto.lock has commit {}", single.v1_2)), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("now has commit {moved_to}")), "{}", run.stderr);
    insta::assert_snapshot!("moved_tag", snapshot(&server, &elsewhere, &run));
    assert_eq!(fs::read(project.join("tanto.lock")).expect("lock"), lock_before);

    // `tanto update` accepts the move and shows both commits.
    let run = tanto.run_in(&project, &["update"]).success();
    let line = format!("~ single 1.2.0 moved {} → {} (github.com/acme/single)", &single.v1_2[..7], &moved_to[..7]);
    assert!(run.stderr.contains(&line), "{}", run.stderr);
    insta::assert_snapshot!("moved_tag_update", snapshot(&server, &tanto, &run));
    let entry = &lock_entries(&project)[0];
    assert_eq!((entry.version.as_deref(), entry.commit.as_str()), (Some("1.2.0"), moved_to.as_str()));
    elsewhere.run_in(&project, &["install", "--locked"]).success();
}

#[test]
fn install_with_a_complete_lock_and_a_warm_cache_needs_no_network() {
    let server = GitServer::start();
    let single = server.single_module();
    let app_commit = server.dependent_module();
    let tanto = server.tanto();
    let project = server.project(
        "no-network",
        &format!("{APP}\n[dependencies]\napp = \"github.com/acme/app@^1\"\nfeat = \"github.com/acme/single@feature\"\n"),
    );
    tanto.run_in(&project, &["install"]).success();
    let lock_before = fs::read(project.join("tanto.lock")).expect("lock");

    // The network is gone; neither --offline nor anything else is said.
    server.stop();
    let run = tanto.run_in(&project, &["install"]).success();
    insta::assert_snapshot!("no_network_install", snapshot(&server, &tanto, &run));
    assert_eq!(fs::read(project.join("tanto.lock")).expect("lock"), lock_before);
    tanto.run_in(&project, &["install", "--locked"]).success();
    let commits: Vec<(String, String)> = lock_entries(&project).into_iter().map(|entry| (entry.name, entry.commit)).collect();
    assert_eq!(
        commits,
        [
            ("app".to_owned(), app_commit),
            ("feat".to_owned(), single.feature.clone()),
            ("lib".to_owned(), single.v1_2.clone()),
        ]
    );

    // What the lock does not determine still needs the network, and says so.
    let run = tanto.run_in(&project, &["install", "github.com/acme/single@^2"]).failure(2);
    assert!(run.stderr.contains("github.com/acme/single@^2"), "{}", run.stderr);
    assert!(run.stderr.contains("hint: check the network connection"), "{}", run.stderr);
    assert_eq!(fs::read(project.join("tanto.lock")).expect("lock"), lock_before);
}

#[test]
fn a_dependency_cycle_is_refused_naming_the_cycle() {
    let server = GitServer::start();
    for (name, dependency) in [("cycle-a", "github.com/acme/cycle-b@^1"), ("cycle-b", "github.com/acme/cycle-a@^1")] {
        let repo = server.repository(name);
        repo.module("", name, "1.0.0", &[(if name == "cycle-a" { "b" } else { "a" }, dependency)]);
        repo.commit("1.0.0");
        repo.annotated_tag("v1.0.0");
        repo.push();
    }
    let tanto = server.tanto();
    let project = server.project("cycle", APP);

    let run = tanto.run_in(&project, &["install", "github.com/acme/cycle-a@^1", "--name", "a"]).failure(2);
    assert!(run.stderr.contains("the dependencies form a cycle: a → b → a"), "{}", run.stderr);
    insta::assert_snapshot!("cycle", snapshot(&server, &tanto, &run));
    assert_eq!(manifest(&project), APP);
    assert!(!project.join("tanto.lock").exists());
}

#[test]
fn a_reference_with_whitespace_around_it_is_refused() {
    let server = GitServer::start();
    server.single_module();
    let tanto = server.tanto();
    let project = server.project("whitespace", APP);

    // Read leniently, `v1.0.0 ` would be the requirement ^1.0.0 and lock 1.2.0.
    let run = tanto.run_in(&project, &["install", "github.com/acme/single@v1.0.0 "]).failure(2);
    insta::assert_snapshot!("whitespace_argument", snapshot(&server, &tanto, &run));
    assert_eq!(manifest(&project), APP);
    assert!(!project.join("tanto.lock").exists());

    // In tanto.toml, the error points at the line.
    fs::write(
        project.join("tanto.toml"),
        format!("{APP}\n[dependencies]\nsingle = \"github.com/acme/single@v1.0.0 \"\n"),
    )
    .expect("write tanto.toml");
    let run = tanto.run_in(&project, &["install"]).failure(2);
    assert!(run.stderr.contains("line 6"), "{}", run.stderr);
    insta::assert_snapshot!("whitespace_manifest", snapshot(&server, &tanto, &run));
    assert!(!project.join("tanto.lock").exists());

    // Written as meant, it is the tag.
    fs::write(project.join("tanto.toml"), APP).expect("write tanto.toml");
    tanto.run_in(&project, &["install", "github.com/acme/single@v1.0.0"]).success();
    assert_eq!(lock_entries(&project)[0].version.as_deref(), Some("1.0.0"));
}

#[test]
fn offline_works_from_the_cache_and_names_what_is_missing() {
    let server = GitServer::start();
    let single = server.single_module();
    server.monorepo();
    let tanto = server.tanto();
    let first = server.project("online", APP);
    tanto.run_in(&first, &["install", "github.com/acme/single@^1"]).success();

    // No server any more: only the cache answers.
    server.stop();
    let second = server.project("offline", &format!("{APP}\n[dependencies]\nsingle = \"github.com/acme/single@^1\"\n"));
    tanto.run_in(&second, &["--offline", "install"]).success();
    let entry = &lock_entries(&second)[0];
    assert_eq!((entry.version.as_deref(), entry.commit.as_str()), (Some("1.2.0"), single.v1_2.as_str()));

    let run = tanto.run_in(&second, &["--offline", "install", "github.com/acme/mono/mods/a@^1"]).failure(2);
    insta::assert_snapshot!("offline_missing", snapshot(&server, &tanto, &run));
    assert!(run.stderr.contains("github.com/acme/mono/mods/a"), "{}", run.stderr);
    assert!(!manifest(&second).contains("mono"));
}

#[test]
fn publish_tags_and_pushes_and_the_release_installs() {
    let server = GitServer::start();
    let repo = server.repository("tools");
    repo.write("README.md", "tools\n");
    repo.module("mods/lint", "lint", "unreleased", &[]);
    let head = repo.commit("lint");
    repo.push();
    let tanto = server.tanto();
    let module_dir = repo.work.join("mods/lint");

    // --version is required.
    tanto.run_in(&module_dir, &["publish"]).failure(2);

    let run = tanto.run_in(&module_dir, &["publish", "--version", "1.0.0"]).success();
    insta::assert_snapshot!("publish", snapshot(&server, &tanto, &run));
    // stdout names the release exactly; the suggestion is a caret requirement, which
    // `tanto update` moves to later compatible releases.
    assert_eq!(run.stdout, "github.com/acme/tools/mods/lint@v1.0.0\n");
    let suggested = run
        .stderr
        .lines()
        .find_map(|line| line.strip_prefix("Install it with: tanto install "))
        .expect("a suggestion")
        .to_owned();
    assert_eq!(suggested, "github.com/acme/tools/mods/lint@^1.0.0");
    assert_eq!(repo.served_tag("mods/lint/v1.0.0").as_deref(), Some(head.as_str()));
    assert_eq!(repo.served_tag("v1.0.0"), None);

    // A released version is immutable.
    let run = tanto.run_in(&module_dir, &["publish", "--version", "1.0.0"]).failure(2);
    insta::assert_snapshot!("publish_again", snapshot(&server, &tanto, &run));

    // Uncommitted work is never released.
    repo.write("mods/lint/NOTES", "draft\n");
    let run = tanto.run_in(&module_dir, &["publish", "--version", "1.0.1"]).failure(2);
    assert!(run.stderr.contains("hint: commit or stash your changes"), "{}", run.stderr);
    assert_eq!(repo.served_tag("mods/lint/v1.0.1"), None);

    // A prebuilt component git ignores would be missing from every checkout of the tag.
    repo.git(&["checkout", "--quiet", "--", "."]);
    fs::remove_file(repo.work.join("mods/lint/NOTES")).expect("remove NOTES");
    repo.module("mods/fmt", "fmt", "unreleased", &[]);
    repo.write(".gitignore", "*.wasm\n");
    repo.git(&["add", "mods/fmt/tanto.toml", ".gitignore"]);
    repo.git(&["commit", "--quiet", "--message", "fmt without its component"]);
    let run = tanto.run_in(&repo.work.join("mods/fmt"), &["publish", "--version", "0.1.0"]).failure(2);
    insta::assert_snapshot!("publish_uncommitted_component", snapshot(&server, &tanto, &run));
    assert_eq!(repo.served_tag("mods/fmt/v0.1.0"), None);

    // Another module installs what was suggested.
    let project = server.project("consumer", APP);
    tanto.run_in(&project, &["install", &suggested]).success();
    let entry = &lock_entries(&project)[0];
    assert_eq!(entry.tag.as_deref(), Some("mods/lint/v1.0.0"));
    assert_eq!(entry.commit, head);
    assert_eq!(entry.name, "lint");
    assert_eq!(manifest(&project), format!("{APP}\n[dependencies]\nlint = \"{suggested}\"\n"));
}

#[test]
fn resolution_errors_are_clear_and_leave_the_manifest_alone() {
    let server = GitServer::start();
    server.single_module();
    let tanto = server.tanto();
    let project = server.project("errors", APP);

    for (name, reference) in [
        ("unknown_host", "nonexistent.invalid/acme/x@^1"),
        ("missing_repository", "github.com/acme/nope@^1"),
        ("missing_version", "github.com/acme/single@^3"),
    ] {
        let run = tanto.run_in(&project, &["install", reference]).failure(2);
        assert!(run.stderr.contains("\nhint: "), "{name}: {}", run.stderr);
        insta::assert_snapshot!(name, snapshot(&server, &tanto, &run));
        assert_eq!(manifest(&project), APP, "{name}");
        assert!(!project.join("tanto.lock").exists(), "{name}");
    }

    // A name already used for another module.
    tanto.run_in(&project, &["install", "github.com/acme/single@^1", "--name", "tool"]).success();
    let run = tanto
        .run_in(&project, &["install", "github.com/acme/mono/mods/a@^1", "--name", "tool"])
        .failure(2);
    insta::assert_snapshot!("name_taken", snapshot(&server, &tanto, &run));
}

#[test]
fn a_malformed_manifest_names_file_and_line() {
    let server = GitServer::start();
    let tanto = server.tanto();
    let project = server.project(
        "malformed",
        "name = \"app\"\nsdk = \"rust\"\n\n[dependencies]\ngood = \"github.com/acme/single@^1\"\nbad = \"github.com/acme@^1\"\n",
    );
    let run = tanto.run_in(&project, &["install"]).failure(2);
    assert!(run.stderr.contains("tanto.toml"), "{}", run.stderr);
    assert!(run.stderr.contains("line 6"), "{}", run.stderr);
    insta::assert_snapshot!("malformed_manifest", snapshot(&server, &tanto, &run));
}

#[test]
fn a_local_path_is_written_relative_to_the_manifest_and_never_locked() {
    let server = GitServer::start();
    server.single_module();
    let tanto = server.tanto();
    let project = server.project("local", APP);
    let helper = project.join("mods/helper");
    fs::create_dir_all(&helper).expect("mkdir");
    fs::copy(tanto_tests::guest_wasm("api"), helper.join("module.wasm")).expect("copy component");
    fs::write(
        helper.join("tanto.toml"),
        "name = \"helper\"\nsdk = \"rust\"\ncomponent = \"module.wasm\"\n\n[dependencies]\nlib = \"github.com/acme/single@^1\"\n",
    )
    .expect("write helper manifest");

    // Given relative to where the user stands (a subfolder of the project).
    tanto.run_in(&project.join("mods"), &["install", "./helper"]).success();
    assert_eq!(manifest(&project), format!("{APP}\n[dependencies]\nhelper = \"./mods/helper\"\n"));
    // The local module is followed (its git dependency is locked) but not locked itself.
    let names: Vec<String> = lock_entries(&project).into_iter().map(|entry| entry.name).collect();
    assert_eq!(names, ["lib"]);
}
