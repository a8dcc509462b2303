//! Mail delivery: the outbox file (`FileOutbox`, `read_outbox`), SMTP URLs (`SmtpConfig`),
//! and `SmtpOutbox` against a small SMTP server written here (plain connections on
//! 127.0.0.1): delivery with its envelope, headers and body, a permanent 550 (not retried),
//! a transient 451 (retried), a refused connection (retried, then failed), a full queue.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ferry_compat::base44::auth::{
    FileOutbox, Mail, MailError, MailStatus, Outbox, SmtpConfig, SmtpOutbox, SmtpSecurity,
    StoredMail, read_outbox,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

// ---- a small SMTP server ----------------------------------------------------------------

/// One message as the test server received it.
#[derive(Debug, Clone)]
struct Received {
    ehlo: String,
    mail_from: String,
    rcpt_to: Vec<String>,
    /// The DATA section, dot-unstuffed, lines joined with CRLF.
    data: String,
}

/// How the test server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// Accepts every message.
    Accept,
    /// Answers `RCPT TO` with 550.
    Reject550,
    /// Answers the first connection's `MAIL FROM` with 451, then accepts.
    TransientOnce,
    /// Accepts connections and never says anything.
    Silent,
}

/// A running test server.
struct Server {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    received: mpsc::UnboundedReceiver<Received>,
}

/// Starts a test server on 127.0.0.1 (any port).
async fn smtp_server(behaviour: Behaviour) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let connections = Arc::new(AtomicUsize::new(0));
    let (tx, received) = mpsc::unbounded_channel();
    let counter = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            let tx = tx.clone();
            tokio::spawn(async move {
                if behaviour == Behaviour::Silent {
                    // Hold the connection open without a greeting.
                    let _stream = stream;
                    tokio::time::sleep(Duration::from_secs(120)).await;
                    return;
                }
                // An error here just ends the conversation; the client reports it.
                let _ = session(stream, behaviour, n, tx).await;
            });
        }
    });
    Server {
        addr,
        connections,
        received,
    }
}

