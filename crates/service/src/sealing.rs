//! Secrets sealed at rest: the key ring and the sealed text format of every stored secret the
//! server must read back (today the TOTP seeds; hashed secrets stay hashed).
//!
//! A sealed value is `sealed:v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`, sealed with
//! XChaCha20-Poly1305 (RustCrypto `chacha20poly1305`) under a 256-bit key of the ring and a
//! random 192-bit nonce from the OS. The associated data binds it to its place (table, column
//! and row, [`Place`]) and to the key id, so a value copied to another row, or relabelled with
//! another key's id, does not open. The first key of the ring seals; every key opens.
//!
//! This module owns the key material: it is never logged, printed or put in `Debug` output
//! (only key ids are), and it is wiped from memory when dropped. It does no I/O besides the OS
//! random source; reading the ring from a file or variable is the CLI's job.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// The prefix of every sealed value; anything else in a sealed column is a legacy plain value.
pub const SEALED_PREFIX: &str = "sealed:";
const VERSION: &str = "v1";
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;
const MAX_KEY_ID_LEN: usize = 32;

/// Where a sealed value lives; the value opens only there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place(String);

impl Place {
    /// The TOTP seed of the user with this row id.
    pub fn totp_secret(user_row: u32) -> Self {
        Self(format!("totp_factors.secret:{user_row}"))
    }
}

/// Why a key ring was refused. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    #[error("the key ring is empty; add a line `<key id> <base64 of 32 random bytes>`")]
    Empty,
    #[error("line {0}: expected `<key id> <base64 key>`")]
    Syntax(usize),
    #[error("line {0}: a key id is 1–{MAX_KEY_ID_LEN} letters, digits, `-` or `_` (got `{1}`)")]
    BadId(usize, String),
    #[error("line {0}: the key of `{1}` is not the base64 of exactly {KEY_LEN} bytes")]
    BadKey(usize, String),
    #[error("line {0}: the key id `{1}` appears twice")]
    DuplicateId(usize, String),
}

/// Why a stored value did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("sealed under the key `{0}`, which the key ring lacks")]
    UnknownKey(String),
    #[error("the sealed value is malformed")]
    Malformed,
    #[error("the sealed value does not open here (tampered, moved or relabelled)")]
    Refused,
}

/// An opened value: the secret, and whether its stored form needs sealing again.
pub struct Opened {
    pub secret: Zeroizing<String>,
    pub state: StoredState,
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// How a value was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredState {
    /// Sealed under the primary key: nothing to do.
    Current,
    /// Sealed under another key of the ring: `secrets rotate` re-seals it.
    OlderKey,
    /// Plain text written before sealing existed: sealed at start-up or by `secrets rotate`.
    Plain,
}

struct RingKey {
    id: String,
    key: Zeroizing<[u8; KEY_LEN]>,
}

impl RingKey {
    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&*self.key).into())
    }
}

