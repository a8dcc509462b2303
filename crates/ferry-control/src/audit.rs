//! The audit log: append-only, one entry per mutation and per refused attempt, each chained to
//! the one before it with a keyed MAC, the chain head anchored outside `ferry.db`.
//!
//! `mac(n) = BLAKE3-keyed(K, mac(n-1) ‖ encode(entry n))`, with `mac(0)` all zeros and `K`
//! derived from the master key (`key.rs`), so nobody without the key can write an entry that
//! verifies — not even by recomputing every later MAC after an edit. The head (entry count and
//! last MAC) is written to `$FERRY_HOME/audit.head` after each append; deleting the newest
//! entries therefore disagrees with it. [`verify`] walks the chain and names the first entry
//! that does not verify.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::auth::Principal;
use crate::error::ControlError;

/// The anchor's file name inside `$FERRY_HOME`.
pub const HEAD_FILE: &str = "audit.head";

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It changed something.
    Ok,
    /// It was allowed and changed nothing.
    Unchanged,
    /// It was not allowed (authentication or authorisation).
    Refused,
    /// It was allowed and failed.
    Failed,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Unchanged => "unchanged",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Outcome {
        match text {
            "ok" => Outcome::Ok,
            "unchanged" => Outcome::Unchanged,
            "refused" => Outcome::Refused,
            _ => Outcome::Failed,
        }
    }
}

/// What one entry records (its sequence number, time and MAC are added on append).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// The organisation acted in, when known.
    pub org: Option<String>,
    /// Who: `local`, `ferry`, `token:<name>`, `user:<name>`, `anonymous`.
    pub actor: String,
    /// The token's public id, when one was used.
    pub token_id: Option<String>,
    /// What: the mutation's kind (`activate`, `set-secret`…) or the refused request.
    pub action: String,
    /// On what: `app/<name>`, `token/<id>`, `org/<name>`, a request path.
    pub target: String,
    /// From where: `unix`, `tcp:<ip>`, `internal`.
    pub source: String,
    /// The id before (e.g. the release live before), when it applies.
    pub before: Option<String>,
    /// The id after, when it applies.
    pub after: Option<String>,
    /// A short detail (never a secret value).
    pub detail: Option<String>,
}

impl Record {
    /// A record of `who` doing `action` on `target`.
    pub fn by(who: &Principal, action: &str, target: &str) -> Self {
        Record {
            org: who.org.clone(),
            actor: who.label.clone(),
            token_id: who.token_id.clone(),
            action: action.to_string(),
            target: target.to_string(),
            source: who.source.clone(),
            ..Record::default()
        }
    }
}

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Its position, 1, 2, 3…
    pub seq: i64,
    /// When (unix ms).
    pub at: u64,
    /// The organisation acted in.
    pub org: Option<String>,
    /// Who.
    pub actor: String,
    /// The token's public id.
    pub token_id: Option<String>,
    /// What.
    pub action: String,
    /// On what.
    pub target: String,
    /// How it ended.
    pub outcome: Outcome,
    /// From where.
    pub source: String,
    /// The id before.
    pub before: Option<String>,
    /// The id after.
    pub after: Option<String>,
    /// A short detail.
    pub detail: Option<String>,
    /// Its MAC, hex.
    pub mac: String,
}

/// The chain head kept outside the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    pub count: i64,
    pub mac: [u8; 32],
}

/// The encoding the MAC covers: every field, length-prefixed, in a fixed order.
fn encode(seq: i64, at: u64, outcome: Outcome, r: &Record) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&at.to_le_bytes());
    let fields: [Option<&str>; 10] = [
        r.org.as_deref(),
        Some(&r.actor),
        r.token_id.as_deref(),
        Some(&r.action),
        Some(&r.target),
        Some(outcome.as_str()),
        Some(&r.source),
        r.before.as_deref(),
        r.after.as_deref(),
        r.detail.as_deref(),
    ];
    for field in fields {
        match field {
            None => out.push(0),
            Some(text) => {
                out.push(1);
                out.extend_from_slice(&(text.len() as u64).to_le_bytes());
                out.extend_from_slice(text.as_bytes());
            }
        }
    }
    out
}

