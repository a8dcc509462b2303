//! A small HTTP/1.1 client for the endpoints the owner configures (an OpenAI-compatible
//! server): one connection per request, `http://` over TCP and `https://` over rustls with
//! the webpki roots, a time limit on the whole exchange and a cap on the answer's size.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::rt::TokioIo;

/// Why an outgoing request failed (before an HTTP status was received, or while reading the
/// answer).
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL is not `http://host[:port]/…` or `https://…`.
    #[error("`{0}` is not an http:// or https:// URL")]
    BadUrl(String),
    /// The host could not be reached.
    #[error("cannot connect to {host}: {detail}")]
    Connect {
        /// `host:port`.
        host: String,
        /// The OS or TLS error.
        detail: String,
    },
    /// The exchange failed after connecting.
    #[error("the request to {host} failed: {detail}")]
    Exchange {
        /// `host:port`.
        host: String,
        /// hyper's error.
        detail: String,
    },
    /// The whole exchange took longer than the limit.
    #[error("{host} did not answer within {secs} s")]
    Timeout {
        /// `host:port`.
        host: String,
        /// The limit.
        secs: u64,
    },
    /// The answer is larger than the cap.
    #[error("the answer of {host} is larger than {max} bytes")]
    TooLarge {
        /// `host:port`.
        host: String,
        /// The cap.
        max: usize,
    },
}

/// An answer: its status and body.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Bytes,
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = match rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
            {
                Ok(builder) => builder.with_root_certificates(roots).with_no_client_auth(),
                // The ring provider supports the default versions; this cannot happen, but a
                // config without roots would only fail its handshakes, never panic.
                Err(_) => rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
            };
            Arc::new(config)
        })
        .clone()
}

/// Sends `method url` with `headers` and `body` and reads the answer (at most `max_body`
/// bytes), all within `timeout`.
pub async fn send(
    method: http::Method,
    url: &str,
    headers: &[(header::HeaderName, String)],
    body: Option<(&'static str, Vec<u8>)>,
    timeout: Duration,
    max_body: usize,
) -> Result<Answer, HttpError> {
    let uri: Uri = url.parse().map_err(|_| HttpError::BadUrl(redact(url)))?;
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(HttpError::BadUrl(redact(url))),
    };
    let host = uri
        .host()
        .ok_or_else(|| HttpError::BadUrl(redact(url)))?
        .to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let authority = format!("{host}:{port}");
    let secs = timeout.as_secs();
    let exchange = exchange(method, &uri, tls, &host, port, headers, body, max_body);
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(HttpError::Timeout {
            host: authority,
            secs,
        }),
    }
}

#[allow(clippy::too_many_arguments)]
async fn exchange(
    method: http::Method,
    uri: &Uri,
    tls: bool,
    host: &str,
    port: u16,
    headers: &[(header::HeaderName, String)],
    body: Option<(&'static str, Vec<u8>)>,
    max_body: usize,
) -> Result<Answer, HttpError> {
    let authority = format!("{host}:{port}");
    let connect = |detail: String| HttpError::Connect {
        host: authority.clone(),
        detail,
    };
    let exchange_err = |detail: String| HttpError::Exchange {
        host: authority.clone(),
        detail,
    };
    // IPv6 literals come with brackets in the URI.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let tcp = tokio::net::TcpStream::connect((bare, port))
        .await
        .map_err(|e| connect(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let path = uri
        .path_and_query()
        .map_or_else(|| "/".to_string(), |pq| pq.as_str().to_string());
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, uri.authority().map_or(host, |a| a.as_str()))
        .header(header::ACCEPT, "application/json")
        .header(header::USER_AGENT, "ferry");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let body = match body {
        Some((content_type, bytes)) => {
            request = request.header(header::CONTENT_TYPE, content_type);
            Full::new(Bytes::from(bytes))
        }
        None => Full::new(Bytes::new()),
    };
    let request = request
        .body(body)
        .map_err(|e| exchange_err(e.to_string()))?;
    let response = if tls {
        let name = rustls_pki_types::ServerName::try_from(bare.to_string())
            .map_err(|e| connect(e.to_string()))?;
        let stream = tokio_rustls::TlsConnector::from(tls_config())
            .connect(name, tcp)
            .await
            .map_err(|e| connect(e.to_string()))?;
        round_trip(TokioIo::new(stream), request).await
    } else {
        round_trip(TokioIo::new(tcp), request).await
    }
    .map_err(|e| exchange_err(e.to_string()))?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), max_body)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                HttpError::TooLarge {
                    host: authority.clone(),
                    max: max_body,
                }
            } else {
                exchange_err(e.to_string())
            }
        })?
        .to_bytes();
    Ok(Answer { status, body })
}

async fn round_trip<IO>(
    io: IO,
    request: Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, hyper::Error>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        // The connection ends with the exchange; its error is the request's.
        let _ = conn.await;
    });
    sender.send_request(request).await
}

/// `url` without credentials or query (for messages).
pub fn redact(url: &str) -> String {
    let no_query = url.split(['?', '#']).next().unwrap_or("");
    match no_query.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let hidden = if authority.contains('@') { "***@" } else { "" };
            let slash = if rest.contains('/') { "/" } else { "" };
            format!("{scheme}://{hidden}{host}{slash}{path}")
        }
        None => no_query.chars().take(100).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts() {
        assert_eq!(redact("http://u:p@h:1/v1?k=secret"), "http://***@h:1/v1");
        assert_eq!(redact("https://h/v1"), "https://h/v1");
    }

    #[tokio::test]
    async fn refuses_other_schemes_and_unreachable_hosts() {
        let t = Duration::from_secs(2);
        let err = send(http::Method::GET, "ftp://x/", &[], None, t, 10)
            .await
            .expect_err("ftp");
        assert!(matches!(err, HttpError::BadUrl(_)));
        // A port nothing listens on (bound then dropped).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port");
        let err = send(
            http::Method::GET,
            &format!("http://127.0.0.1:{port}/"),
            &[],
            None,
            t,
            10,
        )
        .await
        .expect_err("closed");
        assert!(matches!(err, HttpError::Connect { .. }), "{err}");
    }
}
