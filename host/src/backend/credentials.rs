//! Registry credentials: the ones a pipeline gives, and the user's own Docker
//! credentials (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`): inline
//! `auths` entries and the `credsStore`/`credHelpers` programs (`docker-credential-NAME
//! get`), as the docker CLI reads them.
//!
//! A password lives in memory only, for the request that needs it: it is never
//! formatted (`Debug` hides it), logged, hashed into a key or written anywhere.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde::Deserialize;

/// A user name and its password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// Docker Hub's name in credential stores, as the docker CLI writes it.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The registry (host, with its port) an image address names: its first component when
/// that looks like a host (`127.0.0.1:5000/app`, `ghcr.io/org/app`, `localhost/app`),
/// else Docker Hub (`docker.io`).
pub fn registry_of(address: &str) -> String {
    match address.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => first.to_string(),
        _ => "docker.io".to_string(),
    }
}

/// The registry `with-registry-auth` means by `address`: a bare registry (`host:port`,
/// `ghcr.io`, `docker.io`) or the registry of an image address.
pub fn registry_of_auth_address(address: &str) -> String {
    let address = address.strip_prefix("https://").or_else(|| address.strip_prefix("http://")).unwrap_or(address);
    let address = address.trim_end_matches('/');
    if !address.contains('/') && (address.contains('.') || address.contains(':') || address == "localhost") {
        if address == "index.docker.io" || address == "registry-1.docker.io" {
            return "docker.io".to_string();
        }
        return address.to_string();
    }
    registry_of(address)
}

/// The parts of a Docker config file that name credentials.
#[derive(Debug, Default, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// What a credential helper prints for `get`.
#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Why the user's Docker credentials could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read the Docker configuration {}: {reason}", path.display())]
    Config { path: PathBuf, reason: String },
    #[error("the credential helper docker-credential-{helper} failed for {registry}: {reason}")]
    Helper { helper: String, registry: String, reason: String },
}

/// The Docker config file the docker CLI would read.
fn docker_config_path() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG").filter(|dir| !dir.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => dirs::home_dir().map(|home| home.join(".docker/config.json")),
    }
}

/// The user's own credentials for `registry`, from their Docker configuration; `None`
/// when it has none for it (or there is no configuration).
pub fn user_credentials(registry: &str) -> Result<Option<Credentials>, CredentialsError> {
    let Some(path) = docker_config_path() else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(CredentialsError::Config {
                path,
                reason: error.to_string(),
            });
        }
    };
    let config: DockerConfig = serde_json::from_str(&text).map_err(|error| CredentialsError::Config {
        path: path.clone(),
        reason: error.to_string(),
    })?;
    let keys = config_keys(registry);
    if let Some(helper) = keys.iter().find_map(|key| config.cred_helpers.get(key)) {
        return run_helper(helper, registry, &keys);
    }
    for key in &keys {
        if let Some(credentials) = config.auths.get(key).and_then(inline_credentials) {
            return Ok(Some(credentials));
        }
    }
    // Entries may be written as URLs (`https://127.0.0.1:5000`, `http://host/v2/`).
    for (key, entry) in &config.auths {
        if host_of_key(key) == registry
            && let Some(credentials) = inline_credentials(entry)
        {
            return Ok(Some(credentials));
        }
    }
    match &config.creds_store {
        Some(store) if !store.is_empty() => run_helper(store, registry, &keys),
        _ => Ok(None),
    }
}

/// The names the docker CLI files `registry`'s credentials under.
fn config_keys(registry: &str) -> Vec<String> {
    if registry == "docker.io" {
        vec![DOCKER_HUB_KEY.to_string(), "docker.io".to_string(), "index.docker.io".to_string()]
    } else {
        vec![registry.to_string(), format!("https://{registry}"), format!("http://{registry}")]
    }
}

