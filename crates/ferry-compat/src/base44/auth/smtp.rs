//! Mail delivery through an SMTP server, recorded in the outbox file.
//!
//! [`SmtpConfig::parse`] reads one URL:
//!
//! | URL | connection | default port |
//! | --- | --- | --- |
//! | `smtps://user:pass@host` | TLS from the first byte | 465 |
//! | `smtp://user:pass@host` | STARTTLS, required (no mail is sent in the clear) | 587 |
//! | `smtp://host?tls=none` | no encryption: local relays and tests | 25 |
//!
//! The user and password are percent-decoded; `from=` in the query is the sender
//! (`noreply@example.com` or `Example <noreply@example.com>`), required unless the user is
//! an email address. The password never appears in `Debug`, `Display` or an error.
//!
//! [`SmtpOutbox::send`] records the message in the outbox file as `queued` and hands it to a
//! background task through a bounded queue ([`QUEUE_CAPACITY`]); a full queue is an error.
//! The task delivers up to [`CONCURRENT_DELIVERIES`] messages at once, one connection each,
//! and appends `sent` or `failed` (with the error as `detail`) when done. Transient errors
//! (connection refused or reset, timeouts, TLS handshakes, 4xx replies) are retried:
//! [`MAX_ATTEMPTS`] attempts, waiting [`RETRY_DELAYS`] between them; permanent ones (5xx
//! replies, no authentication mechanism in common, an address the message cannot carry) are
//! not. A message still `queued` when the server stops is not tried again after a restart.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::{Semaphore, mpsc};

use super::mail::{Mail, MailError, Outbox, one_line};
use super::outbox::{FileOutbox, MailStatus, StoredMail};

/// How many accepted messages may wait for delivery; past that, `send` fails.
pub const QUEUE_CAPACITY: usize = 256;
/// How many messages are delivered at the same time.
pub const CONCURRENT_DELIVERIES: usize = 4;
/// How many times a message is tried before it is `failed`.
pub const MAX_ATTEMPTS: usize = 3;
/// The waits between attempts: after the first, after the second.
pub const RETRY_DELAYS: [Duration; MAX_ATTEMPTS - 1] =
    [Duration::from_secs(1), Duration::from_secs(4)];
/// The limit on each SMTP command (connecting included).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// TLS from the first byte (`smtps://`, port 465 by default).
    Implicit,
    /// A plain connection upgraded with STARTTLS, which the server must offer (`smtp://`,
    /// port 587 by default).
    StartTls,
    /// No encryption (`smtp://…?tls=none`, port 25 by default): local relays and tests.
    None,
}

/// A parsed SMTP URL ([`SmtpConfig::parse`]). `Debug` and `Display` show the password as
/// `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    host: String,
    port: u16,
    security: SmtpSecurity,
    user: Option<String>,
    password: Option<String>,
    from: String,
}

/// A [`MailError::SmtpUrl`] with `detail`.
fn bad(detail: impl Into<String>) -> MailError {
    MailError::SmtpUrl {
        detail: detail.into(),
    }
}

/// What to say when the authority cannot be read: the password may be in the way.
const ENCODE_ADVICE: &str =
    "percent-encode `@ : / ? #` in the user and password (%40 %3A %2F %3F %23)";

/// Percent-decodes `s` (no `+` for space) into UTF-8; `what` names it in the error, which
/// never contains the value.
fn decode(s: &str, what: &str) -> Result<String, MailError> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let valid = bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
            if !valid {
                return Err(bad(format!(
                    "the {what} has a `%` not followed by two hex digits"
                )));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| bad(format!("the {what} is not UTF-8 once percent-decoded")))
}

/// A host name or IP address as written in a URL (IPv6 in brackets); returns it without
/// brackets.
fn parse_host(host: &str) -> Result<String, MailError> {
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or_else(|| {
            bad(format!(
                "the IPv6 address has no closing `]`; {ENCODE_ADVICE}"
            ))
        })?;
        inner
            .parse::<Ipv6Addr>()
            .map_err(|_| bad("the address in `[…]` is not an IPv6 address"))?;
        return Ok(inner.to_owned());
    }
    if host.is_empty() {
        return Err(bad("the host is missing"));
    }
    let valid = host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if !valid {
        return Err(bad(format!(
            "the host is not a host name or IP address; {ENCODE_ADVICE}"
        )));
    }
    Ok(host.to_owned())
}

