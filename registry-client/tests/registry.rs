//! End-to-end tests against real git repositories served by `git daemon` on
//! 127.0.0.1 (see `common`).

mod common;

use std::fs;

use common::Fixture;
use tanto_git_fixtures::{Abbreviated, free_port, incompressible, redact_hex};
use tanto_registry::git::{CacheLayout, FailureKind, FetchTarget, GitCli, GitError, GitSource, Reach};
use tanto_registry::install::{InstallError, InstallOptions, LockMode, install, update};
use tanto_registry::lockfile::{VerifyError, read_lockfile};
use tanto_registry::publish::{PublishError, PublishOptions, publish};
use tanto_registry::resolve::{Network, ResolveError, resolve};
use tanto_registry::{Hint, Reference};

fn reference(text: &str) -> Reference {
    Reference::parse(text).expect("reference")
}

fn render(error: &dyn std::error::Error, hint: Option<Hint>) -> String {
    match hint {
        Some(hint) => format!("error: {error}\nhint: {hint}"),
        None => format!("error: {error}"),
    }
}

#[test]
fn caret_one_picks_the_highest_stable_1x() {
    let fixture = Fixture::new();
    let commits = fixture.standard();
    let git = fixture.git_cli();
    let resolved = resolve(&git, &reference("github.com/acme/single@^1"), Network::Online).expect("resolve");
    assert_eq!(resolved.tag.as_deref(), Some("v1.2.0"));
    assert_eq!(resolved.version, Some(semver::Version::new(1, 2, 0)));
    // v1.2.0 is annotated: the commit is the peeled one, not the tag object.
    assert_eq!(resolved.commit, commits.v1_2);
    let checkout = git.checkout("https://github.com/acme/single", &resolved.commit).expect("checkout");
    assert_eq!(fs::read_to_string(checkout.join("src/lib.rs")).expect("read"), "// 1.2.0\n");
    assert!(!checkout.join(".git").exists());
}

#[test]
fn exact_versions_branches_and_commits() {
    let fixture = Fixture::new();
    let commits = fixture.standard();
    let git = fixture.git_cli();
    let online = |text: &str| resolve(&git, &reference(text), Network::Online);

    let exact = online("github.com/acme/single@v1.2.0").expect("exact");
    assert_eq!((exact.tag.as_deref(), exact.commit.as_str()), (Some("v1.2.0"), commits.v1_2.as_str()));
    let without_v = online("github.com/acme/single@1.0.0").expect("exact without v");
    assert_eq!(without_v.commit, commits.v1_0);
    let pre = online("github.com/acme/single@v1.5.0-rc.1").expect("pre-release");
    assert_eq!(pre.commit, commits.v1_5_rc);
    let latest = online("github.com/acme/single").expect("no version");
    assert_eq!(latest.commit, commits.v2_0);

    let branch = online("github.com/acme/single@feature").expect("branch");
    assert_eq!(branch.branch.as_deref(), Some("feature"));
    assert_eq!(branch.commit, commits.feature);
    assert_eq!(branch.version, None);

    // A commit no ref advertises: fetched by id (abbreviated: all refs are fetched).
    let short = &commits.v1_5_rc[..10];
    let commit = online(&format!("github.com/acme/single@{short}")).expect("short commit");
    assert_eq!(commit.commit, commits.v1_5_rc);
    assert_eq!((commit.tag.clone(), commit.branch.clone()), (None, None));
    let full = online(&format!("github.com/acme/single@{}", commits.v1_0)).expect("full commit");
    assert_eq!(full.commit, commits.v1_0);
    let missing = online("github.com/acme/single@0123456789abcdef").expect_err("no such commit");
    assert!(matches!(missing, ResolveError::CommitNotFound { .. }), "{missing}");
}

