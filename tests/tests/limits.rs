//! The sandbox's limits, end to end, against hostile modules: each limit holds, stops
//! the module with a message that names it, and leaves nothing behind. Signals stop a
//! run at any moment, with the cleanup.

use std::path::Path;
use std::time::{Duration, Instant};

use tanto_tests::{Tanto, guest_wasm, send_signal, wait_at_most, write_module};

/// The stderr of a failed run, with what changes between runs redacted.
fn redact(text: &str, tanto: &Tanto, module: Option<&Path>) -> String {
    let mut text = text.replace(&tanto.cache.path().display().to_string(), "[CACHE]");
    if let Some(module) = module {
        text = text.replace(&module.display().to_string(), "[MODULE]");
    }
    // Progress lines (`[1] DONE 0.5s ...`) are timings, not the message.
    text.lines().filter(|line| !line.starts_with('[')).collect::<Vec<_>>().join("\n")
}

fn guest(name: &str) -> String {
    guest_wasm(name).to_str().expect("utf-8 path").to_string()
}

// ---- a module's own limits ------------------------------------------------------------

const SPINNER: &str = r#"
use tanto_sdk::Result;

#[derive(Default)]
struct Spinner;

/// Spins and allocates.
#[tanto_sdk::module]
impl Spinner {
    /// Loops without end.
    pub fn spin(&self) -> Result<i64> {
        let mut counter: i64 = 0;
        loop {
            counter = std::hint::black_box(counter.wrapping_add(1));
            if counter == i64::MIN {
                return Ok(counter);
            }
        }
    }

    /// Allocates and touches `mib` MiB.
    pub fn allocate(&self, mib: i64) -> Result<i64> {
        let mut block = vec![1u8; (mib as usize) << 20];
        block[0] = 2;
        Ok(std::hint::black_box(block).len() as i64)
    }
}
"#;

fn set_limits(dir: &Path, limits: &str) {
    std::fs::write(dir.join("tanto.toml"), format!("name = \"spinner\"\nsdk = \"rust\"\n\n[limits]\n{limits}\n")).unwrap();
}

#[test]
fn a_module_lowers_its_limits_but_never_raises_them() {
    let tanto = Tanto::new();
    let dir = tempfile::tempdir().unwrap();
    write_module(dir.path(), "spinner", SPINNER, &[]);
    let module = dir.path().to_str().unwrap();

    // The module asks for an hour and 4 GiB: the caller's flags win.
    set_limits(dir.path(), "cpu-seconds = 3600\nmemory-mib = 4096");
    // Built first, so that the time below is the module's.
    tanto.run(&["functions", "-m", module]).success();
    let started = Instant::now();
    let run = tanto.run(&["call", "-m", module, "--cpu-limit=1", "spin"]).failure(1);
    assert!(run.stderr.contains("exceeded its CPU time budget of 1s"), "{}", run.stderr);
    assert!(started.elapsed() < Duration::from_secs(120), "the module's hour was not granted");
    let run = tanto.run(&["call", "-m", module, "--memory-limit=64", "allocate", "--mib=256"]).failure(1);
    assert!(run.stderr.contains("exceeded its memory limit of 64 MiB"), "{}", run.stderr);

    // Below the caller's limits, the module's own apply.
    set_limits(dir.path(), "cpu-seconds = 1\nmemory-mib = 32");
    let run = tanto.run(&["call", "-m", module, "spin"]).failure(1);
    assert!(run.stderr.contains("exceeded its CPU time budget of 1s"), "{}", run.stderr);
    let run = tanto.run(&["call", "-m", module, "--memory-limit=64", "allocate", "--mib=48"]).failure(1);
    assert!(run.stderr.contains("exceeded its memory limit of 32 MiB"), "{}", run.stderr);

    // A wall-clock limit of its own, too.
    set_limits(dir.path(), "timeout = \"2s\"");
    let run = tanto.run(&["call", "-m", module, "--cpu-limit=600", "spin"]).failure(1);
    assert!(run.stderr.contains("ran longer than its time limit of 2s"), "{}", run.stderr);
    tanto.assert_no_leftovers();
}

