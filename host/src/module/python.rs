//! Building a Python module's component with componentize-py, only when its sources changed.
//!
//! The Python SDK (`guest-sdk/python`) is embedded in this binary and written once per
//! SDK content into the cache (`python-sdk/<digest>/`), so a module is always built with
//! the SDK of the tanto that runs it, and a module folder holds only its own sources
//! (`main.py` and whatever it imports). componentize-py is the pinned version
//! `scripts/setup` installs ([`COMPONENTIZE_PY_VERSION`]); [`componentize_py`] says where
//! it is looked for.
//!
//! As for Rust modules ([`super::build`]), a stamp records the size and modification time
//! of every input (the module's `.py` files and the folders holding them, so a new file
//! counts too, and its tanto.toml); the next call compares those with a few `stat` calls
//! and runs componentize-py only if something moved.
//!
//! Third-party packages are listed where a Python user lists them, PEP 621's `[project]
//! dependencies` in the module's `pyproject.toml`. They are installed by the virtual
//! environment's pip, wheels only (`--only-binary=:all:`: no build runs, nothing but the
//! index is fetched), for the Python componentize-py embeds, into a cache folder per exact
//! requirement list, and given to componentize-py as one more path. A wheel with native
//! code cannot run inside the component and is refused, named.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use tanto_registry::resolve::Network;

use super::build::{BuildError, Built, InputStat};
use crate::backend::Stream;
use crate::engine::{Digest, StepReporter};

/// The componentize-py release modules are built with (`scripts/setup` installs it).
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The Python componentize-py [`COMPONENTIZE_PY_VERSION`] embeds and runs a module in:
/// packages are chosen for it (environment markers, `Requires-Python`), not for the Python
/// of the virtual environment pip runs in.
pub const GUEST_PYTHON_VERSION: &str = "3.14";

/// The file whose `[project] dependencies` (PEP 621) lists a module's packages.
pub const PYPROJECT_FILE: &str = "pyproject.toml";

/// Written last into a packages folder: the folder is complete.
const PACKAGES_COMPLETE: &str = ".tanto-requirements";

/// The environment variable naming the componentize-py executable to use.
pub const COMPONENTIZE_PY_VARIABLE: &str = "TANTO_COMPONENTIZE_PY";

/// The file of a module's folder that holds its `@tanto.module` class.
pub const MAIN_FILE: &str = "main.py";

/// The Python SDK's files, as `(path in the SDK folder, contents)`.
pub const PYTHON_SDK_FILES: &[(&str, &str)] = &[
    ("tanto/__init__.py", include_str!("../../../guest-sdk/python/tanto/__init__.py")),
    ("tanto/_api.py", include_str!("../../../guest-sdk/python/tanto/_api.py")),
    ("tanto/_errors.py", include_str!("../../../guest-sdk/python/tanto/_errors.py")),
    ("tanto/_guest.py", include_str!("../../../guest-sdk/python/tanto/_guest.py")),
    ("tanto/_schema.py", include_str!("../../../guest-sdk/python/tanto/_schema.py")),
    ("tanto/app.py", include_str!("../../../guest-sdk/python/tanto/app.py")),
    ("tanto/py.typed", ""),
    // The contract itself, not a copy that could drift from it.
    ("tanto/wit/tanto.wit", include_str!("../../../wit/0.2.0/tanto.wit")),
];

/// Where componentize-py is: `$TANTO_COMPONENTIZE_PY`, else the virtual environment
/// `scripts/setup` makes, `<data dir>/tanto/python` (`$XDG_DATA_HOME`, else
/// `~/.local/share`).
pub fn componentize_py() -> PathBuf {
    if let Some(path) = std::env::var_os(COMPONENTIZE_PY_VARIABLE).filter(|path| !path.is_empty()) {
        return PathBuf::from(path);
    }
    python_environment().join("bin").join("componentize-py")
}

/// The virtual environment `scripts/setup` installs componentize-py into.
pub fn python_environment() -> PathBuf {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from(".local/share"));
    data.join("tanto").join("python")
}

#[derive(serde::Serialize, serde::Deserialize, PartialEq, Eq)]
struct Stamp {
    version: u32,
    /// The SDK and componentize-py the component was built with.
    toolchain: String,
    wasm: PathBuf,
    inputs: Vec<InputStat>,
}

