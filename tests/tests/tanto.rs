//! tanto end to end: the real binary, real wasmtime, the machine's real Docker daemon.
//! Each test checks the bytes or values a pipeline produced, and that it left nothing
//! behind on the daemon.

use std::os::unix::fs::PermissionsExt;

use tanto_tests::{Tanto, describe_tree, docker, foreach_guest, guest_dir, guest_wasm, repo_root, write};

// The hostile-module suite: modules trying to escape the sandbox.
mod hostile;
use hostile::{escaper, schema_forger};

// Images and registries: publish, pull, archives, Dockerfile builds.
mod images;

// Services: bound by alias, shared, waited for, forwarded by `up`.
mod services;

// Every guest in tests/guests must have a test named after it in this file.
macro_rules! assert_guest_has_test {
    ($name:ident) => {
        #[allow(unused_imports)]
        use self::$name as _;
    };
}
foreach_guest!(assert_guest_has_test);

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
    // The module is rebuilt only when its sources change.
    let component = repo_root().join("target/test-modules/wasm32-wasip2/release/my_pipeline.wasm");
    let built = std::fs::metadata(&component).unwrap().modified().unwrap();
    tanto.run_in(&module, &["call", "container-echo", "--text=unchanged"]).success();
    assert_eq!(
        std::fs::metadata(&component).unwrap().modified().unwrap(),
        built,
        "an unchanged module was rebuilt"
    );
    let lib_rs = std::fs::read_to_string(module.join("src/lib.rs")).unwrap();
    std::fs::write(module.join("src/lib.rs"), format!("{lib_rs}\n// edited\n")).unwrap();
    tanto.run_in(&module, &["call", "container-echo", "--text=edited"]).success();
    assert_ne!(
        std::fs::metadata(&component).unwrap().modified().unwrap(),
        built,
        "an edited module was not rebuilt"
    );

    let again = tanto.run_in(&module, &["init", ".", "--sdk=rust"]).failure(2);
    assert!(again.stderr.contains("already has a tanto.toml"), "{}", again.stderr);
    tanto.assert_no_leftovers();
}

// ---- the vendored SDK, brought up to date by `tanto develop` ---------------------------

mod vendored_sdk {
    use std::path::Path;

    use super::*;

    /// The version of the SDK this tanto embeds (the first `version` of its manifest).
    fn host_sdk_version() -> String {
        let manifest = std::fs::read_to_string(repo_root().join("guest-sdk/Cargo.toml")).unwrap();
        let line = manifest.lines().find(|line| line.starts_with("version = ")).unwrap();
        line.trim_start_matches("version = ").trim_matches('"').to_string()
    }

