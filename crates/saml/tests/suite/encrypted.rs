//! Encrypted assertions (fixtures by xmlsec1, tests/fixtures/encrypted/generate.sh), the SP key
//! pair's validation and signed HTTP-Redirect AuthnRequests. The clock is injected:
//! 2030-01-01T00:00:00Z.

use base64::Engine;
use portcullis_saml::{IdpTrust, SamlError, SpEndpoints, SpKey, ValidatedLogin, validate_response};

const NOW: i64 = 1_893_456_000_000;
const ACS: &str = "http://localhost:8080/saml/acme/okta/acs";
const AUD: &str = "http://localhost:8080/saml/acme/okta/metadata";

fn read(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn idp_cert() -> String {
    read("idp.crt")
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect()
}

fn sp_key() -> SpKey {
    SpKey::from_pem(
        read("encrypted/sp.key").as_bytes(),
        read("encrypted/sp.crt").as_bytes(),
    )
    .unwrap()
}

fn run(xml: &str, key: Option<&SpKey>) -> Result<ValidatedLogin, SamlError> {
    let certs = vec![idp_cert()];
    let idp = IdpTrust {
        entity_id: "https://idp.example/",
        certificates: &certs,
        allow_sha1: false,
        clock_skew_secs: 60,
    };
    let sp = SpEndpoints {
        entity_id: AUD,
        acs_url: ACS,
        decryption_key: key,
    };
    let b64 = base64::engine::general_purpose::STANDARD.encode(xml);
    validate_response(&b64, &idp, &sp, NOW)
}

fn code(xml: &str) -> &'static str {
    run(xml, Some(&sp_key()))
        .map(|_| "ok")
        .unwrap_or_else(|e| e.code())
}

fn fixture(name: &str) -> String {
    read(&format!("encrypted/{name}.xml"))
}

#[test]
fn an_encrypted_assertion_signed_inside_is_decrypted_and_verified() {
    let xml = fixture("assertion_signed");
    assert!(
        !xml.contains("alice@example.com"),
        "the fixture is encrypted"
    );
    let login = run(&xml, Some(&sp_key())).unwrap();
    assert_eq!(login.name_id, "alice@example.com");
    assert_eq!(login.assertion_id, "_assert1");
    assert_eq!(login.in_response_to.as_deref(), Some("_req1"));
    assert_eq!(login.attributes["groups"], vec!["ml".to_owned()]);
}

#[test]
fn a_signed_response_covers_an_unsigned_encrypted_assertion_cbc() {
    let login = run(&fixture("response_signed"), Some(&sp_key())).unwrap();
    assert_eq!(login.name_id, "alice@example.com");
    assert_eq!(login.assertion_id, "_assert2");
}

#[test]
fn both_signatures_are_verified() {
    let xml = fixture("both_signed");
    assert_eq!(run(&xml, Some(&sp_key())).unwrap().assertion_id, "_assert3");
    // The response signature covers the EncryptedAssertion: changing its ciphertext breaks it.
    let marker = "<xenc:CipherValue>";
    let at = xml.rfind(marker).unwrap() + marker.len();
    let mut tampered = xml.clone();
    let flipped = if &xml[at..=at] == "A" { "B" } else { "A" };
    tampered.replace_range(at..=at, flipped);
    assert_eq!(code(&tampered), "saml.signature_invalid");
}

#[test]
fn rsa1_5_key_transport_is_refused_before_decryption() {
    assert_eq!(code(&fixture("rsa1_5")), "saml.weak_encryption");
    // Refused on the algorithm alone: the same answer when the ciphertext is garbage.
    let garbage = fixture("rsa1_5").replace("<xenc:CipherValue>", "<xenc:CipherValue>AAAA");
    assert_eq!(code(&garbage), "saml.weak_encryption");
}

#[test]
fn an_inner_signature_by_an_unconfigured_key_is_refused() {
    assert_eq!(code(&fixture("other_key")), "saml.signature_invalid");
}

