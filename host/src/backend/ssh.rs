//! An engine reached through `ssh://`, as the docker CLI reaches it: each connection is
//! one `ssh [-l USER] [-p PORT] HOST docker system dial-stdio` process, whose standard
//! input and output carry the HTTP of the Docker API to the remote engine's socket.
//! Connections are kept and reused (a new one costs an ssh session and a `docker`
//! process on the far side: measured, the 5 cached steps of a pipeline took 3.7 s
//! without reuse, 0.43 s with it, against 0.05 s over the engine's unix socket).
//!
//! The user's own `ssh` runs, so their keys, agent, `~/.ssh/config` and `known_hosts`
//! apply; `BatchMode=yes` makes it fail instead of prompting (tanto's progress owns the
//! terminal). A connection's process lives as long as hyper holds the connection (an
//! attached container's stream included) and is killed when it lets go.

use std::pin::Pin;
use std::task::{Context, Poll};

use std::sync::{Arc, Mutex};

use bollard::{BollardRequest, Docker};
use hyper::client::conn::http1::SendRequest;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout};

use super::endpoint::SshDestination;

/// A client for the engine behind `destination` (nothing is started until a request).
pub(super) fn connect(destination: &SshDestination, address: &str, timeout_seconds: u64) -> Docker {
    let destination = destination.clone();
    let address = address.to_string();
    // Connections whose last response has been read are kept and used again: a new one
    // costs an ssh session and a `docker` process on the far side.
    let idle = Arc::new(Mutex::new(Vec::new()));
    let transport = move |request: BollardRequest| {
        let destination = destination.clone();
        let address = address.clone();
        let idle = idle.clone();
        async move {
            let request = origin_form(request)?;
            let reused = idle.lock().ok().and_then(|mut idle| take_ready(&mut idle));
            let (sender, response) = match reused {
                Some(mut sender) => {
                    let response = sender.send_request(request).await;
                    (sender, response.map_err(bollard::errors::Error::from))
                }
                None => send(&destination, &address, request).await?,
            };
            let response = response?;
            // Kept even while this response is still being read: it is ready again then.
            if !sender.is_closed()
                && let Ok(mut idle) = idle.lock()
            {
                idle.push(sender);
            }
            Ok(response)
        }
    };
    // Requests are addressed to `http://docker/…`, as the docker CLI addresses them over ssh.
    match Docker::connect_with_custom_transport(transport, Some("http://docker"), timeout_seconds, bollard::API_DEFAULT_VERSION) {
        Ok(docker) => docker,
        // It only stores its arguments; unreachable, but not worth a panic.
        Err(error) => unreachable!("a custom transport cannot fail to be stored: {error}"),
    }
}

/// How long the shared ssh connection outlives its last use: long enough to span the
/// requests of a run, short enough not to linger long after it.
const CONNECTION_PERSISTS_SECONDS: u32 = 10;

/// The folder of the control sockets through which one ssh connection carries every
/// request of a run (a new ssh handshake per request costs ~0.1 s): private to the user
/// (0700), so no one else can send through it. `None` when it cannot be made; each
/// request then opens its own connection.
fn control_folder() -> Option<std::path::PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let folder = std::env::temp_dir().join(format!("tanto-ssh-{uid}"));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&folder);
    let metadata = std::fs::symlink_metadata(&folder).ok()?;
    let private = metadata.is_dir() && metadata.uid() == uid && metadata.permissions().mode() & 0o077 == 0;
    private.then_some(folder)
}

/// The `ssh` command line that reaches the engine.
pub(super) fn command_line(destination: &SshDestination) -> Vec<String> {
    let mut arguments = ssh_options(destination);
    // `--` ends the options: the host (validated not to start with `-`) is never one.
    arguments.extend(["--".to_string(), destination.host.clone()]);
    arguments.extend(["docker", "system", "dial-stdio"].map(String::from));
    arguments
}

