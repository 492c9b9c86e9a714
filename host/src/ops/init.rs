//! `tanto init`: a new module that builds and runs as is, anywhere.
//!
//! The Rust SDK is vendored into the module (`sdk/`), from a copy embedded in this
//! binary, as Dagger vendors its generated SDK code: a module made here builds on any
//! machine with Rust and the `wasm32-wasip2` target, in any repository, without a
//! checkout of tanto or a registry that publishes the SDK. `tanto develop` brings that
//! copy up to a newer tanto's ([`super::vendor`]).

use std::path::{Path, PathBuf};

use crate::error::{Diagnose, ErrorKind, Hint};
use crate::module::{MANIFEST_NAME, Manifest, ManifestError, PROJECT_MODULE_DIR, Sdk};

/// What to create.
#[derive(Clone, Debug)]
pub struct InitSettings {
    pub path: PathBuf,
    pub sdk: Sdk,
    pub name: Option<String>,
}

/// What was created.
#[derive(Clone, Debug)]
pub struct InitReport {
    pub root: PathBuf,
    pub name: String,
    pub placement: Placement,
    pub files: Vec<PathBuf>,
}

/// Why a module could not be created where it was asked for.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{} already has a {MANIFEST_NAME}", root.display())]
    ModuleExists { root: PathBuf },
    /// The name (given, or made from the folder's) is not a module name.
    #[error("{0}")]
    InvalidName(ManifestError),
    #[error("{} already has a Cargo.toml", root.display())]
    CargoProjectExists { root: PathBuf },
    #[error("{} already has a main.py", root.display())]
    PythonMainExists { root: PathBuf },
    #[error("{} already has a package.json", root.display())]
    PackageJsonExists { root: PathBuf },
    #[error("cannot write {}: {error}", path.display())]
    Write { path: PathBuf, error: std::io::Error },
}

impl Diagnose for InitError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::User
    }

    fn hint(&self) -> Option<Hint> {
        Some(match self {
            InitError::ModuleExists { .. } => Hint::ChooseAnotherFolder,
            InitError::InvalidName(_) => Hint::NameTheModule,
            InitError::CargoProjectExists { .. } | InitError::PythonMainExists { .. } | InitError::PackageJsonExists { .. } => Hint::InitInNewFolder,
            InitError::Write { .. } => Hint::WritableFolder,
        })
    }
}

/// The Rust SDK's sources, as `(path under sdk/, contents)`. [`super::vendor`] derives
/// everything else from this list and the `Cargo.toml` in it (the SDK's version, the
/// checksums it records, the files an update removes).
pub const RUST_SDK_FILES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../../../guest-sdk/Cargo.toml")),
    ("src/lib.rs", include_str!("../../../guest-sdk/src/lib.rs")),
    ("src/error.rs", include_str!("../../../guest-sdk/src/error.rs")),
    ("src/export.rs", include_str!("../../../guest-sdk/src/export.rs")),
    ("src/objects.rs", include_str!("../../../guest-sdk/src/objects.rs")),
    ("src/schema.rs", include_str!("../../../guest-sdk/src/schema.rs")),
    ("src/value.rs", include_str!("../../../guest-sdk/src/value.rs")),
    ("macros/Cargo.toml", include_str!("../../../guest-sdk/macros/Cargo.toml")),
    ("macros/src/lib.rs", include_str!("../../../guest-sdk/macros/src/lib.rs")),
    ("macros/src/types.rs", include_str!("../../../guest-sdk/macros/src/types.rs")),
    ("wit/0.1.0/tanto.wit", include_str!("../../../wit/0.1.0/tanto.wit")),
    ("wit/0.2.0/tanto.wit", include_str!("../../../wit/0.2.0/tanto.wit")),
];

/// The API a JavaScript module is built against, kept in the module for componentize-js.
const JAVASCRIPT_WIT: &str = "wit/tanto.wit";
const WIT_0_2: &str = include_str!("../../../wit/0.2.0/tanto.wit");

/// The module `tanto init --sdk=javascript` writes: its functions in a table, and the
/// `guest` interface (schema and dispatch) made from it.
const JAVASCRIPT_MODULE: &str = include_str!("templates/module.js");

/// The componentize-js a JavaScript module builds with: the versions
/// `modules/examples/javascript` pins (a test keeps them equal).
const COMPONENTIZE_JS_VERSION: &str = "0.23.0";
const PREVIEW2_SHIM_VERSION: &str = "0.25.0";

/// A valid module name from a folder name: lowercase, `-` for anything else.
fn name_from_folder(folder: &Path) -> String {
    let raw = folder.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let mut name: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect();
    name = name.trim_matches('-').to_string();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("module-{name}").trim_end_matches('-').to_string()
    } else {
        name
    }
}

