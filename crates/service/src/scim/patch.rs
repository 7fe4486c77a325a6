//! SCIM PATCH (RFC 7644 §3.5.2) applied to a resource's JSON document; the use case then
//! stores the document as a replace would. Paths are parsed by the `scim_v2` crate.
//!
//! What real clients send is accepted: operation names in any case (Entra ID's `"Replace"`),
//! an operation without a path whose value is an object of attributes (dotted or
//! schema-qualified names included), and `add`/`replace` on a value filter that matches
//! nothing, which adds the element the filter describes (Entra ID's
//! `emails[type eq "work"].value`).

use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, PatchPath, ValFilter};
use serde_json::{Map, Value};

use super::filter::val_matches;
use super::{
    ENTERPRISE_SCHEMA, MAX_OPERATIONS, PATCH_SCHEMA, USER_SCHEMA, get_ci, key_ci, scim_error,
};
use crate::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Add,
    Replace,
    Remove,
}

/// One operation of a PATCH request.
#[derive(Debug, Clone)]
pub(crate) struct Operation {
    pub op: Op,
    pub path: Option<String>,
    pub value: Option<Value>,
}

/// Reads a `PatchOp` message.
pub(crate) fn operations(body: &Value) -> Result<Vec<Operation>> {
    let object = body
        .as_object()
        .ok_or_else(|| invalid_syntax("a PATCH body is a JSON object"))?;
    let schemas_ok = get_ci(object, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|v| v.as_str() == Some(PATCH_SCHEMA)));
    if !schemas_ok {
        return Err(invalid_syntax(format!(
            "a PATCH body must name the schema `{PATCH_SCHEMA}`"
        )));
    }
    let ops = get_ci(object, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid_syntax("a PATCH body needs an `Operations` array"))?;
    if ops.is_empty() || ops.len() > MAX_OPERATIONS {
        return Err(invalid_syntax(format!(
            "a PATCH carries 1 to {MAX_OPERATIONS} operations"
        )));
    }
    ops.iter()
        .map(|raw| {
            let o = raw
                .as_object()
                .ok_or_else(|| invalid_syntax("each operation is a JSON object"))?;
            let op = match get_ci(o, "op").and_then(Value::as_str) {
                Some(s) if s.eq_ignore_ascii_case("add") => Op::Add,
                Some(s) if s.eq_ignore_ascii_case("replace") => Op::Replace,
                Some(s) if s.eq_ignore_ascii_case("remove") => Op::Remove,
                _ => {
                    return Err(invalid_syntax("`op` must be `add`, `replace` or `remove`"));
                }
            };
            let path = match get_ci(o, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) => Some(p.clone()),
                Some(_) => return Err(scim_error("scim.invalid_path", "`path` is a string")),
            };
            let value = get_ci(o, "value").cloned();
            if op != Op::Remove && value.is_none() {
                return Err(invalid_syntax("`add` and `replace` need a `value`"));
            }
            if op == Op::Remove && path.is_none() {
                return Err(scim_error("scim.no_target", "`remove` needs a `path`"));
            }
            Ok(Operation { op, path, value })
        })
        .collect()
}

fn invalid_syntax(message: impl Into<String>) -> crate::ServiceError {
    scim_error("scim.invalid_syntax", message)
}

/// Applies `operation` to `resource` (a JSON object).
pub(crate) fn apply(resource: &mut Value, operation: &Operation) -> Result<()> {
    let Some(root) = resource.as_object_mut() else {
        return Err(invalid_syntax("the resource is not an object"));
    };
    match &operation.path {
        None => {
            let Some(Value::Object(attributes)) = &operation.value else {
                return Err(scim_error(
                    "scim.invalid_value",
                    "an operation without `path` needs an object `value`",
                ));
            };
            for (name, value) in attributes {
                apply_at(root, operation.op, name, Some(value))?;
            }
            Ok(())
        }
        Some(path) => apply_at(root, operation.op, path, operation.value.as_ref()),
    }
}

