//! SCIM Users: the members an organization provisions through SCIM.
//!
//! A SCIM user is an account the organization manages (`users.managed_by`, as SSO's JIT
//! provisioning makes): created with the org's SCIM default role, its address verified when
//! its domain is one the org verified (else a verification mail is queued). A create whose
//! userName or address belongs to an account the org does not manage creates nothing and is
//! answered `409 uniqueness`; an account the org already manages is adopted. `active: false`
//! suspends the membership (the index denies every credential of the user in the org at
//! once), `active: true` restores it, DELETE removes the member; the last administrator rule
//! holds throughout.
//!
//! Kept from a SCIM user: `userName`, `externalId`, `displayName`, `name.givenName` and
//! `name.familyName` (the account's names), the primary address of `emails`, `active`, and of
//! the enterprise extension `employeeNumber`, `costCenter`, `organization`, `division`,
//! `department` and `manager.value` (returned as stored; they grant nothing). Anything else
//! (`password`, phone numbers, addresses, `title`, ...) is ignored.

use portcullis_core::audit::Operation;
use portcullis_core::{AccountId, Change, Email, OrgKey, UserKey};
use portcullis_store::{AuditRecord, NewUser, ScimUserAttributes, ScimUserRecord, Write};
use serde_json::{Map, Value, json};

use super::filter;
use super::patch;
use super::{
    ENTERPRISE_SCHEMA, ScimList, ScimListQuery, ScimResource, USER_SCHEMA, as_bool, check_if_match,
    get_ci, invalid_value, page, paging,
};
use crate::authentication::{MAX_NAME_CHARS, check_name};
use crate::email_verification::queue_verification;
use crate::{Caller, Committed, Portcullis, Result, ServiceError};

/// The longest userName, externalId, displayName or enterprise attribute kept.
pub const MAX_ATTRIBUTE_CHARS: usize = 256;
/// The enterprise-extension attributes kept (strings), besides `manager.value`.
const ENTERPRISE_KEPT: [&str; 5] = [
    "employeeNumber",
    "costCenter",
    "organization",
    "division",
    "department",
];

/// What a SCIM user document sets.
#[derive(Debug, Clone, PartialEq)]
struct UserInput {
    user_name: String,
    external_id: Option<String>,
    display_name: Option<String>,
    first_name: String,
    last_name: String,
    email: Email,
    active: bool,
    /// The kept enterprise attributes, as a JSON object.
    enterprise: Map<String, Value>,
}

fn text(object: &Map<String, Value>, name: &str) -> Result<Option<String>> {
    match get_ci(object, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = check_name("scim", s, MAX_ATTRIBUTE_CHARS).map_err(|_| {
                invalid_value(format!("`{name}` is too long or has control characters"))
            })?;
            Ok((!s.is_empty()).then_some(s))
        }
        Some(_) => Err(invalid_value(format!("`{name}` must be a string"))),
    }
}

fn person_name(object: Option<&Map<String, Value>>, name: &str) -> Result<String> {
    let Some(value) = object.and_then(|o| get_ci(o, name)) else {
        return Ok(String::new());
    };
    match value {
        Value::Null => Ok(String::new()),
        Value::String(s) => check_name("name", s, MAX_NAME_CHARS).map_err(|_| {
            invalid_value(format!(
                "`name.{name}` is too long or has control characters"
            ))
        }),
        _ => Err(invalid_value(format!("`name.{name}` must be a string"))),
    }
}

