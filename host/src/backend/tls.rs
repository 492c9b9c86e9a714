//! An engine reached over `tcp://` with TLS, through a connection pool of tanto's own.
//!
//! bollard's TLS client (`Docker::connect_with_ssl`) builds its hyper client with
//! `pool_max_idle_per_host(0)`, as it does for every transport: no connection is kept
//! once a response is read, so each request pays a TCP and TLS handshake (measured, the 5
//! cached steps of a pipeline took 0.47 s over TLS against 0.05 s over the unix socket).
//! The same hyper client with idle connections kept, over rustls, is given to bollard as
//! its custom transport instead.
//!
//! What is verified follows the docker CLI: with `DOCKER_TLS_VERIFY` the engine's
//! certificate must chain to the given `ca.pem`; with `DOCKER_TLS` alone the connection is
//! encrypted but the engine is not authenticated (see [`TlsFiles::ca`]). A client
//! certificate is presented when there is one.

use std::sync::Arc;
use std::time::Duration;

use bollard::{BollardRequest, Docker};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use super::endpoint::TlsFiles;

/// How long an idle connection is kept: long enough to span the requests of a run.
const IDLE_SECONDS: u64 = 30;

/// A client for the engine at `address` (`host:port`), or why the TLS material is
/// unusable (naming the file).
pub(super) fn connect(address: &str, tls: &TlsFiles, timeout_seconds: u64) -> Result<Docker, (std::path::PathBuf, String)> {
    let config = client_config(tls)?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnector::from((http, config));
    let client = Client::builder(TokioExecutor::new())
        .pool_timer(hyper_util::rt::TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(IDLE_SECONDS))
        .build(https);
    let transport = move |request: BollardRequest| {
        let client = client.clone();
        async move { client.request(request).await.map_err(bollard::errors::Error::from) }
    };
    Docker::connect_with_custom_transport(transport, Some(format!("https://{address}")), timeout_seconds, bollard::API_DEFAULT_VERSION)
        .map_err(|error| (tls.ca.clone().unwrap_or_default(), error.to_string()))
}

/// The rustls configuration for `tls`: its CA (or no verification), its client
/// certificate (if any).
fn client_config(tls: &TlsFiles) -> Result<rustls::ClientConfig, (std::path::PathBuf, String)> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| (std::path::PathBuf::new(), error.to_string()))?;
    let builder = match &tls.ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            let certificates = certificates(ca)?;
            let (added, _) = roots.add_parsable_certificates(certificates);
            if added == 0 {
                return Err((ca.clone(), "holds no usable certificate".into()));
            }
            builder.with_root_certificates(roots)
        }
        None => builder.dangerous().with_custom_certificate_verifier(Arc::new(Unverified(provider))),
    };
    match &tls.client {
        Some((cert, key)) => {
            let chain = certificates(cert)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|error| (key.clone(), format!("holds no private key: {error}")))?;
            builder.with_client_auth_cert(chain, key).map_err(|error| (cert.clone(), error.to_string()))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

/// The certificates in the PEM file `path`, at least one.
fn certificates(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, (std::path::PathBuf, String)> {
    let found = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|error| (path.to_path_buf(), error.to_string()))?;
    if found.is_empty() {
        return Err((path.to_path_buf(), "holds no certificate".into()));
    }
    Ok(found)
}

/// Accepts whatever certificate the engine shows (`DOCKER_TLS` without
/// `DOCKER_TLS_VERIFY`, as the docker CLI's `--tls`); the handshake's signatures are
/// still checked, so the engine holds the key of the certificate it shows.
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, certificate, signature, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, certificate, signature, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