/// Whether `host` is this machine (a password may cross it unencrypted).
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl SmtpConfig {
    /// Parses an SMTP URL: `smtps://user:pass@host[:465]` (implicit TLS),
    /// `smtp://user:pass@host[:587]` (STARTTLS required) or `smtp://host[:25]?tls=none`
    /// (plain), with `?from=address` unless the user is an email address. The query may
    /// also say `tls=starttls` (or `tls=required`), the default of `smtp://`. Credentials are refused with
    /// `tls=none` unless the host is loopback.
    pub fn parse(url: &str) -> Result<SmtpConfig, MailError> {
        let url = url.trim();
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("expected smtp://… or smtps://…"))?;
        let implicit = match scheme.to_ascii_lowercase().as_str() {
            "smtps" => true,
            "smtp" => false,
            // Echoed only when it looks like a scheme: never a piece of a password.
            _ if scheme.len() <= 16 && scheme.chars().all(|c| c.is_ascii_alphanumeric()) => {
                return Err(bad(format!(
                    "unknown scheme `{scheme}`: use smtp:// or smtps://"
                )));
            }
            _ => return Err(bad("expected smtp://… or smtps://…")),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, after) = rest.split_at(end);
        let (path, query) = match after.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (after, None),
        };
        if path.contains('#') || query.is_some_and(|q| q.contains('#')) {
            return Err(bad(format!(
                "a `#` fragment is not allowed; {ENCODE_ADVICE}"
            )));
        }
        if !path.is_empty() && path != "/" {
            return Err(bad(format!("a path is not allowed; {ENCODE_ADVICE}")));
        }

        // user:password@host:port
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(userinfo) => {
                let (user, password) = userinfo
                    .split_once(':')
                    .ok_or_else(|| bad("a user without a password: give both or neither"))?;
                let user = decode(user, "user")?;
                let password = decode(password, "password")?;
                if user.is_empty() {
                    return Err(bad("a password without a user: give both or neither"));
                }
                if password.is_empty() {
                    return Err(bad("the password is empty: give both or neither"));
                }
                (Some(user), Some(password))
            }
        };
        let (host, port) = if hostport.starts_with('[') {
            let close = hostport.find(']').ok_or_else(|| {
                bad(format!(
                    "the IPv6 address has no closing `]`; {ENCODE_ADVICE}"
                ))
            })?;
            let (host, rest) = hostport.split_at(close + 1);
            match rest.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None if rest.is_empty() => (host, None),
                None => {
                    return Err(bad(format!(
                        "`]` must be followed by `:port` or nothing; {ENCODE_ADVICE}"
                    )));
                }
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (hostport, None),
            }
        };
        let host = parse_host(host)?;
        let port = match port {
            None => None,
            Some(port) => Some(
                port.parse::<u16>()
                    .ok()
                    .filter(|&p| p != 0 && port.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| {
                        bad(format!(
                            "the port is not a number from 1 to 65535; {ENCODE_ADVICE}"
                        ))
                    })?,
            ),
        };

        // ?from=…&tls=…
        let mut from = None;
        let mut tls = None;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| bad("query parameters are `key=value`: from=…, tls=…"))?;
            let slot = match key {
                "from" => &mut from,
                "tls" => &mut tls,
                _ => {
                    return Err(bad(
                        "unknown query parameter: the parameters are from=… and tls=…",
                    ));
                }
            };
            if slot.is_some() {
                return Err(bad(format!("`{key}` is given twice")));
            }
            *slot = Some(decode(value, &format!("`{key}=` value"))?);
        }
        let security = match (implicit, tls.as_deref()) {
            (true, None) => SmtpSecurity::Implicit,
            (true, Some(_)) => {
                return Err(bad(
                    "smtps:// always uses TLS: drop `tls=` (or use smtp://…?tls=none)",
                ));
            }
            (false, None | Some("starttls" | "required")) => SmtpSecurity::StartTls,
            (false, Some("none")) => SmtpSecurity::None,
            (false, Some("opportunistic")) => {
                return Err(bad(
                    "tls=opportunistic is not supported (an attacker can turn it off): use tls=starttls or tls=none",
                ));
            }
            (false, Some(_)) => return Err(bad("`tls` is `starttls` or `none`")),
        };
        if security == SmtpSecurity::None && user.is_some() && !is_loopback(&host) {
            return Err(bad(
                "refusing to send a password unencrypted to another machine: use smtps:// or smtp:// with STARTTLS",
            ));
        }
        let port = port.unwrap_or(match security {
            SmtpSecurity::Implicit => 465,
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::None => 25,
        });
        let from = match from {
            Some(from) => {
                let from = from.trim().to_owned();
                from.parse::<Mailbox>().map_err(|_| {
                    bad(format!(
                        "from=`{}` is not an email address",
                        one_line(&from)
                    ))
                })?;
                from
            }
            None => match user.as_deref().map(str::parse::<Address>) {
                Some(Ok(address)) => address.to_string(),
                Some(Err(_)) => {
                    return Err(bad(
                        "no sender: add ?from=address (the user is not an email address)",
                    ));
                }
                None => return Err(bad("no sender: add ?from=address")),
            },
        };
        Ok(SmtpConfig {
            host,
            port,
            security,
            user,
            password,
            from,
        })
    }

    /// The server's host name or IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How the connection is secured.
    pub fn security(&self) -> SmtpSecurity {
        self.security
    }

    /// The user to authenticate as, if any (percent-decoded).
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The sender, as given by `from=` (possibly `Name <address>`) or the user's address.
    pub fn from(&self) -> &str {
        &self.from
    }
}

