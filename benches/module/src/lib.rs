//! Pipelines the benchmarks time against their plain-Docker and BuildKit equivalents.

use tanto_sdk::{Container, Directory, Result, Sharing, dag};

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
        let mut container: Container = dag()
            .container()
            .from("busybox:latest")
            .with_exec(["sh", "-c", "sleep 1 && echo toolchain > /toolchain"]);
        container = container.with_directory("/src", &source).with_workdir("/src");
        for step in 1..=steps {
            container = container.with_exec(["sh", "-c", &format!("cat /src/*.txt | wc -c > /step{step} && sleep 0.2")]);
        }
        container.with_exec(["sh", "-c", "cat /step*"]).stdout()
    }

    /// `branches` steps in parallel, each holding the same `locked` cache volume while it
    /// sleeps a second and writes `megabytes` MB into its snapshot; `nonce` makes every
    /// run new. How long a locked volume is held beyond its command (benches/locked.sh).
    pub fn locked_fan_out(&self, branches: i64, megabytes: i64, nonce: String) -> Result<String> {
        let cache = dag().cache_volume("tanto-bench-locked");
        let mut gathered = dag().container().from("busybox:latest");
        for branch in 0..branches {
            let script = format!("sleep 1 && head -c {megabytes}000000 /dev/urandom > /data && echo {branch} $0 > /done");
            let built = dag()
                .container()
                .from("busybox:latest")
                .with_mounted_cache("/cache", &cache, Sharing::Locked)
                .with_exec(["sh", "-c", script.as_str(), nonce.as_str()]);
            gathered = gathered.with_file(&format!("/done{branch}"), &built.file("/done"));
        }
        gathered.with_exec(["sh", "-c", "cat /done*"]).stdout()
    }

    /// The C benchmark of benches/c-project.sh, the same pipeline as its Dockerfile: `base`
    /// (a debootstrapped Debian) with gcc and make installed through an apt cache volume,
    /// then `source` (a C project) built with `make -j2 CFLAGS=<cflags>` and tested.
    pub fn c_build(&self, base: String, source: Directory, cflags: String) -> Result<String> {
        c_variant(&toolchain(&base), &source, &cflags).with_exec(["cat", "build/out.txt"]).stdout()
    }

    /// The C project built and tested in four variants (one per `-O` level) in parallel,
    /// their build folders then gathered into one container that runs every program.
    pub fn c_fan_out(&self, base: String, source: Directory) -> Result<String> {
        let toolchain = toolchain(&base);
        let mut gathered = toolchain.with_workdir("/");
        for level in FAN_OUT_LEVELS {
            let built = c_variant(&toolchain, &source, &format!("-{level}")).directory("/src/build");
            gathered = gathered.with_directory(&format!("/out/{level}"), &built);
        }
        gathered.with_exec(["sh", "-c", FAN_IN]).stdout()
    }
}

/// The `-O` levels of the fan-out; its Dockerfile has one stage per level, in this order.
const FAN_OUT_LEVELS: [&str; 4] = ["O0", "O1", "O2", "Os"];

/// The gathering step, word for word the Dockerfile's: how many distinct values the four
/// programs print (the same program whatever the level, so as many as one prints).
const FAN_IN: &str = "for v in /out/*; do $v/prog; done | sort -u | wc -l | tee /out/distinct";

/// `base` with gcc and make, downloaded packages kept in a locked apt cache volume that
/// later steps do not mount.
fn toolchain(base: &str) -> Container {
    let archives = "/var/cache/apt/archives";
    dag()
        .container()
        .from(base)
        .with_mounted_cache(archives, &dag().cache_volume("tanto-bench-apt"), Sharing::Locked)
        .with_exec(["sh", "-c", APT_INSTALL])
        .without_mount(archives)
}

/// The apt step, word for word the Dockerfile's.
const APT_INSTALL: &str = "apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc make libc6-dev >/dev/null";

/// The project copied to /src, built and tested.
fn c_variant(toolchain: &Container, source: &Directory, cflags: &str) -> Container {
    toolchain
        .with_directory("/src", source)
        .with_workdir("/src")
        .with_exec(["make", "-j2", format!("CFLAGS={cflags}").as_str()])
        .with_exec(["make", "test"])
}