#[test]
fn an_unsigned_encrypted_assertion_in_an_unsigned_response_is_refused() {
    assert_eq!(code(&fixture("unsigned")), "saml.unsigned");
}

#[test]
fn without_an_sp_key_an_encrypted_assertion_is_refused() {
    let err = run(&fixture("assertion_signed"), None).unwrap_err();
    assert_eq!(err.code(), "saml.encrypted_unsupported");
}

#[test]
fn another_sp_key_cannot_decrypt() {
    // The IdP's own pair is a valid SP key, just not the one the assertion was encrypted to.
    let wrong = SpKey::from_pem(read("idp.key").as_bytes(), read("idp.crt").as_bytes()).unwrap();
    let err = run(&fixture("assertion_signed"), Some(&wrong)).unwrap_err();
    assert_eq!(err.code(), "saml.decryption_failed");
}

#[test]
fn unsupported_data_algorithms_are_refused_by_name() {
    let xml = fixture("assertion_signed").replace(
        "http://www.w3.org/2009/xmlenc11#aes256-gcm",
        "http://www.w3.org/2001/04/xmlenc#tripledes-cbc",
    );
    assert_eq!(code(&xml), "saml.encryption_unsupported");
}

#[test]
fn a_second_assertion_beside_the_encrypted_one_is_refused() {
    let plain = read("valid.xml");
    let start = plain.find("<saml:Assertion").unwrap();
    let end = plain.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    let xml = fixture("assertion_signed").replace(
        "<saml:EncryptedAssertion>",
        &format!("{}<saml:EncryptedAssertion>", &plain[start..end]),
    );
    assert_eq!(code(&xml), "saml.assertion_count");
    let twice = {
        let enc = fixture("assertion_signed");
        let s = enc.find("<saml:EncryptedAssertion>").unwrap();
        let e =
            enc.find("</saml:EncryptedAssertion>").unwrap() + "</saml:EncryptedAssertion>".len();
        let copy = enc[s..e].to_owned();
        enc.replacen(&copy, &format!("{copy}{copy}"), 1)
    };
    assert_eq!(code(&twice), "saml.assertion_count");
}

// --- The SP key pair. ---

#[test]
fn sp_keys_are_checked_for_strength_and_for_matching_their_certificate() {
    let ec = SpKey::from_pem(
        read("encrypted/sp_ec.key").as_bytes(),
        read("encrypted/sp_ec.crt").as_bytes(),
    )
    .unwrap();
    assert_eq!(ec.sig_alg(), portcullis_saml::SIG_ECDSA_SHA256);
    assert_eq!(sp_key().sig_alg(), portcullis_saml::SIG_RSA_SHA256);
    let weak = SpKey::from_pem(
        read("encrypted/weak.key").as_bytes(),
        read("encrypted/weak.crt").as_bytes(),
    )
    .unwrap_err();
    assert_eq!(weak.code(), "saml.sp_key_invalid");
    assert!(weak.to_string().contains("2048"), "{weak}");
    let mismatch = SpKey::from_pem(
        read("encrypted/sp.key").as_bytes(),
        read("idp.crt").as_bytes(),
    )
    .unwrap_err();
    assert!(
        mismatch.to_string().contains("does not belong"),
        "{mismatch}"
    );
    let garbage = SpKey::from_pem(b"not a key", read("encrypted/sp.crt").as_bytes()).unwrap_err();
    assert_eq!(garbage.code(), "saml.sp_key_invalid");
    // Debug shows the certificate fingerprint, never key material.
    let debug = format!("{:?}", sp_key());
    assert!(!debug.contains("PRIVATE") && debug.contains(sp_key().fingerprint_sha256()));
}