/// `https://host:port/v1/` → `host:port`.
fn host_of_key(key: &str) -> &str {
    let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

fn inline_credentials(entry: &AuthEntry) -> Option<Credentials> {
    if let Some(encoded) = entry.auth.as_deref().filter(|auth| !auth.is_empty()) {
        let decoded = String::from_utf8(decode_base64(encoded)?).ok()?;
        let (username, password) = decoded.split_once(':')?;
        return Some(Credentials {
            username: username.to_string(),
            password: password.to_string(),
        });
    }
    Some(Credentials {
        username: entry.username.clone()?,
        password: entry.password.clone()?,
    })
}

/// Asks `docker-credential-HELPER get` for the first of `keys` it knows. A helper answers
/// "credentials not found in native keychain" (exit 1) for a registry it has nothing for.
fn run_helper(helper: &str, registry: &str, keys: &[String]) -> Result<Option<Credentials>, CredentialsError> {
    let program = format!("docker-credential-{helper}");
    let failed = |reason: String| CredentialsError::Helper {
        helper: helper.to_string(),
        registry: registry.to_string(),
        reason,
    };
    for key in keys {
        let mut child = Command::new(&program)
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| failed(format!("cannot run {program}: {error}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that exits without reading is judged by its answer below.
            let _ = stdin.write_all(key.as_bytes());
        }
        let output = child.wait_with_output().map_err(|error| failed(format!("cannot run {program}: {error}")))?;
        if !output.status.success() {
            let message = String::from_utf8_lossy(&output.stdout).trim().to_string();
            if message.contains("not found") || String::from_utf8_lossy(&output.stderr).contains("not found") {
                continue;
            }
            return Err(failed(format!("{program} get exited with {}", output.status)));
        }
        let answer: HelperAnswer =
            serde_json::from_slice(&output.stdout).map_err(|error| failed(format!("{program} get printed something that is not its JSON answer: {error}")))?;
        return Ok(Some(Credentials {
            username: answer.username,
            password: answer.secret,
        }));
    }
    Ok(None)
}

/// Standard base64 (with or without padding); `None` when `text` is not base64.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for character in text.trim().bytes().take_while(|&character| character != b'=') {
        let value = match character {
            b'A'..=b'Z' => character - b'A',
            b'a'..=b'z' => character - b'a' + 26,
            b'0'..=b'9' => character - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_the_first_component_when_it_names_a_host() {
        assert_eq!(registry_of("127.0.0.1:5000/app:1"), "127.0.0.1:5000");
        assert_eq!(registry_of("ghcr.io/org/app"), "ghcr.io");
        assert_eq!(registry_of("localhost/app"), "localhost");
        assert_eq!(registry_of("library/busybox"), "docker.io");
        assert_eq!(registry_of("busybox:latest"), "docker.io");
    }

    #[test]
    fn auth_addresses_name_a_registry() {
        assert_eq!(registry_of_auth_address("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(registry_of_auth_address("https://ghcr.io/"), "ghcr.io");
        assert_eq!(registry_of_auth_address("docker.io"), "docker.io");
        assert_eq!(registry_of_auth_address("127.0.0.1:5000/app:1"), "127.0.0.1:5000");
        assert_eq!(registry_of_auth_address("library/busybox"), "docker.io");
    }

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(decode_base64("dXNlcjpwYXNz").unwrap(), b"user:pass");
        assert_eq!(decode_base64("dXNlcjpwYXNzMQ==").unwrap(), b"user:pass1");
        assert_eq!(decode_base64("dXNlcjpwYXNzMQ").unwrap(), b"user:pass1");
        assert!(decode_base64("not base64!").is_none());
    }

    #[test]
    fn debug_hides_the_password() {
        let credentials = Credentials {
            username: "user".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{credentials:?}").contains("hunter2"));
    }

    #[test]
    fn url_keys_name_their_host() {
        assert_eq!(host_of_key("https://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
        assert_eq!(host_of_key("127.0.0.1:5000"), "127.0.0.1:5000");
    }
}
