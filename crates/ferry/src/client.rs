//! A small blocking HTTP/1.1 client for the server's Unix socket (and for probing the edge
//! over loopback TCP). The CLI stays synchronous; the server speaks plain HTTP.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    let mut stream = stream;
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\naccept: */*\r\n");
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

/// A client of the local server's `/api/v1`.
pub struct Api {
    socket: PathBuf,
}

impl Api {
    /// A client if a server answers on `<home>/ferry.sock`.
    pub fn connect(home: &Path) -> Option<Self> {
        let socket = home.join("ferry.sock");
        UnixStream::connect(&socket).ok().map(|_| Api { socket })
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<Reply, Failure> {
        let stream = UnixStream::connect(&self.socket).map_err(|err| Failure {
            code: "server-unreachable",
            message: format!(
                "the ferry server stopped answering on {}: {err}",
                self.socket.display()
            ),
            hint: "start it again with `ferry up` (or `ferry serve`)".into(),
            exit: EXIT_FAILED,
        })?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(600)));
        exchange(stream, method, "ferry", path, body).map_err(|err| Failure {
            code: "server-unreachable",
            message: format!("talking to the ferry server failed: {err}"),
            hint: "check `$FERRY_HOME/logs/server.log`".into(),
            exit: EXIT_FAILED,
        })
    }

    /// Sends JSON (or nothing) and decodes JSON; an error status becomes a [`Failure`].
    pub fn json(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, Failure> {
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
        let reply = self.send(
            method,
            path,
            bytes.as_deref().map(|b| ("application/json", b)),
        )?;
        decode(reply)
    }

    /// Uploads raw bytes.
    pub fn put_bytes(&self, path: &str, bytes: &[u8]) -> Result<Value, Failure> {
        decode(self.send("PUT", path, Some(("application/octet-stream", bytes)))?)
    }
}

fn decode(reply: Reply) -> Result<Value, Failure> {
    let value: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    if reply.status >= 400 {
        // `{code, message, hint}` (older servers nested it under `error`).
        let err = if value.get("error").is_some_and(|e| e.is_object()) {
            &value["error"]
        } else {
            &value
        };
        return Err(Failure {
            code: "api-error",
            message: err["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("the server answered {}", reply.status)),
            hint: err["hint"]
                .as_str()
                .unwrap_or("see `$FERRY_HOME/logs/server.log`")
                .to_string(),
            exit: if reply.status < 500 {
                EXIT_BAD_INPUT
            } else {
                EXIT_FAILED
            },
        });
    }
    Ok(value)
}

/// GET over loopback TCP with a given Host header (probing the edge).
pub fn probe(addr: &str, host: &str, path: &str) -> std::io::Result<Reply> {
    let stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    exchange(stream, "GET", host, path, None)
}
