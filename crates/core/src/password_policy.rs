//! Password policies (docs/contract.md §7): the policy record, its presets, validation of its values,
//! warnings for knobs that contradict NIST SP 800-63B, the strictest combination of several
//! policies, and the pure evaluation of a password against one, which reports every violation
//! by the name of the field it breaks.

use std::collections::HashSet;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The bundled common-password list (lower-case, one per line); see `data/*.NOTICE`.
const COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

/// Hard bounds on policy values: beyond these a value is a mistake, not a policy.
pub const MAX_LENGTH_LIMIT: u32 = 1024;
pub const MAX_LIFE_SPAN_DAYS: u32 = 3650;
pub const MAX_REUSE_EPOCH: u32 = 50;
pub const MAX_FAILED_ATTEMPTS_LIMIT: u32 = 1000;
pub const MAX_LOCKOUT_MINUTES: u32 = 525_600;

/// Characters that are easily confused with one another when read or typed.
pub const CONFUSING_LETTERS: &[char] = &['0', 'O', 'o', '1', 'l', 'I', '|'];

/// How long a sequence or repeat must be to count as "simple".
const SIMPLE_RUN: usize = 4;
/// Shared substrings at least this long (or the whole shorter password) count as overlap.
const OVERLAP_RUN: usize = 5;

