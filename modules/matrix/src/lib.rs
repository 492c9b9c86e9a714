//! A test matrix run in parallel. A module runs on one thread, so independent branches
//! of a pipeline run at once only when the module hands them to the host together:
//! `dag().sync_all(...)`.

use tanto_sdk::{Container, Result, Sharing, dag};

#[derive(Default)]
struct Matrix;

/// Runs one job per matrix entry, all at once.
#[tanto_sdk::module]
impl Matrix {
    /// Runs `command` once per entry of `entries` (each sees `$ENTRY`), in parallel, and
    /// returns each job's output in the order of `entries`.
    pub fn run(
        &self,
        #[arg(description = "the matrix entries, e.g. 1.21,1.22,1.23")] entries: Vec<String>,
        #[arg(description = "the shell command every job runs", default = "echo tested $ENTRY")] command: String,
    ) -> Result<Vec<String>> {
        // One download cache shared by every job, as a package cache would be.
        let cache = dag().cache_volume("matrix-downloads");
        let jobs: Vec<Container> = entries
            .iter()
            .map(|entry| {
                dag()
                    .container()
                    .from("busybox:latest")
                    .with_mounted_cache("/cache", &cache, Sharing::Shared)
                    .with_env_variable("ENTRY", entry.as_str())
                    .with_exec(["sh", "-c", command.as_str()])
            })
            .collect();
        dag().sync_all(&jobs)?;
        jobs.iter().map(|job| job.stdout().map(|output| output.trim_end().to_string())).collect()
    }
}
