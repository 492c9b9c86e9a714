//! Step outputs of any size: streamed to the cache as they arrive, never held whole by
//! tanto, checked by sha256 when read back, shown bounded in progress; and a closed pipe
//! ends tanto quietly. Against the real binary and the machine's Docker daemon.

use std::path::{Path, PathBuf};

use tanto_tests::{Tanto, guest_wasm};

/// Prints `bytes` bytes of 37-byte lines (`0123…z`), so progress has millions of lines.
fn lines_script(bytes: u64, nonce: &str) -> String {
    format!("echo {nonce} >/dev/null; yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c {bytes}")
}

fn nonce() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    )
}

/// The paths after "full log: " in progress output.
fn log_paths(stderr: &str) -> Vec<PathBuf> {
    stderr
        .lines()
        .filter_map(|line| line.split_once("full log: ").map(|(_, paths)| paths))
        .flat_map(|paths| paths.split(' ').map(PathBuf::from))
        .collect()
}

/// The `stdout` files of every step record in the cache.
fn recorded_stdouts(cache: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for bucket in std::fs::read_dir(cache.join("ops")).unwrap() {
        for record in std::fs::read_dir(bucket.unwrap().path()).unwrap() {
            let stdout = record.unwrap().path().join("stdout");
            if stdout.is_file() {
                files.push(stdout);
            }
        }
    }
    files
}

#[test]
fn a_step_printing_300_mb_keeps_tanto_under_100_mb() {
    let tanto = Tanto::new();
    let script = lines_script(300_000_000, &nonce());
    let (run, peak_kib) = tanto.run_measured(&["call", "-m", guest_wasm("api").to_str().unwrap(), "run-script", &format!("--script={script}")]);
    let run = run.success();
    assert_eq!(run.stdout, "done");
    eprintln!("peak RSS of tanto for a 300 MB step: {} MiB", peak_kib / 1024);
    assert!(peak_kib < 100 * 1024, "tanto peaked at {peak_kib} KiB:\n{}", run.stderr);
    // The whole output is in the cache, where progress says.
    let logs = log_paths(&run.stderr);
    assert_eq!(logs.len(), 1, "{}", run.stderr);
    assert_eq!(std::fs::metadata(&logs[0]).unwrap().len(), 300_000_000);
    assert!(run.stderr.len() < 8 << 10, "progress is bounded: {} bytes", run.stderr.len());
    tanto.assert_no_leftovers();
}

