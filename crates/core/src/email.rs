//! Email addresses: kept as typed for display, compared in one canonical form.
//!
//! Every uniqueness check and every match (sign-up, login, invitations, resets, SSO) uses
//! [`Email::key`]: the local part in Unicode NFKC with full case folding, the domain in its
//! UTS-46 ASCII form. Addresses that only look like another one are refused outright: ones NFKC
//! would change (a KELVIN SIGN for `K`, fullwidth letters) and ones with invisible or
//! direction-changing characters, since a person reading them cannot tell them apart.

use std::fmt;
use std::hash::{Hash, Hasher};

use icu_casemap::CaseMapperBorrowed;
use icu_normalizer::ComposingNormalizerBorrowed;
use icu_properties::CodePointSetData;
use icu_properties::props::{BidiControl, DefaultIgnorableCodePoint};

use crate::ids::{IdError, truncate_for_message};

/// Longest accepted email address (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest local part (RFC 5321).
const MAX_LOCAL_LEN: usize = 64;

/// A valid email address. Equality and hashing use the canonical [`Email::key`].
#[derive(Clone)]
pub struct Email {
    typed: String,
    key: String,
}

impl Email {
    /// A deliberately modest syntax check (one `@`, a non-empty local part, a dotted domain, no
    /// spaces or control characters) plus the look-alike refusals above. Deliverability is
    /// proven by mail, not by parsing.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let raw = raw.trim();
        let invalid = || IdError::InvalidEmail(truncate_for_message(raw));
        if raw.len() > MAX_EMAIL_LEN || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        if raw.chars().any(is_invisible) {
            return Err(IdError::EmailInvisibleCharacters(truncate_for_message(raw)));
        }
        if !ComposingNormalizerBorrowed::new_nfkc().is_normalized(raw) {
            return Err(IdError::EmailNotNormalized(truncate_for_message(raw)));
        }
        let key = canonical_key(raw).ok_or_else(invalid)?;
        Ok(Self {
            typed: raw.to_owned(),
            key,
        })
    }

    /// The address as its owner typed it.
    pub fn as_str(&self) -> &str {
        &self.typed
    }

    /// The canonical form: the one used for uniqueness and every comparison.
    pub fn key(&self) -> String {
        self.key.clone()
    }

    /// The canonical domain (ASCII, lower case), e.g. for matching verified domains.
    pub fn domain_key(&self) -> &str {
        self.key
            .rsplit_once('@')
            .map(|(_, d)| d)
            .unwrap_or_default()
    }
}

/// The canonical form of a domain name (UTS-46 ASCII, lower case, no trailing dot), as email
/// keys hold it; `None` when it is not a domain name with at least two labels.
pub fn canonical_domain(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let raw = raw.strip_suffix('.').unwrap_or(raw);
    if raw.is_empty() || raw.starts_with('.') || raw.contains("..") {
        return None;
    }
    let domain = idna::domain_to_ascii_cow(raw.as_bytes(), idna::AsciiDenyList::URL).ok()?;
    // Host names only (letters, digits, hyphens): what mail is delivered to, and nothing a
    // pattern match on stored addresses could read as a wildcard.
    let labels_ok = domain.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    // The last label of a name is never all digits: that is an IPv4 address.
    let top = domain.rsplit('.').next().unwrap_or_default();
    if !labels_ok
        || domain.len() > 253
        || !domain.contains('.')
        || top.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some(domain.into_owned())
}

/// The canonical key of an address already stored, without the look-alike refusals: start-up
/// uses it to find stored accounts that collide under the canonical form. `None` when the
/// address is not syntactically valid at all.
pub fn canonical_key(raw: &str) -> Option<String> {
    let (local, domain) = raw.trim().split_once('@')?;
    let domain_ok = !domain.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..");
    if local.is_empty() || local.len() > MAX_LOCAL_LEN || !domain_ok {
        return None;
    }
    let nfkc = ComposingNormalizerBorrowed::new_nfkc();
    // Case folding can leave a string outside NFKC (and NFKC can create foldable letters), so
    // the local part is normalised on both sides of the fold (NFKC_Casefold's closure).
    let normalized = nfkc.normalize(local);
    let folded = CaseMapperBorrowed::new().fold_string(&normalized);
    let local = nfkc.normalize(&folded);
    let domain = idna::domain_to_ascii_cow(domain.as_bytes(), idna::AsciiDenyList::URL).ok()?;
    if domain.is_empty() || !domain.contains('.') {
        return None;
    }
    Some(format!("{local}@{domain}"))
}

