//! A user-level `sshd` on 127.0.0.1, private to one test: its own host key, port, config
//! and authorized key, no password logins. [`Sshd::client_path`] is a folder holding an
//! `ssh` that uses this server's client key and known host (to put first on `PATH`), since
//! `ssh` reads its configuration from the user's real home, which a test must not touch.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An `sshd` of its own, stopped on drop.
pub struct Sshd {
    dir: tempfile::TempDir,
    port: u16,
    server: Child,
}

impl Sshd {
    /// Starts `sshd` letting the current user in with a key made here; sessions get
    /// `environment` (`NAME=value`, with sshd's `SetEnv`).
    pub fn start(environment: &[(&str, &str)]) -> Self {
        let dir = tempfile::Builder::new().prefix("tanto-sshd-").tempdir_in("/tmp").expect("a folder for sshd");
        let path = |name: &str| dir.path().join(name);
        for key in ["host_key", "client_key"] {
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(path(key))
                .status()
                .expect("ssh-keygen runs");
            assert!(status.success(), "ssh-keygen failed");
        }
        std::fs::copy(path("client_key.pub"), path("authorized_keys")).expect("authorized_keys");
        let port = crate::free_port();
        let user = String::from_utf8(Command::new("id").arg("-un").output().expect("id runs").stdout).expect("a user name");
        let set_env: String = environment.iter().map(|(name, value)| format!("SetEnv {name}={value}\n")).collect();
        std::fs::write(
            path("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {pid}\nAuthorizedKeysFile {authorized}\n\
                 AllowUsers {user}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
                 UsePAM no\nStrictModes no\nLogLevel DEBUG1\n{set_env}",
                host_key = path("host_key").display(),
                pid = path("sshd.pid").display(),
                authorized = path("authorized_keys").display(),
                user = user.trim(),
            ),
        )
        .expect("sshd_config");
        let host_key = std::fs::read_to_string(path("host_key.pub")).expect("the host key");
        std::fs::write(path("known_hosts"), format!("[127.0.0.1]:{port} {host_key}")).expect("known_hosts");
        std::fs::write(
            path("ssh_config"),
            format!(
                "Host *\n  IdentityFile {key}\n  IdentitiesOnly yes\n  UserKnownHostsFile {known}\n  StrictHostKeyChecking yes\n",
                key = path("client_key").display(),
                known = path("known_hosts").display(),
            ),
        )
        .expect("ssh_config");
        std::fs::create_dir_all(path("bin")).expect("a folder for the ssh wrapper");
        let wrapper = path("bin/ssh");
        std::fs::write(&wrapper, format!("#!/bin/sh\nexec /usr/bin/ssh -F {} \"$@\"\n", path("ssh_config").display())).expect("the ssh wrapper");
        let status = Command::new("chmod").arg("755").arg(&wrapper).status().expect("chmod runs");
        assert!(status.success());
        // sshd's privilege separation wants this folder (its init script makes it).
        std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        let log = std::fs::File::create(path("sshd.log")).expect("sshd's log");
        let server = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(path("sshd_config"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("sshd starts");
        let sshd = Self { dir, port, server };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "sshd did not listen within 20 s:\n{}",
                std::fs::read_to_string(sshd.dir.path().join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        sshd
    }

    /// `ssh://USER@127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        let user = String::from_utf8(Command::new("id").arg("-un").output().expect("id runs").stdout).expect("a user name");
        format!("ssh://{}@127.0.0.1:{}", user.trim(), self.port)
    }

    /// The folder of the `ssh` that reaches this server, for the front of `PATH`.
    pub fn client_path(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// What sshd logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
