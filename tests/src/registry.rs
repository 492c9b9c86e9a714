//! A real container registry for tests: Debian's `docker-registry` (distribution 2.8) on
//! 127.0.0.1 at a free port, with htpasswd (bcrypt) authentication, storing in a
//! temporary folder, stopped and removed when dropped. The Docker daemon takes
//! 127.0.0.0/8 registries as insecure by default, so it pushes and pulls over plain HTTP.
//!
//! [`Registry::docker_config`] writes a Docker configuration holding credentials for it,
//! to point `DOCKER_CONFIG` at (never the user's own).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running registry.
pub struct Registry {
    /// `127.0.0.1:PORT`: the registry part of image addresses.
    pub address: String,
    pub username: String,
    pub password: String,
    child: Child,
    folder: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry that accepts `username` with `password`, and waits until it
    /// answers.
    pub fn start(username: &str, password: &str) -> Self {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let htpasswd = folder.path().join("htpasswd");
        let output = Command::new("htpasswd")
            .args(["-Bbn", username, password])
            .output()
            .expect("htpasswd runs (Debian package apache2-utils; scripts/setup installs it)");
        assert!(output.status.success(), "htpasswd failed: {}", String::from_utf8_lossy(&output.stderr));
        std::fs::write(&htpasswd, &output.stdout).expect("writing htpasswd");
        let port = crate::free_port();
        let address = format!("127.0.0.1:{port}");
        let config = folder.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {address}\nauth:\n  htpasswd:\n    realm: tanto-tests\n    path: {}\n",
                folder.path().join("storage").display(),
                htpasswd.display()
            ),
        )
        .expect("writing the registry configuration");
        let log = std::fs::File::create(folder.path().join("registry.log")).expect("a log file");
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log file"))
            .stderr(log)
            .spawn()
            .expect("docker-registry starts (Debian package docker-registry)");
        let registry = Self {
            address,
            username: username.to_string(),
            password: password.to_string(),
            child,
            folder,
        };
        registry.wait_until_answering();
        registry
    }

    fn wait_until_answering(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(mut stream) = TcpStream::connect(&self.address) {
                let request = format!("GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.address);
                let mut answer = String::new();
                if stream.write_all(request.as_bytes()).is_ok() && stream.read_to_string(&mut answer).is_ok() && answer.starts_with("HTTP/1.") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the registry at {} did not answer within 20 s; its log:\n{}", self.address, self.log());
    }

    /// What the registry logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.folder.path().join("registry.log")).unwrap_or_default()
    }

    /// Writes a Docker configuration into `folder` (for `DOCKER_CONFIG`) holding
    /// `username` and `password` for this registry, as `docker login` would (an `auths`
    /// entry, base64 of `user:password`), and returns the folder.
    pub fn docker_config(&self, folder: &Path, username: &str, password: &str) -> PathBuf {
        std::fs::create_dir_all(folder).expect("creating the Docker configuration folder");
        let auth = base64(format!("{username}:{password}").as_bytes());
        let config = serde_json::json!({ "auths": { &self.address: { "auth": auth } } });
        std::fs::write(folder.join("config.json"), serde_json::to_vec_pretty(&config).expect("json")).expect("writing config.json");
        folder.to_path_buf()
    }

    /// Whether the registry holds `repository:tag`, asked with this registry's
    /// credentials: the manifest's digest, from the registry itself.
    pub fn manifest_digest(&self, repository: &str, tag: &str) -> Option<String> {
        let mut stream = TcpStream::connect(&self.address).expect("the registry answers");
        let request = format!(
            "HEAD /v2/{repository}/manifests/{tag} HTTP/1.0\r\nHost: {}\r\nAuthorization: Basic {}\r\nAccept: application/vnd.docker.distribution.manifest.v2+json\r\n\r\n",
            self.address,
            base64(format!("{}:{}", self.username, self.password).as_bytes())
        );
        stream.write_all(request.as_bytes()).expect("writing to the registry");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("reading the registry's answer");
        if !answer.starts_with("HTTP/1.0 200") && !answer.starts_with("HTTP/1.1 200") {
            return None;
        }
        answer
            .lines()
            .find_map(|line| {
                line.strip_prefix("Docker-Content-Digest: ")
                    .or_else(|| line.strip_prefix("docker-content-digest: "))
            })
            .map(|digest| digest.trim().to_string())
    }
}

impl Registry {
    /// The tags of `repository`, asked with this registry's credentials (none when the
    /// repository does not exist).
    pub fn tags(&self, repository: &str) -> Vec<String> {
        let mut stream = TcpStream::connect(&self.address).expect("the registry answers");
        let request = format!(
            "GET /v2/{repository}/tags/list HTTP/1.0\r\nHost: {}\r\nAuthorization: Basic {}\r\n\r\n",
            self.address,
            base64(format!("{}:{}", self.username, self.password).as_bytes())
        );
        stream.write_all(request.as_bytes()).expect("writing to the registry");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("reading the registry's answer");
        let Some((_, body)) = answer.split_once("\r\n\r\n") else { return Vec::new() };
        let value: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        let mut tags: Vec<String> = value["tags"]
            .as_array()
            .map(|tags| tags.iter().filter_map(|tag| tag.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        tags.sort();
        tags
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::new();
    for chunk in bytes.chunks(3) {
        let value = chunk
            .iter()
            .enumerate()
            .fold(0u32, |value, (index, byte)| value | u32::from(*byte) << (16 - 8 * index));
        for index in 0..4 {
            if index <= chunk.len() {
                text.push(ALPHABET[(value >> (18 - 6 * index) & 63) as usize] as char);
            } else {
                text.push('=');
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(super::base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(super::base64(b"user:pass1"), "dXNlcjpwYXNzMQ==");
        assert_eq!(super::base64(b"ab"), "YWI=");
    }
}
