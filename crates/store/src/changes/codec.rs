//! The change feed's payload: a JSON array of objects tagged by `t`, with store ids for keys
//! and the stable text forms of roles, visibilities, kinds and scopes (the same as the tables
//! use), so the payload never depends on in-memory representations. Derived with serde from a
//! private mirror of [`Change`]; rows written by earlier versions decode, and the same changes
//! encode to the same bytes (`tests/suite/change_feed.rs` holds payloads they wrote).

use portcullis_core::index::{Account, CredentialEntry, ItemKind};
use portcullis_core::{
    AppKey, Change, CredentialKind, OrgKey, OrgRole, PermissionSet, TeamKey, TeamRole, Timestamp,
    UserKey, Visibility,
};
use serde::{Deserialize, Serialize, Serializer};

use crate::rows::{app_key, id_of, org_key, team_key, user_key};
use crate::{Result, StoreError};

/// Encodes a write's changes as the feed's JSON text.
///
/// Through a `serde_json::Value`, whose objects keep their keys sorted (serde_json without
/// `preserve_order`, as the fixture test checks): the text stays byte-for-byte what earlier
/// versions wrote for the same changes.
pub fn encode_changes(changes: &[Change]) -> Result<String> {
    let entries: Vec<Encoded<'_>> = changes.iter().map(Encoded).collect();
    serde_json::to_value(entries)
        .map(|value| value.to_string())
        .map_err(|err| StoreError::Corrupt(format!("change feed entry: {err}")))
}

/// Decodes the feed's JSON text back into changes. Unknown tags are corruption: a server must
/// never skip a change it does not understand (it would silently diverge).
pub fn decode_changes(payload: &str) -> Result<Vec<Change>> {
    let entries: Vec<Decoded> = serde_json::from_str(payload)
        .map_err(|err| StoreError::Corrupt(format!("change feed payload: {err}")))?;
    Ok(entries.into_iter().map(|Decoded(change)| change).collect())
}

struct Encoded<'a>(&'a Change);

impl Serialize for Encoded<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ChangeEntry::serialize(self.0, serializer)
    }
}

