use std::fs;

use std::path::Path;
use std::sync::Mutex;

use semver::Version;

use super::graph::satisfies;
use super::*;
use crate::git::{FakeGit, FakeRepository, FetchTarget, GitError, GitSource, RemoteRefs};
use crate::hash::content_hash;
use crate::hint::Hint;
use crate::lockfile::VerifyError;
use crate::reference::{Reference, VersionSpec};
use crate::schema::lock::LockedModule;
use crate::schema::manifest::Dependencies;

fn commit(n: u8) -> String {
    format!("{n:02x}").repeat(20)
}

const LIB: &str = "https://github.com/acme/lib";
const APP: &str = "https://github.com/acme/app";

fn fake(root: &Path) -> FakeGit {
    let git = FakeGit::new(root.join("cache"));
    git.set_repository(
        LIB,
        FakeRepository::new()
            .commit(&commit(1), &[("tanto.toml", "name = \"lib\"\n")])
            .commit(&commit(2), &[("tanto.toml", "name = \"lib\"\n# 1.1\n")])
            .commit(&commit(3), &[("tanto.toml", "name = \"lib\"\n# 2.0\n")])
            .tag("v1.0.0", &commit(1))
            .tag("v1.1.0", &commit(2))
            .tag("v2.0.0", &commit(3)),
    );
    git.set_repository(
        APP,
        FakeRepository::new()
            .commit(
                &commit(10),
                &[("tanto.toml", "name = \"app\"\n[dependencies]\nlib = \"github.com/acme/lib@^2\"\n")],
            )
            .tag("v1.0.0", &commit(10)),
    );
    git
}

fn deps(entries: &[(&str, &str)]) -> Dependencies {
    let mut dependencies = Dependencies::new();
    for (name, reference) in entries {
        dependencies
            .insert((*name).to_owned(), Reference::parse(reference).expect("reference"))
            .expect("name");
    }
    dependencies
}

#[test]
fn transitive_graph_with_two_versions_of_one_module() {
    let root = tempfile::tempdir().expect("tempdir");
    let git = fake(root.path());
    let dependencies = deps(&[
        ("app", "github.com/acme/app@^1"),
        ("lib", "github.com/acme/lib@^1"),
        ("lib-again", "github.com/acme/lib@~1.1"),
    ]);
    let resolution = resolve_graph(&git, root.path(), &dependencies, None, &InstallOptions::default()).expect("resolve");
    let ids: Vec<String> = resolution.lockfile.modules.iter().map(LockedModule::id).collect();
    assert_eq!(ids, ["app@1.0.0", "lib@1.1.0", "lib@2.0.0"]);
    let lib1 = resolution.lockfile.find("lib@1.1.0").expect("lib 1");
    assert_eq!(lib1.requirements, ["^1", "~1.1"]);
    let app = resolution.lockfile.find("app@1.0.0").expect("app");
    assert_eq!(app.dependencies, ["lib@2.0.0"]);
    assert_eq!(
        resolution.report.duplicates,
        [Duplicate {
            source: "github.com/acme/lib".into(),
            ids: vec!["lib@1.1.0".into(), "lib@2.0.0".into()],
        }]
    );
    assert_eq!(resolution.report.added.len(), 3);
    // Each (source, commit) is fetched once although two edges lead to lib 1.1.0.
    let lib_fetches = git.fetches().iter().filter(|(url, _)| url == LIB).count();
    assert_eq!(lib_fetches, 2);
}