impl UserInput {
    fn parse(document: &Value) -> Result<Self> {
        let object = document
            .as_object()
            .ok_or_else(|| super::scim_error("scim.invalid_syntax", "a User is a JSON object"))?;
        let user_name =
            text(object, "userName")?.ok_or_else(|| invalid_value("`userName` is required"))?;
        let name = get_ci(object, "name").and_then(Value::as_object);
        let email = primary_email(object)?
            .or_else(|| Email::parse(&user_name).ok())
            .ok_or_else(|| {
                invalid_value("an email address is required: in `emails`, or as the `userName`")
            })?;
        let active = match get_ci(object, "active") {
            None | Some(Value::Null) => true,
            Some(v) => as_bool(v).ok_or_else(|| invalid_value("`active` must be a boolean"))?,
        };
        let mut enterprise = Map::new();
        if let Some(extension) = get_ci(object, ENTERPRISE_SCHEMA) {
            let extension = extension
                .as_object()
                .ok_or_else(|| invalid_value("the enterprise extension is an object"))?;
            for name in ENTERPRISE_KEPT {
                if let Some(value) = text(extension, name)? {
                    enterprise.insert(name.to_owned(), Value::String(value));
                }
            }
            if let Some(manager) = get_ci(extension, "manager").and_then(Value::as_object)
                && let Some(value) = text(manager, "value")?
            {
                enterprise.insert("manager".to_owned(), json!({"value": value}));
            }
        }
        Ok(Self {
            external_id: text(object, "externalId")?,
            display_name: text(object, "displayName")?,
            first_name: person_name(name, "givenName")?,
            last_name: person_name(name, "familyName")?,
            user_name,
            email,
            active,
            enterprise,
        })
    }

    fn attributes(&self) -> ScimUserAttributes {
        ScimUserAttributes {
            user_name: self.user_name.clone(),
            external_id: self.external_id.clone(),
            display_name: self.display_name.clone(),
            attributes: Value::Object(self.enterprise.clone()).to_string(),
        }
    }
}

/// The primary address of `emails` (or the first one).
fn primary_email(object: &Map<String, Value>) -> Result<Option<Email>> {
    let Some(emails) = get_ci(object, "emails") else {
        return Ok(None);
    };
    let emails = match emails {
        Value::Null => return Ok(None),
        Value::Array(e) => e,
        _ => return Err(invalid_value("`emails` must be an array")),
    };
    let value_of = |e: &Value| {
        e.as_object()
            .and_then(|o| get_ci(o, "value"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let chosen = emails
        .iter()
        .find(|e| {
            e.as_object()
                .and_then(|o| get_ci(o, "primary"))
                .and_then(as_bool)
                .unwrap_or(false)
        })
        .or_else(|| emails.first())
        .and_then(value_of);
    chosen
        .map(|raw| Email::parse(&raw).map_err(|e| invalid_value(format!("`emails` value: {e}"))))
        .transpose()
}

/// The SCIM document of a provisioned member.
fn user_json(record: &ScimUserRecord, endpoint: &str) -> Value {
    let mut object = Map::new();
    let enterprise: Map<String, Value> =
        serde_json::from_str(&record.attributes).unwrap_or_default();
    let mut schemas = vec![json!(USER_SCHEMA)];
    if !enterprise.is_empty() {
        schemas.push(json!(ENTERPRISE_SCHEMA));
    }
    object.insert("schemas".into(), Value::Array(schemas));
    object.insert("id".into(), json!(record.id));
    if let Some(external_id) = &record.external_id {
        object.insert("externalId".into(), json!(external_id));
    }
    object.insert("userName".into(), json!(record.user_name));
    if let Some(display_name) = &record.display_name {
        object.insert("displayName".into(), json!(display_name));
    }
    // Only the names that are set (an unset one is absent, RFC 7643 §2.5), so a removed
    // `name` is gone.
    let mut name = Map::new();
    if !record.last_name.is_empty() {
        name.insert("familyName".into(), json!(record.last_name));
    }
    if !record.first_name.is_empty() {
        name.insert("givenName".into(), json!(record.first_name));
    }
    if !name.is_empty() {
        object.insert("name".into(), Value::Object(name));
    }
    object.insert(
        "emails".into(),
        json!([{"value": record.email, "type": "work"}]),
    );
    object.insert("active".into(), json!(!record.suspended));
    if !enterprise.is_empty() {
        object.insert(ENTERPRISE_SCHEMA.into(), Value::Object(enterprise));
    }
    object.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": portcullis_saml::rfc3339(record.created_at),
            "lastModified": portcullis_saml::rfc3339(record.modified_at),
            "location": format!("{endpoint}/Users/{}", record.id),
            "version": super::etag(record.version),
        }),
    );
    Value::Object(object)
}

