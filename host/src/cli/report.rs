//! The one place errors are shown: `error: ...`, what the module printed when that helps,
//! and a `hint: ...` saying what to do next. Errors are sorted into user errors, failed
//! pipelines and internal bugs, each with its own exit code.

use std::fmt;
use std::process::ExitCode;

use crate::backend::BackendError;
use crate::engine::EngineError;
use crate::module::ManifestError;
use crate::module::args::ArgumentError;
use crate::module::build::BuildError;
use crate::ops::deps::CheckoutError;
use crate::ops::install::DependencyError;
use crate::ops::publish::PublishCheckError;
use crate::runtime::RuntimeError;
use tanto_registry::Hint as RegistryHint;

/// A pipeline ran and failed (a command, the module itself).
pub const EXIT_PIPELINE: u8 = 1;
/// The user asked for something that cannot work (bad arguments, manifest, component,
/// environment).
pub const EXIT_USAGE: u8 = 2;
/// A bug in tanto.
pub const EXIT_INTERNAL: u8 = 70;
/// Interrupted by Ctrl-C (SIGINT): 128 + the signal's number, as shells report it.
pub const EXIT_INTERRUPTED: u8 = 130;

/// What the user can do about an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hint(pub String);

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A request that cannot work, with an optional hint.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UsageError {
    pub message: String,
    pub hint: Option<Hint>,
}

impl UsageError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: Some(Hint(hint.into())),
        }
    }
}

/// A signal that stops tanto: each is handled the same way (the run stops, what it
/// made is removed), and tanto exits with 128 + the signal's number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Ctrl-C.
    Interrupt,
    /// What CI systems and `kill` send to cancel.
    Terminate,
    /// The terminal went away.
    HangUp,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
            Signal::HangUp => "SIGHUP",
        }
    }

    pub fn exit_code(self) -> u8 {
        128 + match self {
            Signal::HangUp => 1,
            Signal::Interrupt => 2,
            Signal::Terminate => 15,
        }
    }
}

/// A signal stopped the run.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {}: the pipeline was stopped and its containers removed", .0.name())]
pub struct Interrupted(pub Signal);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    User,
    Pipeline,
    Internal,
    /// With the exit code of the signal.
    Interrupted(u8),
}

struct Classified {
    kind: Kind,
    hint: Option<Hint>,
    guest_log: Option<String>,
}

fn hint(text: impl Into<String>) -> Option<Hint> {
    Some(Hint(text.into()))
}

const DOCKER_HINT: &str =
    "start the Docker daemon (`scripts/setup` does it on a fresh machine) or point DOCKER_HOST at a running one; check with `docker info`";

fn classify_engine(error: &EngineError) -> (Kind, Option<Hint>) {
    match error {
        EngineError::ExecFailed(_) => (Kind::Pipeline, None),
        EngineError::Backend(BackendError::Unreachable { .. }) => (Kind::User, hint(DOCKER_HINT)),
        EngineError::NotFound(message) if message.contains("could not be pulled") => (
            Kind::Pipeline,
            hint(
                "the image is neither on this machine nor pullable: check the address, `docker pull` it, or build it locally (`docker image ls` lists what is here)",
            ),
        ),
        EngineError::NotFound(_) | EngineError::InvalidArgument(_) | EngineError::Backend(_) | EngineError::Failed(_) => (Kind::Pipeline, None),
        EngineError::Cancelled(_) => (Kind::Interrupted(EXIT_INTERRUPTED), None),
        EngineError::Local(_) => (
            Kind::Internal,
            hint("a local file operation failed: check free space and permissions of the tanto cache (TANTO_CACHE_DIR)"),
        ),
    }
}

