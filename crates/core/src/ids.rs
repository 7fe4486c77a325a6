//! Validated identifiers (docs/contract.md §1). Parsing happens once at the edge; everything inside the
//! system holds an already-valid value.
//!
//! Users and organizations share one account-id namespace; apps and teams use the same grammar
//! within their owner. Ids compare case-insensitively: [`AccountId::key`] is the canonical form
//! used for uniqueness, [`AccountId::as_str`] keeps the spelling the creator chose.

use std::fmt;

/// Longest accepted id, in characters.
pub const MAX_ID_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("id must not be empty")]
    Empty,
    #[error("id `{0}` is longer than 32 characters")]
    TooLong(String),
    #[error(
        "id `{0}` may only contain letters, digits and single `-` or `_` separators between them"
    )]
    InvalidCharacters(String),
    #[error("`{0}` is not a valid email address")]
    InvalidEmail(String),
    /// Compatibility characters (a KELVIN SIGN for `K`, fullwidth letters) that Unicode NFKC
    /// would replace: such an address looks like another one.
    #[error(
        "`{0}` contains characters that stand for other characters; type the address in its plain form"
    )]
    EmailNotNormalized(String),
    /// Invisible, formatting or bidirectional control characters.
    #[error("`{0}` contains invisible or direction-changing characters")]
    EmailInvisibleCharacters(String),
}

/// An id in the docs/contract.md §1 grammar: 1–32 chars of `[A-Za-z0-9]` with single `-`/`_` separators.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        validate_id(raw)?;
        Ok(Self(raw.to_owned()))
    }

    /// The id as its creator spelled it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The canonical (lower-case) form that uniqueness and lookups use.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({})", self.0)
    }
}

fn validate_id(raw: &str) -> Result<(), IdError> {
    if raw.is_empty() {
        return Err(IdError::Empty);
    }
    if raw.chars().count() > MAX_ID_LEN {
        return Err(IdError::TooLong(truncate_for_message(raw)));
    }
    let bytes = raw.as_bytes();
    let is_sep = |b: u8| b == b'-' || b == b'_';
    let well_formed = bytes
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || is_sep(b))
        && !is_sep(bytes[0])
        && !is_sep(bytes[bytes.len() - 1])
        && !bytes.windows(2).any(|w| is_sep(w[0]) && is_sep(w[1]));
    if well_formed {
        Ok(())
    } else {
        Err(IdError::InvalidCharacters(truncate_for_message(raw)))
    }
}

/// Echoing user input in an error is useful, echoing a megabyte of it is not.
pub(crate) fn truncate_for_message(raw: &str) -> String {
    raw.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ids_of_the_spec_grammar() {
        for ok in [
            "a",
            "A1",
            "my-org",
            "my_org",
            "a-b_c-d",
            "x".repeat(32).as_str(),
            "ÄB",
        ]
        .into_iter()
        .filter(|s| s.is_ascii())
        {
            assert!(AccountId::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_ids_outside_the_grammar() {
        let long = "x".repeat(33);
        let cases = [
            ("", IdError::Empty),
            (long.as_str(), IdError::TooLong(long.clone())),
            ("-a", IdError::InvalidCharacters("-a".into())),
            ("a-", IdError::InvalidCharacters("a-".into())),
            ("a--b", IdError::InvalidCharacters("a--b".into())),
            ("a_-b", IdError::InvalidCharacters("a_-b".into())),
            ("a b", IdError::InvalidCharacters("a b".into())),
            ("a.b", IdError::InvalidCharacters("a.b".into())),
            ("äb", IdError::InvalidCharacters("äb".into())),
            ("a/b", IdError::InvalidCharacters("a/b".into())),
        ];
        for (raw, expected) in cases {
            assert_eq!(AccountId::parse(raw), Err(expected), "{raw:?}");
        }
    }

    #[test]
    fn id_key_is_case_insensitive() {
        let a = AccountId::parse("My-Org").unwrap();
        assert_eq!(a.as_str(), "My-Org");
        assert_eq!(a.key(), "my-org");
    }
}