#[test]
fn an_ec_sp_key_cannot_decrypt_rsa_key_transport() {
    let ec = SpKey::from_pem(
        read("encrypted/sp_ec.key").as_bytes(),
        read("encrypted/sp_ec.crt").as_bytes(),
    )
    .unwrap();
    let err = run(&fixture("assertion_signed"), Some(&ec)).unwrap_err();
    assert_eq!(err.code(), "saml.encryption_unsupported");
}

// --- Signed HTTP-Redirect AuthnRequests (SAML bindings §3.4.4.1). ---

/// The raw (still URL-encoded) query parameters of a URL, in order.
fn raw_params(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('?').unwrap().1;
    query
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// Verifies the redirect signature with the certificate alone, as an IdP does.
fn verify_redirect(url: &str, cert_pem: &str) -> bool {
    let params = raw_params(url);
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut signed = format!("SAMLRequest={}", get("SAMLRequest").unwrap());
    if let Some(relay) = get("RelayState") {
        signed.push_str(&format!("&RelayState={relay}"));
    }
    let sig_alg = get("SigAlg").unwrap();
    signed.push_str(&format!("&SigAlg={sig_alg}"));
    let decoded: String =
        url::form_urlencoded::parse(format!("s={}", get("Signature").unwrap()).as_bytes())
            .next()
            .unwrap()
            .1
            .into_owned();
    let signature = base64::engine::general_purpose::STANDARD
        .decode(decoded)
        .unwrap();
    let cert = openssl::x509::X509::from_pem(cert_pem.as_bytes()).unwrap();
    let public = cert.public_key().unwrap();
    let mut verifier =
        openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &public).unwrap();
    verifier.update(signed.as_bytes()).unwrap();
    verifier.verify(&signature).unwrap_or(false)
}

fn signed_request(key: &SpKey, relay: Option<&str>) -> String {
    portcullis_saml::authn_request(
        "https://idp.example/sso?tenant=acme",
        AUD,
        ACS,
        portcullis_saml::NAME_ID_EMAIL,
        "2030-01-01T00:00:00Z",
        relay,
        Some(key),
    )
    .unwrap()
    .redirect_url
}

#[test]
fn a_signed_redirect_verifies_with_the_sp_certificate_and_breaks_when_altered() {
    let url = signed_request(&sp_key(), Some("/apps/vision?tab=a b&x=1"));
    let names: Vec<String> = raw_params(&url).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        names,
        ["tenant", "SAMLRequest", "RelayState", "SigAlg", "Signature"],
        "the IdP's own query first, then the signed parameters in the order of §3.4.4.1"
    );
    let sig_alg = raw_params(&url)
        .into_iter()
        .find(|(k, _)| k == "SigAlg")
        .unwrap()
        .1;
    assert_eq!(
        sig_alg,
        "http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256"
    );
    let cert = read("encrypted/sp.crt");
    assert!(verify_redirect(&url, &cert));
    // Another RelayState with the same signature does not verify.
    let altered = url.replace("RelayState=%2Fapps", "RelayState=%2Fadmin");
    assert_ne!(altered, url);
    assert!(!verify_redirect(&altered, &cert));
    // Nor does the signature verify with another certificate.
    assert!(!verify_redirect(&url, &read("idp.crt")));
    // Without RelayState the signed string has none either.
    assert!(verify_redirect(&signed_request(&sp_key(), None), &cert));
}

#[test]
fn an_ec_key_signs_with_ecdsa_sha256() {
    let ec = SpKey::from_pem(
        read("encrypted/sp_ec.key").as_bytes(),
        read("encrypted/sp_ec.crt").as_bytes(),
    )
    .unwrap();
    let url = signed_request(&ec, Some("/x"));
    assert!(
        url.contains("SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23ecdsa-sha256")
    );
    assert!(verify_redirect(&url, &read("encrypted/sp_ec.crt")));
    assert!(!verify_redirect(
        &url.replace("RelayState=%2Fx", "RelayState=%2Fy"),
        &read("encrypted/sp_ec.crt")
    ));
}

