//! What the commands do, as library functions: each CLI command builds a settings
//! struct and calls one function here.

pub mod cache;
pub mod call;
pub mod deps;
pub mod develop;
pub mod init;
pub mod install;
pub mod module_cache;
pub mod publish;
pub mod python_client;
mod session;
pub mod vendor;
pub mod version;

pub use self::session::{LoadedSchema, ModuleLocation, Session, SessionSettings};
