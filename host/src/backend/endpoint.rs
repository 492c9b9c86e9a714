//! Which Docker engine tanto talks to, chosen as the docker CLI chooses it: `DOCKER_HOST`
//! (with `DOCKER_TLS_VERIFY` or `DOCKER_TLS`, and `DOCKER_CERT_PATH`, for `tcp://`), else the context named
//! by `DOCKER_CONTEXT`, else the `currentContext` of the Docker configuration
//! (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`), else the local socket.
//!
//! A context is read from Docker's own store beside that configuration:
//! `contexts/meta/<sha256 of its name>/meta.json` holds its endpoint, and
//! `contexts/tls/<sha256 of its name>/docker/` its TLS material (`ca.pem`, `cert.pem`,
//! `key.pem`), which `docker context create --docker host=…,ca=…,cert=…,key=…` copies there.
//! Nothing here does I/O beyond reading those files; connecting is the Docker backend's.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// The socket the docker CLI uses when nothing names another engine.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Where an engine listens and how to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A unix socket on this machine: the engine shares this machine's file system.
    Unix(PathBuf),
    /// `host:port` over TCP, plain or with mutual TLS.
    Tcp { address: String, tls: Option<TlsFiles> },
    /// `docker system dial-stdio` run through `ssh` on `host`, as the docker CLI does.
    Ssh(SshDestination),
}

/// The files of a TLS connection, as `docker --tlsverify` (or `--tls`) reads them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate authority the engine's certificate must chain to; `None` with
    /// `DOCKER_TLS` alone: encrypted, but the engine is not authenticated.
    pub ca: Option<PathBuf>,
    /// This client's certificate and key, when it has them.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// `ssh://[user@]host[:port]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshDestination {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

/// Where the endpoint was named: errors and `tanto version` say it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Nothing named one: the local socket.
    Default,
    DockerHost,
    /// A Docker context, by name (from `DOCKER_CONTEXT` or `currentContext`).
    Context(String),
}

/// The engine to use: its endpoint, its address as the user wrote it, and where it came
/// from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub endpoint: Endpoint,
    /// `unix:///…`, `tcp://…`, `ssh://…`.
    pub address: String,
    pub origin: Origin,
}

impl Resolved {
    /// Whether the engine runs on this machine and sees its file system: only a unix
    /// socket says so (a `tcp://127.0.0.1` engine may be a tunnel to anywhere).
    pub fn is_local(&self) -> bool {
        matches!(self.endpoint, Endpoint::Unix(_))
    }
}

/// Why no engine could be chosen.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("{origin} names the Docker engine {address:?}, which tanto cannot use: {reason}")]
    BadAddress { origin: String, address: String, reason: String },
    #[error("Docker context {name:?} does not exist (no {})", path.display())]
    UnknownContext { name: String, path: PathBuf },
    #[error("Docker context {name:?} cannot be read from {}: {reason}", path.display())]
    BadContext { name: String, path: PathBuf, reason: String },
    #[error("the TLS material for the Docker engine at {address} is unusable: {}: {reason}", path.display())]
    TlsMaterial { address: String, path: PathBuf, reason: String },
}

/// What resolution reads from the environment: the process's, or a test's.
pub trait Environment {
    fn var(&self, name: &str) -> Option<String>;
    fn home(&self) -> Option<PathBuf>;
}

/// The process's environment.
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|value| !value.is_empty())
    }

    fn home(&self) -> Option<PathBuf> {
        dirs::home_dir()
    }
}

