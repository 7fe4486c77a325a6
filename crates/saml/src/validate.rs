//! Strict validation of an HTTP-POST `SAMLResponse`.

use std::collections::{BTreeMap, HashSet};

use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, CryptoProvider, ReduceMode, XmlSec,
};

use crate::decrypt::{check_encryption, decrypt_assertion, is_malleable};
use crate::{
    MAX_RESPONSE_BYTES, NS_ASSERTION, NS_DSIG, NS_PROTOCOL, SamlError, SpKey, child, children,
    decode_b64, is, parse_xml, text_of,
};

const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// Signature and digest algorithms accepted without the SHA-1 opt-in.
const STRONG_SIGNATURES: &[&str] = &[
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
];
const STRONG_DIGESTS: &[&str] = &[
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];
const SHA1_SIGNATURE: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
const SHA1_DIGEST: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
const ALLOWLIST: &[AllowedSignatureAlgorithm] = &[
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

/// What is trusted about the identity provider.
#[derive(Debug, Clone)]
pub struct IdpTrust<'a> {
    pub entity_id: &'a str,
    /// Configured signing certificates, base64 DER. Never empty (refused at configuration).
    pub certificates: &'a [String],
    pub allow_sha1: bool,
    pub clock_skew_secs: i64,
}

/// This service provider, as the IdP must have addressed it.
#[derive(Debug, Clone)]
pub struct SpEndpoints<'a> {
    pub entity_id: &'a str,
    pub acs_url: &'a str,
    /// The SP key pair that decrypts an `EncryptedAssertion`; without it one is refused.
    pub decryption_key: Option<&'a SpKey>,
}

/// The facts of a valid response, all read from signed content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedLogin {
    pub assertion_id: String,
    pub in_response_to: Option<String>,
    pub name_id: String,
    pub name_id_format: Option<String>,
    /// Attribute name -> values.
    pub attributes: BTreeMap<String, Vec<String>>,
    /// Until when the assertion could be presented (for the replay cache), unix ms.
    pub valid_until_ms: i64,
}

fn time_ms(raw: &str) -> Result<i64, SamlError> {
    chrono::DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|_| SamlError::Malformed(format!("bad time `{raw}`")))
}

fn compact(raw: &str) -> String {
    raw.chars().filter(|c| !c.is_ascii_whitespace()).collect()
}

/// Validates a base64 `SAMLResponse` from the HTTP-POST binding at time `now_ms`.
pub fn validate_response(
    saml_response: &str,
    idp: &IdpTrust<'_>,
    sp: &SpEndpoints<'_>,
    now_ms: i64,
) -> Result<ValidatedLogin, SamlError> {
    if saml_response.len() > MAX_RESPONSE_BYTES {
        return Err(SamlError::TooLarge);
    }
    let bytes = decode_b64(saml_response).ok_or(SamlError::Encoding)?;
    let xml = String::from_utf8(bytes).map_err(|_| SamlError::Encoding)?;
    // 1. Screens on the raw document, before xmlsec sees it.
    let doc = parse_xml(&xml)?;
    let root = doc.root_element();
    if !is(root, NS_PROTOCOL, "Response") {
        return Err(SamlError::NotAResponse);
    }
    if doc.descendants().any(|n| n.is_comment() || n.is_pi()) {
        return Err(SamlError::CommentForbidden);
    }
    if doc
        .descendants()
        .filter(|n| is(*n, NS_PROTOCOL, "Response"))
        .count()
        != 1
    {
        return Err(SamlError::UnexpectedStructure(
            "a Response inside the Response",
        ));
    }
    let mut ids = HashSet::new();
    for node in doc.descendants().filter(roxmltree::Node::is_element) {
        for attr in node.attributes() {
            if matches!(attr.name(), "ID" | "Id" | "id") && !ids.insert(attr.value()) {
                return Err(SamlError::DuplicateId);
            }
        }
    }
    if let Some(code) = child(root, NS_PROTOCOL, "Status")
        .and_then(|s| child(s, NS_PROTOCOL, "StatusCode"))
        .and_then(|c| c.attribute("Value"))
        && code != SUCCESS
    {
        return Err(SamlError::Status(code.to_owned()));
    }
    let encrypted: Vec<_> = doc
        .descendants()
        .filter(|n| is(*n, NS_ASSERTION, "EncryptedAssertion"))
        .collect();
    let Some(sp_key) = sp.decryption_key.filter(|_| !encrypted.is_empty()) else {
        if !encrypted.is_empty() {
            return Err(SamlError::EncryptedUnsupported);
        }
        return validate_plain(&xml, &doc, idp, sp, now_ms);
    };
    let assertions = doc
        .descendants()
        .filter(|n| is(*n, NS_ASSERTION, "Assertion"))
        .count();
    let [encrypted] = encrypted.as_slice() else {
        return Err(SamlError::AssertionCount(encrypted.len() + assertions));
    };
    if assertions != 0 {
        return Err(SamlError::AssertionCount(1 + assertions));
    }
    if encrypted.parent() != Some(root) {
        return Err(SamlError::UnexpectedStructure(
            "the assertion is not a child of the response",
        ));
    }
    // Algorithms first: RSA1_5 and anything unsupported are refused before any decryption.
    check_encryption(*encrypted, sp_key)?;
    validate_encrypted(&xml, &doc, *encrypted, sp_key, idp, sp, now_ms)
}

