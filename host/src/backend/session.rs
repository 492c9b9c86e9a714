//! A BuildKit session serving build secrets to the daemon's builder.
//!
//! A BuildKit build (`POST /build?version=2&session=ID`) reads `RUN --mount=type=secret`
//! values from the client over a session: `POST /session` upgraded to HTTP/2, on which
//! the daemon is the gRPC client and tanto the server. Only two unary methods are served,
//! the health check the daemon polls (it drops a session that fails it twice) and
//! `Secrets/GetSecret`; their messages are one field each, so they are encoded here
//! rather than through generated code. bollard's own session (its `buildkit` feature)
//! serves registry credentials and exports but no secrets.
//!
//! A value leaves the process only as the answer to `GetSecret`, over the daemon's
//! socket; BuildKit mounts it on a tmpfs for the one `RUN` that asks for it.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::BackendError;
use crate::engine::Secret;

const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";
const GET_SECRET: &str = "/moby.buildkit.secrets.v1.Secrets/GetSecret";
/// The most a request to the session may hold: a secret's id and its annotations.
const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// The most a daemon's answer to the upgrade may hold before the HTTP/2 stream starts.
const MAX_UPGRADE_HEADER_BYTES: usize = 16 * 1024;

/// gRPC status codes the session answers with.
const GRPC_OK: u32 = 0;
const GRPC_INVALID_ARGUMENT: u32 = 3;
const GRPC_NOT_FOUND: u32 = 5;
const GRPC_UNIMPLEMENTED: u32 = 12;

/// An open session; the daemon loses it (and a build still using it fails) when this is
/// dropped.
pub struct Session {
    pub id: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Opens a session on the daemon at `address` (`unix://PATH` or `tcp://HOST:PORT`) that
/// serves `secrets` by id.
pub async fn open(address: &str, secrets: BTreeMap<String, Secret>) -> Result<Session, BackendError> {
    let failed = |reason: String| BackendError::Failed {
        operation: "opening a BuildKit session (for build secrets)".into(),
        reason,
    };
    let id = hex::encode(&crate::secrets::random_key().map_err(|error| failed(format!("no random id: {error}")))?[..16]);
    let secrets = Arc::new(secrets);
    let server = if let Some(path) = address.strip_prefix("unix://") {
        let stream = tokio::net::UnixStream::connect(path)
            .await
            .map_err(|error| failed(format!("cannot connect to {address}: {error}")))?;
        let stream = upgrade(stream, &id).await.map_err(failed)?;
        tokio::spawn(serve(stream, secrets))
    } else if let Some(host) = address.strip_prefix("tcp://") {
        let stream = tokio::net::TcpStream::connect(host)
            .await
            .map_err(|error| failed(format!("cannot connect to {address}: {error}")))?;
        let stream = upgrade(stream, &id).await.map_err(failed)?;
        tokio::spawn(serve(stream, secrets))
    } else {
        return Err(failed(format!(
            "DOCKER_HOST={address} is neither unix:// nor tcp://; build secrets need a plain connection to the daemon"
        )));
    };
    Ok(Session { id, server })
}

/// Asks the daemon to turn the connection into the session `id` and reads its answer up
/// to the end of its headers (byte by byte: what follows is the daemon's HTTP/2 preface).
async fn upgrade<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, id: &str) -> Result<S, String> {
    let request = format!(
        "POST /session HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\
         X-Docker-Expose-Session-Uuid: {id}\r\nX-Docker-Expose-Session-Name: tanto\r\nX-Docker-Expose-Session-Sharedkey: {id}\r\n\
         X-Docker-Expose-Session-Grpc-Method: {HEALTH_CHECK}\r\nX-Docker-Expose-Session-Grpc-Method: {GET_SECRET}\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|error| format!("cannot send the upgrade request: {error}"))?;
    let mut header = Vec::new();
    while !header.ends_with(b"\r\n\r\n") {
        if header.len() >= MAX_UPGRADE_HEADER_BYTES {
            return Err("the daemon's answer has no end of headers".into());
        }
        let byte = stream
            .read_u8()
            .await
            .map_err(|error| format!("the daemon closed the connection during the upgrade: {error}"))?;
        header.push(byte);
    }
    let header = String::from_utf8_lossy(&header);
    let status = header.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("101") {
        return Err(format!("the daemon refused the session: {status}"));
    }
    Ok(stream)
}

/// Serves the daemon's calls until it closes the connection (or the session is dropped).
async fn serve<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(stream: S, secrets: Arc<BTreeMap<String, Secret>>) {
    let mut connection = match h2::server::handshake(stream).await {
        Ok(connection) => connection,
        Err(error) => {
            tracing::debug!(target: "tanto::build", "BuildKit session handshake failed: {error}");
            return;
        }
    };
    while let Some(call) = connection.accept().await {
        let Ok((request, respond)) = call else { break };
        let secrets = secrets.clone();
        tokio::spawn(async move {
            if let Err(error) = answer(request, respond, &secrets).await {
                tracing::debug!(target: "tanto::build", "BuildKit session call failed: {error}");
            }
        });
    }
}

/// Answers one unary call.
async fn answer(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    secrets: &BTreeMap<String, Secret>,
) -> Result<(), h2::Error> {
    let method = request.uri().path().to_string();
    let mut body = request.into_body();
    let mut message = Vec::new();
    let mut too_long = false;
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        if message.len() + chunk.len() > MAX_REQUEST_BYTES {
            too_long = true;
        } else {
            message.extend_from_slice(&chunk);
        }
    }
    let (status, reply) = if too_long {
        (GRPC_INVALID_ARGUMENT, None)
    } else {
        match method.as_str() {
            // HealthCheckResponse { status: SERVING }
            HEALTH_CHECK => (GRPC_OK, Some(vec![0x08, 0x01])),
            GET_SECRET => match unframe(&message).and_then(|request| string_field(request, 1)) {
                // GetSecretResponse { data }
                Some(id) => match secrets.get(&id) {
                    Some(secret) => (GRPC_OK, Some(bytes_field(1, secret.value().as_bytes()))),
                    None => (GRPC_NOT_FOUND, None),
                },
                None => (GRPC_INVALID_ARGUMENT, None),
            },
            _ => (GRPC_UNIMPLEMENTED, None),
        }
    };
    let response = http::Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .body(())
        .expect("a static response");
    let mut send = respond.send_response(response, false)?;
    if let Some(reply) = reply {
        send.send_data(frame(&reply), false)?;
    }
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from(status));
    send.send_trailers(trailers)
}