#[test]
fn unusable_limits_are_manifest_errors() {
    let tanto = Tanto::new();
    let dir = tempfile::tempdir().unwrap();
    write_module(dir.path(), "spinner", SPINNER, &[]);
    let module = dir.path().to_str().unwrap();
    for (limits, key) in [
        ("cpu-seconds = 1e300", "cpu-seconds"),
        ("cpu-seconds = -3.0", "cpu-seconds"),
        ("cpu-seconds = nan", "cpu-seconds"),
        ("cpu-seconds = inf", "cpu-seconds"),
        ("memory-mib = 0", "memory-mib"),
        ("memory-mib = 99999999999", "memory-mib"),
        ("timeout = \"forever\"", "timeout"),
    ] {
        set_limits(dir.path(), limits);
        let run = tanto.run(&["call", "-m", module, "spin"]).failure(2);
        assert!(
            run.stderr.contains(&format!("tanto.toml: `[limits] {key}`")),
            "{limits}: the error names the file and key:\n{}",
            run.stderr
        );
    }
    set_limits(dir.path(), "cpu-seconds = 1e300");
    let run = tanto.run(&["call", "-m", module, "spin"]).failure(2);
    insta::assert_snapshot!("absurd_limit", redact(&run.stderr, &tanto, Some(dir.path())));

    // The same values as flags are usage errors, not panics.
    for flag in ["--cpu-limit=1e300", "--cpu-limit=-1", "--memory-limit=0", "--timeout=0s", "--timeout=soon"] {
        let run = tanto.run(&["call", "-m", &guest("looper"), flag, "spin"]).failure(2);
        let name = flag.split('=').next().unwrap();
        assert!(run.stderr.contains(&format!("error: {name}: ")), "{flag}:\n{}", run.stderr);
    }
}

// ---- memory the module makes the host hold ------------------------------------------

#[test]
fn host_objects_count_against_the_memory_limit() {
    let tanto = Tanto::new();
    // 3000 cache volumes with 1 MiB keys: 3 GiB of keys if the host kept them all.
    let (run, peak_kib) = tanto.run_measured(&["call", "-m", &guest("hog"), "--memory-limit=64", "hold-keys", "--count=3000", "--kib=1024"]);
    let run = run.failure(1);
    insta::assert_snapshot!("host_memory", redact(&run.stderr, &tanto, None));
    assert!(peak_kib < 300 << 10, "tanto peaked at {peak_kib} KiB");

    // Bytes of new files count as strings do (3 GiB of files if the host kept them all).
    let (run, peak_kib) = tanto.run_measured(&["call", "-m", &guest("hog"), "--memory-limit=64", "hold-files", "--count=3000", "--kib=1024"]);
    let run = run.failure(1);
    insta::assert_snapshot!("host_memory", redact(&run.stderr, &tanto, None));
    assert!(peak_kib < 300 << 10, "tanto peaked at {peak_kib} KiB");

    // Dropping each volume gives its bytes back: a thousand keys, one at a time, fit.
    let run = tanto
        .call_guest("hog", "churn-keys", &["--memory-limit=64", "--count=1000", "--kib=1024"])
        .success();
    assert_eq!(run.stdout, "1000\n");
    tanto.assert_no_leftovers();
}

#[test]
fn too_many_objects_is_named() {
    let tanto = Tanto::new();
    let run = tanto.call_guest("hog", "hold-objects", &["--count=60000"]).failure(1);
    insta::assert_snapshot!("too_many_objects", redact(&run.stderr, &tanto, None));
    let run = tanto.call_guest("hog", "hold-objects", &["--count=1000"]).success();
    assert_eq!(run.stdout, "1000\n");
}

