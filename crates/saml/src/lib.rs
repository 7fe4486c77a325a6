//! The SAML 2.0 service-provider side of Portcullis: reading an IdP's metadata, building
//! HTTP-Redirect AuthnRequests and SP metadata, and validating HTTP-POST responses strictly.
//!
//! XML signatures are verified by libxmlsec1 through `samael` (pinned), always with the IdP's
//! configured certificates only and an algorithm allowlist (no SHA-1 unless the IdP allows it),
//! and only the content xmlsec reports as signed is read afterwards. Before xmlsec sees
//! anything the raw document is screened: no DTD or entity declarations (XXE, billion laughs),
//! no comments (NameID truncation), exactly one Response holding exactly one Assertion, unique
//! IDs, signatures only enveloped in (and referencing) the Response or the Assertion, and no
//! certificate in KeyInfo that is not configured. Clock-dependent checks take `now` from the
//! caller so tests can inject time.

mod decrypt;
mod metadata;
mod request;
mod sp_key;
mod validate;

pub use decrypt::{KEY_RSA_1_5, KEY_RSA_OAEP, KEY_RSA_OAEP_MGF1P, NS_XENC, NS_XENC11};
pub use metadata::{
    CertificateInfo, IdpMetadata, certificate_info, parse_idp_metadata, sp_metadata,
};
pub use request::{AuthnRequest, authn_request};
pub use sp_key::{SIG_ECDSA_SHA256, SIG_RSA_SHA256, SpKey};
pub use validate::{IdpTrust, SpEndpoints, ValidatedLogin, validate_response};

/// SAML protocol and assertion namespaces.
pub const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const NS_METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
pub const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
pub const NAME_ID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
pub const NAME_ID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
pub const NAME_ID_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

/// Largest accepted base64 `SAMLResponse` and metadata document.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
pub const MAX_METADATA_BYTES: usize = 1024 * 1024;

/// Why a document was refused. Each variant has its own stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SamlError {
    #[error("the SAML message is too large")]
    TooLarge,
    #[error("the SAML message is not valid base64 UTF-8")]
    Encoding,
    #[error("DTDs and entity declarations are not accepted")]
    DtdForbidden,
    #[error("the XML is malformed: {0}")]
    Malformed(String),
    #[error("comments and processing instructions are not accepted in SAML messages")]
    CommentForbidden,
    #[error("the message is not a SAML Response")]
    NotAResponse,
    #[error("the response must contain exactly one assertion (found {0})")]
    AssertionCount(usize),
    #[error("encrypted assertions need a service-provider key, and none is configured")]
    EncryptedUnsupported,
    #[error("the assertion's key is wrapped with RSA PKCS#1 v1.5 (rsa-1_5), which is refused")]
    WeakEncryption,
    #[error("encryption algorithm not supported: {0}")]
    EncryptionUnsupported(String),
    #[error("the encrypted assertion cannot be decrypted with the service-provider key")]
    DecryptionFailed,
    #[error("an ID attribute value occurs twice")]
    DuplicateId,
    #[error("unexpected structure: {0}")]
    UnexpectedStructure(&'static str),
    #[error("neither the response nor the assertion is signed")]
    Unsigned,
    #[error("a signature must hold exactly one SignedInfo with one Reference to its parent")]
    SignatureMalformed,
    #[error("signature or digest algorithm not allowed: {0}")]
    WeakAlgorithm(String),
    #[error("the message carries a certificate that is not configured for this identity provider")]
    UntrustedKeyInfo,
    #[error("the signature does not verify with the configured certificates")]
    SignatureInvalid,
    #[error("the signed content is not the assertion that would be used")]
    SignedElementMismatch,
    #[error("the issuer is not this identity provider")]
    IssuerMismatch,
    #[error("the identity provider answered with status {0}")]
    Status(String),
    #[error("the response's Destination is not this service provider's ACS URL")]
    DestinationMismatch,
    #[error("no bearer SubjectConfirmation for this ACS URL (Recipient)")]
    RecipientMismatch,
    #[error("the assertion is not addressed to this service provider (Audience)")]
    AudienceMismatch,
    #[error("the assertion is not valid yet")]
    NotYetValid,
    #[error("the assertion has expired")]
    Expired,
    #[error("the assertion has no NameID")]
    MissingNameId,
    #[error("bad metadata: {0}")]
    Metadata(String),
    #[error("bad certificate: {0}")]
    Certificate(String),
    #[error("service-provider key: {0}")]
    SpKey(String),
}

