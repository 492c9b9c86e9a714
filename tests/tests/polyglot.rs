//! Modules in other languages: the checksums pipeline of modules/examples, written in
//! Rust, Python (componentize-py, built by tanto), JavaScript (componentize-js) and C
//! (clang + wasi-libc + wit-bindgen's C bindings), each built from source with the real
//! tools and run with `tanto call`. The four return the same bytes, which are those of
//! the host's own `sha256sum`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use tanto_tests::{Run, Tanto, repo_root, tanto_bin, without_progress, write};

fn examples() -> PathBuf {
    repo_root().join("modules/examples")
}

/// Runs a build command of an example; a missing tool fails with what to run.
#[track_caller]
fn build(what: &str, command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run the build of the {what} example ({command:?}): {error}; run scripts/setup"));
    assert!(
        output.status.success(),
        "building the {what} example failed ({command:?}; did scripts/setup run?):\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[track_caller]
fn require(path: &Path, what: &str) {
    assert!(path.exists(), "{what} is missing ({}): run scripts/setup", path.display());
}

/// The JavaScript example's component, built once per test process from its source.
fn javascript_component() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = examples().join("javascript");
        require(Path::new("/usr/bin/node"), "node");
        require(&dir.join("node_modules/.bin/componentize-js"), "componentize-js");
        let wasm = dir.join("build/checksums.wasm");
        let _ = std::fs::remove_file(&wasm);
        build("JavaScript", Command::new("npm").args(["run", "--silent", "build"]).current_dir(&dir));
        require(&wasm, "the JavaScript example's component");
        wasm
    })
}

/// The C example's component, built once per test process from its source.
fn c_component() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = examples().join("c");
        require(Path::new("/usr/bin/clang"), "clang");
        require(Path::new("/usr/lib/wasm32-wasi/libc.a"), "wasi-libc");
        // Built by `tanto_bin()`, with the rest of the workspace's binaries.
        let tools = tanto_bin().with_file_name("tanto-wasm-tools");
        let wasm = dir.join("build/checksums.wasm");
        let _ = std::fs::remove_file(&wasm);
        build("C", Command::new(dir.join("build.sh")).env("TANTO_WASM_TOOLS", &tools));
        require(&wasm, "the C example's component");
        wasm
    })
}

/// A directory with files in folders, names with spaces, and bytes that are not UTF-8.
fn source_tree() -> tempfile::TempDir {
    let source = tempfile::tempdir().unwrap();
    write(source.path(), "README.md", "# checksums\n");
    write(source.path(), "src/main.c", "int main(void) { return 0; }\n");
    write(source.path(), "src/with space.txt", "spaces\n");
    write(source.path(), "src/deep/er/empty", "");
    std::fs::write(source.path().join("src/binary.bin"), [0u8, 159, 146, 150, 255, 10]).unwrap();
    source
}

