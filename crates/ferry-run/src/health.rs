//! The HTTP health check: one `GET` over a fresh connection, only the status line read.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most bytes read while looking for the status line.
const MAX_HEAD: usize = 8 * 1024;

/// Asks `GET http://127.0.0.1:<port><path>` and returns the status, or why there is none.
pub(crate) async fn check(port: u16, path: &str, timeout: Duration) -> Result<u16, String> {
    match tokio::time::timeout(timeout, ask(port, path)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

async fn ask(port: u16, path: &str) -> Result<u16, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| describe(&e))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: ferry-health\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| describe(&e))?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 1024];
    loop {
        if let Some(end) = head.windows(2).position(|w| w == b"\r\n") {
            return parse_status_line(&head[..end]);
        }
        if head.len() >= MAX_HEAD {
            return Err("answer without a status line".into());
        }
        let n = stream.read(&mut buf).await.map_err(|e| describe(&e))?;
        if n == 0 {
            return Err(if head.is_empty() {
                "connection closed without an answer".into()
            } else {
                "answer without a status line".into()
            });
        }
        head.extend_from_slice(&buf[..n]);
    }
}

/// `HTTP/1.1 200 OK` → 200.
fn parse_status_line(line: &[u8]) -> Result<u16, String> {
    let text = std::str::from_utf8(line).map_err(|_| "malformed status line".to_string())?;
    let mut parts = text.split(' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return Err("malformed status line".into());
    }
    code.parse::<u16>()
        .ok()
        .filter(|c| (100..600).contains(c))
        .ok_or_else(|| "malformed status line".into())
}

/// A short, stable description of a connection error.
fn describe(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::ConnectionReset => "connection reset".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 204 No Content"), Ok(204));
        assert_eq!(parse_status_line(b"HTTP/1.0 503"), Ok(503));
        assert!(parse_status_line(b"SSH-2.0-OpenSSH").is_err());
        assert!(parse_status_line(b"HTTP/1.1 99 x").is_err());
    }

    #[tokio::test]
    async fn refused_and_answered() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(b"HTTP/1.1 418 Teapot\r\n\r\n").await;
            }
        });
        assert_eq!(check(port, "/", Duration::from_secs(2)).await, Ok(418));
        let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let free_port = free.local_addr().expect("addr").port();
        drop(free);
        assert_eq!(
            check(free_port, "/", Duration::from_secs(2)).await,
            Err("connection refused".into())
        );
    }
}