#[test]
fn monorepo_prefixed_tags_win_over_the_root_tag() {
    let fixture = Fixture::new();
    let commits = fixture.standard();
    let git = fixture.git_cli();
    let a = resolve(&git, &reference("github.com/acme/mono/mods/a@^1"), Network::Online).expect("resolve a");
    assert_eq!(a.tag.as_deref(), Some("mods/a/v1.1.0"));
    assert_eq!(a.commit, commits.mono_2);
    assert_ne!(a.commit, commits.mono_root);
    let b = resolve(&git, &reference("github.com/acme/mono/mods/b"), Network::Online).expect("resolve b");
    assert_eq!((b.tag.as_deref(), b.commit.as_str()), (Some("mods/b/v2.0.0"), commits.mono_1.as_str()));
    // The same URL shares one bare repository and one checkout per commit.
    let checkout = git.checkout("https://github.com/acme/mono", &a.commit).expect("checkout");
    assert!(checkout.join("mods/a/main.py").is_file());
    let databases = fs::read_dir(fixture.cache.join("git/db"))
        .expect("db dir")
        .filter(|entry| entry.as_ref().is_ok_and(|entry| entry.path().is_dir()))
        .count();
    assert_eq!(databases, 1);
}

#[test]
fn install_resolves_transitive_dependencies_and_writes_the_lock_once() {
    let fixture = Fixture::new();
    fixture.standard();
    let git = fixture.git_cli();
    let project = fixture.host.project(
        "transitive",
        "name = \"project\"\n\n[dependencies]\napp = \"github.com/acme/app@^1\"\na = { source = \"github.com/acme/mono/mods/a\", version = \"^1\" }\nsingle2 = \"github.com/acme/single@^2\"\n",
    );
    let installation = install(&git, &project, &InstallOptions::default()).expect("install");
    assert!(installation.lockfile_changed);
    let ids: Vec<String> = installation.resolution.lockfile.modules.iter().map(|module| module.id()).collect();
    assert_eq!(ids, ["a@1.1.0", "app@1.0.0", "lib@1.2.0", "single2@2.0.0"]);
    let report = &installation.resolution.report;
    assert_eq!(report.added.len(), 4);
    assert_eq!(report.duplicates.len(), 1, "{report:?}");
    assert_eq!(report.duplicates[0].ids, ["lib@1.2.0", "single2@2.0.0"]);
    let app = installation.resolution.modules.iter().find(|module| module.id == "app@1.0.0").expect("app");
    assert_eq!(app.dependencies, ["lib@1.2.0"]);
    assert!(app.path.join("tanto.toml").is_file());
    let a = installation.resolution.modules.iter().find(|module| module.id == "a@1.1.0").expect("a");
    assert!(a.path.ends_with("mods/a"));

    let text = fs::read_to_string(project.join("tanto.lock")).expect("lock");
    insta::assert_snapshot!(redact_hex(&text, Abbreviated::Keep));

    let again = install(&git, &project, &InstallOptions::default()).expect("install again");
    assert!(!again.lockfile_changed);
    assert_eq!(again.resolution.report.unchanged.len(), 4);
    assert!(again.resolution.report.added.is_empty());
    assert_eq!(fs::read_to_string(project.join("tanto.lock")).expect("lock"), text);
}

#[test]
fn update_moves_a_requirement_to_a_newly_pushed_version() {
    let fixture = Fixture::new();
    fixture.standard();
    let git = fixture.git_cli();
    let project = fixture
        .host
        .project("update", "name = \"project\"\n[dependencies]\nlib = \"github.com/acme/single@^1\"\n");
    install(&git, &project, &InstallOptions::default()).expect("install");

    // A new release appears upstream.
    let single = fixture.host.existing_repository("single");
    single.write("src/lib.rs", "// 1.3.0\n");
    let v1_3 = single.commit("1.3.0");
    single.annotated_tag("v1.3.0");
    single.push();

    // Install keeps the pin ...
    let kept = install(&git, &project, &InstallOptions::default()).expect("install");
    assert!(!kept.lockfile_changed);
    assert_eq!(kept.resolution.lockfile.modules[0].version, Some(semver::Version::new(1, 2, 0)));

    // ... update moves it and reports old -> new.
    let updated = update(&git, &project, &["lib".to_owned()], &InstallOptions::default()).expect("update");
    assert!(updated.lockfile_changed);
    let report = &updated.resolution.report;
    assert_eq!(report.updated.len(), 1);
    assert_eq!(report.updated[0].to_string(), "lib 1.2.0 → 1.3.0 (github.com/acme/single)");
    let lock = read_lockfile(&project.join("tanto.lock")).expect("read").expect("lock");
    assert_eq!(lock.modules[0].commit, v1_3);
    assert_eq!(lock.modules[0].tag.as_deref(), Some("v1.3.0"));
}