/// One SMTP conversation.
async fn session(
    stream: tokio::net::TcpStream,
    behaviour: Behaviour,
    connection: usize,
    tx: mpsc::UnboundedSender<Received>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 test.local ESMTP ready\r\n").await?;
    let mut current = Received {
        ehlo: String::new(),
        mail_from: String::new(),
        rcpt_to: Vec::new(),
        data: String::new(),
    };
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end_matches(['\r', '\n']);
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => {
                current.ehlo = command[5..].to_owned();
                b"250-test.local greets you\r\n250 8BITMIME\r\n"
            }
            "MAIL" => {
                if behaviour == Behaviour::TransientOnce && connection == 1 {
                    b"451 4.3.0 try again later\r\n"
                } else {
                    current.mail_from = command.to_owned();
                    b"250 2.1.0 ok\r\n"
                }
            }
            "RCPT" => {
                if behaviour == Behaviour::Reject550 {
                    b"550 5.1.1 mailbox unavailable\r\n"
                } else {
                    current.rcpt_to.push(command.to_owned());
                    b"250 2.1.5 ok\r\n"
                }
            }
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = Vec::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    let text = line.trim_end_matches(['\r', '\n']);
                    if text == "." {
                        break;
                    }
                    data.push(text.strip_prefix('.').unwrap_or(text).to_owned());
                }
                current.data = data.join("\r\n");
                let _ = tx.send(current.clone());
                b"250 2.0.0 queued\r\n"
            }
            "RSET" | "NOOP" => b"250 2.0.0 ok\r\n",
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 5.5.2 command not recognised\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// Waits (up to `limit`) until the message `id` in the outbox at `path` is no longer
/// `queued`; returns it.
async fn settled(path: &Path, id: &str, limit: Duration) -> StoredMail {
    let start = Instant::now();
    loop {
        let mails = read_outbox(path).expect("read outbox");
        let mail = mails.iter().find(|m| m.id == id).cloned();
        if let Some(mail) = mail.filter(|m| m.status != MailStatus::Queued) {
            return mail;
        }
        assert!(
            start.elapsed() < limit,
            "message {id} still queued: {mails:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The only message in the outbox at `path`.
fn only(path: &Path) -> StoredMail {
    let mails = read_outbox(path).expect("read outbox");
    assert_eq!(mails.len(), 1, "{mails:?}");
    mails[0].clone()
}

/// An SMTP outbox sending to the test server at `addr` without encryption.
fn plain_outbox(addr: SocketAddr, path: &Path, app: &str) -> SmtpOutbox {
    let url = format!(
        "smtp://{addr}?tls=none&from=noreply@ferry.test",
        addr = addr
    );
    let config = SmtpConfig::parse(&url).expect("url");
    SmtpOutbox::start(config, FileOutbox::open(path).expect("open"), app).expect("start")
}

// ---- SMTP delivery ----------------------------------------------------------------------

/// `ms` (Unix milliseconds) as an RFC 5322 date in UTC: `Thu, 26 Nov 2026 05:33:44 +0000`.
fn rfc5322_date(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).expect("days");
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian, 400-year eras).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{weekday}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        months[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[test]
fn the_test_date_formatter_is_right() {
    assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
    assert_eq!(
        rfc5322_date(951_782_400_000),
        "Tue, 29 Feb 2000 00:00:00 +0000"
    );
    assert_eq!(
        rfc5322_date(1_700_000_000_999),
        "Tue, 14 Nov 2023 22:13:20 +0000"
    );
}

#[tokio::test]
async fn delivers_through_smtp_and_records_sent() {
    let mut server = smtp_server(Behaviour::Accept).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("outbox.jsonl");
    let outbox = plain_outbox(server.addr, &path, "Todo");
    let mut mail = Mail::otp("Todo", "alice@example.com", "004217");
    mail.text
        .push_str(".a line that starts with a dot\n..and one with two\n.\n");
    outbox.send(mail.clone()).expect("queued");

    // Recorded as queued before `send` returns.
    let queued = only(&path);
    assert_eq!(queued.status, MailStatus::Queued);
    assert_eq!(queued.detail, None);
    assert_eq!(queued.to, "alice@example.com");
    assert_eq!(queued.subject, "Todo: your verification code");
    assert_eq!(queued.text, mail.text);

    let received = tokio::time::timeout(Duration::from_secs(20), server.received.recv())
        .await
        .expect("delivered in time")
        .expect("a message");
    assert!(!received.ehlo.trim().is_empty());
    assert_eq!(received.mail_from, "MAIL FROM:<noreply@ferry.test>");
    assert_eq!(received.rcpt_to, ["RCPT TO:<alice@example.com>"]);
    let expected = format!(
        "From: Todo <noreply@ferry.test>\r\n\
         To: alice@example.com\r\n\
         Subject: Todo: your verification code\r\n\
         Date: {date}\r\n\
         Message-ID: <{id}.{ms}@ferry.test>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 7bit\r\n\
         \r\n\
         Your verification code for Todo is 004217.\r\n\
         \r\n\
         It expires in 10 minutes. If you did not ask for it, ignore this message.\r\n\
         .a line that starts with a dot\r\n\
         ..and one with two\r\n\
         .\r\n",
        date = rfc5322_date(queued.created_at),
        id = queued.id,
        ms = queued.created_at,
    );
    assert_eq!(received.data, expected);

    let stored = settled(&path, &queued.id, Duration::from_secs(20)).await;
    assert_eq!(stored.status, MailStatus::Sent);
    assert_eq!(stored.detail, None);
    assert_eq!(stored.text, mail.text, "the record keeps the text as sent");
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);

    // On disk: the message line, then one status line.
    let raw = std::fs::read_to_string(&path).expect("read");
    let lines: Vec<&str> = raw.lines().collect();
    assert_eq!(lines.len(), 2, "{raw}");
    assert_eq!(
        lines[1],
        format!(r#"{{"id":"{}","status":"sent","detail":null}}"#, queued.id)
    );
}

#[tokio::test]
async fn utf8_names_and_text_are_encoded() {
    let mut server = smtp_server(Behaviour::Accept).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("outbox.jsonl");
    let outbox = plain_outbox(server.addr, &path, "Café");
    outbox
        .send(Mail::invite(
            "Café",
            "bob@example.com",
            "user",
            "https://café.example/login",
        ))
        .expect("queued");
    let received = tokio::time::timeout(Duration::from_secs(20), server.received.recv())
        .await
        .expect("delivered in time")
        .expect("a message");
    let stored = only(&path);
    // RFC 2047 words for the name and subject ("Caf\u{e9}" is Q2Fmw6k= in base64),
    // quoted-printable for the body.
    let expected = format!(
        "From: =?utf-8?b?Q2Fmw6k=?= <noreply@ferry.test>\r\n\
         To: bob@example.com\r\n\
         Subject: You are invited to =?utf-8?b?Q2Fmw6k=?=\r\n\
         Date: {date}\r\n\
         Message-ID: <{id}.{ms}@ferry.test>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\
         \r\n\
         You have been invited to join Caf=C3=A9 as user.\r\n\
         \r\n\
         To accept, open:\r\n\
         https://caf=C3=A9.example/login\r\n",
        date = rfc5322_date(stored.created_at),
        id = stored.id,
        ms = stored.created_at,
    );
    assert_eq!(received.data, expected);
}

#[tokio::test]
async fn a_550_is_failed_at_once() {
    let server = smtp_server(Behaviour::Reject550).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("outbox.jsonl");
    let outbox = plain_outbox(server.addr, &path, "Todo");
    outbox
        .send(Mail::otp("Todo", "nobody@example.com", "123456"))
        .expect("queued");
    let id = only(&path).id;
    let stored = settled(&path, &id, Duration::from_secs(20)).await;
    assert_eq!(stored.status, MailStatus::Failed);
    let detail = stored.detail.expect("detail");
    assert!(detail.contains("550"), "{detail}");
    assert!(detail.contains("mailbox unavailable"), "{detail}");
    assert!(detail.contains("not retried"), "{detail}");
    assert_eq!(server.connections.load(Ordering::SeqCst), 1, "no retry");
}

#[tokio::test]
async fn a_451_is_retried() {
    let mut server = smtp_server(Behaviour::TransientOnce).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("outbox.jsonl");
    let outbox = plain_outbox(server.addr, &path, "Todo");
    let start = Instant::now();
    outbox
        .send(Mail::otp("Todo", "carol@example.com", "654321"))
        .expect("queued");
    let id = only(&path).id;
    let stored = settled(&path, &id, Duration::from_secs(20)).await;
    assert_eq!(stored.status, MailStatus::Sent, "{stored:?}");
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "waited before retrying"
    );
    let received = server
        .received
        .try_recv()
        .expect("the second try delivered");
    assert_eq!(received.rcpt_to, ["RCPT TO:<carol@example.com>"]);
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_failed() {
    // A port nothing listens on: bind one, then close it.
    let addr = {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        listener.local_addr().expect("addr")
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("outbox.jsonl");
    let outbox = plain_outbox(addr, &path, "Todo");
    let start = Instant::now();
    outbox
        .send(Mail::otp("Todo", "dave@example.com", "111111"))
        .expect("queued: send does not wait for the server");
    assert!(start.elapsed() < Duration::from_millis(500));
    let id = only(&path).id;
    let stored = settled(&path, &id, Duration::from_secs(30)).await;
    assert_eq!(stored.status, MailStatus::Failed);
    let detail = stored.detail.expect("detail");
    assert!(
        detail.to_lowercase().contains("connection refused"),
        "{detail}"
    );
    assert!(detail.contains("after 3 attempts"), "{detail}");
    // Three attempts, 1 s and 4 s apart.
    assert!(
        start.elapsed() >= Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_full_queue_refuses_and_records_failed() {
    let server = smtp_server(Behaviour::Silent).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("outbox.jsonl");
    let outbox = plain_outbox(server.addr, &path, "Todo");
    let mut refused = None;
    for i in 0..400 {
        if let Err(e) = outbox.send(Mail::otp("Todo", &format!("u{i}@example.com"), "000000")) {
            refused = Some((i, e));
            break;
        }
    }
    let (i, e) = refused.expect("the queue fills up");
    assert!(i >= 256, "at least the queue's capacity is accepted ({i})");
    assert!(matches!(e, MailError::Queue { .. }), "{e:?}");
    assert_eq!(e.code(), "mail-failed");
    let mails = read_outbox(&path).expect("read");
    assert_eq!(mails.len(), i + 1);
    let last = mails.last().expect("last");
    assert_eq!(last.to, format!("u{i}@example.com"));
    assert_eq!(last.status, MailStatus::Failed);
    assert!(
        last.detail
            .as_deref()
            .is_some_and(|d| d.starts_with("not sent:")),
        "{last:?}"
    );
}

#[test]
fn start_needs_a_runtime() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = SmtpConfig::parse("smtp://127.0.0.1?tls=none&from=a@b.test").expect("url");
    let record = FileOutbox::open(dir.path().join("outbox.jsonl")).expect("open");
    let e = SmtpOutbox::start(config, record, "Todo").expect_err("no runtime");
    assert_eq!(e, MailError::NoRuntime);
}

// ---- the outbox file --------------------------------------------------------------------

#[test]
fn file_outbox_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("state").join("mail");
    let path = folder.join("outbox.jsonl");
    assert_eq!(read_outbox(&path).expect("missing file"), []);

    let outbox = FileOutbox::open(&path).expect("open");
    assert_eq!(outbox.path(), path);
    let first = Mail::otp("Todo", "alice@example.com", "004217");
    let second = Mail::password_reset("Todo", "bob@example.com", "https://todo.test/reset#t=x");
    let dynamic: &dyn Outbox = &outbox;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    dynamic.send(first.clone()).expect("send");
    dynamic.send(second.clone()).expect("send");

    let mails = read_outbox(&path).expect("read");
    assert_eq!(mails.len(), 2);
    for (stored, mail) in mails.iter().zip([&first, &second]) {
        assert_eq!(stored.to, mail.to);
        assert_eq!(stored.subject, mail.subject);
        assert_eq!(stored.text, mail.text);
        assert_eq!(stored.status, MailStatus::Outbox);
        assert_eq!(stored.detail, None);
        assert_eq!(stored.id.len(), 17);
        assert!(stored.id.starts_with('m'));
        assert!(stored.created_at >= before && stored.created_at < before + 60_000);
    }
    assert_ne!(mails[0].id, mails[1].id);

    // The line format, field by field.
    let raw = std::fs::read_to_string(&path).expect("read");
    let line: serde_json::Value =
        serde_json::from_str(raw.lines().next().expect("a line")).expect("json");
    assert_eq!(
        line,
        serde_json::json!({
            "id": mails[0].id,
            "created_at": mails[0].created_at,
            "to": "alice@example.com",
            "subject": "Todo: your verification code",
            "text": first.text,
            "status": "outbox",
            "detail": null,
        })
    );

    // Secret-bearing: 0600 file, 0700 folders.
    let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&folder), 0o700);
    assert_eq!(mode(&dir.path().join("state")), 0o700);

    // Reopening appends.
    drop(outbox);
    let again = FileOutbox::open(&path).expect("reopen");
    again.send(first).expect("send");
    assert_eq!(read_outbox(&path).expect("read").len(), 3);
}

#[test]
fn an_existing_file_is_narrowed_to_0600() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("outbox.jsonl");
    std::fs::write(&path, "").expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    FileOutbox::open(&path).expect("open");
    let mode = std::fs::metadata(&path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

/// Two message lines, hand-written.
const TWO: &str = concat!(
    r#"{"id":"m0000000000000001","created_at":1700000000000,"to":"a@x.test","subject":"s1","text":"t1","status":"queued","detail":null}"#,
    "\n",
    r#"{"id":"m0000000000000002","created_at":1700000000001,"to":"b@x.test","subject":"s2","text":"t2","status":"queued"}"#,
    "\n",
);

#[test]
fn a_garbled_last_line_is_skipped_and_repaired() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("outbox.jsonl");
    // A crash in the middle of the third line.
    std::fs::write(&path, format!("{TWO}{{\"id\":\"m00000000000000")).expect("write");
    let mails = read_outbox(&path).expect("read");
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[1].id, "m0000000000000002");
    assert_eq!(mails[1].detail, None, "a missing detail is None");

    // Garbage that is not JSON at all, with a newline, is skipped too when it is last.
    std::fs::write(&path, format!("{TWO}\u{0}\u{1}garbage\n\n")).expect("write");
    assert_eq!(read_outbox(&path).expect("read").len(), 2);

    // Opening the file removes the partial line, so the next message is not glued to it.
    std::fs::write(&path, format!("{TWO}{{\"id\":\"m00000000000000")).expect("write");
    let outbox = FileOutbox::open(&path).expect("open");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), TWO);
    outbox
        .send(Mail::otp("Todo", "c@x.test", "123456"))
        .expect("send");
    let mails = read_outbox(&path).expect("read");
    assert_eq!(mails.len(), 3);
    assert_eq!(mails[2].to, "c@x.test");
}