impl SamlError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge => "saml.too_large",
            Self::Encoding => "saml.encoding",
            Self::DtdForbidden => "saml.dtd_forbidden",
            Self::Malformed(_) => "saml.malformed",
            Self::CommentForbidden => "saml.comment_forbidden",
            Self::NotAResponse => "saml.not_a_response",
            Self::AssertionCount(_) => "saml.assertion_count",
            Self::EncryptedUnsupported => "saml.encrypted_unsupported",
            Self::WeakEncryption => "saml.weak_encryption",
            Self::EncryptionUnsupported(_) => "saml.encryption_unsupported",
            Self::DecryptionFailed => "saml.decryption_failed",
            Self::DuplicateId => "saml.duplicate_id",
            Self::UnexpectedStructure(_) => "saml.unexpected_structure",
            Self::Unsigned => "saml.unsigned",
            Self::SignatureMalformed => "saml.signature_malformed",
            Self::WeakAlgorithm(_) => "saml.weak_algorithm",
            Self::UntrustedKeyInfo => "saml.untrusted_key_info",
            Self::SignatureInvalid => "saml.signature_invalid",
            Self::SignedElementMismatch => "saml.signed_element_mismatch",
            Self::IssuerMismatch => "saml.issuer_mismatch",
            Self::Status(_) => "saml.status",
            Self::DestinationMismatch => "saml.destination_mismatch",
            Self::RecipientMismatch => "saml.recipient_mismatch",
            Self::AudienceMismatch => "saml.audience_mismatch",
            Self::NotYetValid => "saml.not_yet_valid",
            Self::Expired => "saml.expired",
            Self::MissingNameId => "saml.missing_name_id",
            Self::Metadata(_) => "saml.metadata_invalid",
            Self::Certificate(_) => "saml.certificate_invalid",
            Self::SpKey(_) => "saml.sp_key_invalid",
        }
    }
}

/// Refuses DTDs before any XML parser runs (XXE, billion laughs, external entities).
pub(crate) fn screen_dtd(xml: &str) -> Result<(), SamlError> {
    let lower = xml.to_ascii_lowercase();
    if lower.contains("<!doctype") || lower.contains("<!entity") {
        return Err(SamlError::DtdForbidden);
    }
    Ok(())
}

/// Parses XML with DTDs refused (roxmltree's default) after the textual screen.
pub(crate) fn parse_xml(xml: &str) -> Result<roxmltree::Document<'_>, SamlError> {
    screen_dtd(xml)?;
    roxmltree::Document::parse_with_options(
        xml,
        roxmltree::ParsingOptions {
            allow_dtd: false,
            ..roxmltree::ParsingOptions::default()
        },
    )
    .map_err(|e| SamlError::Malformed(e.to_string()))
}

pub(crate) fn is(node: roxmltree::Node<'_, '_>, ns: &str, name: &str) -> bool {
    node.is_element() && node.tag_name().name() == name && node.tag_name().namespace() == Some(ns)
}

pub(crate) fn child<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    ns: &str,
    name: &str,
) -> Option<roxmltree::Node<'a, 'i>> {
    node.children().find(|c| is(*c, ns, name))
}

pub(crate) fn children<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    ns: &'static str,
    name: &'static str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> {
    node.children().filter(move |c| is(*c, ns, name))
}

/// All text of an element, concatenated (never only the first text node), trimmed.
pub(crate) fn text_of(node: roxmltree::Node<'_, '_>) -> String {
    node.descendants()
        .filter(roxmltree::Node::is_text)
        .filter_map(|t| t.text())
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Base64 with whitespace (as in certificates inside XML) removed.
pub(crate) fn decode_b64(raw: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let compact: String = raw.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

pub(crate) fn xml_escape(raw: &str) -> String {
    raw.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// Unix milliseconds as an RFC 3339 UTC instant (SAML's xs:dateTime).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