#[test]
fn plain_and_json_progress_of_a_50_mb_step_are_bounded() {
    let tanto = Tanto::new();
    let script = lines_script(50_000_000, &nonce());
    let run = tanto.call_guest("api", "run-script", &[&format!("--script={script}")]).success();
    assert!(
        run.stderr.len() < 8 << 10,
        "plain progress is bounded: {} bytes:\n{}",
        run.stderr.len(),
        run.stderr
    );
    // The last line is cut short by `head -c`.
    let shown: Vec<&str> = run.stderr.lines().filter(|line| line.contains("| 0123456789a")).collect();
    assert_eq!(shown.len(), 40, "the first 20 and last 20 lines:\n{}", run.stderr);
    let lines = 50_000_000 / 37 + 1;
    assert!(run.stderr.contains(&format!("… {} lines omitted, full log: ", lines - 40)), "{}", run.stderr);
    // The log holds the whole output, byte for byte.
    let logs = log_paths(&run.stderr);
    assert_eq!(logs.len(), 1, "{}", run.stderr);
    assert!(logs[0].starts_with(tanto.cache.path()), "{}", logs[0].display());
    let log = std::fs::read(&logs[0]).unwrap();
    assert_eq!(log.len(), 50_000_000);
    assert!(log.chunks(37).all(|line| line == &b"0123456789abcdefghijklmnopqrstuvwxyz\n"[..line.len()]));

    // JSON progress: the same bound, the omission as an event naming the log.
    let json_script = lines_script(50_000_000, &nonce());
    let output = tanto
        .command_with_progress("json")
        .args([
            "call",
            "-m",
            guest_wasm("api").to_str().unwrap(),
            "run-script",
            &format!("--script={json_script}"),
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(output.stderr.len() < 16 << 10, "JSON progress is bounded: {} bytes", output.stderr.len());
    let events: Vec<serde_json::Value> = String::from_utf8(output.stderr)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(events.iter().filter(|event| event["event"] == "output").count(), 40);
    let omitted = events.iter().find(|event| event["event"] == "omitted").expect("an omitted event");
    assert_eq!(omitted["lines"], lines - 40);
    let log = PathBuf::from(omitted["logs"][0].as_str().unwrap());
    assert_eq!(std::fs::metadata(log).unwrap().len(), 50_000_000);
}

#[test]
fn a_line_without_newline_is_cut_in_progress() {
    let tanto = Tanto::new();
    let script = format!("echo {} >/dev/null; head -c 24000000 /dev/zero | tr '\\0' a", nonce());
    let run = tanto.call_guest("api", "run-script", &[&format!("--script={script}")]).success();
    assert!(run.stderr.len() < 4 << 10, "{} bytes of progress", run.stderr.len());
    assert!(run.stderr.contains(&format!("… [{} more bytes]", 24_000_000 - 1024)), "{}", run.stderr);
}

#[test]
fn a_module_reads_a_large_stdout_whole() {
    let tanto = Tanto::new();
    let script = lines_script(60_000_000, &nonce());
    let run = tanto.call_guest("api", "stdout-size", &[&format!("--script={script}")]).success();
    assert_eq!(run.stdout, format!("60000000 bytes, {} lines", 60_000_000 / 37 + 1));
    // Again from the cache: the record's body is read back and checked.
    let run = tanto.call_guest("api", "stdout-size", &[&format!("--script={script}")]).success();
    assert_eq!(run.stdout, format!("60000000 bytes, {} lines", 60_000_000 / 37 + 1));
    assert!(run.stderr.contains("CACHED"), "{}", run.stderr);
}

#[test]
fn a_record_with_a_flipped_byte_runs_again_and_is_rewritten() {
    let tanto = Tanto::new();
    let script = format!("echo {}; echo recorded", nonce());
    let first = tanto.call_guest("api", "script-stdout", &[&format!("--script={script}")]).success();
    assert!(first.stderr.contains("DONE"), "{}", first.stderr);
    let stdouts = recorded_stdouts(tanto.cache.path());
    assert_eq!(stdouts.len(), 1, "{stdouts:?}");
    let mut bytes = std::fs::read(&stdouts[0]).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0x20;
    std::fs::write(&stdouts[0], &bytes).unwrap();

    let second = tanto.call_guest("api", "script-stdout", &[&format!("--script={script}")]).success();
    assert_eq!(second.stdout, first.stdout, "the damaged output is never served");
    // Found in the cache, then refused when its output was read: the step ran again.
    assert!(second.stderr.contains("DONE"), "the step ran again:\n{}", second.stderr);
    // Rewritten: the next run is answered from the cache.
    let third = tanto.call_guest("api", "script-stdout", &[&format!("--script={script}")]).success();
    assert_eq!(third.stdout, first.stdout);
    assert!(third.stderr.contains("CACHED") && !third.stderr.contains("DONE"), "{}", third.stderr);
}

#[test]
fn a_failed_step_keeps_its_whole_log() {
    let tanto = Tanto::new();
    let script = format!("echo {} >/dev/null; seq 1 1000; echo broken >&2; exit 3", nonce());
    let run = tanto.call_guest("api", "run-script", &[&format!("--script={script}")]).failure(1);
    // 1000 lines of stdout and one of stderr: only stdout lost lines to the omission.
    assert!(run.stderr.contains("… 961 lines omitted, full log: "), "{}", run.stderr);
    let logs = log_paths(&run.stderr);
    assert_eq!(logs.len(), 1, "{}", run.stderr);
    let expected: String = (1..=1000).map(|number| format!("{number}\n")).collect();
    assert_eq!(std::fs::read_to_string(&logs[0]).unwrap(), expected);
    assert_eq!(std::fs::read_to_string(logs[0].with_file_name("stderr")).unwrap(), "broken\n");
    // Kept logs are part of the cache: du counts them, and prune of everything removes them.
    let du = tanto.run(&["cache", "du"]).success();
    let line = du
        .stdout
        .lines()
        .find(|line| line.trim_start().starts_with("logs"))
        .unwrap_or_else(|| panic!("{}", du.stdout));
    assert_eq!(line.split_whitespace().nth(1), Some("1"), "{line}");
    let prune = tanto.run(&["cache", "prune"]).success();
    assert!(prune.stdout.contains("Removed 1 log of failed steps"), "{}", prune.stdout);
    assert!(!logs[0].exists());
    tanto.assert_no_leftovers();
}

#[test]
fn a_closed_pipe_ends_tanto_quietly() {
    let tanto = Tanto::new();
    let wasm = guest_wasm("api");
    // A result far larger than a pipe's buffer, so the reader is gone before it is written.
    let script = format!("echo {}; seq 1 1000000", nonce());
    let args = ["call", "-m", wasm.to_str().unwrap(), "script-stdout", &format!("--script={script}")];

    // stdout closed after one byte: the result cannot be printed whole.
    let run = tanto.run_piped(&args, "| head -c 1");
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout.len(), 1);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);

    // Both streams into a pipe closed after the first line.
    let run = tanto.run_piped(&args, "2>&1 | head -1");
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout.lines().count(), 1);
    assert!(!run.stdout.contains("panicked"), "{}", run.stdout);

    // A failing pipeline reports its error to a closed stderr, and still exits 1.
    let run = tanto.run_piped(&["call", "-m", wasm.to_str().unwrap(), "fail", "--expect=success"], "2>&1 | head -1");
    assert_eq!(run.code, Some(1), "{run:?}");
    tanto.assert_no_leftovers();
}
