//! Pipelines for the cache tests: multi-step builds over a source directory, cache
//! volumes under each sharing mode, and parallel branches.

use tanto_sdk::{Container, Directory, Error, Result, Sharing, dag};

fn busybox() -> Container {
    dag().container().from("busybox:latest")
}

fn sharing_from(name: &str) -> Result<Sharing> {
    match name {
        "shared" => Ok(Sharing::Shared),
        "private" => Ok(Sharing::Private),
        "locked" => Ok(Sharing::Locked),
        other => Err(Error::msg(format!("unknown sharing {other:?}"))),
    }
}

#[derive(Default)]
struct Cache;

/// Pipelines whose steps the cache tests count.
#[tanto_sdk::module]
impl Cache {
    /// Five steps: a toolchain step that ignores the source, then the source's `a.txt`
    /// and `b.txt` copied in one at a time, each followed by steps that read it.
    pub fn five_steps(&self, source: Directory) -> Result<String> {
        busybox()
            .with_exec(["sh", "-c", "echo toolchain > /toolchain"])
            .with_file("/work/a.txt", &source.file("a.txt"))
            .with_exec(["sh", "-c", "wc -c < /work/a.txt > /work/a.count"])
            .with_exec(["sh", "-c", "cat /work/a.count /work/a.count > /work/a.twice"])
            .with_file("/work/b.txt", &source.file("b.txt"))
            .with_exec(["sh", "-c", "wc -c < /work/b.txt > /work/b.count"])
            .with_exec(["sh", "-c", "cat /toolchain /work/a.twice /work/b.count"])
            .stdout()
    }

    /// Writes `value` into cache volume `key` at /cache/value.
    pub fn volume_write(&self, key: String, value: String) -> Result<String> {
        busybox()
            .with_mounted_cache("/cache", &dag().cache_volume(key), Sharing::Shared)
            .with_exec(["sh", "-c", "echo \"$0\" > /cache/value && echo written", value.as_str()])
            .stdout()
    }

    /// Reads /cache/value from cache volume `key` (`nonce` makes the step new).
    pub fn volume_read(&self, key: String, nonce: String) -> Result<String> {
        busybox()
            .with_mounted_cache("/cache", &dag().cache_volume(key), Sharing::Shared)
            .with_env_variable("NONCE", nonce)
            .with_exec(["cat", "/cache/value"])
            .stdout()
    }

    /// Two jobs at once on cache volume `key` with `sharing`: each leaves a marker, waits,
    /// and counts the markers it sees (1: a volume of its own; 2: shared).
    pub fn volume_users(&self, key: String, sharing: String, nonce: String) -> Result<Vec<String>> {
        let cache = dag().cache_volume(key);
        let sharing = sharing_from(&sharing)?;
        let jobs: Vec<Container> = ["first", "second"]
            .iter()
            .map(|job| {
                busybox()
                    .with_mounted_cache("/cache", &cache, sharing)
                    .with_env_variable("NONCE", nonce.as_str())
                    .with_exec([
                        "sh",
                        "-c",
                        "touch /cache/$0 && sleep 1.5 && ls /cache | grep -c -e first -e second; rm /cache/$0",
                        job,
                    ])
            })
            .collect();
        dag().sync_all(&jobs)?;
        jobs.iter().map(|job| job.stdout().map(|output| output.trim().to_string())).collect()
    }

    /// Two jobs at once on cache volume `key` with `sharing`, each logging its start and
    /// end; returns the log in the order written.
    pub fn volume_log(&self, key: String, sharing: String, nonce: String) -> Result<String> {
        let cache = dag().cache_volume(key);
        let sharing = sharing_from(&sharing)?;
        let jobs: Vec<Container> = ["a", "b"]
            .iter()
            .map(|job| {
                busybox()
                    .with_mounted_cache("/cache", &cache, sharing)
                    .with_env_variable("NONCE", nonce.as_str())
                    .with_exec(["sh", "-c", "echo start-$0 >> /cache/log && sleep 1 && echo end-$0 >> /cache/log", job])
            })
            .collect();
        dag().sync_all(&jobs)?;
        busybox()
            .with_mounted_cache("/cache", &cache, sharing)
            .with_env_variable("NONCE", nonce.as_str())
            .with_exec(["sh", "-c", "cat /cache/log && rm /cache/log"])
            .stdout()
    }

