//! The ACS input: an arbitrary document as the XML of a `SAMLResponse` (and, raw, as the
//! base64 form field itself), validated by `portcullis_saml::validate_response` at a fixed
//! time against fixed SP endpoints.
//!
//! Two IdP configurations:
//! - trusting only `other.crt`, whose key signed nothing in the corpus: nothing may ever be
//!   accepted (a forgery, since the fuzzer cannot produce RSA signatures);
//! - trusting `idp.crt`, which signed the seed responses: an accepted response must carry
//!   exactly the facts of one of the untouched signed fixtures, so no mutation can change what
//!   a login asserts (XML signature wrapping and friends).
//!
//! The SP key pair of the encrypted fixtures is configured in both, so mutations of encrypted
//! assertions reach the decryption and the checks of the decrypted assertion.
#![no_main]

use std::sync::OnceLock;

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use portcullis_saml::{IdpTrust, SpEndpoints, SpKey, ValidatedLogin, validate_response};

/// 2030-01-01T00:00:00Z, inside the fixtures' validity window.
const NOW: i64 = 1_893_456_000_000;
const ACS: &str = "http://localhost:8080/saml/acme/okta/acs";
const AUDIENCE: &str = "http://localhost:8080/saml/acme/okta/metadata";
const IDP_ENTITY: &str = "https://idp.example/";
const IDP_CRT: &str = include_str!("../../crates/saml/tests/fixtures/idp.crt");
const OTHER_CRT: &str = include_str!("../../crates/saml/tests/fixtures/other.crt");
const SIGNED: &[&str] = &[
    include_str!("../../crates/saml/tests/fixtures/valid.xml"),
    include_str!("../../crates/saml/tests/fixtures/response_signed.xml"),
    include_str!("../../crates/saml/tests/fixtures/encrypted/assertion_signed.xml"),
    include_str!("../../crates/saml/tests/fixtures/encrypted/response_signed.xml"),
    include_str!("../../crates/saml/tests/fixtures/encrypted/both_signed.xml"),
];

fn sp_key() -> &'static SpKey {
    static KEY: OnceLock<SpKey> = OnceLock::new();
    KEY.get_or_init(|| {
        SpKey::from_pem(
            include_bytes!("../../crates/saml/tests/fixtures/encrypted/sp.key"),
            include_bytes!("../../crates/saml/tests/fixtures/encrypted/sp.crt"),
        )
        .expect("the fixture SP key pair is valid")
    })
}

fn der_b64(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

fn validate(saml_response: &str, pem: &str) -> Result<ValidatedLogin, portcullis_saml::SamlError> {
    let certificates = [der_b64(pem)];
    let idp = IdpTrust {
        entity_id: IDP_ENTITY,
        certificates: &certificates,
        allow_sha1: false,
        clock_skew_secs: 60,
    };
    let sp = SpEndpoints {
        entity_id: AUDIENCE,
        acs_url: ACS,
        decryption_key: Some(sp_key()),
    };
    validate_response(saml_response, &idp, &sp, NOW)
}

fn encode(xml: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml)
}

/// What the untouched signed fixtures assert.
fn genuine() -> &'static [ValidatedLogin] {
    static GENUINE: OnceLock<Vec<ValidatedLogin>> = OnceLock::new();
    GENUINE.get_or_init(|| {
        SIGNED
            .iter()
            .map(|xml| validate(&encode(xml.as_bytes()), IDP_CRT).expect("the fixture is valid"))
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let encoded = encode(data);
    let forged = validate(&encoded, OTHER_CRT);
    assert!(
        forged.is_err(),
        "accepted a response no configured key signed: {forged:?}"
    );
    if let Ok(login) = validate(&encoded, IDP_CRT) {
        assert!(
            genuine().contains(&login),
            "accepted a response asserting something the IdP never signed: {login:?}"
        );
    }
    // The form field itself, undecoded.
    if let Ok(raw) = std::str::from_utf8(data) {
        assert!(
            validate(raw, OTHER_CRT).is_err(),
            "accepted a raw form field"
        );
    }
});