/// The digest of the embedded SDK: its folder's name, and part of every build's identity.
fn sdk_digest() -> Digest {
    let mut text = String::new();
    for (path, contents) in PYTHON_SDK_FILES {
        text.push_str(path);
        text.push('\0');
        text.push_str(contents);
        text.push('\0');
    }
    Digest::of_bytes(text.as_bytes())
}

/// Writes the embedded SDK into the cache (once per SDK content) and returns its folder.
fn sdk_folder(cache_root: &Path) -> Result<PathBuf, BuildError> {
    let folder = cache_root.join("python-sdk").join(sdk_digest().hex());
    if folder.join("tanto/__init__.py").is_file() {
        return Ok(folder);
    }
    let io = |context: String| move |source| BuildError::Io { context, source };
    let staging = cache_root.join("python-sdk").join(format!(".{}.{}", sdk_digest().hex(), std::process::id()));
    for (path, contents) in PYTHON_SDK_FILES {
        let target = staging.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io(format!("cannot create {}", parent.display())))?;
        }
        std::fs::write(&target, contents).map_err(io(format!("cannot write {}", target.display())))?;
    }
    // Another process may have written the same SDK meanwhile: either copy will do.
    if let Err(error) = std::fs::rename(&staging, &folder) {
        let _ = std::fs::remove_dir_all(&staging);
        if !folder.join("tanto/__init__.py").is_file() {
            return Err(BuildError::Io {
                context: format!("cannot move the Python SDK into {}", folder.display()),
                source: error,
            });
        }
    }
    Ok(folder)
}

/// The module's Python sources and the folders that hold them (a file added to a folder
/// changes the folder's modification time), skipping hidden folders, `__pycache__` and
/// virtual environments.
fn python_inputs(source_dir: &Path) -> Vec<PathBuf> {
    let mut inputs = vec![source_dir.to_path_buf()];
    let mut folders = vec![source_dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(kind) = entry.file_type() else { continue };
            let path = entry.path();
            if kind.is_dir() {
                let skipped = name.starts_with('.') || name == "__pycache__" || name == "target" || path.join("pyvenv.cfg").is_file();
                if !skipped {
                    inputs.push(path.clone());
                    folders.push(path);
                }
            } else if name.ends_with(".py") || name == super::manifest::MANIFEST_NAME || name == PYPROJECT_FILE {
                inputs.push(path);
            }
        }
    }
    inputs.sort();
    inputs
}

fn stamp_path(cache_root: &Path, source_dir: &Path) -> PathBuf {
    let key = Digest::of_bytes(source_dir.as_os_str().as_encoded_bytes());
    cache_root.join("builds").join(format!("{}-python.json", key.hex()))
}

fn toolchain() -> String {
    format!("sdk {} componentize-py {COMPONENTIZE_PY_VERSION}", sdk_digest().hex())
}

/// The component of the stamp at `stamp_file` if none of its inputs changed and it was
/// built by `toolchain`.
fn fresh_build(stamp_file: &Path, toolchain: &str) -> Option<PathBuf> {
    let bytes = std::fs::read(stamp_file).ok()?;
    let stamp = serde_json::from_slice::<Stamp>(&bytes).ok()?;
    let fresh = stamp.version == 1 && stamp.toolchain == toolchain && stamp.inputs.iter().all(InputStat::unchanged);
    fresh.then_some(stamp.wasm)
}

/// The component last built from `source_dir` when nothing changed since, without
/// building anything: what shell completion reads a schema through.
pub fn built_component(source_dir: &Path, cache_root: &Path) -> Option<PathBuf> {
    let source_dir = std::path::absolute(source_dir).ok()?;
    fresh_build(&stamp_path(cache_root, &source_dir), &toolchain())
}

/// Refuses a module from git whose pyproject.toml lists a package by a path or URL
/// (`name @ file:///…`, `./pkg.whl`, `https://…`): pip would read it for the module, so a
/// third-party module could have any host file it names bundled into its component.
/// Only names from the package index are allowed there; the user's own module may list
/// anything.
pub fn refuse_named_locations(source_dir: &Path) -> Result<(), BuildError> {
    // pip takes a bare file name with an archive's extension for a file in its working
    // folder, so those are locations too.
    const ARCHIVES: [&str; 12] = [
        ".whl",
        ".zip",
        ".tar",
        ".tar.gz",
        ".tgz",
        ".tar.bz2",
        ".tbz",
        ".tar.xz",
        ".txz",
        ".tlz",
        ".tar.lz",
        ".tar.lzma",
    ];
    let is_archive = |requirement: &str| {
        let name = requirement.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        ARCHIVES.iter().any(|extension| name.ends_with(extension))
    };
    let located = requirements(source_dir)?
        .into_iter()
        .find(|requirement| requirement.contains(['/', '\\', '@']) || requirement.starts_with(['.', '~']) || is_archive(requirement));
    match located {
        Some(requirement) => Err(BuildError::PyprojectInvalid {
            path: source_dir.join(PYPROJECT_FILE),
            message: format!(
                "`{requirement}` names a path or URL; a module installed from git may list packages only by name (and version) from the package index"
            ),
        }),
        None => Ok(()),
    }
}

