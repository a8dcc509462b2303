//! The secrets key (`$FERRY_HOME/secret.key`) and the encryption of secret values.
//!
//! XChaCha20-Poly1305 with a fresh random 24-byte nonce per value; the associated data is
//! `"<org>/<app>/<env>/<name>"`, so a ciphertext copied to another row does not decrypt.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::error::ControlError;

/// Length of the key, in bytes.
const KEY_LEN: usize = 32;
/// Length of a nonce, in bytes.
pub(crate) const NONCE_LEN: usize = 24;

/// The loaded key, ready to seal and open secret values. Its `Debug` shows nothing.
pub(crate) struct SecretsKey {
    cipher: XChaCha20Poly1305,
    /// The audit log's MAC key, derived from the master key (never the master key itself).
    audit: [u8; 32],
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

    fn from_bytes(key: &[u8; KEY_LEN]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.into()),
            audit: blake3::derive_key("ferry 2026 audit log chain v1", key),
        }
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
    fn debug_hides_the_key() {
        assert_eq!(format!("{:?}", key(1)), "SecretsKey(<redacted>)");
    }
}
