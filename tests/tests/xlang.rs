//! Cross-language calls: a Python module calling a Rust one through the client `tanto
//! develop` generates into `tanto_deps/`, and a Rust module calling that Python module
//! through `src/dependencies.rs`, each passing a Directory and a Container by handle and
//! getting one back; and a Rust module depending on a Python module from git, built with
//! componentize-py once and pinned by the lock. Each Python module is built once here.

use std::path::Path;

use tanto_tests::git::GitServer;
use tanto_tests::{Tanto, write, write_module};

/// A Rust module a Python module calls.
const RUST_LIB: &str = r#"
mod dependencies;
use tanto_sdk::{Container, Directory, Result};

#[derive(Default)]
pub struct XlangRust;

#[tanto_sdk::module]
impl XlangRust {
    /// Adds rust.txt holding `text` to `source`.
    pub fn stamp(&self, #[arg(description = "the folder to add to")] source: Directory, text: String) -> Result<Directory> {
        Ok(source.with_new_file("rust.txt".to_string(), text))
    }

    /// Appends `rust` to /log in `base`.
    pub fn annotate(&self, base: Container) -> Result<Container> {
        Ok(base.with_exec(["sh", "-c", "echo rust >> /log"]))
    }
}
"#;

/// A Python module calling the Rust one (declared as `rustlib`), and called by Rust.
const PYTHON_MAIN: &str = r#"import tanto
from tanto import Container, Directory, dag

from tanto_deps import rustlib


@tanto.module
class XlangPython:
    """Stamps folders and containers, from Python."""

    @tanto.function
    def stamp(self, source: Directory, text: str = "python") -> Directory:
        """Adds python.txt holding `text` to `source`.

        Args:
            source: the folder to add to
            text: what python.txt holds
        """
        return source.with_new_file("python.txt", text)

    @tanto.function
    def annotate(self, base: Container) -> Container:
        """Appends `python` to /log in `base`."""
        return base.with_exec(["sh", "-c", "echo python >> /log"])

    @tanto.function
    def via_rust(self, source: Directory) -> str:
        """Has the Rust module stamp `source`, then annotate a busybox holding the result."""
        rust = rustlib()
        stamped = rust.stamp(source, "from python")
        base = dag().container().from_("busybox:latest").with_directory("/in", stamped)
        return rust.annotate(base).with_exec(["sh", "-c", "cat /log; ls /in; cat /in/rust.txt"]).stdout()
"#;

/// A Rust module calling the Python one (declared as `pylib`).
const RUST_APP: &str = r#"
mod dependencies;
use dependencies::Dependencies;
use tanto_sdk::{Directory, Result, dag};

#[derive(Default)]
pub struct XlangApp;

#[tanto_sdk::module]
impl XlangApp {
    /// Has the Python module stamp `source`, then annotate a busybox holding the result.
    pub fn via_python(&self, source: Directory) -> Result<String> {
        let python = dag().pylib();
        let stamped = python.stamp(source, Some("from rust".to_string()))?;
        let base = dag().container().from("busybox:latest").with_directory("/in".to_string(), &stamped);
        python
            .annotate(base)?
            .with_exec(["sh", "-c", "cat /log; ls /in; cat /in/python.txt"])
            .stdout()
    }
}
"#;

fn python_module(dir: &Path, name: &str, main: &str, dependencies: &[(&str, &str)]) {
    let mut manifest = format!("name = \"{name}\"\nsdk = \"python\"\n");
    if !dependencies.is_empty() {
        manifest.push_str("\n[dependencies]\n");
        for (dependency, reference) in dependencies {
            manifest.push_str(&format!("{dependency} = \"{reference}\"\n"));
        }
    }
    write(dir, "tanto.toml", &manifest);
    write(dir, "main.py", main);
}