fn mac(key: &[u8; 32], previous: &[u8; 32], body: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(previous);
    h.update(body);
    *h.finalize().as_bytes()
}

/// Appends one entry inside the caller's transaction; returns the new head, to be anchored
/// with [`write_head`] once the transaction committed.
pub(crate) fn append(
    conn: &Connection,
    key: &[u8; 32],
    now: u64,
    outcome: Outcome,
    r: &Record,
) -> Result<Head, ControlError> {
    let last: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let (seq, previous) = match last {
        Some((seq, m)) => (seq + 1, m.try_into().unwrap_or([0u8; 32])),
        None => (1, [0u8; 32]),
    };
    let tag = mac(key, &previous, &encode(seq, now, outcome, r));
    conn.execute(
        "INSERT INTO audit (seq, at, org, actor, token_id, action, target, outcome, source,
                            before, after, detail, mac)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            seq,
            now as i64,
            r.org,
            r.actor,
            r.token_id,
            r.action,
            r.target,
            outcome.as_str(),
            r.source,
            r.before,
            r.after,
            r.detail,
            &tag[..]
        ],
    )?;
    Ok(Head {
        count: seq,
        mac: tag,
    })
}

/// Where the head lives for the database at `db_path`.
pub(crate) fn head_path(db_path: &Path) -> PathBuf {
    db_path
        .parent()
        .map_or_else(|| PathBuf::from(HEAD_FILE), |d| d.join(HEAD_FILE))
}

/// Writes the head atomically (temp file, fsync, rename), mode 0600.
pub(crate) fn write_head(path: &Path, head: Head) -> Result<(), ControlError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let hex: String = head.mac.iter().map(|b| format!("{b:02x}")).collect();
    let text = format!("ferry-audit-head v1\n{}\n{hex}\n", head.count);
    let temp = path.with_extension("head.tmp");
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    written.map_err(|e| ControlError::io(path, e))
}

/// Reads the head; `None` when there is none yet.
pub(crate) fn read_head(path: &Path) -> Result<Option<Head>, ControlError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ControlError::io(path, e)),
    };
    let mut lines = text.lines();
    let bad = || ControlError::InvalidValue {
        field: "audit head",
        reason: format!("`{}` is not a ferry audit head", path.display()),
    };
    if lines.next() != Some("ferry-audit-head v1") {
        return Err(bad());
    }
    let count: i64 = lines.next().and_then(|l| l.parse().ok()).ok_or_else(bad)?;
    let hex = lines.next().ok_or_else(bad)?;
    if hex.len() != 64 {
        return Err(bad());
    }
    let mut mac = [0u8; 32];
    for (i, byte) in mac.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).map_err(|_| bad())?;
    }
    Ok(Some(Head { count, mac }))
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Entries checked.
    pub entries: i64,
    /// True when every entry verifies and the chain ends where the anchor says.
    pub ok: bool,
    /// The first entry that does not verify (its sequence number), when one does not.
    pub first_bad: Option<i64>,
    /// What is wrong, one line (empty when ok).
    pub problem: String,
}