#[test]
fn a_garbled_line_before_the_last_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("outbox.jsonl");
    std::fs::write(&path, format!("{TWO}not json\n{TWO}")).expect("write");
    let e = read_outbox(&path).expect_err("corrupt");
    assert!(matches!(&e, MailError::Corrupt { line: 3, .. }), "{e:?}");
    assert_eq!(e.code(), "outbox-corrupt");
    assert!(e.to_string().contains("line 3"), "{e}");
}

#[test]
fn status_lines_update_their_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("outbox.jsonl");
    let updates = concat!(
        r#"{"id":"m0000000000000001","status":"sent","detail":null}"#,
        "\n",
        r#"{"id":"m0000000000000002","status":"failed","detail":"permanent error (550): mailbox unavailable"}"#,
        "\n",
        r#"{"id":"m9999999999999999","status":"sent","detail":null}"#,
        "\n",
    );
    std::fs::write(&path, format!("{TWO}{updates}")).expect("write");
    let mails = read_outbox(&path).expect("read");
    assert_eq!(
        mails,
        [
            StoredMail {
                id: "m0000000000000001".into(),
                created_at: 1_700_000_000_000,
                to: "a@x.test".into(),
                subject: "s1".into(),
                text: "t1".into(),
                status: MailStatus::Sent,
                detail: None,
            },
            StoredMail {
                id: "m0000000000000002".into(),
                created_at: 1_700_000_000_001,
                to: "b@x.test".into(),
                subject: "s2".into(),
                text: "t2".into(),
                status: MailStatus::Failed,
                detail: Some("permanent error (550): mailbox unavailable".into()),
            },
        ]
    );
    // The statuses as stored.
    for (status, text) in [
        (MailStatus::Outbox, "\"outbox\""),
        (MailStatus::Queued, "\"queued\""),
        (MailStatus::Sent, "\"sent\""),
        (MailStatus::Failed, "\"failed\""),
    ] {
        assert_eq!(serde_json::to_string(&status).expect("json"), text);
        assert_eq!(format!("\"{status}\""), text);
    }
}

