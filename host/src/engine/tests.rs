//! The engine against the fake backend: laziness, caching, invalidation, single flight,
//! concurrency and error reporting.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::*;
use crate::backend::fake::FakeBackend;

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|word| word.to_string()).collect()
}

struct Fixture {
    backend: Arc<FakeBackend>,
    cache: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Self {
            backend: Arc::new(FakeBackend::default()),
            cache: tempfile::tempdir().unwrap(),
        }
    }

    /// A fresh engine (a new process, as far as memoization goes) over the same cache.
    fn engine(&self) -> Engine {
        self.engine_with(CacheMode::Use, 4)
    }

    fn engine_with(&self, cache_mode: CacheMode, parallelism: usize) -> Engine {
        let settings = EngineSettings {
            cache_root: self.cache.path().to_path_buf(),
            cache_mode,
            parallelism,
            max_download: crate::engine::DEFAULT_CACHE_CEILING,
        };
        Engine::new(self.backend.clone(), settings, Arc::new(NoProgress))
    }
}

fn base() -> Container {
    Container::scratch().from("base")
}

#[tokio::test]
async fn builders_run_nothing_until_a_terminal_method() {
    let fixture = Fixture::new();
    let engine = fixture.engine();
    let container = base().with_exec(args(&["echo", "hi"]), ExecOptions::default());
    assert_eq!(fixture.backend.runs(), 0);
    assert_eq!(engine.stdout(&container).await.unwrap(), "hi\n");
    assert_eq!(engine.exit_code(&container).await.unwrap(), 0);
    assert_eq!(fixture.backend.runs(), 1, "stdout and exit-code share one evaluation");
}

#[tokio::test]
async fn a_second_process_answers_from_the_cache() {
    let fixture = Fixture::new();
    let pipeline = || {
        let mut container = base();
        for step in 0..5 {
            container = container.with_exec(args(&["write", &format!("step{step}"), "x"]), ExecOptions::default());
        }
        container.with_exec(args(&["echo", "done"]), ExecOptions::default())
    };
    assert_eq!(fixture.engine().stdout(&pipeline()).await.unwrap(), "done\n");
    assert_eq!(fixture.backend.runs(), 6);
    assert_eq!(fixture.engine().stdout(&pipeline()).await.unwrap(), "done\n");
    assert_eq!(fixture.backend.runs(), 6, "nothing ran the second time");
    let refreshed = fixture.engine_with(CacheMode::Refresh, 4);
    refreshed.stdout(&pipeline()).await.unwrap();
    assert_eq!(fixture.backend.runs(), 12, "--no-cache runs everything");
}

#[tokio::test]
async fn a_long_cached_chain_lists_snapshots_once_instead_of_asking_for_each() {
    let fixture = Fixture::new();
    let pipeline = || {
        let mut container = base();
        for step in 0..12 {
            container = container.with_exec(args(&["write", &format!("step{step}"), "x"]), ExecOptions::default());
        }
        container.with_exec(args(&["echo", "done"]), ExecOptions::default())
    };
    fixture.engine().stdout(&pipeline()).await.unwrap();
    let (checks, listings) = (&fixture.backend.existence_checks, &fixture.backend.snapshot_listings);
    checks.store(0, Ordering::SeqCst);
    assert_eq!(fixture.engine().stdout(&pipeline()).await.unwrap(), "done\n");
    assert_eq!(fixture.backend.runs(), 13, "all cached");
    assert!(checks.load(Ordering::SeqCst) <= 8, "{checks:?} single checks");
    assert_eq!(listings.load(Ordering::SeqCst), 1);

    // Snapshots gone behind tanto's back are not in the listing: their steps run again.
    fixture.backend.forget_images();
    assert_eq!(fixture.engine().stdout(&pipeline()).await.unwrap(), "done\n");
    assert_eq!(fixture.backend.runs(), 26);
}

#[tokio::test]
async fn a_pruned_snapshot_is_rebuilt() {
    let fixture = Fixture::new();
    let container = base()
        .with_exec(args(&["write", "a", "1"]), ExecOptions::default())
        .with_exec(args(&["cat", "a"]), ExecOptions::default());
    fixture.engine().stdout(&container).await.unwrap();
    fixture.backend.forget_images();
    assert_eq!(fixture.engine().stdout(&container).await.unwrap(), "1");
    assert_eq!(fixture.backend.runs(), 4);
}

