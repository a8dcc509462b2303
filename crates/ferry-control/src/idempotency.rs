//! Idempotent requests: the answer to a request that carried an `Idempotency-Key`, kept for
//! [`IDEMPOTENCY_TTL_MS`], so that a retry gets the same answer instead of a second effect.
//!
//! A key belongs to one principal (its token id, else its label): two callers never see each
//! other's answers. A request is identified by a fingerprint of its method, path and body
//! ([`request_fingerprint`]); the same key with another fingerprint is a mismatch. A request
//! in flight holds a *claim* (a row with status 0) so that a concurrent duplicate is told to
//! wait rather than acting twice; a claim older than [`CLAIM_STALE_MS`] (a server that died
//! mid-request) may be taken over.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use crate::control::now_ms;
use crate::{Control, ControlError, Principal};

/// How long an answer is kept: 24 hours.
pub const IDEMPOTENCY_TTL_MS: u64 = 24 * 60 * 60 * 1000;
/// How old a claim (a request still in flight) must be before another request may take it over.
pub const CLAIM_STALE_MS: u64 = 15 * 60 * 1000;
/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// An answer kept for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    /// The request's fingerprint.
    pub request: String,
    /// The HTTP status answered.
    pub status: u16,
    /// The body answered (JSON text).
    pub response: String,
}

/// What [`Control::idempotent_claim`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is new (or its claim stale): the caller acts, then calls
    /// [`Control::idempotent_put`] (or [`Control::idempotent_release`] on failure).
    Claimed,
    /// The same request was answered before: answer this again, do not act.
    Replay(StoredAnswer),
    /// The key was used for another request.
    Mismatch,
    /// The same request is being handled right now.
    InProgress,
}

/// The fingerprint of a request: BLAKE3 of its method, path and body.
pub fn request_fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(method.as_bytes());
    h.update(b"\n");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    h.finalize().to_hex().to_string()
}

/// Whether `key` is acceptable: 1 to [`MAX_KEY_LEN`] visible ASCII characters.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic())
}

/// Whose keys these are: the token's id, else the principal's label.
fn owner(who: &Principal) -> String {
    match &who.token_id {
        Some(id) => format!("token:{id}"),
        None => format!("label:{}", who.label),
    }
}

fn invalid_key() -> ControlError {
    ControlError::InvalidValue {
        field: "idempotency key",
        reason: format!("1 to {MAX_KEY_LEN} visible ASCII characters"),
    }
}

impl Control {
    /// The answer kept for `who`'s `key`, if one was stored within the last 24 hours (a claim
    /// still in flight is not an answer).
    pub fn idempotent_get(
        &self,
        who: &Principal,
        key: &str,
    ) -> Result<Option<StoredAnswer>, ControlError> {
        let since = now_ms().saturating_sub(IDEMPOTENCY_TTL_MS);
        let row = self
            .conn
            .query_row(
                "SELECT request, status, response FROM idempotency
                 WHERE principal = ?1 AND key = ?2 AND created_at >= ?3 AND status > 0",
                params![owner(who), key, since as i64],
                |row| {
                    Ok(StoredAnswer {
                        request: row.get(0)?,
                        status: row.get::<_, i64>(1)?.clamp(0, 999) as u16,
                        response: row.get(2)?,
                    })
                },
            )
            .optional()?;
        Ok(row)
    }

    /// Claims `key` for a request with fingerprint `request`, atomically: a new key is
    /// claimed; an answered one replays (same request) or mismatches (another); a claim in
    /// flight answers [`Claim::InProgress`] unless it is stale. Entries older than 24 hours are
    /// removed on the way.
    pub fn idempotent_claim(
        &mut self,
        who: &Principal,
        key: &str,
        request: &str,
    ) -> Result<Claim, ControlError> {
        if !is_valid_key(key) {
            return Err(invalid_key());
        }
        let now = now_ms();
        let owner = owner(who);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "DELETE FROM idempotency WHERE created_at < ?1",
            [now.saturating_sub(IDEMPOTENCY_TTL_MS) as i64],
        )?;
        let existing: Option<(String, i64, String, i64)> = tx
            .query_row(
                "SELECT request, status, response, created_at FROM idempotency
                 WHERE principal = ?1 AND key = ?2",
                params![owner, key],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()?;
        let claim = match existing {
            Some((stored, _, _, _)) if stored != request => Claim::Mismatch,
            Some((_, status, response, _)) if status > 0 => Claim::Replay(StoredAnswer {
                request: request.to_string(),
                status: status.clamp(0, 999) as u16,
                response,
            }),
            Some((_, _, _, created))
                if now.saturating_sub(created.max(0) as u64) < CLAIM_STALE_MS =>
            {
                Claim::InProgress
            }
            _ => {
                tx.execute(
                    "INSERT INTO idempotency (principal, key, request, status, response, created_at)
                     VALUES (?1, ?2, ?3, 0, '', ?4)
                     ON CONFLICT (principal, key) DO UPDATE
                     SET request = excluded.request, status = 0, response = '',
                         created_at = excluded.created_at",
                    params![owner, key, request, now as i64],
                )?;
                Claim::Claimed
            }
        };
        tx.commit()?;
        Ok(claim)
    }