const KEYBOARD_ROWS: &[&str] = &[
    "`1234567890-=",
    "qwertyuiop[]\\",
    "asdfghjkl;'",
    "zxcvbnm,./",
    "qazwsxedcrfvtgbyhnujmikolp",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordPolicy {
    pub minimum_length: u32,
    pub maximum_length: u32,
    pub upper_case_needed: bool,
    pub lower_case_needed: bool,
    pub numeric_needed: bool,
    pub non_alphanumeric_needed: bool,
    /// Days before a password must be changed; 0 = never expires.
    pub password_life_span_days: u32,
    /// How many previous passwords may not be reused; 0 = no history check.
    pub password_reuse_epoch: u32,
    pub exclude_names: bool,
    pub exclude_email: bool,
    pub no_confusing_letters: bool,
    pub no_simple_passwords: bool,
    pub no_common_vocabs: bool,
    pub no_overlap_with_old: bool,
    /// Failed logins before the account locks; 0 = never locks.
    pub max_failed_attempts: u32,
    /// How long a lockout lasts; 0 = until an administrator unlocks it.
    pub lockout_minutes: u32,
}

impl Default for PasswordPolicy {
    /// The built-in global default until the operator sets one: NIST-friendly, length 8.
    fn default() -> Self {
        Self {
            minimum_length: 8,
            maximum_length: MAX_LENGTH_LIMIT,
            upper_case_needed: false,
            lower_case_needed: false,
            numeric_needed: false,
            non_alphanumeric_needed: false,
            password_life_span_days: 0,
            password_reuse_epoch: 0,
            exclude_names: false,
            exclude_email: false,
            no_confusing_letters: false,
            no_simple_passwords: false,
            no_common_vocabs: true,
            no_overlap_with_old: false,
            max_failed_attempts: 10,
            lockout_minutes: 15,
        }
    }
}

/// The named presets accepted by `PUT .../password-policy` as `{"preset": ...}`.
pub const PRESETS: &[&str] = &["nist", "legacy"];

impl PasswordPolicy {
    /// NIST SP 800-63B for single-factor passwords: length ≥ 15, blocklist, no composition
    /// rules, no expiry, throttled guessing.
    pub fn nist() -> Self {
        Self {
            minimum_length: 15,
            maximum_length: 256,
            no_common_vocabs: true,
            no_simple_passwords: true,
            exclude_names: true,
            exclude_email: true,
            max_failed_attempts: 10,
            lockout_minutes: 15,
            ..Self::default()
        }
    }

    /// The traditional corporate policy: character classes, expiry and history.
    pub fn legacy() -> Self {
        Self {
            minimum_length: 8,
            maximum_length: 128,
            upper_case_needed: true,
            lower_case_needed: true,
            numeric_needed: true,
            non_alphanumeric_needed: true,
            password_life_span_days: 90,
            password_reuse_epoch: 5,
            exclude_names: true,
            exclude_email: true,
            no_confusing_letters: false,
            no_simple_passwords: true,
            no_common_vocabs: true,
            no_overlap_with_old: true,
            max_failed_attempts: 5,
            lockout_minutes: 30,
        }
    }

    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "nist" => Some(Self::nist()),
            "legacy" => Some(Self::legacy()),
            _ => None,
        }
    }

    /// Values that make no sense: the field and why. Empty when the policy is acceptable.
    pub fn problems(&self) -> Vec<Violation> {
        let mut out = Vec::new();
        let mut bad = |field: &'static str, message: String| out.push(Violation { field, message });
        if self.minimum_length == 0 || self.minimum_length > MAX_LENGTH_LIMIT {
            bad(
                "minimum_length",
                format!("must be between 1 and {MAX_LENGTH_LIMIT}"),
            );
        }
        if self.maximum_length == 0 || self.maximum_length > MAX_LENGTH_LIMIT {
            bad(
                "maximum_length",
                format!("must be between 1 and {MAX_LENGTH_LIMIT}"),
            );
        }
        if self.minimum_length > self.maximum_length {
            bad(
                "minimum_length",
                "must not be greater than maximum_length".to_owned(),
            );
        }
        if self.password_life_span_days > MAX_LIFE_SPAN_DAYS {
            bad(
                "password_life_span_days",
                format!("must be at most {MAX_LIFE_SPAN_DAYS}"),
            );
        }
        if self.password_reuse_epoch > MAX_REUSE_EPOCH {
            bad(
                "password_reuse_epoch",
                format!("must be at most {MAX_REUSE_EPOCH}"),
            );
        }
        if self.max_failed_attempts > MAX_FAILED_ATTEMPTS_LIMIT {
            bad(
                "max_failed_attempts",
                format!("must be at most {MAX_FAILED_ATTEMPTS_LIMIT}"),
            );
        }
        if self.lockout_minutes > MAX_LOCKOUT_MINUTES {
            bad(
                "lockout_minutes",
                format!("must be at most {MAX_LOCKOUT_MINUTES}"),
            );
        }
        let required = self.upper_case_needed as u32
            + self.lower_case_needed as u32
            + self.numeric_needed as u32
            + self.non_alphanumeric_needed as u32;
        if required > self.maximum_length {
            bad(
                "maximum_length",
                "is shorter than the required character classes".to_owned(),
            );
        }
        out
    }

    /// Accepted knobs that contradict NIST SP 800-63B, each with the reason.
    pub fn nist_warnings(&self) -> Vec<Violation> {
        let mut out = Vec::new();
        let mut warn = |field: &'static str, message: &str| {
            out.push(Violation {
                field,
                message: message.to_owned(),
            })
        };
        if self.minimum_length < 8 {
            warn(
                "minimum_length",
                "NIST SP 800-63B requires at least 8 characters (15 for single-factor)",
            );
        }
        if self.maximum_length < 64 {
            warn(
                "maximum_length",
                "NIST SP 800-63B requires accepting at least 64 characters",
            );
        }
        for (on, field) in [
            (self.upper_case_needed, "upper_case_needed"),
            (self.lower_case_needed, "lower_case_needed"),
            (self.numeric_needed, "numeric_needed"),
            (self.non_alphanumeric_needed, "non_alphanumeric_needed"),
        ] {
            if on {
                warn(field, "NIST SP 800-63B advises against composition rules");
            }
        }
        if self.password_life_span_days > 0 {
            warn(
                "password_life_span_days",
                "NIST SP 800-63B advises against periodic password expiry",
            );
        }
        if self.no_confusing_letters {
            warn(
                "no_confusing_letters",
                "NIST SP 800-63B advises accepting all printable characters",
            );
        }
        if !self.no_common_vocabs {
            warn(
                "no_common_vocabs",
                "NIST SP 800-63B requires checking passwords against a blocklist",
            );
        }
        if self.max_failed_attempts == 0 || self.max_failed_attempts > 100 {
            warn(
                "max_failed_attempts",
                "NIST SP 800-63B requires limiting failed attempts to at most 100",
            );
        }
        out
    }

    /// The strictest combination of two policies: a password acceptable to it is
    /// acceptable to both.
    pub fn strictest(self, other: Self) -> Self {
        let min_nonzero = |a: u32, b: u32| match (a, b) {
            (0, x) | (x, 0) => x,
            (a, b) => a.min(b),
        };
        Self {
            minimum_length: self.minimum_length.max(other.minimum_length),
            maximum_length: self.maximum_length.min(other.maximum_length),
            upper_case_needed: self.upper_case_needed || other.upper_case_needed,
            lower_case_needed: self.lower_case_needed || other.lower_case_needed,
            numeric_needed: self.numeric_needed || other.numeric_needed,
            non_alphanumeric_needed: self.non_alphanumeric_needed || other.non_alphanumeric_needed,
            password_life_span_days: min_nonzero(
                self.password_life_span_days,
                other.password_life_span_days,
            ),
            password_reuse_epoch: self.password_reuse_epoch.max(other.password_reuse_epoch),
            exclude_names: self.exclude_names || other.exclude_names,
            exclude_email: self.exclude_email || other.exclude_email,
            no_confusing_letters: self.no_confusing_letters || other.no_confusing_letters,
            no_simple_passwords: self.no_simple_passwords || other.no_simple_passwords,
            no_common_vocabs: self.no_common_vocabs || other.no_common_vocabs,
            no_overlap_with_old: self.no_overlap_with_old || other.no_overlap_with_old,
            max_failed_attempts: min_nonzero(self.max_failed_attempts, other.max_failed_attempts),
            // 0 means "until an administrator unlocks": the strictest of all.
            lockout_minutes: if self.lockout_minutes == 0 || other.lockout_minutes == 0 {
                0
            } else {
                self.lockout_minutes.max(other.lockout_minutes)
            },
        }
    }

    /// Every way `password` breaks this policy, in field order. `history_reused` is the
    /// service's answer to "does it match one of the last `password_reuse_epoch` hashes".
    pub fn evaluate(&self, password: &str, context: &PasswordContext<'_>) -> Vec<Violation> {
        let mut out = Vec::new();
        let mut fail =
            |field: &'static str, message: String| out.push(Violation { field, message });
        let length = password.chars().count();
        let lower = password.to_lowercase();
        if length < self.minimum_length as usize {
            fail(
                "minimum_length",
                format!("must be at least {} characters", self.minimum_length),
            );
        }
        if length > self.maximum_length as usize {
            fail(
                "maximum_length",
                format!("must be at most {} characters", self.maximum_length),
            );
        }
        if self.upper_case_needed && !password.chars().any(char::is_uppercase) {
            fail("upper_case_needed", "needs an upper-case letter".to_owned());
        }
        if self.lower_case_needed && !password.chars().any(char::is_lowercase) {
            fail("lower_case_needed", "needs a lower-case letter".to_owned());
        }
        if self.numeric_needed && !password.chars().any(char::is_numeric) {
            fail("numeric_needed", "needs a digit".to_owned());
        }
        if self.non_alphanumeric_needed && password.chars().all(char::is_alphanumeric) {
            fail(
                "non_alphanumeric_needed",
                "needs a character that is not a letter or digit".to_owned(),
            );
        }
        if self.password_reuse_epoch > 0 && context.history_reused {
            fail(
                "password_reuse_epoch",
                format!(
                    "must differ from the last {} passwords",
                    self.password_reuse_epoch
                ),
            );
        }
        if self.exclude_names && context.names.iter().any(|name| contains_word(&lower, name)) {
            fail(
                "exclude_names",
                "must not contain the user's id or name".to_owned(),
            );
        }
        if self.exclude_email && contains_email(&lower, context.email) {
            fail(
                "exclude_email",
                "must not contain the e-mail address".to_owned(),
            );
        }
        if self.no_confusing_letters && password.chars().any(|c| CONFUSING_LETTERS.contains(&c)) {
            fail(
                "no_confusing_letters",
                "must not contain easily confused characters (0 O o 1 l I |)".to_owned(),
            );
        }
        if self.no_simple_passwords && is_simple(&lower) {
            fail(
                "no_simple_passwords",
                "must not contain repeated characters or sequences".to_owned(),
            );
        }
        if self.no_common_vocabs && is_common(&lower) {
            fail("no_common_vocabs", "is a commonly used password".to_owned());
        }
        if self.no_overlap_with_old
            && let Some(old) = context.old_password
            && overlaps(&lower, &old.to_lowercase())
        {
            fail(
                "no_overlap_with_old",
                "must not share a long part with the old password".to_owned(),
            );
        }
        out
    }
}

