//! `tanto version`: what this tanto is made of and what it talks to, for bug reports.

use std::time::Duration;

use crate::backend::Backend as _;
use crate::backend::docker::{DockerBackend, EngineVersion};
use crate::runtime::ApiVersion;

/// How long the daemon may take to answer before it is reported unreachable: a
/// `DOCKER_HOST` naming a silent machine must not hang `tanto version`.
const DAEMON_TIMEOUT: Duration = Duration::from_secs(5);

/// What `tanto version` reports.
#[derive(Clone, Debug)]
pub struct VersionReport {
    /// tanto's own version (the crate's).
    pub tanto: &'static str,
    /// Every version of the `tanto:core` API this tanto serves, oldest first.
    pub apis: Vec<ApiVersion>,
    /// The wasmtime that runs modules.
    pub wasmtime: &'static str,
    /// The Docker daemon's address.
    pub docker_address: String,
    /// Its version, or why it could not be asked.
    pub docker: Result<EngineVersion, String>,
}

/// Collects the versions; asks the Docker daemon, which may be unreachable (never an
/// error: the report says so).
pub async fn version() -> VersionReport {
    // No session: asking the daemon its version creates nothing and needs no cache lock.
    let backend = DockerBackend::new("version");
    let docker = match tokio::time::timeout(DAEMON_TIMEOUT, backend.engine_version()).await {
        Ok(Ok(version)) => Ok(version),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no answer within {} s", DAEMON_TIMEOUT.as_secs())),
    };
    VersionReport {
        tanto: env!("CARGO_PKG_VERSION"),
        apis: ApiVersion::SERVED.to_vec(),
        wasmtime: wasmtime_environ::VERSION,
        docker_address: backend.address(),
        docker,
    }
}