#[test]
fn a_folder_is_not_an_outbox_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = FileOutbox::open(dir.path()).expect_err("a folder");
    assert_eq!(e.code(), "outbox-io");
    assert!(matches!(
        read_outbox(dir.path()),
        Err(MailError::File { .. })
    ));
}

// ---- SMTP URLs --------------------------------------------------------------------------

/// What `SmtpConfig::parse` should make of a URL.
struct Expect {
    host: &'static str,
    port: u16,
    security: SmtpSecurity,
    user: Option<&'static str>,
    from: &'static str,
}

#[test]
fn smtp_urls_that_parse() {
    let cases = [
        (
            "smtps://mailer%40example.com:p%40ss%3Aw%2Frd@smtp.example.com",
            Expect {
                host: "smtp.example.com",
                port: 465,
                security: SmtpSecurity::Implicit,
                user: Some("mailer@example.com"),
                from: "mailer@example.com",
            },
        ),
        (
            "smtp://apikey:s3cret@smtp.example.com:2525?from=Todo%20%3Cnoreply@todo.test%3E",
            Expect {
                host: "smtp.example.com",
                port: 2525,
                security: SmtpSecurity::StartTls,
                user: Some("apikey"),
                from: "Todo <noreply@todo.test>",
            },
        ),
        (
            "smtp://apikey:s3cret@smtp.example.com?from=noreply%2Bauth@todo.test&tls=starttls",
            Expect {
                host: "smtp.example.com",
                port: 587,
                security: SmtpSecurity::StartTls,
                user: Some("apikey"),
                from: "noreply+auth@todo.test",
            },
        ),
        (
            "smtp://relay.internal:25?tls=none&from=noreply@todo.test",
            Expect {
                host: "relay.internal",
                port: 25,
                security: SmtpSecurity::None,
                user: None,
                from: "noreply@todo.test",
            },
        ),
        (
            "smtp://localhost/?tls=none&from=noreply@todo.test",
            Expect {
                host: "localhost",
                port: 25,
                security: SmtpSecurity::None,
                user: None,
                from: "noreply@todo.test",
            },
        ),
        (
            " SMTPS://me@todo.test:pw@[::1]:1465 ",
            Expect {
                host: "::1",
                port: 1465,
                security: SmtpSecurity::Implicit,
                user: Some("me@todo.test"),
                from: "me@todo.test",
            },
        ),
        (
            "smtp://u:p@127.0.0.1:2525?tls=none&from=a@todo.test",
            Expect {
                host: "127.0.0.1",
                port: 2525,
                security: SmtpSecurity::None,
                user: Some("u"),
                from: "a@todo.test",
            },
        ),
    ];
    for (url, want) in cases {
        let config = SmtpConfig::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(config.host(), want.host, "{url}");
        assert_eq!(config.port(), want.port, "{url}");
        assert_eq!(config.security(), want.security, "{url}");
        assert_eq!(config.user(), want.user, "{url}");
        assert_eq!(config.from(), want.from, "{url}");
    }
}

