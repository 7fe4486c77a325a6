//! Response DTOs shared by several route modules, and time formatting. Request DTOs live with
//! their routes. Domain types are never serialized directly.

use portcullis_service::store::{CredentialRecord, OrgRecord, UserRecord};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

/// Milliseconds since the epoch as RFC 3339 UTC.
pub fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Parses an RFC 3339 time into milliseconds since the epoch.
pub fn parse_rfc3339(raw: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(raw, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserDto {
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// `active` or `suspended`.
    pub state: String,
    pub operator: bool,
    pub created_at: String,
    pub modified_at: String,
}

impl From<UserRecord> for UserDto {
    fn from(u: UserRecord) -> Self {
        Self {
            id: u.id,
            email: u.email,
            first_name: u.first_name,
            last_name: u.last_name,
            state: if u.active { "active" } else { "suspended" }.to_owned(),
            operator: u.operator,
            created_at: rfc3339(u.created_at),
            modified_at: rfc3339(u.modified_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrgDto {
    pub id: String,
    pub name: String,
    pub billing_email: String,
    pub created_at: String,
    pub modified_at: String,
}

impl From<OrgRecord> for OrgDto {
    fn from(o: OrgRecord) -> Self {
        Self {
            id: o.id,
            name: o.name,
            billing_email: o.billing_email,
            created_at: rfc3339(o.created_at),
            modified_at: rfc3339(o.modified_at),
        }
    }
}

/// A credential as listed (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyDto {
    pub id: String,
    /// `pat` or `service_key`.
    pub kind: String,
    pub description: String,
    pub scopes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
}

impl KeyDto {
    pub fn new(record: CredentialRecord, org: Option<String>) -> Self {
        Self {
            id: record.public_id,
            kind: record.kind.as_str().to_owned(),
            description: record.description,
            scopes: record
                .scopes
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect(),
            org,
            created_at: rfc3339(record.created_at),
            expires_at: record.expires_at.map(rfc3339),
            last_used_at: record.last_used_at.map(rfc3339),
        }
    }
}
