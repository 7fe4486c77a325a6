//! JSON request bodies of the main endpoints through the real extractor (`deny_unknown_fields`
//! DTOs), the handlers' own conversion and the core id/email/role/permission/scope/policy
//! parsers. The first byte picks the endpoint (`portcullis_http::fuzzing::ENDPOINTS`). Never
//! panics, and every refusal is a client error (400/413/415/422) with a problem+json body that
//! has a stable `code`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_http::fuzzing::{BodyOutcome, json_body, problem_json};

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    if let BodyOutcome::Refused(err) = json_body(which, body) {
        let (status, problem) = problem_json(err);
        assert!(
            matches!(status.as_u16(), 400 | 413 | 415 | 422),
            "a body was refused with {status}"
        );
        let problem: serde_json::Value =
            serde_json::from_slice(&problem).expect("problem+json is JSON");
        let code = problem["code"].as_str().expect("problem has a code");
        assert!(
            !code.is_empty() && code.is_ascii(),
            "bad problem code `{code}`"
        );
    }
});