/// The message of a gRPC frame (`0`, length as 4 bytes big-endian, message).
fn unframe(data: &[u8]) -> Option<&[u8]> {
    let (&compressed, rest) = data.split_first()?;
    let length = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    (compressed == 0).then_some(())?;
    rest.get(4..4 + length)
}

fn frame(message: &[u8]) -> Bytes {
    let mut data = Vec::with_capacity(message.len() + 5);
    data.push(0);
    data.extend_from_slice(&(message.len() as u32).to_be_bytes());
    data.extend_from_slice(message);
    Bytes::from(data)
}

/// The string field `number` of a protobuf message; skips every other field.
fn string_field(mut message: &[u8], number: u64) -> Option<String> {
    let mut found = None;
    while !message.is_empty() {
        let key = varint(&mut message)?;
        match key & 7 {
            0 => {
                varint(&mut message)?;
            }
            1 => message = message.get(8..)?,
            2 => {
                let length = usize::try_from(varint(&mut message)?).ok()?;
                let value = message.get(..length)?;
                if key >> 3 == number {
                    found = Some(String::from_utf8(value.to_vec()).ok()?);
                }
                message = &message[length..];
            }
            5 => message = message.get(4..)?,
            _ => return None,
        }
    }
    found
}

fn varint(message: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = message.split_first()?;
        *message = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// A protobuf message holding only the bytes field `number`.
fn bytes_field(number: u64, value: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(value.len() + 12);
    put_varint(&mut message, (number << 3) | 2);
    put_varint(&mut message, value.len() as u64);
    message.extend_from_slice(value);
    message
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_get_secret_request_gives_its_id() {
        // GetSecretRequest { ID: "token", annotations: { "a": "b" } }, framed.
        let mut request = bytes_field(1, b"token");
        request.extend_from_slice(&[0x12, 0x06, 0x0a, 0x01, b'a', 0x12, 0x01, b'b']);
        let framed = frame(&request);
        assert_eq!(string_field(unframe(&framed).unwrap(), 1).as_deref(), Some("token"));
        assert_eq!(string_field(&request[..3], 1), None, "a truncated message is refused");
        assert_eq!(unframe(&framed[..framed.len() - 1]), None, "a truncated frame is refused");
    }

    #[test]
    fn a_long_value_gets_a_multi_byte_length() {
        let value = vec![7u8; 300];
        let message = bytes_field(1, &value);
        assert_eq!(&message[..3], &[0x0a, 0xac, 0x02]);
        assert_eq!(&message[3..], &value[..]);
    }
}
