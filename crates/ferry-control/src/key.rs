//! The secrets key (`$FERRY_HOME/secret.key`) and the encryption of secret values.
//!
//! XChaCha20-Poly1305 with a fresh random 24-byte nonce per value; the associated data is
//! `"<org>/<app>/<env>/<name>"`, so a ciphertext copied to another row does not decrypt.
//!
//! The master key comes from `FERRY_MASTER_KEY` (64 hex characters, or the base64 of 32
//! bytes) when that is set, else from the key file. Two more keys are derived from it: the
//! audit log's MAC key and the key of secret fingerprints; neither reveals the master key.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::error::ControlError;

/// Length of the key, in bytes.
pub(crate) const KEY_LEN: usize = 32;
/// The environment variable that holds the master key (it wins over the key file).
pub const MASTER_KEY_ENV: &str = "FERRY_MASTER_KEY";
/// Where a key being rotated in waits, next to the key file, until the database uses it.
pub(crate) const NEXT_SUFFIX: &str = ".next";
/// Length of a nonce, in bytes.
pub(crate) const NONCE_LEN: usize = 24;

/// The loaded key, ready to seal and open secret values. Its `Debug` shows nothing.
pub(crate) struct SecretsKey {
    cipher: XChaCha20Poly1305,
    /// The audit log's MAC key, derived from the master key (never the master key itself).
    audit: [u8; 32],
    /// The key of secret fingerprints, derived from the master key.
    fingerprint: [u8; 32],
}

/// Where the master key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeySource {
    /// The key file (`$FERRY_HOME/secret.key`).
    File(PathBuf),
    /// `FERRY_MASTER_KEY`.
    Env,
}

impl fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretsKey(<redacted>)")
    }
}

/// One encrypted value.
pub(crate) struct Sealed {
    pub nonce: [u8; NONCE_LEN],
    pub ciphertext: Vec<u8>,
}

impl SecretsKey {
    /// Loads `path`, or creates it (32 random bytes, mode 0600) if it does not exist.
    ///
    /// Refuses a key file that group or others may access, and one that is not 32 bytes.
    pub(crate) fn load_or_create(path: &Path) -> Result<Self, ControlError> {
        match File::open(path) {
            Ok(file) => Self::load(path, file),
            Err(err) if err.kind() == ErrorKind::NotFound => match Self::create(path)? {
                Some(key) => Ok(key),
                // Another process created it between our open and our create: use theirs.
                None => {
                    let file = File::open(path).map_err(|e| ControlError::io(path, e))?;
                    Self::load(path, file)
                }
            },
            Err(err) => Err(ControlError::io(path, err)),
        }
    }