#[test]
fn locked_mode_fails_when_the_lock_would_change() {
    let fixture = Fixture::new();
    fixture.standard();
    let git = fixture.git_cli();
    let project = fixture
        .host
        .project("locked", "name = \"project\"\n[dependencies]\nlib = \"github.com/acme/single@^1\"\n");
    let locked = InstallOptions {
        lock_mode: LockMode::Locked,
        ..InstallOptions::default()
    };
    let no_lock = install(&git, &project, &locked).expect_err("no lock yet");
    assert!(matches!(no_lock, InstallError::LockOutOfDate { .. }));

    install(&git, &project, &InstallOptions::default()).expect("install");
    let unchanged = install(&git, &project, &locked).expect("lock is current");
    assert!(!unchanged.lockfile_changed);

    fs::write(
        project.join("tanto.toml"),
        "name = \"project\"\n[dependencies]\nlib = \"github.com/acme/single@^1\"\nb = \"github.com/acme/mono/mods/b@^2\"\n",
    )
    .expect("edit manifest");
    let before = fs::read_to_string(project.join("tanto.lock")).expect("lock");
    let error = install(&git, &project, &locked).expect_err("lock would change");
    assert!(matches!(error, InstallError::LockOutOfDate { .. }));
    let rendered = fixture.redact(&render(&error, error.hint()));
    assert!(rendered.contains("tanto install"), "{rendered}");
    insta::assert_snapshot!(rendered);
    assert_eq!(fs::read_to_string(project.join("tanto.lock")).expect("lock"), before);
}

#[test]
fn a_moved_tag_is_an_error_naming_dependency_and_commits() {
    let fixture = Fixture::new();
    let commits = fixture.standard();
    let git = fixture.git_cli();
    let project = fixture
        .host
        .project("moved", "name = \"project\"\n[dependencies]\nlib = \"github.com/acme/single@^1\"\n");
    install(&git, &project, &InstallOptions::default()).expect("install");
    let lock_before = fs::read_to_string(project.join("tanto.lock")).expect("lock");

    let single = fixture.host.existing_repository("single");
    single.git(&["checkout", "--quiet", "v1.2.0"]);
    single.write("src/lib.rs", "// 1.2.0, rewritten\n");
    let moved = single.commit("sneaky");
    single.move_tag("v1.2.0");
    single.push();

    // Where the cache holds the locked commit, the lock decides: the move changes nothing.
    let kept = install(&git, &project, &InstallOptions::default()).expect("warm cache");
    assert_eq!(kept.resolution.lockfile.modules[0].commit, commits.v1_2);
    assert_eq!(fs::read_to_string(project.join("tanto.lock")).expect("lock"), lock_before);

    // Where it has to be fetched (another machine, a cleared cache), the move is an error.
    let cold = GitCli::new(fixture.git_config(), CacheLayout::new(fixture.host.root().join("cold-cache")));
    let error = install(&cold, &project, &InstallOptions::default()).expect_err("moved tag");
    match &error {
        InstallError::Verify(VerifyError::TagMoved { entry, found }) => {
            assert_eq!(entry.name, "lib");
            assert_eq!(entry.commit, commits.v1_2);
            assert_eq!(found.as_deref(), Some(moved.as_str()));
        }
        other => panic!("expected a moved tag, got {other:?}"),
    }
    let rendered = render(&error, error.hint()).replace(&commits.v1_2, "[LOCKED]").replace(&moved, "[MOVED]");
    insta::assert_snapshot!(rendered);
    assert_eq!(fs::read_to_string(project.join("tanto.lock")).expect("lock"), lock_before);

    // `update` accepts it, and says from which commit to which.
    let updated = update(&git, &project, &["lib".to_owned()], &InstallOptions::default()).expect("update");
    let report = &updated.resolution.report;
    assert_eq!(report.updated.len(), 1, "{report:?}");
    assert_eq!(
        report.updated[0].to_string(),
        format!("lib 1.2.0 moved {} → {} (github.com/acme/single)", &commits.v1_2[..7], &moved[..7])
    );
    assert_eq!(updated.resolution.lockfile.modules[0].commit, moved);
}