/// The `ssh` command line whose standard input and output are a TCP connection from the
/// engine's machine to `ip:port` (`-W`): how this machine reaches a service there, whose
/// bridge address only that machine routes to. It shares the engine's connection
/// (ControlMaster). `verbose` makes ssh say when the far side has connected (see
/// [`probe`]).
pub(super) fn forward_command_line(destination: &SshDestination, ip: &str, port: u16, verbose: bool) -> Vec<String> {
    let mut arguments = ssh_options(destination);
    if verbose {
        arguments.push("-vv".into());
    }
    // An IPv6 address is bracketed, as `-W` wants.
    let target = if ip.contains(':') { format!("[{ip}]:{port}") } else { format!("{ip}:{port}") };
    arguments.extend(["-W".to_string(), target]);
    arguments.extend(["--".to_string(), destination.host.clone()]);
    arguments
}

/// A connection to `ip:port` on the engine's machine through ssh (`ssh -W`), for `up`'s
/// forwarding. Nothing is known about the far side until bytes flow: a refused
/// connection ends the stream.
pub(super) fn dial(destination: &SshDestination, ip: &str, port: u16) -> std::io::Result<SshStream> {
    let arguments = forward_command_line(destination, ip, port, false);
    tracing::debug!(command = %arguments.join(" "), "connecting to a service through ssh");
    let mut child = spawn(&arguments)?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(std::io::Error::other("ssh started without pipes"));
    };
    Ok(SshStream { _child: child, stdin, stdout })
}

/// What ssh prints (at `-vv`) once the far side's connection is open: as a ControlMaster
/// client (`mux_client_request_stdio_fwd`, sent only after the channel is confirmed), or
/// holding the connection itself (`channel_input_open_confirmation`). A refused or
/// unreachable port makes ssh exit instead (`stdio forwarding failed`).
const OPENED: [&str; 2] = ["master session id", ": open confirm "];