    /// Stores the answer to `who`'s request `request` under `key` (replacing its claim).
    pub fn idempotent_put(
        &mut self,
        who: &Principal,
        key: &str,
        request: &str,
        status: u16,
        response: &str,
    ) -> Result<(), ControlError> {
        if !is_valid_key(key) {
            return Err(invalid_key());
        }
        if status == 0 {
            return Err(ControlError::InvalidValue {
                field: "status",
                reason: "an answer's status is never 0".into(),
            });
        }
        self.conn.execute(
            "INSERT INTO idempotency (principal, key, request, status, response, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (principal, key) DO UPDATE
             SET request = excluded.request, status = excluded.status,
                 response = excluded.response, created_at = excluded.created_at",
            params![
                owner(who),
                key,
                request,
                i64::from(status),
                response,
                now_ms() as i64
            ],
        )?;
        Ok(())
    }

    /// Drops a claim that was never answered (the request failed): a retry with the same key
    /// acts again. An answered key is left alone.
    pub fn idempotent_release(&mut self, who: &Principal, key: &str) -> Result<(), ControlError> {
        self.conn.execute(
            "DELETE FROM idempotency WHERE principal = ?1 AND key = ?2 AND status = 0",
            params![owner(who), key],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(id: &str) -> Principal {
        Principal {
            org: Some("acme".into()),
            app: None,
            scope: crate::Scope::Deploy,
            token_id: Some(id.into()),
            label: "token:ci".into(),
            source: "tcp:127.0.0.1".into(),
        }
    }

    #[test]
    fn a_key_claims_replays_and_mismatches() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut c = Control::open(dir.path()).expect("open");
        let who = token("t1");
        let req = request_fingerprint("POST", "/api/v1/apps/a/activate", b"{\"x\":1}");
        let other = request_fingerprint("POST", "/api/v1/apps/a/activate", b"{\"x\":2}");
        assert_ne!(req, other);

        assert_eq!(c.idempotent_get(&who, "k1").expect("get"), None);
        assert_eq!(
            c.idempotent_claim(&who, "k1", &req).expect("claim"),
            Claim::Claimed
        );
        // In flight: a duplicate waits, a claim is not an answer.
        assert_eq!(
            c.idempotent_claim(&who, "k1", &req).expect("claim"),
            Claim::InProgress
        );
        assert_eq!(c.idempotent_get(&who, "k1").expect("get"), None);
        c.idempotent_put(&who, "k1", &req, 200, "{\"ok\":true}")
            .expect("put");
        let answer = StoredAnswer {
            request: req.clone(),
            status: 200,
            response: "{\"ok\":true}".into(),
        };
        assert_eq!(
            c.idempotent_claim(&who, "k1", &req).expect("claim"),
            Claim::Replay(answer.clone())
        );
        assert_eq!(c.idempotent_get(&who, "k1").expect("get"), Some(answer));
        assert_eq!(
            c.idempotent_claim(&who, "k1", &other).expect("claim"),
            Claim::Mismatch
        );
        // Another principal's key space is its own.
        assert_eq!(
            c.idempotent_claim(&token("t2"), "k1", &other)
                .expect("claim"),
            Claim::Claimed
        );
        // Release drops only an unanswered claim.
        c.idempotent_release(&who, "k1").expect("release");
        assert!(c.idempotent_get(&who, "k1").expect("get").is_some());
        c.idempotent_release(&token("t2"), "k1").expect("release");
        assert_eq!(
            c.idempotent_claim(&token("t2"), "k1", &req).expect("claim"),
            Claim::Claimed
        );
    }

    #[test]
    fn old_entries_expire_and_stale_claims_are_taken_over() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut c = Control::open(dir.path()).expect("open");
        let who = Principal::local();
        let req = request_fingerprint("POST", "/p", b"");
        c.idempotent_put(&who, "old", &req, 200, "{}").expect("put");
        c.idempotent_claim(&who, "stuck", &req).expect("claim");
        c.conn
            .execute(
                "UPDATE idempotency SET created_at = created_at - ?1 WHERE key = 'old'",
                [IDEMPOTENCY_TTL_MS as i64 + 1],
            )
            .expect("age");
        c.conn
            .execute(
                "UPDATE idempotency SET created_at = created_at - ?1 WHERE key = 'stuck'",
                [CLAIM_STALE_MS as i64 + 1],
            )
            .expect("age");
        assert_eq!(c.idempotent_get(&who, "old").expect("get"), None);
        assert_eq!(
            c.idempotent_claim(&who, "old", &req).expect("claim"),
            Claim::Claimed
        );
        assert_eq!(
            c.idempotent_claim(&who, "stuck", &req).expect("claim"),
            Claim::Claimed
        );
    }

    #[test]
    fn bad_keys_are_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut c = Control::open(dir.path()).expect("open");
        let who = Principal::local();
        for bad in ["", "a b", "é", &"k".repeat(256)] {
            assert!(c.idempotent_claim(&who, bad, "r").is_err(), "{bad:?}");
        }
        assert!(is_valid_key("deploy-4f2a.release"));
    }
}