#[tokio::test]
async fn a_recorded_output_that_changed_on_disk_runs_its_step_again() {
    let fixture = Fixture::new();
    let container = base().with_exec(args(&["echo", "recorded"]), ExecOptions::default());
    fixture.engine().stdout(&container).await.unwrap();
    let record = fixture.engine().store().steps().into_iter().next().unwrap();
    let body = fixture
        .cache
        .path()
        .join("ops")
        .join(&record.key.hex()[..2])
        .join(record.key.hex())
        .join("stdout");
    std::fs::write(&body, "reCorded\n").unwrap();

    let engine = fixture.engine();
    assert_eq!(engine.stdout(&container).await.unwrap(), "recorded\n", "a flipped byte is never served");
    assert_eq!(fixture.backend.runs(), 2, "the step ran again");
    assert_eq!(engine.stdout(&container).await.unwrap(), "recorded\n");
    assert_eq!(fixture.engine().stdout(&container).await.unwrap(), "recorded\n");
    assert_eq!(fixture.backend.runs(), 2, "its record was rewritten");
}

#[tokio::test]
async fn a_failed_step_keeps_its_output_as_a_log() {
    let fixture = Fixture::new();
    let container = base().with_exec(args(&["exit", "3"]), ExecOptions::default());
    let error = fixture.engine().stdout(&container).await.unwrap_err();
    assert!(
        matches!(&error, EngineError::ExecFailed(failure) if failure.stderr_tail == "failing on purpose\n"),
        "{error:?}"
    );
    let logs: Vec<_> = std::fs::read_dir(fixture.cache.path().join("logs")).unwrap().collect();
    assert_eq!(logs.len(), 1);
    let log = logs[0].as_ref().unwrap().path();
    assert_eq!(std::fs::read_to_string(log.join("stderr")).unwrap(), "failing on purpose\n");
    assert!(fixture.engine().store().steps().is_empty(), "a failed step has no record");
}

#[tokio::test]
async fn changing_an_input_reruns_only_what_depends_on_it() {
    let fixture = Fixture::new();
    let source = |text: &str| {
        Directory::empty()
            .with_new_file("src/main.txt", text, None)
            .with_new_file("README", "docs", None)
    };
    let pipeline = |text: &str| {
        base()
            .with_exec(args(&["write", "toolchain", "installed"]), ExecOptions::default())
            .with_directory("/app", &source(text), vec!["src/**".into()], vec![], None)
            .with_exec(args(&["cat", "app/src/main.txt"]), ExecOptions::default())
    };
    assert_eq!(fixture.engine().stdout(&pipeline("v1")).await.unwrap(), "v1");
    assert_eq!(fixture.backend.runs(), 2);
    assert_eq!(fixture.engine().stdout(&pipeline("v2")).await.unwrap(), "v2");
    let commands = fixture.backend.commands.lock().unwrap().clone();
    assert_eq!(commands.len(), 3, "only the step after the copy ran again: {commands:?}");
    assert_eq!(commands[2], args(&["cat", "app/src/main.txt"]));

    // A change outside the include filter changes nothing downstream.
    let excluded = base()
        .with_exec(args(&["write", "toolchain", "installed"]), ExecOptions::default())
        .with_directory(
            "/app",
            &source("v2").with_new_file("README", "other docs", None),
            vec!["src/**".into()],
            vec![],
            None,
        )
        .with_exec(args(&["cat", "app/src/main.txt"]), ExecOptions::default());
    fixture.engine().stdout(&excluded).await.unwrap();
    assert_eq!(fixture.backend.runs(), 3);
}

#[tokio::test]
async fn identical_requests_in_flight_run_once() {
    let fixture = Fixture::new();
    let engine = fixture.engine();
    let container = base()
        .with_exec(args(&["sleep", "50"]), ExecOptions::default())
        .with_exec(args(&["echo", "x"]), ExecOptions::default());
    let same = container.clone();
    let (first, second) = tokio::join!(engine.stdout(&container), engine.stdout(&same));
    assert_eq!(first.unwrap(), second.unwrap());
    assert_eq!(fixture.backend.runs(), 2);
}

