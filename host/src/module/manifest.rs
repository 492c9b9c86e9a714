//! `tanto.toml`: the schema (serde types, no I/O) and its reading.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tanto_registry::schema::manifest::Dependencies;

/// The manifest file name.
pub const MANIFEST_NAME: &str = "tanto.toml";

/// The language a module is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sdk {
    Rust,
}

impl std::fmt::Display for Sdk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Sdk::Rust => "rust",
        })
    }
}

/// Limits of the module's sandbox, overriding the defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LimitsManifest {
    /// Guest CPU seconds per call (time waiting for containers is not counted).
    pub cpu_seconds: Option<f64>,
    /// Maximum linear memory, in MiB.
    pub memory_mib: Option<u64>,
}

/// The contents of `tanto.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Manifest {
    /// The module's name, as callers know it.
    pub name: String,
    pub sdk: Sdk,
    /// The folder with the module's sources (its `Cargo.toml`), relative to the manifest.
    #[serde(default = "default_source", skip_serializing_if = "is_default_source")]
    pub source: PathBuf,
    /// A prebuilt component shipped with the module (relative to the manifest), used
    /// instead of building from source; `tanto.lock` pins its sha256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitsManifest>,
    /// Other modules this one calls, by the name it calls them with.
    #[serde(default, skip_serializing_if = "Dependencies::is_empty")]
    pub dependencies: Dependencies,
}

fn default_source() -> PathBuf {
    PathBuf::from(".")
}

fn is_default_source(path: &Path) -> bool {
    path == Path::new(".")
}

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid tanto.toml:\n{message}")]
    Parse { path: PathBuf, message: String },
    #[error("no tanto.toml in {start} or any folder above it")]
    NotFound { start: PathBuf },
}

impl Manifest {
    /// Parses manifest text; `path` names the file in errors, which show the line.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(|error| ManifestError::Parse {
            path: path.to_path_buf(),
            message: error.to_string(),
        })?;
        if manifest.name.trim().is_empty() || !manifest.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(ManifestError::Parse {
                path: path.to_path_buf(),
                message: format!("`name = {:?}`: a module name uses letters, digits, `-` and `_` only", manifest.name),
            });
        }
        Ok(manifest)
    }

    /// Reads `<dir>/tanto.toml`.
    pub fn read(dir: &Path) -> Result<Self, ManifestError> {
        let path = dir.join(MANIFEST_NAME);
        let text = std::fs::read_to_string(&path).map_err(|source| ManifestError::Read { path: path.clone(), source })?;
        Self::parse(&path, &text)
    }

    /// The manifest text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

/// The nearest folder at or above `start` that holds a `tanto.toml`.
pub fn find_module_root(start: &Path) -> Result<PathBuf, ManifestError> {
    let start = std::path::absolute(start).unwrap_or_else(|_| start.to_path_buf());
    let mut current = Some(start.as_path());
    while let Some(dir) = current {
        if dir.join(MANIFEST_NAME).is_file() {
            return Ok(dir.to_path_buf());
        }
        current = dir.parent();
    }
    Err(ManifestError::NotFound { start })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_minimal_manifest() {
        let manifest = Manifest::parse(Path::new("tanto.toml"), "name = \"hello\"\nsdk = \"rust\"\n").unwrap();
        assert_eq!(manifest.name, "hello");
        assert_eq!(manifest.sdk, Sdk::Rust);
        assert_eq!(manifest.source, PathBuf::from("."));
        assert_eq!(Manifest::parse(Path::new("t"), &manifest.to_toml()).unwrap(), manifest);
    }

    #[test]
    fn errors_name_the_line() {
        let error = Manifest::parse(Path::new("tanto.toml"), "name = \"hello\"\nsdk = \"cobol\"\n").unwrap_err();
        let message = error.to_string();
        assert!(message.contains("line 2"), "{message}");
        assert!(message.contains("cobol"), "{message}");
        let error = Manifest::parse(Path::new("tanto.toml"), "name = \"hello\"\nsdk = \"rust\"\nbogus = 1\n").unwrap_err();
        assert!(error.to_string().contains("bogus"));
    }
}
