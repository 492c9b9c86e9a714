//! `tanto.toml`: the schema (serde types, no I/O) and its reading.

use std::path::{Path, PathBuf};

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tanto_registry::schema::manifest::Dependencies;

use crate::error::{Diagnose, ErrorKind, Hint};
use crate::runtime::Limits;

/// The manifest file name.
pub const MANIFEST_NAME: &str = "tanto.toml";

/// The language a module is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sdk {
    Rust,
    /// Built with componentize-py from the folder's `main.py` (see [`super::python`]).
    Python,
    /// Built by the module's own tools (componentize-js), which tanto does not run: the
    /// manifest names the component (`component = "..."`).
    Javascript,
    /// Built by the module's own tools (clang, wasi-libc), as for JavaScript.
    C,
}

impl Sdk {
    /// Whether tanto builds modules in this language from source; other modules name
    /// their prebuilt component.
    pub fn builds_from_source(self) -> bool {
        matches!(self, Sdk::Rust | Sdk::Python)
    }
}

impl std::fmt::Display for Sdk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Sdk::Rust => "rust",
            Sdk::Python => "python",
            Sdk::Javascript => "javascript",
            Sdk::C => "c",
        })
    }
}

/// Limits the module sets on its own sandbox. They can only lower what the caller grants
/// (its flags or the defaults), never raise it: the effective limit is the smaller.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LimitsManifest {
    /// Guest CPU seconds per call (time waiting for containers is not counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_seconds: Option<f64>,
    /// Most memory the module may make the host hold, in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    /// Wall-clock limit of one call (`90s`, `30m`, `2h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// `[cache]` of `tanto.toml`: where steps are shared, as `registry://HOST/REPO`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CacheManifest {
    /// Pushes the steps of each run there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Pulls steps not in the local cache from there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// A `[limits]` value that is not a usable limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidLimit {
    /// The key, as written in tanto.toml.
    pub key: &'static str,
    pub reason: String,
}

/// The limits of a `[limits]` table, checked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModuleLimits {
    pub cpu_time: Option<Duration>,
    pub memory_bytes: Option<usize>,
    pub timeout: Option<Duration>,
}

impl LimitsManifest {
    /// The limits as durations and bytes, or the first key whose value is unusable
    /// (negative, not a number, infinite, absurdly large).
    pub fn checked(&self) -> Result<ModuleLimits, InvalidLimit> {
        let invalid = |key: &'static str| {
            move |error: crate::runtime::LimitError| InvalidLimit {
                key,
                reason: error.to_string(),
            }
        };
        Ok(ModuleLimits {
            cpu_time: self
                .cpu_seconds
                .map(Limits::cpu_time_from_seconds)
                .transpose()
                .map_err(invalid("cpu-seconds"))?,
            memory_bytes: self.memory_mib.map(Limits::memory_bytes_from_mib).transpose().map_err(invalid("memory-mib"))?,
            timeout: self.timeout.as_deref().map(Limits::timeout_from_text).transpose().map_err(invalid("timeout"))?,
        })
    }
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
    /// The shared cache in a registry (`[cache]`); flags and `TANTO_CACHE_TO`/`_FROM`
    /// take precedence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheManifest>,
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
    #[error("{path}: `[limits] {key}`: {reason}")]
    InvalidLimit { path: PathBuf, key: &'static str, reason: String },
    #[error("no tanto.toml or .tanto/tanto.toml in {start} or any folder above it")]
    NotFound { start: PathBuf },
}

