//! Connecting to Postgres: rustls for every TLS mode libpq knows, errors sorted into
//! unreachable / login refused / TLS / privilege, and one session setup shared by copy and
//! verify so both print values the same way.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use crate::endpoint::{PgEndpoint, TlsMode};
use crate::error::{DataError, Result};

/// Settings every ferry session uses: schema-qualified catalog output and one text form for
/// dates, times and numbers (the canonical encoding relies on them).
pub const SESSION_SETUP: &str = "SET search_path = pg_catalog; SET DateStyle = 'ISO, YMD'; \
     SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; SET extra_float_digits = 1; \
     SET client_encoding = 'UTF8'; SET bytea_output = 'hex'; SET statement_timeout = 0; SET lock_timeout = 0; \
     SET idle_in_transaction_session_timeout = 0";

/// A server message without the driver's prefixes (with the detail when there is one).
pub fn error_text(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return match db.detail() {
            Some(d) => format!("{} ({d})", db.message()),
            None => db.message().to_string(),
        };
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// A failed statement as a [`DataError`]: a missing privilege is told apart from other
/// failures.
pub fn sql_error(side: &'static str, context: &str, e: &tokio_postgres::Error) -> DataError {
    if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) {
        return DataError::Privilege {
            side,
            what: format!("{context}: {}", error_text(e)),
        };
    }
    DataError::Sql {
        side,
        context: context.to_string(),
        reason: error_text(e),
    }
}

/// Connects, runs [`SESSION_SETUP`] and spawns the connection task.
pub async fn connect(endpoint: &PgEndpoint, side: &'static str) -> Result<Client> {
    let url = endpoint.redacted.clone();
    let tls = tls_connector(endpoint).map_err(|reason| DataError::Tls {
        side,
        url: url.clone(),
        reason,
    })?;
    let (client, connection) = endpoint
        .config
        .connect(tls)
        .await
        .map_err(|e| classify(e, side, &url))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("connection closed: {e}");
        }
    });
    client
        .batch_execute(SESSION_SETUP)
        .await
        .map_err(|e| classify(e, side, &url))?;
    Ok(client)
}

fn classify(e: tokio_postgres::Error, side: &'static str, url: &str) -> DataError {
    let reason = error_text(&e);
    let url = url.to_string();
    if let Some(code) = e.code() {
        if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            return DataError::AuthFailed { side, url, reason };
        }
        if *code == SqlState::INSUFFICIENT_PRIVILEGE {
            return DataError::Privilege { side, what: reason };
        }
        return DataError::Unreachable { side, url, reason };
    }
    let lower = reason.to_lowercase();
    if lower.contains("certificate")
        || lower.contains("tls")
        || lower.contains("ssl")
        || lower.contains("handshake")
    {
        return DataError::Tls { side, url, reason };
    }
    if lower.contains("password") {
        return DataError::AuthFailed { side, url, reason };
    }
    DataError::Unreachable { side, url, reason }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_connector(
    endpoint: &PgEndpoint,
) -> std::result::Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let verify = match endpoint.tls {
        TlsMode::VerifyFull => Some(true),
        TlsMode::VerifyCa => Some(false),
        TlsMode::Require if endpoint.root_cert.is_some() => Some(false),
        _ => None,
    };
    let config = match verify {
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider())))
            .with_no_client_auth(),
        Some(check_name) => {
            let mut roots = rustls::RootCertStore::empty();
            match &endpoint.root_cert {
                Some(path) => {
                    let pem = std::fs::read(path)
                        .map_err(|e| format!("cannot read sslrootcert {}: {e}", path.display()))?;
                    let mut added = 0;
                    for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(&pem) {
                        let cert: CertificateDer<'static> =
                            cert.map_err(|e| format!("{}: {e}", path.display()))?;
                        roots
                            .add(cert)
                            .map_err(|e| format!("{}: {e}", path.display()))?;
                        added += 1;
                    }
                    if added == 0 {
                        return Err(format!("{} holds no PEM certificate", path.display()));
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .map_err(|e| e.to_string())?;
            if check_name {
                builder.with_webpki_verifier(inner).with_no_client_auth()
            } else {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(ChainOnly(inner)))
                    .with_no_client_auth()
            }
        }
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// `sslmode=require`/`prefer`: encrypted, not authenticated (libpq's behaviour).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `sslmode=verify-ca`: the chain must lead to a trusted root; the host name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
