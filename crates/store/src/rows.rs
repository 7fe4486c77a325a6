//! Conversions between stored columns and domain values, shared by every table module.

use portcullis_core::{
    AppKey, OrgKey, OrgRole, PermissionSet, TeamKey, TeamRole, UserKey, Visibility,
};

use crate::{Result, StoreError};

pub(crate) fn key(id: i64) -> Result<u32> {
    u32::try_from(id).map_err(|_| StoreError::Corrupt(format!("row id {id} out of range")))
}

pub(crate) fn user_key(id: i64) -> Result<UserKey> {
    key(id).map(UserKey)
}

pub(crate) fn org_key(id: i64) -> Result<OrgKey> {
    key(id).map(OrgKey)
}

pub(crate) fn app_key(id: i64) -> Result<AppKey> {
    key(id).map(AppKey)
}

pub(crate) fn team_key(id: i64) -> Result<TeamKey> {
    key(id).map(TeamKey)
}

pub(crate) fn id_of(key: u32) -> i64 {
    i64::from(key)
}

pub(crate) fn org_role(raw: &str) -> Result<OrgRole> {
    OrgRole::parse(raw).ok_or_else(|| StoreError::Corrupt(format!("unknown role `{raw}`")))
}

pub(crate) fn team_role(raw: &str) -> Result<TeamRole> {
    TeamRole::parse(raw).ok_or_else(|| StoreError::Corrupt(format!("unknown team role `{raw}`")))
}

pub(crate) fn visibility(raw: &str) -> Result<Visibility> {
    Visibility::parse(raw).ok_or_else(|| StoreError::Corrupt(format!("unknown visibility `{raw}`")))
}

/// Scopes are stored as space-separated permission ids, or `all` so that a later permission is
/// included too.
pub(crate) fn scopes_to_text(scopes: PermissionSet) -> String {
    if scopes == PermissionSet::all() {
        "all".to_owned()
    } else {
        scopes
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

pub(crate) fn scopes_from_text(raw: &str) -> Result<PermissionSet> {
    PermissionSet::parse_scopes(raw.split_whitespace())
        .map_err(|bad| StoreError::Corrupt(format!("unknown scope `{bad}`")))
}

pub(crate) fn flag(value: i64) -> bool {
    value != 0
}
