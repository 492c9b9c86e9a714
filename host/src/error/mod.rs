//! What every layer says about its errors: whose fault an error is ([`ErrorKind`]) and
//! what the user can do about it ([`Hint`]), as data.
//!
//! This module sits below all the others (`cli → ops → module/runtime → engine →
//! backend` all use it, it uses none of them), so each layer types its own errors and
//! says what they are, through [`Diagnose`], without reaching up to the CLI. The CLI
//! finds the error in a chain that has a diagnosis, maps its kind to an exit code and
//! renders its hint, in one place (`cli::report`); hints are rendered by
//! [`Hint`]'s `Display`, nowhere else. `tanto-registry` does the same with its own
//! [`tanto_registry::Hint`], which [`Hint::Registry`] carries.
//!
//! Files: this one (kinds, [`Diagnose`], [`UsageError`], [`LocalError`]), `hint` (the [`Hint`] enum and
//! its wording) and `registry` (what the registry's errors are to tanto).

mod hint;
mod registry;

pub use self::hint::Hint;

/// Whose fault an error is, which decides the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The user asked for something that cannot work (arguments, a manifest, a path, the
    /// environment): theirs to fix.
    User,
    /// A pipeline ran and failed (a command, the module itself).
    Pipeline,
    /// A bug in tanto.
    Internal,
    /// The run was stopped: by the signal with this number when one is known (Ctrl-C is 2).
    Interrupted { signal: Option<u8> },
}

/// An error that knows what it is: every error type a command can fail with implements
/// it, next to its definition, so the CLI's exit code and hint come from the type.
pub trait Diagnose: std::error::Error + Send + Sync + 'static {
    /// Whose fault it is.
    fn kind(&self) -> ErrorKind;
    /// What the user can do about it.
    fn hint(&self) -> Option<Hint> {
        None
    }
}

/// A file operation on tanto's own files (its cache, its work folders) failed: not the
/// user's request but the machine's state (space, permissions of the cache).
#[derive(Debug, thiserror::Error)]
#[error("{context}: {error}")]
pub struct LocalError {
    pub context: String,
    pub error: std::io::Error,
}

impl LocalError {
    /// Names `context` on an I/O error, in `map_err`.
    pub fn context(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> LocalError {
        let context = context.into();
        move |error| LocalError { context, error }
    }
}

impl Diagnose for LocalError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }

    fn hint(&self) -> Option<Hint> {
        Some(Hint::CheckCacheFolder)
    }
}

/// A request that cannot work, with an optional hint: for checks made by code that has
/// no error type of its own (command-line flags, mostly).
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

    pub fn with_hint(message: impl Into<String>, hint: Hint) -> Self {
        Self {
            message: message.into(),
            hint: Some(hint),
        }
    }
}

impl Diagnose for UsageError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::User
    }

    fn hint(&self) -> Option<Hint> {
        self.hint.clone()
    }
}
