//! Building a module's component from source, only when its sources changed.
//!
//! After each build, a stamp records every input cargo reported in the artifact's
//! dep-info file (the `.d` next to the `.wasm`, which lists each source file of the crate
//! and of its path dependencies) plus the manifests and lockfile, with their sizes and
//! modification times. The next call compares those stats — no cargo process, a few
//! `stat` calls — and builds only if something moved.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use tanto_registry::resolve::Network;

use super::sandbox::{BUILD_DIR, Phase, Sandbox, Toolchain, UnsandboxedBuilds};
use crate::backend::Stream;
use crate::engine::{Digest, RunningStep, StepReporter};
use crate::error::{Diagnose, ErrorKind, Hint};
use crate::util::FileStamp;

/// The target modules are compiled for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot run `cargo` to build the module in {dir}: {source}")]
    CargoMissing {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the Rust toolchain has no {WASM_TARGET} target")]
    TargetMissing { output: String },
    #[error("building the module in {dir} failed:\n{output}")]
    CargoFailed { dir: PathBuf, output: String },
    #[error("cargo built no WebAssembly component in {dir}: is the crate a `cdylib`?")]
    NoArtifact { dir: PathBuf },
    /// A third-party module must be built, and no sandbox can be made here.
    #[error("cannot build {module} from source in a sandbox: {reason}")]
    SandboxUnavailable { module: String, reason: String },
    /// The Rust toolchain to build a third-party module with could not be found.
    #[error("cannot build {module}: {reason}")]
    Toolchain { module: String, reason: String },
    /// A third-party module's manifest or lockfile names a crate source `cargo fetch`
    /// may not reach.
    #[error("cannot fetch the crates of {module}: {}: {reason}", path.display())]
    CrateSourceRefused { module: String, path: PathBuf, reason: String },
    /// `cargo fetch` could not download a third-party module's crates.
    #[error("cannot fetch the crates of {module}:\n{output}")]
    FetchFailed { module: String, output: String },
    /// componentize-py is not where tanto looks for it (see `module::python`).
    #[error("cannot build a Python module: componentize-py is not installed at {} (nor named by $TANTO_COMPONENTIZE_PY)", path.display())]
    ComponentizePyMissing { path: PathBuf },
    /// A Python module's folder has no `main.py`.
    #[error("the Python module in {} has no main.py (the file holding its @tanto.module class)", dir.display())]
    PythonMainMissing { dir: PathBuf },
    /// componentize-py failed: the Python error, with its file and line.
    #[error("building the Python module in {} failed:\n{output}", dir.display())]
    ComponentizePyFailed { dir: PathBuf, output: String },
    #[error("{path} is not a valid pyproject.toml:\n{message}")]
    PyprojectInvalid { path: PathBuf, message: String },
    #[error("installing the Python packages of the module in {dir} failed (pip, wheels only):\n{output}")]
    PipFailed { dir: PathBuf, output: String },
    #[error("the Python package {package} of the module in {dir} is not pure Python ({tag}): native code cannot run inside a WebAssembly component")]
    NativePythonPackage { dir: PathBuf, package: String, tag: String },
    #[error("the Python packages of the module in {dir} ({requirements}) are not in the cache, and --offline forbids installing them")]
    PythonPackagesOffline { dir: PathBuf, requirements: String },
    #[error("tanto does not build {sdk} modules: tanto.toml must name the component the module's own tools build (`component = \"...\"`)")]
    NotBuiltByTanto { sdk: super::Sdk },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Diagnose for BuildError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::User
    }

    fn hint(&self) -> Option<Hint> {
        match self {
            BuildError::TargetMissing { .. } => Some(Hint::AddWasmTarget),
            BuildError::CargoMissing { .. } | BuildError::Toolchain { .. } => Some(Hint::InstallRust),
            BuildError::CargoFailed { .. } => Some(Hint::FixCompileErrors),
            BuildError::NoArtifact { .. } => Some(Hint::MakeCdylib),
            BuildError::SandboxUnavailable { .. } => Some(Hint::InstallBubblewrap),
            BuildError::FetchFailed { .. } => Some(Hint::CheckCratesNetwork),
            BuildError::ComponentizePyMissing { .. } => Some(Hint::InstallComponentizePy),
            BuildError::PythonMainMissing { .. } => Some(Hint::AddPythonMain),
            BuildError::ComponentizePyFailed { .. } => Some(Hint::FixPythonErrors),
            BuildError::NotBuiltByTanto { .. } => Some(Hint::BuildComponent),
            BuildError::PyprojectInvalid { .. } => Some(Hint::FixPyprojectLine),
            BuildError::PipFailed { .. } => Some(Hint::CheckPythonPackages),
            BuildError::NativePythonPackage { .. } => Some(Hint::PurePythonPackages),
            BuildError::PythonPackagesOffline { .. } => Some(Hint::InstallPythonPackagesOnline),
            BuildError::Io { .. } | BuildError::CrateSourceRefused { .. } => None,
        }
    }
}

