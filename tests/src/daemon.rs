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
    /// The port it also listens on at 127.0.0.1 with mutual TLS, if asked for.
    tls_port: Option<u16>,
}

/// Each daemon of this test process gets its own /24 and bridge name.
static NEXT_SUBNET: AtomicU8 = AtomicU8::new(0);

impl SecondDaemon {
    /// Starts a daemon and gives it `busybox:latest` (copied from the machine's daemon).
    pub fn start() -> Self {
        Self::start_listening(false)
    }

    /// [`SecondDaemon::start`], also listening on `tcp://127.0.0.1:PORT` (a free port)
    /// with mutual TLS: a CA, the engine's certificate (for `IP:127.0.0.1`) and a client
    /// certificate made with `openssl` in [`SecondDaemon::client_certs`] (`ca.pem`,
    /// `cert.pem`, `key.pem`, as `DOCKER_CERT_PATH` wants them).
    pub fn start_with_tls() -> Self {
        Self::start_listening(true)
    }

    fn start_listening(tls: bool) -> Self {
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
        let tls_port = tls.then(|| {
            make_certificates(dir.path());
            free_port()
        });
        let mut daemon = Self {
            dir,
            bridge,
            daemon: None,
            tls_port,
        };
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

    /// `tcp://127.0.0.1:PORT`, where it listens with mutual TLS ([`SecondDaemon::start_with_tls`]).
    pub fn tls_host(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.tls_port.expect("a daemon started with TLS"))
    }

    /// The folder of the client's `ca.pem`, `cert.pem` and `key.pem`.
    pub fn client_certs(&self) -> PathBuf {
        self.dir.path().join("client")
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

    /// How many containers were created on this daemon since `since` (a time `docker
    /// events` takes): its own short event log is complete, so no label filter.
    pub fn containers_created(&self, since: &str) -> usize {
        crate::containers_created_by(|args| self.docker(args), since, "")
    }

    fn spawn(&mut self) {
        let path = |name: &str| self.dir.path().join(name);
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(path("dockerd.log"))
            .expect("the daemon's log");
        let mut command = Command::new("dockerd");
        if let Some(port) = self.tls_port {
            command
                .arg(format!("--host=tcp://127.0.0.1:{port}"))
                .arg("--tlsverify")
                .arg(format!("--tlscacert={}", path("server/ca.pem").display()))
                .arg(format!("--tlscert={}", path("server/cert.pem").display()))
                .arg(format!("--tlskey={}", path("server/key.pem").display()));
        }
        let child = command
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

/// A port nothing listens on now (the kernel's choice, released at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A CA, and certificates it signs for the engine (`server/`, for `IP:127.0.0.1`) and for
/// a client (`client/`), under `dir`.
fn make_certificates(dir: &Path) {
    let server = dir.join("server");
    let client = dir.join("client");
    std::fs::create_dir_all(&server).expect("a folder for the engine's certificates");
    std::fs::create_dir_all(&client).expect("a folder for the client's certificates");
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl runs");
        assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    };
    let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl(
        &[
            &["req", "-x509"][..],
            &key,
            &["-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2", "-subj", "/CN=tanto test CA"],
        ]
        .concat(),
    );
    for (name, subject, extensions) in [
        ("server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        ("client", "/CN=tanto test client", "extendedKeyUsage=clientAuth\n"),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), extensions).expect("an extensions file");
        openssl(
            &[
                &["req"][..],
                &key,
                &["-keyout", &format!("{name}/key.pem"), "-out", &format!("{name}.csr"), "-subj", subject],
            ]
            .concat(),
        );
        openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}/cert.pem"),
        ]);
        std::fs::copy(dir.join("ca.pem"), dir.join(format!("{name}/ca.pem"))).expect("the CA's certificate");
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