/// A response carrying a plain `Assertion`.
fn validate_plain(
    xml: &str,
    doc: &roxmltree::Document<'_>,
    idp: &IdpTrust<'_>,
    sp: &SpEndpoints<'_>,
    now_ms: i64,
) -> Result<ValidatedLogin, SamlError> {
    let root = doc.root_element();
    let assertions: Vec<_> = doc
        .descendants()
        .filter(|n| is(*n, NS_ASSERTION, "Assertion"))
        .collect();
    let [assertion] = assertions.as_slice() else {
        return Err(SamlError::AssertionCount(assertions.len()));
    };
    if assertion.parent() != Some(root) {
        return Err(SamlError::UnexpectedStructure(
            "the assertion is not a child of the response",
        ));
    }
    let assertion_id = assertion
        .attribute("ID")
        .ok_or(SamlError::UnexpectedStructure("the assertion has no ID"))?
        .to_owned();
    let response_id = root
        .attribute("ID")
        .ok_or(SamlError::UnexpectedStructure("the response has no ID"))?
        .to_owned();
    check_signatures(doc, idp)?;

    // 2. The signature, by libxmlsec1 with the configured certificates only.
    let reduced = verify_with_xmlsec(xml, idp)?;

    // 3. From here on only the signed content is read.
    let signed =
        roxmltree::Document::parse(&reduced).map_err(|_| SamlError::SignedElementMismatch)?;
    let signed_root = signed.root_element();
    let (signed_assertion, response_signed) = if is(signed_root, NS_PROTOCOL, "Response") {
        if signed_root.attribute("ID") != Some(response_id.as_str()) {
            return Err(SamlError::SignedElementMismatch);
        }
        let found: Vec<_> = children(signed_root, NS_ASSERTION, "Assertion").collect();
        match found.as_slice() {
            [one] => (*one, true),
            _ => return Err(SamlError::SignedElementMismatch),
        }
    } else if is(signed_root, NS_ASSERTION, "Assertion") {
        (signed_root, false)
    } else {
        return Err(SamlError::SignedElementMismatch);
    };
    if signed_assertion.attribute("ID") != Some(assertion_id.as_str()) {
        return Err(SamlError::SignedElementMismatch);
    }
    read_login(
        root,
        signed_assertion,
        response_signed,
        assertion_id,
        idp,
        sp,
        now_ms,
    )
}

/// libxmlsec1 verifies every signature in `xml` with the configured certificates and the
/// algorithm allowlist, and returns only the signed content.
fn verify_with_xmlsec(xml: &str, idp: &IdpTrust<'_>) -> Result<String, SamlError> {
    let certs: Vec<CertificateDer> = idp
        .certificates
        .iter()
        .filter_map(|c| decode_b64(c))
        .map(CertificateDer::from)
        .collect();
    if certs.is_empty() {
        return Err(SamlError::SignatureInvalid);
    }
    let allowlist = if idp.allow_sha1 {
        None
    } else {
        Some(ALLOWLIST)
    };
    XmlSec::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        &certs,
        ReduceMode::ValidateAndMarkNoAncestors,
        allowlist,
    )
    .map_err(|_| SamlError::SignatureInvalid)
}

