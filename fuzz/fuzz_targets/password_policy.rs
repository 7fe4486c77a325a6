//! Password-policy evaluation with two arbitrary policies and an arbitrary password and
//! context. Layout: 2 × 13 header bytes (one policy each: minimum, maximum, life span as u16,
//! reuse epoch as u8, failed attempts and lockout as u16, 16 flag bits), then NUL-separated
//! UTF-8: password, old password, email, names... Never panics; the strictest combination of
//! the two is commutative and refuses everything either one refuses; every violation names a
//! policy field.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::password_policy::{PasswordContext, PasswordPolicy};

const HEADER: usize = 13;

fn policy(b: &[u8; HEADER]) -> PasswordPolicy {
    let u16_at = |i: usize| u32::from(u16::from_le_bytes([b[i], b[i + 1]]));
    let flags = u16::from_le_bytes([b[11], b[12]]);
    let bit = |n: u16| flags & (1 << n) != 0;
    PasswordPolicy {
        minimum_length: u16_at(0),
        maximum_length: u16_at(2),
        password_life_span_days: u16_at(4),
        password_reuse_epoch: u32::from(b[6]),
        max_failed_attempts: u16_at(7),
        lockout_minutes: u16_at(9),
        upper_case_needed: bit(0),
        lower_case_needed: bit(1),
        numeric_needed: bit(2),
        non_alphanumeric_needed: bit(3),
        exclude_names: bit(4),
        exclude_email: bit(5),
        no_confusing_letters: bit(6),
        no_simple_passwords: bit(7),
        no_common_vocabs: bit(8),
        no_overlap_with_old: bit(9),
    }
}

fn fields(violations: &[portcullis_core::password_policy::Violation]) -> Vec<&'static str> {
    violations.iter().map(|v| v.field).collect()
}

fuzz_target!(|data: &[u8]| {
    let mut header = [0u8; 2 * HEADER];
    let split = data.len().min(2 * HEADER);
    header[..split].copy_from_slice(&data[..split]);
    let a = policy(header[..HEADER].try_into().expect("13 bytes"));
    let b = policy(header[HEADER..].try_into().expect("13 bytes"));
    let text = String::from_utf8_lossy(&data[split..]);
    let mut parts = text.split('\0');
    let password = parts.next().unwrap_or_default();
    let old = parts.next();
    let email = parts.next();
    let names: Vec<&str> = parts.collect();
    let context = PasswordContext {
        names,
        email,
        old_password: old,
        history_reused: header[12] & 0x80 != 0,
    };

    let _ = a.problems();
    let _ = a.nist_warnings();
    let strict = a.strictest(b);
    assert_eq!(strict, b.strictest(a), "strictest is not commutative");
    let by_a = a.evaluate(password, &context);
    let by_b = b.evaluate(password, &context);
    let by_strict = fields(&strict.evaluate(password, &context));
    for field in fields(&by_a).into_iter().chain(fields(&by_b)) {
        assert!(
            by_strict.contains(&field),
            "the strictest combination accepts what one policy refuses ({field})"
        );
    }
    let known = serde_json::to_value(a).expect("a policy serializes");
    for v in &by_a {
        assert!(
            known.get(v.field).is_some(),
            "violation names no policy field: {}",
            v.field
        );
    }
});