    fn sha256(bytes: &[u8]) -> String {
        let output = std::process::Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write as _;
                child.stdin.take().unwrap().write_all(bytes)?;
                child.wait_with_output()
            })
            .unwrap();
        String::from_utf8_lossy(&output.stdout)[..64].to_string()
    }

    /// Makes the SDK in `module/sdk` what an older tanto, with SDK 0.0.1, would have
    /// vendored: another version, `src/lib.rs` as that SDK had it, a WIT folder this
    /// tanto's SDK no longer has, and the record of those files to match.
    fn vendor_old_sdk(module: &Path) {
        let sdk = module.join("sdk");
        let record_path = sdk.join(".tanto-vendored.json");
        let mut record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&record_path).unwrap()).unwrap();
        let manifest =
            std::fs::read_to_string(sdk.join("Cargo.toml"))
                .unwrap()
                .replacen(&format!("version = \"{}\"", host_sdk_version()), "version = \"0.0.1\"", 1);
        let lib_rs = format!("{}\n// as SDK 0.0.1 had it\n", std::fs::read_to_string(sdk.join("src/lib.rs")).unwrap());
        let files = [
            ("Cargo.toml", manifest),
            ("src/lib.rs", lib_rs),
            ("wit/0.0.1/tanto.wit", "package tanto:core@0.0.1;\n".to_string()),
        ];
        for (path, contents) in files {
            write(&sdk, path, &contents);
            record["files"][path] = sha256(contents.as_bytes()).into();
        }
        record["version"] = "0.0.1".into();
        std::fs::write(&record_path, serde_json::to_string_pretty(&record).unwrap()).unwrap();
    }

    fn redact(text: &str, workspace: &Path) -> String {
        tanto_tests::without_progress(text)
            .replace(&workspace.display().to_string(), "[WORKSPACE]")
            .replace(&format!("tanto-sdk {}", host_sdk_version()), "tanto-sdk [HOST]")
            .replace(&format!("→ {}", host_sdk_version()), "→ [HOST]")
            .replace(&format!("to {}", host_sdk_version()), "to [HOST]")
            .replace(&format!("tanto's {}", host_sdk_version()), "tanto's [HOST]")
    }

    fn hints(stderr: &str) -> Vec<&str> {
        stderr.lines().filter(|line| line.starts_with("hint:")).collect()
    }

    #[test]
    fn an_old_sdk_gets_a_hint_and_develop_brings_it_up_to_date() {
        let tanto = Tanto::new();
        let workspace = tempfile::tempdir().unwrap();
        let module = workspace.path().join("old-sdk");
        tanto.run_in(workspace.path(), &["init", "old-sdk", "--sdk=rust"]).success();
        tanto.run_in(workspace.path(), &["init", "fresh", "--sdk=rust"]).success();
        vendor_old_sdk(&module);

        // It builds and runs as it is, with a hint on stderr.
        let listed = tanto.run_in(&module, &["functions"]).success();
        assert!(listed.stdout.contains("container-echo"), "{}", listed.stdout);
        let run = tanto.run_in(&module, &["call", "container-echo", "--text=old sdk"]).success();
        assert!(run.stdout.starts_with("Container@sha256:"), "{}", run.stdout);
        assert_eq!(hints(&listed.stderr), hints(&run.stderr));
        insta::assert_snapshot!("old_sdk_hint", redact(&hints(&run.stderr).join("\n"), workspace.path()));

        let developed = tanto.run_in(&module, &["develop"]).success();
        insta::assert_snapshot!("old_sdk_develop", redact(&developed.stderr, workspace.path()));
        assert_eq!(
            describe_tree(&module.join("sdk")),
            describe_tree(&workspace.path().join("fresh/sdk")),
            "the SDK is now exactly what this tanto vendors"
        );

        // Rebuilt on the new SDK, it runs; no hint, and nothing more to update.
        let run = tanto.run_in(&module, &["call", "container-echo", "--text=new sdk"]).success();
        assert!(run.stdout.starts_with("Container@sha256:"), "{}", run.stdout);
        assert_eq!(hints(&run.stderr), Vec::<&str>::new(), "{}", run.stderr);
        let again = tanto.run_in(&module, &["develop"]).success();
        assert!(
            again.stderr.starts_with("Up to date: ") && again.stderr.lines().count() == 1,
            "{}",
            again.stderr
        );
        tanto.assert_no_leftovers();
    }

    #[test]
    fn changes_in_the_sdk_are_kept_and_never_silently_overwritten() {
        let tanto = Tanto::new();
        let workspace = tempfile::tempdir().unwrap();
        let module = workspace.path().join("patched");
        tanto.run_in(workspace.path(), &["init", "patched", "--sdk=rust"]).success();
        tanto.run_in(workspace.path(), &["init", "fresh", "--sdk=rust"]).success();
        let patched = format!("{}// patched by hand\n", std::fs::read_to_string(module.join("sdk/macros/src/lib.rs")).unwrap());
        write(&module, "sdk/macros/src/lib.rs", &patched);

        // This tanto's SDK with a patch is current: the patch stays.
        let kept = tanto.run_in(&module, &["develop"]).success();
        insta::assert_snapshot!("patched_sdk_kept", redact(&kept.stderr, workspace.path()));
        assert_eq!(std::fs::read_to_string(module.join("sdk/macros/src/lib.rs")).unwrap(), patched);

        // An older SDK with the patch: the update would overwrite it, so it is refused
        // and nothing changes, until --force.
        vendor_old_sdk(&module);
        let before = describe_tree(&module.join("sdk"));
        let refused = tanto.run_in(&module, &["develop"]).failure(2);
        insta::assert_snapshot!("patched_sdk_refused", redact(&refused.stderr, workspace.path()));
        assert_eq!(describe_tree(&module.join("sdk")), before);

        let forced = tanto.run_in(&module, &["develop", "--force"]).success();
        assert!(forced.stderr.contains("  ~ macros/src/lib.rs\n"), "{}", forced.stderr);
        assert_eq!(describe_tree(&module.join("sdk")), describe_tree(&workspace.path().join("fresh/sdk")));
    }
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
    fn binary_files_go_in_and_out_byte_for_byte() {
        let tanto = Tanto::new();
        let source = tempfile::tempdir().unwrap();
        std::fs::write(source.path().join("blob.bin"), [0x00, 0xff, 0xfe, 0x80, b'a', b'\n']).unwrap();
        write(source.path(), "text.txt", "plain");
        let source_arg = format!("--source={}", source.path().display());
        assert_eq!(
            call(&tanto, "read-bytes", &[&source_arg, "--path=blob.bin"]),
            "00fffe80610a not text: blob.bin is not UTF-8 text (read it with contents-bytes)"
        );
        assert_eq!(call(&tanto, "read-bytes", &[&source_arg, "--path=text.txt"]), "706c61696e text \"plain\"");

        let out = tempfile::tempdir().unwrap();
        let destination = out.path().join("written");
        tanto
            .call_guest("api", "write-bytes", &["--hex=00ff7f80c3", "-o", destination.to_str().unwrap()])
            .success();
        assert_eq!(std::fs::read(destination.join("blob.bin")).unwrap(), [0x00, 0xff, 0x7f, 0x80, 0xc3]);
        assert_eq!(
            std::fs::read_to_string(destination.join("od.txt")).unwrap(),
            "751 5\n 00 ff 7f 80 c3\n",
            "the container's copy has the same bytes and its mode"
        );
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
        // The hint comes from the error's type, not its text; why Docker could not pull
        // the image depends on the machine, so only the hint is snapshotted.
        let hint: Vec<&str> = missing.stderr.lines().filter(|line| line.starts_with("hint:")).collect();
        insta::assert_snapshot!("missing_image_hint", hint.join("\n"));
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

// ---- user errors: exit 2, with a hint, snapshotted ----------------------------------------

mod user_errors {
    //! Requests that cannot work are the user's to fix: each exits 2 with a hint saying
    //! what to do, never 70 ("a bug in tanto").

    use super::*;
    use tanto_tests::write_module;

    /// `run`'s exit code and stderr, with the temporary folder `dir` and the run's own
    /// paths redacted.
    fn shown(run: &tanto_tests::Run, tanto: &Tanto, dir: &std::path::Path) -> String {
        let text = redact(&run.stderr, tanto).replace(&dir.display().to_string(), "[DIR]");
        format!("exit: {:?}\n{text}", run.code)
    }

    #[test]
    fn an_output_path_that_cannot_be_written_is_the_users_to_fix() {
        let tanto = Tanto::new();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "a file, not a folder").unwrap();
        let source = dir.path().join("source");
        write(&source, "keep.txt", "kept\n");
        let source_arg = format!("--source={}", source.display());

        // A string result, under a path whose parent is a file.
        let below_a_file = file.join("out.txt");
        let run = tanto
            .call_guest("api", "workdir", &["--path=/x", "-o", below_a_file.to_str().unwrap()])
            .failure(2);
        insta::assert_snapshot!("string_below_a_file", shown(&run, &tanto, dir.path()));
        // A directory result, the same.
        let below_a_file = file.join("result");
        let run = tanto
            .call_guest("api", "build-dir", &[&source_arg, "-o", below_a_file.to_str().unwrap()])
            .failure(2);
        insta::assert_snapshot!("directory_below_a_file", shown(&run, &tanto, dir.path()));
        // A directory result where a file stands.
        let run = tanto.call_guest("api", "build-dir", &[&source_arg, "-o", file.to_str().unwrap()]).failure(2);
        insta::assert_snapshot!("directory_over_a_file", shown(&run, &tanto, dir.path()));
        // A string result where a folder stands.
        let run = tanto.call_guest("api", "workdir", &["--path=/x", "-o", source.to_str().unwrap()]).failure(2);
        insta::assert_snapshot!("string_over_a_folder", shown(&run, &tanto, dir.path()));
        // A result no path can hold.
        let run = tanto
            .call_guest("api", "read-dir", &["-o", dir.path().join("list").to_str().unwrap()])
            .failure(2);
        insta::assert_snapshot!("list_to_a_path", shown(&run, &tanto, dir.path()));

        assert_eq!(std::fs::read_to_string(&file).unwrap(), "a file, not a folder", "nothing was written through");
        assert_eq!(std::fs::read_to_string(source.join("keep.txt")).unwrap(), "kept\n");
        tanto.assert_no_leftovers();
    }

    #[test]
    fn a_module_folder_that_cannot_be_written_is_the_users_to_fix() {
        let tanto = Tanto::new();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "a file, not a folder").unwrap();
        let run = tanto.run(&["init", file.join("module").to_str().unwrap(), "--sdk=rust"]).failure(2);
        insta::assert_snapshot!("init_below_a_file", shown(&run, &tanto, dir.path()));
    }

    #[test]
    fn a_dependency_that_cannot_be_loaded_keeps_the_hint_of_its_cause() {
        let tanto = Tanto::new();
        let workspace = tempfile::tempdir().unwrap();
        let lib = workspace.path().join("lib");
        let app = workspace.path().join("app");
        write_module(&lib, "lib", super::dependencies::LIB, &[]);
        write_module(&app, "app", super::dependencies::APP, &[("lib", "../lib")]);
        std::fs::write(lib.join("tanto.toml"), "name = \"lib\"\nsdk = \"cobol\"\n").unwrap();
        let run = tanto.run_in(&app, &["develop"]).failure(2);
        insta::assert_snapshot!("dependency_manifest", shown(&run, &tanto, workspace.path()));
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
    assert!(
        run.stderr
            .contains("it uses no version of the tanto API (tanto:core); this tanto serves tanto:core@0.1.0 and tanto:core@0.2.0"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint: a tanto module imports"), "{}", run.stderr);
    assert!(guest_dir("other-world").is_dir());
}

// ---- versions of the API -------------------------------------------------------------

/// A component built against a version no tanto serves yet: refused before it runs, with
/// the versions this tanto serves and a hint.
#[test]
fn future_api() {
    let tanto = Tanto::new();
    let wasm = guest_wasm("future-api");
    let called = tanto.call_guest("future-api", "describe", &[]).failure(2);
    let shown = called.stderr.replace(&wasm.display().to_string(), "[WASM]");
    insta::assert_snapshot!("future_api", shown);
    let listed = tanto.run(&["functions", "-m", wasm.to_str().unwrap()]).failure(2);
    assert_eq!(listed.stderr, called.stderr, "functions refuses it the same way");
}

/// A module built against tanto:core@0.1.0 from source, without the SDK (the SDK
/// follows the latest version): it runs unchanged, and a 0.2 module calls it.
#[test]
fn v0_1() {
    let tanto = Tanto::new();
    let wasm = guest_wasm("v0-1");
    let functions = tanto.run(&["functions", "-m", wasm.to_str().unwrap()]).success();
    assert!(functions.stdout.contains("\nAPI: tanto:core@0.1.0\n"), "{}", functions.stdout);
    assert_eq!(tanto.call_guest("v0-1", "greet", &["--name=ada"]).success().stdout, "hello from 0.1, ada\n");
    let source = tempfile::tempdir().unwrap();
    write(source.path(), "one.txt", "1");
    write(source.path(), "two/three.txt", "3");
    let source_arg = format!("--source={}", source.path().display());
    assert_eq!(tanto.call_guest("v0-1", "entries", &[&source_arg]).success().stdout, "one.txt\ntwo\n");
    // An error the host handed the 0.1 module, passed back as its own, keeps its type.
    let failed = tanto.call_guest("v0-1", "fail", &["--code=4"]).failure(1);
    assert!(
        failed
            .stderr
            .contains("error: command sh -c 'echo failing on purpose >&2; exit 4' exited with code 4"),
        "{}",
        failed.stderr
    );
    tanto.assert_no_leftovers();
}

mod versions {
    use super::*;
    use tanto_tests::write_module;

    /// A 0.2 module (built with the SDK) that calls the 0.1 module `legacy`, passing
    /// containers and directories both ways and using 0.2 methods on what comes back.
    const APP: &str = r#"
use tanto_sdk::value::IntoValue;
use tanto_sdk::{Container, Directory, Error, Result, dag};

#[derive(Default)]
pub struct App;

/// Calls a module built against tanto:core@0.1.0.
#[tanto_sdk::module]
impl App {
    /// A container stamped by legacy, a directory extended by legacy, read back here.
    pub fn chain(&self, text: String) -> Result<String> {
        let base = dag().container().from("busybox:latest").with_new_file_bytes("/app.bin", [0xff_u8, 0x00, 0x7f]);
        let stamped: Container = dag().call("legacy", "stamp", vec![("base", base.into_value()), ("text", text.into_value())])?;
        let stamp = stamped.file("/stamp.txt").contents_bytes()?;
        let app = stamped.file("/app.bin").contents_bytes()?;
        let checked = stamped.stdout()?;
        let source = dag().directory().with_new_file("a.txt", "from app\n");
        let extended: Directory = dag().call(
            "legacy",
            "add-file",
            vec![("source", source.into_value()), ("name", "b.txt".to_string().into_value()), ("contents", "from legacy\n".to_string().into_value())],
        )?;
        let listed: String = dag().call("legacy", "entries", vec![("source", extended.with_new_file("c.txt", "again\n").into_value())])?;
        let both = stamped.with_directory("/d", &extended).with_exec(["sh", "-c", "cat /d/a.txt /d/b.txt; stat -c %a /stamp.txt"]).stdout()?;
        Ok(format!("stamp={} app={app:?} checked={checked} listed={} both={both}", String::from_utf8_lossy(&stamp), listed.replace('\n', ",")))
    }

    /// legacy's failing command, as this module sees it.
    pub fn failure(&self) -> Result<String> {
        match dag().call::<String>("legacy", "fail", vec![("code", 5_i64.into_value())]) {
            Err(Error::ExecFailed { exit_code, stderr_tail, .. }) => Ok(format!("legacy failed with {exit_code}: {}", stderr_tail.trim())),
            other => Err(Error::msg(format!("unexpected: {other:?}"))),
        }
    }
}
"#;

    #[test]
    fn a_0_2_module_calls_a_0_1_module_with_objects_both_ways() {
        let tanto = Tanto::new();
        let workspace = tempfile::tempdir().unwrap();
        let app = workspace.path().join("app");
        let legacy = guest_dir("v0-1");
        write_module(&app, "app", APP, &[("legacy", legacy.to_str().unwrap())]);

        let functions = tanto.run_in(&app, &["functions"]).success();
        assert!(functions.stdout.contains("\nAPI: tanto:core@0.2.0\n"), "{}", functions.stdout);
        let run = tanto.run_in(&app, &["call", "chain", "--text=stamped by 0.1"]).success();
        assert_eq!(
            run.stdout,
            "stamp=stamped by 0.1 app=[255, 0, 127] checked=stamped by 0.1 listed=a.txt,b.txt,c.txt, both=from app\nfrom legacy\n640\n"
        );
        // Progress shows the calls, those into the dependency nested beneath the command's.
        assert!(run.stderr.contains("[call] chain\n"), "{}", run.stderr);
        assert!(run.stderr.lines().any(|line| line.starts_with("[call] chain returned in ")), "{}", run.stderr);
        assert!(
            run.stderr
                .lines()
                .any(|line| line.starts_with("[call]   legacy.") && line.contains(" returned in ")),
            "{}",
            run.stderr
        );
        assert_eq!(
            tanto.run_in(&app, &["call", "failure"]).success().stdout,
            "legacy failed with 5: failing on purpose"
        );
        tanto.assert_no_leftovers();
    }
}

#[test]
fn ctrl_c_stops_the_pipeline_and_removes_its_containers() {
    let tanto = Tanto::new();
    let wasm = guest_wasm("api");
    let started = std::time::Instant::now();
    let child = tanto
        .command()
        .args(["call", "-m", wasm.to_str().unwrap(), "sleep", "--seconds=60"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let filter = format!("label=tanto.session={}", tanto.session);
    let running = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        !docker(&["ps", "-q", "--filter", &filter]).trim().is_empty()
    });
    assert!(running, "the step's container never started");
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("interrupted"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(50), "Ctrl-C did not stop the 60 s step");
    tanto.assert_no_leftovers();
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
    assert!(run.stderr.contains("no tanto.toml or .tanto/tanto.toml in"), "{}", run.stderr);
    assert!(run.stderr.contains("hint: create a module with `tanto init --sdk=rust`"), "{}", run.stderr);
    write(empty.path(), "tanto.toml", "name = \"x\"\nsdk = \"cobol\"\n");
    let run = tanto.run_in(empty.path(), &["call", "hello"]).failure(2);
    assert!(run.stderr.contains("line 2"), "{}", run.stderr);
}

// ---- the cache, parallel evaluation and cache volumes ------------------------------

mod cache {
    //! The content-addressed cache, parallel evaluation and cache volumes, against the real
    //! Docker daemon: steps counted with Docker's event log and with tanto's progress lines.

    use std::collections::BTreeMap;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    use tanto_tests::{Tanto, docker, docker_now, guest_wasm, unique, write};

    /// `(status, command)` for each finished step in `--progress=plain` output.
    fn steps(stderr: &str) -> Vec<(String, String)> {
        stderr
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix('[')?.split_once("] ")?.1;
                let (status, command) = rest.split_once(' ')?;
                match status {
                    "CACHED" => Some(("CACHED".to_string(), command.to_string())),
                    "DONE" | "FAILED" => Some((status.to_string(), command.split_once(' ')?.1.to_string())),
                    _ => None,
                }
            })
            .collect()
    }

    fn ran(stderr: &str) -> Vec<String> {
        steps(stderr)
            .into_iter()
            .filter(|(status, _)| status == "DONE")
            .map(|(_, command)| command)
            .collect()
    }

    /// A source folder for `five-steps`: a unique `a.txt` (so no other run's cache answers
    /// its steps) and a `b.txt`; with the `--source=` argument naming it.
    fn five_steps_source() -> (tempfile::TempDir, String) {
        let source = tempfile::tempdir().unwrap();
        write(source.path(), "a.txt", &unique("a"));
        write(source.path(), "b.txt", "bee\n");
        let source_arg = format!("--source={}", source.path().display());
        (source, source_arg)
    }

    fn cache_call(tanto: &Tanto, function: &str, args: &[&str]) -> tanto_tests::Run {
        tanto.call_guest("cache", function, args)
    }

    #[test]
    fn a_second_run_creates_no_container_and_returns_the_same_bytes() {
        let tanto = Tanto::new();
        let (_source, source_arg) = five_steps_source();

        let since = docker_now();
        let first = cache_call(&tanto, "five-steps", &[&source_arg]).success();
        assert_eq!(ran(&first.stderr).len(), 5, "{}", first.stderr);
        let created_first = tanto.containers_created(&since);
        assert!(created_first >= 5, "the first run ran five steps in containers, saw {created_first}");

        std::thread::sleep(Duration::from_millis(1100));
        let since = docker_now();
        let second = cache_call(&tanto, "five-steps", &[&source_arg]).success();
        assert_eq!(second.stdout, first.stdout, "byte-identical output");
        assert_eq!(tanto.containers_created(&since), 0, "the second run created no container:\n{}", second.stderr);
        assert!(steps(&second.stderr).iter().all(|(status, _)| status == "CACHED"), "{}", second.stderr);
        assert_eq!(steps(&second.stderr).len(), 5);
        tanto.assert_no_leftovers();
    }

    #[test]
    fn changing_one_input_file_reruns_exactly_the_steps_that_depend_on_it() {
        let tanto = Tanto::new();
        let (source, source_arg) = five_steps_source();
        write(source.path(), "unrelated.txt", "not copied\n");
        cache_call(&tanto, "five-steps", &[&source_arg]).success();

        // A file no step copies: nothing runs.
        write(source.path(), "unrelated.txt", "changed\n");
        let run = cache_call(&tanto, "five-steps", &[&source_arg]).success();
        assert!(ran(&run.stderr).is_empty(), "{}", run.stderr);

        // b.txt feeds the last two steps only.
        write(source.path(), "b.txt", "bee bee\n");
        let run = cache_call(&tanto, "five-steps", &[&source_arg]).success();
        assert_eq!(
            ran(&run.stderr),
            vec![
                "sh -c 'wc -c < /work/b.txt > /work/b.count'",
                "sh -c 'cat /toolchain /work/a.twice /work/b.count'"
            ],
            "{}",
            run.stderr
        );
        assert!(run.stdout.ends_with("8\n"), "{}", run.stdout);

        // a.txt feeds every step after the toolchain.
        write(source.path(), "a.txt", &unique("a2"));
        let run = cache_call(&tanto, "five-steps", &[&source_arg]).success();
        assert_eq!(ran(&run.stderr).len(), 4, "{}", run.stderr);
        assert!(!ran(&run.stderr).iter().any(|command| command.contains("toolchain >")), "{}", run.stderr);

        // A file ignored by .gitignore is not part of the directory at all.
        write(source.path(), ".gitignore", "ignored.log\n");
        cache_call(&tanto, "five-steps", &[&source_arg]).success();
        write(source.path(), "ignored.log", "noise");
        let run = cache_call(&tanto, "five-steps", &[&source_arg]).success();
        assert!(ran(&run.stderr).is_empty(), "{}", run.stderr);
        tanto.assert_no_leftovers();
    }

    #[test]
    fn no_cache_runs_every_step_again() {
        let tanto = Tanto::new();
        let (_source, source_arg) = five_steps_source();
        let wasm = guest_wasm("cache");
        cache_call(&tanto, "five-steps", &[&source_arg]).success();
        let run = tanto
            .run(&["call", "-m", wasm.to_str().unwrap(), "--no-cache", "five-steps", &source_arg])
            .success();
        assert_eq!(ran(&run.stderr).len(), 5, "{}", run.stderr);
    }

    #[test]
    fn two_processes_at_once_share_the_cache_safely() {
        let tanto = Tanto::new();
        let (_source, source_arg) = five_steps_source();
        let wasm = guest_wasm("cache");
        let spawn = || {
            tanto
                .command()
                .args(["call", "-m", wasm.to_str().unwrap(), "five-steps", &source_arg])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (first, second) = (spawn(), spawn());
        let (first, second) = (first.wait_with_output().unwrap(), second.wait_with_output().unwrap());
        assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
        assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
        assert_eq!(first.stdout, second.stdout);
        // The index is intact: a third run answers everything from it.
        let third = cache_call(&tanto, "five-steps", &[&source_arg]).success();
        assert_eq!(third.stdout.as_bytes(), first.stdout.as_slice());
        assert!(ran(&third.stderr).is_empty(), "{}", third.stderr);
        let du = tanto.run(&["cache", "du"]).success();
        assert!(du.stdout.contains("steps"), "{}", du.stdout);
        tanto.assert_no_leftovers();
    }

    #[test]
    fn a_cache_volume_keeps_data_between_pipelines() {
        let tanto = Tanto::new();
        let key = unique("volume");
        assert_eq!(
            cache_call(&tanto, "volume-write", &[&format!("--key={key}"), "--value=kept between runs"])
                .success()
                .stdout,
            "written\n"
        );
        let read = cache_call(&tanto, "volume-read", &[&format!("--key={key}"), &format!("--nonce={}", unique("n"))]).success();
        assert_eq!(read.stdout, "kept between runs\n");
        let volumes = docker(&["volume", "ls", "-q", "--filter", &format!("label=tanto.cache-volume={key}")]);
        assert_eq!(volumes.lines().count(), 1, "one labelled volume: {volumes}");
        let pruned = tanto.run(&["cache", "prune", "--volumes"]).success();
        assert!(pruned.stdout.contains("Removed 1 cache volumes"), "{}", pruned.stdout);
        assert!(
            docker(&["volume", "ls", "-q", "--filter", &format!("label=tanto.cache-volume={key}")])
                .trim()
                .is_empty()
        );
        tanto.assert_no_leftovers();
    }

    #[test]
    fn private_volumes_give_each_concurrent_user_its_own() {
        let tanto = Tanto::new();
        let wasm = guest_wasm("cache");
        let users = |sharing: &str| {
            let run = tanto
                .run(&[
                    "call",
                    "-m",
                    wasm.to_str().unwrap(),
                    "-j",
                    "2",
                    "volume-users",
                    &format!("--key={}", unique("users")),
                    &format!("--sharing={sharing}"),
                    &format!("--nonce={}", unique("n")),
                ])
                .success();
            run.stdout.lines().map(str::to_string).collect::<Vec<_>>()
        };
        // Each job counts the markers it sees while the other job runs too.
        assert_eq!(users("private"), vec!["1", "1"], "no private user sees another's marker");
        assert!(users("shared").contains(&"2".to_string()), "shared users see each other's markers");
        tanto.assert_no_leftovers();
    }

    /// Four branches lock one cache volume for a step each under `-j 2`, beside a free
    /// branch: a step waiting for the lock holds no step slot (the free branch starts
    /// before the first locked step ends), the lock is held for one step at a time, and
    /// `without-mount` takes the volume away from the steps after it.
    #[test]
    fn locked_volumes_are_waited_for_before_a_slot_and_without_mount_unmounts() {
        let tanto = Tanto::new();
        let wasm = guest_wasm("cache");
        let run = tanto
            .run(&[
                "call",
                "-m",
                wasm.to_str().unwrap(),
                "-j",
                "2",
                "locked-branches",
                &format!("--key={}", unique("locked")),
                &format!("--nonce={}", unique("n")),
            ])
            .success();
        // `NAME START END [seen]`, times in hundredths of a second of the machine's clock.
        let steps: BTreeMap<String, (f64, f64, String)> = run
            .stdout
            .lines()
            .map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let time = |index: usize| fields[index].parse::<f64>().unwrap_or_else(|_| panic!("a time in {line:?}"));
                (fields[0].to_string(), (time(1), time(2), fields.get(3).unwrap_or(&"").to_string()))
            })
            .collect();
        assert_eq!(steps.len(), 9, "{}", run.stdout);
        let mut locked: Vec<(f64, f64)> = ["a", "b", "c", "d"]
            .iter()
            .map(|branch| (steps[&format!("locked-{branch}")].0, steps[&format!("locked-{branch}")].1))
            .collect();
        locked.sort_by(|a, b| a.0.total_cmp(&b.0));
        for pair in locked.windows(2) {
            assert!(pair[0].1 <= pair[1].0, "locked steps overlap: {locked:?}\n{}", run.stdout);
        }
        let free = &steps["free"];
        assert!(
            free.0 < locked[0].1,
            "the free branch waited for a locked step to end: {free:?} {locked:?}\n{}",
            run.stderr
        );
        for branch in ["a", "b", "c", "d"] {
            let after = &steps[&format!("after-{branch}")];
            assert_eq!(after.2, "unmounted", "after-{branch} still sees /cache:\n{}", run.stdout);
            assert!(after.0 >= steps[&format!("locked-{branch}")].1, "{}", run.stdout);
        }
        // The lock went with its step: the first branch's next step ran while the others
        // still queued for the volume.
        let first_after = ["a", "b", "c", "d"]
            .iter()
            .map(|branch| &steps[&format!("after-{branch}")])
            .map(|after| after.0)
            .fold(f64::INFINITY, f64::min);
        assert!(first_after < locked[3].0, "no step ran between the locked ones: {}", run.stdout);
        tanto.assert_no_leftovers();
    }

    #[test]
    fn locked_volumes_serialise_their_users() {
        let tanto = Tanto::new();
        let wasm = guest_wasm("cache");
        let log = |sharing: &str| {
            tanto
                .run(&[
                    "call",
                    "-m",
                    wasm.to_str().unwrap(),
                    "-j",
                    "2",
                    "volume-log",
                    &format!("--key={}", unique("log")),
                    &format!("--sharing={sharing}"),
                    &format!("--nonce={}", unique("n")),
                ])
                .success()
                .stdout
        };
        let locked = log("locked");
        let lines: Vec<&str> = locked.lines().collect();
        assert_eq!(lines.len(), 4, "{locked}");
        assert!(
            lines[0].starts_with("start-") && lines[1] == lines[0].replace("start", "end"),
            "one user at a time:\n{locked}"
        );
        assert!(
            lines[2].starts_with("start-") && lines[3] == lines[2].replace("start", "end"),
            "one user at a time:\n{locked}"
        );
        let shared = log("shared");
        assert!(
            shared.lines().nth(1).is_some_and(|line| line.starts_with("start-")),
            "shared users overlap:\n{shared}"
        );
        tanto.assert_no_leftovers();
    }

    #[test]
    fn sync_all_runs_independent_steps_concurrently() {
        let tanto = Tanto::new();
        let wasm = guest_wasm("cache");
        // Three steps at once needs a limit of at least three (the default is the number of
        // cores, two on the CI machine).
        // Compile the component first: the assertion is about the steps, not the compiler.
        tanto.run(&["functions", "-m", wasm.to_str().unwrap()]).success();
        let started = Instant::now();
        let run = tanto
            .run(&[
                "call",
                "-m",
                wasm.to_str().unwrap(),
                "-j",
                "3",
                "parallel-sleeps",
                "--count=3",
                "--seconds=2",
                &format!("--nonce={}", unique("n")),
            ])
            .success();
        let elapsed = started.elapsed();
        assert_eq!(run.stdout, "3 done");
        assert!(elapsed < Duration::from_millis(4500), "three 2 s steps took {elapsed:?}, not run concurrently");
        tanto.assert_no_leftovers();
    }

    #[test]
    fn a_temp_mount_is_tmpfs_and_not_committed() {
        let tanto = Tanto::new();
        assert_eq!(cache_call(&tanto, "temp", &[]).success().stdout, "1 []");
        tanto.assert_no_leftovers();
    }

    #[test]
    fn prune_removes_what_it_reports_and_nothing_a_running_pipeline_holds() {
        let tanto = Tanto::new();
        let (_source, source_arg) = five_steps_source();
        cache_call(&tanto, "five-steps", &[&source_arg]).success();
        // A first `hold` run records its first step; the second run below answers that step
        // from the cache, then holds it while it sleeps.
        cache_call(&tanto, "hold", &["--seconds=0", "--marker=warm"]).success();
        let wasm = guest_wasm("cache");
        let holder = tanto
            .command()
            .args([
                "call",
                "-m",
                wasm.to_str().unwrap(),
                "hold",
                "--seconds=6",
                &format!("--marker={}", unique("m")),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs(3));

        let before = tanto.run(&["cache", "du"]).success().stdout;
        let pruned = tanto.run(&["cache", "prune", "--all"]).success().stdout;
        let after = tanto.run(&["cache", "du"]).success().stdout;
        let count = |text: &str, word: &str| -> usize {
            text.lines()
                .find(|line| line.trim_start().starts_with(word))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
                .unwrap()
        };
        let removed: usize = pruned.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(
            pruned.contains(&format!("pinned by running pid {}", holder.id())),
            "the running pipeline's entries are kept, and prune says why:\n{pruned}"
        );
        assert_eq!(
            count(&before, "steps") - removed,
            count(&after, "steps"),
            "prune removed what it reported:\n{before}\n{pruned}\n{after}"
        );
        assert!(count(&after, "steps") >= 1, "{after}");

        let held = holder.wait_with_output().unwrap();
        assert!(
            held.status.success(),
            "the running pipeline finished: {}",
            String::from_utf8_lossy(&held.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&held.stdout), "held\n");
        // Now nothing holds them: they go.
        tanto.run(&["cache", "prune", "--all"]).success();
        assert_eq!(count(&tanto.run(&["cache", "du"]).success().stdout, "steps"), 0);
        tanto.assert_no_leftovers();
    }

    #[test]
    fn the_automatic_ceiling_prunes_after_a_run_that_passes_it() {
        let tanto = Tanto::new();
        let (_source, source_arg) = five_steps_source();
        let wasm = guest_wasm("cache");
        tanto.run(&["call", "-m", wasm.to_str().unwrap(), "five-steps", &source_arg]).success();
        let count = |text: &str| -> usize {
            text.lines()
                .find(|line| line.trim_start().starts_with("steps"))
                .and_then(|line| line.split_whitespace().nth(1))
                .unwrap()
                .parse()
                .unwrap()
        };
        assert_eq!(count(&tanto.run(&["cache", "du"]).success().stdout), 5);
        // A ceiling below what the cache holds: the run that grows it prunes it back,
        // least recently used first.
        let limited = tanto
            .command()
            .env("TANTO_CACHE_MAX_SIZE", "1")
            .args(["call", "-m", wasm.to_str().unwrap(), "--no-cache", "five-steps", &source_arg])
            .output()
            .unwrap();
        assert!(limited.status.success(), "{}", String::from_utf8_lossy(&limited.stderr));
        let du = tanto.run(&["cache", "du"]).success().stdout;
        assert_eq!(count(&du), 0, "{du}");
        assert!(du.contains("components       0"), "{du}");
        tanto.assert_no_leftovers();
    }

    #[test]
    fn cache_prune_by_age_and_size() {
        let tanto = Tanto::new();
        let (_source, source_arg) = five_steps_source();
        cache_call(&tanto, "five-steps", &[&source_arg]).success();
        let kept = tanto.run(&["cache", "prune", "--older-than=1h"]).success();
        assert!(kept.stdout.starts_with("Removed 0 steps"), "{}", kept.stdout);
        let bad = tanto.run(&["cache", "prune", "--keep-storage=lots"]).failure(2);
        assert!(bad.stderr.contains("not a size"), "{}", bad.stderr);
        let shrunk = tanto.run(&["cache", "prune", "--keep-storage=0"]).success();
        assert!(shrunk.stdout.starts_with("Removed 5 steps"), "{}", shrunk.stdout);
    }
}