#[test]
fn pins_are_kept_until_updated() {
    let root = tempfile::tempdir().expect("tempdir");
    let git = fake(root.path());
    let dependencies = deps(&[("lib", "github.com/acme/lib@^1")]);
    let options = InstallOptions::default();
    let mut first = resolve_graph(&git, root.path(), &dependencies, None, &options).expect("resolve");
    // Pretend the lock was made when 1.0.0 was the newest.
    first.lockfile.modules[0].version = Some(Version::new(1, 0, 0));
    first.lockfile.modules[0].tag = Some("v1.0.0".into());
    first.lockfile.modules[0].commit = commit(1);
    git.fetch(LIB, &FetchTarget::Tag("v1.0.0".into())).expect("fetch");
    first.lockfile.modules[0].hash = content_hash(&git.checkout(LIB, &commit(1)).expect("checkout")).expect("hash");
    let lock = first.lockfile;

    let kept = resolve_graph(&git, root.path(), &dependencies, Some(&lock), &options).expect("resolve");
    assert_eq!(kept.lockfile, lock);
    assert_eq!(kept.report.unchanged.len(), 1);

    let updated = resolve_graph(
        &git,
        root.path(),
        &dependencies,
        Some(&lock),
        &InstallOptions {
            update: UpdateSelection::Modules(vec!["lib".into()]),
            ..InstallOptions::default()
        },
    )
    .expect("update");
    assert_eq!(updated.report.updated.len(), 1);
    assert_eq!(updated.report.updated[0].to_string(), "lib 1.0.0 → 1.1.0 (github.com/acme/lib)");

    let unknown = resolve_graph(
        &git,
        root.path(),
        &dependencies,
        Some(&lock),
        &InstallOptions {
            update: UpdateSelection::Modules(vec!["nope".into()]),
            ..InstallOptions::default()
        },
    )
    .expect_err("unknown module");
    assert!(matches!(unknown, InstallError::UnknownModule { .. }));

    // A changed requirement no longer matches the pin and moves it.
    let moved = resolve_graph(&git, root.path(), &deps(&[("lib", "github.com/acme/lib@^2")]), Some(&lock), &options).expect("resolve");
    assert_eq!(moved.report.updated[0].to_string(), "lib 1.0.0 → 2.0.0 (github.com/acme/lib)");
}

/// The fake's cache with the network gone: every remote operation fails as an
/// unreachable host does, and is counted.
struct Disconnected<'a> {
    cache: &'a FakeGit,
    attempts: Mutex<Vec<String>>,
}

impl Disconnected<'_> {
    fn unreachable(&self, command: &str, url: &str) -> GitError {
        self.attempts.lock().expect("attempts").push(format!("{command} {url}"));
        GitError::Failed {
            command: format!("git {command} {url}"),
            url: Some(url.to_owned()),
            kind: crate::git::FailureKind::NetworkUnreachable,
            stderr: "fatal: unable to connect: Network is unreachable".to_owned(),
        }
    }
}

impl GitSource for Disconnected<'_> {
    fn list_remote_refs(&self, url: &str) -> Result<RemoteRefs, GitError> {
        Err(self.unreachable("ls-remote", url))
    }
    fn list_cached_refs(&self, url: &str) -> Result<Option<RemoteRefs>, GitError> {
        self.cache.list_cached_refs(url)
    }
    fn fetch(&self, url: &str, _target: &FetchTarget) -> Result<(), GitError> {
        Err(self.unreachable("fetch", url))
    }
    fn find_commit(&self, url: &str, commit: &str) -> Result<Option<String>, GitError> {
        self.cache.find_commit(url, commit)
    }
    fn checkout(&self, url: &str, commit: &str) -> Result<PathBuf, GitError> {
        self.cache.checkout(url, commit)
    }
}

