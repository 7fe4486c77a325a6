//! IdP metadata XML (`portcullis_saml::parse_idp_metadata`), pasted or fetched, on arbitrary
//! text: never panics; what it accepts has a non-empty entity id and SSO URL, and only
//! certificates whose facts can be read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_saml::{certificate_info, parse_idp_metadata};

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(metadata) = parse_idp_metadata(xml) else {
        return;
    };
    assert!(
        !metadata.entity_id.trim().is_empty(),
        "accepted metadata without an entity id"
    );
    assert!(
        !metadata.sso_url.trim().is_empty(),
        "accepted metadata without an SSO URL"
    );
    for cert in &metadata.certificates {
        assert!(
            certificate_info(cert).is_ok(),
            "accepted an unreadable certificate"
        );
    }
});