/// What a password is checked against besides its own text.
#[derive(Debug, Clone, Default)]
pub struct PasswordContext<'a> {
    /// The user's id, first and last name (already known or proposed).
    pub names: Vec<&'a str>,
    pub email: Option<&'a str>,
    /// The password being replaced, when the user just typed it.
    pub old_password: Option<&'a str>,
    /// Whether the password matches one of the remembered previous hashes.
    pub history_reused: bool,
}

/// One broken rule: the policy field and a human explanation (never the password).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub field: &'static str,
    pub message: String,
}

fn common_set() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON_PASSWORDS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    })
}

/// How many passwords the bundled list holds.
pub fn common_password_count() -> usize {
    common_set().len()
}

/// Whether a lower-cased password is on the bundled common-password list.
pub fn is_common(lower: &str) -> bool {
    common_set().contains(lower)
}

/// Names shorter than 3 characters are too common as substrings to refuse.
fn contains_word(lower_password: &str, word: &str) -> bool {
    let word = word.trim().to_lowercase();
    word.chars().count() >= 3 && lower_password.contains(&word)
}

fn contains_email(lower_password: &str, email: Option<&str>) -> bool {
    let Some(email) = email else { return false };
    let email = email.to_lowercase();
    let local = email.split('@').next().unwrap_or_default();
    lower_password.contains(&email) || contains_word(lower_password, local)
}