#[test]
fn a_complete_lock_and_a_warm_cache_need_no_network() {
    let root = tempfile::tempdir().expect("tempdir");
    let git = fake(root.path());
    // An untagged commit, depended on by id.
    git.set_repository(LIB, git.repository(LIB).commit(&commit(5), &[("tanto.toml", "name = \"lib\"\n# work\n")]));
    let dependencies = deps(&[
        ("app", "github.com/acme/app@^1"),
        ("lib", "github.com/acme/lib@v1.0.0"),
        ("head", "github.com/acme/lib@0505050"),
    ]);
    let options = InstallOptions::default();
    let first = resolve_graph(&git, root.path(), &dependencies, None, &options).expect("resolve online");

    // Online mode, no network: the lock determines every commit and the cache holds them.
    let disconnected = Disconnected {
        cache: &git,
        attempts: Mutex::new(Vec::new()),
    };
    let again = resolve_graph(&disconnected, root.path(), &dependencies, Some(&first.lockfile), &options).expect("resolve from lock and cache");
    assert_eq!(again.lockfile, first.lockfile);
    assert_eq!(again.report.unchanged.len(), 4);
    assert_eq!(disconnected.attempts.lock().expect("attempts").as_slice(), [] as [String; 0]);

    // What the lock does not determine goes to the network (and fails here).
    let more = deps(&[
        ("app", "github.com/acme/app@^1"),
        ("lib", "github.com/acme/lib@v1.0.0"),
        ("lib1", "github.com/acme/lib@~1.1"),
    ]);
    let error = resolve_graph(&disconnected, root.path(), &more, Some(&first.lockfile), &options).expect_err("lib ~1.1 is not locked");
    assert!(matches!(&error, InstallError::Resolve { dependency, .. } if dependency == "lib1"), "{error}");
    assert_eq!(disconnected.attempts.lock().expect("attempts").as_slice(), [format!("ls-remote {LIB}")]);

    // So does what the cache does not hold: a cold cache fetches the locked commits,
    // checking first that the tags still point at them.
    let cold = FakeGit::new(root.path().join("cold"));
    cold.set_repository(LIB, git.repository(LIB));
    cold.set_repository(APP, git.repository(APP));
    let fetched = resolve_graph(&cold, root.path(), &dependencies, Some(&first.lockfile), &options).expect("resolve into a cold cache");
    assert_eq!(fetched.lockfile, first.lockfile);
    let mut targets: Vec<FetchTarget> = cold.fetches().into_iter().map(|(_, target)| target).collect();
    targets.sort_by_key(|target| format!("{target:?}"));
    assert_eq!(
        targets,
        [
            FetchTarget::Commit(commit(5)),
            FetchTarget::Tag("v1.0.0".into()),
            FetchTarget::Tag("v1.0.0".into()),
            FetchTarget::Tag("v2.0.0".into())
        ]
    );
}

#[test]
fn a_moved_tag_is_kept_from_the_cache_refused_when_fetched_and_shown_by_update() {
    let root = tempfile::tempdir().expect("tempdir");
    let git = fake(root.path());
    let dependencies = deps(&[("lib", "github.com/acme/lib@^1")]);
    let options = InstallOptions::default();
    let lock = resolve_graph(&git, root.path(), &dependencies, None, &options).expect("resolve").lockfile;
    assert_eq!(lock.modules[0].commit, commit(2));

    // v1.1.0 is re-tagged upstream.
    let moved = git
        .repository(LIB)
        .commit(&commit(4), &[("tanto.toml", "name = \"lib\"\n# 1.1, again\n")])
        .tag("v1.1.0", &commit(4));
    git.set_repository(LIB, moved.clone());
    let kept = resolve_graph(&git, root.path(), &dependencies, Some(&lock), &options).expect("the cache holds the locked commit");
    assert_eq!(kept.lockfile, lock);

    let cold = FakeGit::new(root.path().join("cold"));
    cold.set_repository(LIB, moved);
    let error = resolve_graph(&cold, root.path(), &dependencies, Some(&lock), &options).expect_err("fetching a moved tag");
    assert!(matches!(error, InstallError::Verify(VerifyError::TagMoved { .. })), "{error}");

    let updated = resolve_graph(
        &git,
        root.path(),
        &dependencies,
        Some(&lock),
        &InstallOptions {
            update: UpdateSelection::All,
            ..InstallOptions::default()
        },
    )
    .expect("update accepts the move");
    assert_eq!(updated.report.updated.len(), 1);
    assert_eq!(updated.report.updated[0].describe_change(), "1.1.0 moved 0202020 → 0404040");
    assert_eq!(updated.report.updated[0].to_string(), "lib 1.1.0 moved 0202020 → 0404040 (github.com/acme/lib)");
}