/// Chooses the engine as the docker CLI does: `DOCKER_HOST` beats `DOCKER_CONTEXT`, which
/// beats the configuration's `currentContext`; the context `default` is the local socket.
pub fn resolve(environment: &dyn Environment) -> Result<Resolved, EndpointError> {
    if let Some(host) = environment.var("DOCKER_HOST") {
        let tls = match environment.var("DOCKER_TLS_VERIFY") {
            Some(_) => {
                let folder = match environment.var("DOCKER_CERT_PATH") {
                    Some(path) => PathBuf::from(path),
                    None => docker_config_dir(environment).ok_or_else(|| EndpointError::BadAddress {
                        origin: "DOCKER_HOST".into(),
                        address: host.clone(),
                        reason: "DOCKER_TLS_VERIFY is set but neither DOCKER_CERT_PATH nor a home folder says where ca.pem, cert.pem and key.pem are".into(),
                    })?,
                };
                Some(tls_files(&host, &folder)?)
            }
            // `DOCKER_TLS` alone, as the docker CLI's `--tls`: encrypted, the engine not
            // verified, a client certificate presented if the folder has one.
            None if environment.var("DOCKER_TLS").is_some() => {
                let folder = environment
                    .var("DOCKER_CERT_PATH")
                    .map(PathBuf::from)
                    .or_else(|| docker_config_dir(environment));
                let client = folder
                    .map(|folder| (folder.join("cert.pem"), folder.join("key.pem")))
                    .filter(|(cert, key)| cert.is_file() && key.is_file());
                tracing::warn!(engine = %host, "DOCKER_TLS without DOCKER_TLS_VERIFY: the engine's certificate is not verified, so whoever answers at that address receives the run's files and secrets");
                Some(TlsFiles { ca: None, client })
            }
            None => None,
        };
        let endpoint = parse_address("DOCKER_HOST", &host, tls)?;
        return Ok(Resolved {
            endpoint,
            address: host,
            origin: Origin::DockerHost,
        });
    }
    let context = match environment.var("DOCKER_CONTEXT") {
        Some(name) => Some(name),
        None => current_context(environment)?,
    };
    match context {
        Some(name) if name != "default" => context_endpoint(environment, &name),
        _ => Ok(Resolved {
            endpoint: Endpoint::Unix(PathBuf::from(DEFAULT_SOCKET)),
            address: format!("unix://{DEFAULT_SOCKET}"),
            origin: Origin::Default,
        }),
    }
}

/// The folder of the Docker configuration: `$DOCKER_CONFIG`, else `~/.docker`.
fn docker_config_dir(environment: &dyn Environment) -> Option<PathBuf> {
    match environment.var("DOCKER_CONFIG") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => environment.home().map(|home| home.join(".docker")),
    }
}

/// The `currentContext` of the Docker configuration, if it names one.
fn current_context(environment: &dyn Environment) -> Result<Option<String>, EndpointError> {
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(rename = "currentContext", default)]
        current_context: Option<String>,
    }
    let Some(path) = docker_config_dir(environment).map(|dir| dir.join("config.json")) else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(EndpointError::BadContext {
                name: "(currentContext)".into(),
                path,
                reason: error.to_string(),
            });
        }
    };
    let config: Config = serde_json::from_str(&text).map_err(|error| EndpointError::BadContext {
        name: "(currentContext)".into(),
        path: path.clone(),
        reason: error.to_string(),
    })?;
    Ok(config.current_context.filter(|name| !name.is_empty()))
}

/// The engine of context `name`, from Docker's context store.
fn context_endpoint(environment: &dyn Environment, name: &str) -> Result<Resolved, EndpointError> {
    #[derive(serde::Deserialize)]
    struct Meta {
        #[serde(rename = "Endpoints", default)]
        endpoints: std::collections::BTreeMap<String, MetaEndpoint>,
    }
    #[derive(serde::Deserialize)]
    struct MetaEndpoint {
        #[serde(rename = "Host", default)]
        host: Option<String>,
        #[serde(rename = "SkipTLSVerify", default)]
        skip_tls_verify: bool,
    }
    let store = docker_config_dir(environment).unwrap_or_default().join("contexts");
    let id = hex::encode(Sha256::digest(name.as_bytes()));
    let path = store.join("meta").join(&id).join("meta.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(EndpointError::UnknownContext { name: name.into(), path });
        }
        Err(error) => {
            return Err(EndpointError::BadContext {
                name: name.into(),
                path,
                reason: error.to_string(),
            });
        }
    };
    let bad = |reason: String| EndpointError::BadContext {
        name: name.into(),
        path: path.clone(),
        reason,
    };
    let meta: Meta = serde_json::from_str(&text).map_err(|error| bad(error.to_string()))?;
    let docker = meta.endpoints.get("docker").ok_or_else(|| bad("it has no `docker` endpoint".into()))?;
    let host = docker
        .host
        .clone()
        .filter(|host| !host.is_empty())
        .ok_or_else(|| bad("its docker endpoint names no Host".into()))?;
    if docker.skip_tls_verify {
        return Err(bad(
            "it sets SkipTLSVerify, and tanto does not talk to an engine it cannot authenticate: give the context a ca (`docker context update --docker host=…,ca=…,cert=…,key=…`)".into(),
        ));
    }
    let tls_folder = store.join("tls").join(&id).join("docker");
    let tls = if tls_folder.join("ca.pem").exists() {
        Some(tls_files(&host, &tls_folder)?)
    } else {
        None
    };
    let endpoint = parse_address(&format!("Docker context {name:?}"), &host, tls)?;
    Ok(Resolved {
        endpoint,
        address: host,
        origin: Origin::Context(name.into()),
    })
}