fn apply_at(
    root: &mut Map<String, Value>,
    op: Op,
    raw_path: &str,
    value: Option<&Value>,
) -> Result<()> {
    // The whole extension as one attribute (`"urn:...:enterprise:2.0:User": {...}`).
    if raw_path.eq_ignore_ascii_case(ENTERPRISE_SCHEMA) {
        let extension = container(root, Some(ENTERPRISE_SCHEMA), op != Op::Remove)?;
        let Some(extension) = extension else {
            return Ok(());
        };
        match (op, value) {
            (Op::Remove, _) => extension.clear(),
            (_, Some(Value::Object(attributes))) => {
                for (name, value) in attributes {
                    set(extension, op, name, None, value);
                }
            }
            _ => {
                return Err(scim_error(
                    "scim.invalid_value",
                    "the enterprise extension is an object",
                ));
            }
        }
        return Ok(());
    }
    let path: PatchPath = raw_path.parse().map_err(|e| {
        scim_error(
            "scim.invalid_path",
            format!("invalid path `{raw_path}`: {e}"),
        )
    })?;
    match path {
        PatchPath::Attr(attr) => {
            let Some(target) = container(root, attr.uri.as_deref(), op != Op::Remove)? else {
                return Ok(());
            };
            match (op, value) {
                (Op::Remove, _) => remove(target, &attr, value),
                (_, Some(value)) => {
                    set(target, op, &attr.name, attr.sub_attr.as_deref(), value);
                    Ok(())
                }
                (_, None) => Err(invalid_syntax("`add` and `replace` need a `value`")),
            }
        }
        PatchPath::Value(vp) => {
            let Some(target) = container(root, vp.attr.uri.as_deref(), op != Op::Remove)? else {
                return Ok(());
            };
            let key = key_ci(target, &vp.attr.name).unwrap_or_else(|| vp.attr.name.clone());
            let elements = target
                .entry(key)
                .or_insert_with(|| Value::Array(Vec::new()));
            if elements.is_null() {
                *elements = Value::Array(Vec::new());
            }
            let Value::Array(elements) = elements else {
                return Err(scim_error(
                    "scim.invalid_path",
                    format!("`{}` is not multi-valued", vp.attr.name),
                ));
            };
            match op {
                Op::Remove => match &vp.sub_attr {
                    None => elements.retain(|e| !val_matches(&vp.filter, e)),
                    Some(sub) => {
                        for e in elements.iter_mut().filter(|e| val_matches(&vp.filter, e)) {
                            if let Some(o) = e.as_object_mut()
                                && let Some(k) = key_ci(o, sub)
                            {
                                o.remove(&k);
                            }
                        }
                    }
                },
                Op::Add | Op::Replace => {
                    let Some(value) = value else {
                        return Err(invalid_syntax("`add` and `replace` need a `value`"));
                    };
                    let mut matched = false;
                    for e in elements.iter_mut().filter(|e| val_matches(&vp.filter, e)) {
                        matched = true;
                        merge_element(e, vp.sub_attr.as_deref(), value);
                    }
                    if !matched {
                        let mut element = Value::Object(described_by(&vp.filter));
                        merge_element(&mut element, vp.sub_attr.as_deref(), value);
                        elements.push(element);
                    }
                }
            }
            Ok(())
        }
    }
}

/// The object an attribute of schema `uri` lives in: the resource itself for the core
/// schemas, the extension's object for the enterprise extension (created when `create`).
fn container<'a>(
    root: &'a mut Map<String, Value>,
    uri: Option<&str>,
    create: bool,
) -> Result<Option<&'a mut Map<String, Value>>> {
    match uri {
        None => Ok(Some(root)),
        Some(u)
            if u.eq_ignore_ascii_case(USER_SCHEMA)
                || u.eq_ignore_ascii_case(super::GROUP_SCHEMA) =>
        {
            Ok(Some(root))
        }
        Some(u) if u.eq_ignore_ascii_case(ENTERPRISE_SCHEMA) => {
            let key = key_ci(root, ENTERPRISE_SCHEMA);
            if key.is_none() && !create {
                return Ok(None);
            }
            let entry = root
                .entry(key.unwrap_or_else(|| ENTERPRISE_SCHEMA.to_owned()))
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            Ok(entry.as_object_mut())
        }
        Some(u) => Err(scim_error(
            "scim.invalid_path",
            format!("unknown schema `{u}`"),
        )),
    }
}

/// `add`/`replace` of `name` (or `name.sub`) in `target`. `add` to a multi-valued attribute
/// appends the values it does not hold yet; anything else replaces.
fn set(target: &mut Map<String, Value>, op: Op, name: &str, sub: Option<&str>, value: &Value) {
    let key = key_ci(target, name).unwrap_or_else(|| name.to_owned());
    match sub {
        Some(sub) => {
            let entry = target
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Some(o) = entry.as_object_mut() {
                let sub_key = key_ci(o, sub).unwrap_or_else(|| sub.to_owned());
                o.insert(sub_key, value.clone());
            }
        }
        None => match (op, target.get_mut(&key), value) {
            (Op::Add, Some(Value::Array(existing)), Value::Array(new)) => {
                for item in new {
                    if !existing.iter().any(|e| same_value(e, item)) {
                        existing.push(item.clone());
                    }
                }
            }
            (Op::Add, Some(Value::Object(existing)), Value::Object(new)) => {
                for (k, v) in new {
                    let k = key_ci(existing, k).unwrap_or_else(|| k.clone());
                    existing.insert(k, v.clone());
                }
            }
            _ => {
                target.insert(key, value.clone());
            }
        },
    }
}