#[test]
fn python_calls_rust_and_rust_calls_python_passing_objects_by_handle() {
    let tanto = Tanto::new();
    let workspace = tempfile::tempdir().unwrap();
    let rust_lib = workspace.path().join("rustlib");
    let python = workspace.path().join("pylib");
    let app = workspace.path().join("app");
    write_module(&rust_lib, "xlang-rust", RUST_LIB, &[]);
    python_module(&python, "xlang-python", PYTHON_MAIN, &[("rustlib", "../rustlib")]);
    write_module(&app, "xlang-app", RUST_APP, &[("pylib", "../pylib")]);
    let source = workspace.path().join("source");
    write(&source, "given.txt", "given\n");
    let source_arg = format!("--source={}", source.display());

    // The Python client of the Rust module, from its schema.
    let developed = tanto.run_in(&python, &["develop"]).success();
    assert!(
        developed.stderr.contains("tanto_deps/__init__.py (1 dependencies: rustlib)"),
        "{}",
        developed.stderr
    );
    assert!(!developed.stderr.contains("hint:"), "nothing to declare for Python: {}", developed.stderr);
    let client = std::fs::read_to_string(python.join("tanto_deps/__init__.py")).unwrap();
    insta::assert_snapshot!("python_client", client);
    let again = tanto.run_in(&python, &["develop"]).success();
    assert!(again.stderr.contains("Up to date:"), "{}", again.stderr);

    // Python → Rust: a Directory and a Container go to Rust and come back changed.
    let run = tanto.run_in(&python, &["call", "via-rust", &source_arg]).success();
    assert_eq!(run.stdout.trim_end(), "rust\ngiven.txt\nrust.txt\nfrom python", "{}", run.stderr);
    assert!(run.stderr.contains("build module pylib (componentize-py)"), "{}", run.stderr);

    // Rust → Python: the Rust client of the Python module, then the call.
    tanto.run_in(&app, &["develop"]).success();
    let bindings = std::fs::read_to_string(app.join("src/dependencies.rs")).unwrap();
    assert!(
        bindings.contains("pub fn stamp(&self, source: Directory, text: Option<String>) -> Result<Directory>"),
        "{bindings}"
    );
    let run = tanto.run_in(&app, &["call", "via-python", &source_arg]).success();
    assert_eq!(run.stdout.trim_end(), "python\ngiven.txt\npython.txt\nfrom rust", "{}", run.stderr);
    assert!(
        !run.stderr.contains("componentize-py"),
        "the Python dependency's unchanged sources build nothing: {}",
        run.stderr
    );

    // A change to the Python dependency rebuilds it for its caller.
    let edited = PYTHON_MAIN.replace("echo python >> /log", "echo python edited >> /log");
    write(&python, "main.py", &edited);
    let run = tanto.run_in(&app, &["call", "via-python", &source_arg]).success();
    assert_eq!(run.stdout.trim_end(), "python edited\ngiven.txt\npython.txt\nfrom rust", "{}", run.stderr);
    assert!(run.stderr.contains("componentize-py"), "{}", run.stderr);
    tanto.assert_no_leftovers();
}

/// A Python module released from git, for a Rust module to depend on.
const PYTHON_RELEASE: &str = r#"import tanto
from tanto import Container, Directory


@tanto.module
class Released:
    """A released Python module."""

    @tanto.function
    def stamp(self, source: Directory) -> Directory:
        """Adds released.txt to `source`."""
        return source.with_new_file("released.txt", "released\n")

    @tanto.function
    def annotate(self, base: Container) -> Container:
        """Appends `released` to /log in `base`."""
        return base.with_exec(["sh", "-c", "echo released >> /log"])
"#;

const RUST_GIT_APP: &str = r#"
mod dependencies;
use dependencies::Dependencies;
use tanto_sdk::{Directory, Result, dag};

#[derive(Default)]
pub struct XlangGitApp;

#[tanto_sdk::module]
impl XlangGitApp {
    /// Has the released Python module stamp `source` and annotate a busybox holding it.
    pub fn released(&self, source: Directory) -> Result<String> {
        let stamped = dag().released().stamp(source)?;
        let base = dag().container().from("busybox:latest").with_directory("/in".to_string(), &stamped);
        dag()
            .released()
            .annotate(base)?
            .with_exec(["sh", "-c", "cat /log; ls /in; cat /in/released.txt"])
            .stdout()
    }
}
"#;

#[test]
fn a_rust_module_depends_on_a_python_module_from_git() {
    let server = GitServer::start();
    let tanto = server.tanto();
    let repo = server.repository("released");
    repo.write("tanto.toml", "name = \"released\"\nsdk = \"python\"\n");
    repo.write("main.py", PYTHON_RELEASE);
    let commit = repo.commit("released 1.0.0");
    repo.annotated_tag("v1.0.0");
    repo.push();

    let workspace = tempfile::tempdir().unwrap();
    let app = workspace.path().join("app");
    write_module(&app, "xlang-git-app", RUST_GIT_APP, &[]);
    tanto.run_in(&app, &["install", "github.com/acme/released@^1"]).success();
    let lock = std::fs::read_to_string(app.join("tanto.lock")).unwrap();
    assert!(lock.contains(&commit), "the lock pins the commit:\n{lock}");
    tanto.run_in(&app, &["develop"]).success();
    let source = workspace.path().join("source");
    write(&source, "given.txt", "given\n");
    let run = tanto.run_in(&app, &["call", "released", &format!("--source={}", source.display())]).success();
    assert_eq!(run.stdout.trim_end(), "released\ngiven.txt\nreleased.txt\nreleased", "{}", run.stderr);
    // Built once: the next call takes the component from the cache.
    let run = tanto
        .run_in(&app, &["call", "released", &format!("--source={}", source.display()), "--no-cache"])
        .success();
    assert!(!run.stderr.contains("componentize-py"), "{}", run.stderr);
    tanto.assert_no_leftovers();
}
