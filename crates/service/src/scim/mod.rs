//! SCIM 2.0 provisioning of an organization (RFC 7643/7644): its tokens, its provisioned
//! members (SCIM Users) and its teams (SCIM Groups).
//!
//! Unlike the rest of the service, this module speaks the protocol's JSON: a SCIM resource
//! *is* the data model of the use case (RFC 7643), a PATCH is defined on that document, and a
//! filter is evaluated against it. What the HTTP adapter keeps is the transport: the bearer
//! token, content types, status codes, `ETag` headers and the error body.
//!
//! Every write runs through `commit` with the SCIM token as the audited credential; a refused
//! write is recorded as a failed entry of its operation in the organization's log.
//!
//! Must not: reach beyond the token's organization (every lookup is keyed by it), attach an
//! account the organization does not manage, or take the last administrator away.

mod filter;
pub mod groups;
mod patch;
mod roles;
pub mod settings;
pub mod tokens;
pub mod users;

use portcullis_core::OrgKey;
use portcullis_core::audit::Operation;
use portcullis_store::AuditRecord;
use serde_json::{Map, Value, json};

pub use settings::{ScimGroupRoleSetting, ScimSettings};
pub use tokens::{CreatedScimToken, ROTATION_OVERLAP_MS, ScimTokenRecord};

use crate::{Caller, Portcullis, Result, ServiceError};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The page size when a list asks for none, and the largest one answered.
pub const DEFAULT_COUNT: usize = 100;
pub const MAX_COUNT: usize = 1000;
/// The most operations one PATCH may carry.
pub const MAX_OPERATIONS: usize = 1000;

/// A SCIM resource as answered, with its version (the `ETag` is `W/"<version>"`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScimResource {
    pub json: Value,
    pub version: i64,
}

impl ScimResource {
    pub fn etag(&self) -> String {
        etag(self.version)
    }
}

pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// The query of a list request (`GET .../Users?filter=...&startIndex=...&count=...`).
#[derive(Debug, Clone, Default)]
pub struct ScimListQuery {
    pub filter: Option<String>,
    pub start_index: Option<String>,
    pub count: Option<String>,
    /// `excludedAttributes`: a comma-separated list (`members` leaves a group's members out).
    pub excluded_attributes: Option<String>,
}

/// One page of a list: `totalResults`, the 1-based `startIndex` and the resources.
#[derive(Debug, Clone)]
pub struct ScimList {
    pub total_results: usize,
    pub start_index: usize,
    pub resources: Vec<Value>,
}

impl ScimList {
    /// The `ListResponse` message.
    pub fn to_json(&self) -> Value {
        json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": self.total_results,
            "startIndex": self.start_index,
            "itemsPerPage": self.resources.len(),
            "Resources": self.resources,
        })
    }
}

/// A SCIM protocol error: the HTTP adapter answers `code` with its status and `scimType`.
pub(crate) fn scim_error(code: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError::invalid(code, "scim", message)
}

pub(crate) fn invalid_value(message: impl Into<String>) -> ServiceError {
    scim_error("scim.invalid_value", message)
}

pub(crate) fn precondition_failed() -> ServiceError {
    ServiceError::state(
        "scim.precondition_failed",
        "the resource changed since the version in `If-Match`",
    )
}

/// Checks `If-Match` (a list of entity tags, or `*`) against the resource's version.
pub(crate) fn check_if_match(if_match: Option<&str>, version: i64) -> Result<()> {
    let Some(header) = if_match else {
        return Ok(());
    };
    let current = version.to_string();
    let matches = header.split(',').map(str::trim).any(|tag| {
        tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == current.as_str()
    });
    if matches {
        Ok(())
    } else {
        Err(precondition_failed())
    }
}

/// `startIndex` and `count` of a list (RFC 7644 §3.4.2.4): a start below 1 counts as 1, a
/// negative count as 0; a count above [`MAX_COUNT`] is cut to it.
pub(crate) fn paging(query: &ScimListQuery) -> Result<(usize, usize)> {
    let number = |raw: &Option<String>, what: &str| -> Result<Option<i64>> {
        raw.as_deref()
            .map(|r| {
                r.trim()
                    .parse::<i64>()
                    .map_err(|_| invalid_value(format!("`{what}` must be an integer")))
            })
            .transpose()
    };
    let start = number(&query.start_index, "startIndex")?
        .unwrap_or(1)
        .max(1);
    let count = number(&query.count, "count")?
        .map_or(DEFAULT_COUNT as i64, |c| c.max(0))
        .min(MAX_COUNT as i64);
    Ok((
        usize::try_from(start).unwrap_or(1),
        usize::try_from(count).unwrap_or(0),
    ))
}

/// Applies paging to the matching resources.
pub(crate) fn page(matching: Vec<Value>, start: usize, count: usize) -> ScimList {
    let total_results = matching.len();
    let resources = matching
        .into_iter()
        .skip(start.saturating_sub(1))
        .take(count)
        .collect();
    ScimList {
        total_results,
        start_index: start,
        resources,
    }
}

/// A member of `object` by name without regard to case (SCIM attribute names are
/// case-insensitive).
pub(crate) fn get_ci<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The key of `object` that names `name` without regard to case, if any.
pub(crate) fn key_ci(object: &Map<String, Value>, name: &str) -> Option<String> {
    object
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
}

/// A boolean as clients send it: JSON `true`/`false`, or Entra ID's strings `"True"`/`"False"`.
pub(crate) fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// The base of resource locations: `<public_url>/scim/v2/orgs/<org>`.
pub fn endpoint(public_url: &str, org_id: &str) -> String {
    format!("{}/scim/v2/orgs/{org_id}", public_url.trim_end_matches('/'))
}

impl Portcullis {
    /// Records a refused SCIM write of `org` as a failed `operation` (nothing changed), with
    /// the refusal's code; then hands the error back.
    pub(crate) async fn scim_refused(
        &self,
        caller: &Caller,
        org: OrgKey,
        operation: Operation,
        targets: Value,
        err: ServiceError,
    ) -> ServiceError {
        let reason = match &err {
            ServiceError::Invalid { code, .. } | ServiceError::State { code, .. } => *code,
            ServiceError::NotAllowed { code, .. } => *code,
            ServiceError::Conflict(_) => "scim.uniqueness",
            ServiceError::LastAdmin => "member.last_admin",
            ServiceError::NotFound(_) => "not_found",
            _ => return err,
        };
        let record = AuditRecord::new(Some(org), operation, targets)
            .with_details(json!({"refused": reason, "message": err.to_string()}));
        if let Err(audit) = self
            .store()
            .record_failure(&caller.actor(), self.now(), record)
            .await
        {
            tracing::warn!(error = %audit, "could not record a refused SCIM write");
        }
        err
    }

    pub(crate) fn scim_endpoint(&self, org: OrgKey) -> String {
        endpoint(&self.config().public_url, &self.member_org_handle(org))
    }
}