/// The CLI's wording of the registry's hints: most read the same everywhere, a few name
/// the flag or command that fixes things here.
fn registry_hint(hint: Option<RegistryHint>) -> Option<Hint> {
    let hint = hint?;
    Some(Hint(match hint {
        RegistryHint::FillCache => "run `tanto install` without --offline once, so the module is fetched into the cache".to_owned(),
        RegistryHint::CheckNetwork { url } => {
            format!("check the network connection to {url} (proxy, firewall), or pass --offline if the cache already holds the module")
        }
        RegistryHint::KnownModules { names } if names.is_empty() => "tanto.lock lists no modules yet: run `tanto install` first".to_owned(),
        other => other.to_string(),
    }))
}

/// Errors of module references, resolution, tanto.lock and publishing: all are the
/// user's to fix (a name, a version, the network, the repository), never tanto bugs.
fn classify_registry(cause: &(dyn std::error::Error + 'static)) -> Option<Option<Hint>> {
    use tanto_registry::{git, install, lockfile, manifest, publish, reference, resolve};
    if let Some(error) = cause.downcast_ref::<install::InstallError>() {
        return Some(registry_hint(error.hint()));
    }
    if let Some(error) = cause.downcast_ref::<resolve::ResolveError>() {
        return Some(registry_hint(error.hint()));
    }
    if let Some(error) = cause.downcast_ref::<git::GitError>() {
        return Some(registry_hint(error.hint()));
    }
    if let Some(error) = cause.downcast_ref::<lockfile::LockfileError>() {
        return Some(registry_hint(error.hint()));
    }
    if let Some(error) = cause.downcast_ref::<lockfile::VerifyError>() {
        return Some(registry_hint(error.hint()));
    }
    if let Some(error) = cause.downcast_ref::<publish::PublishError>() {
        return Some(registry_hint(error.hint()));
    }
    if let Some(error) = cause.downcast_ref::<tanto_registry::Error>() {
        return Some(registry_hint(error.hint()));
    }
    if cause.downcast_ref::<manifest::ManifestError>().is_some() || cause.downcast_ref::<reference::ReferenceError>().is_some() {
        // The message already shows the line, or the accepted forms.
        return Some(None);
    }
    None
}

const UNUSABLE_RELEASE: &str = "this release of the module is unusable: depend on another version, or ask its maintainer to fix it";

fn classify_dependency(error: &DependencyError) -> Option<Hint> {
    match error {
        DependencyError::InvalidName { .. } => registry_hint(Some(RegistryHint::RenameDependency)),
        DependencyError::NameTaken { name, requested, .. } => hint(format!(
            "install it under another name with `tanto install {requested} --name NAME`, or run `tanto uninstall {name}` first"
        )),
        DependencyError::NotInstalled { installed, .. } if installed.is_empty() => hint("tanto.toml declares no dependencies"),
        DependencyError::NotInstalled { installed, .. } => hint(format!("installed dependencies: {}", installed.join(", "))),
        DependencyError::UpdateLocked { .. } => hint("run `tanto update` without --locked to accept the new versions"),
        DependencyError::DependencyManifest { .. } | DependencyError::ComponentMissing { .. } | DependencyError::Checkout(_) => hint(UNUSABLE_RELEASE),
        DependencyError::Edit { .. } => None,
    }
}

fn classify_publish_check(error: &PublishCheckError) -> Option<Hint> {
    match error {
        PublishCheckError::ComponentMissing { .. } => hint("build the component, or fix `component = \"...\"` in tanto.toml"),
        PublishCheckError::ComponentNotCommitted { component } => hint(format!(
            "commit it (`git add -f {}` if git ignores it), then publish again",
            component.display()
        )),
    }
}

fn classify(error: &anyhow::Error) -> Classified {
    for cause in error.chain() {
        let user_error = |hint| Classified {
            kind: Kind::User,
            hint,
            guest_log: None,
        };
        if let Some(dependency) = cause.downcast_ref::<DependencyError>() {
            return user_error(classify_dependency(dependency));
        }
        if cause.downcast_ref::<CheckoutError>().is_some() {
            return user_error(hint(UNUSABLE_RELEASE));
        }
        if let Some(check) = cause.downcast_ref::<PublishCheckError>() {
            return user_error(classify_publish_check(check));
        }
        if let Some(hint) = classify_registry(cause) {
            return user_error(hint);
        }
        if let Some(usage) = cause.downcast_ref::<UsageError>() {
            return Classified {
                kind: Kind::User,
                hint: usage.hint.clone(),
                guest_log: None,
            };
        }
        if let Some(Interrupted(signal)) = cause.downcast_ref::<Interrupted>() {
            return Classified {
                kind: Kind::Interrupted(signal.exit_code()),
                hint: None,
                guest_log: None,
            };
        }
        if let Some(manifest) = cause.downcast_ref::<ManifestError>() {
            let hint = match manifest {
                ManifestError::NotFound { .. } => hint("create a module with `tanto init --sdk=rust`, or name one with `-m PATH`"),
                ManifestError::Parse { .. } => {
                    hint("fix the line shown above; a tanto.toml has `name = \"...\"`, `sdk = \"rust\"` and optionally `[dependencies]` of module references")
                }
                ManifestError::Read { .. } => None,
                ManifestError::InvalidLimit { .. } => hint(
                    "`[limits]` takes cpu-seconds (a positive number), memory-mib (1 to 65536) and timeout (`90s`, `30m`, `2h`, at most 7d); each can only lower what the caller grants",
                ),
            };
            return Classified {
                kind: Kind::User,
                hint,
                guest_log: None,
            };
        }
        if let Some(argument) = cause.downcast_ref::<ArgumentError>() {
            let hint = match argument {
                ArgumentError::UnknownFunction { .. } => hint("`tanto functions` lists the functions and their arguments"),
                _ => None,
            };
            return Classified {
                kind: Kind::User,
                hint,
                guest_log: None,
            };
        }
        if let Some(build) = cause.downcast_ref::<BuildError>() {
            let hint = match build {
                BuildError::TargetMissing { .. } => hint("run `rustup target add wasm32-wasip2` (or `scripts/setup`)"),
                BuildError::CargoMissing { .. } => hint("install Rust with rustup (https://rustup.rs), then `rustup target add wasm32-wasip2`"),
                BuildError::CargoFailed { .. } => hint("fix the compile errors above, then call again"),
                BuildError::NoArtifact { .. } => hint("set `[lib] crate-type = [\"cdylib\"]` in the module's Cargo.toml"),
                BuildError::SandboxUnavailable { .. } => hint(
                    "install bubblewrap (`apt-get install bubblewrap`; `scripts/setup` does it), or pass --allow-unsandboxed-builds to run the module's build scripts on this machine with your privileges",
                ),
                BuildError::Toolchain { .. } => hint("install Rust with rustup (https://rustup.rs), then `rustup target add wasm32-wasip2`"),
                BuildError::FetchFailed { .. } => hint("check the network connection to crates.io, or run without --offline once"),
                BuildError::Io { .. } => None,
            };
            return Classified {
                kind: Kind::User,
                hint,
                guest_log: None,
            };
        }
        if let Some(runtime) = cause.downcast_ref::<RuntimeError>() {
            let guest_log = runtime.guest_log().map(str::to_string);
            let (kind, hint) = match runtime {
                RuntimeError::NotWasm { .. } | RuntimeError::Invalid { .. } => (
                    Kind::User,
                    hint("a module is a WebAssembly component built with a tanto SDK (`tanto init --sdk=rust`)"),
                ),
                RuntimeError::CoreModule { .. } => (
                    Kind::User,
                    hint(
                        "build for the wasm32-wasip2 target, which produces a component (`cargo build --target wasm32-wasip2`), not wasm32-unknown-unknown or wasm32-wasip1",
                    ),
                ),
                RuntimeError::WrongWorld { .. } => (
                    Kind::User,
                    hint(
                        "a tanto module imports `tanto:core/client` and exports `tanto:core/guest` of one version this tanto serves; build it with tanto-sdk (`tanto init --sdk=rust`)",
                    ),
                ),
                RuntimeError::UnsupportedApi { found, newer: true, .. } => {
                    (Kind::User, hint(format!("the module needs a newer tanto, one that serves {found}")))
                }
                RuntimeError::UnsupportedApi { newer: false, .. } => (
                    Kind::User,
                    hint("rebuild the module with the tanto SDK of this tanto (`tanto init --sdk=rust` makes a module with it)"),
                ),
                RuntimeError::CpuBudgetExceeded { .. } => (
                    Kind::Pipeline,
                    hint(
                        "if the module really needs more, raise the budget with --cpu-limit=SECONDS (a module's `[limits]` in tanto.toml can lower it, never raise it)",
                    ),
                ),
                RuntimeError::MemoryExceeded { .. } => (
                    Kind::Pipeline,
                    hint(
                        "if the module really needs more, raise the limit with --memory-limit=MIB (a module's `[limits]` in tanto.toml can lower it, never raise it)",
                    ),
                ),
                RuntimeError::HostMemoryExceeded { .. } => (
                    Kind::Pipeline,
                    hint(
                        "drop objects the module no longer needs (and keep big strings out of keys and arguments), or raise the limit with --memory-limit=MIB",
                    ),
                ),
                RuntimeError::TooManyObjects { .. } => (Kind::Pipeline, hint("drop objects the module no longer needs")),
                RuntimeError::Timeout { .. } => (
                    Kind::Pipeline,
                    hint("if the module really needs longer, raise the limit with --timeout=DURATION (`2h`)"),
                ),
                RuntimeError::StackOverflow { .. } => (Kind::Pipeline, hint("look for a recursion without end in the module")),
                RuntimeError::TooMuchData { .. } => (
                    Kind::Pipeline,
                    hint("hand big data over in pieces, or as files a container makes rather than strings"),
                ),
                RuntimeError::Trap { .. } | RuntimeError::CallDepth { .. } => (Kind::Pipeline, None),
                RuntimeError::UnknownDependency { .. } => (
                    Kind::Pipeline,
                    hint("declare it under [dependencies] in tanto.toml with `tanto install REF --name NAME`"),
                ),
                RuntimeError::LockOutOfDate { .. } => (Kind::User, hint("run `tanto install` to bring tanto.lock up to date")),
                RuntimeError::Dependency { .. } => (Kind::User, None),
                RuntimeError::InvalidSchema(_) => (
                    Kind::User,
                    hint("the module's author must fix its `describe`; modules built with a tanto SDK's macros always declare valid schemas"),
                ),
                RuntimeError::Pipeline(engine) => classify_engine(engine),
                RuntimeError::Internal { .. } => (Kind::Internal, hint("this is a bug in tanto: please report it with the output of `-vv`")),
            };
            return Classified { kind, hint, guest_log };
        }
        if let Some(engine) = cause.downcast_ref::<EngineError>() {
            let (kind, hint) = classify_engine(engine);
            return Classified { kind, hint, guest_log: None };
        }
        if let Some(BackendError::Unreachable { .. }) = cause.downcast_ref::<BackendError>() {
            return Classified {
                kind: Kind::User,
                hint: hint(DOCKER_HINT),
                guest_log: None,
            };
        }
    }
    Classified {
        kind: Kind::Internal,
        hint: None,
        guest_log: None,
    }
}

/// Prints `error` to stderr and returns the exit code for its kind.
pub fn render(error: &anyhow::Error) -> ExitCode {
    let classified = classify(error);
    // Some messages (TOML's) end in a newline; the hint follows on the next line anyway.
    let mut text = format!("error: {}", format!("{error:#}").trim_end());
    if let Some(log) = &classified.guest_log {
        text.push_str("\n\nthe module printed:\n");
        text.push_str(log.trim_end());
    }
    if let Some(hint) = &classified.hint {
        text.push_str(&format!("\nhint: {hint}"));
    }
    eprintln!("{text}");
    ExitCode::from(match classified.kind {
        Kind::User => EXIT_USAGE,
        Kind::Pipeline => EXIT_PIPELINE,
        Kind::Internal => EXIT_INTERNAL,
        Kind::Interrupted(code) => code,
    })
}
