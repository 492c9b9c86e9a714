//! Host directories reach the daemon as archives streamed from disk: copying a directory
//! far larger than tanto's memory ceiling into a container keeps tanto's memory bounded.

use std::io::Write;

use tanto_tests::{Tanto, guest_wasm};

#[test]
fn copying_a_300_mb_directory_keeps_tanto_under_100_mb() {
    let source = tempfile::tempdir().expect("a temporary folder");
    // Three 100 MB files whose bytes differ per file and per run (nothing cached answers).
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("a clock").as_nanos();
    for index in 0..3u8 {
        let mut file = std::io::BufWriter::new(std::fs::File::create(source.path().join(format!("big{index}.txt"))).expect("a file"));
        let line = format!("file {index} of run {nonce}: 0123456789abcdef\n");
        let mut written = 0;
        while written < 100_000_000 {
            file.write_all(line.as_bytes()).expect("writing");
            written += line.len();
        }
        file.flush().expect("writing");
    }
    let tanto = Tanto::new();
    let (run, peak_kib) = tanto.run_measured(&[
        "call",
        "-m",
        guest_wasm("api").to_str().expect("utf-8"),
        "copy-filtered",
        &format!("--source={}", source.path().display()),
        "--include=*.txt",
        "--exclude=none-such",
    ]);
    let run = run.success();
    assert_eq!(run.stdout, "./big0.txt\n./big1.txt\n./big2.txt\n", "{}", run.stderr);
    eprintln!("peak RSS of tanto copying a 300 MB directory: {} MiB", peak_kib / 1024);
    assert!(peak_kib < 100 * 1024, "tanto peaked at {peak_kib} KiB:\n{}", run.stderr);
    tanto.assert_no_leftovers();
}