/// What a build call did.
#[derive(Clone, Debug)]
pub struct Built {
    /// The component file.
    pub wasm: PathBuf,
    /// Whether cargo ran (false: the stamp showed nothing changed).
    pub rebuilt: bool,
    pub duration: Duration,
}

#[derive(Serialize, Deserialize, PartialEq, Eq)]
struct Stamp {
    version: u32,
    wasm: PathBuf,
    inputs: Vec<InputStat>,
}

/// What a build's stamp remembers of one input file (or folder: a file added to it
/// changes its times), to tell whether it changed since.
#[derive(Serialize, Deserialize, PartialEq, Eq, Clone)]
pub(super) struct InputStat {
    path: PathBuf,
    stamp: FileStamp,
}

impl InputStat {
    pub(super) fn of(path: &Path) -> Option<Self> {
        Some(Self {
            path: path.to_path_buf(),
            stamp: FileStamp::of_path(path)?,
        })
    }

    /// Whether the input is as it was when this was taken.
    pub(super) fn unchanged(&self) -> bool {
        FileStamp::of_path(&self.path) == Some(self.stamp)
    }
}

fn stamp_path(cache_root: &Path, source_dir: &Path) -> PathBuf {
    let key = Digest::of_bytes(source_dir.as_os_str().as_encoded_bytes());
    cache_root.join("builds").join(format!("{}.json", key.hex()))
}

/// Whether the stamp's inputs are all unchanged.
fn fresh(stamp: &Stamp) -> bool {
    stamp.inputs.iter().all(InputStat::unchanged)
}

/// Builds the module in `source_dir` written with `sdk`, unless nothing changed since the
/// last build; `network` offline, it fetches nothing (a Python module's packages).
pub fn build_module(sdk: super::Sdk, source_dir: &Path, cache_root: &Path, network: Network, reporter: &StepReporter) -> Result<Built, BuildError> {
    match sdk {
        super::Sdk::Rust => build_rust_module(source_dir, cache_root, reporter),
        super::Sdk::Python => super::python::build_python_module(source_dir, cache_root, network, reporter),
        // The manifest's check lets no such module through without a component.
        sdk @ (super::Sdk::Javascript | super::Sdk::C) => Err(BuildError::NotBuiltByTanto { sdk }),
    }
}

/// The component last built from `source_dir` when nothing changed since (its stamp is
/// fresh), without building anything: what shell completion reads a schema through.
pub fn built_component(source_dir: &Path, cache_root: &Path) -> Option<PathBuf> {
    let source_dir = std::path::absolute(source_dir).ok()?;
    let bytes = std::fs::read(stamp_path(cache_root, &source_dir)).ok()?;
    let stamp = serde_json::from_slice::<Stamp>(&bytes).ok()?;
    (stamp.version == 1 && fresh(&stamp)).then_some(stamp.wasm)
}