// ---- modules calling modules ------------------------------------------------------------

mod dependencies {
    use super::*;
    use tanto_tests::write_module;

    pub const LIB: &str = r#"
mod dependencies;
use tanto_sdk::{Container, Result};

#[derive(Default)]
pub struct Lib;

/// Decorates containers.
#[tanto_sdk::module]
impl Lib {
    /// `base` with /decorated.txt holding `text`.
    pub fn decorate(&self, base: Container, text: String) -> Container {
        base.with_new_file("/decorated.txt", format!("decorated: {text}\n")).with_label("decorated", "yes")
    }

    /// Shouts `word`.
    pub fn shout(&self, #[arg(default = "hey")] word: String) -> Result<String> {
        Ok(word.to_uppercase())
    }

    /// Panics, to show a dependency's crash is an error its caller can handle.
    pub fn crash(&self) -> Result<String> {
        panic!("lib crashed on purpose")
    }
}
"#;

    pub const APP: &str = r#"
mod dependencies;
use dependencies::Dependencies;
use tanto_sdk::{Error, Result, dag};

#[derive(Default)]
pub struct App;

/// Builds with help from lib.
#[tanto_sdk::module]
impl App {
    /// Builds a container, has lib decorate it, and reads both files back.
    pub fn build(&self, text: String) -> Result<String> {
        let base = dag().container().from("busybox:latest").with_exec(["sh", "-c", "echo built by app > /app.txt"]);
        let decorated = dag().lib().decorate(base, text)?;
        let combined = decorated.with_exec(["sh", "-c", "cat /app.txt /decorated.txt"]).stdout()?;
        Ok(format!("{combined}{}\n", dag().lib().shout(None)?))
    }