    /// Four branches whose first step holds cache volume `key` locked for a second, then
    /// unmounts it for a second step that looks for it, beside a free branch of one
    /// second with no mount. Each step prints when it started and ended (`/proc/uptime`,
    /// the machine's clock, in hundredths of a second): `NAME START END`, and for the
    /// second steps whether the file each locked step writes in the volume is there
    /// (`mounted`) or not (`unmounted`).
    pub fn locked_branches(&self, key: String, nonce: String) -> Result<Vec<String>> {
        const SLEEP: &str = "start=$(cut -d' ' -f1 /proc/uptime); sleep 1; echo \"$0 $start $(cut -d' ' -f1 /proc/uptime)\"";
        const LOCKED: &str = "touch /cache/seen; start=$(cut -d' ' -f1 /proc/uptime); sleep 1; echo \"$0 $start $(cut -d' ' -f1 /proc/uptime)\"";
        // The mount point itself stays in the snapshot (Docker makes it), empty.
        const LOOK: &str = "start=$(cut -d' ' -f1 /proc/uptime); if test -e /cache/seen; then seen=mounted; else seen=unmounted; fi; echo \"$0 $start $(cut -d' ' -f1 /proc/uptime) $seen\"";
        let cache = dag().cache_volume(key);
        let base = busybox().with_env_variable("NONCE", nonce.as_str());
        let locked: Vec<Container> = ["a", "b", "c", "d"]
            .iter()
            .map(|branch| {
                base.with_mounted_cache("/cache", &cache, Sharing::Locked)
                    .with_exec(["sh", "-c", LOCKED, &format!("locked-{branch}")])
            })
            .collect();
        let mut jobs: Vec<Container> = locked
            .iter()
            .zip(["a", "b", "c", "d"])
            .map(|(step, branch)| step.without_mount("/cache").with_exec(["sh", "-c", LOOK, &format!("after-{branch}")]))
            .collect();
        // Last: were slots taken before locks, two locked steps would hold both, and this
        // one would wait for the first of them to end.
        jobs.push(base.with_exec(["sh", "-c", SLEEP, "free"]));
        dag().sync_all(&jobs)?;
        locked
            .iter()
            .chain(&jobs)
            .map(|step| step.stdout().map(|output| output.trim().to_string()))
            .collect()
    }

    /// `count` independent steps that each sleep `seconds`, run with sync-all.
    pub fn parallel_sleeps(&self, count: i64, seconds: i64, nonce: String) -> Result<String> {
        let jobs: Vec<Container> = (0..count)
            .map(|index| {
                busybox()
                    .with_env_variable("NONCE", nonce.as_str())
                    .with_exec(["sh", "-c", &format!("sleep {seconds} && echo {index}")])
            })
            .collect();
        dag().sync_all(&jobs)?;
        Ok(format!("{} done", jobs.len()))
    }

    /// A tmpfs at /scratch: writable, empty, and not in the snapshot afterwards.
    pub fn temp(&self) -> Result<String> {
        let container = busybox()
            .with_mounted_temp("/scratch")
            .with_exec(["sh", "-c", "echo hi > /scratch/file && mount | grep -c ' /scratch type tmpfs'"]);
        let mounted = container.stdout()?;
        let after = container.directory("/scratch").entries(".")?;
        Ok(format!("{} {:?}", mounted.trim(), after))
    }

    /// Sleeps `seconds` with `source` mounted (a work folder of the host process), then
    /// lists it.
    pub fn mounted_sleep(&self, source: Directory, seconds: i64) -> Result<String> {
        busybox()
            .with_mounted_directory("/source", &source)
            .with_exec(["sh", "-c", &format!("sleep {seconds} && ls /source")])
            .stdout()
    }

    /// Sleeps `seconds` after a cached step, holding its cache entries while it runs.
    pub fn hold(&self, seconds: i64, marker: String) -> Result<String> {
        busybox()
            .with_exec(["sh", "-c", "echo held > /held"])
            .with_env_variable("MARKER", marker)
            .with_exec(["sh", "-c", &format!("sleep {seconds} && cat /held")])
            .stdout()
    }
}