/// Named 256-bit keys; the first seals, all open.
pub struct KeyRing {
    keys: Vec<RingKey>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("key_ids", &self.key_ids())
            .finish_non_exhaustive()
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl KeyRing {
    /// Reads a ring: one key a line, `<key id> <base64 key>`, the first line the primary;
    /// blank lines and `#` comments are skipped. Errors name lines and ids, never keys.
    pub fn parse(text: &SecretString) -> Result<Self, KeyRingError> {
        let mut keys: Vec<RingKey> = Vec::new();
        for (n, line) in text.expose_secret().lines().enumerate() {
            let n = n + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (Some(id), Some(encoded), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(KeyRingError::Syntax(n));
            };
            if !valid_id(id) {
                return Err(KeyRingError::BadId(n, id.to_owned()));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(KeyRingError::DuplicateId(n, id.to_owned()));
            }
            let decoded = Zeroizing::new(
                STANDARD
                    .decode(encoded)
                    .map_err(|_| KeyRingError::BadKey(n, id.to_owned()))?,
            );
            let mut key = Zeroizing::new([0u8; KEY_LEN]);
            if decoded.len() != KEY_LEN {
                return Err(KeyRingError::BadKey(n, id.to_owned()));
            }
            key.copy_from_slice(&decoded);
            keys.push(RingKey {
                id: id.to_owned(),
                key,
            });
        }
        if keys.is_empty() {
            return Err(KeyRingError::Empty);
        }
        Ok(Self { keys })
    }

    /// A ring of one fresh random key (tests, and a process that opens no stored secret).
    pub fn ephemeral() -> Self {
        let line = new_key_line("ephemeral");
        Self::parse(&line).unwrap_or_else(|_| Self { keys: Vec::new() })
    }

    /// The key ids, primary first (safe to show).
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    pub fn primary_id(&self) -> &str {
        self.keys.first().map_or("", |k| k.id.as_str())
    }

    /// Seals `secret` for `place` under the primary key.
    pub fn seal(&self, place: &Place, secret: &str) -> Result<String, OpenError> {
        let key = self.keys.first().ok_or(OpenError::Malformed)?;
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = associated_data(&key.id, place);
        let sealed = key
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: secret.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| OpenError::Malformed)?;
        let mut bytes = Vec::with_capacity(NONCE_LEN + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        Ok(format!(
            "{SEALED_PREFIX}{VERSION}:{}:{}",
            key.id,
            URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// Opens a stored value for `place`: a sealed one with the key its id names, a legacy
    /// plain one as it is (reported as [`StoredState::Plain`]).
    pub fn open(&self, place: &Place, stored: &str) -> Result<Opened, OpenError> {
        let Some(rest) = stored.strip_prefix(SEALED_PREFIX) else {
            return Ok(Opened {
                secret: Zeroizing::new(stored.to_owned()),
                state: StoredState::Plain,
            });
        };
        let mut parts = rest.splitn(3, ':');
        let (Some(VERSION), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(OpenError::Malformed);
        };
        let position = self
            .keys
            .iter()
            .position(|k| k.id == id)
            .ok_or_else(|| OpenError::UnknownKey(id.to_owned()))?;
        let key = &self.keys[position];
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| OpenError::Malformed)?;
        if bytes.len() < NONCE_LEN {
            return Err(OpenError::Malformed);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let aad = associated_data(id, place);
        let plain = Zeroizing::new(
            key.cipher()
                .decrypt(
                    XNonce::from_slice(nonce),
                    Payload {
                        msg: sealed,
                        aad: aad.as_bytes(),
                    },
                )
                .map_err(|_| OpenError::Refused)?,
        );
        let secret = std::str::from_utf8(&plain).map_err(|_| OpenError::Malformed)?;
        Ok(Opened {
            secret: Zeroizing::new(secret.to_owned()),
            state: if position == 0 {
                StoredState::Current
            } else {
                StoredState::OlderKey
            },
        })
    }
}

/// The sealed value's context: the format, the key id and the place.
fn associated_data(key_id: &str, place: &Place) -> String {
    format!("portcullis:{VERSION}:{key_id}:{}", place.0)
}

/// The key id of a stored value, if sealed (safe to show).
pub fn key_id_of(stored: &str) -> Option<&str> {
    let rest = stored.strip_prefix(SEALED_PREFIX)?;
    rest.split(':').nth(1)
}

/// A new key ring line `<id> <base64 of 32 random bytes>` (the caller shows it once).
pub fn new_key_line(id: &str) -> SecretString {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    {
        use chacha20poly1305::aead::rand_core::RngCore;
        OsRng.fill_bytes(&mut *key);
    }
    SecretString::from(format!("{id} {}", STANDARD.encode(*key)))
}

/// A fresh key id: `k`, today's date and random hex (unique enough to rotate daily).
pub fn new_key_id() -> String {
    use rand::Rng as _;
    let date = time::OffsetDateTime::now_utc().date();
    format!(
        "k{:04}{:02}{:02}-{:04x}",
        date.year(),
        u8::from(date.month()),
        date.day(),
        rand::thread_rng().r#gen::<u16>()
    )
}

/// Whether `id` may name a key.
pub fn is_valid_key_id(id: &str) -> bool {
    valid_id(id)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    fn ring(lines: &[&SecretString]) -> KeyRing {
        let text = lines
            .iter()
            .map(|l| l.expose_secret())
            .collect::<Vec<_>>()
            .join("\n");
        KeyRing::parse(&SecretString::from(text)).unwrap()
    }

    #[test]
    fn seals_and_opens_only_in_its_place() {
        let a = new_key_line("a");
        let keys = ring(&[&a]);
        let seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
        let sealed = keys.seal(&Place::totp_secret(7), seed).unwrap();
        assert!(sealed.starts_with("sealed:v1:a:"), "{sealed}");
        assert!(!sealed.contains(seed));
        let opened = keys.open(&Place::totp_secret(7), &sealed).unwrap();
        assert_eq!(opened.secret.as_str(), seed);
        assert_eq!(opened.state, StoredState::Current);
        assert_eq!(
            keys.open(&Place::totp_secret(8), &sealed).unwrap_err(),
            OpenError::Refused,
            "moved to another user's row"
        );
        assert_ne!(
            keys.seal(&Place::totp_secret(7), seed).unwrap(),
            sealed,
            "fresh nonce every time"
        );
    }

    #[test]
    fn tampering_and_relabelling_are_refused() {
        let a = new_key_line("a");
        let b = new_key_line("b");
        let keys = ring(&[&a, &b]);
        let place = Place::totp_secret(1);
        let sealed = keys.seal(&place, "SECRET").unwrap();
        let (head, body) = sealed.rsplit_once(':').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(body).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let flipped = format!("{head}:{}", URL_SAFE_NO_PAD.encode(&bytes));
        assert_eq!(keys.open(&place, &flipped).unwrap_err(), OpenError::Refused);
        let relabelled = sealed.replacen("sealed:v1:a:", "sealed:v1:b:", 1);
        assert_eq!(
            keys.open(&place, &relabelled).unwrap_err(),
            OpenError::Refused
        );
        assert_eq!(
            keys.open(&place, "sealed:v1:zz:AAAA").unwrap_err(),
            OpenError::UnknownKey("zz".into())
        );
        for malformed in ["sealed:v2:a:AAAA", "sealed:v1:a:!!", "sealed:v1:a:AAAA"] {
            assert_eq!(
                keys.open(&place, malformed).unwrap_err(),
                OpenError::Malformed,
                "{malformed}"
            );
        }
    }

    #[test]
    fn every_key_opens_and_the_first_seals() {
        let old = new_key_line("old");
        let new = new_key_line("new");
        let place = Place::totp_secret(3);
        let sealed_old = ring(&[&old]).seal(&place, "S").unwrap();
        let rotated = ring(&[&new, &old]);
        let opened = rotated.open(&place, &sealed_old).unwrap();
        assert_eq!(opened.state, StoredState::OlderKey);
        assert_eq!(key_id_of(&rotated.seal(&place, "S").unwrap()), Some("new"));
        assert_eq!(
            ring(&[&new]).open(&place, &sealed_old).unwrap_err(),
            OpenError::UnknownKey("old".into())
        );
        let plain = rotated.open(&place, "PLAINSEED").unwrap();
        assert_eq!(plain.state, StoredState::Plain);
        assert_eq!(plain.secret.as_str(), "PLAINSEED");
    }

    #[test]
    fn a_ring_is_checked_and_its_debug_output_shows_ids_only() {
        let parse = |text: &str| KeyRing::parse(&SecretString::from(text.to_owned()));
        let a = new_key_line("a");
        let keys = ring(&[&a]);
        let debug = format!("{keys:?}");
        let material = a.expose_secret().split(' ').nth(1).unwrap();
        assert!(debug.contains("\"a\""), "{debug}");
        assert!(!debug.contains(material), "{debug}");
        assert_eq!(
            parse("# only a comment\n\n").unwrap_err(),
            KeyRingError::Empty
        );
        assert_eq!(parse("lonely").unwrap_err(), KeyRingError::Syntax(1));
        let short = format!("k {}", STANDARD.encode([0u8; 16]));
        assert!(matches!(
            parse(&short).unwrap_err(),
            KeyRingError::BadKey(1, _)
        ));
        let bad_id = format!("k:1 {material}");
        assert!(matches!(
            parse(&bad_id).unwrap_err(),
            KeyRingError::BadId(1, _)
        ));
        let twice = format!("k {material}\n# c\nk {material}");
        assert_eq!(
            parse(&twice).unwrap_err(),
            KeyRingError::DuplicateId(3, "k".into())
        );
        let err = parse(&format!("k {material} extra"))
            .unwrap_err()
            .to_string();
        assert!(!err.contains(material), "{err}");
    }
}