#[test]
fn smtp_urls_that_do_not_parse() {
    let cases = [
        ("smtp.example.com", "expected smtp://… or smtps://…"),
        (
            "http://smtp.example.com?from=a@b.test",
            "unknown scheme `http`",
        ),
        (
            "smtps://apikey:hunter2@smtp.example.com",
            "no sender: add ?from=address (the user is not an email address)",
        ),
        ("smtp://smtp.example.com", "no sender: add ?from=address"),
        (
            "smtps://a@b.test:hunter2@smtp.example.com?tls=none",
            "smtps:// always uses TLS",
        ),
        (
            "smtp://smtp.example.com?from=a@b.test&tls=opportunistic",
            "tls=opportunistic is not supported",
        ),
        (
            "smtp://smtp.example.com?from=a@b.test&tls=yes",
            "`tls` is `starttls` or `none`",
        ),
        (
            "smtp://smtp.example.com:0?from=a@b.test",
            "the port is not a number from 1 to 65535",
        ),
        (
            "smtp://smtp.example.com:65536?from=a@b.test",
            "the port is not a number from 1 to 65535",
        ),
        (
            "smtp://smtp.example.com:+25?from=a@b.test",
            "the port is not a number from 1 to 65535",
        ),
        (
            "smtp://apikey@smtp.example.com?from=a@b.test",
            "a user without a password",
        ),
        (
            "smtp://:hunter2@smtp.example.com?from=a@b.test",
            "a password without a user",
        ),
        (
            "smtp://apikey:@smtp.example.com?from=a@b.test",
            "the password is empty",
        ),
        (
            "smtp://smtp.example.com?from=not-an-address",
            "from=`not-an-address` is not an email address",
        ),
        (
            "smtp://smtp.example.com?from=a@b.test&from=c@d.test",
            "`from` is given twice",
        ),
        (
            "smtp://smtp.example.com?from=a@b.test&ehlo=me",
            "unknown query parameter",
        ),
        (
            "smtp://smtp.example.com?from",
            "query parameters are `key=value`",
        ),
        (
            "smtp://apikey:hunter%2@smtp.example.com?from=a@b.test",
            "the password has a `%` not followed by two hex digits",
        ),
        (
            "smtp://apikey:hunter%FF2@smtp.example.com?from=a@b.test",
            "the password is not UTF-8 once percent-decoded",
        ),
        // An unencoded `/` in the password cuts the authority short.
        (
            "smtp://apikey:hun/ter2@smtp.example.com?from=a@b.test",
            "a path is not allowed; percent-encode",
        ),
        (
            "smtp://apikey:hunter2#x@smtp.example.com?from=a@b.test",
            "a `#` fragment is not allowed",
        ),
        (
            "smtp://apikey:hunter2?x@smtp.example.com?from=a@b.test",
            "the port is not a number",
        ),
        (
            "smtp://apikey:hunter2@smtp.example.com?from=a@b.test#frag",
            "a `#` fragment is not allowed",
        ),
        (
            "smtp://smtp.example.com/relay?from=a@b.test",
            "a path is not allowed",
        ),
        ("smtp://?from=a@b.test", "the host is missing"),
        (
            "smtp://bad host?from=a@b.test",
            "the host is not a host name or IP address",
        ),
        ("smtp://[::1?from=a@b.test", "no closing `]`"),
        ("smtp://[nope]?from=a@b.test", "not an IPv6 address"),
        (
            "smtp://[::1]x?from=a@b.test",
            "`]` must be followed by `:port` or nothing",
        ),
        (
            "smtp://apikey:hunter2@relay.example.com?tls=none&from=a@b.test",
            "refusing to send a password unencrypted",
        ),
    ];
    for (url, want) in cases {
        let e = SmtpConfig::parse(url).expect_err(url);
        let text = e.to_string();
        assert!(matches!(e, MailError::SmtpUrl { .. }), "{url}: {e:?}");
        assert_eq!(e.code(), "smtp-url-invalid");
        assert!(text.starts_with("invalid SMTP URL: "), "{url}: {text}");
        assert!(text.contains(want), "{url}: {text}");
        assert!(!text.contains('\n'), "one line: {text}");
        for secret in ["hunter", "ter2"] {
            assert!(!text.contains(secret), "{url}: the password leaks: {text}");
            assert!(!format!("{e:?}").contains(secret), "{url}: {e:?}");
        }
    }
}