/// Walks the whole chain with `key`, against the anchor at `head_path`.
pub(crate) fn verify(
    conn: &Connection,
    key: &[u8; 32],
    head_path: &Path,
) -> Result<Verification, ControlError> {
    let mut stmt = conn.prepare(
        "SELECT seq, at, org, actor, token_id, action, target, outcome, source, before, after,
                detail, mac FROM audit ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut previous = [0u8; 32];
    let mut expected_seq = 1i64;
    let mut count = 0i64;
    let fail = |entries: i64, seq: i64, problem: String| Verification {
        entries,
        ok: false,
        first_bad: Some(seq),
        problem,
    };
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let at: i64 = row.get(1)?;
        let r = Record {
            org: row.get(2)?,
            actor: row.get(3)?,
            token_id: row.get(4)?,
            action: row.get(5)?,
            target: row.get(6)?,
            source: row.get(8)?,
            before: row.get(9)?,
            after: row.get(10)?,
            detail: row.get(11)?,
        };
        let outcome = Outcome::parse(&row.get::<_, String>(7)?);
        let stored: Vec<u8> = row.get(12)?;
        count += 1;
        if seq != expected_seq {
            return Ok(fail(
                count,
                expected_seq,
                format!("entry {expected_seq} is missing (the next one is {seq})"),
            ));
        }
        let tag = mac(key, &previous, &encode(seq, at as u64, outcome, &r));
        if stored.as_slice() != tag.as_slice() {
            return Ok(fail(
                count,
                seq,
                format!("entry {seq} was altered, inserted or re-signed without the key"),
            ));
        }
        previous = tag;
        expected_seq += 1;
    }
    let head = read_head(head_path)?;
    let last = expected_seq - 1;
    match head {
        None if last == 0 => {}
        None => {
            return Ok(fail(
                count,
                1,
                format!(
                    "the anchor `{}` is missing while the log has {last} entries",
                    head_path.display()
                ),
            ));
        }
        Some(h) if h.count > last => {
            return Ok(fail(
                count,
                last + 1,
                format!(
                    "the log ends at entry {last} but the anchor says {}: the newest entries were deleted",
                    h.count
                ),
            ));
        }
        Some(h) if h.count == last && h.mac != previous => {
            return Ok(fail(
                count,
                last,
                format!("entry {last} does not match the anchor"),
            ));
        }
        // The log may be ahead of its anchor by entries that verify: a crash between a commit
        // and the anchor's write. Only the key could have made them.
        Some(_) => {}
    }
    Ok(Verification {
        entries: count,
        ok: true,
        first_bad: None,
        problem: String::new(),
    })
}