/// The requirements `[project] dependencies` lists in `source_dir/pyproject.toml`, as
/// written (none without the file).
fn requirements(source_dir: &Path) -> Result<Vec<String>, BuildError> {
    #[derive(serde::Deserialize)]
    struct Pyproject {
        project: Option<Project>,
    }
    #[derive(serde::Deserialize)]
    struct Project {
        #[serde(default)]
        dependencies: Vec<String>,
    }
    let path = source_dir.join(PYPROJECT_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(BuildError::Io {
                context: format!("cannot read {}", path.display()),
                source,
            });
        }
    };
    let pyproject: Pyproject = toml::from_str(&text).map_err(|error| BuildError::PyprojectInvalid {
        path: path.clone(),
        message: error.to_string(),
    })?;
    let listed = pyproject.project.map(|project| project.dependencies).unwrap_or_default();
    Ok(listed
        .iter()
        .map(|requirement| requirement.trim().to_owned())
        .filter(|requirement| !requirement.is_empty())
        .collect())
}

/// The folder holding the packages `requirements` name, for componentize-py's path:
/// `<cache>/python-packages/<key>/`, the key being the exact list (with the guest Python
/// and componentize-py), installed by pip only when no folder has that key yet.
fn packages_folder(requirements: &[String], source_dir: &Path, cache_root: &Path, network: Network, reporter: &StepReporter) -> Result<PathBuf, BuildError> {
    let mut identity = format!("python {GUEST_PYTHON_VERSION}\0componentize-py {COMPONENTIZE_PY_VERSION}\0");
    for requirement in requirements {
        identity.push_str(requirement);
        identity.push('\0');
    }
    let key = Digest::of_bytes(identity.as_bytes()).hex();
    let packages = cache_root.join("python-packages");
    let folder = packages.join(&key);
    if folder.join(PACKAGES_COMPLETE).is_file() {
        return Ok(folder);
    }
    if network == Network::Offline {
        return Err(BuildError::PythonPackagesOffline {
            dir: source_dir.to_path_buf(),
            requirements: requirements.join(", "),
        });
    }
    let io = |context: String| move |source| BuildError::Io { context, source };
    let staging = packages.join(format!(".{key}.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(io(format!("cannot create {}", staging.display())))?;
    // pip of the environment componentize-py is in (its sibling), else of the one
    // scripts/setup makes.
    let python = [componentize_py().with_file_name("python"), python_environment().join("bin/python")]
        .into_iter()
        .find(|python| python.is_file())
        .ok_or_else(|| BuildError::ComponentizePyMissing { path: componentize_py() })?;
    let log = cache_root.join("logs").join(format!("pip-{key}"));
    let step = reporter.start_logged(format!("install Python packages: {}", requirements.join(" ")), Some(log));
    tracing::info!(requirements = %requirements.join(" "), "installing Python packages");
    let output = Command::new(&python)
        .args(["-m", "pip", "install", "--target"])
        .arg(&staging)
        .args([
            "--only-binary=:all:",
            "--python-version",
            GUEST_PYTHON_VERSION,
            "--no-input",
            "--no-compile",
            "--disable-pip-version-check",
            "--no-warn-script-location",
            "--",
        ])
        .args(requirements)
        .current_dir(source_dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("PYTHONPATH")
        .env_remove("VIRTUAL_ENV")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| BuildError::PipFailed {
            dir: source_dir.to_path_buf(),
            output: format!("cannot run {}: {source}", python.display()),
        })?;
    step.output(Stream::Stdout, &output.stdout);
    step.output(Stream::Stderr, &output.stderr);
    if !output.status.success() {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(BuildError::PipFailed {
            dir: source_dir.to_path_buf(),
            output: crate::engine::tail(&output.stderr, 40, 8192),
        });
    }
    if let Some((package, tag)) = native_package(&staging) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(BuildError::NativePythonPackage {
            dir: source_dir.to_path_buf(),
            package,
            tag,
        });
    }
    let listed = requirements.join("\n") + "\n";
    std::fs::write(staging.join(PACKAGES_COMPLETE), listed).map_err(io(format!("cannot write into {}", staging.display())))?;
    // Another process may have installed the same list meanwhile: either copy will do.
    if let Err(error) = std::fs::rename(&staging, &folder) {
        let _ = std::fs::remove_dir_all(&staging);
        if !folder.join(PACKAGES_COMPLETE).is_file() {
            return Err(BuildError::Io {
                context: format!("cannot move the Python packages into {}", folder.display()),
                source: error,
            });
        }
    }
    step.done();
    Ok(folder)
}

/// The first installed distribution in `folder` whose wheel is not pure Python (its
/// `WHEEL` file says `Root-Is-Purelib: false`, or a tag names a platform), as its
/// `name version` and the offending tag.
fn native_package(folder: &Path) -> Option<(String, String)> {
    let mut entries: Vec<PathBuf> = crate::util::read_dir_paths(folder);
    entries.sort();
    for dist_info in entries.iter().filter(|path| path.extension().is_some_and(|extension| extension == "dist-info")) {
        let Ok(wheel) = std::fs::read_to_string(dist_info.join("WHEEL")) else {
            continue;
        };
        let stem = dist_info.file_stem().unwrap_or_default().to_string_lossy();
        let package = match stem.split_once('-') {
            Some((name, version)) => format!("{name} {version}"),
            None => stem.to_string(),
        };
        for line in wheel.lines() {
            let Some((field, value)) = line.split_once(':') else { continue };
            let value = value.trim();
            let native = match field.trim() {
                "Root-Is-Purelib" => value.eq_ignore_ascii_case("false"),
                "Tag" => value.rsplit('-').next() != Some("any"),
                _ => false,
            };
            if native {
                return Some((package, format!("{}: {value}", field.trim())));
            }
        }
    }
    None
}

/// Builds the Python module in `source_dir` (its `main.py`) unless nothing changed since
/// the last build. A build that runs componentize-py is reported through `reporter` as a
/// step, with componentize-py's messages as its output; so is an install of the packages
/// its pyproject.toml lists, which runs only when that list changed (never with
/// `network` offline: then the packages must be in the cache).
pub fn build_python_module(source_dir: &Path, cache_root: &Path, network: Network, reporter: &StepReporter) -> Result<Built, BuildError> {
    let started = Instant::now();
    let source_dir = std::path::absolute(source_dir).map_err(|source| BuildError::Io {
        context: format!("cannot resolve {}", source_dir.display()),
        source,
    })?;
    let toolchain = toolchain();
    let stamp_file = stamp_path(cache_root, &source_dir);
    if let Some(wasm) = fresh_build(&stamp_file, &toolchain) {
        return Ok(Built {
            wasm,
            rebuilt: false,
            duration: started.elapsed(),
        });
    }
    if !source_dir.join(MAIN_FILE).is_file() {
        return Err(BuildError::PythonMainMissing { dir: source_dir });
    }
    let executable = componentize_py();
    if !executable.is_file() {
        return Err(BuildError::ComponentizePyMissing { path: executable });
    }
    let sdk = sdk_folder(cache_root)?;
    let requirements = requirements(&source_dir)?;
    let packages = if requirements.is_empty() {
        None
    } else {
        Some(packages_folder(&requirements, &source_dir, cache_root, network, reporter)?)
    };
    let key = Digest::of_bytes(source_dir.as_os_str().as_encoded_bytes()).hex();
    let wasm = cache_root.join("builds").join(format!("{key}-python.wasm"));
    let partial = wasm.with_extension(format!("wasm.{}.partial", std::process::id()));
    let log = cache_root.join("logs").join(format!("build-{key}"));

    let name = source_dir.file_name().unwrap_or(source_dir.as_os_str()).to_string_lossy().into_owned();
    tracing::info!(dir = %source_dir.display(), "building Python module");
    let step = reporter.start_logged(format!("build module {name} (componentize-py)"), Some(log));
    if let Some(parent) = wasm.parent() {
        std::fs::create_dir_all(parent).map_err(|source| BuildError::Io {
            context: format!("cannot create {}", parent.display()),
            source,
        })?;
    }
    let mut command = Command::new(&executable);
    command
        .arg("-d")
        .arg(sdk.join("tanto/wit"))
        .args(["-w", "module", "componentize", "-p"])
        .arg(&sdk)
        .arg("-p")
        .arg(&source_dir);
    if let Some(packages) = &packages {
        command.arg("-p").arg(packages);
    }
    command
        .args(["tanto.app", "-o"])
        .arg(&partial)
        .current_dir(&source_dir)
        // componentize-py adds a Rust stack trace to a failing build: noise for a Python
        // author, whose traceback is what matters.
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("PYTHONPATH")
        .env_remove("VIRTUAL_ENV")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // componentize-py's embedded Python writes bytecode beside the sources it imports
    // (it does not honour PYTHONDONTWRITEBYTECODE): folders it adds are removed after the
    // build, so a git dependency's checkout keeps the content its lock entry hashes.
    let pycache_before = pycache_folders(&source_dir);
    let mut child = command.spawn().map_err(|source| BuildError::ComponentizePyFailed {
        dir: source_dir.clone(),
        output: format!("cannot run {}: {source}", executable.display()),
    })?;
    // Both streams are small (a traceback at most): read stdout on a thread, stderr here.
    let stdout = child.stdout.take();
    let stdout_reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(stdout) = stdout {
            let _ = stdout.take(1 << 20).read_to_string(&mut text);
        }
        text
    });
    let mut stderr = String::new();
    if let Some(pipe) = child.stderr.take() {
        let _ = pipe.take(4 << 20).read_to_string(&mut stderr);
    }
    let stdout = stdout_reader.join().unwrap_or_default();
    let status = child.wait().map_err(|source| BuildError::Io {
        context: "cannot wait for componentize-py".into(),
        source,
    })?;
    for added in pycache_folders(&source_dir).into_iter().filter(|folder| !pycache_before.contains(folder)) {
        if let Err(error) = std::fs::remove_dir_all(&added) {
            tracing::debug!(%error, folder = %added.display(), "could not remove the bytecode the build wrote");
        }
    }
    let message = python_message(&stdout, &stderr);
    step.output(Stream::Stderr, message.as_bytes());
    if !status.success() || !partial.is_file() {
        let _ = std::fs::remove_file(&partial);
        return Err(BuildError::ComponentizePyFailed {
            dir: source_dir,
            output: crate::engine::tail(message.as_bytes(), 40, 8192),
        });
    }
    std::fs::rename(&partial, &wasm).map_err(|source| BuildError::Io {
        context: format!("cannot move the component to {}", wasm.display()),
        source,
    })?;
    step.done();
    // Read after the build, as for Rust modules: the build itself may add `__pycache__`
    // folders, which change their parent's modification time.
    let mut inputs: Vec<InputStat> = python_inputs(&source_dir).iter().filter_map(|path| InputStat::of(path)).collect();
    inputs.extend(InputStat::of(&wasm));
    let stamp = Stamp {
        version: 1,
        toolchain,
        wasm: wasm.clone(),
        inputs,
    };
    if let Ok(bytes) = serde_json::to_vec(&stamp)
        && let Err(error) = crate::util::write_atomic(&stamp_file, &bytes)
    {
        tracing::debug!(%error, "could not write the build stamp");
    }
    Ok(Built {
        wasm,
        rebuilt: true,
        duration: started.elapsed(),
    })
}

