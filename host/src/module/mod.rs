//! Modules as users see them: the `tanto.toml` manifest (and editing its dependencies in
//! place), building a module's component from source, and typing command-line arguments
//! from a module's schema.

pub mod args;
pub mod build;
pub mod chain;
pub mod edit;
pub mod manifest;
pub mod python;
pub mod sandbox;

pub use self::manifest::{MANIFEST_NAME, Manifest, ManifestError, PROJECT_MODULE_DIR, Sdk, find_module_root, module_in};