#[derive(Deserialize)]
struct Decoded(#[serde(with = "ChangeEntry")] Change);

/// The feed's form of a [`Change`]: an object tagged by `t`. A mirror of `Change` (serde's
/// remote derive checks the variants and fields against it at compile time); keys are stored
/// ids, roles, visibilities, kinds and scopes their stable text forms.
#[derive(Serialize, Deserialize)]
#[serde(remote = "Change", tag = "t")]
enum ChangeEntry {
    #[serde(rename = "user")]
    UserUpserted {
        #[serde(with = "key")]
        key: UserKey,
        id: String,
        active: bool,
        operator: bool,
    },
    #[serde(rename = "org")]
    OrgCreated {
        #[serde(with = "key")]
        key: OrgKey,
        id: String,
    },
    #[serde(rename = "org_deleted")]
    OrgDeleted {
        #[serde(with = "key")]
        key: OrgKey,
    },
    #[serde(rename = "org_sso")]
    OrgSsoEnforced {
        #[serde(with = "key")]
        key: OrgKey,
        enforced: bool,
    },
    #[serde(rename = "org_two_factor")]
    OrgTwoFactorRequired {
        #[serde(with = "key")]
        key: OrgKey,
        required: bool,
    },
    #[serde(rename = "user_two_factor")]
    UserTwoFactor {
        #[serde(with = "key")]
        key: UserKey,
        enabled: bool,
    },
    #[serde(rename = "member")]
    MemberSet {
        #[serde(with = "key")]
        org: OrgKey,
        #[serde(with = "key")]
        user: UserKey,
        #[serde(with = "text")]
        role: OrgRole,
    },
    #[serde(rename = "member_removed")]
    MemberRemoved {
        #[serde(with = "key")]
        org: OrgKey,
        #[serde(with = "key")]
        user: UserKey,
    },
    #[serde(rename = "member_suspended")]
    MemberSuspended {
        #[serde(with = "key")]
        org: OrgKey,
        #[serde(with = "key")]
        user: UserKey,
        suspended: bool,
    },
    #[serde(rename = "team")]
    TeamCreated {
        #[serde(with = "key")]
        key: TeamKey,
        #[serde(with = "key")]
        org: OrgKey,
        id: String,
        #[serde(with = "text")]
        default_role: TeamRole,
    },
    #[serde(rename = "team_updated")]
    TeamUpdated {
        #[serde(with = "key")]
        key: TeamKey,
        id: String,
        #[serde(with = "text")]
        default_role: TeamRole,
    },
    #[serde(rename = "team_deleted")]
    TeamDeleted {
        #[serde(with = "key")]
        key: TeamKey,
    },
    #[serde(rename = "team_member")]
    TeamMemberAdded {
        #[serde(with = "key")]
        team: TeamKey,
        #[serde(with = "key")]
        user: UserKey,
    },
    #[serde(rename = "team_member_removed")]
    TeamMemberRemoved {
        #[serde(with = "key")]
        team: TeamKey,
        #[serde(with = "key")]
        user: UserKey,
    },
    #[serde(rename = "team_app")]
    TeamAppSet {
        #[serde(with = "key")]
        team: TeamKey,
        #[serde(with = "key")]
        app: AppKey,
        #[serde(with = "text")]
        role: TeamRole,
    },
    #[serde(rename = "team_app_removed")]
    TeamAppRemoved {
        #[serde(with = "key")]
        team: TeamKey,
        #[serde(with = "key")]
        app: AppKey,
    },
    #[serde(rename = "app")]
    AppUpserted {
        #[serde(with = "key")]
        key: AppKey,
        #[serde(with = "AccountEntry")]
        owner: Account,
        id: String,
        #[serde(with = "text")]
        visibility: Visibility,
    },
    #[serde(rename = "app_deleted")]
    AppDeleted {
        #[serde(with = "key")]
        key: AppKey,
    },
    #[serde(rename = "collaborator")]
    CollaboratorSet {
        #[serde(with = "key")]
        app: AppKey,
        #[serde(with = "key")]
        user: UserKey,
        #[serde(with = "scopes")]
        permissions: PermissionSet,
    },
    #[serde(rename = "collaborator_removed")]
    CollaboratorRemoved {
        #[serde(with = "key")]
        app: AppKey,
        #[serde(with = "key")]
        user: UserKey,
    },
    #[serde(rename = "item")]
    ItemUpserted {
        #[serde(with = "key")]
        app: AppKey,
        #[serde(with = "text")]
        kind: ItemKind,
        id: String,
        #[serde(with = "text")]
        visibility: Visibility,
    },
    #[serde(rename = "item_deleted")]
    ItemDeleted {
        #[serde(with = "key")]
        app: AppKey,
        #[serde(with = "text")]
        kind: ItemKind,
        id: String,
    },
    #[serde(rename = "credential")]
    CredentialAdded {
        #[serde(with = "hex::serde")]
        hash: [u8; 32],
        #[serde(flatten, with = "CredentialEntryFields")]
        entry: CredentialEntry,
    },
    #[serde(rename = "credential_revoked")]
    CredentialRevoked {
        #[serde(with = "hex::serde")]
        hash: [u8; 32],
    },
    #[serde(rename = "credential_sso")]
    CredentialSsoAuthorized {
        credential: i64,
        #[serde(with = "key")]
        org: OrgKey,
    },
    #[serde(rename = "org_sso_break_glass")]
    OrgSsoBreakGlass {
        #[serde(with = "key")]
        key: OrgKey,
        #[serde(with = "key_list")]
        users: Vec<UserKey>,
    },
}

/// An app's owner: `{"user": key}` or `{"org": key}`.
#[derive(Serialize, Deserialize)]
#[serde(remote = "Account", rename_all = "lowercase")]
enum AccountEntry {
    User(#[serde(with = "key")] UserKey),
    Org(#[serde(with = "key")] OrgKey),
}

/// A credential's index entry, flattened into its `credential` change beside the hash.
#[derive(Serialize, Deserialize)]
#[serde(remote = "CredentialEntry")]
struct CredentialEntryFields {
    id: i64,
    #[serde(with = "key")]
    user: UserKey,
    #[serde(with = "text")]
    kind: CredentialKind,
    #[serde(with = "scopes")]
    scopes: PermissionSet,
    #[serde(with = "optional_key", default)]
    org: Option<OrgKey>,
    #[serde(with = "optional_key", default)]
    app: Option<AppKey>,
    #[serde(default)]
    expires_at: Option<Timestamp>,
}

/// Row keys, stored as the row id (a range-checked `u32`).
trait RowKey: Sized {
    fn row_id(&self) -> i64;
    fn from_row_id(id: i64) -> Result<Self>;
}

macro_rules! row_key {
    ($($key:ident => $from:ident),* $(,)?) => {$(
        impl RowKey for $key {
            fn row_id(&self) -> i64 {
                id_of(self.0)
            }
            fn from_row_id(id: i64) -> Result<Self> {
                $from(id)
            }
        }
    )*};
}

row_key!(UserKey => user_key, OrgKey => org_key, AppKey => app_key, TeamKey => team_key);

mod key {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::RowKey;

    pub(super) fn serialize<K: RowKey, S: Serializer>(key: &K, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(key.row_id())
    }

    pub(super) fn deserialize<'de, K: RowKey, D: Deserializer<'de>>(d: D) -> Result<K, D::Error> {
        K::from_row_id(i64::deserialize(d)?).map_err(D::Error::custom)
    }
}

mod optional_key {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::RowKey;

    pub(super) fn serialize<K: RowKey, S: Serializer>(
        key: &Option<K>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        key.as_ref().map(RowKey::row_id).serialize(s)
    }

    pub(super) fn deserialize<'de, K: RowKey, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<K>, D::Error> {
        Option::<i64>::deserialize(d)?
            .map(K::from_row_id)
            .transpose()
            .map_err(D::Error::custom)
    }
}

mod key_list {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::RowKey;

    pub(super) fn serialize<K: RowKey, S: Serializer>(keys: &[K], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(keys.iter().map(RowKey::row_id))
    }

    pub(super) fn deserialize<'de, K: RowKey, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<K>, D::Error> {
        Vec::<i64>::deserialize(d)?
            .into_iter()
            .map(K::from_row_id)
            .collect::<crate::Result<_>>()
            .map_err(D::Error::custom)
    }
}

/// Enum-like values stored as their stable text form (the same as the tables use).
trait TextForm: Sized {
    fn text(&self) -> &'static str;
    fn from_text(raw: &str) -> Option<Self>;
}

macro_rules! text_form {
    ($($ty:ty),* $(,)?) => {$(
        impl TextForm for $ty {
            fn text(&self) -> &'static str {
                self.as_str()
            }
            fn from_text(raw: &str) -> Option<Self> {
                Self::parse(raw)
            }
        }
    )*};
}

text_form!(OrgRole, TeamRole, Visibility, ItemKind, CredentialKind);

mod text {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::TextForm;

    pub(super) fn serialize<T: TextForm, S: Serializer>(
        value: &T,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(value.text())
    }

    pub(super) fn deserialize<'de, T: TextForm, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        let raw = <&str>::deserialize(d)?;
        T::from_text(raw).ok_or_else(|| D::Error::custom(format!("unknown value `{raw}`")))
    }
}

mod scopes {
    use portcullis_core::PermissionSet;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::rows::{scopes_from_text, scopes_to_text};

    pub(super) fn serialize<S: Serializer>(
        scopes: &PermissionSet,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&scopes_to_text(*scopes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PermissionSet, D::Error> {
        scopes_from_text(&String::deserialize(d)?).map_err(D::Error::custom)
    }
}
