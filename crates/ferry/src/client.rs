//! A small blocking HTTP/1.1 client for the server's `/api/v1`: the local server's Unix socket,
//! or a remote server's control listener with a bearer token (`--server`) over https (rustls,
//! the web's roots plus an optional CA of the user's, see [`crate::tls`]) or plain HTTP; and
//! for probing the edge. The CLI stays synchronous.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::failure::{EXIT_BAD_INPUT, EXIT_FAILED, Failure};

/// A response.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers, lowercase names.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Reply {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request over `stream` and reads the whole response.
pub fn exchange<S: Read + Write>(
    stream: S,
    method: &str,
    host: &str,
    path: &str,
    body: Option<(&str, &[u8])>,
) -> std::io::Result<Reply> {
    exchange_with(stream, method, host, path, &[], body)
}

/// [`exchange`] with extra request headers (`name`, `value`; neither may hold a line break).
pub fn exchange_with<S: Read + Write>(
    stream: S,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &[u8])>,
) -> std::io::Result<Reply> {
    let mut stream = stream;
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\naccept: */*\r\n");
    for (name, value) in headers {
        if name.contains(['\r', '\n']) || value.contains(['\r', '\n']) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a header holds a line break",
            ));
        }
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some((content_type, bytes)) = body {
        head.push_str(&format!(
            "content-type: {content_type}\r\ncontent-length: {}\r\n",
            bytes.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if let Some((_, bytes)) = body {
        stream.write_all(bytes)?;
    }
    stream.flush()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad status line"))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((n, v)) = l.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if method == "HEAD" || status == 204 || status == 304 {
    } else if get("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunk"))?;
            if size == 0 {
                break;
            }
            let mut chunk = vec![0; size];
            reader.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk);
            line.clear();
            reader.read_line(&mut line)?;
        }
    } else if let Some(len) = get("content-length").and_then(|l| l.parse::<usize>().ok()) {
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    } else {
        reader.read_to_end(&mut body)?;
    }
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// A remote server: its control listener's URL and the token to send it.
#[derive(Debug, Clone)]
pub struct Remote {
    /// `https://host:port` or `http://host:port`, canonical (lowercase, no trailing slash):
    /// the key in `credentials.json`.
    pub url: String,
    /// Whether the connection is TLS (`https://`).
    pub tls: bool,
    /// Extra certificates to trust (PEM, `--ca`/`FERRY_CA` or stored at login), for a
    /// self-signed server or a private CA.
    pub ca: Option<String>,
    /// `host:port`, as connected to and sent as `Host`.
    pub authority: String,
    /// The host alone (no brackets around an IPv6 address).
    pub host: String,
    /// The bearer token, when one is known (`FERRY_TOKEN` or `credentials.json`).
    pub token: Option<String>,
}

impl Remote {
    /// Parses `https://host[:port][/]` (port 443 when absent) or `http://host[:port][/]`
    /// (port 80).
    pub fn parse(text: &str) -> Result<Remote, Failure> {
        let bad = |why: &str| {
            Failure::usage(
                format!("`{text}` is not a server URL: {why}"),
                "give the server's control listener as https://HOST:PORT (its `control` address in server.json; http:// when it serves no TLS)",
            )
        };
        let trimmed = text.trim();
        let lower = trimmed.to_ascii_lowercase();
        let (tls, rest) = match (
            lower.strip_prefix("https://"),
            lower.strip_prefix("http://"),
        ) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            (None, None) => return Err(bad("it must start with https:// or http://")),
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if !path.is_empty() {
            return Err(bad("give the server's root, without a path"));
        }
        if authority.is_empty() || authority.contains('@') {
            return Err(bad("no host"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed `[`"))?;
            (host.to_string(), after.strip_prefix(':').unwrap_or(""))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p),
                None => (authority.to_string(), ""),
            }
        };
        let port: u16 = if port.is_empty() {
            if tls { 443 } else { 80 }
        } else {
            port.parse().map_err(|_| bad("the port is not a number"))?
        };
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'_'))
        {
            return Err(bad("the host is not a name or an address"));
        }
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok(Remote {
            url: format!("{}://{authority}", if tls { "https" } else { "http" }),
            tls,
            ca: None,
            authority,
            host,
            token: None,
        })
    }

    /// Whether the host is this machine or a private network (where plain HTTP is tolerable).
    pub fn is_private(&self) -> bool {
        if self.host == "localhost" || self.host.ends_with(".localhost") {
            return true;
        }
        match self.host.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(ip)) => {
                ip.is_loopback() || ip.is_private() || ip.is_link_local()
            }
            Ok(std::net::IpAddr::V6(ip)) => {
                ip.is_loopback() || ip.is_unique_local() || ip.is_unicast_link_local()
            }
            Err(_) => false,
        }
    }
}

/// Where the API is.
#[derive(Debug, Clone)]
enum Endpoint {
    /// The local server's Unix socket (the machine's owner).
    Socket(PathBuf),
    /// A remote server's control listener.
    Remote(Remote),
}

/// A client of a ferry server's `/api/v1`: the local one (Unix socket) or a remote one
/// (`--server`, bearer token).
pub struct Api {
    endpoint: Endpoint,
}

/// How long a retry of an idempotent step may keep trying (the server may still be working on
/// the first attempt).
const RETRY_WINDOW: Duration = Duration::from_secs(600);

impl Api {
    /// The selected server's API: the remote one when `--server`/`FERRY_SERVER` names one
    /// (see [`crate::home::select`]), else the local server if one answers on
    /// `<home>/ferry.sock`.
    pub fn connect(home: &Path) -> Option<Self> {
        if let Some(remote) = crate::home::selected_remote() {
            return Some(Api::remote(remote));
        }
        Api::local(home)
    }

    /// The local server's API, if one answers on `<home>/ferry.sock`.
    pub fn local(home: &Path) -> Option<Self> {
        let socket = home.join("ferry.sock");
        UnixStream::connect(&socket).ok().map(|_| Api {
            endpoint: Endpoint::Socket(socket),
        })
    }

    /// A remote server's API (nothing is sent until the first request).
    pub fn remote(remote: Remote) -> Self {
        Api {
            endpoint: Endpoint::Remote(remote),
        }
    }

    /// The remote server this talks to, if it is not the local socket.
    pub fn remote_server(&self) -> Option<&Remote> {
        match &self.endpoint {
            Endpoint::Remote(r) => Some(r),
            Endpoint::Socket(_) => None,
        }
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        extra: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Result<Reply, Failure> {
        match &self.endpoint {
            Endpoint::Socket(socket) => {
                let stream = UnixStream::connect(socket).map_err(|err| Failure {
                    code: "server-unreachable",
                    message: format!(
                        "the ferry server stopped answering on {}: {err}",
                        socket.display()
                    ),
                    hint: "start it again with `ferry up` (or `ferry serve`)".into(),
                    exit: EXIT_FAILED,
                })?;
                let _ = stream.set_read_timeout(Some(Duration::from_secs(600)));
                exchange_with(stream, method, "ferry", path, extra, body).map_err(|err| Failure {
                    code: "server-unreachable",
                    message: format!("talking to the ferry server failed: {err}"),
                    hint: "check `$FERRY_HOME/logs/server.log`".into(),
                    exit: EXIT_FAILED,
                })
            }
            Endpoint::Remote(remote) => {
                let unreachable = |err: std::io::Error| {
                    Failure {
                    code: "server-unreachable",
                    message: format!("cannot talk to the ferry server at {}: {err}", remote.url),
                    hint: "check the URL (the server's `control` address in its server.json) and that it listens on an address you can reach (`ferry serve --control-listen`)".into(),
                    exit: EXIT_FAILED,
                }
                };
                let stream =
                    connect_tcp(&remote.authority, Duration::from_secs(10)).map_err(unreachable)?;
                let _ = stream.set_read_timeout(Some(Duration::from_secs(600)));
                let bearer = remote.token.as_ref().map(|t| format!("Bearer {t}"));
                let mut headers: Vec<(&str, &str)> = extra.to_vec();
                if let Some(b) = &bearer {
                    headers.push(("authorization", b.as_str()));
                }
                if remote.tls {
                    // The handshake (certificate checked) completes before the token is sent.
                    let tls = crate::tls::connect(remote, stream)?;
                    return exchange_with(tls, method, &remote.authority, path, &headers, body)
                        .map_err(unreachable);
                }
                exchange_with(stream, method, &remote.authority, path, &headers, body).map_err(
                    |err| match err.kind() {
                        // Not HTTP back (a TLS alert, or nothing): likely a TLS listener.
                        std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
                        | std::io::ErrorKind::ConnectionReset => Failure {
                            code: "server-unreachable",
                            message: format!(
                                "the server at {} did not answer HTTP ({err})",
                                remote.url
                            ),
                            hint: format!(
                                "if its control listener serves TLS (`--control-tls-cert`), use https://{}",
                                remote.authority
                            ),
                            exit: EXIT_FAILED,
                        },
                        _ => unreachable(err),
                    },
                )
            }
        }
    }

    /// Sends JSON (or nothing) and decodes JSON; an error status becomes a [`Failure`].
    pub fn json(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, Failure> {
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
        let reply = self.send(
            method,
            path,
            &[],
            bytes.as_deref().map(|b| ("application/json", b)),
        )?;
        self.decode(reply)
    }

    /// Sends JSON with `Idempotency-Key: key`, retrying with the same key when the answer did
    /// not arrive (a dropped connection) or the server is still handling an earlier attempt
    /// (`409 idempotency-in-progress`): the server acts at most once and answers every attempt
    /// alike.
    pub fn json_idempotent(
        &self,
        method: &str,
        path: &str,
        body: &Value,
        key: &str,
    ) -> Result<Value, Failure> {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let sent = self.send(
                method,
                path,
                &[("idempotency-key", key)],
                Some(("application/json", &bytes)),
            );
            let in_time = started.elapsed() < RETRY_WINDOW;
            match sent {
                Err(failure) if failure.code == "server-unreachable" && attempt < 4 && in_time => {
                    tracing::info!(attempt, %path, "no answer; retrying with the same idempotency key");
                    std::thread::sleep(Duration::from_millis(500 * u64::from(attempt)));
                }
                Err(failure) => return Err(failure),
                Ok(reply)
                    if reply.status == 409
                        && in_time
                        && error_code(&reply) == Some("idempotency-in-progress") =>
                {
                    std::thread::sleep(Duration::from_millis(500));
                }
                Ok(reply) => return self.decode(reply),
            }
        }
    }

    /// Uploads raw bytes.
    pub fn put_bytes(&self, path: &str, bytes: &[u8]) -> Result<Value, Failure> {
        let reply = self.send("PUT", path, &[], Some(("application/octet-stream", bytes)))?;
        self.decode(reply)
    }

    fn decode(&self, reply: Reply) -> Result<Value, Failure> {
        let value: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        if reply.status < 400 {
            return Ok(value);
        }
        // `{code, message, hint}` (older servers nested it under `error`).
        let err = if value.get("error").is_some_and(|e| e.is_object()) {
            &value["error"]
        } else {
            &value
        };
        let message = err["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("the server answered {}", reply.status));
        let mut hint = err["hint"]
            .as_str()
            .unwrap_or("see `$FERRY_HOME/logs/server.log`")
            .to_string();
        if let Some(remote) = self.remote_server() {
            if reply.status == 401 {
                hint = match &remote.token {
                    None => format!(
                        "no token for {0}: `ferry login {0}` (or set FERRY_TOKEN)",
                        remote.url
                    ),
                    Some(_) if crate::home::env_token().is_some() => {
                        format!("{hint}; FERRY_TOKEN is set and wins over a stored token")
                    }
                    Some(_) => format!("{hint}; then `ferry login {}` again", remote.url),
                };
            } else if reply.status >= 500 {
                hint = format!("{hint} (on the server at {})", remote.url);
            }
        }
        Err(Failure {
            code: known_code(err["code"].as_str().unwrap_or("")),
            message: format!("{message} ({})", reply.status),
            hint,
            exit: if reply.status < 500 {
                EXIT_BAD_INPUT
            } else {
                EXIT_FAILED
            },
        })
    }
}

/// The `code` of an error answer.
fn error_code(reply: &Reply) -> Option<&'static str> {
    let value: Value = serde_json::from_slice(&reply.body).ok()?;
    let err = if value.get("error").is_some_and(|e| e.is_object()) {
        &value["error"]
    } else {
        &value
    };
    Some(known_code(err["code"].as_str()?))
}

/// The server's error codes the CLI passes on as its own; anything else is `api-error`.
fn known_code(code: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "unauthenticated",
        "forbidden",
        "too-many-failures",
        "idempotency-mismatch",
        "idempotency-in-progress",
        "bad-idempotency-key",
        "app-not-found",
        "release-not-found",
        "missing-blobs",
    ];
    KNOWN
        .iter()
        .find(|k| **k == code)
        .copied()
        .unwrap_or("api-error")
}

/// Connects to `authority` (`host:port`), trying each address it resolves to.
fn connect_tcp(authority: &str, timeout: Duration) -> std::io::Result<TcpStream> {
    let mut last = None;
    for addr in authority.to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "the host has no address")
    }))
}

/// A fresh random key (32 hex digits) for `Idempotency-Key`.
pub fn idempotency_key() -> String {
    let mut bytes = [0u8; 16];
    let random = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !random {
        // No /dev/urandom: the time and the process id still make a key unique enough for
        // one client's retries.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = (now ^ (u128::from(std::process::id()) << 96)).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// GET over loopback TCP with a given Host header (probing the edge).
pub fn probe(addr: &str, host: &str, path: &str) -> std::io::Result<Reply> {
    let stream = connect_tcp(addr, Duration::from_secs(10))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    exchange(stream, "GET", host, path, None)
}

/// Whether a TCP connection to `addr` opens within 5 s.
pub fn reachable(addr: &str) -> std::io::Result<()> {
    connect_tcp(addr, Duration::from_secs(5)).map(drop)
}

#[cfg(test)]
mod tests {
    use super::Remote;

    #[test]
    fn parses_https_and_http_server_urls() {
        let r = Remote::parse("HTTPS://Ferry.Example.com/").expect("https");
        assert!(r.tls);
        assert_eq!(r.url, "https://ferry.example.com:443");
        assert_eq!(r.host, "ferry.example.com");
        let r = Remote::parse("https://[::1]:8081").expect("ipv6");
        assert_eq!(
            (r.url.as_str(), r.host.as_str()),
            ("https://[::1]:8081", "::1")
        );
        let r = Remote::parse("http://10.0.0.5").expect("http");
        assert!(!r.tls && r.is_private());
        assert_eq!(r.url, "http://10.0.0.5:80");
        assert!(
            !Remote::parse("http://203.0.113.9:8081")
                .expect("public")
                .is_private()
        );
        for bad in [
            "ftp://x",
            "https://",
            "https://h/path",
            "https://u@h",
            "https://h:port",
        ] {
            assert!(Remote::parse(bad).is_err(), "{bad}");
        }
    }
}
