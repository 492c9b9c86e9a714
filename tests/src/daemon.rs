//! A second Docker daemon, private to one test, that the test may kill and restart without
//! disturbing the machine's daemon and the other tests using it.
//!
//! It has its own data root, exec root (and so its own containerd), pidfile, unix socket
//! and bridge interface. The bridge is made here: a daemon told to use no bridge at all
//! deletes the machine's `docker0` (moby's `removeDefaultBridgeInterface`) and breaks
//! every container of the main daemon, so that is never done.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// A `dockerd` of its own, torn down (daemon, containerd, bridge, folders) on drop.
pub struct SecondDaemon {
    dir: tempfile::TempDir,
    bridge: String,
    daemon: Option<Child>,
}

/// Each daemon of this test process gets its own /24 and bridge name.
static NEXT_SUBNET: AtomicU8 = AtomicU8::new(0);

impl SecondDaemon {
    /// Starts a daemon and gives it `busybox:latest` (copied from the machine's daemon).
    pub fn start() -> Self {
        crate::ensure_docker();
        let index = NEXT_SUBNET.fetch_add(1, Ordering::SeqCst);
        // Bridge names are at most 15 bytes; the pid keeps concurrent test processes apart.
        let bridge = format!("tt{}x{index}", std::process::id() % 1_000_000);
        let subnet = 200 + (std::process::id() % 40) as u8 + index;
        let dir = tempfile::Builder::new()
            .prefix("tanto-dockerd-")
            .tempdir_in("/tmp")
            .expect("a folder for the daemon");
        let ip = |args: &[&str]| {
            let status = Command::new("ip").args(args).status().expect("ip runs");
            assert!(status.success(), "ip {args:?} failed");
        };
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&["addr", "add", &format!("192.168.{subnet}.1/24"), "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        let mut daemon = Self { dir, bridge, daemon: None };
        daemon.spawn();
        let mut save = Command::new("docker")
            .args(["save", "busybox:latest"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("docker save runs");
        let load = Command::new("docker")
            .args(["-H", &daemon.host(), "load"])
            .stdin(save.stdout.take().expect("docker save's output"))
            .output()
            .expect("docker load runs");
        assert!(save.wait().is_ok_and(|status| status.success()), "docker save busybox:latest failed");
        assert!(load.status.success(), "loading busybox: {}", String::from_utf8_lossy(&load.stderr));
        daemon
    }

    /// The address for `DOCKER_HOST`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    /// Runs `docker ARGS` against this daemon and returns its stdout; panics on failure.
    pub fn docker(&self, args: &[&str]) -> String {
        let output = Command::new("docker").arg("-H").arg(self.host()).args(args).output().expect("docker runs");
        assert!(output.status.success(), "docker {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn spawn(&mut self) {
        let path = |name: &str| self.dir.path().join(name);
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(path("dockerd.log"))
            .expect("the daemon's log");
        let child = Command::new("dockerd")
            .arg(format!("--data-root={}", path("data").display()))
            .arg(format!("--exec-root={}", path("exec").display()))
            .arg(format!("--pidfile={}", path("dockerd.pid").display()))
            .arg(format!("--host={}", self.host()))
            .arg(format!("--bridge={}", self.bridge))
            .args(["--iptables=false", "--ip-masq=false"])
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("dockerd starts");
        self.daemon = Some(child);
        let started = Instant::now();
        loop {
            let answered = Command::new("docker")
                .args(["-H", &self.host(), "version", "--format", "{{.Server.Version}}"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            if answered {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the second dockerd did not answer within a minute:\n{}",
                std::fs::read_to_string(path("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Kills the daemon (`kill -9`, as a crash would) and waits until its containerd is
    /// gone too, so that the same roots can be used again.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let containerd_pid = self.dir.path().join("exec/containerd/containerd.pid");
        let started = Instant::now();
        while let Some(pid) = std::fs::read_to_string(&containerd_pid).ok().and_then(|text| text.trim().parse::<u32>().ok()) {
            if !Path::new(&format!("/proc/{pid}")).exists() || started.elapsed() > Duration::from_secs(30) {
                break;
            }
            if started.elapsed() > Duration::from_secs(10) {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the daemon and starts it again on the same roots.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for SecondDaemon {
    fn drop(&mut self) {
        // Every container of this daemon is the test's: none may outlive it in a shim.
        if self.daemon.is_some() {
            let _ = Command::new("sh")
                .arg("-c")
                .arg(format!("docker -H {0} ps -aq | xargs -r docker -H {0} rm -f", self.host()))
                .output();
        }
        self.kill();
        let _ = Command::new("ip").args(["link", "delete", &self.bridge]).status();
        // Mounts the daemon left (overlay, shm) would keep the folder from going.
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "grep -o ' {}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l",
                self.dir.path().display()
            ))
            .status();
    }
}
