//! Evaluation of SCIM filters (RFC 7644 §3.4.2.2) against a resource's JSON document. The
//! grammar is parsed by the `scim_v2` crate (with its nesting-depth limit); this module only
//! decides what a parsed filter matches.
//!
//! Attribute names are case-insensitive; string comparisons are too, except for the
//! attributes RFC 7643 marks `caseExact` (`id`, `externalId`, `meta.version`). A multi-valued
//! attribute matches when any of its values does; a complex one without a sub-attribute is
//! compared by its `value`.

use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, Filter, ValFilter};
use serde_json::Value;

use super::{ENTERPRISE_SCHEMA, get_ci, scim_error};
use crate::Result;

/// The longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;

pub(crate) fn parse(raw: &str) -> Result<Filter> {
    if raw.len() > MAX_FILTER_LEN {
        return Err(scim_error(
            "scim.invalid_filter",
            format!("a filter must be at most {MAX_FILTER_LEN} bytes"),
        ));
    }
    raw.parse::<Filter>()
        .map_err(|e| scim_error("scim.invalid_filter", format!("invalid filter: {e}")))
}

pub(crate) fn matches(filter: &Filter, resource: &Value) -> bool {
    match filter {
        Filter::Attr(exp) => attr_matches(exp, resource),
        Filter::ValuePath(vp) => elements_of(resource, &vp.attr)
            .into_iter()
            .any(|element| val_matches(&vp.filter, element)),
        Filter::Not(inner) => !matches(inner, resource),
        Filter::And(a, b) => matches(a, resource) && matches(b, resource),
        Filter::Or(a, b) => matches(a, resource) || matches(b, resource),
    }
}

/// Whether one element of a multi-valued attribute matches a `[...]` filter.
pub(crate) fn val_matches(filter: &ValFilter, element: &Value) -> bool {
    match filter {
        ValFilter::Attr(exp) => attr_matches(exp, element),
        ValFilter::Not(inner) => !val_matches(inner, element),
        ValFilter::And(a, b) => val_matches(a, element) && val_matches(b, element),
        ValFilter::Or(a, b) => val_matches(a, element) || val_matches(b, element),
    }
}

fn attr_matches(exp: &AttrExp, resource: &Value) -> bool {
    match exp {
        AttrExp::Present(path) => values_of(resource, path).iter().any(present),
        AttrExp::Comparison(path, op, value) => {
            let case_exact = case_exact(path);
            let values = values_of(resource, path);
            match op {
                // `ne` holds when no value equals (an absent attribute included).
                CompareOp::Ne => !values
                    .iter()
                    .any(|v| compare(v, &CompareOp::Eq, value, case_exact)),
                _ => values.iter().any(|v| compare(v, op, value, case_exact)),
            }
        }
    }
}

fn present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn case_exact(path: &AttrPath) -> bool {
    let name = path.name.as_str();
    let sub = path.sub_attr.as_deref();
    name.eq_ignore_ascii_case("id")
        || name.eq_ignore_ascii_case("externalId")
        || (name.eq_ignore_ascii_case("meta")
            && sub.is_some_and(|s| s.eq_ignore_ascii_case("version")))
}

/// The elements of the (multi-valued) attribute `path` names, each whole: what a value
/// filter `attr[...]` selects from.
fn elements_of<'a>(resource: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    let Some(object) = resource.as_object() else {
        return Vec::new();
    };
    let container = match &path.uri {
        Some(uri) if uri.eq_ignore_ascii_case(ENTERPRISE_SCHEMA) => {
            match get_ci(object, ENTERPRISE_SCHEMA).and_then(Value::as_object) {
                Some(extension) => extension,
                None => return Vec::new(),
            }
        }
        _ => object,
    };
    match get_ci(container, &path.name) {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other],
    }
}

/// The values an attribute path reaches in `resource`: several for a multi-valued attribute,
/// none when it is absent.
pub(crate) fn values_of(resource: &Value, path: &AttrPath) -> Vec<Value> {
    let elements = elements_of(resource, path);
    elements
        .into_iter()
        .filter_map(|element| match (&path.sub_attr, element) {
            (Some(sub), Value::Object(o)) => get_ci(o, sub).cloned(),
            (Some(_), _) => None,
            // A complex value compared as a whole is compared by its `value`.
            (None, Value::Object(o)) if !o.is_empty() && get_ci(o, "value").is_some() => {
                get_ci(o, "value").cloned()
            }
            (None, other) => Some(other.clone()),
        })
        .collect()
}