#[tokio::test]
async fn independent_branches_run_concurrently_within_the_limit() {
    let fixture = Fixture::new();
    let branches: Vec<Container> = (0..3)
        .map(|index| base().with_exec(args(&["sleep", "100", &index.to_string()]), ExecOptions::default()))
        .collect();
    fixture.engine_with(CacheMode::Use, 2).sync_all(&branches).await.unwrap();
    assert_eq!(fixture.backend.max_running.load(Ordering::SeqCst), 2);
}

/// A step waiting for a `locked` cache volume takes no step slot: with two slots and
/// three steps on one locked volume, a free step (asked for last) runs beside the first
/// locked one instead of queueing behind a locked step that holds a slot and waits.
#[tokio::test]
async fn a_step_waiting_for_a_locked_volume_holds_no_slot() {
    let fixture = Fixture::new();
    let cache = CacheVolume::new("shared-thing");
    let mut branches: Vec<Container> = (0..3)
        .map(|index| {
            base()
                .with_mounted_cache("/cache", &cache, Sharing::Locked)
                .with_exec(args(&["sleep", "100", &format!("locked{index}")]), ExecOptions::default())
        })
        .collect();
    branches.push(base().with_exec(args(&["sleep", "100", "free"]), ExecOptions::default()));
    fixture.engine_with(CacheMode::Use, 2).sync_all(&branches).await.unwrap();
    let timeline = fixture.backend.timeline.lock().unwrap().clone();
    let position = |line: &str| {
        timeline
            .iter()
            .position(|entry| entry == line)
            .unwrap_or_else(|| panic!("{line} in {timeline:?}"))
    };
    let first_end = timeline.iter().position(|entry| entry.starts_with("end ")).unwrap();
    assert!(
        position("start sleep 100 free") < first_end,
        "the free step queued behind a waiting one: {timeline:?}"
    );
    // One locked step at a time: each start follows the previous locked step's end.
    let locked: Vec<&String> = timeline.iter().filter(|entry| entry.contains("locked")).collect();
    for pair in locked.chunks(2) {
        assert!(pair[0].starts_with("start ") && pair[1] == &pair[0].replacen("start", "end", 1), "{timeline:?}");
    }
}

/// Two steps that mount the same two locked volumes in opposite orders take their locks
/// in one order, so neither holds one while waiting for the other.
#[tokio::test]
async fn locked_volumes_are_taken_in_one_order() {
    let fixture = Fixture::new();
    let (first, second) = (CacheVolume::new("first"), CacheVolume::new("second"));
    let branches: Vec<Container> = (0..4)
        .map(|index| {
            let (a, b) = if index % 2 == 0 { (&first, &second) } else { (&second, &first) };
            base()
                .with_mounted_cache("/a", a, Sharing::Locked)
                .with_mounted_cache("/b", b, Sharing::Locked)
                // The same volume twice in one step is locked once.
                .with_mounted_cache("/c", a, Sharing::Locked)
                .with_exec(args(&["sleep", "20", &index.to_string()]), ExecOptions::default())
        })
        .collect();
    let engine = fixture.engine_with(CacheMode::Use, 4);
    tokio::time::timeout(std::time::Duration::from_secs(20), engine.sync_all(&branches))
        .await
        .expect("no deadlock")
        .unwrap();
    assert_eq!(fixture.backend.max_running.load(Ordering::SeqCst), 1);
}

/// A locked volume goes when its command exits, not after the snapshot is committed: the
/// next step that locks it starts while the first one's commit is still going on.
#[tokio::test]
async fn a_locked_volume_is_let_go_when_the_command_exits() {
    let fixture = Fixture::new();
    *fixture.backend.commit_delay.lock().unwrap() = std::time::Duration::from_millis(400);
    let cache = CacheVolume::new("apt");
    let branches: Vec<Container> = (0..2)
        .map(|index| {
            base()
                .with_mounted_cache("/cache", &cache, Sharing::Locked)
                .with_exec(args(&["sleep", "50", &format!("locked{index}")]), ExecOptions::default())
        })
        .collect();
    fixture.engine_with(CacheMode::Use, 2).sync_all(&branches).await.unwrap();
    let timeline = fixture.backend.timeline.lock().unwrap().clone();
    let first_commit = timeline.iter().position(|entry| entry.starts_with("committed ")).unwrap();
    let second_start = timeline.iter().rposition(|entry| entry.starts_with("start ")).unwrap();
    assert!(
        second_start < first_commit,
        "the second locked step waited for the first one's commit: {timeline:?}"
    );
    // Still one command at a time on the volume.
    assert_eq!(fixture.backend.max_running.load(Ordering::SeqCst), 1, "{timeline:?}");
}