/// Whether `ip:port` on the engine's machine accepts a connection, asked through ssh:
/// ssh reports the channel opening (see [`OPENED`]) or exits. The readiness probe of a
/// service on an engine reached over ssh; `false` on any doubt (timeout included).
pub(super) async fn probe(destination: &SshDestination, ip: &str, port: u16, timeout: std::time::Duration) -> bool {
    use tokio::io::AsyncBufReadExt;
    let arguments = forward_command_line(destination, ip, port, true);
    let Ok(mut child) = spawn(&arguments) else {
        return false;
    };
    let Some(stderr) = child.stderr.take() else {
        return false;
    };
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let opened = tokio::time::timeout(timeout, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if OPENED.iter().any(|said| line.contains(said)) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    // Dropping the child kills it (and closes the probe's connection).
    drop(child);
    opened
}

/// Starts `arguments` with piped input, output and errors, killed when dropped.
fn spawn(arguments: &[String]) -> std::io::Result<Child> {
    tokio::process::Command::new(&arguments[0])
        .args(&arguments[1..])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
}

/// The options every `ssh` to the engine's machine takes, before the host.
fn ssh_options(destination: &SshDestination) -> Vec<String> {
    let mut arguments = vec!["ssh".to_string(), "-o".into(), "BatchMode=yes".into()];
    if let Some(folder) = control_folder() {
        arguments.extend([
            "-o".to_string(),
            "ControlMaster=auto".into(),
            "-o".into(),
            format!("ControlPath={}/%C", folder.display()),
            "-o".into(),
            format!("ControlPersist={CONNECTION_PERSISTS_SECONDS}"),
        ]);
    }
    if let Some(user) = &destination.user {
        arguments.extend(["-l".to_string(), user.clone()]);
    }
    if let Some(port) = destination.port {
        arguments.extend(["-p".to_string(), port.to_string()]);
    }
    arguments
}

/// The first connection of `idle` that can take a request now; closed ones are dropped,
/// busy ones kept.
fn take_ready<B>(idle: &mut Vec<SendRequest<B>>) -> Option<SendRequest<B>> {
    idle.retain(|sender| !sender.is_closed());
    let ready = idle.iter().position(SendRequest::is_ready)?;
    Some(idle.swap_remove(ready))
}

type Sent<B> = (SendRequest<B>, Result<hyper::Response<hyper::body::Incoming>, bollard::errors::Error>);

/// Opens a connection (one ssh process) and sends `request` on it.
async fn send<B>(destination: &SshDestination, address: &str, request: hyper::Request<B>) -> Result<Sent<B>, bollard::errors::Error>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let arguments = command_line(destination);
    let mut child = spawn(&arguments).map_err(|error| std::io::Error::new(error.kind(), format!("cannot run `ssh` to reach {address}: {error}")))?;
    let mut stderr = child.stderr.take();
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(std::io::Error::other("ssh started without pipes").into());
    };
    let stream = SshStream { _child: child, stdin, stdout };
    let handshake = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await;
    let outcome = match handshake {
        Ok((mut sender, connection)) => {
            tokio::spawn(async move {
                if let Err(error) = connection.with_upgrades().await {
                    tracing::debug!(%error, "an ssh connection to the engine ended");
                }
            });
            let response = sender.send_request(request).await;
            response.map(|response| (sender, response))
        }
        Err(error) => Err(error),
    };
    match outcome {
        Ok((sender, response)) => {
            // What ssh says later (a warning, a broken connection) is only logged.
            if let Some(mut stderr) = stderr {
                tokio::spawn(async move {
                    let mut text = String::new();
                    let _ = (&mut stderr).take(16 * 1024).read_to_string(&mut text).await;
                    if !text.trim().is_empty() {
                        tracing::debug!(ssh = %text.trim(), "ssh to the engine said");
                    }
                });
            }
            Ok((sender, Ok(response)))
        }
        Err(error) => {
            // ssh failing (no route, refused key, unknown host, no docker there) closes
            // the connection before an answer: its own words say why.
            let mut said = String::new();
            if let Some(stderr) = stderr.as_mut() {
                let mut limited = stderr.take(16 * 1024);
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), limited.read_to_string(&mut said)).await;
            }
            let said = said.trim();
            let reason = if said.is_empty() {
                format!("{error} (`{}`)", arguments.join(" "))
            } else {
                format!("`{}` failed: {said}", arguments.join(" "))
            };
            Err(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, reason).into())
        }
    }
}

/// `request` as a connection of its own sends it (what hyper's pooled client does for
/// bollard's other transports): the path alone on the request line, the host in `Host`.
fn origin_form(request: BollardRequest) -> Result<BollardRequest, bollard::errors::Error> {
    let (mut parts, body) = request.into_parts();
    let host = parts
        .uri
        .authority()
        .map_or_else(|| "docker".to_string(), |authority| authority.as_str().to_string());
    if !parts.headers.contains_key(hyper::header::HOST) {
        let value = hyper::header::HeaderValue::from_str(&host).map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
        parts.headers.insert(hyper::header::HOST, value);
    }
    let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
    parts.uri = path.parse().map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
    Ok(BollardRequest::from_parts(parts, body))
}

/// The ssh process's output and input as one connection; dropping it kills the process.
pub(super) struct SshStream {
    _child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

impl AsyncRead for SshStream {
    fn poll_read(mut self: Pin<&mut Self>, context: &mut Context<'_>, buffer: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdout).poll_read(context, buffer)
    }
}

impl AsyncWrite for SshStream {
    fn poll_write(mut self: Pin<&mut Self>, context: &mut Context<'_>, bytes: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stdin).poll_write(context, bytes)
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdin).poll_flush(context)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdin).poll_shutdown(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_passes_user_and_port_as_options_and_ends_them_before_the_host() {
        let destination = SshDestination {
            user: Some("ci".into()),
            host: "build-1".into(),
            port: Some(2222),
        };
        let line = command_line(&destination).join(" ");
        assert!(line.starts_with("ssh -o BatchMode=yes "), "{line}");
        assert!(line.ends_with(" -l ci -p 2222 -- build-1 docker system dial-stdio"), "{line}");
    }
}
