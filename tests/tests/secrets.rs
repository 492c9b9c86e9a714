//! Secrets never leak: a probe runs pipelines that really use a secret (a variable a step
//! compares, a mounted file, a Dockerfile build reading it as a build secret, a command
//! that prints it), then greps every place tanto writes or shows anything for the value,
//! its lines and its base64: the images it left (`docker history`, `docker inspect`,
//! `docker save`), every file under the cache root, what it printed with plain and JSON
//! progress, and the errors of a failing step and a failing build.

use std::path::Path;
use std::process::Command;

use tanto_tests::{Tanto, docker};

/// Distinctive values, so a hit cannot be a coincidence.
const TOKEN: &str = "probe-token-Qx7Lm2Vd9Kp4Zr8W";
const OTHER_TOKEN: &str = "probe-token-second-Hn3Jc6Tb1Ys5";
const KEY: &str = "-----BEGIN PROBE KEY-----\nkey-line-one-aZ81qPm0wE\nkey-line-two-Rt55uWx3nB\n-----END PROBE KEY-----\n";
/// The secret the `api` guest makes itself with `set-secret`.
const MADE: &str = "module-made-secret-9f1c2e";

fn shell(script: &str, input: &str) -> String {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sh runs");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), input.as_bytes()).expect("write");
    let output = child.wait_with_output().expect("sh ends");
    assert!(output.status.success(), "{script} failed");
    String::from_utf8(output.stdout).expect("utf-8").trim_end().to_string()
}

fn sha256(value: &str) -> String {
    shell("sha256sum | cut -d' ' -f1", value)
}

/// What must appear nowhere: each value, each line of the multi-line one, and their
/// base64.
fn needles(values: &[&str]) -> Vec<String> {
    let mut needles = Vec::new();
    for value in values {
        needles.push(value.to_string());
        needles.push(shell("base64 -w0", value));
        needles.extend(value.lines().filter(|line| line.len() >= 12 && !line.starts_with("-----")).map(str::to_string));
    }
    needles
}

#[track_caller]
fn assert_clean(place: &str, haystack: &[u8]) {
    assert_none_of(&[TOKEN, OTHER_TOKEN, KEY, MADE], place, haystack);
}

#[track_caller]
fn assert_none_of(values: &[&str], place: &str, haystack: &[u8]) {
    for needle in needles(values) {
        assert!(
            !haystack.windows(needle.len()).any(|window| window == needle.as_bytes()),
            "a secret ({needle:?}) leaked into {place}"
        );
    }
}

fn files_under(root: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(root).expect("read_dir").flatten() {
        let path = entry.path();
        if entry.file_type().expect("file type").is_dir() {
            files_under(&path, found);
        } else {
            found.push(path);
        }
    }
}