/// A mount applies to every step after it until `without-mount`: the steps after it do
/// not get it, and their cache keys do not name it (the same step without ever mounting
/// it is a cache hit).
#[tokio::test]
async fn without_mount_removes_the_mount_from_later_steps_and_their_keys() {
    let fixture = Fixture::new();
    let cache = CacheVolume::new("scoped");
    let mounted = base()
        .with_workdir("/work")
        .with_mounted_cache("cache", &cache, Sharing::Shared)
        .with_mounted_temp("/tmp");
    let pipeline = mounted
        .with_exec(args(&["write", "a", "1"]), ExecOptions::default())
        .with_exec(args(&["write", "b", "2"]), ExecOptions::default())
        .without_mount("./cache/")
        .with_exec(args(&["echo", "after"]), ExecOptions::default());
    assert_eq!(fixture.engine().stdout(&pipeline).await.unwrap(), "after\n");
    let mounts = fixture.backend.mounts.lock().unwrap().clone();
    let targets = |mounts: &[crate::backend::Mount]| -> Vec<String> {
        mounts
            .iter()
            .map(|mount| match mount {
                crate::backend::Mount::Volume { target, .. } | crate::backend::Mount::Tmpfs { target } => target.clone(),
                crate::backend::Mount::Bind { target, .. }
                | crate::backend::Mount::Upload { target, .. }
                | crate::backend::Mount::SecretFile { target, .. } => target.clone(),
            })
            .collect()
    };
    assert_eq!(targets(&mounts[0]), ["/tmp", "/work/cache"], "the mount reaches the steps after it");
    assert_eq!(targets(&mounts[1]), ["/tmp", "/work/cache"]);
    assert_eq!(targets(&mounts[2]), ["/tmp"], "without-mount removes it");

    // Nothing mounted there: the same container.
    assert_eq!(mounted.without_mount("/elsewhere").digest(), mounted.digest());
    // An absolute path names the mount when the working directory is known.
    assert_eq!(mounted.without_mount("/work/cache").digest(), mounted.without_mount("cache").digest());
    // Without a working directory, a relative mount is not the absolute path.
    let relative = base().with_mounted_temp("scratch");
    assert_eq!(relative.without_mount("/scratch").digest(), relative.digest());
    assert_ne!(relative.without_mount("scratch/.").digest(), relative.digest());

    // The last step's key does not name the volume: the same steps with the volume
    // mounted only for the first two find it in the cache.
    let steps_before = fixture.backend.runs();
    let never_mounted = base()
        .with_workdir("/work")
        .with_mounted_temp("/tmp")
        .with_mounted_cache("cache", &cache, Sharing::Shared)
        .with_exec(args(&["write", "a", "1"]), ExecOptions::default())
        .with_exec(args(&["write", "b", "2"]), ExecOptions::default())
        .without_mount("/work/cache")
        .with_exec(args(&["echo", "after"]), ExecOptions::default());
    assert_eq!(fixture.engine().stdout(&never_mounted).await.unwrap(), "after\n");
    assert_eq!(fixture.backend.runs(), steps_before, "all cached");
    let still_mounted = pipeline
        .with_mounted_cache("cache", &cache, Sharing::Shared)
        .with_exec(args(&["echo", "again"]), ExecOptions::default());
    fixture.engine().stdout(&still_mounted).await.unwrap();
    assert_eq!(targets(fixture.backend.mounts.lock().unwrap().last().unwrap()), ["/tmp", "/work/cache"]);
}