impl Diagnose for ManifestError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::User
    }

    fn hint(&self) -> Option<Hint> {
        match self {
            ManifestError::NotFound { .. } => Some(Hint::CreateModule),
            ManifestError::Parse { .. } => Some(Hint::FixManifestLine),
            ManifestError::Read { .. } => None,
            ManifestError::InvalidLimit { .. } => Some(Hint::ManifestLimits),
        }
    }
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
        if !manifest.sdk.builds_from_source() && manifest.component.is_none() {
            return Err(ManifestError::Parse {
                path: path.to_path_buf(),
                message: format!(
                    "`sdk = \"{}\"`: tanto does not build such a module; build it with its own tools and name the component, e.g. `component = \"build/{}.wasm\"`",
                    manifest.sdk, manifest.name
                ),
            });
        }
        if let Some(limits) = &manifest.limits {
            limits.checked().map_err(|InvalidLimit { key, reason }| ManifestError::InvalidLimit {
                path: path.to_path_buf(),
                key,
                reason,
            })?;
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

/// The folder a project keeps its CI module in, as Dagger keeps its in `.dagger/`: a
/// repository's own files stay where they are and the module lives beside them.
pub const PROJECT_MODULE_DIR: &str = ".tanto";

/// The module folder of `dir`: `dir` itself when it holds a `tanto.toml`, else its
/// `.tanto/` when that holds one.
pub fn module_in(dir: &Path) -> Option<PathBuf> {
    if dir.join(MANIFEST_NAME).is_file() {
        return Some(dir.to_path_buf());
    }
    let project_module = dir.join(PROJECT_MODULE_DIR);
    project_module.join(MANIFEST_NAME).is_file().then_some(project_module)
}

/// The nearest module at or above `start`: at each folder, a `tanto.toml` there first,
/// then one in its `.tanto/`, so a call from anywhere in a project finds its module.
pub fn find_module_root(start: &Path) -> Result<PathBuf, ManifestError> {
    let start = std::path::absolute(start).unwrap_or_else(|_| start.to_path_buf());
    let mut current = Some(start.as_path());
    while let Some(dir) = current {
        if let Some(root) = module_in(dir) {
            return Ok(root);
        }
        current = dir.parent();
    }
    Err(ManifestError::NotFound { start })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_module_is_found_from_anywhere_in_the_project() {
        let project = tempfile::tempdir().unwrap();
        let module = project.path().join(PROJECT_MODULE_DIR);
        std::fs::create_dir_all(&module).unwrap();
        std::fs::write(module.join(MANIFEST_NAME), "name = \"ci\"\nsdk = \"rust\"\n").unwrap();
        let deep = project.path().join("src/nested");
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(find_module_root(&deep).unwrap(), module);
        assert_eq!(find_module_root(project.path()).unwrap(), module);
        // A module folder of its own inside the project is nearer, and wins.
        std::fs::write(deep.join(MANIFEST_NAME), "name = \"own\"\nsdk = \"rust\"\n").unwrap();
        assert_eq!(find_module_root(&deep).unwrap(), deep);
    }

    #[test]
    fn parses_a_minimal_manifest() {
        let manifest = Manifest::parse(Path::new("tanto.toml"), "name = \"hello\"\nsdk = \"rust\"\n").unwrap();
        assert_eq!(manifest.name, "hello");
        assert_eq!(manifest.sdk, Sdk::Rust);
        assert_eq!(manifest.source, PathBuf::from("."));
        assert_eq!(Manifest::parse(Path::new("t"), &manifest.to_toml()).unwrap(), manifest);
    }

    #[test]
    fn a_module_tanto_does_not_build_names_its_component() {
        let text = "name = \"checksums\"\nsdk = \"javascript\"\ncomponent = \"build/checksums.wasm\"\n";
        let manifest = Manifest::parse(Path::new("t"), text).unwrap();
        assert_eq!(
            (manifest.sdk, manifest.component.as_deref()),
            (Sdk::Javascript, Some(Path::new("build/checksums.wasm")))
        );
        let error = Manifest::parse(Path::new("tanto.toml"), "name = \"checksums\"\nsdk = \"c\"\n").unwrap_err();
        assert!(error.to_string().contains("component = \"build/checksums.wasm\""), "{error}");
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

    fn limits_error(limits: &str) -> String {
        let text = format!("name = \"hello\"\nsdk = \"rust\"\n\n[limits]\n{limits}\n");
        match Manifest::parse(Path::new("mod/tanto.toml"), &text) {
            Err(error @ ManifestError::InvalidLimit { .. }) => error.to_string(),
            other => panic!("{limits}: expected an invalid limit, got {other:?}"),
        }
    }

    #[test]
    fn unusable_limits_are_refused_naming_the_file_and_key() {
        assert_eq!(
            limits_error("cpu-seconds = 1e300"),
            "mod/tanto.toml: `[limits] cpu-seconds`: `1e300` seconds is more than the maximum of 604800 (a week)"
        );
        assert_eq!(
            limits_error("cpu-seconds = -1.0"),
            "mod/tanto.toml: `[limits] cpu-seconds`: `-1` is not a positive number of seconds"
        );
        assert_eq!(
            limits_error("cpu-seconds = nan"),
            "mod/tanto.toml: `[limits] cpu-seconds`: `NaN` is not a positive number of seconds"
        );
        assert_eq!(
            limits_error("cpu-seconds = inf"),
            "mod/tanto.toml: `[limits] cpu-seconds`: `inf` is not a positive number of seconds"
        );
        assert_eq!(
            limits_error("memory-mib = 0"),
            "mod/tanto.toml: `[limits] memory-mib`: `0` MiB leaves no memory at all: give at least 1"
        );
        assert_eq!(
            limits_error("memory-mib = 18446744073709551615"),
            "mod/tanto.toml: `[limits] memory-mib`: `18446744073709551615` MiB is more than the maximum of 65536 (64 GiB)"
        );
        assert_eq!(
            limits_error("timeout = \"99999999999999999999d\""),
            "mod/tanto.toml: `[limits] timeout`: `99999999999999999999d` is not a duration such as 90s, 30m or 2h"
        );
        assert_eq!(
            limits_error("timeout = \"9999999d\""),
            "mod/tanto.toml: `[limits] timeout`: `9999999d` is more than the maximum of 7d"
        );
        // Negative numbers of MiB are not numbers of MiB at all: TOML's error shows the line.
        let error = Manifest::parse(Path::new("t"), "name = \"a\"\nsdk = \"rust\"\n[limits]\nmemory-mib = -5\n").unwrap_err();
        assert!(matches!(error, ManifestError::Parse { .. }) && error.to_string().contains("line 4"), "{error}");
    }

    #[test]
    fn usable_limits_are_read() {
        let text = "name = \"a\"\nsdk = \"rust\"\n[limits]\ncpu-seconds = 2.5\nmemory-mib = 64\ntimeout = \"90s\"\n";
        let manifest = Manifest::parse(Path::new("t"), text).unwrap();
        let limits = manifest.limits.as_ref().unwrap().checked().unwrap();
        assert_eq!(
            limits,
            ModuleLimits {
                cpu_time: Some(Duration::from_millis(2500)),
                memory_bytes: Some(64 << 20),
                timeout: Some(Duration::from_secs(90)),
            }
        );
        assert_eq!(Manifest::parse(Path::new("t"), &manifest.to_toml()).unwrap(), manifest);
    }
}