#[test]
fn too_much_data_between_host_and_module_is_named() {
    let tanto = Tanto::new();
    let run = tanto.call_guest("hog", "transfer", &["--memory-limit=1024", "--mib=200"]).failure(1);
    insta::assert_snapshot!("too_much_data", redact(&run.stderr, &tanto, None));
    let run = tanto.call_guest("hog", "transfer", &["--memory-limit=1024", "--mib=1"]).success();
    assert_eq!(run.stdout, "1\n");
}

#[test]
fn a_stack_overflow_is_named() {
    let tanto = Tanto::new();
    let run = tanto.call_guest("looper", "recurse", &["--depth=100000"]).failure(1);
    insta::assert_snapshot!("stack_overflow", redact(&run.stderr, &tanto, None));
    let run = tanto.call_guest("looper", "recurse", &["--depth=100"]).success();
    assert_eq!(run.stdout, "101\n");
}

// ---- time -------------------------------------------------------------------------------

#[test]
fn host_work_a_module_triggers_counts_against_its_cpu_budget() {
    let tanto = Tanto::new();
    // Listing 20 000 files over and over: the host computes, nobody waits for a container.
    let child = tanto.spawn(&[
        "call",
        "-m",
        &guest("looper"),
        "--cpu-limit=2",
        "list-forever",
        "--base=busybox:latest",
        "--files=20000",
    ]);
    let (run, ended) = wait_at_most(child, Duration::from_secs(180));
    assert!(ended, "the CPU budget never stopped the module:\n{}", run.stderr);
    let run = run.failure(1);
    assert!(run.stderr.contains("exceeded its CPU time budget of 2s"), "{}", run.stderr);
    tanto.assert_no_leftovers();
}

#[test]
fn the_wall_clock_limit_stops_a_module() {
    let tanto = Tanto::new();
    // A small directory, so that the container is done well within the limit and the
    // limit stops the module in its loop of host calls.
    let started = Instant::now();
    let run = tanto
        .call_guest(
            "looper",
            "list-forever",
            &["--timeout=8s", "--cpu-limit=600", "--base=busybox:latest", "--files=2000"],
        )
        .failure(1);
    assert!(started.elapsed() < Duration::from_secs(60), "stopped at the limit: {:?}", started.elapsed());
    insta::assert_snapshot!("timeout", redact(&run.stderr, &tanto, None));
    tanto.assert_no_leftovers();
}

// ---- signals ----------------------------------------------------------------------------

#[test]
fn sigterm_mid_step_exits_143_and_removes_the_container() {
    let tanto = Tanto::new();
    let child = tanto.spawn(&["call", "-m", &guest("api"), "sleep", "--seconds=300"]);
    let waiting = Instant::now();
    while tanto.running_containers().is_empty() {
        assert!(waiting.elapsed() < Duration::from_secs(60), "the step's container never started");
        std::thread::sleep(Duration::from_millis(200));
    }
    send_signal(&child, "TERM");
    let (run, ended) = wait_at_most(child, Duration::from_secs(60));
    assert!(ended, "SIGTERM did not stop tanto");
    let run = run.failure(143);
    assert!(run.stderr.contains("interrupted by SIGTERM"), "{}", run.stderr);
    tanto.assert_no_leftovers();
}

#[test]
fn signals_stop_a_module_that_computes() {
    for (signal, code) in [("INT", 130), ("TERM", 143), ("HUP", 129)] {
        let tanto = Tanto::new();
        // A CPU budget of ten minutes: only the signal can stop the loop in time.
        let child = tanto.spawn(&["call", "-m", &guest("looper"), "--cpu-limit=600", "spin"]);
        // Long enough for the module to be loaded and spinning.
        std::thread::sleep(Duration::from_secs(3));
        let sent = Instant::now();
        send_signal(&child, signal);
        let (run, ended) = wait_at_most(child, Duration::from_secs(30));
        assert!(ended, "SIG{signal} did not stop the module");
        assert!(sent.elapsed() < Duration::from_secs(30));
        let run = run.failure(code);
        assert!(run.stderr.contains(&format!("interrupted by SIG{signal}")), "{}", run.stderr);
        tanto.assert_no_leftovers();
    }
}