/// A chain of 500 steps evaluates on a thread with a 2 MiB stack (the default of a
/// runtime's worker threads), run and then cached: the stack used does not grow with
/// the chain's length.
#[test]
fn a_500_step_chain_evaluates_on_a_2_mib_stack() {
    let fixture = Fixture::new();
    let mut container = base();
    for step in 0..500 {
        container = container.with_exec(args(&["write", &format!("step{step}"), "x"]), ExecOptions::default());
        if step % 100 == 0 {
            // A run of copies between two steps is walked in a loop too.
            for copy in 0..50 {
                container = container.with_new_file(&format!("/copies/{step}-{copy}"), "y", None, None);
            }
        }
    }
    let container = container.with_exec(args(&["cat", "step499"]), ExecOptions::default());
    let engine = fixture.engine_with(CacheMode::Use, 2);
    let outputs = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let first = engine.stdout(&container).await.unwrap();
                let again = Engine::new(
                    fixture.backend.clone(),
                    EngineSettings {
                        cache_root: fixture.cache.path().to_path_buf(),
                        cache_mode: CacheMode::Use,
                        parallelism: 2,
                        max_download: crate::engine::DEFAULT_CACHE_CEILING,
                    },
                    Arc::new(NoProgress),
                )
                .stdout(&container)
                .await
                .unwrap();
                (first, again, fixture.backend.runs())
            })
        })
        .unwrap()
        .join()
        .expect("the evaluation fits a 2 MiB stack");
    assert_eq!(outputs, ("x".to_string(), "x".to_string(), 501));
}

#[tokio::test]
async fn expectations_decide_success() {
    let fixture = Fixture::new();
    let engine = fixture.engine();
    let failing = base().with_exec(args(&["exit", "3"]), ExecOptions::default());
    match engine.stdout(&failing).await.unwrap_err() {
        EngineError::ExecFailed(failure) => {
            assert_eq!(failure.exit_code, 3);
            assert_eq!(failure.command, args(&["exit", "3"]));
            assert_eq!(failure.stderr_tail, "failing on purpose\n");
        }
        other => panic!("unexpected {other:?}"),
    }
    let expected = base().with_exec(
        args(&["exit", "3"]),
        ExecOptions {
            expect: Expect::Failure,
            ..Default::default()
        },
    );
    assert_eq!(engine.exit_code(&expected).await.unwrap(), 3);
    let succeeded = base().with_exec(
        args(&["echo"]),
        ExecOptions {
            expect: Expect::Failure,
            ..Default::default()
        },
    );
    assert!(matches!(engine.exit_code(&succeeded).await, Err(EngineError::ExecFailed(_))));
}

#[tokio::test]
async fn files_and_directories_read_from_snapshots() {
    let fixture = Fixture::new();
    let engine = fixture.engine();
    let container = base()
        .with_new_file("/etc/app.conf", "port=80", Some(0o600), None)
        .with_exec(args(&["write", "out/result.txt", "42"]), ExecOptions::default());
    let file = container.file("/out/result.txt");
    assert_eq!(engine.contents(&file).await.unwrap(), b"42");
    assert_eq!(engine.size(&file).await.unwrap(), 2);
    assert_eq!(file.name(), "result.txt");
    assert_eq!(engine.entries(&container.directory("/"), "").await.unwrap(), vec!["etc/", "out/"]);
    assert_eq!(engine.contents(&container.file("/etc/app.conf")).await.unwrap(), b"port=80");
    assert!(matches!(engine.contents(&container.file("/nope")).await, Err(EngineError::NotFound(_))));
    assert!(matches!(
        engine.entries(&container.directory("/../x"), "").await,
        Err(EngineError::InvalidArgument(_))
    ));
}

#[tokio::test]
async fn links_read_from_snapshots_resolve_inside_the_snapshot_never_on_the_host() {
    let fixture = Fixture::new();
    let engine = fixture.engine();
    let host = tempfile::tempdir().unwrap();
    let secret = host.path().join("secret");
    std::fs::write(&secret, "host secret").unwrap();
    let host_path = secret.display().to_string();
    let container = base()
        .with_exec(args(&["write", "etc/passwd", "container passwd"]), ExecOptions::default())
        .with_exec(args(&["link", "/etc/passwd", "abs"]), ExecOptions::default())
        .with_exec(args(&["link", "../../../../etc/passwd", "deep/rel"]), ExecOptions::default())
        .with_exec(args(&["link", &host_path, "leak"]), ExecOptions::default())
        .with_exec(args(&["link", "/loop", "loop"]), ExecOptions::default())
        .with_exec(args(&["link", "/etc", "etc-link"]), ExecOptions::default());
    // Links resolve as in the container: to the container's file, never the host's.
    assert_eq!(engine.contents(&container.file("/abs")).await.unwrap(), b"container passwd");
    assert_eq!(engine.contents(&container.file("/deep/rel")).await.unwrap(), b"container passwd");
    assert!(matches!(engine.contents(&container.file("/leak")).await, Err(EngineError::NotFound(_))));
    let error = engine.contents(&container.file("/loop")).await.unwrap_err();
    assert!(error.to_string().contains("too many levels of symbolic links"), "{error}");
    assert_eq!(engine.entries(&container.directory("/etc-link"), "").await.unwrap(), vec!["passwd"]);
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "host secret");
}