    /// Calls lib's crashing function and reports what it got.
    pub fn survive(&self) -> Result<String> {
        match dag().lib().crash() {
            Err(Error::Failed(message)) if message.contains("lib crashed on purpose") => Ok("the caller survived".to_string()),
            other => Err(Error::msg(format!("unexpected: {other:?}"))),
        }
    }

    /// Calls a module it never declared.
    pub fn undeclared(&self) -> Result<String> {
        dag().call("ghost", "boo", Vec::new())
    }
}
"#;

    #[test]
    fn a_module_calls_its_dependency_with_objects_by_handle() {
        let tanto = Tanto::new();
        let workspace = tempfile::tempdir().unwrap();
        let lib = workspace.path().join("lib");
        let app = workspace.path().join("app");
        write_module(&lib, "lib", LIB, &[]);
        write_module(&app, "app", APP, &[("lib", "../lib")]);

        let developed = tanto.run_in(&app, &["develop"]).success();
        assert!(developed.stderr.contains("1 dependencies: lib"), "{}", developed.stderr);
        let bindings = std::fs::read_to_string(app.join("src/dependencies.rs")).unwrap();
        assert!(
            bindings.contains("pub fn decorate(&self, base: Container, text: String) -> Result<Container>"),
            "{bindings}"
        );
        assert!(bindings.contains("pub fn shout(&self, word: Option<String>) -> Result<String>"), "{bindings}");

        let run = tanto.run_in(&app, &["call", "build", "--text=hello"]).success();
        assert_eq!(run.stdout, "built by app\ndecorated: hello\nHEY\n");
        // Each module ran in its own sandbox: the dependency's crash reached the caller as
        // an error, and the caller went on.
        assert_eq!(tanto.run_in(&app, &["call", "survive"]).success().stdout, "the caller survived");
        let undeclared = tanto.run_in(&app, &["call", "undeclared"]).failure(1);
        assert!(
            undeclared.stderr.contains("no dependency named `ghost`; it declares: lib"),
            "{}",
            undeclared.stderr
        );
        tanto.assert_no_leftovers();
    }