#[test]
fn the_probe_finds_no_secret_anywhere() {
    let secrets = tempfile::tempdir().unwrap();
    let key_file = secrets.path().join("key.pem");
    std::fs::write(&key_file, KEY).unwrap();
    let token_file = secrets.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let tanto = Tanto::new().env("PROBE_TOKEN", TOKEN).env("OTHER_TOKEN", OTHER_TOKEN);
    let key_argument = format!("--key=file://{}", key_file.display());
    let mut shown = Vec::<u8>::new();
    let mut keep = |run: &tanto_tests::Run| {
        shown.extend_from_slice(run.stdout.as_bytes());
        shown.extend_from_slice(run.stderr.as_bytes());
    };

    // A step compares the variable and the mounted file against their hashes and
    // succeeds; the container is returned as an image (`--json`), one tanto leaves.
    let use_secrets = |token: &str, token_sha256: &str| {
        tanto.call_guest(
            "api",
            "secret-use",
            &[
                token,
                &key_argument,
                &format!("--token-sha256={token_sha256}"),
                &format!("--key-sha256={}", sha256(KEY)),
                "--marker=probe",
                "--json",
            ],
        )
    };
    let first = use_secrets("--token=env://PROBE_TOKEN", &sha256(TOKEN)).success();
    keep(&first);
    assert!(first.stderr.matches("] DONE").count() >= 2, "both steps ran: {}", first.stderr);
    let result: serde_json::Value = serde_json::from_str(&first.stdout).expect("json");
    let user_image = result["image"].as_str().expect("an image").to_string();

    // The same value, from a file, and with Dagger's spelling: cached.
    let again = use_secrets(&format!("--token=file:{}", token_file.display()), &sha256(TOKEN)).success();
    keep(&again);
    assert!(!again.stderr.contains("] DONE"), "the same value is a cache hit: {}", again.stderr);
    assert!(again.stderr.contains("] CACHED"), "{}", again.stderr);
    // A new value runs the steps again.
    let changed = use_secrets("--token=env:OTHER_TOKEN", &sha256(OTHER_TOKEN)).success();
    keep(&changed);
    assert!(changed.stderr.matches("] DONE").count() >= 2, "a new value runs again: {}", changed.stderr);
    // From a command.
    let command = use_secrets(&format!("--token=cmd://\"cat {}\"", token_file.display()), &sha256(TOKEN)).success();
    keep(&command);

    // A Dockerfile build reads the token as a build secret (the file's secret, by its
    // name). The same value is cached; a new value in the same file, with the same
    // Dockerfile and context, builds again and the new value reaches the build.
    let token_argument = format!("--token=file://{}", token_file.display());
    let build = |token_sha256: &str| {
        let run = tanto
            .call_guest("api", "secret-build", &[&token_argument, &format!("--token-sha256={token_sha256}"), "--json"])
            .success();
        let result: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
        let image = result["image"].as_str().expect("an image").to_string();
        let files = docker(&["run", "--rm", &image, "cat", "/checked", "/run-id"]);
        (run, image, files)
    };
    let (built, built_image, built_files) = build(&sha256(TOKEN));
    keep(&built);
    assert!(built_files.starts_with("match\n"), "the build read the secret: {built_files}");
    let (rebuilt, _, rebuilt_files) = build(&sha256(TOKEN));
    keep(&rebuilt);
    assert_eq!(rebuilt_files, built_files, "the same value is cached");
    std::fs::write(&token_file, OTHER_TOKEN).unwrap();
    let (changed_build, changed_image, changed_files) = build(&sha256(TOKEN));
    keep(&changed_build);
    std::fs::write(&token_file, TOKEN).unwrap();
    assert!(changed_files.starts_with("mismatch\n"), "the new value reached the build: {changed_files}");
    assert_ne!(changed_files, built_files, "a new value builds again");
    // A failing `RUN` that prints the secret: its output shows, scrubbed.
    let build_failed = tanto.call_guest("api", "secret-build-fail", &[&token_argument]).failure(1);
    keep(&build_failed);
    assert!(build_failed.stderr.contains("leaking ***"), "{}", build_failed.stderr);
    assert!(build_failed.stderr.contains("exit code: 7"), "{}", build_failed.stderr);

    // A command that prints the secret: the user sees `***`, in plain and JSON progress.
    let echoed = tanto.call_guest("api", "secret-echo", &["--token=env://PROBE_TOKEN"]).success();
    keep(&echoed);
    assert_eq!(echoed.stdout, "token is ***\n***\n***--stderr--\non stderr ***\n", "{}", echoed.stderr);
    assert!(
        echoed.stderr.contains("| token is ***"),
        "the progress shows the scrubbed line: {}",
        echoed.stderr
    );
    let key_echoed = tanto.call_guest("api", "secret-echo", &[&key_argument.replace("--key", "--token")]).success();
    keep(&key_echoed);
    let mut json = tanto.command_with_progress("json");
    let wasm = tanto_tests::guest_wasm("api");
    let json_run = json
        .args(["call", "--no-cache", "-m", wasm.to_str().unwrap(), "secret-echo", "--token=env://OTHER_TOKEN"])
        .output()
        .expect("tanto runs");
    assert!(json_run.status.success(), "{}", String::from_utf8_lossy(&json_run.stderr));
    assert!(String::from_utf8_lossy(&json_run.stderr).contains("\"event\""), "JSON progress");
    assert_clean("what tanto printed with JSON progress", &[json_run.stdout, json_run.stderr].concat());

    // A failing step that prints it: the error shows `***`.
    let failed = tanto.call_guest("api", "secret-fail", &["--token=env://PROBE_TOKEN"]).failure(1);
    keep(&failed);
    assert!(failed.stderr.contains("leaking ***"), "{}", failed.stderr);
    // A secret the module made itself.
    let made = tanto.call_guest("api", "secret-made", &[]).success();
    keep(&made);
    assert_eq!(made.stdout, "made: ***\n");
    // Its name is the reference, never the value.
    let named = tanto.call_guest("api", "secret-name", &["--token=env://PROBE_TOKEN"]).success();
    assert_eq!(named.stdout, "env://PROBE_TOKEN");

    assert_clean("what tanto printed", &shown);

    // Every image tanto left: the snapshots of its cache and the image it made for the
    // user; no container is left to inspect.
    tanto.assert_no_leftovers();
    let mut images = tanto.snapshot_images();
    assert!(images.len() >= 4, "snapshots: {images:?}");
    images.push(built_image);
    images.push(changed_image);
    images.push(user_image);
    for image in &images {
        assert_clean(&format!("docker history of {image}"), docker(&["history", "--no-trunc", image]).as_bytes());
        assert_clean(&format!("docker inspect of {image}"), docker(&["inspect", image]).as_bytes());
    }
    let saved = tempfile::tempdir().unwrap();
    let archive = saved.path().join("images.tar");
    let mut save = vec!["save", "-o", archive.to_str().unwrap()];
    save.extend(images.iter().map(String::as_str));
    docker(&save);
    assert_clean("docker save of the images", &std::fs::read(&archive).unwrap());
    // The file the first step wrote is there: the probe looked at the real thing.
    let checked = docker(&["run", "--rm", &images[images.len() - 1], "cat", "/checked"]);
    assert_eq!(checked, "1000:1000 440\n");

    // Every file under the cache root; the secret key is there, private.
    let mut files = Vec::new();
    files_under(tanto.cache.path(), &mut files);
    assert!(files.len() > 4, "{files:?}");
    for file in &files {
        let place = format!("the cache file {}", file.display());
        if file.starts_with(tanto.cache.path().join("components")) {
            // The module's compiled code holds the literal it was written with.
            assert_none_of(&[TOKEN, OTHER_TOKEN, KEY], &place, &std::fs::read(file).unwrap());
        } else {
            assert_clean(&place, &std::fs::read(file).unwrap());
        }
    }
    let key = std::fs::metadata(tanto.cache.path().join("secret-key")).expect("the cache's secret key");
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&key.permissions()) & 0o777, 0o600);
    assert_eq!(key.len(), 32);
}

/// A secret argument names where its value is; anything else is refused without
/// echoing it, and a missing variable is named.
#[test]
fn secret_arguments_are_references() {
    let tanto = Tanto::new();
    let plain = tanto.call_guest("api", "secret-name", &["--token=hunter2-plain-value"]);
    assert_ne!(plain.code, Some(0));
    assert!(plain.stderr.contains("env://NAME"), "{}", plain.stderr);
    assert!(!plain.stderr.contains("hunter2-plain-value"), "{}", plain.stderr);
    let missing = tanto.call_guest("api", "secret-name", &["--token=env://TANTO_PROBE_SURELY_UNSET"]);
    assert_ne!(missing.code, Some(0));
    assert!(
        missing.stderr.contains("the environment variable TANTO_PROBE_SURELY_UNSET is not set"),
        "{}",
        missing.stderr
    );
}
