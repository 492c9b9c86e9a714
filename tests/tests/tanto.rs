//! tanto end to end: the real binary, real wasmtime, the machine's real Docker daemon.
//! Each test checks the bytes or values a pipeline produced, and that it left nothing
//! behind on the daemon.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tanto_tests::{Tanto, docker, foreach_guest, guest_dir, guest_wasm, repo_root};

// Every guest in tests/guests must have a test named after it in this file.
macro_rules! assert_guest_has_test {
    ($name:ident) => {
        #[allow(unused_imports)]
        use self::$name as _;
    };
}
foreach_guest!(assert_guest_has_test);

fn write(dir: &Path, path: &str, contents: &str) {
    let target = dir.join(path);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(target, contents).unwrap();
}

/// Redacts what changes between runs (temp paths, digests, timings) from CLI output.
fn redact(text: &str, tanto: &Tanto) -> String {
    let mut text = text.replace(&repo_root().display().to_string(), "[REPO]");
    text = text.replace(&tanto.cache.path().display().to_string(), "[CACHE]");
    let digest = regex_lite_replace(&text, "sha256:", 64);
    digest.lines().filter(|line| !line.starts_with('[')).collect::<Vec<_>>().join("\n")
}

/// Replaces `prefix` + `length` hex digits with `prefix[HEX]`.
fn regex_lite_replace(text: &str, prefix: &str, length: usize) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(index) = rest.find(prefix) {
        out.push_str(&rest[..index + prefix.len()]);
        rest = &rest[index + prefix.len()..];
        let hex = rest.chars().take_while(|c| c.is_ascii_hexdigit()).count();
        if hex == length {
            out.push_str("[HEX]");
            rest = &rest[hex..];
        }
    }
    out.push_str(rest);
    out
}

// ---- the first-party hello module, built from source --------------------------------

#[test]
fn hello_greets_by_name_and_by_default() {
    let tanto = Tanto::new();
    let module = repo_root().join("modules/hello");
    let run = tanto.run_in(&module, &["call", "hello", "--name=tanto"]).success();
    assert_eq!(run.stdout, "hello, tanto\n");
    let run = tanto.run_in(&module, &["call", "hello"]).success();
    assert_eq!(run.stdout, "hello, world\n");
    let run = tanto.run_in(&module, &["call", "greet", "--name=ada"]).success();
    assert_eq!(run.stdout, "hi, ada\n", "the declared default greeting applies");
    tanto.assert_no_leftovers();
}

#[test]
fn cat_reads_a_host_file_inside_a_container() {
    let tanto = Tanto::new();
    let source = tempfile::tempdir().unwrap();
    write(source.path(), "docs/readme.txt", "bytes from the host\nline two\n");
    let source_arg = format!("--source={}", source.path().display());
    let run = tanto
        .run_in(&repo_root().join("modules/hello"), &["call", "cat", &source_arg, "--path=docs/readme.txt"])
        .success();
    assert_eq!(run.stdout, "bytes from the host\nline two\n");
    tanto.assert_no_leftovers();
}

