//! Writing to the terminal without dying of a closed pipe.
//!
//! Rust ignores `SIGPIPE`, so a write to a pipe whose reader has gone (`tanto call … |
//! head -1`) returns `BrokenPipe`, and std's `println!` panics on it (exit 101 with a
//! panic message). The CLI's `println!`, `print!` and `eprintln!` are the
//! macros of `cli/mod.rs`, which call these functions instead: text that cannot be
//! written is dropped. The run itself is unaffected: it finishes (or is interrupted)
//! and cleans up as usual, and tanto exits with the run's own exit code, so a pipeline
//! `tanto call … | head -1` under `set -o pipefail` fails only if the run failed.

//!
//! They are also where every result and error the CLI prints passes the secrets
//! scrubber ([`crate::secrets::scrub`]): a secret's value never reaches the terminal.

use std::io::Write;

/// Writes to stdout, dropping the text if stdout is closed.
pub(crate) fn write_out(text: std::fmt::Arguments<'_>) {
    let text = text.to_string();
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(crate::secrets::scrub(&text).as_bytes()).and_then(|()| stdout.flush());
}

/// Writes to stderr, dropping the text if stderr is closed.
pub(crate) fn write_err(text: std::fmt::Arguments<'_>) {
    let text = text.to_string();
    let _ = std::io::stderr().lock().write_all(crate::secrets::scrub(&text).as_bytes());
}
