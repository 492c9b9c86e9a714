//! Python modules: the SDK's own unit tests, `tanto init --sdk=python` → `tanto call`, the
//! same pipelines in Rust and Python giving the same bytes, Python build errors, and
//! Python guests that misbehave. The guests in tests/guests-python are built once per
//! test run (see `tanto_tests::python`).

use std::process::Command;

use tanto_tests::python::python_environment;
use tanto_tests::{Tanto, repo_root};

/// The pure-Python parts of the SDK (type hints → schema), under pytest from the virtual
/// environment of scripts/setup.
#[test]
fn sdk_unit_tests_pass_under_pytest() {
    let python = python_environment().join("bin/python");
    let output = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .current_dir(repo_root().join("guest-sdk/python"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|error| panic!("cannot run {} (run scripts/setup): {error}", python.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "pytest failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains(" passed"), "{stdout}");
}

/// A module made by `tanto init --sdk=python` builds and runs as is, in a fresh folder;
/// the second call builds nothing, and an edit builds again.
#[test]
fn init_then_call_in_a_fresh_folder() {
    let tanto = Tanto::new();
    let folder = tempfile::tempdir().unwrap();
    let module = folder.path().join("greeter");
    tanto.run_in(folder.path(), &["init", "greeter", "--sdk=python"]).success();
    assert!(module.join("main.py").is_file() && module.join("tanto.toml").is_file());

    let run = tanto.run_in(&module, &["call", "container-echo", "--text=hi from python", "stdout"]).success();
    assert_eq!(run.stdout, "hi from python\n");
    assert!(
        run.stderr.contains("build module greeter (componentize-py)"),
        "the build is a step:\n{}",
        run.stderr
    );

    let run = tanto.run_in(&module, &["functions"]).success();
    assert!(run.stdout.contains("container-echo") && run.stdout.contains("grep-dir"), "{}", run.stdout);
    assert!(
        run.stdout.contains("Returns a container that echoes the given text."),
        "docstrings describe:\n{}",
        run.stdout
    );
    assert!(!run.stderr.contains("build module"), "unchanged sources build nothing:\n{}", run.stderr);

    let source = tempfile::tempdir().unwrap();
    std::fs::write(source.path().join("notes.txt"), "one\ntanto two\n").unwrap();
    let run = tanto
        .run_in(
            &module,
            &["call", "grep-dir", &format!("--directory={}", source.path().display()), "--pattern=tanto"],
        )
        .success();
    assert_eq!(run.stdout, "./notes.txt:tanto two\n");
    assert!(!run.stderr.contains("build module"), "{}", run.stderr);

    // An edit builds again; `__init__`'s parameters are the constructor, given before
    // the function and defaulted like a function's arguments.
    std::fs::write(
        module.join("main.py"),
        r#"import tanto
from tanto import dag


@tanto.module
class Greeter:
    def __init__(self, greeting: str = "hello") -> None:
        self.greeting = greeting

    @tanto.function
    def greet(self, name: str) -> str:
        return dag().container().from_("busybox:latest").with_exec(["echo", f"{self.greeting}, {name}"]).stdout()
"#,
    )
    .unwrap();
    let run = tanto.run_in(&module, &["call", "--greeting=salut", "greet", "--name=ada"]).success();
    assert_eq!(run.stdout, "salut, ada\n");
    assert!(run.stderr.contains("build module greeter"), "an edit builds again:\n{}", run.stderr);
    let run = tanto.run_in(&module, &["call", "greet", "--name=ada"]).success();
    assert_eq!(run.stdout, "hello, ada\n");
    let run = tanto.run_in(&module, &["call", "--greting=salut", "greet", "--name=ada"]).failure(2);
    assert!(run.stderr.contains("greeting"), "did you mean:\n{}", run.stderr);
    tanto.assert_no_leftovers();
}

/// The functions of the Rust guest `api` and their Python twins print the same bytes,
/// and export the same tree.
#[test]
fn rust_and_python_pipelines_give_the_same_bytes() {
    let tanto = Tanto::new();
    let source = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(source.path().join("sub")).unwrap();
    std::fs::write(source.path().join("a.txt"), "a\n").unwrap();
    std::fs::write(source.path().join("drop.txt"), "dropped\n").unwrap();
    std::fs::write(source.path().join("sub/c.txt"), "c\n").unwrap();
    let source_arg = format!("--source={}", source.path().display());
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("env-vars", vec!["--name=GREETING", "--value=hello world"]),
        ("workdir", vec!["--path=/tmp/deep/er"]),
        ("entrypoint", vec![]),
        ("new-file", vec!["--contents=ünïcode\nline"]),
        ("copy-filtered", vec![&source_arg, "--include=**/*.txt", "--exclude=drop.txt"]),
        ("read-file", vec!["--text=some text"]),
        ("read-dir", vec![]),
        ("fail", vec!["--expect=any"]),
        ("streams", vec![]),
        ("catch", vec![]),
        ("stdin", vec!["--text=from stdin\n"]),
    ];
    for (function, args) in &cases {
        let rust = tanto.call_guest("api", function, args).success();
        let python = tanto.call_python_guest("api", function, args).success();
        assert_eq!(python.stdout, rust.stdout, "{function}: Python and Rust differ");
        assert!(!rust.stdout.is_empty(), "{function} printed nothing");
    }

    // A failing command fails both the same way: exit code 1, the command's stderr shown.
    let rust = tanto.call_guest("api", "fail", &["--expect=success"]).failure(1);
    let python = tanto.call_python_guest("api", "fail", &["--expect=success"]).failure(1);
    assert_eq!(python.stdout, rust.stdout);
    for run in [&rust, &python] {
        assert!(run.stderr.contains("exited with code 3"), "{}", run.stderr);
    }

    // An exported directory: the same files, modes and bytes.
    let out = tempfile::tempdir().unwrap();
    let (rust_out, python_out) = (out.path().join("rust"), out.path().join("python"));
    tanto.call_guest("api", "build-dir", &[&source_arg, "-o", rust_out.to_str().unwrap()]).success();
    tanto
        .call_python_guest("api", "build-dir", &[&source_arg, "-o", python_out.to_str().unwrap()])
        .success();
    let listing = |dir: &std::path::Path| {
        let output = Command::new("sh")
            .arg("-c")
            .arg("find . -type f -exec stat -c '%n %a %s' {} + | sort && find . -type f | sort | xargs cat")
            .current_dir(dir)
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap()
    };
    let rust_tree = listing(&rust_out);
    assert!(rust_tree.contains("./bin/run.sh 755"), "{rust_tree}");
    assert_eq!(listing(&python_out), rust_tree);

    // Python's own: an absent optional and a default.
    let run = tanto.call_python_guest("api", "greet", &[]).success();
    assert_eq!(run.stdout, "hello everyone");
    let run = tanto.call_python_guest("api", "greet", &["--name=ada", "--times=2"]).success();
    assert_eq!(run.stdout, "hello ada hello ada");
    tanto.assert_no_leftovers();
}

/// A Python guest that loops, allocates without bound, raises, exits or recurses without
/// end fails cleanly: the limit or its own error, exit code 1, nothing left behind.
#[test]
fn hostile_python_guests_fail_cleanly() {
    let tanto = Tanto::new();
    let run = tanto.call_python_guest("hostile", "spin", &["--cpu-limit=2"]).failure(1);
    assert!(run.stderr.contains("exceeded its CPU time budget of 2s"), "{}", run.stderr);

    let run = tanto.call_python_guest("hostile", "allocate", &["--memory-limit=64", "--mib=256"]).failure(1);
    assert!(run.stderr.contains("exceeded its memory limit of 64 MiB"), "{}", run.stderr);
    let run = tanto.call_python_guest("hostile", "allocate", &["--memory-limit=128", "--mib=8"]).success();
    assert_eq!(run.stdout, "8\n", "below the limit it works");

    let run = tanto.call_python_guest("hostile", "boom", &[]).failure(1);
    assert!(run.stderr.contains("RuntimeError: the module raised on purpose"), "{}", run.stderr);
    assert!(
        run.stderr.contains("main.py\", line"),
        "the error shows where the exception was raised:\n{}",
        run.stderr
    );

    let run = tanto.call_python_guest("hostile", "recurse", &["--depth=1000000"]).failure(1);
    assert!(run.stderr.contains("RecursionError"), "{}", run.stderr);

    let run = tanto.call_python_guest("hostile", "exit", &[]).failure(1);
    assert!(!run.stderr.contains("panicked at"), "tanto itself does not panic:\n{}", run.stderr);

    // The host still serves calls after all that.
    tanto.call_python_guest("hostile", "allocate", &["--mib=1"]).success();
    tanto.assert_no_leftovers();
}

/// A module that does not import shows Python's message with its file and line; a bad
/// type hint names the function and argument; without componentize-py, the error says
/// to run scripts/setup.
#[test]
fn python_build_errors_name_the_file_and_line() {
    let tanto = Tanto::new();
    let module = tempfile::tempdir().unwrap();
    std::fs::write(module.path().join("tanto.toml"), "name = \"broken\"\nsdk = \"python\"\n").unwrap();
    std::fs::write(
        module.path().join("main.py"),
        "import tanto\n\n\n@tanto.module\nclass Broken:\n    @tanto.function\n    def run(self, count: dict) -> str:\n        return ''\n",
    )
    .unwrap();
    let dir = module.path().to_str().unwrap();
    let run = tanto.run(&["functions", "-m", dir]).failure(2);
    assert!(run.stderr.contains("function run, argument count: unsupported type"), "{}", run.stderr);
    assert!(run.stderr.contains("main.py\", line "), "the file and line of the class:\n{}", run.stderr);
    assert!(!run.stderr.contains("Stack backtrace"), "{}", run.stderr);

    let missing = Tanto::new().env("TANTO_COMPONENTIZE_PY", "/nonexistent/componentize-py");
    let run = missing.run(&["functions", "-m", dir]).failure(2);
    assert!(
        run.stderr.contains("componentize-py is not installed at /nonexistent/componentize-py"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("run `scripts/setup`"), "{}", run.stderr);
}

/// A wheel of one module `name` (`name/__init__.py` holding `source`) tagged `tag`, made
/// with the zipfile module of the test's Python: no build tool, no network.
fn make_wheel(dir: &std::path::Path, name: &str, version: &str, tag: &str, source: &str) -> std::path::PathBuf {
    let wheel = dir.join(format!("{name}-{version}-{tag}.whl"));
    let pure = tag.ends_with("-any");
    let script = r#"
import sys, zipfile
wheel, name, version, tag, source, pure = sys.argv[1:]
info = f"{name}-{version}.dist-info"
files = {
    f"{name}/__init__.py": source,
    f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
    f"{info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: tanto-tests\nRoot-Is-Purelib: {pure}\nTag: {tag}\n",
}
with zipfile.ZipFile(wheel, "w") as archive:
    for path, text in files.items():
        archive.writestr(path, text)
    archive.writestr(f"{info}/RECORD", "".join(f"{path},,\n" for path in files) + f"{info}/RECORD,,\n")
"#;
    let output = Command::new(python_environment().join("bin/python"))
        .args([
            "-c",
            script,
            wheel.to_str().unwrap(),
            name,
            version,
            tag,
            source,
            if pure { "true" } else { "false" },
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    wheel
}

fn pyproject(requirements: &[String], description: &str) -> String {
    let listed: Vec<String> = requirements.iter().map(|requirement| format!("{requirement:?}")).collect();
    format!(
        "[project]\nname = \"shouter\"\nversion = \"0.1.0\"\ndescription = \"{description}\"\ndependencies = [{}]\n",
        listed.join(", ")
    )
}

/// The packages a module's pyproject.toml lists are installed (once per list) and bundled;
/// an edit elsewhere in the file rebuilds without installing; a changed list installs
/// again; a package with native code is refused by name; offline, only cached lists work.
#[test]
fn pure_python_packages_listed_in_pyproject_are_bundled() {
    let tanto = Tanto::new();
    let wheels = tempfile::tempdir().unwrap();
    let shout = make_wheel(
        wheels.path(),
        "shout",
        "1.0",
        "py3-none-any",
        "def shout(text):\n    return text.upper() + '!'\n",
    );
    let frame = make_wheel(wheels.path(), "frame", "2.0", "py3-none-any", "def frame(text):\n    return '[' + text + ']'\n");
    let native = make_wheel(wheels.path(), "fastshout", "0.1", "py3-none-linux_x86_64", "");
    let requirement = |name: &str, wheel: &std::path::Path| format!("{name} @ file://{}", wheel.display());

    let folder = tempfile::tempdir().unwrap();
    tanto.run_in(folder.path(), &["init", "shouter", "--sdk=python"]).success();
    let module = folder.path().join("shouter");
    let written = std::fs::read_to_string(module.join("pyproject.toml")).unwrap();
    assert!(written.contains("dependencies = []"), "init lists no packages:\n{written}");
    std::fs::write(
        module.join("main.py"),
        // Imported at the top: componentize-py bundles what the module imports when it
        // is initialized; an import first run inside a function finds nothing.
        r#"import shout
import tanto

try:
    import frame
except ImportError:
    frame = None


@tanto.module
class Shouter:
    @tanto.function
    def shout(self, text: str) -> str:
        if frame is None:
            return shout.shout(text)
        return frame.frame(shout.shout(text))
"#,
    )
    .unwrap();
    let one = vec![requirement("shout", &shout)];
    std::fs::write(module.join("pyproject.toml"), pyproject(&one, "first")).unwrap();
    let run = tanto.run_in(&module, &["call", "shout", "--text=hi"]).success();
    assert_eq!(run.stdout, "HI!");
    assert!(run.stderr.contains("install Python packages: shout @ file://"), "{}", run.stderr);
    assert!(run.stderr.contains("build module shouter"), "{}", run.stderr);

    let run = tanto.run_in(&module, &["call", "shout", "--text=hi"]).success();
    assert!(
        !run.stderr.contains("install Python packages") && !run.stderr.contains("build module"),
        "{}",
        run.stderr
    );

    // The same list: the module builds again (pyproject.toml is one of its inputs), pip
    // does not run.
    std::fs::write(module.join("pyproject.toml"), pyproject(&one, "second")).unwrap();
    let run = tanto.run_in(&module, &["call", "shout", "--text=hi"]).success();
    assert_eq!(run.stdout, "HI!");
    assert!(run.stderr.contains("build module shouter"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("install Python packages"),
        "an unchanged list is not installed again:\n{}",
        run.stderr
    );

    let two = vec![requirement("shout", &shout), requirement("frame", &frame)];
    std::fs::write(module.join("pyproject.toml"), pyproject(&two, "second")).unwrap();
    let run = tanto.run_in(&module, &["call", "shout", "--text=hi"]).success();
    assert_eq!(run.stdout, "[HI!]");
    assert!(
        run.stderr.contains("install Python packages") && run.stderr.contains("frame @ file://"),
        "{}",
        run.stderr
    );

    // Offline, a list the cache does not hold fails, naming it; nothing is built.
    let three = vec![requirement("frame", &frame)];
    std::fs::write(module.join("pyproject.toml"), pyproject(&three, "third")).unwrap();
    let run = tanto.run_in(&module, &["--offline", "call", "shout", "--text=hi"]).failure(2);
    assert!(
        run.stderr.contains("are not in the cache, and --offline forbids installing them") && run.stderr.contains("frame @ file://"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("without --offline"), "{}", run.stderr);

    let with_native = vec![requirement("shout", &shout), requirement("fastshout", &native)];
    std::fs::write(module.join("pyproject.toml"), pyproject(&with_native, "fourth")).unwrap();
    let run = tanto.run_in(&module, &["call", "shout", "--text=hi"]).failure(2);
    assert!(
        run.stderr.contains("the Python package fastshout 0.1 of the module in") && run.stderr.contains("is not pure Python (Root-Is-Purelib: false)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("pure-Python alternative"), "{}", run.stderr);

    // Back to a cached list: offline is fine.
    std::fs::write(module.join("pyproject.toml"), pyproject(&two, "fifth")).unwrap();
    let run = tanto.run_in(&module, &["--offline", "call", "shout", "--text=hi"]).success();
    assert_eq!(run.stdout, "[HI!]");
    assert!(!run.stderr.contains("install Python packages"), "{}", run.stderr);

    // Installed packages are part of the cache: du counts them, prune of everything
    // removes them, and the next build installs them again.
    let python_line = |du: &str| du.lines().find(|line| line.trim_start().starts_with("python ")).map(str::to_owned);
    let du = tanto.run(&["cache", "du"]).success().stdout;
    let line = python_line(&du).unwrap_or_else(|| panic!("{du}"));
    assert!(!line.contains(" 0 B "), "{du}");
    let prune = tanto.run(&["cache", "prune"]).success().stdout;
    assert!(prune.contains("Removed the installed Python packages"), "{prune}");
    let du = tanto.run(&["cache", "du"]).success().stdout;
    assert!(python_line(&du).unwrap().contains(" 0 B "), "{du}");
    std::fs::write(module.join("pyproject.toml"), pyproject(&two, "sixth")).unwrap();
    let run = tanto.run_in(&module, &["call", "shout", "--text=hi"]).success();
    assert_eq!(run.stdout, "[HI!]");
    assert!(run.stderr.contains("install Python packages"), "{}", run.stderr);
    tanto.assert_no_leftovers();
}
