//! The Python test guests (`tests/guests-python/NAME`): each is built once per test run,
//! by tanto itself with the componentize-py `scripts/setup` installs, into one cache kept
//! in `target/test-python` (so a run whose guests did not change builds nothing), and
//! compiled once there. A test's [`Tanto`] gets the compiled component copied into its
//! own cache, so it loads it instead of compiling 18 MB of WebAssembly again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::{Run, Tanto, repo_root, tanto_bin};

/// The folder of the Python test guest `name`.
pub fn python_guest_dir(name: &str) -> PathBuf {
    repo_root().join("tests/guests-python").join(name)
}

/// The cache the Python guests are built and compiled in, shared by every test.
fn shared_cache() -> PathBuf {
    repo_root().join("target/test-python")
}

/// The virtual environment of `scripts/setup` (componentize-py, pytest).
pub fn python_environment() -> PathBuf {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".local/share"));
    data.join("tanto/python")
}

/// The component of the Python guest `name`, built (and compiled) once per test run.
pub fn python_guest_wasm(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(wasm) = built.get(name) {
        return wasm.clone();
    }
    let dir = python_guest_dir(name);
    let output = std::process::Command::new(tanto_bin())
        .env("TANTO_CACHE_DIR", shared_cache())
        .env_remove("TANTO_LOG")
        .args(["--progress=plain", "functions", "-m"])
        .arg(&dir)
        .output()
        .expect("tanto runs");
    let run = Run::from(output);
    assert_eq!(
        run.code,
        Some(0),
        "building the Python guest {name} failed (run scripts/setup for componentize-py):\n{}",
        run.stderr
    );
    let wasm = built_wasm(&dir).unwrap_or_else(|| panic!("no build stamp for the Python guest {name}"));
    built.insert(name.to_owned(), wasm.clone());
    wasm
}

/// The component the build stamp of the Python module in `dir` names.
fn built_wasm(dir: &Path) -> Option<PathBuf> {
    for entry in std::fs::read_dir(shared_cache().join("builds")).ok()?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with("-python.json") {
            continue;
        }
        let stamp: serde_json::Value = serde_json::from_slice(&std::fs::read(entry.path()).ok()?).ok()?;
        let first_input = stamp["inputs"][0]["path"].as_str().map(Path::new);
        if first_input == Some(dir) {
            return stamp["wasm"].as_str().map(PathBuf::from);
        }
    }
    None
}

impl Tanto {
    /// The component of the Python guest `name`, as a path for `-m`, with its compiled
    /// form already in this tanto's cache.
    pub fn python_guest(&self, name: &str) -> String {
        let wasm = python_guest_wasm(name);
        let compiled = self.cache.path().join("components");
        std::fs::create_dir_all(&compiled).expect("the components folder");
        if let Ok(entries) = std::fs::read_dir(shared_cache().join("components")) {
            for entry in entries.flatten() {
                let target = compiled.join(entry.file_name());
                if !target.exists() && std::fs::hard_link(entry.path(), &target).is_err() {
                    std::fs::copy(entry.path(), &target).expect("copying a compiled component");
                }
            }
        }
        wasm.to_str().expect("a UTF-8 path").to_owned()
    }

    /// `tanto call -m PYTHON-GUEST FUNCTION ARGS`.
    pub fn call_python_guest(&self, guest: &str, function: &str, args: &[&str]) -> Run {
        let wasm = self.python_guest(guest);
        let mut all = vec!["call", "-m", wasm.as_str(), function];
        all.extend_from_slice(args);
        self.run(&all)
    }
}