/// A response carrying one `EncryptedAssertion` (already screened, algorithms checked).
///
/// If the Response is signed, its signature is verified over the original document, with the
/// EncryptedAssertion in place, and the EncryptedAssertion that is decrypted is the one from
/// the signed content. The decrypted Assertion is put where the EncryptedAssertion was (so
/// namespaces resolve as the IdP signed them), screened like the outer document, and, if it
/// carries its own signature, verified by xmlsec with the configured certificates. Neither
/// signature: refused as unsigned.
fn validate_encrypted(
    xml: &str,
    doc: &roxmltree::Document<'_>,
    encrypted: roxmltree::Node<'_, '_>,
    sp_key: &SpKey,
    idp: &IdpTrust<'_>,
    sp: &SpEndpoints<'_>,
    now_ms: i64,
) -> Result<ValidatedLogin, SamlError> {
    let root = doc.root_element();
    let response_id = root
        .attribute("ID")
        .ok_or(SamlError::UnexpectedStructure("the response has no ID"))?
        .to_owned();
    let response_signature = child(root, NS_DSIG, "Signature");
    let has_signatures = doc.descendants().any(|n| is(n, NS_DSIG, "Signature"));
    let plaintext = if has_signatures {
        check_signatures(doc, idp)?;
        let reduced = verify_with_xmlsec(xml, idp)?;
        let signed =
            roxmltree::Document::parse(&reduced).map_err(|_| SamlError::SignedElementMismatch)?;
        let signed_root = signed.root_element();
        if !is(signed_root, NS_PROTOCOL, "Response")
            || signed_root.attribute("ID") != Some(response_id.as_str())
        {
            return Err(SamlError::SignedElementMismatch);
        }
        let found: Vec<_> = children(signed_root, NS_ASSERTION, "EncryptedAssertion").collect();
        let [signed_encrypted] = found.as_slice() else {
            return Err(SamlError::SignedElementMismatch);
        };
        decrypt_assertion(*signed_encrypted, sp_key)
    } else {
        decrypt_assertion(encrypted, sp_key)
    };
    let decrypted = plaintext.and_then(|p| in_place(xml, encrypted, response_signature, &p));
    // AES-CBC is malleable: without a Response signature (verified above, before decrypting)
    // an attacker could submit modified ciphertexts, and telling padding, encoding and XML
    // errors of the result apart would be a decryption oracle (the XML-Encryption CBC
    // attacks). Then every failure up to the assertion's own signature is one code.
    let decrypted = match decrypted {
        Err(_) if !has_signatures && is_malleable(encrypted) => {
            return Err(SamlError::DecryptionFailed);
        }
        other => other?,
    };
    let dec_doc = parse_xml(&decrypted)?;
    let dec_root = dec_doc.root_element();
    let assertion = child(dec_root, NS_ASSERTION, "Assertion").ok_or(
        SamlError::UnexpectedStructure("the decrypted content is not one Assertion element"),
    )?;
    let assertion_id = assertion
        .attribute("ID")
        .ok_or(SamlError::UnexpectedStructure("the assertion has no ID"))?
        .to_owned();
    if child(assertion, NS_DSIG, "Signature").is_some() {
        check_signatures(&dec_doc, idp)?;
        let reduced = verify_with_xmlsec(&decrypted, idp)?;
        let signed =
            roxmltree::Document::parse(&reduced).map_err(|_| SamlError::SignedElementMismatch)?;
        let signed_assertion = signed.root_element();
        if !is(signed_assertion, NS_ASSERTION, "Assertion")
            || signed_assertion.attribute("ID") != Some(assertion_id.as_str())
        {
            return Err(SamlError::SignedElementMismatch);
        }
        read_login(
            root,
            signed_assertion,
            has_signatures && response_signature.is_some(),
            assertion_id,
            idp,
            sp,
            now_ms,
        )
    } else if has_signatures {
        // Covered by the verified Response signature: the assertion is the decryption of the
        // signed EncryptedAssertion.
        read_login(root, assertion, true, assertion_id, idp, sp, now_ms)
    } else {
        Err(SamlError::Unsigned)
    }
}