/// Runs of one character, ascending or descending sequences (alphabet, digits, keyboard
/// rows), or the whole password being a short unit repeated.
pub fn is_simple(lower: &str) -> bool {
    let chars: Vec<char> = lower.chars().collect();
    if chars.is_empty() {
        return false;
    }
    // The whole password is one short unit repeated ("abcabcabc", "xyxyxy").
    for unit in 1..=chars.len() / 2 {
        if chars.len().is_multiple_of(unit) && chars.chunks(unit).all(|c| c == &chars[..unit]) {
            return true;
        }
    }
    for window in chars.windows(SIMPLE_RUN) {
        if window.iter().all(|c| *c == window[0]) {
            return true;
        }
        let steps: Vec<i64> = window
            .windows(2)
            .map(|p| i64::from(u32::from(p[1])) - i64::from(u32::from(p[0])))
            .collect();
        let alnum = window.iter().all(char::is_ascii_alphanumeric);
        if alnum && (steps.iter().all(|s| *s == 1) || steps.iter().all(|s| *s == -1)) {
            return true;
        }
        let text: String = window.iter().collect();
        let reversed: String = window.iter().rev().collect();
        if KEYBOARD_ROWS
            .iter()
            .any(|row| row.contains(&text) || row.contains(&reversed))
        {
            return true;
        }
    }
    false
}

