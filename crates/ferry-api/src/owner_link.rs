//! One-time sign-in links that let the server's owner open the web dashboard as the owner
//! (`ferry dashboard`): `POST /api/v1/dashboard/owner-link` (the Unix socket only) makes a code
//! of 32 random bytes, valid once for [`LIFETIME`]; the dashboard's `POST /dashboard/owner`
//! redeems it. Only the code's BLAKE3 hash is kept, in this process's memory (never in the
//! database or a log), and it is compared in constant time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use ferry_control::audit::{Outcome, Record};
use serde_json::{Value, json};

use crate::ApiError;
use crate::auth::Caller;
use crate::state::ServerState;

/// How long a link works after it was made.
pub const LIFETIME: Duration = Duration::from_secs(120);
/// At most this many links are open at once (the oldest is dropped past it).
const MAX_OPEN: usize = 64;
/// An expired link is remembered this long, so that using it says "expired", not "unknown".
const REMEMBER_EXPIRED: Duration = Duration::from_secs(15 * 60);

/// Why a code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Never issued, already used, or long gone.
    #[error("this sign-in link is unknown or was already used")]
    Unknown,
    /// Issued, but more than [`LIFETIME`] ago.
    #[error("this sign-in link expired (links work for 2 minutes)")]
    Expired,
}

/// A freshly made link's code (shown once) and when it stops working.
pub struct Issued {
    /// 64 hex characters.
    pub code: String,
    /// Unix milliseconds.
    pub expires_at: u64,
}

impl std::fmt::Debug for Issued {
    /// Never the code.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

struct Open {
    hash: blake3::Hash,
    expires: Instant,
}

/// The open links: hashes and expiry times only.
#[derive(Default)]
pub struct OwnerLinks {
    open: Mutex<Vec<Open>>,
}

impl std::fmt::Debug for OwnerLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnerLinks").finish_non_exhaustive()
    }
}

impl OwnerLinks {
    /// Makes a code; `None` when the system has no randomness to give.
    pub fn issue(&self) -> Option<Issued> {
        let code = self.issue_at(Instant::now())?;
        let expires = SystemTime::now() + LIFETIME;
        let expires_at = expires
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Some(Issued { code, expires_at })
    }

    fn issue_at(&self, now: Instant) -> Option<String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).ok()?;
        let code: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        forget_old(&mut open, now);
        if open.len() >= MAX_OPEN {
            open.remove(0);
        }
        open.push(Open {
            hash: blake3::hash(code.as_bytes()),
            expires: now + LIFETIME,
        });
        Some(code)
    }

    /// Spends `code`: `Ok` once for a code issued less than [`LIFETIME`] ago; a used code is
    /// unknown afterwards, an expired one is refused (and forgotten).
    pub fn redeem(&self, code: &str) -> Result<(), Refusal> {
        self.redeem_at(code, Instant::now())
    }

    fn redeem_at(&self, code: &str, now: Instant) -> Result<(), Refusal> {
        let code = code.trim();
        if code.len() != 64 || !code.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Refusal::Unknown);
        }
        let hash = blake3::hash(code.to_ascii_lowercase().as_bytes());
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        // Every entry is compared (`blake3::Hash`'s equality is constant-time).
        let mut found = None;
        for (i, o) in open.iter().enumerate() {
            if o.hash == hash {
                found = Some(i);
            }
        }
        let Some(i) = found else {
            return Err(Refusal::Unknown);
        };
        let spent = open.remove(i);
        forget_old(&mut open, now);
        if now >= spent.expires {
            return Err(Refusal::Expired);
        }
        Ok(())
    }
}

fn forget_old(open: &mut Vec<Open>, now: Instant) {
    open.retain(|o| now < o.expires + REMEMBER_EXPIRED);
}

/// The answer of `POST /api/v1/dashboard/owner-link`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct OwnerLink {
    /// `http://<control listener>/dashboard/owner?code=<64 hex>`: open it within two minutes;
    /// it works once.
    url: String,
    /// When it stops working (unix ms).
    expires_at: u64,
}

/// `POST /api/v1/dashboard/owner-link`: a one-time link that signs a browser into the web
/// dashboard as the server's owner (who alone may see data jobs). The server's owner only
/// (the Unix socket); audited (never the code).
#[utoipa::path(
    post,
    path = "/api/v1/dashboard/owner-link",
    tag = "server",
    summary = "A one-time dashboard sign-in link for the server's owner (2 minutes, single use)",
    responses((status = 200, description = "Done: open `url` in a browser.", body = OwnerLink))
)]
pub async fn create(
    State(s): State<Arc<ServerState>>,
    who: Caller,
) -> Result<Json<Value>, ApiError> {
    s.require_machine_owner(&who, "create-dashboard-owner-link")?;
    let issued = s.owner_links.issue().ok_or_else(|| {
        ApiError::new(
            500,
            "no-randomness",
            "the system gave no random bytes for the link",
            "see the server log",
        )
    })?;
    let mut record = Record::by(&who.0, "create-dashboard-owner-link", "dashboard");
    record.detail = Some(format!("single use, valid {} s", LIFETIME.as_secs()));
    s.control()?.audit_record(Outcome::Ok, &record)?;
    Ok(Json(json!({
        "url": format!("http://{}/dashboard/owner?code={}", s.control_addr, issued.code),
        "expires_at": issued.expires_at,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_works_once_within_its_lifetime() {
        let links = OwnerLinks::default();
        let now = Instant::now();
        let a = links.issue_at(now).expect("random");
        let b = links.issue_at(now).expect("random");
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(links.redeem_at(&a, now), Ok(()));
        assert_eq!(links.redeem_at(&a, now), Err(Refusal::Unknown), "spent");
        assert_eq!(
            links.redeem_at(&b, now + LIFETIME),
            Err(Refusal::Expired),
            "expired"
        );
        assert_eq!(
            links.redeem_at(&b, now),
            Err(Refusal::Unknown),
            "an expired code is forgotten once tried"
        );
        let c = links.issue_at(now).expect("random");
        assert_eq!(
            links.redeem_at(&c.to_ascii_uppercase(), now + LIFETIME / 2),
            Ok(())
        );
        for bad in ["", "zz", &"0".repeat(64), &format!("{c}0")] {
            assert_eq!(links.redeem_at(bad, now), Err(Refusal::Unknown), "{bad}");
        }
        let kept = links.open.lock().expect("lock").len();
        assert_eq!(kept, 0);
    }

    #[test]
    fn only_hashes_are_kept_and_old_links_are_dropped() {
        let links = OwnerLinks::default();
        let now = Instant::now();
        let first = links.issue_at(now).expect("random");
        for _ in 0..MAX_OPEN {
            links.issue_at(now).expect("random");
        }
        assert_eq!(links.open.lock().expect("lock").len(), MAX_OPEN);
        assert_eq!(links.redeem_at(&first, now), Err(Refusal::Unknown));
        assert!(!format!("{links:?}").contains(&first[..16]));
        let late = links
            .issue_at(now + REMEMBER_EXPIRED + LIFETIME)
            .expect("random");
        assert_eq!(
            links.open.lock().expect("lock").len(),
            1,
            "old ones forgotten"
        );
        assert!(
            links
                .redeem_at(&late, now + REMEMBER_EXPIRED + LIFETIME)
                .is_ok()
        );
    }
}