/// `ca.pem`, `cert.pem` and `key.pem` in `folder`, each present.
fn tls_files(address: &str, folder: &Path) -> Result<TlsFiles, EndpointError> {
    let file = |name: &str| {
        let path = folder.join(name);
        match std::fs::metadata(&path) {
            Ok(metadata) if metadata.is_file() => Ok(path),
            Ok(_) => Err(EndpointError::TlsMaterial {
                address: address.into(),
                path,
                reason: "is not a file".into(),
            }),
            Err(error) => Err(EndpointError::TlsMaterial {
                address: address.into(),
                path,
                reason: error.to_string(),
            }),
        }
    };
    Ok(TlsFiles {
        ca: Some(file("ca.pem")?),
        client: Some((file("cert.pem")?, file("key.pem")?)),
    })
}

/// The endpoint an address names; `origin` says where it was written, for errors.
fn parse_address(origin: &str, address: &str, tls: Option<TlsFiles>) -> Result<Endpoint, EndpointError> {
    let bad = |reason: &str| EndpointError::BadAddress {
        origin: origin.into(),
        address: address.into(),
        reason: reason.into(),
    };
    let (scheme, rest) = address.split_once("://").ok_or_else(|| bad("it has no scheme (unix://, tcp:// or ssh://)"))?;
    match scheme {
        "unix" => {
            if tls.is_some() {
                return Err(bad("DOCKER_TLS_VERIFY applies to tcp:// engines only"));
            }
            if !rest.starts_with('/') {
                return Err(bad("a unix socket is an absolute path (unix:///var/run/docker.sock)"));
            }
            Ok(Endpoint::Unix(PathBuf::from(rest)))
        }
        "tcp" | "http" | "https" => {
            let authority = rest.trim_end_matches('/');
            if authority.is_empty() || authority.contains('/') {
                return Err(bad("a tcp:// address is host:port"));
            }
            // The docker CLI's default ports: 2376 with TLS, 2375 without.
            let has_port = authority.rsplit_once(':').is_some_and(|(_, port)| port.parse::<u16>().is_ok()) && !authority.ends_with(']');
            let address = match (has_port, tls.is_some()) {
                (true, _) => authority.to_string(),
                (false, true) => format!("{authority}:2376"),
                (false, false) => format!("{authority}:2375"),
            };
            Ok(Endpoint::Tcp { address, tls })
        }
        "ssh" => {
            if tls.is_some() {
                return Err(bad("DOCKER_TLS_VERIFY applies to tcp:// engines only (ssh authenticates the engine itself)"));
            }
            let authority = rest.trim_end_matches('/');
            if authority.contains('/') {
                return Err(bad("an ssh:// address is [user@]host[:port], with no path"));
            }
            let (user, host_port) = match authority.rsplit_once('@') {
                Some((user, host)) => (Some(user.to_string()), host),
                None => (None, authority),
            };
            let (host, port) = match host_port.rsplit_once(':') {
                Some((host, port)) if !host_port.ends_with(']') => {
                    (host, Some(port.parse::<u16>().map_err(|_| bad("its port is not a number from 1 to 65535"))?))
                }
                _ => (host_port, None),
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let valid = |text: &str| !text.is_empty() && !text.starts_with('-') && text.chars().all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c));
            if !valid(host) || user.as_deref().is_some_and(|user| !valid(user)) {
                return Err(bad(
                    "its user and host must be plain names (letters, digits, `.`, `_`, `-`), not starting with `-`",
                ));
            }
            Ok(Endpoint::Ssh(SshDestination {
                user,
                host: host.to_string(),
                port,
            }))
        }
        "npipe" => Err(bad("named pipes exist on Windows only")),
        _ => Err(bad("its scheme is not unix://, tcp:// or ssh://")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct Fixed {
        vars: BTreeMap<&'static str, String>,
        home: PathBuf,
    }

    impl Environment for Fixed {
        fn var(&self, name: &str) -> Option<String> {
            self.vars.get(name).cloned()
        }
        fn home(&self) -> Option<PathBuf> {
            Some(self.home.clone())
        }
    }

    fn environment(home: &Path, vars: &[(&'static str, &str)]) -> Fixed {
        Fixed {
            vars: vars.iter().map(|(name, value)| (*name, value.to_string())).collect(),
            home: home.to_path_buf(),
        }
    }

    /// A context `name` in the store under `home/.docker`, with TLS files when `tls`.
    fn write_context(home: &Path, name: &str, host: &str, tls: bool) {
        let id = hex::encode(Sha256::digest(name.as_bytes()));
        let meta = home.join(".docker/contexts/meta").join(&id);
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            format!(r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#),
        )
        .unwrap();
        if tls {
            let folder = home.join(".docker/contexts/tls").join(&id).join("docker");
            std::fs::create_dir_all(&folder).unwrap();
            for file in ["ca.pem", "cert.pem", "key.pem"] {
                std::fs::write(folder.join(file), "pem").unwrap();
            }
        }
    }

    #[test]
    fn nothing_named_is_the_local_socket() {
        let home = tempfile::tempdir().unwrap();
        let resolved = resolve(&environment(home.path(), &[])).unwrap();
        assert_eq!(resolved.endpoint, Endpoint::Unix(PathBuf::from(DEFAULT_SOCKET)));
        assert!(resolved.is_local());
    }

    #[test]
    fn docker_host_beats_docker_context_which_beats_current_context() {
        let home = tempfile::tempdir().unwrap();
        write_context(home.path(), "from-env", "tcp://10.0.0.1:2375", false);
        write_context(home.path(), "from-config", "tcp://10.0.0.2", true);
        std::fs::write(home.path().join(".docker/config.json"), r#"{"currentContext":"from-config"}"#).unwrap();

        let all = environment(home.path(), &[("DOCKER_HOST", "tcp://10.0.0.3:4000"), ("DOCKER_CONTEXT", "from-env")]);
        let resolved = resolve(&all).unwrap();
        assert_eq!(resolved.origin, Origin::DockerHost);
        assert_eq!(
            resolved.endpoint,
            Endpoint::Tcp {
                address: "10.0.0.3:4000".into(),
                tls: None
            }
        );
        assert!(!resolved.is_local());

        let resolved = resolve(&environment(home.path(), &[("DOCKER_CONTEXT", "from-env")])).unwrap();
        assert_eq!(resolved.origin, Origin::Context("from-env".into()));
        assert_eq!(
            resolved.endpoint,
            Endpoint::Tcp {
                address: "10.0.0.1:2375".into(),
                tls: None
            }
        );

        let resolved = resolve(&environment(home.path(), &[])).unwrap();
        assert_eq!(resolved.origin, Origin::Context("from-config".into()));
        let Endpoint::Tcp { address, tls: Some(tls) } = resolved.endpoint else {
            panic!("a TLS endpoint: {resolved:?}")
        };
        assert_eq!(address, "10.0.0.2:2376");
        assert!(tls.ca.is_some_and(|ca| ca.ends_with("docker/ca.pem")));

        // `default` is the local socket, whatever the configuration says.
        let resolved = resolve(&environment(home.path(), &[("DOCKER_CONTEXT", "default")])).unwrap();
        assert!(resolved.is_local());
    }

    #[test]
    fn docker_config_moves_the_store() {
        let home = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        write_context(other.path(), "elsewhere", "ssh://ci@build-1:2222", false);
        let config = other.path().join(".docker");
        let resolved = resolve(&environment(
            home.path(),
            &[("DOCKER_CONFIG", config.to_str().unwrap()), ("DOCKER_CONTEXT", "elsewhere")],
        ))
        .unwrap();
        assert_eq!(
            resolved.endpoint,
            Endpoint::Ssh(SshDestination {
                user: Some("ci".into()),
                host: "build-1".into(),
                port: Some(2222)
            })
        );
    }

    #[test]
    fn tls_verify_reads_the_cert_path_and_names_a_missing_file() {
        let home = tempfile::tempdir().unwrap();
        let certs = home.path().join("certs");
        std::fs::create_dir_all(&certs).unwrap();
        std::fs::write(certs.join("ca.pem"), "pem").unwrap();
        let vars = [
            ("DOCKER_HOST", "tcp://127.0.0.1:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", certs.to_str().unwrap()),
        ];
        let error = resolve(&environment(home.path(), &vars)).unwrap_err();
        let EndpointError::TlsMaterial { path, .. } = &error else {
            panic!("a TLS error: {error:?}")
        };
        assert_eq!(path, &certs.join("cert.pem"));
        std::fs::write(certs.join("cert.pem"), "pem").unwrap();
        std::fs::write(certs.join("key.pem"), "pem").unwrap();
        let resolved = resolve(&environment(home.path(), &vars)).unwrap();
        assert!(matches!(resolved.endpoint, Endpoint::Tcp { tls: Some(_), .. }));
    }

    #[test]
    fn docker_tls_alone_encrypts_without_a_ca_and_presents_a_client_certificate_if_there_is_one() {
        let home = tempfile::tempdir().unwrap();
        let certs = home.path().join("certs");
        std::fs::create_dir_all(&certs).unwrap();
        let vars = [
            ("DOCKER_HOST", "tcp://127.0.0.1"),
            ("DOCKER_TLS", "1"),
            ("DOCKER_CERT_PATH", certs.to_str().unwrap()),
        ];
        let resolved = resolve(&environment(home.path(), &vars)).unwrap();
        let tls = TlsFiles { ca: None, client: None };
        assert_eq!(
            resolved.endpoint,
            Endpoint::Tcp {
                address: "127.0.0.1:2376".into(),
                tls: Some(tls)
            }
        );
        std::fs::write(certs.join("cert.pem"), "pem").unwrap();
        std::fs::write(certs.join("key.pem"), "pem").unwrap();
        let resolved = resolve(&environment(home.path(), &vars)).unwrap();
        let Endpoint::Tcp { tls: Some(tls), .. } = resolved.endpoint else {
            panic!("a TLS endpoint: {resolved:?}")
        };
        assert_eq!(tls.ca, None);
        assert_eq!(tls.client, Some((certs.join("cert.pem"), certs.join("key.pem"))));
    }

    #[test]
    fn unknown_contexts_and_bad_addresses_are_named() {
        let home = tempfile::tempdir().unwrap();
        let error = resolve(&environment(home.path(), &[("DOCKER_CONTEXT", "nope")])).unwrap_err();
        assert!(matches!(error, EndpointError::UnknownContext { ref name, .. } if name == "nope"), "{error:?}");
        for address in [
            "localhost:2375",
            "ftp://x",
            "unix://relative",
            "ssh://-oProxyCommand=x",
            "ssh://host:port",
            "tcp://host/path",
        ] {
            let error = resolve(&environment(home.path(), &[("DOCKER_HOST", address)])).unwrap_err();
            assert!(matches!(error, EndpointError::BadAddress { .. }), "{address}: {error:?}");
        }
    }
}