/// Characters that show nothing or reorder what is shown: default-ignorable code points (zero
/// width joiners and spaces, soft hyphens, variation selectors, ...) and bidi controls.
fn is_invisible(c: char) -> bool {
    CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
        || CodePointSetData::new::<BidiControl>().contains(c)
}

impl PartialEq for Email {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Email {}

impl Hash for Email {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.typed)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.typed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn domains_are_canonical_uts46_ascii_lower_case() {
        for (raw, canonical) in [
            ("Example.COM", "example.com"),
            (" example.com. ", "example.com"),
            ("Bücher.example", "xn--bcher-kva.example"),
            ("ＥＸＡＭＰＬＥ.com", "example.com"),
            ("a-b.c-d.example", "a-b.c-d.example"),
        ] {
            assert_eq!(canonical_domain(raw).as_deref(), Some(canonical), "{raw}");
        }
        for bad in [
            "",
            ".",
            "localhost",
            "a..b.com",
            ".example.com",
            "-a.com",
            "a-.com",
            "10.0.0.1",
            "exa mple.com",
            "a@b.com",
            "ex/ample.com",
        ] {
            assert_eq!(canonical_domain(bad), None, "{bad}");
        }
        // An email key's domain is what a verified domain is compared with.
        assert_eq!(
            Email::parse("x@Bücher.Example").unwrap().domain_key(),
            canonical_domain("bücher.example").unwrap()
        );
    }

    #[test]
    fn syntax() {
        assert!(Email::parse("a@b.co").is_ok());
        for bad in [
            "", "a", "a@", "@b.co", "a@b", "a@.b", "a@b.", "a b@c.de", "a@b@c.de", "a@b..c",
        ] {
            assert!(
                matches!(Email::parse(bad), Err(IdError::InvalidEmail(_))),
                "{bad:?}"
            );
        }
        assert!(Email::parse(&format!("{}@b.co", "a".repeat(65))).is_err());
    }

    #[test]
    fn the_key_folds_case_fully_and_keeps_the_typed_form() {
        let typed = Email::parse("Kate.Admin@Example.COM").unwrap();
        assert_eq!(typed.as_str(), "Kate.Admin@Example.COM");
        assert_eq!(typed.key(), "kate.admin@example.com");
        // Full case folding, not lower-casing: ß folds to ss, final sigma to sigma.
        assert_eq!(
            Email::parse("STRASSE@b.co").unwrap(),
            Email::parse("straße@b.co").unwrap()
        );
        assert_eq!(
            Email::parse("ΟΔΟΣ@b.co").unwrap().key(),
            Email::parse("οδος@b.co").unwrap().key()
        );
        assert_eq!(typed.domain_key(), "example.com");
    }

    #[test]
    fn internationalised_domains_compare_in_their_ascii_form() {
        let unicode = Email::parse("anna@bücher.example").unwrap();
        let ascii = Email::parse("anna@xn--bcher-kva.example").unwrap();
        assert_eq!(unicode, ascii);
        assert_eq!(unicode.key(), "anna@xn--bcher-kva.example");
        assert_eq!(
            Email::parse("anna@BÜCHER.example").unwrap().key(),
            unicode.key()
        );
    }

    #[test]
    fn look_alikes_are_refused_with_their_own_error() {
        // KELVIN SIGN for K, fullwidth letters, a ligature: NFKC would change each.
        for raw in [
            "\u{212a}ate.admin@example.com",
            "\u{ff4b}ate@example.com",
            "\u{fb01}nance@example.com",
            "kate@\u{ff45}xample.com",
        ] {
            assert!(
                matches!(Email::parse(raw), Err(IdError::EmailNotNormalized(_))),
                "{raw:?}"
            );
        }
        for raw in [
            "kate\u{200b}@example.com",
            "ka\u{200d}te@example.com",
            "kate\u{202e}@example.com",
            "kate@exam\u{00ad}ple.com",
            "\u{2066}kate@example.com",
            "kate\u{fe0f}@example.com",
        ] {
            assert!(
                matches!(Email::parse(raw), Err(IdError::EmailInvisibleCharacters(_))),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn stored_look_alikes_collide_with_the_plain_address() {
        assert_eq!(
            canonical_key("\u{212a}ate.admin@example.com").as_deref(),
            Some("kate.admin@example.com")
        );
        assert_eq!(canonical_key("not an address"), None);
    }
}