#[test]
fn a_tampered_checkout_is_an_error() {
    let fixture = Fixture::new();
    fixture.standard();
    let git = fixture.git_cli();
    let project = fixture
        .host
        .project("tampered", "name = \"project\"\n[dependencies]\nlib = \"github.com/acme/single@^1\"\n");
    let installation = install(&git, &project, &InstallOptions::default()).expect("install");
    let module = &installation.resolution.modules[0];
    fs::write(module.path.join("src/lib.rs"), "// evil\n").expect("tamper");

    let error = install(&git, &project, &InstallOptions::default()).expect_err("tampered");
    match &error {
        InstallError::Verify(VerifyError::ContentMismatch { entry, found, .. }) => {
            assert_eq!(entry.id(), "lib@1.2.0");
            assert_ne!(&entry.hash, found);
        }
        other => panic!("expected a content mismatch, got {other:?}"),
    }
    insta::assert_snapshot!(fixture.redact(&render(&error, error.hint())));
}

#[test]
fn offline_mode_works_from_the_cache_and_names_what_is_missing() {
    let fixture = Fixture::new();
    fixture.standard();
    let git = fixture.git_cli();
    let project = fixture.host.project(
        "offline",
        "name = \"project\"\n[dependencies]\napp = \"github.com/acme/app@^1\"\nfeature = \"github.com/acme/single@feature\"\n",
    );
    let online = install(&git, &project, &InstallOptions::default()).expect("install");
    let lock_text = fs::read_to_string(project.join("tanto.lock")).expect("lock");

    // Nothing answers on the network any more.
    fixture.host.stop();
    let offline = InstallOptions {
        network: Network::Offline,
        ..InstallOptions::default()
    };
    let from_lock = install(&git, &project, &offline).expect("offline with lock");
    assert_eq!(from_lock.resolution.lockfile, online.resolution.lockfile);

    // Online mode needs no network either: the lock determines every commit (a tag, a
    // branch and a transitive dependency) and the cache holds them, as with cargo.
    let online_again = install(&git, &project, &InstallOptions::default()).expect("a complete lock and a warm cache");
    assert!(!online_again.lockfile_changed);
    assert_eq!(online_again.resolution.report.unchanged.len(), 3);

    // Without the lock, resolution uses the refs of the cached bare repositories.
    fs::remove_file(project.join("tanto.lock")).expect("remove lock");
    let from_cache = install(&git, &project, &offline).expect("offline without lock");
    assert_eq!(from_cache.resolution.lockfile, online.resolution.lockfile);
    assert_eq!(fs::read_to_string(project.join("tanto.lock")).expect("lock"), lock_text);

    // A module the cache never saw: the error names it.
    fs::write(
        project.join("tanto.toml"),
        "name = \"project\"\n[dependencies]\na = \"github.com/acme/mono/mods/a@^1\"\n",
    )
    .expect("edit manifest");
    let error = install(&git, &project, &offline).expect_err("not cached");
    let rendered = fixture.redact(&render(&error, error.hint()));
    assert!(rendered.contains("github.com/acme/mono/mods/a@^1"), "{rendered}");
    insta::assert_snapshot!(rendered);

    // Online, the daemon being gone is a network error with its own hint.
    let error = resolve(&git, &reference("github.com/acme/mono/mods/a@^1"), Network::Online).expect_err("daemon stopped");
    assert!(
        matches!(&error, ResolveError::Git { error, .. } if error.failure_kind() == Some(&FailureKind::NetworkUnreachable)),
        "{error}"
    );
}

