//! Pipelines the benchmarks time against their plain-Docker and BuildKit equivalents.

use tanto_sdk::{Container, Directory, Result, dag};

#[derive(Default)]
struct Bench;

/// Benchmark pipelines.
#[tanto_sdk::module]
impl Bench {
    /// Three dependent `with-exec` steps in busybox; `nonce` makes every run new.
    pub fn three_steps(&self, nonce: String) -> Result<String> {
        dag()
            .container()
            .from("busybox:latest")
            .with_exec(["sh", "-c", "echo one $0 > /one", nonce.as_str()])
            .with_exec(["sh", "-c", "echo two $0 > /two", nonce.as_str()])
            .with_exec(["sh", "-c", "cat /one /two"])
            .stdout()
    }

    /// `source` copied to /src, then `steps` steps that each read it and write a result;
    /// the same pipeline as benches/Dockerfile.build.
    pub fn build(&self, source: Directory, steps: i64) -> Result<String> {
        let mut container: Container = dag().container().from("busybox:latest").with_exec(["sh", "-c", "sleep 1 && echo toolchain > /toolchain"]);
        container = container.with_directory("/src", &source).with_workdir("/src");
        for step in 1..=steps {
            container = container.with_exec(["sh", "-c", &format!("cat /src/*.txt | wc -c > /step{step} && sleep 0.2")]);
        }
        container.with_exec(["sh", "-c", "cat /step*"]).stdout()
    }
}