    fn load(path: &Path, file: File) -> Result<Self, ControlError> {
        let meta = file.metadata().map_err(|e| ControlError::io(path, e))?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(ControlError::KeyPermissions {
                path: path.to_owned(),
                mode,
            });
        }
        if !meta.is_file() || meta.len() != KEY_LEN as u64 {
            return Err(ControlError::KeyInvalid {
                path: path.to_owned(),
                len: meta.len(),
            });
        }
        let mut key = [0u8; KEY_LEN];
        (&file)
            .read_exact(&mut key)
            .map_err(|e| ControlError::io(path, e))?;
        Ok(Self::from_bytes(&key))
    }

    /// Writes a new key next to `path` and links it into place, so that no reader ever sees
    /// a partial key. `None` if `path` appeared meanwhile.
    fn create(path: &Path) -> Result<Option<Self>, ControlError> {
        let mut key = [0u8; KEY_LEN];
        fill_random(&mut key)?;
        let mut suffix = [0u8; 8];
        fill_random(&mut suffix)?;
        let temp = temp_path(path, &suffix);
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)?;
            file.write_all(&key)?;
            file.sync_all()
        })();
        if let Err(err) = written {
            let _ = fs::remove_file(&temp);
            return Err(ControlError::io(&temp, err));
        }
        let linked = fs::hard_link(&temp, path);
        let _ = fs::remove_file(&temp);
        match linked {
            Ok(()) => {
                sync_parent(path)?;
                Ok(Some(Self::from_bytes(&key)))
            }
            Err(err) if err.kind() == ErrorKind::AlreadyExists => Ok(None),
            Err(err) => Err(ControlError::io(path, err)),
        }
    }

    /// Parses the value of `FERRY_MASTER_KEY`: 64 hex characters, or the base64 (standard or
    /// URL-safe, padded or not) of 32 bytes, surrounding whitespace ignored. The error never
    /// contains the text.
    pub(crate) fn from_env_text(text: &str) -> Result<Self, ControlError> {
        let text = text.trim();
        let bad = || ControlError::MasterKeyInvalid {
            len: text.chars().count(),
        };
        if text.len() == 2 * KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut key = [0u8; KEY_LEN];
            for (i, byte) in key.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
            }
            return Ok(Self::from_bytes(&key));
        }
        use base64::Engine;
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        let decoded = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .ok_or_else(bad)?;
        let key: [u8; KEY_LEN] = decoded.try_into().map_err(|_| bad())?;
        Ok(Self::from_bytes(&key))
    }

    /// The master key from `env_text` (the value of `FERRY_MASTER_KEY`) when it is given and
    /// not blank, else from the key file at `path` (created when missing).
    pub(crate) fn load_master(
        path: &Path,
        env_text: Option<&str>,
    ) -> Result<(Self, KeySource), ControlError> {
        match env_text {
            Some(text) if !text.trim().is_empty() => {
                Ok((Self::from_env_text(text)?, KeySource::Env))
            }
            _ => Ok((
                Self::load_or_create(path)?,
                KeySource::File(path.to_owned()),
            )),
        }
    }

    /// Loads an existing key file (no creation); `None` when it does not exist.
    pub(crate) fn load_existing(path: &Path) -> Result<Option<Self>, ControlError> {
        match File::open(path) {
            Ok(file) => Self::load(path, file).map(Some),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
            Err(err) => Err(ControlError::io(path, err)),
        }
    }

    /// A fresh random key and its raw bytes (to be written or shown once).
    pub(crate) fn generate() -> Result<(Self, [u8; KEY_LEN]), ControlError> {
        let mut key = [0u8; KEY_LEN];
        fill_random(&mut key)?;
        Ok((Self::from_bytes(&key), key))
    }

    pub(crate) fn from_bytes(key: &[u8; KEY_LEN]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.into()),
            audit: blake3::derive_key("ferry 2026 audit log chain v1", key),
            fingerprint: blake3::derive_key("ferry 2026 secret fingerprint v1", key),
        }
    }

    /// The fingerprint of a secret value: the first 12 hex characters of a BLAKE3 keyed with
    /// a key derived from the master key. Equal values have equal fingerprints under one key;
    /// nobody without the key can test a guess against it.
    pub(crate) fn fingerprint(&self, value: &str) -> String {
        let hash = blake3::keyed_hash(&self.fingerprint, value.as_bytes());
        hash.to_hex()[..12].to_string()
    }

    /// The key of the audit log's MAC chain.
    pub(crate) fn audit_key(&self) -> &[u8; 32] {
        &self.audit
    }

    /// Encrypts `value` for the secret identified by `aad`.
    pub(crate) fn seal(&self, aad: &str, value: &str) -> Result<Sealed, ControlError> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;
        let ciphertext = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: value.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            // Only fails for messages far beyond the value cap.
            .map_err(|_| ControlError::InvalidValue {
                field: "secret value",
                reason: "it could not be encrypted".into(),
            })?;
        Ok(Sealed { nonce, ciphertext })
    }

    /// Decrypts a value sealed for `aad`; `None` if the key or the associated data differ,
    /// or the bytes were altered.
    pub(crate) fn open(&self, aad: &str, nonce: &[u8], ciphertext: &[u8]) -> Option<String> {
        if nonce.len() != NONCE_LEN {
            return None;
        }
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(plain).ok()
    }
}

/// Writes `key` to a fresh `0600` file at `path` (which must not exist), synced.
pub(crate) fn write_key_file(path: &Path, key: &[u8; KEY_LEN]) -> Result<(), ControlError> {
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        file.write_all(key)?;
        file.sync_all()
    })();
    if let Err(err) = written {
        let _ = fs::remove_file(path);
        return Err(ControlError::io(path, err));
    }
    sync_parent(path)
}