#[test]
fn publish_creates_and_pushes_the_prefixed_tag() {
    let fixture = Fixture::new();
    fixture.standard();
    let mono = fixture.host.existing_repository("mono");
    let head = mono.git(&["rev-parse", "HEAD"]);
    let options = PublishOptions {
        version: semver::Version::new(1, 2, 0),
        remote: "origin".to_owned(),
    };
    let published = publish(&fixture.git_config(), &mono.work.join("mods/a"), &options).expect("publish");
    assert_eq!(published.tag, "mods/a/v1.2.0");
    assert_eq!(published.commit, head);
    assert_eq!(published.subpath.as_deref(), Some("mods/a"));
    assert_eq!(published.remote_url, "https://github.com/acme/mono");
    assert_eq!(published.reference.to_string(), "github.com/acme/mono/mods/a@v1.2.0");
    assert_eq!(published.install_reference().to_string(), "github.com/acme/mono/mods/a@^1.2.0");
    assert_eq!(mono.served_tag("mods/a/v1.2.0").as_deref(), Some(head.as_str()));
    let tag_type = fixture.host.git(&mono.bare, &["cat-file", "-t", "refs/tags/mods/a/v1.2.0"]);
    assert_eq!(tag_type, "tag", "the release tag is annotated");

    // Users can install what was published.
    let resolved = resolve(&fixture.git_cli(), &published.reference, Network::Online).expect("resolve published");
    assert_eq!(resolved.commit, head);

    // Publishing the same version again is refused.
    let again = publish(&fixture.git_config(), &mono.work.join("mods/a"), &options).expect_err("tag exists");
    assert!(matches!(again, PublishError::TagExists { .. }), "{again}");

    // So is a dirty work tree, and nothing is tagged.
    mono.write("mods/b/new.txt", "uncommitted\n");
    let dirty = publish(
        &fixture.git_config(),
        &mono.work.join("mods/b"),
        &PublishOptions {
            version: semver::Version::new(2, 1, 0),
            remote: "origin".to_owned(),
        },
    )
    .expect_err("dirty");
    assert!(matches!(dirty, PublishError::DirtyWorkTree { .. }), "{dirty}");
    assert_eq!(dirty.hint(), Some(Hint::CommitOrStash));
    assert_eq!(mono.served_tag("mods/b/v2.1.0"), None);

    // A module at the root of its repository gets a plain vX.Y.Z tag.
    let app = fixture.host.existing_repository("app");
    let root_release = publish(
        &fixture.git_config(),
        &app.work,
        &PublishOptions {
            version: semver::Version::new(1, 1, 0),
            remote: "origin".to_owned(),
        },
    )
    .expect("publish root module");
    assert_eq!(root_release.tag, "v1.1.0");
    assert_eq!(root_release.reference.to_string(), "github.com/acme/app@v1.1.0");
    assert!(app.served_tag("v1.1.0").is_some());
}

#[test]
fn unknown_host_missing_repository_and_missing_version_are_clear() {
    let fixture = Fixture::new();
    fixture.standard();
    let git = fixture.git_cli();
    let online = |text: &str| resolve(&git, &reference(text), Network::Online);

    let unknown_host = online("nonexistent.invalid/acme/x@^1").expect_err("unknown host");
    assert!(
        matches!(
            &unknown_host,
            ResolveError::Git {
                error: GitError::Failed {
                    kind: FailureKind::UnknownHost { .. },
                    ..
                },
                ..
            }
        ),
        "{unknown_host}"
    );
    insta::assert_snapshot!("unknown_host", fixture.redact(&render(&unknown_host, unknown_host.hint())));

    let missing_repository = online("github.com/acme/nope@^1").expect_err("missing repository");
    assert!(
        matches!(
            &missing_repository,
            ResolveError::Git {
                error: GitError::Failed {
                    kind: FailureKind::RepositoryNotFound,
                    ..
                },
                ..
            }
        ),
        "{missing_repository}"
    );
    insta::assert_snapshot!("missing_repository", fixture.redact(&render(&missing_repository, missing_repository.hint())));

    let missing_version = online("github.com/acme/single@^3").expect_err("missing version");
    insta::assert_snapshot!("missing_version", fixture.redact(&render(&missing_version, missing_version.hint())));

    let closed = free_port();
    let unreachable = online(&format!("git://127.0.0.1:{closed}/acme/single@^1")).expect_err("nothing listens");
    assert!(
        matches!(
            &unreachable,
            ResolveError::Git {
                error: GitError::Failed {
                    kind: FailureKind::NetworkUnreachable,
                    ..
                },
                ..
            }
        ),
        "{unreachable}"
    );
}

