//! The error every fallible call of the API returns, and module functions return to fail.

use std::fmt::{self, Display};

use crate::bindings::tanto::core::types as wit;

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error a module can handle: a failed command, a missing path, a rejected argument,
/// a backend failure or a cancellation.
///
/// Evaluating methods of the API ([`Container::stdout`](crate::Container::stdout),
/// [`File::contents`](crate::File::contents), ...) return it, and a module function
/// returns it to fail: the host reports it to the caller as it is. Match on it to handle a
/// failure, for example a test command that is allowed to fail:
///
/// ```no_run
/// use tanto_sdk::{Error, dag};
///
/// let tests = dag().container().from("rust:1").with_exec(["cargo", "test"]);
/// match tests.stdout() {
///     Ok(report) => println!("{report}"),
///     Err(Error::ExecFailed { exit_code, stderr_tail, .. }) => {
///         println!("tests failed with exit code {exit_code}:\n{stderr_tail}")
///     }
///     Err(other) => return Err(other),
/// }
/// # Ok::<(), Error>(())
/// ```
///
/// A module's own failures become [`Error::Failed`] through [`Error::msg`],
/// `From<String>` and `From<&str>`, so `?` works on them:
///
/// ```
/// use tanto_sdk::{Error, Result};
///
/// fn parse_port(text: &str) -> Result<i64> {
///     let port: i64 = text.parse().map_err(Error::msg)?;
///     if !(1..=65535).contains(&port) {
///         return Err(format!("port {port} is out of range 1-65535").into());
///     }
///     Ok(port)
/// }
/// assert!(parse_port("80").is_ok());
/// assert!(matches!(parse_port("http"), Err(Error::Failed(_))));
/// ```
///
/// Later versions of the contract add variants, so a `match` on it ends with a
/// catch-all arm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A command ended with an exit code its [`Expect`](crate::Expect) did not allow.
    #[error("{}", describe_exec_failure(.command, .exit_code, .stderr_tail))]
    ExecFailed {
        /// The command as run (entrypoint included when it was used).
        command: Vec<String>,
        /// The exit code the command ended with.
        exit_code: i32,
        /// The last lines of the command's standard output.
        stdout_tail: String,
        /// The last lines of the command's standard error.
        stderr_tail: String,
    },
    /// A path, image or function does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// An argument or value was rejected.
    #[error("{0}")]
    InvalidArgument(String),
    /// The container backend failed (Docker unreachable, commit failed, ...).
    #[error("backend error: {0}")]
    Backend(String),
    /// The operation was cancelled (Ctrl-C, a deadline).
    #[error("cancelled: {0}")]
    Cancelled(String),
    /// A module's own failure ([`Error::msg`], `?` on a `String` or `&str` error).
    #[error("{0}")]
    Failed(String),
}

impl Error {
    /// A module's own failure with `message`, reported as [`Error::Failed`].
    ///
    /// Takes anything `Display`, so `.map_err(Error::msg)?` turns the errors of other
    /// crates (parsers, formatters, ...) into this one.
    pub fn msg(message: impl Display) -> Self {
        Error::Failed(message.to_string())
    }
}

impl From<String> for Error {
    /// A module's own failure, as [`Error::msg`].
    fn from(message: String) -> Self {
        Error::Failed(message)
    }
}

impl From<&str> for Error {
    /// A module's own failure, as [`Error::msg`].
    fn from(message: &str) -> Self {
        Error::Failed(message.to_owned())
    }
}

impl From<wit::Error> for Error {
    fn from(error: wit::Error) -> Self {
        match error {
            wit::Error::ExecFailed(failure) => Error::ExecFailed {
                command: failure.command,
                exit_code: failure.exit_code,
                stdout_tail: failure.stdout_tail,
                stderr_tail: failure.stderr_tail,
            },
            wit::Error::NotFound(message) => Error::NotFound(message),
            wit::Error::InvalidArgument(message) => Error::InvalidArgument(message),
            wit::Error::Backend(message) => Error::Backend(message),
            wit::Error::Cancelled(message) => Error::Cancelled(message),
            wit::Error::Failed(message) => Error::Failed(message),
        }
    }
}

impl From<Error> for wit::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::ExecFailed {
                command,
                exit_code,
                stdout_tail,
                stderr_tail,
            } => wit::Error::ExecFailed(wit::ExecFailure {
                command,
                exit_code,
                stdout_tail,
                stderr_tail,
            }),
            Error::NotFound(message) => wit::Error::NotFound(message),
            Error::InvalidArgument(message) => wit::Error::InvalidArgument(message),
            Error::Backend(message) => wit::Error::Backend(message),
            Error::Cancelled(message) => wit::Error::Cancelled(message),
            Error::Failed(message) => wit::Error::Failed(message),
        }
    }
}

/// `command `make test` exited with code 2:` followed by the standard error tail, which
/// is where a failing command usually says why.
fn describe_exec_failure(command: &[String], exit_code: &i32, stderr_tail: &str) -> String {
    let mut text = format!("command `{}` exited with code {exit_code}", ShellWords(command));
    let stderr_tail = stderr_tail.trim_end();
    if stderr_tail.is_empty() {
        text.push_str(" (no standard error output)");
    } else {
        text.push_str(":\n");
        text.push_str(stderr_tail);
    }
    text
}

/// A command displayed the way a shell user would type it, quoting the arguments that
/// need it, so the reader can tell `["sh", "-c", "exit 1"]` from `["sh", "-c", "exit", "1"]`.
struct ShellWords<'a>(&'a [String]);

impl Display for ShellWords<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, word) in self.0.iter().enumerate() {
            if index > 0 {
                formatter.write_str(" ")?;
            }
            let plain = !word.is_empty()
                && word
                    .chars()
                    .all(|character| character.is_ascii_alphanumeric() || "-_./=:,+@%^".contains(character));
            if plain {
                formatter.write_str(word)?;
            } else {
                write!(formatter, "'{}'", word.replace('\'', r"'\''"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_failure_shows_command_exit_code_and_stderr() {
        let error = Error::ExecFailed {
            command: vec!["sh".into(), "-c".into(), "echo oops >&2; exit 3".into()],
            exit_code: 3,
            stdout_tail: String::new(),
            stderr_tail: "oops\n".into(),
        };
        assert_eq!(error.to_string(), "command `sh -c 'echo oops >&2; exit 3'` exited with code 3:\noops");
    }

    #[test]
    fn exec_failure_without_stderr_says_so() {
        let error = Error::ExecFailed {
            command: vec!["false".into(), String::new(), "it's".into()],
            exit_code: 1,
            stdout_tail: "ignored".into(),
            stderr_tail: String::new(),
        };
        assert_eq!(error.to_string(), r"command `false '' 'it'\''s'` exited with code 1 (no standard error output)");
    }

    #[test]
    fn module_failures_are_failed() {
        assert_eq!(Error::msg(format_args!("bad {}", 1)), Error::Failed("bad 1".into()));
        assert_eq!(Error::from("bad"), Error::Failed("bad".into()));
        assert_eq!(Error::from(String::from("bad")), Error::Failed("bad".into()));
    }

    #[test]
    fn wit_errors_round_trip() {
        let error = Error::ExecFailed {
            command: vec!["false".into()],
            exit_code: 1,
            stdout_tail: "out".into(),
            stderr_tail: "err".into(),
        };
        assert_eq!(Error::from(wit::Error::from(error.clone())), error);
        let error = Error::Cancelled("deadline".into());
        assert_eq!(Error::from(wit::Error::from(error.clone())), error);
    }
}