/// Builds the Rust module whose crate is in `source_dir`, unless nothing changed since
/// the last build. A build that runs cargo is reported through `reporter` as a step, with
/// cargo's messages as its output.
pub fn build_rust_module(source_dir: &Path, cache_root: &Path, reporter: &StepReporter) -> Result<Built, BuildError> {
    let started = Instant::now();
    let source_dir = std::path::absolute(source_dir).map_err(|source| BuildError::Io {
        context: format!("cannot resolve {}", source_dir.display()),
        source,
    })?;
    let stamp_file = stamp_path(cache_root, &source_dir);
    if let Ok(bytes) = std::fs::read(&stamp_file)
        && let Ok(stamp) = serde_json::from_slice::<Stamp>(&bytes)
        && stamp.version == 1
        && fresh(&stamp)
    {
        return Ok(Built {
            wasm: stamp.wasm,
            rebuilt: false,
            duration: started.elapsed(),
        });
    }

    // The build's whole output stays beside the logs of failed steps (bounded and pruned
    // with them), one folder per module, so a long build's log can be read in full.
    let log = cache_root
        .join("logs")
        .join(format!("build-{}", Digest::of_bytes(source_dir.as_os_str().as_encoded_bytes()).hex()));
    let wasm = run_cargo(&source_dir, reporter, log)?;
    let mut inputs = Vec::new();
    let mut paths = dep_info_inputs(&wasm.with_extension("d"));
    paths.push(source_dir.join("Cargo.toml"));
    paths.push(source_dir.join(super::manifest::MANIFEST_NAME));
    if let Some(lock) = source_dir.ancestors().map(|dir| dir.join("Cargo.lock")).find(|lock| lock.is_file()) {
        paths.push(lock);
    }
    paths.push(wasm.clone());
    for path in paths {
        if let Some(stat) = InputStat::of(&path) {
            inputs.push(stat);
        }
    }
    let stamp = Stamp {
        version: 1,
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

/// Where a third-party module's build ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confinement {
    /// In the sandbox (see [`super::sandbox`]).
    Sandbox,
    /// On the host, unconfined: no sandbox could be made, and the user allowed it.
    Host,
    /// By componentize-py (a Python module): the module's Python runs only inside the
    /// WebAssembly interpreter componentize-py initializes it in, never on the host.
    Componentize,
}

/// Builds a third-party module without letting its code touch the host: its crates are
/// fetched first (`cargo fetch` runs no crate code, and runs confined too), then it is
/// built offline in the sandbox. `work` is a private folder holding `src/`, a copy of the module's checkout;
/// the crate is at `src/<crate_dir>`. `module` names it in messages.
///
/// Without a usable sandbox this refuses, unless `unsandboxed` allows a host build.
pub fn build_third_party(
    work: &Path,
    crate_dir: &Path,
    module: &str,
    network: Network,
    unsandboxed: UnsandboxedBuilds,
    reporter: &StepReporter,
) -> Result<(PathBuf, Confinement), BuildError> {
    let sandbox = match Sandbox::probe() {
        Ok(sandbox) => Some(sandbox),
        Err(reason) if unsandboxed == UnsandboxedBuilds::Allow => {
            tracing::warn!(%module, %reason, "no sandbox: building on the host, as --allow-unsandboxed-builds allows");
            None
        }
        Err(reason) => {
            return Err(BuildError::SandboxUnavailable {
                module: module.to_owned(),
                reason,
            });
        }
    };
    let toolchain = Toolchain::find(work).map_err(|reason| BuildError::Toolchain {
        module: module.to_owned(),
        reason,
    })?;
    let manifest = work.join("src").join(crate_dir).join("Cargo.toml");
    fetch(sandbox.as_ref(), &toolchain, work, crate_dir, module, network)?;
    tracing::info!(%module, sandboxed = sandbox.is_some(), "building a third-party module");
    let step = reporter.start(match sandbox {
        Some(_) => format!("build module {module} (in the sandbox)"),
        None => format!("build module {module} (unsandboxed)"),
    });
    let mut args: Vec<&str> = BUILD_ARGS.to_vec();
    args.push("--offline");
    match sandbox {
        Some(sandbox) => {
            let command = sandbox
                .cargo(Phase::Build, &toolchain, work, crate_dir, &args)
                .map_err(|source| BuildError::Io {
                    context: format!("cannot prepare the build folder {}", work.display()),
                    source,
                })?;
            let inside = Path::new(BUILD_DIR).join("src").join(crate_dir);
            let wasm = run_build(command, &inside.join("Cargo.toml"), Path::new(module), &step)?;
            let wasm = super::sandbox::host_path(work, &wasm).ok_or_else(|| BuildError::NoArtifact { dir: module.into() })?;
            // The build could leave links in its folder: the component read back must be
            // a file of that folder, not a host file a link leads to.
            let inside = match (wasm.canonicalize(), work.canonicalize()) {
                (Ok(real), Ok(root)) => real.starts_with(root) && real.is_file(),
                _ => false,
            };
            if !inside {
                return Err(BuildError::NoArtifact { dir: module.into() });
            }
            step.done();
            Ok((wasm, Confinement::Sandbox))
        }
        None => {
            let mut command = Command::new(toolchain.cargo());
            command
                .args(&args)
                .current_dir(work.join("src").join(crate_dir))
                .env("CARGO_TARGET_DIR", work.join("target"))
                .env("RUSTC", toolchain.sysroot.join("bin/rustc"));
            let wasm = run_build(command, &manifest, Path::new(module), &step)?;
            step.done();
            Ok((wasm, Confinement::Host))
        }
    }
}

/// Refuses a third-party module whose crates would come from this machine's own or
/// link-local addresses: `cargo fetch` shares the host's network, where loopback reaches
/// services no container can (see [`crate::engine::sources::refuse_local_url`]). Every
/// `git` and `registry-index` URL of the checkout's manifests, and every git or registry
/// source of its lockfiles, is checked once; links are not followed.
fn refuse_local_crate_sources(checkout: &Path, module: &str) -> Result<(), BuildError> {
    let mut checked = std::collections::BTreeSet::new();
    let files = ignore::WalkBuilder::new(checkout).standard_filters(false).follow_links(false).build();
    for file in files.flatten() {
        if !file.file_type().is_some_and(|kind| kind.is_file()) || !matches!(file.file_name().to_str(), Some("Cargo.toml" | "Cargo.lock")) {
            continue;
        }
        // A file cargo cannot read is cargo's to report.
        let Some(table) = std::fs::read_to_string(file.path()).ok().and_then(|text| text.parse::<toml::Table>().ok()) else {
            continue;
        };
        let mut urls = Vec::new();
        crate_source_urls(&toml::Value::Table(table), &mut urls);
        for url in urls {
            if checked.insert(url.clone()) {
                crate::engine::sources::refuse_local_url(&url, "crate source").map_err(|error| BuildError::CrateSourceRefused {
                    module: module.to_owned(),
                    path: file.path().strip_prefix(checkout).unwrap_or(file.path()).to_path_buf(),
                    reason: error.to_string(),
                })?;
            }
        }
    }
    Ok(())
}

/// The URLs crates are fetched from that `value` (a manifest or a lockfile) names:
/// `git = "URL"` and `registry-index = "URL"` anywhere (dependencies, `[patch]`, target
/// tables), and lockfiles' `source = "git+URL"`, `"registry+URL"`, `"sparse+URL"`.
fn crate_source_urls(value: &toml::Value, urls: &mut Vec<String>) {
    match value {
        toml::Value::Table(table) => {
            for (key, value) in table {
                match (key.as_str(), value) {
                    ("git" | "registry-index", toml::Value::String(url)) => urls.push(url.clone()),
                    ("source", toml::Value::String(source)) => {
                        if let Some(url) = ["git+", "registry+", "sparse+"].iter().find_map(|prefix| source.strip_prefix(prefix)) {
                            urls.push(url.to_owned());
                        }
                    }
                    _ => crate_source_urls(value, urls),
                }
            }
        }
        toml::Value::Array(items) => items.iter().for_each(|item| crate_source_urls(item, urls)),
        _ => {}
    }
}

/// `cargo fetch` of a third-party crate into the user's crate cache: in the sandbox's
/// fetch phase, or (unsandboxed builds allowed) on the host. Either way it runs from
/// above the checkout, so cargo reads none of the module's own configuration
/// (`.cargo/config.toml` can name programs to run) and rustup none of its toolchain files.
fn fetch(sandbox: Option<&Sandbox>, toolchain: &Toolchain, work: &Path, crate_dir: &Path, module: &str, network: Network) -> Result<(), BuildError> {
    if network == Network::Online {
        refuse_local_crate_sources(&work.join("src"), module)?;
    }
    let mut args = vec!["fetch"];
    if network == Network::Offline {
        args.push("--offline");
    }
    args.push("--manifest-path");
    let mut command = match sandbox {
        Some(sandbox) => {
            // Sandbox paths are made of `/build/src` and the checkout's own (UTF-8) names.
            let inside = Path::new(BUILD_DIR)
                .join("src")
                .join(crate_dir)
                .join("Cargo.toml")
                .to_string_lossy()
                .into_owned();
            args.push(&inside);
            sandbox
                .cargo(Phase::Fetch, toolchain, work, crate_dir, &args)
                .map_err(|source| BuildError::Io {
                    context: format!("cannot prepare the build folder {}", work.display()),
                    source,
                })?
        }
        None => {
            let mut command = Command::new(toolchain.cargo());
            command
                .args(&args)
                .arg(work.join("src").join(crate_dir).join("Cargo.toml"))
                .current_dir(work)
                .env("RUSTC", toolchain.sysroot.join("bin/rustc"))
                .env_remove("RUSTC_WRAPPER")
                .env_remove("RUSTC_WORKSPACE_WRAPPER");
            command
        }
    };
    command.stdin(Stdio::null());

    let output = command.output().map_err(|source| BuildError::CargoMissing {
        dir: work.to_path_buf(),
        source,
    })?;
    if !output.status.success() {
        return Err(BuildError::FetchFailed {
            module: module.to_owned(),
            output: crate::engine::tail(&output.stderr, 40, 8192),
        });
    }
    Ok(())
}

/// What `cargo build` is asked, wherever it runs.
const BUILD_ARGS: [&str; 5] = ["build", "--release", "--target", WASM_TARGET, "--message-format=json-render-diagnostics"];

fn run_cargo(source_dir: &Path, reporter: &StepReporter, log: PathBuf) -> Result<PathBuf, BuildError> {
    tracing::info!(dir = %source_dir.display(), "building module");
    let name = source_dir.file_name().unwrap_or(source_dir.as_os_str()).to_string_lossy();
    let step = reporter.start_logged(format!("build module {name}"), Some(log));
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.args(BUILD_ARGS).current_dir(source_dir);
    let wasm = run_build(command, &source_dir.join("Cargo.toml"), source_dir, &step)?;
    step.done();
    Ok(wasm)
}

/// Runs a prepared `cargo build` (see [`BUILD_ARGS`]) and returns the component it
/// reported for the crate whose manifest is `manifest` (as cargo sees that path);
/// `source_dir` names the module in errors; cargo's messages are `step`'s output.
fn run_build(mut command: Command, manifest: &Path, source_dir: &Path, step: &RunningStep) -> Result<PathBuf, BuildError> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| BuildError::CargoMissing {
            dir: source_dir.to_path_buf(),
            source,
        })?;

    // Cargo's messages are the step's output as they come; they are also kept (bounded)
    // for the error.
    let stderr = child.stderr.take();
    let (lines, received) = std::sync::mpsc::sync_channel::<String>(64);
    let stderr_reader = std::thread::spawn(move || {
        if let Some(stderr) = stderr {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        }
    });
    let mut collected = String::new();
    let stdout_reader = child.stdout.take().map(|out| {
        std::thread::spawn(move || {
            let mut stdout = String::new();
            let mut out = out;
            out.read_to_string(&mut stdout).map(|_| stdout)
        })
    });
    for mut line in received {
        tracing::debug!(target: "tanto::build", "{line}");
        line.push('\n');
        step.output(Stream::Stderr, line.as_bytes());
        collected.push_str(&line);
        // What the error shows is the end: keep the last part, not an unbounded log.
        if collected.len() > 1 << 20 {
            let cut = (collected.len() - (512 << 10)..collected.len())
                .find(|index| collected.is_char_boundary(*index))
                .unwrap_or(collected.len());
            collected.drain(..cut);
        }
    }
    let _ = stderr_reader.join();
    let stdout = match stdout_reader.map(std::thread::JoinHandle::join) {
        Some(Ok(read)) => read.map_err(|source| BuildError::Io {
            context: "cannot read cargo's output".into(),
            source,
        })?,
        Some(Err(_)) => {
            return Err(BuildError::Io {
                context: "cannot read cargo's output".into(),
                source: std::io::Error::other("the reading thread panicked"),
            });
        }
        None => String::new(),
    };
    let status = child.wait().map_err(|source| BuildError::Io {
        context: "cannot wait for cargo".into(),
        source,
    })?;
    let stderr = collected;
    if !status.success() {
        if stderr.contains(WASM_TARGET)
            && (stderr.contains("target may not be installed")
                || stderr.contains("can't find crate for `core`")
                || stderr.contains("can't find crate for `std`"))
        {
            return Err(BuildError::TargetMissing { output: stderr });
        }
        return Err(BuildError::CargoFailed {
            dir: source_dir.to_path_buf(),
            output: crate::engine::tail(stderr.as_bytes(), 40, 8192),
        });
    }

    let mut artifact = None;
    for line in stdout.lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let is_ours = message["manifest_path"].as_str().map(Path::new) == Some(manifest);
        let wasm = message["filenames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|name| name.as_str())
            .find(|name| name.ends_with(".wasm"));
        if let (true, Some(wasm)) = (is_ours, wasm) {
            artifact = Some(PathBuf::from(wasm));
        }
    }
    artifact.ok_or_else(|| BuildError::NoArtifact { dir: source_dir.to_path_buf() })
}