/// Two values of a multi-valued attribute are the same when their `value`s are (or, without
/// one, when they are equal).
fn same_value(a: &Value, b: &Value) -> bool {
    match (
        a.as_object().and_then(|o| get_ci(o, "value")),
        b.as_object().and_then(|o| get_ci(o, "value")),
    ) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn remove(target: &mut Map<String, Value>, attr: &AttrPath, value: Option<&Value>) -> Result<()> {
    let Some(key) = key_ci(target, &attr.name) else {
        return Ok(());
    };
    match &attr.sub_attr {
        Some(sub) => {
            if let Some(o) = target.get_mut(&key).and_then(Value::as_object_mut)
                && let Some(k) = key_ci(o, sub)
            {
                o.remove(&k);
            }
        }
        None => match (target.get_mut(&key), value) {
            // Entra ID removes group members by value: `{"path": "members", "value": [...]}`.
            (Some(Value::Array(existing)), Some(Value::Array(gone))) => {
                existing.retain(|e| !gone.iter().any(|g| same_value(e, g)));
            }
            _ => {
                target.remove(&key);
            }
        },
    }
    Ok(())
}

fn merge_element(element: &mut Value, sub: Option<&str>, value: &Value) {
    let Some(o) = element.as_object_mut() else {
        *element = value.clone();
        return;
    };
    match (sub, value) {
        (Some(sub), _) => {
            let k = key_ci(o, sub).unwrap_or_else(|| sub.to_owned());
            o.insert(k, value.clone());
        }
        (None, Value::Object(fields)) => {
            for (k, v) in fields {
                let k = key_ci(o, k).unwrap_or_else(|| k.clone());
                o.insert(k, v.clone());
            }
        }
        (None, other) => *element = other.clone(),
    }
}

/// The element a value filter describes by its `eq` comparisons (`type eq "work"` gives
/// `{"type": "work"}`), for an `add` that matched nothing.
fn described_by(filter: &ValFilter) -> Map<String, Value> {
    let mut fields = Map::new();
    let mut stack = vec![filter];
    while let Some(f) = stack.pop() {
        match f {
            ValFilter::Attr(AttrExp::Comparison(path, CompareOp::Eq, value))
                if path.sub_attr.is_none() =>
            {
                let value = match value {
                    CompValue::Str(s) => Value::String(s.clone()),
                    CompValue::True => Value::Bool(true),
                    CompValue::False => Value::Bool(false),
                    CompValue::Number(n) => Value::Number(n.clone()),
                    CompValue::Null => continue,
                };
                fields.insert(path.name.clone(), value);
            }
            ValFilter::And(a, b) => {
                stack.push(a);
                stack.push(b);
            }
            _ => {}
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn patch(resource: &mut Value, ops: Value) -> Result<()> {
        let body = json!({"schemas": [PATCH_SCHEMA], "Operations": ops});
        for op in operations(&body)? {
            apply(resource, &op)?;
        }
        Ok(())
    }

    #[test]
    fn entra_and_okta_shapes_apply() {
        let mut user = json!({
            "userName": "a@example.com",
            "active": true,
            "emails": [{"value": "a@example.com", "type": "work", "primary": true}],
        });
        patch(
            &mut user,
            json!([
                {"op": "Replace", "path": "active", "value": "False"},
                {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "b@example.com"},
                {"op": "Add", "path": "emails[type eq \"home\"].value", "value": "h@example.com"},
                {"op": "replace", "value": {"name.givenName": "Ann", "displayName": "Ann A"}},
                {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "R&D"},
                {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": {"value": "boss"}},
            ]),
        )
        .unwrap();
        assert_eq!(user["active"], json!("False"));
        assert_eq!(user["emails"][0]["value"], json!("b@example.com"));
        assert_eq!(
            user["emails"][1],
            json!({"type": "home", "value": "h@example.com"})
        );
        assert_eq!(user["name"]["givenName"], json!("Ann"));
        assert_eq!(user["displayName"], json!("Ann A"));
        assert_eq!(user[ENTERPRISE_SCHEMA]["department"], json!("R&D"));
        assert_eq!(user[ENTERPRISE_SCHEMA]["manager"]["value"], json!("boss"));
    }

    #[test]
    fn group_members_are_added_and_removed_by_value() {
        let mut group = json!({"displayName": "g", "members": [{"value": "a"}, {"value": "b"}]});
        patch(
            &mut group,
            json!([
                {"op": "add", "path": "members", "value": [{"value": "b"}, {"value": "c"}]},
                {"op": "remove", "path": "members[value eq \"a\"]"},
                {"op": "Remove", "path": "members", "value": [{"value": "c"}]},
            ]),
        )
        .unwrap();
        assert_eq!(group["members"], json!([{"value": "b"}]));
        patch(
            &mut group,
            json!([{"op": "replace", "path": "members", "value": []}]),
        )
        .unwrap();
        assert_eq!(group["members"], json!([]));
    }

    #[test]
    fn malformed_operations_are_refused() {
        let mut r = json!({});
        for ops in [
            json!([]),
            json!([{"op": "move", "path": "a", "value": 1}]),
            json!([{"op": "remove"}]),
            json!([{"op": "add", "path": "a"}]),
            json!([{"op": "add", "path": "a[", "value": 1}]),
            json!([{"op": "add", "value": "not an object"}]),
            json!([{"op": "add", "path": "urn:x:y:z", "value": 1}]),
        ] {
            assert!(patch(&mut r, ops.clone()).is_err(), "{ops}");
        }
        let no_schema = json!({"Operations": [{"op": "add", "path": "a", "value": 1}]});
        assert!(operations(&no_schema).is_err());
    }
}