impl fmt::Display for SmtpConfig {
    /// `smtps://user:***@host:465?from=…` (`?tls=none` for plain connections).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.security {
            SmtpSecurity::Implicit => "smtps",
            SmtpSecurity::StartTls | SmtpSecurity::None => "smtp",
        };
        write!(f, "{scheme}://")?;
        if let Some(user) = &self.user {
            let user = percent_encoding::utf8_percent_encode(user, USERINFO);
            write!(f, "{user}:***@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)?;
        } else {
            write!(f, "{}:{}", self.host, self.port)?;
        }
        let from = percent_encoding::utf8_percent_encode(&self.from, QUERY_VALUE);
        write!(f, "?from={from}")?;
        if self.security == SmtpSecurity::None {
            f.write_str("&tls=none")?;
        }
        Ok(())
    }
}

/// Characters encoded in a displayed user.
const USERINFO: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'%')
    .add(b'@')
    .add(b':')
    .add(b'/')
    .add(b'?')
    .add(b'#');

/// Characters encoded in a displayed `from=` value.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'%')
    .add(b'&')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'"');

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("from", &self.from)
            .finish()
    }
}

/// One message waiting for delivery.
struct Job {
    stored: StoredMail,
}

/// What the delivery tasks share.
struct Delivery {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    record: Arc<FileOutbox>,
}

/// An outbox that delivers through an SMTP server in the background and records every
/// message, with its status, in a [`FileOutbox`] (see the module documentation).
pub struct SmtpOutbox {
    queue: mpsc::Sender<Job>,
    record: Arc<FileOutbox>,
    config: SmtpConfig,
}

impl fmt::Debug for SmtpOutbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpOutbox")
            .field("config", &self.config)
            .field("record", &self.record.path())
            .finish_non_exhaustive()
    }
}

impl SmtpOutbox {
    /// Starts the delivery task for `config` on the current tokio runtime
    /// ([`MailError::NoRuntime`] outside one), recording messages in `record`. Messages come
    /// from `config`'s sender; when it has no display name, `app_name` is used
    /// (`App <noreply@example.com>`). Nothing is sent to the server until the first message.
    pub fn start(
        config: SmtpConfig,
        record: FileOutbox,
        app_name: &str,
    ) -> Result<SmtpOutbox, MailError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| MailError::NoRuntime)?;
        let mut from = config
            .from
            .parse::<Mailbox>()
            .map_err(|_| bad("the sender is not an email address"))?;
        let app = one_line(app_name);
        if from.name.is_none() && !app.is_empty() {
            from.name = Some(app);
        }
        let tls = |host: &str| {
            TlsParameters::new(host.to_owned())
                .map_err(|e| bad(format!("TLS cannot be set up for the host: {e}")))
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .timeout(Some(COMMAND_TIMEOUT));
        builder = match config.security {
            SmtpSecurity::Implicit => builder.tls(Tls::Wrapper(tls(&config.host)?)),
            SmtpSecurity::StartTls => builder.tls(Tls::Required(tls(&config.host)?)),
            SmtpSecurity::None => builder.tls(Tls::None),
        };
        if let (Some(user), Some(password)) = (&config.user, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        let record = Arc::new(record);
        let delivery = Arc::new(Delivery {
            transport: builder.build(),
            from,
            record: Arc::clone(&record),
        });
        let (queue, jobs) = mpsc::channel(QUEUE_CAPACITY);
        runtime.spawn(run(jobs, delivery));
        Ok(SmtpOutbox {
            queue,
            record,
            config,
        })
    }

    /// The outbox file the messages are recorded in.
    pub fn record_path(&self) -> &std::path::Path {
        self.record.path()
    }
}

