//! Response validation against signed fixtures (tests/fixtures/generate.sh) and attacks derived
//! from them. The clock is injected: 2030-01-01T00:00:00Z.

use base64::Engine;
use portcullis_saml::{IdpTrust, SamlError, SpEndpoints, validate_response};

const NOW: i64 = 1_893_456_000_000;
const ACS: &str = "http://localhost:8080/saml/acme/okta/acs";
const AUD: &str = "http://localhost:8080/saml/acme/okta/metadata";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn cert(name: &str) -> String {
    fixture(name)
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect()
}

fn run(xml: &str, sha1: bool) -> Result<portcullis_saml::ValidatedLogin, SamlError> {
    let certs = vec![cert("idp.crt")];
    let idp = IdpTrust {
        entity_id: "https://idp.example/",
        certificates: &certs,
        allow_sha1: sha1,
        clock_skew_secs: 60,
    };
    let sp = SpEndpoints {
        entity_id: AUD,
        acs_url: ACS,
        decryption_key: None,
    };
    let b64 = base64::engine::general_purpose::STANDARD.encode(xml);
    validate_response(&b64, &idp, &sp, NOW)
}

fn code(xml: &str) -> &'static str {
    run(xml, false).map(|_| "ok").unwrap_or_else(|e| e.code())
}

#[test]
fn a_valid_signed_response_is_accepted() {
    let login = run(&fixture("valid.xml"), false).unwrap();
    assert_eq!(login.name_id, "alice@example.com");
    assert_eq!(login.in_response_to.as_deref(), Some("_req1"));
    assert_eq!(login.attributes["groups"], vec!["ml".to_owned()]);
}

#[test]
fn signed_but_wrong_values_are_refused_each_with_its_code() {
    assert_eq!(
        code(&fixture("wrong_audience.xml")),
        "saml.audience_mismatch"
    );
    assert_eq!(
        code(&fixture("wrong_destination.xml")),
        "saml.destination_mismatch"
    );
    assert_eq!(code(&fixture("expired.xml")), "saml.expired");
    assert_eq!(code(&fixture("not_yet_valid.xml")), "saml.not_yet_valid");
    assert_eq!(code(&fixture("sha1.xml")), "saml.weak_algorithm");
    assert!(
        run(&fixture("sha1.xml"), true).is_ok(),
        "SHA-1 only with the opt-in"
    );
    assert_eq!(code(&fixture("other_key.xml")), "saml.signature_invalid");
}

#[test]
fn tampering_and_structural_attacks_are_refused() {
    let valid = fixture("valid.xml");
    // Changed signed content.
    assert_eq!(
        code(&valid.replace("alice@example.com", "admin@example.com")),
        "saml.signature_invalid"
    );
    // Comment injection in NameID (would survive exclusive c14n without comments).
    assert_eq!(
        code(&valid.replace("alice@example.com", "alice@example.com<!---->.evil")),
        "saml.comment_forbidden"
    );
    // DTD: XXE and billion laughs, refused before parsing.
    let xxe = valid.replacen(
        "<samlp:Response",
        "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><samlp:Response",
        1,
    );
    assert_eq!(code(&xxe), "saml.dtd_forbidden");
    let laughs = valid.replacen(
        "<samlp:Response",
        "<!DOCTYPE r [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]><samlp:Response",
        1,
    );
    assert_eq!(code(&laughs), "saml.dtd_forbidden");
    // A second (unsigned, forged) assertion beside the signed one.
    let start = valid.find("<saml:Assertion").unwrap();
    let end = valid.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    let signed = &valid[start..end];
    let forged = signed
        .replace("_assert1", "_evil")
        .replace("alice@example.com", "admin@example.com");
    let unsigned_forged = {
        let s = forged.find("<ds:Signature").unwrap();
        let e = forged.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        format!("{}{}", &forged[..s], &forged[e..])
    };
    assert_eq!(
        code(&valid.replace(signed, &format!("{unsigned_forged}{signed}"))),
        "saml.assertion_count"
    );
    // XSW: the signed assertion hidden in Extensions, a forged one in its place.
    let xsw = valid.replace(
        signed,
        &format!("<samlp:Extensions>{signed}</samlp:Extensions>{unsigned_forged}"),
    );
    assert_eq!(code(&xsw), "saml.assertion_count");
    // Same ID twice.
    let dup = valid.replace(
        signed,
        &format!("{signed}<samlp:Extensions><x ID=\"_assert1\"/></samlp:Extensions>"),
    );
    assert_eq!(code(&dup), "saml.duplicate_id");
    // Only an unsigned assertion.
    assert_eq!(
        code(&valid.replace(signed, &unsigned_forged)),
        "saml.unsigned"
    );
    // A forged second SignedInfo.
    let two = valid.replacen(
        "<ds:SignatureValue>",
        "<ds:Object><ds:SignedInfo/></ds:Object><ds:SignatureValue>",
        1,
    );
    assert_eq!(code(&two), "saml.signature_malformed");
    // A certificate in KeyInfo that is not configured.
    let other = cert("other.crt");
    let keyinfo = valid.replacen("</ds:SignatureValue>", &format!("</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{other}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"), 1);
    assert_eq!(code(&keyinfo), "saml.untrusted_key_info");
    // Another IdP's issuer.
    assert_eq!(
        code(&valid.replace(
            "https://idp.example/</saml:Issuer><samlp:Status",
            "https://evil/</saml:Issuer><samlp:Status"
        )),
        "saml.issuer_mismatch"
    );
}