/// A new account id from a userName or address: its letters and digits and a random suffix.
fn new_account_id(user_name: &str) -> Result<AccountId> {
    use rand::Rng;
    let local: String = user_name
        .split('@')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(20)
        .collect();
    let mut rng = rand::thread_rng();
    let suffix: String = (0..8)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.gen_range(0..36)]))
        .collect();
    let id = if local.is_empty() {
        format!("scim-{suffix}")
    } else {
        format!("{local}-{suffix}")
    };
    AccountId::parse(&id).map_err(|e| ServiceError::Internal(Box::new(e)))
}

fn user_targets(org_id: &str, user: Option<&str>, user_name: Option<&str>) -> Value {
    json!({"org": org_id, "user": user, "userName": user_name})
}

impl Portcullis {
    /// Provisions a member (SCIM `POST /Users`).
    pub async fn scim_create_user(
        &self,
        caller: &Caller,
        org_id: &str,
        document: &Value,
    ) -> Result<Committed<ScimResource>> {
        let org = self.scim_org(caller, org_id)?;
        let label = self.member_org_handle(org);
        let input = match UserInput::parse(document) {
            Ok(input) => input,
            Err(err) => {
                let targets = user_targets(&label, None, None);
                return Err(self
                    .scim_refused(caller, org, Operation::ScimUserCreate, targets, err)
                    .await);
            }
        };
        let targets = user_targets(&label, None, Some(&input.user_name));
        let result = self.create_user_in(caller, org, &label, &input).await;
        match result {
            Ok(committed) => Ok(committed),
            Err(err) => Err(self
                .scim_refused(caller, org, Operation::ScimUserCreate, targets, err)
                .await),
        }
    }

    async fn create_user_in(
        &self,
        caller: &Caller,
        org: OrgKey,
        label: &str,
        input: &UserInput,
    ) -> Result<Committed<ScimResource>> {
        let new_id = new_account_id(&input.user_name)?;
        let public_url = self.config().public_url.clone();
        let committed = self
            .commit(caller, async |w| {
                if w.scim_user_by_name(org, &input.user_name).await?.is_some() {
                    return Err(ServiceError::Conflict("userName"));
                }
                let mut changes = Vec::new();
                // An account with this address: adopted only when the org manages it.
                let existing = self.store().user_by_email(&input.email).await?;
                let (user, handle, created) = match existing {
                    Some(found) => {
                        if w.user_managed_by(found.key).await? != Some(org) {
                            return Err(ServiceError::Conflict("userName"));
                        }
                        (found.key, found.id, false)
                    }
                    None => {
                        let new = NewUser {
                            id: new_id.clone(),
                            email: input.email.clone(),
                            first_name: input.first_name.clone(),
                            last_name: input.last_name.clone(),
                            password_hash: None,
                            operator: false,
                        };
                        let key = w.create_user(&new).await?;
                        w.set_user_managed_by(key, org).await?;
                        changes.push(Change::UserUpserted {
                            key,
                            id: new.id.as_str().to_owned(),
                            active: true,
                            operator: false,
                        });
                        (key, new.id.as_str().to_owned(), true)
                    }
                };
                let role = w.scim_default_role(org).await?;
                if w.member_role(org, user).await?.is_none() {
                    w.add_member(org, user, role).await?;
                    changes.push(Change::MemberSet { org, user, role });
                }
                w.insert_scim_user(org, user, &input.attributes()).await?;
                if !created {
                    w.set_user_names(user, &input.first_name, &input.last_name)
                        .await?;
                }
                let verified = self
                    .verify_managed_address(
                        w,
                        &public_url,
                        org,
                        user,
                        &handle,
                        &input.email,
                        created,
                    )
                    .await?;
                if !input.active {
                    w.set_member_suspended(org, user, true).await?;
                    changes.push(Change::MemberSuspended {
                        org,
                        user,
                        suspended: true,
                    });
                }
                w.audit(
                    AuditRecord::new(
                        Some(org),
                        Operation::ScimUserCreate,
                        user_targets(label, Some(&handle), Some(&input.user_name)),
                    )
                    .with_details(json!({
                        "role": role.as_str(),
                        "adopted": !created,
                        "email_verified": verified,
                        "active": input.active,
                        "externalId": input.external_id,
                    })),
                );
                Ok((user, changes))
            })
            .await?;
        let user = committed.value;
        let resource = self.scim_user_resource(org, user).await?;
        Ok(Committed {
            value: resource,
            revision: committed.revision,
        })
    }

