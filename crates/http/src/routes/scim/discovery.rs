//! The SCIM discovery endpoints (RFC 7644 §4): what this service provider supports, its
//! resource types, and the schemas of exactly the attributes it keeps (a client that reads
//! them, as conformance testers do, tests nothing the server would drop).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use portcullis_service::ServiceError;
use portcullis_service::scim::{
    ENTERPRISE_SCHEMA, GROUP_SCHEMA, LIST_SCHEMA, MAX_COUNT, USER_SCHEMA, endpoint,
};
use serde_json::{Value, json};

use super::{ScimCaller, ScimError, scim_json};
use crate::AppState;

const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

fn base(service: &AppState, org: &str) -> String {
    endpoint(&service.config().public_url, org)
}

pub async fn service_provider_config(
    State(service): State<AppState>,
    scim: ScimCaller,
) -> Response {
    let base = base(&service, &scim.org);
    scim_json(
        StatusCode::OK,
        &json!({
            "schemas": [SPC_SCHEMA],
            "documentationUri": "https://datatracker.ietf.org/doc/html/rfc7644",
            "patch": {"supported": true},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": MAX_COUNT},
            "changePassword": {"supported": false},
            "sort": {"supported": false},
            "etag": {"supported": true},
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "A SCIM token of the organization, created by its administrators",
                "primary": true,
            }],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": format!("{base}/ServiceProviderConfig"),
            },
        }),
    )
}

fn resource_type_docs(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "A member of the organization provisioned through SCIM",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{"schema": ENTERPRISE_SCHEMA, "required": false}],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
        }),
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "A team of the organization",
            "schema": GROUP_SCHEMA,
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")},
        }),
    ]
}

fn list(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

pub async fn resource_types(State(service): State<AppState>, scim: ScimCaller) -> Response {
    scim_json(
        StatusCode::OK,
        &list(resource_type_docs(&base(&service, &scim.org))),
    )
}

pub async fn resource_type(
    State(service): State<AppState>,
    scim: ScimCaller,
    axum::extract::Path((_, id)): axum::extract::Path<(String, String)>,
) -> Result<Response, ScimError> {
    resource_type_docs(&base(&service, &scim.org))
        .into_iter()
        .find(|d| d["id"].as_str() == Some(id.as_str()))
        .map(|d| scim_json(StatusCode::OK, &d))
        .ok_or(ScimError(ServiceError::NotFound("resource type")))
}

/// One attribute definition (RFC 7643 §7).
fn attr(name: &str, kind: &str, multi: bool, required: bool, mutability: &str) -> Value {
    json!({
        "name": name,
        "type": kind,
        "multiValued": multi,
        "description": name,
        "required": required,
        "caseExact": false,
        "mutability": mutability,
        "returned": "default",
        "uniqueness": "none",
    })
}

fn complex(name: &str, multi: bool, sub: Vec<Value>) -> Value {
    let mut a = attr(name, "complex", multi, false, "readWrite");
    a["subAttributes"] = Value::Array(sub);
    a
}

fn schema_docs(base: &str) -> Vec<Value> {
    let string = |name: &str| attr(name, "string", false, false, "readWrite");
    let mut user_name = attr("userName", "string", false, true, "readWrite");
    user_name["uniqueness"] = json!("server");
    // What a clear-cut value is stored as: the one `type` of an address and of a member.
    let canonical = |name: &str, value: &str| {
        let mut a = string(name);
        a["canonicalValues"] = json!([value]);
        a
    };
    let mut member_type = canonical("type", "User");
    member_type["mutability"] = json!("immutable");
    // An address is required unless the userName is one; the schema says required so that a
    // client sends one. `active` is required too: it is always answered (a membership is
    // suspended or not), so it cannot be removed, and a create without it means `true`.
    let mut email_value = string("value");
    email_value["required"] = json!(true);
    let mut emails = complex("emails", true, vec![email_value, canonical("type", "work")]);
    emails["required"] = json!(true);
    let mut group_ref = attr("$ref", "reference", false, false, "immutable");
    group_ref["referenceTypes"] = json!(["User"]);
    let mut member_value = attr("value", "string", false, false, "immutable");
    member_value["caseExact"] = json!(true);
    let mut display_name = attr("displayName", "string", false, true, "readWrite");
    display_name["uniqueness"] = json!("server");
    let schema = |id: &str, name: &str, attributes: Vec<Value>| {
        json!({
            "schemas": [SCHEMA_SCHEMA],
            "id": id,
            "name": name,
            "description": name,
            "attributes": attributes,
            "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")},
        })
    };
    vec![
        schema(
            USER_SCHEMA,
            "User",
            vec![
                user_name,
                complex(
                    "name",
                    false,
                    vec![string("familyName"), string("givenName")],
                ),
                string("displayName"),
                emails,
                attr("active", "boolean", false, true, "readWrite"),
            ],
        ),
        schema(
            GROUP_SCHEMA,
            "Group",
            vec![
                display_name,
                complex("members", true, vec![member_value, group_ref, member_type]),
            ],
        ),
        schema(
            ENTERPRISE_SCHEMA,
            "EnterpriseUser",
            vec![
                string("employeeNumber"),
                string("costCenter"),
                string("organization"),
                string("division"),
                string("department"),
                complex("manager", false, vec![string("value")]),
            ],
        ),
    ]
}

pub async fn schemas(State(service): State<AppState>, scim: ScimCaller) -> Response {
    scim_json(
        StatusCode::OK,
        &list(schema_docs(&base(&service, &scim.org))),
    )
}

pub async fn schema(
    State(service): State<AppState>,
    scim: ScimCaller,
    axum::extract::Path((_, id)): axum::extract::Path<(String, String)>,
) -> Result<Response, ScimError> {
    schema_docs(&base(&service, &scim.org))
        .into_iter()
        .find(|d| d["id"].as_str() == Some(id.as_str()))
        .map(|d| scim_json(StatusCode::OK, &d))
        .ok_or(ScimError(ServiceError::NotFound("schema")))
}