/// What the pipeline's script prints for `source`, run by the host's shell and coreutils
/// (whose `sha256sum` prints the same lines as busybox's).
fn expected(source: &Path, program: &str) -> String {
    let output = Command::new("sh")
        .args([
            "-c",
            "find . -type f | LC_ALL=C sort | while IFS= read -r file; do \"$0\" \"$file\" || exit; done",
            program,
        ])
        .current_dir(source)
        .output()
        .expect("sh runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// `tanto call checksums ARGS` of the Rust example (built from source by tanto).
fn call_rust(tanto: &Tanto, args: &[&str]) -> Run {
    let mut all = vec!["call", "checksums"];
    all.extend_from_slice(args);
    tanto.run_in(&examples().join("rust"), &all)
}

/// `tanto call checksums ARGS` of the Python example (built from source by tanto).
fn call_python(tanto: &Tanto, args: &[&str]) -> Run {
    let mut all = vec!["call", "checksums"];
    all.extend_from_slice(args);
    tanto.run_in(&examples().join("python"), &all)
}

/// `tanto call checksums ARGS` in the folder of `component`'s example, whose tanto.toml
/// names the component its own tools built (`component = "build/checksums.wasm"`).
fn call_component(tanto: &Tanto, component: &Path, args: &[&str]) -> Run {
    let mut all = vec!["call", "checksums"];
    all.extend_from_slice(args);
    tanto.run_in(example_of(component), &all)
}

/// The example folder whose `build/` holds `component`.
fn example_of(component: &Path) -> &Path {
    component.parent().and_then(Path::parent).unwrap()
}

#[test]
fn the_pipeline_in_rust_python_javascript_and_c_returns_the_same_bytes_and_errors() {
    let (javascript, c) = std::thread::scope(|scope| {
        let javascript = scope.spawn(javascript_component);
        let c = scope.spawn(c_component);
        (javascript.join().unwrap(), c.join().unwrap())
    });
    let source = source_tree();
    let source_arg = format!("--source={}", source.path().display());
    // A tanto (and cache) per language: each result is computed, not answered from the
    // cache another language's call filled. Within a language, the component compiles once.
    let rust = Tanto::new();
    let python = Tanto::new();
    let javascript_tanto = Tanto::new();
    let c_tanto = Tanto::new();
    for (algorithm, program) in [(None, "sha256sum"), (Some("--algorithm=md5"), "md5sum")] {
        let args: Vec<&str> = [Some(source_arg.as_str()), algorithm].into_iter().flatten().collect();
        let expected = expected(source.path(), program);
        assert_eq!(expected.lines().count(), 5, "{expected}");
        assert_eq!(call_rust(&rust, &args).success().stdout, expected, "Rust, {program}");
        assert_eq!(call_python(&python, &args).success().stdout, expected, "Python, {program}");
        for (language, tanto, component) in [("JavaScript", &javascript_tanto, javascript), ("C", &c_tanto, c)] {
            let run = call_component(tanto, component, &args).success();
            assert_eq!(run.stdout, expected, "{language}, {program}");
        }
    }

    let missing = call_rust(&rust, &[]).failure(2);
    let missing = without_progress(&missing.stderr);
    assert!(missing.contains("function `checksums` needs `--source`"), "{missing}");
    let python_missing = call_python(&python, &[]).failure(2);
    assert_eq!(without_progress(&python_missing.stderr), missing, "Python");
    let run = call_python(&python, &[&source_arg, "--algorithm=nosuch"]).failure(1);
    assert!(
        run.stderr.contains("nosuchsum: not found") && run.stderr.contains("exited with code 127"),
        "Python: the failed command and its output are shown:\n{}",
        run.stderr
    );
    for (language, tanto, component) in [("JavaScript", &javascript_tanto, javascript), ("C", &c_tanto, c)] {
        // Checked by tanto against the schema the module describes, before it runs.
        let run = call_component(tanto, component, &[]).failure(2);
        assert_eq!(without_progress(&run.stderr), missing, "{language}");
        // The API's error reaches the module, which returns it as its own.
        let run = call_component(tanto, component, &[&source_arg, "--algorithm=nosuch"]).failure(1);
        assert!(
            run.stderr.contains("nosuchsum: not found") && run.stderr.contains("exited with code 127"),
            "{language}: the failed command and its output are shown:\n{}",
            run.stderr
        );
    }
    for tanto in [rust, python, javascript_tanto, c_tanto] {
        tanto.assert_no_leftovers();
    }
}

#[test]
fn the_four_modules_describe_the_same_functions() {
    let tanto = Tanto::new();
    let rust = tanto.run_in(&examples().join("rust"), &["functions"]).success().stdout;
    assert!(rust.contains("checksums"), "{rust}");
    let python = tanto.run_in(&examples().join("python"), &["functions"]).success().stdout;
    assert_eq!(python, rust, "Python");
    for (language, component) in [("JavaScript", javascript_component()), ("C", c_component())] {
        let run = tanto.run_in(example_of(component), &["functions"]).success();
        assert_eq!(run.stdout, rust, "{language}");
        let run = tanto.run(&["functions", "-m", component.to_str().unwrap()]).success();
        assert_eq!(run.stdout, rust, "{language}, -m COMPONENT");
    }
}

/// A module whose tanto.toml names a component that was not built says so, and what to do.
#[test]
fn a_missing_prebuilt_component_is_named() {
    let tanto = Tanto::new();
    let module = tempfile::tempdir().unwrap();
    write(
        module.path(),
        "tanto.toml",
        "name = \"checksums\"\nsdk = \"javascript\"\ncomponent = \"build/checksums.wasm\"\n",
    );
    let run = tanto.run_in(module.path(), &["functions"]).failure(2);
    assert!(
        run.stderr.contains("names the prebuilt component `build/checksums.wasm`")
            && run.stderr.contains("does not exist: build the module with its own tool first"),
        "{}",
        run.stderr
    );
    write(module.path(), "tanto.toml", "name = \"checksums\"\nsdk = \"c\"\n");
    let run = tanto.run_in(module.path(), &["call", "checksums"]).failure(2);
    assert!(run.stderr.contains("tanto does not build such a module"), "{}", run.stderr);
}

/// A module made by `tanto init --sdk=javascript` builds with componentize-js (npm, as its
/// package.json says) and runs as is, in a fresh folder; before its build, `tanto call`
/// says how to build it.
#[test]
fn init_then_build_and_call_a_javascript_module() {
    let tanto = Tanto::new();
    let folder = tempfile::tempdir().unwrap();
    tanto.run_in(folder.path(), &["init", "echoes", "--sdk=javascript"]).success();
    let module = folder.path().join("echoes");
    let run = tanto.run_in(&module, &["call", "container-echo", "--text=hi", "stdout"]).failure(2);
    assert!(
        run.stderr.contains("build the module with its own tool first (`npm install && npm run build`)"),
        "{}",
        run.stderr
    );

    // `npm install` would fetch the pinned componentize-js that scripts/setup installed
    // for the example: the test uses that copy.
    let installed = examples().join("javascript/node_modules");
    require(&installed.join(".bin/componentize-js"), "componentize-js");
    std::os::unix::fs::symlink(&installed, module.join("node_modules")).unwrap();
    build("init's JavaScript", Command::new("npm").args(["run", "--silent", "build"]).current_dir(&module));
    require(&module.join("build/echoes.wasm"), "the built component");

    let run = tanto.run_in(&module, &["call", "container-echo", "--text=hi there", "stdout"]).success();
    assert_eq!(run.stdout, "hi there\n");
    let source = source_tree();
    let run = tanto
        .run_in(
            &module,
            &["call", "grep-dir", &format!("--directory={}", source.path().display()), "--pattern=spaces"],
        )
        .success();
    assert_eq!(run.stdout, "./src/with space.txt:spaces\n");
    let run = tanto
        .run_in(
            &module,
            &[
                "call",
                "grep-dir",
                &format!("--directory={}", source.path().display()),
                "--pattern=int",
                "--path=src",
            ],
        )
        .success();
    assert_eq!(run.stdout, "src/main.c:int main(void) { return 0; }\n");
    let functions = tanto.run_in(&module, &["functions"]).success().stdout;
    assert!(functions.contains("container-echo") && functions.contains("grep-dir"), "{functions}");
    // Checked against the schema the module describes, before it runs.
    let run = tanto.run_in(&module, &["call", "grep-dir", "--pattern=x"]).failure(2);
    assert!(run.stderr.contains("function `grep-dir` needs `--directory`"), "{}", run.stderr);
    tanto.assert_no_leftovers();
}