#[test]
fn functions_lists_the_schema() {
    let tanto = Tanto::new();
    let run = tanto.run_in(&repo_root().join("modules/hello"), &["functions"]).success();
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn init_makes_a_module_that_builds_and_runs_anywhere() {
    let tanto = Tanto::new();
    let workspace = tempfile::tempdir().unwrap();
    let module = workspace.path().join("my-pipeline");
    tanto.run_in(workspace.path(), &["init", "my-pipeline", "--sdk=rust"]).success();
    let manifest = std::fs::read_to_string(module.join("tanto.toml")).unwrap();
    assert_eq!(manifest, "name = \"my-pipeline\"\nsdk = \"rust\"\n");
    let cargo_toml = std::fs::read_to_string(module.join("Cargo.toml")).unwrap();
    assert!(
        !cargo_toml.contains(&repo_root().display().to_string()),
        "the module must not point into this checkout:\n{cargo_toml}"
    );
    let run = tanto.run_in(&module, &["call", "container-echo", "--text=built far away"]).success();
    assert!(run.stdout.starts_with("Container@sha256:"), "{}", run.stdout);
    write(workspace.path(), "data/notes.txt", "one\nneedle here\nthree\n");
    let data = format!("--directory={}", workspace.path().join("data").display());
    let run = tanto.run_in(&module, &["call", "grep-dir", &data, "--pattern=needle"]).success();
    assert_eq!(run.stdout, "./notes.txt:needle here\n");
    let again = tanto.run_in(&module, &["init", ".", "--sdk=rust"]).failure(2);
    assert!(again.stderr.contains("already has a tanto.toml"), "{}", again.stderr);
    tanto.assert_no_leftovers();
}

// ---- the API, through the `api` guest -------------------------------------------------

mod api {
    use super::*;

    fn call(tanto: &Tanto, function: &str, args: &[&str]) -> String {
        tanto.call_guest("api", function, args).success().stdout
    }

    #[test]
    fn env_variables_are_set_and_removed() {
        let tanto = Tanto::new();
        let env = call(&tanto, "env-vars", &["--name=GREETING", "--value=hi there"]);
        assert!(env.lines().any(|line| line == "GREETING=hi there"), "{env}");
        assert!(!env.contains("/set-then-removed"), "a removed variable is gone:\n{env}");
        tanto.assert_no_leftovers();
    }

    #[test]
    fn workdir_user_and_entrypoint_apply() {
        let tanto = Tanto::new();
        assert_eq!(call(&tanto, "workdir", &["--path=/work/dir"]), "/work/dir\n");
        assert_eq!(call(&tanto, "user", &["--name=tanto"]), "uid=1000(tanto) gid=1000(tanto) groups=1000(tanto)\n");
        assert_eq!(
            call(&tanto, "user", &["--name=65534"]),
            "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n"
        );
        assert_eq!(call(&tanto, "entrypoint", &[]), "from-entrypoint argument\n");
        tanto.assert_no_leftovers();
    }

    #[test]
    fn a_container_result_is_an_image_with_exactly_its_configuration() {
        let tanto = Tanto::new();
        let json: serde_json::Value = serde_json::from_str(&call(&tanto, "configured", &["--json"])).unwrap();
        assert_eq!(json["type"], "container");
        let image = json["image"].as_str().unwrap();
        let config: serde_json::Value = serde_json::from_str(&docker(&["image", "inspect", "--format", "{{json .Config}}", image])).unwrap();
        assert_eq!(config["Labels"]["org.opencontainers.image.title"], "tanto-test");
        assert_eq!(config["Labels"]["tanto.test"], "yes");
        assert_eq!(config["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
        assert_eq!(config["Cmd"], serde_json::json!(["echo configured"]));
        assert_eq!(config["WorkingDir"], "/srv");
        assert_eq!(config["User"], "1000");
        assert!(config["Env"].as_array().unwrap().iter().any(|entry| entry == "APP_MODE=production"), "{config}");
        assert_eq!(docker(&["run", "--rm", image]), "configured\n");
        let text = call(&tanto, "configured", &[]);
        assert!(
            text.starts_with("Container@sha256:") && text.trim().len() == "Container@sha256:".len() + 64,
            "{text}"
        );
        tanto.assert_no_leftovers();
    }

    #[test]
    fn new_files_have_their_mode_and_bytes() {
        let tanto = Tanto::new();
        assert_eq!(call(&tanto, "new-file", &["--contents=contents"]), "600 8\ncontents");
        tanto.assert_no_leftovers();
    }

    #[test]
    fn with_directory_honours_include_exclude_and_gitignore() {
        let tanto = Tanto::new();
        let source = tempfile::tempdir().unwrap();
        for path in ["a.txt", "b.md", "sub/c.txt", "skip/d.txt", "ignored.txt"] {
            write(source.path(), path, path);
        }
        write(source.path(), ".gitignore", "ignored.txt\n");
        let source_arg = format!("--source={}", source.path().display());
        let listed = call(&tanto, "copy-filtered", &[&source_arg, "--include=**/*.txt", "--exclude=skip"]);
        assert_eq!(listed, "./a.txt\n./sub/c.txt\n");
        let everything = call(&tanto, "copy-filtered", &[&source_arg, "--include=", "--exclude="]);
        assert_eq!(everything, "./.gitignore\n./a.txt\n./b.md\n./skip/d.txt\n./sub/c.txt\n");
        tanto.assert_no_leftovers();
    }

    #[test]
    fn files_and_directories_read_back_from_containers() {
        let tanto = Tanto::new();
        assert_eq!(call(&tanto, "read-file", &["--text=hello"]), "result.txt 5 hello");
        assert_eq!(call(&tanto, "read-dir", &[]), "a.txt\nb.txt\nsub/\n");
        tanto.assert_no_leftovers();
    }

    #[test]
    fn directory_operations_export_to_the_host() {
        let tanto = Tanto::new();
        let source = tempfile::tempdir().unwrap();
        write(source.path(), "keep.txt", "kept\n");
        write(source.path(), "drop.txt", "dropped\n");
        let out = tempfile::tempdir().unwrap();
        let destination = out.path().join("result");
        let source_arg = format!("--source={}", source.path().display());
        let run = tanto
            .call_guest("api", "build-dir", &[&source_arg, "-o", destination.to_str().unwrap()])
            .success();
        assert!(
            run.stderr.contains(&format!("Saved to {:?}", destination.display().to_string())),
            "{}",
            run.stderr
        );
        assert_eq!(std::fs::read_to_string(destination.join("notes/new.txt")).unwrap(), "new file\n");
        assert_eq!(std::fs::read_to_string(destination.join("copied.txt")).unwrap(), "from-container\n");
        assert_eq!(std::fs::read_to_string(destination.join("tree/keep.txt")).unwrap(), "kept\n");
        assert!(!destination.join("tree/drop.txt").exists());
        let mode = std::fs::metadata(destination.join("bin/run.sh")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755);
        tanto.assert_no_leftovers();
    }

    #[test]
    fn directory_digests_are_by_content() {
        let tanto = Tanto::new();
        let source = tempfile::tempdir().unwrap();
        write(source.path(), "sub/c.txt", "see");
        let source_arg = format!("--source={}", source.path().display());
        let first = call(&tanto, "inspect-dir", &[&source_arg]);
        assert!(first.starts_with("[\"c.txt\"] sha256:"), "{first}");
        let file_digest = first.split(' ').nth(1).unwrap();
        let expected = format!(
            "sha256:{}",
            docker(&["run", "--rm", "busybox:latest", "sh", "-c", "printf see | sha256sum"])
                .split_whitespace()
                .next()
                .unwrap()
        );
        assert_eq!(file_digest, expected);
        // Touching a file without changing it keeps the digest; changing a byte does not.
        let touched = std::fs::File::options().append(true).open(source.path().join("sub/c.txt")).unwrap();
        touched.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60)).unwrap();
        assert_eq!(call(&tanto, "inspect-dir", &[&source_arg]), first);
        write(source.path(), "sub/c.txt", "sea");
        assert_ne!(call(&tanto, "inspect-dir", &[&source_arg]), first);
        tanto.assert_no_leftovers();
    }

    #[test]
    fn expectations_decide_what_counts_as_failure() {
        let tanto = Tanto::new();
        let failed = tanto.call_guest("api", "fail", &["--expect=success"]).failure(1);
        assert!(
            failed
                .stderr
                .contains("error: command sh -c 'echo to-stdout; echo to-stderr >&2; exit 3' exited with code 3"),
            "{}",
            failed.stderr
        );
        assert!(failed.stderr.contains("to-stderr"), "the stderr tail is shown:\n{}", failed.stderr);
        assert_eq!(call(&tanto, "fail", &["--expect=failure"]), "3\n");
        assert_eq!(call(&tanto, "fail", &["--expect=any"]), "3\n");
        assert_eq!(call(&tanto, "streams", &[]), "out=to-stdout err=to-stderr");
        assert_eq!(call(&tanto, "catch", &[]), "caught 7 from sh -c echo broken >&2; exit 7 with broken");
        tanto.assert_no_leftovers();
    }

    #[test]
    fn stdin_reaches_the_command() {
        let tanto = Tanto::new();
        assert_eq!(call(&tanto, "stdin", &["--text=piped in"]), "piped in");
        tanto.assert_no_leftovers();
    }

    #[test]
    fn a_missing_image_or_program_fails_clearly() {
        let tanto = Tanto::new();
        let missing = tanto.call_guest("api", "missing-image", &[]).failure(1);
        assert!(missing.stderr.contains("tanto-test/no-such-image:1"), "{}", missing.stderr);
        assert!(missing.stderr.contains("hint:"), "{}", missing.stderr);
        let program = tanto.call_guest("api", "missing-program", &[]).failure(1);
        assert!(program.stderr.contains("exited with code 127"), "{}", program.stderr);
        assert!(program.stderr.contains("no-such-program"), "{}", program.stderr);
        tanto.assert_no_leftovers();
    }

    #[test]
    fn a_mount_is_seen_by_commands_but_not_committed() {
        let tanto = Tanto::new();
        let source = tempfile::tempdir().unwrap();
        write(source.path(), "a.txt", "mounted-contents");
        let source_arg = format!("--source={}", source.path().display());
        assert_eq!(call(&tanto, "mounted", &[&source_arg]), "mounted-contents [\"src/\"]");
        assert!(!source.path().join("written-by-command").exists(), "the host directory is never written");
        tanto.assert_no_leftovers();
    }

    #[test]
    fn waiting_for_containers_does_not_count_against_the_cpu_budget() {
        let tanto = Tanto::new();
        let run = tanto
            .run(&["call", "-m", guest_wasm("api").to_str().unwrap(), "--cpu-limit=1", "sleep", "--seconds=2"])
            .success();
        assert_eq!(run.stdout, "slept\n");
        tanto.assert_no_leftovers();
    }

    #[test]
    fn objects_pass_in_and_out_of_functions() {
        let tanto = Tanto::new();
        let run = tanto
            .call_guest("api", "pass-through", &["--base=busybox:latest", "--marker=x", "--json"])
            .success();
        let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let image = json["image"].as_str().unwrap();
        assert_eq!(docker(&["run", "--rm", "--entrypoint", "cat", image, "/marker.txt"]), "x");
        tanto.assert_no_leftovers();
    }

    #[test]
    fn argument_errors_list_the_arguments() {
        let tanto = Tanto::new();
        let unknown = tanto.call_guest("api", "workdir", &["--pth=/x"]).failure(2);
        insta::assert_snapshot!("unknown_argument", redact(&unknown.stderr, &tanto));
        let missing = tanto.call_guest("api", "workdir", &[]).failure(2);
        insta::assert_snapshot!("missing_argument", redact(&missing.stderr, &tanto));
        let function = tanto.call_guest("api", "no-such-function", &[]).failure(2);
        assert!(
            function.stderr.contains("has no function `no-such-function`") && function.stderr.contains("env-vars"),
            "{}",
            function.stderr
        );
    }
}

// ---- bad input: every case a clear message, an exit code, and nothing left behind ------

#[test]
fn looper() {
    let tanto = Tanto::new();
    let started = std::time::Instant::now();
    let run = tanto
        .run(&["call", "-m", guest_wasm("looper").to_str().unwrap(), "--cpu-limit=1", "spin"])
        .failure(1);
    assert!(run.stderr.contains("exceeded its CPU time budget of 1s"), "{}", run.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "the deadline stopped the loop");
    tanto.assert_no_leftovers();
}

#[test]
fn hog() {
    let tanto = Tanto::new();
    let wasm = guest_wasm("hog");
    let run = tanto
        .run(&["call", "-m", wasm.to_str().unwrap(), "--memory-limit=64", "allocate", "--mib=256"])
        .failure(1);
    assert!(run.stderr.contains("exceeded its memory limit of 64 MiB"), "{}", run.stderr);
    let run = tanto
        .run(&["call", "-m", wasm.to_str().unwrap(), "--memory-limit=64", "allocate", "--mib=16"])
        .success();
    assert_eq!(run.stdout, format!("{}\n", 16 << 20));
    tanto.assert_no_leftovers();
}

#[test]
fn panicker() {
    let tanto = Tanto::new();
    let run = tanto.call_guest("panicker", "boom", &[]).failure(1);
    assert!(run.stderr.contains("the module panicked"), "{}", run.stderr);
    assert!(
        run.stderr.contains("the module panicked on purpose"),
        "the guest's own message is shown:\n{}",
        run.stderr
    );
    tanto.assert_no_leftovers();
}

#[test]
fn other_world() {
    let tanto = Tanto::new();
    let run = tanto.call_guest("other-world", "run", &[]).failure(2);
    assert!(run.stderr.contains("was not built for tanto's `module` world"), "{}", run.stderr);
    assert!(run.stderr.contains("hint: a tanto module imports"), "{}", run.stderr);
    assert!(guest_dir("other-world").is_dir());
}

#[test]
fn a_file_that_is_not_wasm_is_refused() {
    let tanto = Tanto::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("module.wasm");
    std::fs::write(&path, "#!/bin/sh\necho not wasm\n").unwrap();
    let run = tanto.run(&["call", "-m", path.to_str().unwrap(), "run"]).failure(2);
    assert!(run.stderr.contains("is not a WebAssembly file"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "#!/bin/sh\necho not wasm\n", "the input is untouched");
}

#[test]
fn a_core_module_is_refused() {
    let tanto = Tanto::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("core.wasm");
    // The smallest valid core module: magic and version 1.
    std::fs::write(&path, b"\0asm\x01\0\0\0").unwrap();
    let run = tanto.run(&["call", "-m", path.to_str().unwrap(), "run"]).failure(2);
    assert!(run.stderr.contains("is a core WebAssembly module, not a component"), "{}", run.stderr);
    assert!(run.stderr.contains("wasm32-wasip2"), "{}", run.stderr);
}

#[test]
fn a_dead_docker_socket_is_reported_with_a_hint() {
    let tanto = Tanto::new().env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    let run = tanto.call_guest("api", "workdir", &["--path=/x"]).failure(2);
    assert!(
        run.stderr.contains("cannot connect to the Docker daemon at unix:///nonexistent/docker.sock"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint: start the Docker daemon"), "{}", run.stderr);
}

#[test]
fn a_missing_or_malformed_manifest_is_reported() {
    let tanto = Tanto::new();
    let empty = tempfile::tempdir().unwrap();
    let run = tanto.run_in(empty.path(), &["call", "hello"]).failure(2);
    assert!(run.stderr.contains("no tanto.toml in"), "{}", run.stderr);
    assert!(run.stderr.contains("hint: create a module with `tanto init --sdk=rust`"), "{}", run.stderr);
    write(empty.path(), "tanto.toml", "name = \"x\"\nsdk = \"cobol\"\n");
    let run = tanto.run_in(empty.path(), &["call", "hello"]).failure(2);
    assert!(run.stderr.contains("line 2"), "{}", run.stderr);
}
