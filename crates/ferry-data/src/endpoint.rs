//! Database URLs: a Postgres server (with libpq's `sslmode`/`sslrootcert`) or an embedded
//! SQLite file (`sqlite:///path`). Parsed offline; a Supabase transaction pooler is refused
//! before any connection.

use std::path::PathBuf;
use std::str::FromStr;

use crate::error::{DataError, Result};

/// How TLS is used and checked (libpq's `sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, unverified (libpq's default).
    Prefer,
    /// TLS, certificate unverified (verified when `sslrootcert` is given, as libpq does).
    Require,
    /// TLS, certificate chain verified, host name not.
    VerifyCa,
    /// TLS, chain and host name verified.
    VerifyFull,
}

/// A Postgres server to connect to.
#[derive(Debug, Clone)]
pub struct PgEndpoint {
    /// Connection settings for tokio-postgres (without the TLS options it does not know).
    pub config: Box<tokio_postgres::Config>,
    /// TLS mode.
    pub tls: TlsMode,
    /// `sslrootcert`: a PEM file of trusted roots (else the Mozilla roots).
    pub root_cert: Option<PathBuf>,
    /// The host as written (for host-name verification).
    pub host: String,
    /// The URL with the password replaced by `***`.
    pub redacted: String,
}

/// Where data comes from or goes to.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// A Postgres server.
    Postgres(PgEndpoint),
    /// An SQLite file (created when missing).
    Sqlite(PathBuf),
}

impl Endpoint {
    /// Parses a URL: `postgres://…`, `postgresql://…` or `sqlite:///path`.
    pub fn parse(url: &str) -> Result<Endpoint> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(DataError::BadUrl {
                    url: url.into(),
                    reason: "no file path after sqlite://".into(),
                });
            }
            return Ok(Endpoint::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return parse_postgres(url).map(Endpoint::Postgres);
        }
        Err(DataError::BadUrl {
            url: redact(url),
            reason: "expected a postgres:// or sqlite:// URL".into(),
        })
    }

    /// Parses a source URL: it must be a Postgres server.
    pub fn parse_source(url: &str) -> Result<PgEndpoint> {
        match Endpoint::parse(url)? {
            Endpoint::Postgres(p) => Ok(p),
            Endpoint::Sqlite(_) => Err(DataError::BadUrl {
                url: url.into(),
                reason: "the source must be a postgres:// URL".into(),
            }),
        }
    }

    /// The URL for display (password redacted).
    pub fn display(&self) -> String {
        match self {
            Endpoint::Postgres(p) => p.redacted.clone(),
            Endpoint::Sqlite(path) => format!("sqlite://{}", path.display()),
        }
    }
}

/// Replaces the password of a URL with `***`.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            let shown = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            format!("{}://{}{}", &url[..scheme_end], shown, &rest[at..])
        }
        None => url.to_string(),
    }
}

fn parse_postgres(url: &str) -> Result<PgEndpoint> {
    let redacted = redact(url);
    let bad = |reason: String| DataError::BadUrl {
        url: redacted.clone(),
        reason,
    };
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut tls = TlsMode::Prefer;
    let mut root_cert = None;
    let mut kept: Vec<String> = Vec::new();
    let mut pgbouncer = false;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => {
                tls = match value {
                    "disable" => TlsMode::Disable,
                    "allow" | "prefer" => TlsMode::Prefer,
                    "require" => TlsMode::Require,
                    "verify-ca" => TlsMode::VerifyCa,
                    "verify-full" => TlsMode::VerifyFull,
                    other => return Err(bad(format!("unknown sslmode `{other}`"))),
                }
            }
            "sslrootcert" => root_cert = Some(PathBuf::from(percent_decode(value))),
            "pgbouncer" => pgbouncer = value == "true",
            "application_name"
            | "connect_timeout"
            | "options"
            | "target_session_attrs"
            | "keepalives"
            | "keepalives_idle"
            | "user"
            | "password"
            | "dbname"
            | "host"
            | "port" => kept.push(pair.to_string()),
            // Driver-specific extras (Prisma's `schema`, `connection_limit`…) mean nothing here.
            _ => {}
        }
    }
    let rebuilt = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let mut config = tokio_postgres::Config::from_str(&rebuilt).map_err(|e| bad(e.to_string()))?;
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => return Err(bad("no host".into())),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let supabase_host = host.contains("supabase") || host.contains("pooler");
    if (port == 6543 && supabase_host) || pgbouncer {
        return Err(DataError::TransactionPooler { url: redacted });
    }
    if config.get_user().is_none() {
        config.user("postgres");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(15));
    }
    config.ssl_mode(match tls {
        TlsMode::Disable => tokio_postgres::config::SslMode::Disable,
        TlsMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        _ => tokio_postgres::config::SslMode::Require,
    });
    Ok(PgEndpoint {
        config: Box::new(config),
        tls,
        root_cert,
        host,
        redacted,
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact("postgres://u:p%40ss@h/db?x=@"),
            "postgres://u:***@h/db?x=@"
        );
    }

    #[test]
    fn refuses_the_transaction_pooler() {
        let e = Endpoint::parse(
            "postgres://postgres.abc:pw@aws-0-eu-central-1.pooler.supabase.com:6543/postgres",
        )
        .err()
        .map(|e| e.code());
        assert_eq!(e, Some("transaction-pooler"));
        assert!(
            Endpoint::parse(
                "postgres://postgres.abc:pw@aws-0-eu-central-1.pooler.supabase.com:5432/postgres"
            )
            .is_ok()
        );
    }

    #[test]
    fn parses_tls_and_sqlite() {
        let Ok(Endpoint::Postgres(p)) = Endpoint::parse(
            "postgresql://u:p@127.0.0.1:5433/db?sslmode=verify-full&sslrootcert=/tmp/ca.pem&schema=public",
        ) else {
            panic!("parse failed")
        };
        assert_eq!(p.tls, TlsMode::VerifyFull);
        assert_eq!(
            p.root_cert.as_deref(),
            Some(std::path::Path::new("/tmp/ca.pem"))
        );
        assert!(!p.redacted.contains(":p@"));
        assert!(
            matches!(Endpoint::parse("sqlite:///tmp/x.db"), Ok(Endpoint::Sqlite(p)) if p == std::path::Path::new("/tmp/x.db"))
        );
        assert_eq!(
            Endpoint::parse("mysql://x").err().map(|e| e.code()),
            Some("bad-url")
        );
        assert_eq!(
            Endpoint::parse("postgres://u@h/db?sslmode=bogus")
                .err()
                .map(|e| e.code()),
            Some("bad-url")
        );
    }
}