#[test]
fn the_response_signed_base_of_xsw1_and_xsw2_is_itself_accepted() {
    let login = run(&fixture("response_signed.xml"), false).unwrap();
    assert_eq!(login.name_id, "alice@example.com");
    assert_eq!(login.assertion_id, "_assert8");
}

/// XML signature wrapping, the named variants XSW1-XSW8 (data files made by
/// fixtures/make_xsw.py from the signed fixtures): each keeps the genuine signature and forges
/// the content a careless validator would read. Each is refused, by the first screen that sees
/// it, with its own stable code.
#[test]
fn signature_wrapping_variants_xsw1_to_xsw8_are_refused() {
    let cases = [
        // A Response nested in the Signature / beside it.
        ("xsw1.xml", "saml.unexpected_structure"),
        ("xsw2.xml", "saml.unexpected_structure"),
        // A second assertion beside / around the signed one.
        ("xsw3.xml", "saml.assertion_count"),
        ("xsw4.xml", "saml.assertion_count"),
        // The signed assertion's ID occurs twice.
        ("xsw5.xml", "saml.duplicate_id"),
        ("xsw6.xml", "saml.duplicate_id"),
        ("xsw7.xml", "saml.duplicate_id"),
        ("xsw8.xml", "saml.duplicate_id"),
    ];
    for (file, expected) in cases {
        let xml = fixture(&format!("xsw/{file}"));
        assert!(xml.contains("admin@example.com"), "{file} forges content");
        assert!(
            xml.contains("<ds:SignatureValue>") && !xml.contains("<ds:SignatureValue/>"),
            "{file} keeps the genuine signature"
        );
        assert_eq!(code(&xml), expected, "{file}");
        // Even with SHA-1 allowed and a lenient clock, still refused.
        assert!(run(&xml, true).is_err(), "{file}");
    }
}

/// A genuine response validated against an IdP that trusts
/// only another certificate must be refused (the configured certificate is the only key).
#[test]
fn a_genuine_response_is_refused_when_its_signer_is_not_the_configured_certificate() {
    for name in ["valid.xml", "response_signed.xml"] {
        let certs = vec![cert("other.crt")];
        let idp = IdpTrust {
            entity_id: "https://idp.example/",
            certificates: &certs,
            allow_sha1: false,
            clock_skew_secs: 60,
        };
        let sp = SpEndpoints {
            entity_id: AUD,
            acs_url: ACS,
            decryption_key: None,
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode(fixture(name));
        let outcome = validate_response(&b64, &idp, &sp, NOW);
        assert_eq!(
            outcome.map(|_| "ok").unwrap_or_else(|e| e.code()),
            "saml.signature_invalid",
            "{name}"
        );
    }
}