    /// Marks a managed account's address verified when its domain is one `org` verified;
    /// otherwise (for a new account, or a changed address) queues the verification mail.
    #[expect(clippy::too_many_arguments, reason = "one transaction's context")]
    async fn verify_managed_address(
        &self,
        w: &mut Write,
        public_url: &str,
        org: OrgKey,
        user: UserKey,
        handle: &str,
        email: &Email,
        mail_if_unverified: bool,
    ) -> Result<bool> {
        if w.domain_verified_by(email.domain_key()).await? == Some(org) {
            w.mark_email_verified(user, &email.key()).await?;
            return Ok(true);
        }
        if mail_if_unverified {
            queue_verification(w, public_url, user, handle, email).await?;
        }
        Ok(false)
    }

    pub(crate) async fn scim_user_resource(
        &self,
        org: OrgKey,
        user: UserKey,
    ) -> Result<ScimResource> {
        let record = self
            .store()
            .scim_user(org, user)
            .await?
            .ok_or(ServiceError::NotFound("user"))?;
        Ok(ScimResource {
            json: user_json(&record, &self.scim_endpoint(org)),
            version: record.version,
        })
    }

    /// The provisioned member `id` of the caller's organization.
    fn scim_user_key(&self, org: OrgKey, id: &str) -> Result<UserKey> {
        self.with_index(|i| {
            let user = i.user_by_id(id)?;
            i.membership(user, org).map(|_| user)
        })
        .ok_or(ServiceError::NotFound("user"))
    }

    /// A provisioned member (SCIM `GET /Users/{id}`).
    pub async fn scim_get_user(
        &self,
        caller: &Caller,
        org_id: &str,
        id: &str,
    ) -> Result<ScimResource> {
        let org = self.scim_org(caller, org_id)?;
        let user = self.scim_user_key(org, id)?;
        self.scim_user_resource(org, user).await
    }

    /// The provisioned members matching a filter, one page (SCIM `GET /Users`).
    pub async fn scim_list_users(
        &self,
        caller: &Caller,
        org_id: &str,
        query: &ScimListQuery,
    ) -> Result<ScimList> {
        let org = self.scim_org(caller, org_id)?;
        let (start, count) = paging(query)?;
        let filter = query.filter.as_deref().map(filter::parse).transpose()?;
        let endpoint = self.scim_endpoint(org);
        let records = match filter.as_ref().and_then(filter::user_name_eq) {
            // The look-up before every create: one indexed read, not a scan.
            Some(user_name) => self
                .store()
                .scim_user_by_name(org, user_name)
                .await?
                .into_iter()
                .collect(),
            None => self.store().scim_users(org).await?,
        };
        let matching: Vec<Value> = records
            .iter()
            .map(|r| user_json(r, &endpoint))
            .filter(|doc| filter.as_ref().is_none_or(|f| filter::matches(f, doc)))
            .collect();
        Ok(page(matching, start, count))
    }