fn module(name: &str, dependencies: &[(&str, &str)]) -> String {
    let mut manifest = format!("name = \"{name}\"\n[dependencies]\n");
    for (alias, reference) in dependencies {
        manifest.push_str(&format!("{alias} = \"{reference}\"\n"));
    }
    manifest
}

#[test]
fn dependency_cycles_are_refused_naming_the_cycle() {
    let root = tempfile::tempdir().expect("tempdir");
    let git = fake(root.path());
    let a = "https://github.com/acme/cycle-a";
    let b = "https://github.com/acme/cycle-b";
    git.set_repository(
        a,
        FakeRepository::new()
            .commit(&commit(20), &[("tanto.toml", &module("a", &[("b", "github.com/acme/cycle-b@^1")]))])
            .tag("v1.0.0", &commit(20)),
    );
    git.set_repository(
        b,
        FakeRepository::new()
            .commit(
                &commit(21),
                &[(
                    "tanto.toml",
                    &module("b", &[("lib", "github.com/acme/lib@^1"), ("a", "github.com/acme/cycle-a@^1")]),
                )],
            )
            .tag("v1.0.0", &commit(21)),
    );
    let cycle_of = |dependencies: &Dependencies| match resolve_graph(&git, root.path(), dependencies, None, &InstallOptions::default()) {
        Err(error @ InstallError::Cycle { .. }) => error,
        other => panic!("expected a cycle, got {other:?}"),
    };
    let error = cycle_of(&deps(&[("a", "github.com/acme/cycle-a@^1")]));
    let InstallError::Cycle { cycle } = &error else { unreachable!() };
    let names: Vec<&str> = cycle.iter().map(|member| member.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "a"]);
    assert_eq!(error.hint(), Some(Hint::BreakCycle));
    insta::assert_snapshot!("cycle", format!("error: {error}\nhint: {}", Hint::BreakCycle));

    // Entering the cycle through b names it from b.
    let error = cycle_of(&deps(&[("lib", "github.com/acme/lib@^1"), ("b", "github.com/acme/cycle-b@^1")]));
    assert!(error.to_string().starts_with("the dependencies form a cycle: b → a → b\n"), "{error}");

    // A module that depends on its own release.
    let itself = "https://github.com/acme/itself";
    git.set_repository(
        itself,
        FakeRepository::new()
            .commit(&commit(22), &[("tanto.toml", &module("itself", &[("me", "github.com/acme/itself@^1")]))])
            .tag("v1.0.0", &commit(22)),
    );
    let error = cycle_of(&deps(&[("tool", "github.com/acme/itself@^1")]));
    assert_eq!(
        error.to_string(),
        "the dependencies form a cycle: tool → tool\n  tool 1.0.0 (github.com/acme/itself) depends on tool"
    );

    // Local modules.
    let project = root.path().join("project");
    for (name, dependency) in [("x", "../y"), ("y", "../x")] {
        fs::create_dir_all(project.join(name)).expect("mkdir");
        fs::write(project.join(name).join("tanto.toml"), module(name, &[("next", dependency)])).expect("write");
    }
    let error = cycle_of(&deps(&[("x", "./project/x")]));
    assert!(error.to_string().starts_with("the dependencies form a cycle: x → next → x\n"), "{error}");

    // A major of a module depending on another major of itself is no cycle.
    git.set_repository(
        itself,
        FakeRepository::new()
            .commit(&commit(23), &[("tanto.toml", &module("itself", &[]))])
            .tag("v1.0.0", &commit(23))
            .commit(&commit(24), &[("tanto.toml", &module("itself", &[("old", "github.com/acme/itself@^1")]))])
            .tag("v2.0.0", &commit(24)),
    );
    let resolution = resolve_graph(
        &git,
        root.path(),
        &deps(&[("tool", "github.com/acme/itself@^2")]),
        None,
        &InstallOptions::default(),
    )
    .expect("no cycle");
    let ids: Vec<String> = resolution.lockfile.modules.iter().map(LockedModule::id).collect();
    assert_eq!(ids, ["old@1.0.0", "tool@2.0.0"]);
}