/// Moves `from` over `to` atomically and makes the change durable.
pub(crate) fn replace_file(from: &Path, to: &Path) -> Result<(), ControlError> {
    fs::rename(from, to).map_err(|e| ControlError::io(to, e))?;
    sync_parent(to)
}

/// `<path>.next`: where a rotated key waits until the database uses it.
pub(crate) fn next_key_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(NEXT_SUFFIX);
    path.with_file_name(name)
}

/// The associated data binding a frozen value to its release.
pub(crate) fn release_associated_data(
    org: &str,
    app: &str,
    env: &str,
    name: &str,
    release: &str,
) -> String {
    format!("{org}/{app}/{env}/{name}@{release}")
}

/// The associated data binding a ciphertext to its row.
pub(crate) fn associated_data(org: &str, app: &str, env: &str, name: &str) -> String {
    format!("{org}/{app}/{env}/{name}")
}

pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), ControlError> {
    getrandom::fill(buf).map_err(|e| ControlError::Random(e.to_string()))
}

fn temp_path(path: &Path, suffix: &[u8]) -> PathBuf {
    let hex: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{hex}"));
    path.with_file_name(name)
}

/// Makes a new directory entry durable.
fn sync_parent(path: &Path) -> Result<(), ControlError> {
    let Some(parent) = path.parent() else {
        return Ok(());
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| ControlError::io(parent, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretsKey {
        SecretsKey::from_bytes(&[byte; KEY_LEN])
    }

    #[test]
    fn seal_open_round_trip_with_fresh_nonces() {
        let k = key(7);
        let aad = associated_data("default", "app", "production", "TOKEN");
        let a = k.seal(&aad, "hunter2").expect("seal");
        let b = k.seal(&aad, "hunter2").expect("seal");
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_eq!(
            k.open(&aad, &a.nonce, &a.ciphertext).as_deref(),
            Some("hunter2")
        );
    }

    #[test]
    fn other_key_or_other_row_does_not_open() {
        let k = key(7);
        let aad = associated_data("default", "app", "production", "TOKEN");
        let sealed = k.seal(&aad, "hunter2").expect("seal");
        assert!(
            key(8)
                .open(&aad, &sealed.nonce, &sealed.ciphertext)
                .is_none()
        );
        let moved = associated_data("default", "app", "production", "OTHER");
        assert!(k.open(&moved, &sealed.nonce, &sealed.ciphertext).is_none());
        assert!(
            k.open(&aad, &sealed.nonce[..12], &sealed.ciphertext)
                .is_none()
        );
    }

    #[test]
    fn master_key_from_hex_or_base64_and_never_echoed() {
        let hex = "07".repeat(32);
        let b64 = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode([7u8; 32])
        };
        let aad = associated_data("default", "app", "production", "TOKEN");
        let sealed = key(7).seal(&aad, "v").expect("seal");
        for text in [hex.clone(), b64, format!("  {hex}\n")] {
            let k = SecretsKey::from_env_text(&text).expect("parses");
            assert_eq!(
                k.open(&aad, &sealed.nonce, &sealed.ciphertext).as_deref(),
                Some("v")
            );
        }
        for bad in [
            "",
            "zz",
            &"0".repeat(63),
            &"g".repeat(64),
            "c2VjcmV0LXZhbHVl",
        ] {
            let err = SecretsKey::from_env_text(bad).expect_err(bad);
            assert_eq!(err.code(), "master-key-invalid");
            if !bad.is_empty() {
                assert!(!err.to_string().contains(bad), "{err}");
            }
        }
    }

    #[test]
    fn fingerprints_are_keyed_and_short() {
        let a = key(1).fingerprint("hunter2");
        assert_eq!(a.len(), 12);
        assert_eq!(a, key(1).fingerprint("hunter2"));
        assert_ne!(a, key(2).fingerprint("hunter2"));
        assert_ne!(a, key(1).fingerprint("hunter3"));
        assert!(!blake3::hash(b"hunter2").to_hex().starts_with(&a));
    }

    #[test]
    fn debug_hides_the_key() {
        assert_eq!(format!("{:?}", key(1)), "SecretsKey(<redacted>)");
    }
}
