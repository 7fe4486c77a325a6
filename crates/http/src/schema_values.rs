//! The allowed values and lengths of the API's string fields, written into the OpenAPI
//! document from core's tables (roles, permissions, team roles, visibility, the length of the id
//! a create request chooses), so the document states them as `enum` and `maxLength` instead of
//! prose and cannot drift from what the server accepts. Path parameters get no `maxLength`:
//! with it, schemathesis 4.32's coverage phase crashes inside CPython 3.11's parser ("AST
//! constructor recursion depth mismatch") on some of them.
//!
//! The DTOs keep plain strings (their parsing and its problem codes live in the service); this
//! table says which property of which schema takes which values. A test checks that every entry
//! names a property the document has.

use portcullis_core::ids::MAX_ID_LEN;
use portcullis_core::{Level, OrgRole, Permission, TeamRole, Visibility};
use serde_json::{Value, json};

/// A set of values from one of core's tables.
#[derive(Debug, Clone, Copy)]
enum Values {
    OrgRole,
    TeamRole,
    Permission,
    /// Permission ids, or `all` (key scopes as requested).
    Scope,
    Visibility,
    Level,
}

impl Values {
    fn list(self) -> Vec<&'static str> {
        match self {
            Values::OrgRole => OrgRole::ALL.iter().map(|r| r.as_str()).collect(),
            Values::TeamRole => TeamRole::ALL.iter().map(|r| r.as_str()).collect(),
            Values::Permission => Permission::ALL.iter().map(|p| p.as_str()).collect(),
            Values::Scope => std::iter::once("all")
                .chain(Permission::ALL.iter().map(|p| p.as_str()))
                .collect(),
            Values::Visibility => Visibility::ALL.iter().map(|v| v.as_str()).collect(),
            Values::Level => [Level::Org, Level::App].map(Level::as_str).to_vec(),
        }
    }
}

/// (schema, property, values). A property that is an array takes the values for its items.
const PROPERTIES: &[(&str, &str, Values)] = &[
    ("ChangeRoleRequest", "role", Values::OrgRole),
    ("CreateInvitationRequest", "role", Values::OrgRole),
    ("InvitationDto", "role", Values::OrgRole),
    ("MemberDto", "role", Values::OrgRole),
    ("MemberAccessDto", "role", Values::OrgRole),
    ("PrincipalDto", "role", Values::OrgRole),
    ("IdpDto", "default_role", Values::OrgRole),
    ("IdpRequest", "default_role", Values::OrgRole),
    ("ScimSettingsDto", "default_role", Values::OrgRole),
    ("ScimSettingsRequest", "default_role", Values::OrgRole),
    ("ScimGroupRoleDto", "role", Values::OrgRole),
    ("CreateTeamRequest", "default_role", Values::TeamRole),
    ("UpdateTeamRequest", "default_role", Values::TeamRole),
    ("TeamDto", "default_role", Values::TeamRole),
    ("TeamDetailDto", "default_role", Values::TeamRole),
    ("SetTeamAppRequest", "role", Values::TeamRole),
    ("TeamAppDto", "role", Values::TeamRole),
    ("CheckRequestDto", "permission", Values::Permission),
    ("AuthzenAction", "name", Values::Permission),
    ("HeldPermissionDto", "permission", Values::Permission),
    ("Problem", "permission", Values::Permission),
    ("MyPermissions", "permissions", Values::Permission),
    ("RoleDto", "permissions", Values::Permission),
    ("TeamRoleDto", "permissions", Values::Permission),
    ("CollaborationDto", "permissions", Values::Permission),
    ("CollaboratorDto", "permissions", Values::Permission),
    ("SetCollaboratorRequest", "permissions", Values::Permission),
    ("SetCollaboratorReply", "permissions", Values::Permission),
    ("CreateAppKeyRequest", "scopes", Values::Permission),
    ("KeyDto", "scopes", Values::Permission),
    ("CreateKeyRequest", "scopes", Values::Scope),
    ("PermissionDto", "level", Values::Level),
    ("AppDto", "visibility", Values::Visibility),
    ("AppAccessDto", "visibility", Values::Visibility),
    ("CreateAppRequest", "visibility", Values::Visibility),
    ("UpdateAppRequest", "visibility", Values::Visibility),
    ("ItemDto", "visibility", Values::Visibility),
    ("CreateItemRequest", "visibility", Values::Visibility),
    ("UpdateItemRequest", "visibility", Values::Visibility),
    ("ClusterDto", "visibility", Values::Visibility),
    ("CreateClusterRequest", "visibility", Values::Visibility),
    ("UpdateClusterRequest", "visibility", Values::Visibility),
    ("NodepoolDto", "visibility", Values::Visibility),
    ("CreateNodepoolRequest", "visibility", Values::Visibility),
    ("UpdateNodepoolRequest", "visibility", Values::Visibility),
    ("DeploymentDto", "visibility", Values::Visibility),
    ("CreateDeploymentRequest", "visibility", Values::Visibility),
    ("UpdateDeploymentRequest", "visibility", Values::Visibility),
];

/// Writes the values and id lengths into `doc` (the JSON form of the document).
pub(crate) fn declare(doc: &mut Value) {
    for (schema, property, values) in PROPERTIES {
        if let Some(target) = doc.pointer_mut(&format!(
            "/components/schemas/{schema}/properties/{property}"
        )) {
            restrict(target, &values.list());
        }
    }
    for (name, schema) in doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flatten()
    {
        // The id a create request chooses.
        if name.starts_with("Create")
            && let Some(id) = schema.pointer_mut("/properties/id")
            && is_string(id)
        {
            id["maxLength"] = json!(MAX_ID_LEN);
        }
    }
}

fn is_string(schema: &Value) -> bool {
    match &schema["type"] {
        Value::String(t) => t == "string",
        Value::Array(types) => types.iter().any(|t| t == "string"),
        _ => false,
    }
}

/// Sets `enum` on a string schema (with `null` when it is nullable), or on an array's items.
fn restrict(schema: &mut Value, values: &[&str]) {
    if schema["type"] == "array"
        || schema["type"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == "array"))
    {
        if let Some(items) = schema.get_mut("items") {
            restrict(items, values);
        }
        return;
    }
    let mut allowed: Vec<Value> = values.iter().map(|v| json!(v)).collect();
    if schema["type"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t == "null"))
    {
        allowed.push(Value::Null);
    }
    schema["enum"] = Value::Array(allowed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_property_exists_and_gets_cores_values() {
        let doc = crate::openapi::openapi();
        for (schema, property, values) in PROPERTIES {
            let at = format!("/components/schemas/{schema}/properties/{property}");
            let found = doc
                .pointer(&at)
                .unwrap_or_else(|| panic!("{at}: not in the document"));
            let listed = found
                .get("enum")
                .or_else(|| found.pointer("/items/enum"))
                .unwrap_or_else(|| panic!("{at}: no enum: {found}"));
            let strings: Vec<&str> = listed
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(strings, values.list(), "{at}");
        }
        assert!(
            PROPERTIES
                .iter()
                .any(|(_, _, v)| v.list() == ["private", "org", "public"])
        );
        assert_eq!(
            doc.pointer("/components/schemas/CreateTeamRequest/properties/id/maxLength"),
            Some(&json!(MAX_ID_LEN))
        );
    }
}
