//! Encrypted assertions (fixtures by xmlsec1, tests/fixtures/encrypted/generate.sh), the SP key
//! pair's validation and signed HTTP-Redirect AuthnRequests. The clock is injected:
//! 2030-01-01T00:00:00Z.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

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