    /// `lib` made by `tanto init` (the SDK vendored, nothing pointing into this
    /// checkout), pushed to its own git repository served on 127.0.0.1 and released as
    /// v1.0.0: it must build wherever it is installed.
    fn served_lib(server: &tanto_tests::git::GitServer, tanto: &Tanto) {
        let repo = server.repository("lib");
        tanto.run_in(&repo.work, &["init", ".", "--sdk=rust", "--name=lib"]).success();
        std::fs::write(repo.work.join("src/lib.rs"), LIB).unwrap();
        let cargo_toml = std::fs::read_to_string(repo.work.join("Cargo.toml")).unwrap();
        assert!(!cargo_toml.contains(&repo_root().display().to_string()), "{cargo_toml}");
        repo.commit("lib");
        repo.annotated_tag("v1.0.0");
        repo.push();
    }

    #[test]
    fn a_git_dependency_is_installed_built_once_per_commit_and_called() {
        let server = tanto_tests::git::GitServer::start();
        let tanto = server.tanto();
        served_lib(&server, &tanto);
        let workspace = tempfile::tempdir().unwrap();
        let app = workspace.path().join("app");
        write_module(&app, "app", APP, &[]);

        // install writes tanto.toml and tanto.lock and regenerates the typed API.
        let installed = tanto.run_in(&app, &["install", "github.com/acme/lib@^1"]).success();
        assert!(installed.stderr.contains("+ lib 1.0.0"), "{}", installed.stderr);
        let bindings = std::fs::read_to_string(app.join("src/dependencies.rs")).unwrap();
        assert!(bindings.contains("fn lib(&self) -> Lib;"), "{bindings}");
        let lock = std::fs::read_to_string(app.join("tanto.lock")).unwrap();
        assert!(lock.contains("version = \"1.0.0\"") && lock.contains("commit = "), "{lock}");

        let run = tanto.run_in(&app, &["call", "build", "--text=from git"]).success();
        assert_eq!(run.stdout, "built by app\ndecorated: from git\nHEY\n");
        // Built once for its commit, subpath and toolchain; the next call reuses it.
        assert_eq!(std::fs::read_dir(tanto.cache.path().join("modules")).unwrap().count(), 1);
        let started = std::time::Instant::now();
        tanto.run_in(&app, &["call", "build", "--text=again"]).success();
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "the second call rebuilt the dependency");
        assert_eq!(std::fs::read_dir(tanto.cache.path().join("modules")).unwrap().count(), 1);

        // A module can be called straight from its reference.
        let remote = tanto
            .run_in(workspace.path(), &["call", "-m", "github.com/acme/lib@v1.0.0", "shout", "--word=remote"])
            .success();
        assert_eq!(remote.stdout, "REMOTE");
        let missing = tanto
            .run_in(workspace.path(), &["call", "-m", "github.com/acme/nothing-here@v1.0.0", "shout"])
            .failure(2);
        assert!(missing.stderr.contains("github.com/acme/nothing-here"), "{}", missing.stderr);
        tanto.assert_no_leftovers();
    }
}