/// Whether two passwords share a substring of `OVERLAP_RUN` characters (or one contains the
/// whole of the other when it is shorter than that).
pub fn overlaps(new: &str, old: &str) -> bool {
    let new: Vec<char> = new.chars().collect();
    let old: Vec<char> = old.chars().collect();
    if new.is_empty() || old.is_empty() {
        return false;
    }
    let run = OVERLAP_RUN.min(new.len()).min(old.len());
    new.windows(run).any(|w| old.windows(run).any(|o| o == w))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every content rule on, classes satisfied by the base password.
    fn all_rules() -> PasswordPolicy {
        PasswordPolicy {
            minimum_length: 10,
            maximum_length: 40,
            upper_case_needed: true,
            lower_case_needed: true,
            numeric_needed: true,
            non_alphanumeric_needed: true,
            password_life_span_days: 0,
            password_reuse_epoch: 3,
            exclude_names: true,
            exclude_email: true,
            no_confusing_letters: true,
            no_simple_passwords: true,
            no_common_vocabs: true,
            no_overlap_with_old: true,
            max_failed_attempts: 5,
            lockout_minutes: 15,
        }
    }

    fn context() -> PasswordContext<'static> {
        PasswordContext {
            names: vec!["alice", "Alice", "Smith"],
            email: Some("cwhite@example.com"),
            old_password: Some("Tw3nty-Gr@pes-Ripe"),
            history_reused: false,
        }
    }

    fn fields(
        policy: &PasswordPolicy,
        password: &str,
        ctx: &PasswordContext<'_>,
    ) -> Vec<&'static str> {
        policy
            .evaluate(password, ctx)
            .into_iter()
            .map(|v| v.field)
            .collect()
    }

    const GOOD: &str = "Ch3rry-Tr@ck-Vase";

    #[test]
    fn a_compliant_password_passes_every_rule() {
        assert_eq!(fields(&all_rules(), GOOD, &context()), Vec::<&str>::new());
    }

    #[test]
    fn each_rule_alone_reports_exactly_its_field() {
        let cases: &[(&str, &str)] = &[
            ("minimum_length", "Ch3r-Tr@"),
            (
                "maximum_length",
                "Ch3rry-Tr@ck-Vase-Ch3rry-Tr@ck-Vase-Mep-Q",
            ),
            ("upper_case_needed", "ch3rry-tr@ck-vase"),
            ("lower_case_needed", "CH3RRY-TR@CK-VASE"),
            ("numeric_needed", "Cherry-Tr@ck-Vase"),
            ("non_alphanumeric_needed", "Ch3rryTrackVase"),
            ("exclude_names", "Ch3rry-Smith-V@se"),
            ("exclude_email", "Ch3rry-cwhite-V@se"),
            ("no_confusing_letters", "Ch3rry-Tr@ck-V0se"),
            ("no_simple_passwords", "Ch3rry-Tr@ck-Vzzzz"),
            ("no_overlap_with_old", "Ch3rry-Gr@pes-Vase"),
        ];
        for (field, password) in cases {
            assert_eq!(
                fields(&all_rules(), password, &context()),
                vec![*field],
                "password {password:?}"
            );
        }
        let reused = PasswordContext {
            history_reused: true,
            ..context()
        };
        assert_eq!(
            fields(&all_rules(), GOOD, &reused),
            vec!["password_reuse_epoch"]
        );
        // The common list is checked case-insensitively; a policy with only that rule.
        let only_common = PasswordPolicy {
            minimum_length: 1,
            ..PasswordPolicy::default()
        };
        assert_eq!(
            fields(&only_common, "PassWord123", &PasswordContext::default()),
            vec!["no_common_vocabs"]
        );
    }

    #[test]
    fn every_violation_is_reported_together() {
        let found = fields(&all_rules(), "aaaa", &context());
        for field in [
            "minimum_length",
            "upper_case_needed",
            "numeric_needed",
            "non_alphanumeric_needed",
            "no_simple_passwords",
        ] {
            assert!(found.contains(&field), "{field} missing from {found:?}");
        }
    }

    #[test]
    fn the_common_list_is_large_and_simple_patterns_are_caught() {
        assert!(common_password_count() >= 10_000);
        assert!(is_common("password") && is_common("qwerty"));
        for simple in ["aaaa", "xx1234yy", "zyxw", "qwer-tyui", "abcabcabc", "9876"] {
            assert!(is_simple(simple), "{simple}");
        }
        for fine in ["correct horse battery", "ch3rry-tr@ck-vase"] {
            assert!(!is_simple(fine), "{fine}");
        }
    }

    #[test]
    fn strictest_combination_and_validation() {
        let a = PasswordPolicy {
            minimum_length: 12,
            password_life_span_days: 90,
            lockout_minutes: 10,
            ..PasswordPolicy::default()
        };
        let b = PasswordPolicy {
            upper_case_needed: true,
            maximum_length: 64,
            password_life_span_days: 30,
            lockout_minutes: 0,
            max_failed_attempts: 3,
            ..PasswordPolicy::default()
        };
        let c = a.strictest(b);
        assert_eq!(c.minimum_length, 12);
        assert_eq!(c.maximum_length, 64);
        assert!(c.upper_case_needed);
        assert_eq!(c.password_life_span_days, 30);
        assert_eq!(c.lockout_minutes, 0);
        assert_eq!(c.max_failed_attempts, 3);

        assert!(PasswordPolicy::nist().problems().is_empty());
        assert!(PasswordPolicy::legacy().problems().is_empty());
        assert!(PasswordPolicy::nist().nist_warnings().is_empty());
        assert!(!PasswordPolicy::legacy().nist_warnings().is_empty());
        let inverted = PasswordPolicy {
            minimum_length: 30,
            maximum_length: 20,
            ..PasswordPolicy::default()
        };
        assert_eq!(inverted.problems()[0].field, "minimum_length");
        let absurd = PasswordPolicy {
            password_life_span_days: 100_000,
            ..PasswordPolicy::default()
        };
        assert_eq!(absurd.problems()[0].field, "password_life_span_days");
    }
}