fn compare(actual: &Value, op: &CompareOp, expected: &CompValue, case_exact: bool) -> bool {
    match (actual, expected) {
        (Value::String(a), CompValue::Str(e)) => {
            let (a, e) = if case_exact {
                (a.clone(), e.clone())
            } else {
                (a.to_lowercase(), e.to_lowercase())
            };
            match op {
                CompareOp::Eq => a == e,
                CompareOp::Ne => a != e,
                CompareOp::Co => a.contains(&e),
                CompareOp::Sw => a.starts_with(&e),
                CompareOp::Ew => a.ends_with(&e),
                CompareOp::Gt => a > e,
                CompareOp::Ge => a >= e,
                CompareOp::Lt => a < e,
                CompareOp::Le => a <= e,
            }
        }
        (Value::Bool(a), CompValue::True | CompValue::False) => {
            let e = matches!(expected, CompValue::True);
            match op {
                CompareOp::Eq => *a == e,
                CompareOp::Ne => *a != e,
                _ => false,
            }
        }
        (Value::Number(a), CompValue::Number(e)) => {
            let (Some(a), Some(e)) = (a.as_f64(), e.as_f64()) else {
                return false;
            };
            match op {
                CompareOp::Eq => a == e,
                CompareOp::Ne => a != e,
                CompareOp::Gt => a > e,
                CompareOp::Ge => a >= e,
                CompareOp::Lt => a < e,
                CompareOp::Le => a <= e,
                _ => false,
            }
        }
        (Value::Null, CompValue::Null) => matches!(op, CompareOp::Eq),
        _ => false,
    }
}

/// The `userName` a filter asks for exactly (`userName eq "..."`, the look-up Okta and Entra
/// ID make before every create), so it can be answered by one indexed read.
pub(crate) fn user_name_eq(filter: &Filter) -> Option<&str> {
    match filter {
        Filter::Attr(AttrExp::Comparison(path, CompareOp::Eq, CompValue::Str(value)))
            if path.sub_attr.is_none()
                && path.name.eq_ignore_ascii_case("userName")
                && path
                    .uri
                    .as_deref()
                    .is_none_or(|u| u.eq_ignore_ascii_case(super::USER_SCHEMA)) =>
        {
            Some(value.as_str())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn user() -> Value {
        json!({
            "id": "bjensen-1",
            "userName": "Bjensen@Example.com",
            "externalId": "00uAbC",
            "displayName": "Barbara Jensen",
            "active": true,
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}],
            ENTERPRISE_SCHEMA: {"department": "Tour Operations"},
        })
    }

    fn check(raw: &str) -> bool {
        matches(&parse(raw).unwrap(), &user())
    }

    #[test]
    fn filters_match_as_rfc_7644_says() {
        for (filter, expected) in [
            (r#"userName eq "bjensen@example.com""#, true),
            (r#"USERNAME Eq "BJENSEN@EXAMPLE.COM""#, true),
            (r#"userName eq "other""#, false),
            (r#"userName sw "bjen""#, true),
            (r#"userName co "@example""#, true),
            (r#"userName ew ".com""#, true),
            (r#"userName ne "other""#, true),
            (r#"externalId eq "00uAbC""#, true),
            (r#"externalId eq "00uabc""#, false),
            (r#"emails.value eq "BJENSEN@example.com""#, true),
            (r#"emails eq "bjensen@example.com""#, true),
            (r#"emails[type eq "work" and value co "jensen"]"#, true),
            (r#"emails[type eq "home"]"#, false),
            ("title pr", false),
            ("name.givenName pr", true),
            ("active eq true", true),
            ("active eq false", false),
            (
                r#"displayName eq "barbara jensen" and active eq true"#,
                true,
            ),
            (r#"displayName eq "x" or externalId eq "00uAbC""#, true),
            (r#"not (userName eq "bjensen@example.com")"#, false),
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "tour operations""#,
                true,
            ),
            (r#"title ne "x""#, true),
        ] {
            assert_eq!(check(filter), expected, "{filter}");
        }
    }

    #[test]
    fn malformed_and_oversized_filters_are_refused() {
        for raw in ["userName eq", "userName zz \"x\"", "(userName eq \"x\"", ""] {
            assert!(parse(raw).is_err(), "{raw}");
        }
        assert!(parse(&format!("userName eq \"{}\"", "x".repeat(MAX_FILTER_LEN))).is_err());
    }

    #[test]
    fn the_user_name_look_up_is_recognised() {
        assert_eq!(
            user_name_eq(&parse(r#"userName eq "a@b.c""#).unwrap()),
            Some("a@b.c")
        );
        assert_eq!(user_name_eq(&parse(r#"userName sw "a""#).unwrap()), None);
        assert_eq!(
            user_name_eq(&parse(r#"userName eq "a" and active eq true"#).unwrap()),
            None
        );
    }
}
