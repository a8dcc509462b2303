//! Record ids: 24 lowercase hex digits, like MongoDB's ObjectIds (which Base44 uses).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::MAX_ID_LEN;
use super::error::{RecordError, quote};

/// A new record id: 24 lowercase hex digits, the current Unix time in seconds (4 bytes, big
/// endian) then 8 random bytes, so ids sort by creation second as ObjectIds do.
pub fn new_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let secs = u32::try_from(secs).unwrap_or(u32::MAX);
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&secs.to_be_bytes());
    if getrandom::fill(&mut bytes[4..]).is_err() {
        bytes[4..].copy_from_slice(&fallback().to_be_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Unique within the process when the system's random source fails (it does not on the
/// platforms ferry runs on): a counter and the clock, mixed by SplitMix64.
fn fallback() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut z = n
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add((u64::from(nanos) << 32) | u64::from(std::process::id()));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Whether `id` is a valid record id: 1–[`MAX_ID_LEN`] characters of `[A-Za-z0-9_-]`.
pub fn is_valid_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `id` when valid, else `bad-id`.
pub(crate) fn check_id(id: &str) -> Result<&str, RecordError> {
    if is_valid_id(id) {
        Ok(id)
    } else {
        Err(RecordError::BadId(quote(id)))
    }
}