#[test]
fn an_unsigned_request_has_no_signature_parameters() {
    let url = portcullis_saml::authn_request(
        "https://idp.example/sso",
        AUD,
        ACS,
        portcullis_saml::NAME_ID_EMAIL,
        "2030-01-01T00:00:00Z",
        Some("/x"),
        None,
    )
    .unwrap()
    .redirect_url;
    assert!(!url.contains("SigAlg") && !url.contains("Signature"));
}

#[test]
fn sp_metadata_publishes_the_certificate_for_signing_and_encryption() {
    let key = sp_key();
    let xml = portcullis_saml::sp_metadata(
        AUD,
        ACS,
        portcullis_saml::NAME_ID_EMAIL,
        Some(&key.certificate_b64()),
        true,
    );
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let sp = doc
        .descendants()
        .find(|n| n.tag_name().name() == "SPSSODescriptor")
        .unwrap();
    assert_eq!(sp.attribute("AuthnRequestsSigned"), Some("true"));
    assert_eq!(sp.attribute("WantAssertionsSigned"), Some("true"));
    let uses: Vec<_> = sp
        .children()
        .filter(|n| n.tag_name().name() == "KeyDescriptor")
        .map(|n| n.attribute("use").unwrap())
        .collect();
    assert_eq!(uses, ["signing", "encryption"]);
    assert!(xml.contains(&key.certificate_b64()));
    let plain = portcullis_saml::sp_metadata(AUD, ACS, portcullis_saml::NAME_ID_EMAIL, None, false);
    assert!(plain.contains(r#"AuthnRequestsSigned="false""#) && !plain.contains("KeyDescriptor"));
}

// --- Payloads encrypted in the test (openssl, to sp.crt), for what xmlsec1 would not produce. ---

/// `plaintext` as an EncryptedAssertion to the SP certificate (RSA-OAEP-MGF1P, AES-256-GCM).
fn encrypt_to_sp(plaintext: &str) -> String {
    encrypt_with(plaintext, false)
}

/// The same with AES-256-CBC (PKCS#7 padding is one of XML-Enc's paddings) when `cbc`.
fn encrypt_with(plaintext: &str, cbc: bool) -> String {
    use openssl::symm::{Cipher, encrypt, encrypt_aead};
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut key = [0u8; 32];
    let mut iv = [0u8; 12];
    let mut cbc_iv = [0u8; 16];
    openssl::rand::rand_bytes(&mut key).unwrap();
    openssl::rand::rand_bytes(&mut iv).unwrap();
    openssl::rand::rand_bytes(&mut cbc_iv).unwrap();
    let mut tag = [0u8; 16];
    let body = encrypt_aead(
        Cipher::aes_256_gcm(),
        &key,
        Some(&iv),
        &[],
        plaintext.as_bytes(),
        &mut tag,
    )
    .unwrap();
    let (content, algorithm) = if cbc {
        let body = encrypt(
            Cipher::aes_256_cbc(),
            &key,
            Some(&cbc_iv),
            plaintext.as_bytes(),
        )
        .unwrap();
        (
            [cbc_iv.as_slice(), &body].concat(),
            "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
        )
    } else {
        (
            [iv.as_slice(), &body, &tag].concat(),
            "http://www.w3.org/2009/xmlenc11#aes256-gcm",
        )
    };
    let cert = openssl::x509::X509::from_pem(read("encrypted/sp.crt").as_bytes()).unwrap();
    let rsa = cert.public_key().unwrap().rsa().unwrap();
    let mut wrapped = vec![0u8; rsa.size() as usize];
    let n = rsa
        .public_encrypt(&key, &mut wrapped, openssl::rsa::Padding::PKCS1_OAEP)
        .unwrap();
    wrapped.truncate(n);
    format!(
        r#"<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="{algorithm}"/><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>"#,
        b64(&wrapped),
        b64(&content),
    )
}

/// valid.xml (assertion signed in the Response's namespace context) with its Assertion replaced
/// by an EncryptedAssertion of `transform(assertion)`.
fn valid_encrypted(transform: impl Fn(&str) -> String) -> String {
    valid_encrypted_with(transform, false)
}

fn valid_encrypted_with(transform: impl Fn(&str) -> String, cbc: bool) -> String {
    let plain = read("valid.xml");
    let start = plain.find("<saml:Assertion").unwrap();
    let end = plain.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    let assertion = &plain[start..end];
    format!(
        "{}{}{}",
        &plain[..start],
        encrypt_with(&transform(assertion), cbc),
        &plain[end..]
    )
}

#[test]
fn an_assertion_relying_on_the_response_namespaces_decrypts_in_place_and_verifies() {
    // The plaintext uses the `saml:` prefix declared on the Response only.
    let xml = valid_encrypted(str::to_owned);
    assert_eq!(
        run(&xml, Some(&sp_key())).unwrap().name_id,
        "alice@example.com"
    );
}

#[test]
fn a_decrypted_payload_is_screened_like_the_outer_document() {
    let comment =
        valid_encrypted(|a| a.replace("alice@example.com", "alice@example.com<!---->.evil"));
    assert_eq!(code(&comment), "saml.comment_forbidden");
    let dtd = valid_encrypted(|a| format!("<!DOCTYPE x [<!ENTITY e \"x\">]>{a}"));
    assert_eq!(code(&dtd), "saml.dtd_forbidden");
    let pi = valid_encrypted(|a| format!("<?xml version=\"1.0\"?>{a}"));
    assert_eq!(code(&pi), "saml.unexpected_structure");
    let two = valid_encrypted(|a| format!("{a}{}", a.replace("_assert1", "_assert9")));
    assert_eq!(code(&two), "saml.assertion_count");
    let trailing = valid_encrypted(|a| format!("{a}<saml:Issuer>x</saml:Issuer>"));
    assert_eq!(code(&trailing), "saml.unexpected_structure");
    let nested = valid_encrypted(|a| {
        a.replace(
            "<saml:Subject>",
            &format!("{}<saml:Subject>", encrypt_to_sp("<x/>")),
        )
    });
    assert_eq!(code(&nested), "saml.unexpected_structure");
    let tampered = valid_encrypted(|a| a.replace("alice@example.com", "admin@example.com"));
    assert_eq!(code(&tampered), "saml.signature_invalid");
}

#[test]
fn with_cbc_and_no_response_signature_every_failure_before_the_inner_signature_is_one_code() {
    // The same payload as valid: accepted.
    let ok = valid_encrypted_with(str::to_owned, true);
    assert_eq!(code(&ok), "ok");
    // Not one oracle: malformed, comment, DTD, structure all answer decryption_failed.
    for bad in [
        valid_encrypted_with(
            |a| a.replace("alice@example.com", "alice@example.com<!---->"),
            true,
        ),
        valid_encrypted_with(|a| format!("<!DOCTYPE x>{a}"), true),
        valid_encrypted_with(|a| a.replace("</saml:Assertion>", "</saml:Asser>"), true),
        valid_encrypted_with(|a| format!("{a}<x/>"), true),
        valid_encrypted_with(|a| format!("\u{FFFF}{a}"), true),
    ] {
        assert_eq!(code(&bad), "saml.decryption_failed");
    }
    // A flipped ciphertext bit: the same answer.
    let marker = "<xenc:CipherValue>";
    let at = ok.rfind(marker).unwrap() + marker.len() + 30;
    let mut flipped = ok.clone();
    let with = if &ok[at..=at] == "A" { "B" } else { "A" };
    flipped.replace_range(at..=at, with);
    assert_eq!(code(&flipped), "saml.decryption_failed");
    // Past the screening the inner signature still decides, with its own code.
    let tampered = valid_encrypted_with(|a| a.replace("alice@", "admin@"), true);
    assert_eq!(code(&tampered), "saml.signature_invalid");
}