#[test]
fn the_password_is_never_shown() {
    let config = SmtpConfig::parse(
        "smtps://mailer%40todo.test:hunter2%2Fsecret@smtp.example.com?from=Todo%20%3Cnoreply@todo.test%3E",
    )
    .expect("url");
    let debug = format!("{config:?}");
    let display = config.to_string();
    for shown in [&debug, &display] {
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
    }
    assert_eq!(
        display,
        "smtps://mailer%40todo.test:***@smtp.example.com:465?from=Todo%20%3Cnoreply@todo.test%3E"
    );
    assert_eq!(
        debug,
        "SmtpConfig { host: \"smtp.example.com\", port: 465, security: Implicit, \
         user: Some(\"mailer@todo.test\"), password: Some(\"***\"), \
         from: \"Todo <noreply@todo.test>\" }"
    );
    let plain = SmtpConfig::parse("smtp://[::1]:2525?tls=none&from=a@todo.test").expect("url");
    assert_eq!(
        plain.to_string(),
        "smtp://[::1]:2525?from=a@todo.test&tls=none"
    );

    // Nor by the outbox built from it.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let outbox = runtime.block_on(async {
        SmtpOutbox::start(
            config,
            FileOutbox::open(dir.path().join("outbox.jsonl")).expect("open"),
            "Todo",
        )
        .expect("start")
    });
    let shown = format!("{outbox:?}");
    assert!(
        !shown.contains("hunter2") && shown.contains("***"),
        "{shown}"
    );
}