impl Outbox for SmtpOutbox {
    /// Records `mail` as `queued` and queues it for delivery; a full queue (the server is
    /// slow or unreachable) is [`MailError::Queue`], and the message is recorded `failed`.
    fn send(&self, mail: Mail) -> Result<(), MailError> {
        match self.queue.try_reserve() {
            Ok(slot) => {
                let stored = self.record.store(mail, MailStatus::Queued, None)?;
                slot.send(Job { stored });
                Ok(())
            }
            Err(e) => {
                let detail = match e {
                    mpsc::error::TrySendError::Full(()) => {
                        format!("{QUEUE_CAPACITY} messages are already waiting for the SMTP server")
                    }
                    mpsc::error::TrySendError::Closed(()) => "the delivery task has stopped".into(),
                };
                // Best effort: the caller hears about it either way.
                self.record
                    .store(
                        mail,
                        MailStatus::Failed,
                        Some(format!("not sent: {detail}")),
                    )
                    .ok();
                Err(MailError::Queue { detail })
            }
        }
    }
}

/// The delivery task: takes queued messages and delivers up to [`CONCURRENT_DELIVERIES`] at
/// once. Ends when the [`SmtpOutbox`] is dropped and the queue is empty.
async fn run(mut jobs: mpsc::Receiver<Job>, delivery: Arc<Delivery>) {
    let slots = Arc::new(Semaphore::new(CONCURRENT_DELIVERIES));
    while let Some(job) = jobs.recv().await {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let delivery = Arc::clone(&delivery);
        tokio::spawn(async move {
            let (status, detail) = deliver(&delivery, &job.stored).await;
            // Best effort: a record that cannot be written leaves the message `queued`.
            delivery
                .record
                .update(&job.stored.id, status, detail.as_deref())
                .ok();
            drop(slot);
        });
    }
}

/// Builds the message for `stored`: From, To, Subject, Date (its creation time),
/// Message-ID (its id), a UTF-8 plain-text body.
fn build_message(from: &Mailbox, stored: &StoredMail) -> Result<Message, String> {
    let to = stored
        .to
        .parse::<Address>()
        .map_err(|e| format!("the recipient `{}` is not an email address: {e}", stored.to))?;
    let message_id = format!(
        "<{}.{}@{}>",
        stored.id,
        stored.created_at,
        from.email.domain()
    );
    Message::builder()
        .from(from.clone())
        .to(Mailbox::new(None, to))
        .subject(stored.subject.clone())
        .date(UNIX_EPOCH + Duration::from_millis(stored.created_at))
        .message_id(Some(message_id))
        .header(ContentType::TEXT_PLAIN)
        .body(stored.text.clone())
        .map_err(|e| format!("the message cannot be built: {e}"))
}

/// Whether an SMTP error may go away if tried again: everything but 5xx replies and errors
/// of the client itself (no usable authentication mechanism, a bad address).
fn is_transient(e: &lettre::transport::smtp::Error) -> bool {
    !(e.is_permanent() || e.is_client())
}

/// Delivers `stored`, retrying transient errors; returns the final status and detail.
async fn deliver(delivery: &Delivery, stored: &StoredMail) -> (MailStatus, Option<String>) {
    let message = match build_message(&delivery.from, stored) {
        Ok(message) => message,
        Err(detail) => return (MailStatus::Failed, Some(detail)),
    };
    let bytes = message.formatted();
    let mut attempt = 1;
    loop {
        match delivery
            .transport
            .send_raw(message.envelope(), &bytes)
            .await
        {
            Ok(_) => return (MailStatus::Sent, None),
            Err(e) if !is_transient(&e) => {
                return (MailStatus::Failed, Some(format!("{e} (not retried)")));
            }
            Err(e) => match RETRY_DELAYS.get(attempt - 1) {
                Some(&delay) => {
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                None => {
                    return (
                        MailStatus::Failed,
                        Some(format!("{e} (after {attempt} attempts)")),
                    );
                }
            },
        }
    }
}
