//! BLAKE3 content hashes, validated so they can name files safely.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ReleaseError, preview};

/// Size of the read buffer used for streaming hashes and copies.
pub(crate) const BUF_SIZE: usize = 64 * 1024;

/// A BLAKE3 hash as 64 lowercase hex chars; `parse` rejects anything else (so it can never
/// traverse paths). Serialised as a plain string, validated when deserialised.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct BlobHash(String);

impl BlobHash {
    /// Validates `s`: exactly 64 characters from `0-9a-f`.
    pub fn parse(s: &str) -> Result<Self, ReleaseError> {
        if is_hash(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(ReleaseError::InvalidHash { value: preview(s) })
        }
    }

    /// The 64 hex characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hash of `b`.
    pub fn of_bytes(b: &[u8]) -> Self {
        Self::from_blake3(&blake3::hash(b))
    }

    /// The hash and size of the file at `path`, read in 64 KiB chunks.
    pub fn of_file(path: &Path) -> Result<(Self, u64), ReleaseError> {
        let mut file = File::open(path).map_err(|e| ReleaseError::io(path, e))?;
        let mut buf = vec![0; BUF_SIZE];
        hash_reader(&mut file, &mut buf).map_err(|e| ReleaseError::io(path, e))
    }

    /// The hash of the empty content (what a symbolic link's entry carries).
    pub fn empty() -> Self {
        Self::of_bytes(b"")
    }

    pub(crate) fn from_blake3(h: &blake3::Hash) -> Self {
        Self(h.to_hex().to_string())
    }
}

impl fmt::Display for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for BlobHash {
    type Error = ReleaseError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        if is_hash(&s) {
            Ok(Self(s))
        } else {
            Err(ReleaseError::InvalidHash { value: preview(&s) })
        }
    }
}

impl std::str::FromStr for BlobHash {
    type Err = ReleaseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for BlobHash {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Whether `s` is 64 lowercase hex characters.
fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Reads `reader` to its end through `buf`, feeding every chunk to `hasher` and then to
/// `sink`. Returns the number of bytes read.
pub(crate) fn stream(
    reader: &mut impl Read,
    buf: &mut [u8],
    hasher: &mut blake3::Hasher,
    mut sink: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<u64> {
    let mut size: u64 = 0;
    loop {
        let n = match reader.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buf[..n];
        hasher.update(chunk);
        sink(chunk)?;
        size += n as u64;
    }
    Ok(size)
}

/// The hash and size of everything `reader` yields, read through `buf`.
pub(crate) fn hash_reader(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<(BlobHash, u64)> {
    let mut hasher = blake3::Hasher::new();
    let size = stream(reader, buf, &mut hasher, |_| Ok(()))?;
    Ok((BlobHash::from_blake3(&hasher.finalize()), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_lowercase_hex_only() {
        let good = BlobHash::of_bytes(b"hello");
        assert_eq!(BlobHash::parse(good.as_str()).ok(), Some(good.clone()));
        for bad in [
            "",
            "../x",
            "../../etc/passwd",
            &good.as_str()[..63],
            &good.as_str().to_uppercase(),
            &format!("{}0", good.as_str()),
            &format!("{}/", &good.as_str()[..63]),
            &"g".repeat(64),
            &"é".repeat(32),
        ] {
            let err = BlobHash::parse(bad).expect_err(bad);
            assert_eq!(err.code(), "invalid-hash");
        }
    }

    #[test]
    fn serde_is_a_validated_string() {
        let h = BlobHash::of_bytes(b"x");
        let json = serde_json::to_string(&h).expect("serialise");
        assert_eq!(json, format!("\"{h}\""));
        let back: BlobHash = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, h);
        assert!(serde_json::from_str::<BlobHash>("\"../../x\"").is_err());
        assert!(serde_json::from_str::<BlobHash>("42").is_err());
    }

    #[test]
    fn file_hash_streams_across_buffer_boundaries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data: Vec<u8> = (0..(BUF_SIZE * 3 + 17)).map(|i| (i % 251) as u8).collect();
        let path = dir.path().join("big");
        std::fs::write(&path, &data).expect("write");
        let (h, size) = BlobHash::of_file(&path).expect("hash");
        assert_eq!(size, data.len() as u64);
        assert_eq!(h, BlobHash::of_bytes(&data));
        assert_eq!(h.as_str(), blake3::hash(&data).to_hex().as_str());
    }

    #[test]
    fn known_vector() {
        // BLAKE3 of the empty input, from the reference test vectors.
        assert_eq!(
            BlobHash::empty().as_str(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }
}
