//! The CLI's TLS to a remote server's control listener (`https://`): rustls with the web's
//! roots (Mozilla's, from `webpki-roots`) plus the certificates of `--ca`/`FERRY_CA` or those
//! `ferry login` stored, and host-name verification. The handshake completes — the
//! certificate checked — before a byte of the request (its token) is written.

use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConnection, StreamOwned};

use crate::client::Remote;
use crate::failure::{EXIT_BAD_INPUT, EXIT_FAILED, Failure};

/// A TLS stream to a remote server.
pub type Stream = StreamOwned<ClientConnection, TcpStream>;

/// The certificates in `pem` (one at least), or why not.
fn certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no PEM certificate in it".into());
    }
    Ok(certs)
}

/// Reads a CA file (`--ca`/`FERRY_CA`): PEM text with one certificate at least.
pub fn read_ca(path: &Path) -> Result<String, Failure> {
    let bad = |why: String| {
        Failure {
        code: "bad-ca",
        message: format!("`{}`: {why}", path.display()),
        hint: "give a PEM certificate (-----BEGIN CERTIFICATE-----): the server's self-signed one or the CA that signed it".into(),
        exit: EXIT_BAD_INPUT,
    }
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    certificates(&text).map_err(bad)?;
    Ok(text)
}

/// Opens TLS to `remote` over `tcp` and completes the handshake.
pub fn connect(remote: &Remote, tcp: TcpStream) -> Result<Stream, Failure> {
    let mut roots =
        rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = &remote.ca {
        for cert in certificates(pem).map_err(|why| Failure {
            code: "bad-ca",
            message: format!("the CA certificate for {} is not valid: {why}", remote.url),
            hint: format!("`ferry login {} --ca FILE` again", remote.url),
            exit: EXIT_BAD_INPUT,
        })? {
            // A certificate webpki cannot use as a root is skipped (the others still count).
            let _ = roots.add(cert);
        }
    }
    let setup = |err: rustls::Error| Failure {
        code: "tls",
        message: format!("TLS setup failed: {err}"),
        hint: "report this as a bug".into(),
        exit: EXIT_FAILED,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(setup)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = ServerName::try_from(remote.host.clone()).map_err(|e| {
        Failure::usage(
            format!("`{}` is not a host name TLS can check: {e}", remote.host),
            "give the name the server's certificate holds",
        )
    })?;
    let mut conn = ClientConnection::new(Arc::new(config), name).map_err(setup)?;
    let mut tcp = tcp;
    while conn.is_handshaking() {
        if let Err(err) = conn.complete_io(&mut tcp) {
            return Err(handshake_failure(remote, err));
        }
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// A failed handshake as one line and a hint: an untrusted certificate, a certificate for
/// another name, or no TLS at all on the other side.
fn handshake_failure(remote: &Remote, err: std::io::Error) -> Failure {
    let tls = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    let ca_hint = format!(
        "if the server uses a self-signed certificate or a private CA, trust it: `ferry login {} --ca cert.pem` (or FERRY_CA=cert.pem)",
        remote.url
    );
    match tls {
        Some(rustls::Error::InvalidCertificate(cert)) => {
            let wrong_name = matches!(
                cert,
                rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. }
            );
            if wrong_name {
                Failure {
                    code: "tls-wrong-host",
                    message: format!(
                        "the certificate of {} is not valid for `{}`: {cert}",
                        remote.url, remote.host
                    ),
                    hint: "connect with a name the certificate holds (its subjectAltName), or give the server a certificate for this name".into(),
                    exit: EXIT_FAILED,
                }
            } else {
                let hint = if format!("{cert:?}").contains("CaUsedAsEndEntity") {
                    "the server's certificate is marked as a CA (basicConstraints CA:TRUE), which webpki refuses as a server's own: make it with `-addext basicConstraints=critical,CA:FALSE`, or sign a server certificate with that CA".to_string()
                } else if remote.ca.is_some() {
                    format!(
                        "the certificate given with --ca/FERRY_CA (or stored at login) does not vouch for this server's: `ferry login {} --ca FILE` with the right one",
                        remote.url
                    )
                } else {
                    ca_hint
                };
                Failure {
                    code: "tls-untrusted",
                    message: format!(
                        "the certificate of {} is not trusted: {cert}; nothing was sent",
                        remote.url
                    ),
                    hint,
                    exit: EXIT_FAILED,
                }
            }
        }
        Some(other) => Failure {
            code: "tls-handshake",
            message: format!("TLS with {} failed: {other}", remote.url),
            hint: format!(
                "does its control listener serve TLS (`ferry serve --control-tls-cert`)? If not, use http://{} on a private network",
                remote.authority
            ),
            exit: EXIT_FAILED,
        },
        None => Failure {
            code: "server-unreachable",
            message: format!("TLS with {} failed: {err}", remote.url),
            hint: format!(
                "does its control listener serve TLS (`ferry serve --control-tls-cert`)? If not, use http://{} on a private network",
                remote.authority
            ),
            exit: EXIT_FAILED,
        },
    }
}
