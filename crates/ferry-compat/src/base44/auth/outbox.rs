//! The outbox file: every message auth sends, kept where the owner can read it
//! (`ferry outbox`).
//!
//! One JSON object per line, appended, never rewritten. The file is created with mode 0600
//! (messages carry one-time codes and reset links) in a folder created 0700 if missing; an
//! existing file readable by others is narrowed to 0600 when opened. Two kinds of line:
//!
//! - a message, [`StoredMail`]:
//!   `{"id":"m…","created_at":…,"to":…,"subject":…,"text":…,"status":…,"detail":…}`;
//! - a status update, `{"id":"m…","status":"sent","detail":null}`, appended by the SMTP
//!   outbox ([`super::smtp::SmtpOutbox`]) when delivery ends. [`read_outbox`] folds it into
//!   the message with that id.
//!
//! Crash safety: a line is written with one `write` call; a crash in the middle leaves a
//! partial last line, which [`read_outbox`] skips and [`FileOutbox::open`] removes before
//! appending again (a last line that is a whole record only missing its newline gets its
//! newline instead). A reader running while the server appends may see a partial last line,
//! skipped the same way. One server process writes a file; readers need no lock.

use std::collections::HashMap;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use super::mail::{Mail, MailError, Outbox};

/// The state of a stored message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailStatus {
    /// Kept in the outbox only: no SMTP server is configured ([`FileOutbox`]).
    Outbox,
    /// Accepted by the SMTP outbox, delivery not finished yet (or the server stopped first).
    Queued,
    /// The SMTP server accepted the message.
    Sent,
    /// Delivery failed for good; `detail` says why.
    Failed,
}

impl MailStatus {
    /// The status as stored: `outbox`, `queued`, `sent` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Outbox => "outbox",
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }
}

impl std::fmt::Display for MailStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One message as the outbox file keeps it, with its latest status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMail {
    /// A random id, `m` and 16 lower-case hex digits; also in the `Message-ID` of SMTP mail.
    pub id: String,
    /// When the message was stored, Unix milliseconds.
    pub created_at: u64,
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// Its latest status.
    pub status: MailStatus,
    /// Why it failed (the SMTP server's reply or the connection error); `None` otherwise.
    #[serde(default)]
    pub detail: Option<String>,
}

/// A status update line: `{"id":…,"status":…,"detail":…}`.
#[derive(Debug, Serialize, Deserialize)]
struct StatusLine<'a> {
    id: &'a str,
    status: MailStatus,
    #[serde(default)]
    detail: Option<&'a str>,
}

/// A status update line as read back (owned strings).
#[derive(Debug, Deserialize)]
struct StatusRecord {
    id: String,
    status: MailStatus,
    #[serde(default)]
    detail: Option<String>,
}

/// One parsed line.
enum Line {
    Mail(StoredMail),
    Status(StatusRecord),
}

/// Parses one line: a message if it has a `to` field, else a status update.
fn parse_line(bytes: &[u8]) -> Result<Line, String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let is_mail = value.get("to").is_some();
    if is_mail {
        serde_json::from_value(value)
            .map(Line::Mail)
            .map_err(|e| e.to_string())
    } else {
        serde_json::from_value(value)
            .map(Line::Status)
            .map_err(|e| e.to_string())
    }
}

/// The messages in the outbox file at `path`, oldest first, each with its latest status.
///
/// A missing file is an empty outbox. Blank lines are ignored; a last line that is not a
/// record (a write cut short by a crash, or one still being written) is skipped. A status
/// update for an id that has no message is ignored. Any other line that is not a record is
/// [`MailError::Corrupt`].
pub fn read_outbox(path: &Path) -> Result<Vec<StoredMail>, MailError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(MailError::file(path, &e)),
    };
    let lines: Vec<(usize, &[u8])> = bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .collect();
    let last = lines.last().map(|&(number, _)| number);
    let mut mails: Vec<StoredMail> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for (number, line) in lines {
        match parse_line(line) {
            Ok(Line::Mail(mail)) => {
                by_id.insert(mail.id.clone(), mails.len());
                mails.push(mail);
            }
            Ok(Line::Status(update)) => {
                if let Some(mail) = by_id.get(&update.id).and_then(|&i| mails.get_mut(i)) {
                    mail.status = update.status;
                    mail.detail = update.detail;
                }
            }
            Err(_) if Some(number) == last => {}
            Err(detail) => {
                return Err(MailError::Corrupt {
                    path: path.to_owned(),
                    line: number,
                    detail,
                });
            }
        }
    }
    Ok(mails)
}

/// An outbox that appends every message to a JSON-lines file (see the module
/// documentation), for servers without SMTP: the owner reads the messages with
/// `ferry outbox`. Also the record the SMTP outbox keeps.
#[derive(Debug)]
pub struct FileOutbox {
    path: PathBuf,
    file: Mutex<File>,
}

