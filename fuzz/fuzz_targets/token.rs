//! Bearer-token parsing (`portcullis_core::token::parse`) on arbitrary text: it never panics,
//! and whatever it accepts has the documented shape, a valid checksum and the SHA-256 of the
//! exact presented text as its storage hash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::token::{hash_token, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(presented) = std::str::from_utf8(data) else {
        return;
    };
    let Some((_kind, hash)) = parse(presented) else {
        return;
    };
    assert_eq!(
        presented.len(),
        8 + 30 + 6,
        "accepted a token of the wrong length"
    );
    assert!(
        presented.starts_with("pcl_"),
        "accepted a token without the prefix"
    );
    assert!(
        presented[8..].bytes().all(|b| b.is_ascii_alphanumeric()),
        "accepted a token body outside base62"
    );
    assert_eq!(
        hash,
        hash_token(presented),
        "storage hash is not over the presented text"
    );
    // One changed checksum character must be refused.
    let mut altered = presented.as_bytes().to_vec();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'0' { b'1' } else { b'0' };
    let altered = String::from_utf8(altered).expect("ascii stays utf-8");
    assert!(parse(&altered).is_none(), "a changed checksum was accepted");
});