    /// Replaces a provisioned member's attributes (SCIM `PUT /Users/{id}`).
    pub async fn scim_replace_user(
        &self,
        caller: &Caller,
        org_id: &str,
        id: &str,
        document: &Value,
        if_match: Option<&str>,
    ) -> Result<Committed<ScimResource>> {
        let org = self.scim_org(caller, org_id)?;
        let label = self.member_org_handle(org);
        let targets = user_targets(&label, Some(id), None);
        let result = async {
            let user = self.scim_user_key(org, id)?;
            let input = UserInput::parse(document)?;
            self.update_user_in(caller, org, &label, user, &input, if_match)
                .await
        }
        .await;
        match result {
            Ok(done) => Ok(done),
            Err(err) => Err(self
                .scim_refused(caller, org, Operation::ScimUserUpdate, targets, err)
                .await),
        }
    }

    /// Applies a PATCH to a provisioned member (SCIM `PATCH /Users/{id}`).
    pub async fn scim_patch_user(
        &self,
        caller: &Caller,
        org_id: &str,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<Committed<ScimResource>> {
        let org = self.scim_org(caller, org_id)?;
        let label = self.member_org_handle(org);
        let targets = user_targets(&label, Some(id), None);
        let result = async {
            let user = self.scim_user_key(org, id)?;
            let operations = patch::operations(body)?;
            let current = self.scim_user_resource(org, user).await?;
            check_if_match(if_match, current.version)?;
            let mut document = current.json;
            for operation in &operations {
                patch::apply(&mut document, operation)?;
            }
            let input = UserInput::parse(&document)?;
            // The version read above: a change committed since then answers 412, never lost.
            let expected = super::etag(current.version);
            self.update_user_in(caller, org, &label, user, &input, Some(&expected))
                .await
        }
        .await;
        match result {
            Ok(done) => Ok(done),
            Err(err) => Err(self
                .scim_refused(caller, org, Operation::ScimUserUpdate, targets, err)
                .await),
        }
    }

    async fn update_user_in(
        &self,
        caller: &Caller,
        org: OrgKey,
        label: &str,
        user: UserKey,
        input: &UserInput,
        if_match: Option<&str>,
    ) -> Result<Committed<ScimResource>> {
        let public_url = self.config().public_url.clone();
        let committed = self
            .commit(caller, async |w| {
                let Some(before) = self.store().scim_user(org, user).await? else {
                    return Err(ServiceError::NotFound("user"));
                };
                check_if_match(if_match, before.version)?;
                if w.user_managed_by(user).await? != Some(org) {
                    return Err(ServiceError::NotAllowed {
                        code: "scim.mutability",
                        message: "this account is not managed by the organization".into(),
                    });
                }
                let mut changes = Vec::new();
                w.update_scim_user(org, user, &input.attributes()).await?;
                w.set_user_names(user, &input.first_name, &input.last_name)
                    .await?;
                let email_changed = before.email != input.email.as_str();
                if email_changed {
                    w.set_managed_email(user, input.email.as_str(), &input.email.key(), false)
                        .await?;
                    self.verify_managed_address(w, &public_url, org, user, &before.id, &input.email, true)
                        .await?;
                }
                let suspended = !input.active;
                let mut operation = Operation::ScimUserUpdate;
                if suspended != before.suspended {
                    w.set_member_suspended(org, user, suspended).await?;
                    changes.push(Change::MemberSuspended {
                        org,
                        user,
                        suspended,
                    });
                    operation = if suspended {
                        Operation::ScimUserSuspend
                    } else {
                        Operation::ScimUserRestore
                    };
                }
                w.audit(
                    AuditRecord::new(
                        Some(org),
                        operation,
                        user_targets(label, Some(&before.id), Some(&input.user_name)),
                    )
                    .with_details(json!({
                        "before": {"userName": before.user_name, "active": !before.suspended, "externalId": before.external_id},
                        "after": {"userName": input.user_name, "active": input.active, "externalId": input.external_id},
                        "email_changed": email_changed,
                    })),
                );
                Ok(((), changes))
            })
            .await?;
        let resource = self.scim_user_resource(org, user).await?;
        Ok(Committed {
            value: resource,
            revision: committed.revision,
        })
    }

    /// Removes a provisioned member from the organization (SCIM `DELETE /Users/{id}`): its
    /// team memberships and org-bound credentials go with it; the account stays (managed by
    /// the org, signed out when it has no organization left). The last administrator stays.
    pub async fn scim_delete_user(
        &self,
        caller: &Caller,
        org_id: &str,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<Committed<()>> {
        let org = self.scim_org(caller, org_id)?;
        let label = self.member_org_handle(org);
        let targets = user_targets(&label, Some(id), None);
        let result = async {
            let user = self.scim_user_key(org, id)?;
            self.commit(caller, async |w| {
                let Some(before) = self.store().scim_user(org, user).await? else {
                    return Err(ServiceError::NotFound("user"));
                };
                check_if_match(if_match, before.version)?;
                let mut removed = w.remove_member(org, user).await?;
                removed
                    .revoked
                    .extend(w.revoke_credentials_if_orgless(user).await?);
                let credentials: Vec<&str> = removed
                    .revoked
                    .iter()
                    .map(|c| c.public_id.as_str())
                    .collect();
                w.audit(
                    AuditRecord::new(
                        Some(org),
                        Operation::ScimUserDelete,
                        user_targets(&label, Some(&before.id), Some(&before.user_name)),
                    )
                    .with_details(json!({
                        "before": {"role": removed.role.as_str()},
                        "teams_left": removed.teams.len(),
                        "credentials_revoked": credentials,
                    })),
                );
                let mut changes = vec![Change::MemberRemoved { org, user }];
                changes.extend(
                    removed
                        .revoked
                        .iter()
                        .map(|c| Change::CredentialRevoked { hash: c.token_hash }),
                );
                Ok(((), changes))
            })
            .await
        }
        .await;
        match result {
            Ok(done) => Ok(done),
            Err(err) => Err(self
                .scim_refused(caller, org, Operation::ScimUserDelete, targets, err)
                .await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_documents_parse_as_clients_send_them() {
        let entra = json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
            "externalId": "0a21f0f2-8d2a",
            "userName": "Test_User_ab6490ee@testuser.com",
            "active": "False",
            "emails": [{"primary": "True", "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            ENTERPRISE_SCHEMA: {"employeeNumber": "E1", "department": "D", "manager": {"value": "M"}, "title": "ignored"},
            "password": "ignored"
        });
        let input = UserInput::parse(&entra).unwrap();
        assert_eq!(input.user_name, "Test_User_ab6490ee@testuser.com");
        assert_eq!(input.email.as_str(), "Test_User_fd0ea19b@testuser.com");
        assert!(!input.active);
        assert_eq!(input.first_name, "givenName");
        assert_eq!(
            Value::Object(input.enterprise),
            json!({"employeeNumber": "E1", "department": "D", "manager": {"value": "M"}})
        );
        // Okta: userName is the address, no emails needed.
        let okta =
            json!({"userName": "a@example.com", "name": {"givenName": "A", "familyName": "B"}});
        assert_eq!(
            UserInput::parse(&okta).unwrap().email.as_str(),
            "a@example.com"
        );
        for bad in [
            json!({}),
            json!({"userName": "no-address"}),
            json!({"userName": "a@example.com", "active": "maybe"}),
            json!({"userName": 5}),
            json!({"userName": "a@example.com", "emails": "x"}),
            json!({"userName": "x".repeat(300)}),
        ] {
            assert!(UserInput::parse(&bad).is_err(), "{bad}");
        }
    }
}
