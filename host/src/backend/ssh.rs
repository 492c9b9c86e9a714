//! An engine reached through `ssh://`, as the docker CLI reaches it: each connection is
//! one `ssh [-l USER] [-p PORT] HOST docker system dial-stdio` process, whose standard
//! input and output carry the HTTP of the Docker API to the remote engine's socket.
//!
//! The user's own `ssh` runs, so their keys, agent, `~/.ssh/config` and `known_hosts`
//! apply; `BatchMode=yes` makes it fail instead of prompting (tanto's progress owns the
//! terminal). A connection's process lives as long as hyper holds the connection (an
//! attached container's stream included) and is killed when it lets go.

use std::pin::Pin;
use std::task::{Context, Poll};

use bollard::{BollardRequest, Docker};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout};

use super::endpoint::SshDestination;

/// A client for the engine behind `destination` (nothing is started until a request).
pub(super) fn connect(destination: &SshDestination, address: &str, timeout_seconds: u64) -> Docker {
    let destination = destination.clone();
    let address = address.to_string();
    let transport = move |request: BollardRequest| {
        let destination = destination.clone();
        let address = address.clone();
        async move { send(&destination, &address, request).await }
    };
    // Requests are addressed to `http://docker/…`, as the docker CLI addresses them over ssh.
    match Docker::connect_with_custom_transport(transport, Some("http://docker"), timeout_seconds, bollard::API_DEFAULT_VERSION) {
        Ok(docker) => docker,
        // It only stores its arguments; unreachable, but not worth a panic.
        Err(error) => unreachable!("a custom transport cannot fail to be stored: {error}"),
    }
}

/// The `ssh` command line that reaches the engine.
pub(super) fn command_line(destination: &SshDestination) -> Vec<String> {
    let mut arguments = vec!["ssh".to_string(), "-o".into(), "BatchMode=yes".into()];
    if let Some(user) = &destination.user {
        arguments.extend(["-l".to_string(), user.clone()]);
    }
    if let Some(port) = destination.port {
        arguments.extend(["-p".to_string(), port.to_string()]);
    }
    // `--` ends the options: the host (validated not to start with `-`) is never one.
    arguments.extend(["--".to_string(), destination.host.clone()]);
    arguments.extend(["docker", "system", "dial-stdio"].map(String::from));
    arguments
}

async fn send(destination: &SshDestination, address: &str, request: BollardRequest) -> Result<hyper::Response<hyper::body::Incoming>, bollard::errors::Error> {
    let request = origin_form(request)?;
    let arguments = command_line(destination);
    let mut child = tokio::process::Command::new(&arguments[0])
        .args(&arguments[1..])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| std::io::Error::new(error.kind(), format!("cannot run `ssh` to reach {address}: {error}")))?;
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
            sender.send_request(request).await
        }
        Err(error) => Err(error),
    };
    match outcome {
        Ok(response) => {
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
            Ok(response)
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
struct SshStream {
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
        assert_eq!(
            command_line(&destination).join(" "),
            "ssh -o BatchMode=yes -l ci -p 2222 -- build-1 docker system dial-stdio"
        );
    }
}
