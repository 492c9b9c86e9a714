//! The user's terminal, as the engine borrows it for interactive shells
//! (`container.terminal`, `tanto call ... terminal`, and a failed step's shell under
//! `tanto call --interactive`). The engine never touches the process's terminal itself:
//! the CLI hands it a [`Console`] when stdin and stdout are terminals, and without one
//! every shell is refused with [`no_terminal`].

use crate::backend::TerminalIo;
use crate::engine::EngineError;

/// Lends the user's terminal to one shell at a time.
pub trait Console: Send + Sync {
    /// Takes the terminal for a shell: the live progress view is cleared and paused,
    /// `banner` shown, and the terminal switched to raw mode, until the lease's guard is
    /// dropped.
    fn lease(&self, banner: &str) -> Result<ConsoleLease, String>;
}

/// The terminal, lent.
pub struct ConsoleLease {
    /// Keystrokes, output and size changes, for the backend to wire to the shell.
    pub io: TerminalIo,
    /// Gives the terminal back when dropped: its modes restored, progress resumed. Also
    /// dropped when the shell's future is (Ctrl-C, SIGTERM), so the terminal is never
    /// left raw.
    pub guard: Box<dyn Send>,
}

/// Whether a step that fails opens a shell in its state (`tanto call --interactive`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureShell {
    Open,
    Never,
}

/// Why a shell cannot open: tanto has no terminal to lend it.
pub fn no_terminal(what: &str) -> EngineError {
    EngineError::InvalidArgument(format!(
        "{what} needs an interactive terminal, and tanto's standard input or output is not one (run tanto in a terminal, not in a pipe, a script or CI)"
    ))
}