#[test]
fn pinned_versions_satisfy_specs() {
    let entry = LockedModule {
        name: "m".into(),
        source: "github.com/o/r/sub".into(),
        requirements: vec![],
        version: Some(Version::new(1, 2, 0)),
        tag: Some("sub/v1.2.0".into()),
        branch: None,
        commit: commit(7),
        subpath: Some("sub".into()),
        hash: String::new(),
        component: None,
        dependencies: vec![],
    };
    let spec = |raw: &str| VersionSpec::parse(raw).expect("spec");
    for yes in ["^1", "1.2.0", "v1.2.0", "sub/v1.2.0", "~1.2", &commit(7)[..9]] {
        assert!(satisfies(&entry, Some(&spec(yes))), "{yes}");
    }
    for no in ["^2", "1.2.1", "main"] {
        assert!(!satisfies(&entry, Some(&spec(no))), "{no}");
    }
    assert!(satisfies(&entry, None));
}

/// A git source whose host refuses every URL a third-party module declares, and which
/// counts the network requests it gets.
struct Guarded<'a> {
    git: &'a FakeGit,
    checked: Mutex<Vec<String>>,
    requests: Mutex<Vec<String>>,
}

impl GitSource for Guarded<'_> {
    fn list_remote_refs(&self, url: &str) -> Result<RemoteRefs, GitError> {
        self.requests.lock().expect("requests").push(format!("ls-remote {url}"));
        self.git.list_remote_refs(url)
    }
    fn list_cached_refs(&self, url: &str) -> Result<Option<RemoteRefs>, GitError> {
        self.git.list_cached_refs(url)
    }
    fn fetch(&self, url: &str, target: &FetchTarget) -> Result<(), GitError> {
        self.requests.lock().expect("requests").push(format!("fetch {url}"));
        self.git.fetch(url, target)
    }
    fn find_commit(&self, url: &str, commit: &str) -> Result<Option<String>, GitError> {
        self.git.find_commit(url, commit)
    }
    fn checkout(&self, url: &str, commit: &str) -> Result<PathBuf, GitError> {
        self.git.checkout(url, commit)
    }
    fn check_declared_url(&self, url: &str) -> Result<(), GitError> {
        self.checked.lock().expect("checked").push(url.to_owned());
        Err(GitError::Refused {
            url: url.to_owned(),
            reason: format!("{url} is refused here"),
        })
    }
}

#[test]
fn urls_only_third_party_modules_declare_are_checked_before_the_network() {
    let root = tempfile::tempdir().expect("tempdir");
    let git = fake(root.path());
    let guarded = Guarded {
        git: &git,
        checked: Mutex::new(Vec::new()),
        requests: Mutex::new(Vec::new()),
    };
    // app (the user's) declares lib: lib is refused before anything asks for it.
    let error = resolve_graph(
        &guarded,
        root.path(),
        &deps(&[("app", "github.com/acme/app@^1")]),
        None,
        &InstallOptions::default(),
    )
    .expect_err("lib is declared by app only");
    let message = error.to_string();
    assert!(
        message.contains(&format!("{LIB} is refused here")) && message.contains("required by app"),
        "{message}"
    );
    assert_eq!(guarded.checked.lock().expect("checked").as_slice(), [LIB]);
    assert_eq!(
        guarded.requests.lock().expect("requests").as_slice(),
        [format!("ls-remote {APP}"), format!("fetch {APP}")]
    );

    // The user names lib too: it is the user's choice, fetched unchecked.
    guarded.checked.lock().expect("checked").clear();
    let both = deps(&[("app", "github.com/acme/app@^1"), ("lib", "github.com/acme/lib@^1")]);
    resolve_graph(&guarded, root.path(), &both, None, &InstallOptions::default()).expect("lib is the user's too");
    assert_eq!(guarded.checked.lock().expect("checked").as_slice(), [] as [String; 0]);
}