/// The received response with the decrypted `plaintext` in place of its EncryptedAssertion
/// (so namespaces resolve as where the IdP signed it) and without the Response's signature
/// (already verified; it does not cover this text), screened like the outer document: no DTD,
/// comments or processing instructions, unique IDs, and the plaintext exactly one Assertion
/// element holding no encrypted assertion or response.
fn in_place(
    xml: &str,
    encrypted: roxmltree::Node<'_, '_>,
    response_signature: Option<roxmltree::Node<'_, '_>>,
    plaintext: &str,
) -> Result<String, SamlError> {
    let plaintext = plaintext.trim();
    if !plaintext.starts_with('<') || plaintext.starts_with("<?") {
        return Err(SamlError::UnexpectedStructure(
            "the decrypted content is not one Assertion element",
        ));
    }
    let mut cuts = vec![(encrypted.range(), plaintext)];
    if let Some(signature) = response_signature {
        cuts.push((signature.range(), ""));
    }
    cuts.sort_by_key(|(range, _)| std::cmp::Reverse(range.start));
    let mut decrypted = xml.to_owned();
    for (range, with) in cuts {
        decrypted.replace_range(range, with);
    }
    let dec_doc = parse_xml(&decrypted)?;
    let dec_root = dec_doc.root_element();
    if dec_doc.descendants().any(|n| n.is_comment() || n.is_pi()) {
        return Err(SamlError::CommentForbidden);
    }
    let mut ids = HashSet::new();
    for node in dec_doc.descendants().filter(roxmltree::Node::is_element) {
        for attr in node.attributes() {
            if matches!(attr.name(), "ID" | "Id" | "id") && !ids.insert(attr.value()) {
                return Err(SamlError::DuplicateId);
            }
        }
    }
    if dec_doc.descendants().any(|n| {
        is(n, NS_ASSERTION, "EncryptedAssertion")
            || (n != dec_root && is(n, NS_PROTOCOL, "Response"))
    }) {
        return Err(SamlError::UnexpectedStructure(
            "the decrypted content is not one Assertion element",
        ));
    }
    let assertions: Vec<_> = dec_doc
        .descendants()
        .filter(|n| is(*n, NS_ASSERTION, "Assertion"))
        .collect();
    let [assertion] = assertions.as_slice() else {
        return Err(SamlError::AssertionCount(assertions.len()));
    };
    // The plaintext must be exactly the assertion element: nothing before or after it.
    let start = encrypted.range().start
        - response_signature
            .filter(|s| s.range().start < encrypted.range().start)
            .map_or(0, |s| s.range().len());
    if assertion.parent() != Some(dec_root) || assertion.range() != (start..start + plaintext.len())
    {
        return Err(SamlError::UnexpectedStructure(
            "the decrypted content is not one Assertion element",
        ));
    }
    Ok(decrypted)
}

/// Reads the login from the signed assertion, checking issuer, destination, subject
/// confirmation, conditions and audience. `root` is the received Response.
fn read_login(
    root: roxmltree::Node<'_, '_>,
    signed_assertion: roxmltree::Node<'_, '_>,
    response_signed: bool,
    assertion_id: String,
    idp: &IdpTrust<'_>,
    sp: &SpEndpoints<'_>,
    now_ms: i64,
) -> Result<ValidatedLogin, SamlError> {
    // Issuers.
    if let Some(issuer) = child(root, NS_ASSERTION, "Issuer")
        && text_of(issuer) != idp.entity_id
    {
        return Err(SamlError::IssuerMismatch);
    }
    let issuer = child(signed_assertion, NS_ASSERTION, "Issuer")
        .map(text_of)
        .ok_or(SamlError::IssuerMismatch)?;
    if issuer != idp.entity_id {
        return Err(SamlError::IssuerMismatch);
    }
    // Destination: required on a signed response, checked whenever present.
    match root.attribute("Destination") {
        Some(dest) if dest == sp.acs_url => {}
        None if !response_signed => {}
        _ => return Err(SamlError::DestinationMismatch),
    }

    let skew = idp.clock_skew_secs.clamp(0, 600) * 1000;
    // Subject and its bearer confirmation.
    let subject =
        child(signed_assertion, NS_ASSERTION, "Subject").ok_or(SamlError::MissingNameId)?;
    let name_id_node = child(subject, NS_ASSERTION, "NameID").ok_or(SamlError::MissingNameId)?;
    let name_id = text_of(name_id_node);
    if name_id.is_empty() {
        return Err(SamlError::MissingNameId);
    }
    let confirmation = children(subject, NS_ASSERTION, "SubjectConfirmation")
        .filter(|c| c.attribute("Method") == Some(BEARER))
        .filter_map(|c| child(c, NS_ASSERTION, "SubjectConfirmationData"))
        .find(|d| d.attribute("Recipient") == Some(sp.acs_url))
        .ok_or(SamlError::RecipientMismatch)?;
    let mut valid_until = match confirmation.attribute("NotOnOrAfter") {
        Some(t) => time_ms(t)?,
        None => return Err(SamlError::Expired),
    };
    if let Some(t) = confirmation.attribute("NotBefore")
        && now_ms + skew < time_ms(t)?
    {
        return Err(SamlError::NotYetValid);
    }
    // Conditions: validity window and audience.
    let conditions =
        child(signed_assertion, NS_ASSERTION, "Conditions").ok_or(SamlError::AudienceMismatch)?;
    if let Some(t) = conditions.attribute("NotBefore")
        && now_ms + skew < time_ms(t)?
    {
        return Err(SamlError::NotYetValid);
    }
    if let Some(t) = conditions.attribute("NotOnOrAfter") {
        valid_until = valid_until.min(time_ms(t)?);
    }
    if now_ms >= valid_until + skew {
        return Err(SamlError::Expired);
    }
    let restrictions: Vec<_> = children(conditions, NS_ASSERTION, "AudienceRestriction").collect();
    if restrictions.is_empty()
        || !restrictions
            .iter()
            .all(|r| children(*r, NS_ASSERTION, "Audience").any(|a| text_of(a) == sp.entity_id))
    {
        return Err(SamlError::AudienceMismatch);
    }
    // InResponseTo: the signed one; an unsigned response may not contradict it.
    let in_response_to = confirmation.attribute("InResponseTo").map(str::to_owned);
    if let Some(outer) = root.attribute("InResponseTo")
        && in_response_to.as_deref() != Some(outer)
    {
        return Err(SamlError::UnexpectedStructure(
            "the response's InResponseTo differs from the assertion's",
        ));
    }
    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for statement in children(signed_assertion, NS_ASSERTION, "AttributeStatement") {
        for attribute in children(statement, NS_ASSERTION, "Attribute") {
            let Some(name) = attribute.attribute("Name") else {
                continue;
            };
            let values = attributes.entry(name.to_owned()).or_default();
            values.extend(children(attribute, NS_ASSERTION, "AttributeValue").map(text_of));
        }
    }
    Ok(ValidatedLogin {
        assertion_id,
        in_response_to,
        name_id,
        name_id_format: name_id_node.attribute("Format").map(str::to_owned),
        attributes,
        valid_until_ms: valid_until + skew,
    })
}