#[tokio::test]
async fn a_container_folder_is_copied_from_its_archive_keyed_by_its_contents() {
    let fixture = Fixture::new();
    let build = |marker: &str| {
        base()
            .with_exec(args(&["write", "out/app/bin", "binary"]), ExecOptions::default())
            .with_exec(args(&["link", "app", "out/current"]), ExecOptions::default())
            .with_exec(args(&["write", "marker", marker]), ExecOptions::default())
    };
    let consumer = |marker: &str, include: Vec<String>| {
        base()
            .with_directory("/dest", &build(marker).directory("/out/current"), include, Vec::new(), None)
            .with_exec(args(&["cat", "dest/bin"]), ExecOptions::default())
    };
    let engine = fixture.engine();
    assert_eq!(engine.stdout(&consumer("one", Vec::new())).await.unwrap(), "binary");
    assert_eq!(fixture.backend.runs(), 4);
    // The link at the path and the folder it leads to were kept as the backend's archives
    // of them (the link's as a record only), never unpacked.
    let trees: Vec<_> = std::fs::read_dir(fixture.cache.path().join("trees"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(trees.len(), 2);
    assert!(trees.iter().all(|tree| tree.join("root").is_file()), "{trees:?}");
    assert_eq!(trees.iter().filter(|tree| tree.join("archive.tar").is_file()).count(), 1);

    // Copied through the host (a filter that keeps everything), the folder has the same
    // digest, so the consumer's key is the same and it does not run again; it is unpacked
    // from the archive kept of it, not downloaded again.
    let reads = fixture.backend.path_reads.load(Ordering::SeqCst);
    let engine = fixture.engine();
    assert_eq!(engine.stdout(&consumer("one", vec!["**".into()])).await.unwrap(), "binary");
    assert_eq!(fixture.backend.runs(), 4);
    assert_eq!(
        fixture.backend.path_reads.load(Ordering::SeqCst),
        reads + 1,
        "only the link at the path was read again"
    );

    // An upstream step that ran again but left the folder as it was: the consumer is
    // still cached.
    let engine = fixture.engine();
    assert_eq!(engine.stdout(&consumer("two", Vec::new())).await.unwrap(), "binary");
    assert_eq!(fixture.backend.runs(), 5, "only the changed upstream step ran");

    let error = engine
        .stdout(
            &base()
                .with_directory("/dest", &build("one").directory("/out/app/bin"), Vec::new(), Vec::new(), None)
                .with_exec(args(&["echo", "never"]), ExecOptions::default()),
        )
        .await
        .unwrap_err();
    assert!(error.to_string().contains("/out/app/bin is a file, not a directory"), "{error}");
}

#[tokio::test]
async fn config_edits_reach_the_command() {
    let fixture = Fixture::new();
    let engine = fixture.engine();
    let container = base()
        .with_env_variable("GREETING", "hi")
        .with_workdir("/srv")
        .with_exec(args(&["env"]), ExecOptions::default());
    assert_eq!(engine.stdout(&container).await.unwrap(), "PATH=/bin\nGREETING=hi");
    let container = container.with_exec(args(&["pwd"]), ExecOptions::default());
    assert_eq!(engine.stdout(&container).await.unwrap(), "/srv");
}

#[tokio::test]
async fn a_missing_image_is_unavailable_with_its_hint() {
    let fixture = Fixture::new();
    let container = Container::scratch().from("missing:1").with_exec(args(&["echo"]), ExecOptions::default());
    let error = fixture.engine().stdout(&container).await.unwrap_err();
    assert!(
        matches!(error, EngineError::ImageUnavailable { ref image, .. } if image == "missing:1"),
        "{error:?}"
    );
    assert_eq!(error.kind(), crate::error::ErrorKind::Pipeline);
    assert_eq!(error.hint(), Some(crate::error::Hint::ImageUnavailable));
    // A path that is not there is no image problem.
    assert_eq!(EngineError::NotFound("no such file: /x".into()).hint(), None);
}

#[tokio::test]
async fn two_processes_needing_the_same_step_run_it_once() {
    let fixture = Fixture::new();
    let (first, second) = (fixture.engine(), fixture.engine());
    let step = || base().with_exec(args(&["sleep", "50"]), ExecOptions::default());
    let (one, other) = (step(), step());
    let (a, b) = tokio::join!(first.exit_code(&one), second.exit_code(&other));
    assert_eq!((a.unwrap(), b.unwrap()), (0, 0));
    assert_eq!(fixture.backend.runs(), 1, "the second waited on the key's lock and read the record");
}

#[tokio::test]
async fn a_refresh_run_removes_no_snapshot_another_process_may_use() {
    let fixture = Fixture::new();
    let container = base().with_exec(args(&["write", "a", "1"]), ExecOptions::default());
    fixture.engine().sync(&container).await.unwrap();
    let snapshots = || async { fixture.backend.snapshot_images("").await.unwrap().len() };
    assert_eq!(snapshots().await, 1);
    fixture.engine_with(CacheMode::Refresh, 4).sync(&container).await.unwrap();
    assert_eq!(fixture.backend.runs(), 2);
    assert_eq!(snapshots().await, 2, "the superseded snapshot stays, for prune to remove");
}

#[tokio::test]
async fn an_export_tells_a_refusing_destination_from_a_failed_evaluation() {
    let fixture = Fixture::new();
    let engine = fixture.engine();
    let directory = Directory::empty().with_new_file("a/b.txt", "bytes", None);
    let host = tempfile::tempdir().unwrap();
    let in_the_way = host.path().join("file");
    std::fs::write(&in_the_way, "a file, not a folder").unwrap();

    let below_a_file = in_the_way.join("out");
    for result in [
        engine.export_directory(&directory, &below_a_file).await,
        engine.export_file(&directory.file("a/b.txt"), &below_a_file.join("b.txt")).await,
    ] {
        match result {
            Err(ExportError::Destination { error, .. }) => assert_eq!(error.kind(), std::io::ErrorKind::NotADirectory),
            other => panic!("expected the destination to refuse, got {other:?}"),
        }
    }
    // A folder where the file goes.
    let folder = host.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    match engine.export_file(&directory.file("a/b.txt"), &folder).await {
        Err(ExportError::Destination { path, error }) => {
            assert_eq!((path, error.kind()), (folder.clone(), std::io::ErrorKind::IsADirectory));
        }
        other => panic!("expected the destination to refuse, got {other:?}"),
    }
    // What cannot be evaluated is not the destination's fault.
    let missing = directory.file("nope");
    assert!(matches!(
        engine.export_file(&missing, &host.path().join("nope")).await,
        Err(ExportError::Evaluate(EngineError::NotFound(_)))
    ));
    engine.export_directory(&directory, &host.path().join("saved")).await.unwrap();
    assert_eq!(std::fs::read_to_string(host.path().join("saved/a/b.txt")).unwrap(), "bytes");
    assert_eq!(std::fs::read_to_string(&in_the_way).unwrap(), "a file, not a folder");
}

/// A step that mounts a secret is keyed by a keyed hash of its value (the same value is
/// a cache hit in a new process, a new value runs again), its output is scrubbed before
/// it is recorded, and no file of the cache holds the value.
#[tokio::test]
async fn a_secret_keys_its_step_by_value_and_never_reaches_the_cache() {
    let fixture = Fixture::new();
    let step = |value: &str| {
        base()
            .with_mounted_secret("/run/token", &Secret::new("token", value.to_string()), None, None)
            .with_exec(args(&["echo", "printed", value]), ExecOptions::default())
    };
    assert_eq!(fixture.engine().stdout(&step("engine-secret-one")).await.unwrap(), "printed ***\n");
    assert_eq!(fixture.engine().stdout(&step("engine-secret-one")).await.unwrap(), "printed ***\n");
    assert_eq!(fixture.backend.runs(), 1, "the same value is a cache hit");
    fixture.engine().stdout(&step("engine-secret-two")).await.unwrap();
    assert_eq!(fixture.backend.runs(), 2, "a new value runs the step again");

    let mut folders = vec![fixture.cache.path().to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                for value in ["engine-secret-one", "engine-secret-two"] {
                    assert!(
                        !bytes.windows(value.len()).any(|window| window == value.as_bytes()),
                        "{value} in {}",
                        path.display()
                    );
                }
            }
        }
    }
}
