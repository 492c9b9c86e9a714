//! The one place errors are shown: `error: ...`, what the module printed when that helps,
//! and a `hint: ...` saying what to do next. What an error is (user error, failed
//! pipeline, internal bug, interruption) and its hint come from its type, through
//! [`Diagnose`]; here the kind becomes an exit code and the hint a line.

use std::process::ExitCode;

use crate::backend::BackendError;
use crate::engine::EngineError;
use crate::error::{Diagnose, ErrorKind, Hint, LocalError, UsageError};
use crate::module::ManifestError;
use crate::module::args::ArgumentError;
use crate::module::build::BuildError;
use crate::module::chain::ChainError;
use crate::ops::call::OutputError;
use crate::ops::deps::{CheckoutError, ComponentError};
use crate::ops::develop::DevelopError;
use crate::ops::init::InitError;
use crate::ops::install::DependencyError;
use crate::ops::publish::PublishCheckError;
use crate::ops::vendor::SdkFileError;
use crate::runtime::RuntimeError;

/// A pipeline ran and failed (a command, the module itself).
pub const EXIT_PIPELINE: u8 = 1;
/// The user asked for something that cannot work (bad arguments, manifest, component,
/// environment).
pub const EXIT_USAGE: u8 = 2;
/// A bug in tanto.
pub const EXIT_INTERNAL: u8 = 70;
/// The number of SIGINT, for a run cancelled without a known signal.
const SIGINT: u8 = 2;

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

    /// The signal's number on Linux.
    pub fn number(self) -> u8 {
        match self {
            Signal::HangUp => 1,
            Signal::Interrupt => SIGINT,
            Signal::Terminate => 15,
        }
    }
}

/// A signal stopped the run.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {}: the pipeline was stopped and its containers removed", .0.name())]
pub struct Interrupted(pub Signal);

impl Diagnose for Interrupted {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Interrupted { signal: Some(self.0.number()) }
    }
}

/// `cause` as one of the error types tanto's commands fail with, all of which say what
/// they are. A type missing here makes its errors read as tanto bugs (exit 70).
fn as_diagnose<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a dyn Diagnose> {
    macro_rules! first_of {
        ($($error:ty),* $(,)?) => {
            $(
                if let Some(error) = cause.downcast_ref::<$error>() {
                    return Some(error);
                }
            )*
        };
    }
    use tanto_registry::{git, install, lockfile, manifest, publish, reference, resolve};
    first_of!(
        Interrupted,
        UsageError,
        LocalError,
        // ops
        OutputError,
        InitError,
        DependencyError,
        ComponentError,
        CheckoutError,
        PublishCheckError,
        DevelopError,
        SdkFileError,
        // module, runtime, engine, backend
        ManifestError,
        ArgumentError,
        ChainError,
        BuildError,
        RuntimeError,
        EngineError,
        BackendError,
        // tanto-registry
        install::InstallError,
        resolve::ResolveError,
        git::GitError,
        lockfile::LockfileError,
        lockfile::VerifyError,
        publish::PublishError,
        tanto_registry::Error,
        manifest::ManifestError,
        reference::ReferenceError,
    );
    None
}

/// The exit code of an error of `kind`.
fn exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::User => EXIT_USAGE,
        ErrorKind::Pipeline => EXIT_PIPELINE,
        ErrorKind::Internal => EXIT_INTERNAL,
        // 128 + the signal's number, as shells report it.
        ErrorKind::Interrupted { signal } => 128 + signal.unwrap_or(SIGINT),
    }
}

/// Prints `error` to stderr and returns the exit code for its kind: the outermost error
/// of the chain that has a diagnosis decides; an error without one is a bug in tanto.
pub fn render(error: &anyhow::Error) -> ExitCode {
    let diagnosis = error.chain().find_map(as_diagnose);
    let kind = diagnosis.map_or(ErrorKind::Internal, |diagnosis| diagnosis.kind());
    let hint: Option<Hint> = diagnosis.and_then(|diagnosis| diagnosis.hint());
    let guest_log = error
        .chain()
        .find_map(|cause| cause.downcast_ref::<RuntimeError>())
        .and_then(RuntimeError::guest_log);
    // Some messages (TOML's) end in a newline; the hint follows on the next line anyway.
    let mut text = format!("error: {}", format!("{error:#}").trim_end());
    if let Some(log) = guest_log {
        text.push_str("\n\nthe module printed:\n");
        text.push_str(log.trim_end());
    }
    if let Some(hint) = &hint {
        text.push_str(&format!("\nhint: {hint}"));
    }
    eprintln!("{text}");
    ExitCode::from(exit_code(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_come_from_the_kind_of_the_outermost_diagnosed_error() {
        let code = |error: anyhow::Error| {
            let diagnosis = error.chain().find_map(as_diagnose);
            exit_code(diagnosis.map_or(ErrorKind::Internal, |diagnosis| diagnosis.kind()))
        };
        assert_eq!(code(anyhow::anyhow!("untyped")), EXIT_INTERNAL);
        assert_eq!(code(anyhow::Error::new(UsageError::new("bad flag")).context("while parsing")), EXIT_USAGE);
        let unwritable = OutputError::Unwritable {
            path: "/file/out".into(),
            error: std::io::Error::from(std::io::ErrorKind::NotADirectory),
        };
        assert_eq!(code(anyhow::Error::new(unwritable)), EXIT_USAGE);
        let manifest = DependencyError::WriteManifest {
            manifest: "/module/tanto.toml".into(),
            error: std::io::Error::from(std::io::ErrorKind::ReadOnlyFilesystem),
        };
        assert_eq!(code(anyhow::Error::new(manifest).context("tanto install")), EXIT_USAGE);
        let bindings = DevelopError::Write {
            path: "/module/src/dependencies.rs".into(),
            error: std::io::Error::from(std::io::ErrorKind::IsADirectory),
        };
        assert_eq!(code(anyhow::Error::new(bindings)), EXIT_USAGE);
        assert_eq!(code(anyhow::Error::new(EngineError::Failed("the module failed".into()))), EXIT_PIPELINE);
        assert_eq!(code(anyhow::Error::new(Interrupted(Signal::Terminate))), 143);
        assert_eq!(code(anyhow::Error::new(EngineError::Cancelled("stopped".into()))), 130);
        let registry = tanto_registry::install::InstallError::UnknownModule {
            name: "x".into(),
            known: Vec::new(),
        };
        assert_eq!(code(anyhow::Error::new(registry)), EXIT_USAGE);
    }

    #[test]
    fn a_dependency_error_keeps_the_kind_and_hint_of_its_cause() {
        let cause = CheckoutError::OutsideCheckout {
            module: "lib@1.0.0".into(),
            field: "source",
            path: "/etc".into(),
        };
        let error = RuntimeError::Dependency {
            context: "dependency `lib`".into(),
            error: Box::new(cause),
        };
        assert_eq!(error.kind(), ErrorKind::User);
        assert_eq!(error.hint(), Some(Hint::UnusableRelease));
        assert!(
            error.to_string().starts_with("dependency `lib`: dependency lib@1.0.0: `source = \"/etc\"`"),
            "{error}"
        );
        let local = RuntimeError::Dependency {
            context: "dependency `lib`".into(),
            error: Box::new(LocalError {
                context: "cannot create a build folder".into(),
                error: std::io::Error::from(std::io::ErrorKind::StorageFull),
            }),
        };
        assert_eq!(local.kind(), ErrorKind::Internal);
    }
}
