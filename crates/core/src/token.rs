//! The bearer-token format: `pcl_<kind>_<30 random base62><6 base62 CRC32>`.
//!
//! The fixed prefix makes leaked tokens findable by secret scanners; the checksum lets both
//! scanners and the server reject a mistyped or made-up token without touching storage. Only
//! the SHA-256 of a token is ever stored.

use rand::Rng;
use sha2::{Digest, Sha256};

use crate::index::CredentialKind;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_LEN: usize = 30;
const CHECKSUM_LEN: usize = 6;

fn prefix(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::Session => "pcl_ses_",
        CredentialKind::PersonalAccessToken => "pcl_pat_",
        CredentialKind::AppKey => "pcl_key_",
        CredentialKind::ServiceKey => "pcl_svc_",
        CredentialKind::ScimToken => "pcl_scim_",
    }
}

fn base62_fixed(mut value: u32) -> [u8; CHECKSUM_LEN] {
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    out
}

/// A freshly minted token: the secret to show once, and the hash to store.
#[derive(Clone)]
pub struct MintedToken {
    pub secret: String,
    pub hash: [u8; 32],
}

impl std::fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedToken")
            .field("secret", &"<redacted>")
            .finish()
    }
}

pub fn mint(kind: CredentialKind, rng: &mut impl Rng) -> MintedToken {
    let mut secret = String::with_capacity(8 + RANDOM_LEN + CHECKSUM_LEN);
    secret.push_str(prefix(kind));
    for _ in 0..RANDOM_LEN {
        secret.push(ALPHABET[rng.gen_range(0..ALPHABET.len())] as char);
    }
    let checksum = base62_fixed(crc32fast::hash(secret.as_bytes()));
    secret.extend(checksum.iter().map(|b| *b as char));
    let hash = hash_token(&secret);
    MintedToken { secret, hash }
}

/// Checks the shape and checksum of a presented token; returns its kind and storage hash.
pub fn parse(presented: &str) -> Option<(CredentialKind, [u8; 32])> {
    let kind = [
        CredentialKind::Session,
        CredentialKind::PersonalAccessToken,
        CredentialKind::AppKey,
        CredentialKind::ServiceKey,
        CredentialKind::ScimToken,
    ]
    .into_iter()
    .find(|k| presented.starts_with(prefix(*k)))?;
    let body = &presented[prefix(kind).len()..];
    if body.len() != RANDOM_LEN + CHECKSUM_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let (head, checksum) = presented.split_at(presented.len() - CHECKSUM_LEN);
    if base62_fixed(crc32fast::hash(head.as_bytes())) != checksum.as_bytes() {
        return None;
    }
    Some((kind, hash_token(presented)))
}

pub fn hash_token(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_parse_back_to_their_kind_and_hash() {
        let mut rng = rand::thread_rng();
        for kind in [
            CredentialKind::Session,
            CredentialKind::PersonalAccessToken,
            CredentialKind::AppKey,
            CredentialKind::ServiceKey,
        ] {
            let token = mint(kind, &mut rng);
            assert_eq!(token.secret.len(), 8 + 36);
            assert_eq!(parse(&token.secret), Some((kind, token.hash)));
        }
    }

    #[test]
    fn a_changed_character_fails_the_checksum() {
        let token = mint(CredentialKind::PersonalAccessToken, &mut rand::thread_rng()).secret;
        let mut bytes = token.clone().into_bytes();
        bytes[10] = if bytes[10] == b'a' { b'b' } else { b'a' };
        let altered = String::from_utf8(bytes).unwrap();
        assert_eq!(parse(&altered), None);
        assert_eq!(parse(&token[..token.len() - 1]), None);
        assert_eq!(parse("pcl_pat_"), None);
        assert_eq!(parse("Bearer whatever"), None);
        assert_eq!(parse(&token.replace("pcl_pat_", "pcl_xyz_")), None);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let token = mint(CredentialKind::Session, &mut rand::thread_rng());
        assert!(!format!("{token:?}").contains(&token.secret));
    }
}