/// The current time in Unix milliseconds (0 if the clock reads before 1970).
fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A fresh message id: `m` and 16 hex digits (64 random bits).
fn new_id() -> Result<String, MailError> {
    let bytes = super::random_bytes::<8>().map_err(|e| MailError::RandomUnavailable {
        detail: e.to_string(),
    })?;
    let mut id = String::with_capacity(17);
    id.push('m');
    for b in bytes {
        id.push_str(&format!("{b:02x}"));
    }
    Ok(id)
}

/// Makes the file end at a line boundary: a last line without its newline gets one if it is a
/// whole record, and is cut off otherwise (a write a crash interrupted).
fn repair_tail(file: &mut File) -> std::io::Result<()> {
    const CHUNK: u64 = 8192;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(());
    }
    // Find where the last line starts, reading backwards.
    let mut start = 0;
    let mut pos = len;
    let mut buf = vec![0u8; CHUNK as usize];
    while pos > 0 {
        let size = CHUNK.min(pos);
        pos -= size;
        let chunk = &mut buf[..size as usize];
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            start = pos + i as u64 + 1;
            break;
        }
    }
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(start))?;
    file.read_to_end(&mut tail)?;
    if parse_line(&tail).is_ok() {
        file.write_all(b"\n")
    } else {
        file.set_len(start)
    }
}

impl FileOutbox {
    /// Opens (or creates, mode 0600) the outbox file at `path`, creating its folder (mode
    /// 0700) if missing. An existing file that others can read or write is narrowed to 0600;
    /// a partial last line (a crash mid-write) is removed.
    pub fn open(path: impl Into<PathBuf>) -> Result<FileOutbox, MailError> {
        let path = path.into();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| MailError::file(parent, &e))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| MailError::file(&path, &e))?;
        let metadata = file.metadata().map_err(|e| MailError::file(&path, &e))?;
        if !metadata.is_file() {
            return Err(MailError::File {
                path,
                detail: "not a regular file".into(),
            });
        }
        if metadata.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(|e| MailError::file(&path, &e))?;
        }
        repair_tail(&mut file).map_err(|e| MailError::file(&path, &e))?;
        Ok(FileOutbox {
            path,
            file: Mutex::new(file),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores `mail` with a fresh id, the current time and `status`; returns the record.
    pub(crate) fn store(
        &self,
        mail: Mail,
        status: MailStatus,
        detail: Option<String>,
    ) -> Result<StoredMail, MailError> {
        let stored = StoredMail {
            id: new_id()?,
            created_at: unix_millis(),
            to: mail.to,
            subject: mail.subject,
            text: mail.text,
            status,
            detail,
        };
        self.append(&stored)?;
        Ok(stored)
    }

    /// Appends a status update for the message `id`.
    pub(crate) fn update(
        &self,
        id: &str,
        status: MailStatus,
        detail: Option<&str>,
    ) -> Result<(), MailError> {
        self.append(&StatusLine { id, status, detail })
    }

    /// Appends `value` as one line, with one write. A failed write is cut back off, so the
    /// file keeps ending at a line boundary.
    fn append(&self, value: &impl Serialize) -> Result<(), MailError> {
        let mut line = serde_json::to_vec(value).map_err(|e| MailError::File {
            path: self.path.clone(),
            detail: e.to_string(),
        })?;
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        let before = file
            .metadata()
            .map_err(|e| MailError::file(&self.path, &e))?
            .len();
        if let Err(e) = file.write_all(&line).and_then(|()| file.flush()) {
            // Best effort: if this fails too, `open` repairs the tail next time.
            file.set_len(before).ok();
            return Err(MailError::file(&self.path, &e));
        }
        Ok(())
    }
}

impl Outbox for FileOutbox {
    /// Appends `mail` with status `outbox`.
    fn send(&self, mail: Mail) -> Result<(), MailError> {
        self.store(mail, MailStatus::Outbox, None).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_m_and_16_hex_digits() {
        let id = new_id().expect("id");
        assert_eq!(id.len(), 17);
        assert!(id.starts_with('m'));
        assert!(
            id[1..]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(new_id().expect("id"), id);
    }

    #[test]
    fn status_lines_have_three_fields() {
        let line = serde_json::to_string(&StatusLine {
            id: "m0123456789abcdef",
            status: MailStatus::Failed,
            detail: Some("550 no"),
        })
        .expect("json");
        assert_eq!(
            line,
            r#"{"id":"m0123456789abcdef","status":"failed","detail":"550 no"}"#
        );
    }

    #[test]
    fn a_whole_last_record_without_newline_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("outbox.jsonl");
        let record = r#"{"id":"m1","created_at":1,"to":"a@b.c","subject":"s","text":"t","status":"outbox","detail":null}"#;
        std::fs::write(&path, record).expect("write");
        let outbox = FileOutbox::open(&path).expect("open");
        outbox
            .send(Mail {
                to: "d@e.f".into(),
                subject: "s2".into(),
                text: "t2".into(),
            })
            .expect("send");
        let mails = read_outbox(&path).expect("read");
        assert_eq!(mails.len(), 2);
        assert_eq!(mails[0].id, "m1");
        assert_eq!(mails[1].to, "d@e.f");
    }
}