/// Creates a module in `settings.path`.
pub fn init(settings: InitSettings) -> anyhow::Result<InitReport> {
    let InitSettings { path, sdk, name } = settings;
    let unwritable = |path: &Path| {
        let path = path.to_path_buf();
        move |error| InitError::Write { path, error }
    };
    std::fs::create_dir_all(&path).map_err(unwritable(&path))?;
    let folder = std::path::absolute(&path).map_err(unwritable(&path))?;
    if folder.join(MANIFEST_NAME).exists() {
        return Err(InitError::ModuleExists { root: folder }.into());
    }
    let placement = placement(&folder).map_err(unwritable(&folder))?;
    let root = match placement {
        Placement::Folder => folder.clone(),
        Placement::Project => folder.join(PROJECT_MODULE_DIR),
    };
    if root.join(MANIFEST_NAME).exists() {
        return Err(InitError::ModuleExists { root }.into());
    }
    // A project's module is named after the project, not after `.tanto`.
    let name = name.unwrap_or_else(|| name_from_folder(&folder));
    let manifest = Manifest {
        name: name.clone(),
        sdk,
        source: PathBuf::from("."),
        // tanto does not run componentize-js: the module's `npm run build` writes this.
        component: (sdk == Sdk::Javascript).then(|| PathBuf::from(format!("build/{name}.wasm"))),
        limits: None,
        cache: None,
        dependencies: Default::default(),
    };
    // Validate the name the same way reading the manifest will.
    Manifest::parse(&root.join(MANIFEST_NAME), &manifest.to_toml()).map_err(InitError::InvalidName)?;
    if sdk == Sdk::Rust && root.join("Cargo.toml").exists() {
        return Err(InitError::CargoProjectExists { root }.into());
    }
    if sdk == Sdk::Python && root.join(crate::module::python::MAIN_FILE).exists() {
        return Err(InitError::PythonMainExists { root }.into());
    }
    if sdk == Sdk::Javascript && root.join("package.json").exists() {
        return Err(InitError::PackageJsonExists { root }.into());
    }

    let mut files = Vec::new();
    let mut write = |relative: &str, contents: String| -> anyhow::Result<()> {
        let target = root.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(unwritable(parent))?;
        }
        std::fs::write(&target, contents).map_err(unwritable(&target))?;
        files.push(target);
        Ok(())
    };
    write(MANIFEST_NAME, manifest.to_toml())?;
    if sdk == Sdk::Python {
        write(crate::module::python::MAIN_FILE, main_py(&name))?;
        write(crate::module::python::PYPROJECT_FILE, pyproject_toml(&name))?;
        write(".gitignore", "__pycache__/\n".to_string())?;
        return Ok(InitReport { root, name, placement, files });
    }
    if sdk == Sdk::Javascript {
        write("package.json", package_json(&name))?;
        write(&format!("src/{name}.js"), JAVASCRIPT_MODULE.replace("__MODULE_NAME__", &name))?;
        write(JAVASCRIPT_WIT, WIT_0_2.to_string())?;
        // The component stays tracked: a module installed from git runs the one it holds.
        write(".gitignore", "node_modules/\n".to_string())?;
        return Ok(InitReport { root, name, placement, files });
    }
    write("Cargo.toml", cargo_toml(&name))?;
    write("src/lib.rs", lib_rs(&name))?;
    write(super::develop::BINDINGS_FILE, super::develop::rust_bindings(&[])?)?;
    write(".gitignore", "/target\n".to_string())?;
    let sdk = root.join(super::vendor::SDK_DIR);
    files.extend(super::vendor::write_sdk(&sdk).map_err(unwritable(&sdk))?);
    Ok(InitReport { root, name, placement, files })
}

/// Where `tanto init` puts a module in an existing folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// The folder was new, empty, or a repository with nothing in it yet (only `.git`):
    /// the module is the folder, as a module published from its own repository is.
    Folder,
    /// The folder already holds a project (sources, anything besides `.git`): the module
    /// goes into its `.tanto/`, beside the project's files rather than among them, and
    /// `tanto call` finds it from anywhere in the project.
    Project,
}

/// The placement for `folder`: an entry besides `.git` makes it a project, since a
/// module written among its files could clash with them (a `Cargo.toml`, a `src/`).
fn placement(folder: &Path) -> std::io::Result<Placement> {
    for entry in std::fs::read_dir(folder)? {
        if entry?.file_name() != ".git" {
            return Ok(Placement::Project);
        }
    }
    Ok(Placement::Folder)
}

fn cargo_toml(name: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
tanto-sdk = {{ path = "sdk" }}

# A module is its own workspace, wherever it lives; the vendored SDK is a dependency,
# not a member (its dev-dependencies stay out of this module's Cargo.lock).
[workspace]
exclude = ["sdk"]

[profile.release]
opt-level = "s"
lto = true
strip = true
codegen-units = 1
"#
    )
}

