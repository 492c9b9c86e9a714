//! What the user sees while a pipeline runs: tracing for diagnostics and a progress
//! display for steps. Both go to stderr; stdout carries only results.

pub mod otel;
pub mod progress;

use tracing_subscriber::EnvFilter;

/// Sets up diagnostics on stderr: warnings by default, more with `-v`, or as `RUST_LOG`
/// (`TANTO_LOG`) says.
pub fn init_tracing(verbosity: u8) {
    let default = match verbosity {
        0 => "warn",
        1 => "info,tanto=info",
        2 => "info,tanto=debug",
        _ => "debug,tanto=trace",
    };
    let filter = EnvFilter::try_from_env("TANTO_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(verbosity > 1)
        .without_time()
        .try_init();
}