/// Each signature: enveloped in the Response or the Assertion, one SignedInfo with one Reference
/// to its parent, allowed algorithms, no unconfigured certificate in KeyInfo.
fn check_signatures(doc: &roxmltree::Document<'_>, idp: &IdpTrust<'_>) -> Result<(), SamlError> {
    let signatures: Vec<_> = doc
        .descendants()
        .filter(|n| is(*n, NS_DSIG, "Signature"))
        .collect();
    if signatures.is_empty() {
        return Err(SamlError::Unsigned);
    }
    let configured: Vec<String> = idp.certificates.iter().map(|c| compact(c)).collect();
    for signature in signatures {
        let parent = signature
            .parent()
            .filter(|p| is(*p, NS_PROTOCOL, "Response") || is(*p, NS_ASSERTION, "Assertion"))
            .ok_or(SamlError::UnexpectedStructure(
                "a signature outside the response or the assertion",
            ))?;
        if signature
            .descendants()
            .filter(|n| is(*n, NS_DSIG, "SignedInfo"))
            .count()
            != 1
        {
            return Err(SamlError::SignatureMalformed);
        }
        let signed_info =
            child(signature, NS_DSIG, "SignedInfo").ok_or(SamlError::SignatureMalformed)?;
        let references: Vec<_> = children(signed_info, NS_DSIG, "Reference").collect();
        let [reference] = references.as_slice() else {
            return Err(SamlError::SignatureMalformed);
        };
        let target = parent.attribute("ID").map(|id| format!("#{id}"));
        if reference.attribute("URI").map(str::to_owned) != target {
            return Err(SamlError::SignatureMalformed);
        }
        let method = child(signed_info, NS_DSIG, "SignatureMethod")
            .and_then(|m| m.attribute("Algorithm"))
            .ok_or(SamlError::SignatureMalformed)?;
        let digest = child(*reference, NS_DSIG, "DigestMethod")
            .and_then(|m| m.attribute("Algorithm"))
            .ok_or(SamlError::SignatureMalformed)?;
        let sha1_ok = idp.allow_sha1;
        if !(STRONG_SIGNATURES.contains(&method) || (sha1_ok && method == SHA1_SIGNATURE)) {
            return Err(SamlError::WeakAlgorithm(method.to_owned()));
        }
        if !(STRONG_DIGESTS.contains(&digest) || (sha1_ok && digest == SHA1_DIGEST)) {
            return Err(SamlError::WeakAlgorithm(digest.to_owned()));
        }
        for cert in signature
            .descendants()
            .filter(|n| is(*n, NS_DSIG, "X509Certificate"))
        {
            if !configured.contains(&compact(&text_of(cert))) {
                return Err(SamlError::UntrustedKeyInfo);
            }
        }
    }
    Ok(())
}