fn lib_rs(name: &str) -> String {
    let type_name = super::develop::type_name(name);
    format!(
        r#"//! The `{name}` tanto module.

// Typed APIs of the dependencies in tanto.toml, written by `tanto develop` (and by
// `tanto install`): `dag().NAME().FUNCTION(...)`.
mod dependencies;
#[allow(unused_imports)]
use dependencies::Dependencies;
use tanto_sdk::{{Container, Directory, Result, dag}};

#[derive(Default)]
pub struct {type_name};

/// Functions of the {name} module.
#[tanto_sdk::module]
impl {type_name} {{
    /// Returns a container that echoes the given text.
    pub fn container_echo(&self, text: String) -> Container {{
        dag().container().from("busybox:latest").with_exec(["echo", text.as_str()])
    }}

    /// Returns the lines of the files in `directory` that match `pattern`.
    pub fn grep_dir(&self, directory: Directory, pattern: String) -> Result<String> {{
        dag()
            .container()
            .from("busybox:latest")
            .with_mounted_directory("/mnt", &directory)
            .with_workdir("/mnt")
            .with_exec(["grep", "-R", pattern.as_str(), "."])
            .stdout()
    }}
}}
"#
    )
}

fn package_json(name: &str) -> String {
    format!(
        r#"{{
  "name": "{name}",
  "private": true,
  "description": "The {name} tanto module",
  "type": "module",
  "scripts": {{
    "build": "mkdir -p build && componentize-js src/{name}.js --wit wit --world-name module --disable http fetch-event -o build/{name}.wasm"
  }},
  "devDependencies": {{
    "@bytecodealliance/componentize-js": "{COMPONENTIZE_JS_VERSION}",
    "@bytecodealliance/preview2-shim": "{PREVIEW2_SHIM_VERSION}"
  }}
}}
"#
    )
}

/// Where a Python user lists packages (PEP 621); tanto bundles those into the component.
fn pyproject_toml(name: &str) -> String {
    format!(
        r#"[project]
name = "{name}"
version = "0.1.0"
# Pure-Python packages the module imports, bundled into its component by `tanto call`
# (pip, wheels only), e.g. "pyyaml==6.0.2" or "name @ file:///path/to/name-1.0-py3-none-any.whl".
dependencies = []
"#
    )
}

fn main_py(name: &str) -> String {
    let class_name = super::develop::type_name(name);
    format!(
        r#""""The `{name}` tanto module."""

from typing import Optional

import tanto
from tanto import Container, Directory, dag


@tanto.module(name="{name}")
class {class_name}:
    """Functions of the {name} module."""

    @tanto.function
    def container_echo(self, text: str) -> Container:
        """Returns a container that echoes the given text."""
        return dag().container().from_("busybox:latest").with_exec(["echo", text])

    @tanto.function
    def grep_dir(self, directory: Directory, pattern: str, path: Optional[str] = None) -> str:
        """Returns the lines of the files in `directory` that match `pattern`.

        Args:
            directory: the files to search
            pattern: what to look for (a grep pattern)
            path: only search this subfolder
        """
        return (
            dag()
            .container()
            .from_("busybox:latest")
            .with_mounted_directory("/mnt", directory)
            .with_workdir("/mnt")
            .with_exec(["grep", "-R", pattern, path or "."])
            .stdout()
        )
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every source file of the SDK must be embedded, or `tanto init` writes a broken SDK.
    #[test]
    fn every_sdk_source_is_embedded() {
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk");
        for folder in ["src", "macros/src"] {
            for entry in std::fs::read_dir(sdk.join(folder)).unwrap() {
                let path = entry.unwrap().path();
                let relative = path.strip_prefix(&sdk).unwrap().to_string_lossy().into_owned();
                assert!(
                    RUST_SDK_FILES.iter().any(|(embedded, _)| *embedded == relative),
                    "guest-sdk/{relative} is not in RUST_SDK_FILES"
                );
            }
        }
    }

    /// A JavaScript module builds with the componentize-js the example pins (and
    /// `scripts/setup` installs), and the same flags.
    #[test]
    fn the_javascript_module_builds_as_the_example_does() {
        let example = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../modules/examples/javascript/package.json")).unwrap();
        let example: serde_json::Value = serde_json::from_str(&example).unwrap();
        let written: serde_json::Value = serde_json::from_str(&package_json("probe")).unwrap();
        assert_eq!(written["devDependencies"], example["devDependencies"]);
        let flags = |package: &serde_json::Value| {
            let build = package["scripts"]["build"].as_str().unwrap().to_owned();
            build[build.find("--world-name").unwrap()..build.find(" -o ").unwrap()].to_owned()
        };
        assert_eq!(flags(&written), flags(&example));
    }

    #[test]
    fn a_folder_with_files_is_a_project() {
        let folder = tempfile::tempdir().unwrap();
        assert_eq!(placement(folder.path()).unwrap(), Placement::Folder);
        std::fs::create_dir(folder.path().join(".git")).unwrap();
        assert_eq!(placement(folder.path()).unwrap(), Placement::Folder, "a new repository becomes the module");
        std::fs::write(folder.path().join("main.c"), "").unwrap();
        assert_eq!(placement(folder.path()).unwrap(), Placement::Project);
    }

    #[test]
    fn names_come_from_the_folder() {
        assert_eq!(name_from_folder(Path::new("/x/My Module")), "my-module");
        assert_eq!(name_from_folder(Path::new("/x/9lives")), "module-9lives");
        assert_eq!(super::super::develop::type_name("my-cool_mod"), "MyCoolMod");
    }
}