/// Key rotation: checks the whole chain with `old` (against its anchor), then recomputes every
/// MAC with `new`, inside the caller's transaction. Returns the new head (None for an empty
/// log), to be anchored with [`write_head`] once the transaction committed. Refuses
/// (`audit-broken`) a chain that does not verify: re-signing it would hide the damage.
pub(crate) fn rekey(
    conn: &Connection,
    old: &[u8; 32],
    new: &[u8; 32],
    head_path: &Path,
) -> Result<Option<Head>, ControlError> {
    let check = verify(conn, old, head_path)?;
    if !check.ok {
        return Err(ControlError::AuditBroken {
            first_bad: check.first_bad.unwrap_or(0),
            problem: check.problem,
        });
    }
    let mut stmt = conn.prepare(
        "SELECT seq, at, org, actor, token_id, action, target, outcome, source, before, after,
                detail FROM audit ORDER BY seq",
    )?;
    let rows = stmt
        .query_map([], |row| {
            let record = Record {
                org: row.get(2)?,
                actor: row.get(3)?,
                token_id: row.get(4)?,
                action: row.get(5)?,
                target: row.get(6)?,
                source: row.get(8)?,
                before: row.get(9)?,
                after: row.get(10)?,
                detail: row.get(11)?,
            };
            let outcome = Outcome::parse(&row.get::<_, String>(7)?);
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                outcome,
                record,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut previous = [0u8; 32];
    let mut head = None;
    for (seq, at, outcome, record) in rows {
        let tag = mac(new, &previous, &encode(seq, at as u64, outcome, &record));
        conn.execute(
            "UPDATE audit SET mac = ?1 WHERE seq = ?2",
            params![&tag[..], seq],
        )?;
        previous = tag;
        head = Some(Head {
            count: seq,
            mac: tag,
        });
    }
    Ok(head)
}

/// Filters for [`list`].
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only entries whose target is this app (`app/<name>`).
    pub app: Option<String>,
    /// Only entries at or after this time (unix ms).
    pub since: Option<u64>,
    /// Only the last `limit` entries (all when None).
    pub limit: Option<u32>,
}

/// Entries visible to `who` (its organisation's; everything for the machine's owner), oldest
/// first.
pub(crate) fn list(
    conn: &Connection,
    who: &Principal,
    filter: &Filter,
) -> Result<Vec<Entry>, ControlError> {
    let target = filter.app.as_ref().map(|a| format!("app/{a}"));
    let mut stmt = conn.prepare(
        "SELECT seq, at, org, actor, token_id, action, target, outcome, source, before, after,
                detail, mac FROM audit
         WHERE (?1 IS NULL OR org = ?1)
           AND (?2 IS NULL OR target = ?2)
           AND (?3 IS NULL OR at >= ?3)
         ORDER BY seq DESC LIMIT ?4",
    )?;
    let limit = filter.limit.map_or(i64::MAX, i64::from);
    let rows = stmt.query_map(
        params![who.org, target, filter.since.map(|s| s as i64), limit],
        |row| {
            let mac: Vec<u8> = row.get(12)?;
            Ok(Entry {
                seq: row.get(0)?,
                at: row.get::<_, i64>(1)? as u64,
                org: row.get(2)?,
                actor: row.get(3)?,
                token_id: row.get(4)?,
                action: row.get(5)?,
                target: row.get(6)?,
                outcome: Outcome::parse(&row.get::<_, String>(7)?),
                source: row.get(8)?,
                before: row.get(9)?,
                after: row.get(10)?,
                detail: row.get(11)?,
                mac: mac.iter().map(|b| format!("{b:02x}")).collect(),
            })
        },
    )?;
    let mut out: Vec<Entry> = rows.collect::<Result<_, _>>()?;
    out.reverse();
    Ok(out)
}

impl crate::Control {
    /// Walks the whole audit chain against its anchor (`$FERRY_HOME/audit.head`).
    pub fn audit_verify(&self) -> Result<Verification, ControlError> {
        verify(&self.conn, self.key.audit_key(), &head_path(self.db_path()))
    }

    /// The audit entries `who` may see (its organisation's; all for the machine's owner),
    /// oldest first. An app filter shows only that app's entries, and needs read access to it.
    pub fn audit_entries(
        &self,
        who: &Principal,
        filter: &Filter,
    ) -> Result<Vec<Entry>, ControlError> {
        if let Some(app) = &filter.app {
            crate::auth::check_visible(&self.conn, who, app)?;
        }
        // A token bound to one app sees that app's entries only.
        match &who.app {
            Some(bound) => {
                let mut only = filter.clone();
                only.app = Some(bound.clone());
                list(&self.conn, who, &only)
            }
            None => list(&self.conn, who, filter),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7u8; 32];

    /// A database with the audit table and `n` entries, and its anchor.
    fn log(n: i64) -> (tempfile::TempDir, Connection, PathBuf) {
        let dir = tempfile::tempdir().expect("tmp");
        let conn = Connection::open(dir.path().join("ferry.db")).expect("open");
        conn.execute_batch(
            "CREATE TABLE audit (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, org TEXT,
             actor TEXT NOT NULL, token_id TEXT, action TEXT NOT NULL, target TEXT NOT NULL,
             outcome TEXT NOT NULL, source TEXT NOT NULL, before TEXT, after TEXT, detail TEXT,
             mac BLOB NOT NULL)",
        )
        .expect("schema");
        let head = head_path(&dir.path().join("ferry.db"));
        for i in 1..=n {
            let r = Record {
                org: Some("acme".into()),
                actor: format!("user:{i}"),
                action: "activate".into(),
                target: "app/shop".into(),
                source: "unix".into(),
                after: Some(format!("r{i}")),
                ..Record::default()
            };
            let h = append(&conn, &KEY, 1_000 + i as u64, Outcome::Ok, &r).expect("append");
            write_head(&head, h).expect("head");
        }
        (dir, conn, head)
    }

    fn check(conn: &Connection, head: &Path) -> Verification {
        verify(conn, &KEY, head).expect("verify runs")
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let (_d, conn, head) = log(5);
        let v = check(&conn, &head);
        assert!(v.ok, "{v:?}");
        assert_eq!(v.entries, 5);
    }

    #[test]
    fn an_edit_is_found_at_its_entry() {
        let (_d, conn, head) = log(5);
        conn.execute("UPDATE audit SET actor = 'user:mallory' WHERE seq = 3", [])
            .expect("edit");
        let v = check(&conn, &head);
        assert_eq!((v.ok, v.first_bad), (false, Some(3)), "{v:?}");
    }

    #[test]
    fn a_deletion_in_the_middle_and_of_the_newest_are_found() {
        let (_d, conn, head) = log(5);
        conn.execute("DELETE FROM audit WHERE seq = 2", [])
            .expect("delete");
        assert_eq!(check(&conn, &head).first_bad, Some(2));
        let (_d, conn, head) = log(5);
        conn.execute("DELETE FROM audit WHERE seq >= 4", [])
            .expect("delete");
        let v = check(&conn, &head);
        assert_eq!((v.ok, v.first_bad), (false, Some(4)), "{v:?}");
        assert!(v.problem.contains("deleted"), "{v:?}");
    }

    #[test]
    fn an_insertion_is_found() {
        let (_d, conn, head) = log(4);
        conn.execute("UPDATE audit SET seq = seq + 10 WHERE seq >= 3", [])
            .expect("make room");
        conn.execute("UPDATE audit SET seq = seq - 9 WHERE seq >= 13", [])
            .expect("shift");
        conn.execute(
            "INSERT INTO audit (seq, at, actor, action, target, outcome, source, mac)
             VALUES (3, 1002, 'user:mallory', 'activate', 'app/shop', 'ok', 'unix', zeroblob(32))",
            [],
        )
        .expect("insert");
        let v = check(&conn, &head);
        assert_eq!((v.ok, v.first_bad), (false, Some(3)), "{v:?}");
    }

    /// An attacker who knows the algorithm but not the key edits entry 2 and recomputes every
    /// later MAC and the anchor: the first recomputed entry fails.
    #[test]
    fn a_rewrite_that_recomputes_later_macs_without_the_key_is_found() {
        let (_d, conn, head) = log(5);
        let forged_key = [9u8; 32];
        let mut previous: [u8; 32] = conn
            .query_row("SELECT mac FROM audit WHERE seq = 1", [], |r| {
                r.get::<_, Vec<u8>>(0)
            })
            .expect("mac")
            .try_into()
            .expect("32 bytes");
        for seq in 2..=5i64 {
            let r = Record {
                org: Some("acme".into()),
                actor: if seq == 2 {
                    "user:mallory".into()
                } else {
                    format!("user:{seq}")
                },
                action: "activate".into(),
                target: "app/shop".into(),
                source: "unix".into(),
                after: Some(format!("r{seq}")),
                ..Record::default()
            };
            let tag = mac(
                &forged_key,
                &previous,
                &encode(seq, 1_000 + seq as u64, Outcome::Ok, &r),
            );
            conn.execute(
                "UPDATE audit SET actor = ?1, mac = ?2 WHERE seq = ?3",
                params![r.actor, &tag[..], seq],
            )
            .expect("rewrite");
            previous = tag;
        }
        write_head(
            &head,
            Head {
                count: 5,
                mac: previous,
            },
        )
        .expect("forge the anchor");
        let v = check(&conn, &head);
        assert_eq!((v.ok, v.first_bad), (false, Some(2)), "{v:?}");
    }

    #[test]
    fn a_log_ahead_of_its_anchor_by_valid_entries_verifies() {
        let (_d, conn, head) = log(3);
        let r = Record {
            actor: "local".into(),
            action: "create-app".into(),
            target: "app/x".into(),
            source: "unix".into(),
            ..Record::default()
        };
        // Appended, then a crash before the anchor was written.
        append(&conn, &KEY, 2_000, Outcome::Ok, &r).expect("append");
        assert!(check(&conn, &head).ok);
    }
}