/// Every `__pycache__` folder under `dir` (symbolic links and `.git` not followed).
fn pycache_folders(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|kind| kind.is_dir()) || entry.file_name() == ".git" {
                continue;
            }
            if entry.file_name() == "__pycache__" {
                found.push(entry.path());
            } else {
                pending.push(entry.path());
            }
        }
    }
    found
}

/// What a Python author needs from componentize-py's output: the Python traceback (file,
/// line, error), without the Rust backtrace and error chain it wraps it in.
fn python_message(stdout: &str, stderr: &str) -> String {
    let mut lines = Vec::new();
    for line in stdout.lines().chain(stderr.lines()) {
        let trimmed = line.trim();
        if trimmed == "Stack backtrace:" {
            break;
        }
        if trimmed.is_empty() && lines.is_empty() {
            continue;
        }
        lines.push(line);
    }
    let mut message = lines.join("\n");
    message.push('\n');
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SDK embedded here is the SDK in the repository, file for file.
    #[test]
    fn every_python_sdk_file_is_embedded() {
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk/python");
        let mut folders = vec![sdk.join("tanto")];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    if !path.ends_with("__pycache__") {
                        folders.push(path);
                    }
                    continue;
                }
                let relative = path.strip_prefix(&sdk).unwrap().to_string_lossy().into_owned();
                let embedded = PYTHON_SDK_FILES.iter().find(|(name, _)| *name == relative);
                let embedded = embedded.unwrap_or_else(|| panic!("guest-sdk/python/{relative} is not in PYTHON_SDK_FILES"));
                assert_eq!(embedded.1, std::fs::read_to_string(&path).unwrap(), "{relative} differs from the embedded copy");
            }
        }
    }

    #[test]
    fn a_new_python_file_makes_the_inputs_change() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.py"), "x = 1\n").unwrap();
        std::fs::create_dir(dir.path().join("__pycache__")).unwrap();
        std::fs::write(dir.path().join("__pycache__/main.pyc"), "").unwrap();
        let before = python_inputs(dir.path());
        assert_eq!(before, vec![dir.path().to_path_buf(), dir.path().join("main.py")]);
        std::fs::create_dir(dir.path().join("lib")).unwrap();
        std::fs::write(dir.path().join("lib/util.py"), "").unwrap();
        assert_eq!(python_inputs(dir.path()).len(), 4);
    }

    #[test]
    fn requirements_are_read_from_the_project_table_of_pyproject() {
        let dir = tempfile::tempdir().unwrap();
        assert!(requirements(dir.path()).unwrap().is_empty(), "no pyproject.toml, no packages");
        let pyproject = dir.path().join(PYPROJECT_FILE);
        std::fs::write(
            &pyproject,
            "[project]\nname = \"m\"\ndependencies = [\" pyyaml==6.0.2 \", \"attrs\"]\n[tool.x]\ny = 1\n",
        )
        .unwrap();
        assert_eq!(requirements(dir.path()).unwrap(), vec!["pyyaml==6.0.2".to_string(), "attrs".to_string()]);
        std::fs::write(&pyproject, "[project]\ndependencies = \"attrs\"\n").unwrap();
        let error = requirements(dir.path()).unwrap_err().to_string();
        assert!(error.contains("is not a valid pyproject.toml") && error.contains("line 2"), "{error}");
    }

    #[test]
    fn a_module_from_git_lists_packages_only_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let pyproject = dir.path().join(PYPROJECT_FILE);
        std::fs::write(
            &pyproject,
            "[project]\ndependencies = [\"attrs==23.2.0\", \"pyyaml>=6; python_version >= '3.8'\"]\n",
        )
        .unwrap();
        refuse_named_locations(dir.path()).unwrap();
        for located in [
            "x @ file:///etc/x.whl",
            "/root/x.whl",
            "./x.whl",
            "~/x.whl",
            "x @ https://example.com/x.whl",
            "..\\x.whl",
            "x-1.0-py3-none-any.whl",
            "x.tar.gz ; python_version >= '3'",
        ] {
            std::fs::write(&pyproject, format!("[project]\ndependencies = [{located:?}]\n")).unwrap();
            let error = refuse_named_locations(dir.path()).unwrap_err().to_string();
            assert!(error.contains(&format!("`{located}` names a path or URL")), "{error}");
        }
    }

    #[test]
    fn a_wheel_with_native_code_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = |name: &str, text: &str| {
            let info = dir.path().join(format!("{name}.dist-info"));
            std::fs::create_dir_all(&info).unwrap();
            std::fs::write(info.join("WHEEL"), text).unwrap();
        };
        wheel("attrs-25.1.0", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n");
        assert_eq!(native_package(dir.path()), None);
        wheel(
            "pyyaml-6.0.2",
            "Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp314-cp314-manylinux_2_17_x86_64\n",
        );
        assert_eq!(
            native_package(dir.path()),
            Some(("pyyaml 6.0.2".to_string(), "Root-Is-Purelib: false".to_string()))
        );
    }

    #[test]
    fn the_traceback_is_kept_and_the_rust_backtrace_dropped() {
        let stderr = "Traceback (most recent call last):\n  File \"/m/main.py\", line 3, in <module>\nNameError: name 'x' is not defined\n\nCaused by:\n    x\n\nStack backtrace:\n   0: foo\n";
        let message = python_message("", stderr);
        assert!(message.contains("main.py\", line 3"), "{message}");
        assert!(!message.contains("0: foo"), "{message}");
    }
}