/// A repository may not fill the disk through the module cache: a fetch is stopped once
/// what it received passes the limit (and leaves no pack), and a commit whose files
/// expand past it (a small pack of zeros) is not checked out.
#[test]
fn fetches_and_checkouts_are_bounded() {
    let fixture = Fixture::new();
    let noisy = fixture.host.repository("noisy");
    noisy.write("noise.txt", &incompressible(2_000_000));
    let noisy_commit = noisy.commit("noise");
    noisy.push();
    let zeros = fixture.host.repository("zeros");
    zeros.write("zeros.txt", &"\0".repeat(8_000_000));
    let zeros_commit = zeros.commit("zeros");
    zeros.push();

    let limit = 1_000_000;
    let git = GitCli::new(fixture.git_config().with_size_limit(limit), CacheLayout::new(&fixture.cache));
    let url = "https://github.com/acme/noisy";
    let error = git.fetch(url, &FetchTarget::Commit(noisy_commit.clone())).expect_err("too big");
    assert!(matches!(&error, GitError::FetchTooBig { limit: 1_000_000, .. }), "{error}");
    assert!(error.to_string().contains("TANTO_CACHE_MAX_SIZE"), "{error}");
    let packs = git.cache().database(url).join("objects/pack");
    let left: Vec<_> = fs::read_dir(&packs)
        .map(|entries| entries.flatten().map(|entry| entry.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(git.find_commit(url, &noisy_commit).expect("find"), None);

    let url = "https://github.com/acme/zeros";
    git.fetch(url, &FetchTarget::Commit(zeros_commit.clone())).expect("a small pack");
    let error = git.checkout(url, &zeros_commit).expect_err("expands too far");
    assert!(matches!(&error, GitError::CheckoutTooBig { .. }), "{error}");
    assert!(!git.cache().checkout(url, &zeros_commit).exists());

    // Under a ceiling they fit, both work.
    let roomy = GitCli::new(fixture.git_config().with_size_limit(100_000_000), CacheLayout::new(&fixture.cache));
    roomy
        .fetch("https://github.com/acme/noisy", &FetchTarget::Commit(noisy_commit.clone()))
        .expect("fetch");
    let checkout = roomy.checkout("https://github.com/acme/noisy", &noisy_commit).expect("checkout");
    assert_eq!(fs::read_to_string(checkout.join("noise.txt")).expect("read").len(), 2_000_000);
    roomy.checkout(url, &zeros_commit).expect("checkout");
}

/// A URL a third-party module declared reaches git as the host's check answered: its URL
/// (an address in place of a name) and its settings, ahead of the command.
#[test]
fn declared_urls_are_reached_as_the_check_answered() {
    fn to_the_fixture(_: &str) -> Result<Reach, String> {
        Ok(Reach {
            url: "https://github.com/acme/single".into(),
            settings: Vec::new(),
        })
    }
    fn without_git_protocol(url: &str) -> Result<Reach, String> {
        Ok(Reach {
            settings: vec!["protocol.git.allow=never".into()],
            ..to_the_fixture(url)?
        })
    }
    fn refused(url: &str) -> Result<Reach, String> {
        Err(format!("{url} is not for modules"))
    }
    let fixture = Fixture::new();
    fixture.standard();
    let declared = "https://declared.invalid/acme/single";
    let cache = CacheLayout::new(&fixture.cache);

    let git = GitCli::new(fixture.git_config().with_declared_url_check(to_the_fixture), cache.clone());
    git.check_declared_url(declared).expect("allowed");
    let refs = git.list_remote_refs(declared).expect("listed through the fixture's URL");
    assert!(refs.tags.contains_key("v1.2.0"), "{refs:?}");
    git.fetch(declared, &FetchTarget::Tag("v1.2.0".into()))
        .expect("fetched through the fixture's URL");

    // The settings come before the command (`protocol.git.allow=never` stops the
    // fixture's git:// transport).
    let git = GitCli::new(fixture.git_config().with_declared_url_check(without_git_protocol), cache.clone());
    git.check_declared_url(declared).expect("allowed");
    let error = git.list_remote_refs(declared).expect_err("git:// is not allowed");
    assert!(error.to_string().contains("transport 'git' not allowed"), "{error}");

    let git = GitCli::new(fixture.git_config().with_declared_url_check(refused), cache);
    let error = git.check_declared_url(declared).expect_err("refused");
    assert!(
        matches!(&error, GitError::Refused { .. }) && error.to_string().contains("is not for modules"),
        "{error}"
    );
}