/// The input files listed in a Makefile-style dep-info file (`out: in1 in2 ...`).
fn dep_info_inputs(path: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Some(first) = text.lines().next() else {
        return Vec::new();
    };
    let Some((_, inputs)) = first.split_once(": ") else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    let mut current = String::new();
    let mut chars = inputs.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&' ') => {
                current.push(' ');
                chars.next();
            }
            ' ' => {
                if !current.is_empty() {
                    paths.push(PathBuf::from(std::mem::take(&mut current)));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        paths.push(PathBuf::from(current));
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dep_info_with_escaped_spaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.d");
        std::fs::write(&path, "/t/x.wasm: /src/a.rs /src/my\\ file.rs\n\n/src/a.rs:\n").unwrap();
        assert_eq!(dep_info_inputs(&path), vec![PathBuf::from("/src/a.rs"), PathBuf::from("/src/my file.rs")]);
    }

    #[test]
    fn a_changed_input_makes_the_stamp_stale() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lib.rs");
        std::fs::write(&file, "a").unwrap();
        let stamp = Stamp {
            version: 1,
            wasm: file.clone(),
            inputs: vec![InputStat::of(&file).unwrap()],
        };
        assert!(fresh(&stamp));
        std::fs::write(&file, "ab").unwrap();
        assert!(!fresh(&stamp));
    }
}
