//! Where a secret argument's value comes from: `env://NAME` (an environment variable of
//! the caller), `file://PATH` (a file's contents), `cmd://"COMMAND"` (what a command run
//! by `sh -c` prints, without its last line break), and Dagger's `env:NAME`,
//! `file:PATH`, `cmd:COMMAND` spellings of the same.

use std::path::Path;

/// A secret reference that names no value, or whose value could not be read. Never
/// holds the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("expected env://NAME, file://PATH or cmd://\"COMMAND\" (or env:NAME, file:PATH, cmd:COMMAND), got {0:?}")]
    Unknown(String),
    #[error("the environment variable {0} is not set")]
    MissingVariable(String),
    #[error("the environment variable {0} is not UTF-8")]
    VariableNotText(String),
    #[error("cannot read {path}: {reason}")]
    File { path: String, reason: String },
    #[error("the secret command {command:?} failed: {reason}")]
    Command { command: String, reason: String },
}

/// Where a secret's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    Env(String),
    File(String),
    Command(String),
}

impl Provider {
    /// Parses a reference. A value in the clear is refused: it would stay in the
    /// shell's history and the process list.
    pub fn parse(reference: &str) -> Result<Provider, ProviderError> {
        let (scheme, rest) = reference.split_once(':').ok_or_else(|| ProviderError::Unknown(shown(reference)))?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let provider = match scheme {
            "env" => Provider::Env(rest.to_string()),
            "file" => Provider::File(rest.to_string()),
            "cmd" => Provider::Command(unquote(rest).to_string()),
            _ => return Err(ProviderError::Unknown(shown(reference))),
        };
        match &provider {
            Provider::Env(text) | Provider::File(text) | Provider::Command(text) if text.trim().is_empty() => Err(ProviderError::Unknown(shown(reference))),
            _ => Ok(provider),
        }
    }

    /// Reads the value: relative files are resolved against `working_dir`, commands run
    /// there.
    pub fn read(&self, working_dir: &Path) -> Result<String, ProviderError> {
        match self {
            Provider::Env(name) => match std::env::var(name) {
                Ok(value) => Ok(value),
                Err(std::env::VarError::NotPresent) => Err(ProviderError::MissingVariable(name.clone())),
                Err(std::env::VarError::NotUnicode(_)) => Err(ProviderError::VariableNotText(name.clone())),
            },
            Provider::File(path) => {
                let full = working_dir.join(path);
                let bytes = std::fs::read(&full).map_err(|error| ProviderError::File {
                    path: full.display().to_string(),
                    reason: error.to_string(),
                })?;
                String::from_utf8(bytes).map_err(|_| ProviderError::File {
                    path: full.display().to_string(),
                    reason: "it is not UTF-8 text".into(),
                })
            }
            Provider::Command(command) => {
                let failed = |reason: String| ProviderError::Command {
                    command: command.clone(),
                    reason,
                };
                let output = std::process::Command::new("sh")
                    .arg("-c")
                    .arg(command)
                    .current_dir(working_dir)
                    .stdin(std::process::Stdio::null())
                    .stderr(std::process::Stdio::inherit())
                    .output()
                    .map_err(|error| failed(error.to_string()))?;
                if !output.status.success() {
                    return Err(failed(format!("it exited with {}", output.status)));
                }
                let mut value = String::from_utf8(output.stdout).map_err(|_| failed("it printed something that is not UTF-8 text".into()))?;
                if value.ends_with('\n') {
                    value.pop();
                    if value.ends_with('\r') {
                        value.pop();
                    }
                }
                Ok(value)
            }
        }
    }
}

/// `"COMMAND"` or `'COMMAND'` without its quotes (a shell passes them on when they are
/// escaped or nested).
fn unquote(text: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = text.strip_prefix(quote).and_then(|inner| inner.strip_suffix(quote)) {
            return inner;
        }
    }
    text
}

/// A reference as shown in an error: it is not a secret, but cut to a readable length.
fn shown(reference: &str) -> String {
    reference.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_spellings() {
        assert_eq!(Provider::parse("env://TOKEN"), Ok(Provider::Env("TOKEN".into())));
        assert_eq!(Provider::parse("env:TOKEN"), Ok(Provider::Env("TOKEN".into())));
        assert_eq!(Provider::parse("file://./key.pem"), Ok(Provider::File("./key.pem".into())));
        assert_eq!(Provider::parse("file:/etc/key"), Ok(Provider::File("/etc/key".into())));
        assert_eq!(Provider::parse("cmd://\"pass show ci\""), Ok(Provider::Command("pass show ci".into())));
        assert_eq!(Provider::parse("cmd:echo hi"), Ok(Provider::Command("echo hi".into())));
        assert!(Provider::parse("hunter2").is_err());
        assert!(Provider::parse("vault://x").is_err());
        assert!(Provider::parse("env://").is_err());
    }

    #[test]
    fn reads_commands_and_files() {
        let folder = tempfile::tempdir().unwrap();
        std::fs::write(folder.path().join("value"), "from-a-file\n").unwrap();
        assert_eq!(Provider::File("value".into()).read(folder.path()).unwrap(), "from-a-file\n");
        assert_eq!(Provider::Command("printf 'two\\nlines\\n'".into()).read(folder.path()).unwrap(), "two\nlines");
        let error = Provider::Command("exit 3".into()).read(folder.path()).unwrap_err();
        assert!(error.to_string().contains("exit status: 3"), "{error}");
        assert!(matches!(
            Provider::Env("TANTO_SURELY_UNSET_VARIABLE".into()).read(folder.path()),
            Err(ProviderError::MissingVariable(_))
        ));
    }
}
