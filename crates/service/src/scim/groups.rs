//! SCIM Groups: the organization's teams. A group's `id` is the team id, its `displayName`
//! the team's name (unique in the org without regard to case), its `members` the team's
//! members (members of the org only), and its `externalId` is kept. Creating a group creates a
//! team (apps default to `full_access`, as the API's teams do); deleting it deletes the team.
//! Every team of the org is a group, provisioned through SCIM or not.

use std::collections::BTreeSet;

use portcullis_core::audit::Operation;
use portcullis_core::{AccountId, Change, OrgKey, TeamKey, TeamRole, UserKey};
use portcullis_store::{AuditRecord, NewTeam, ScimGroupRecord, TeamChanges, TeamMemberAdd};
use serde_json::{Map, Value, json};

use super::filter;
use super::patch;
use super::{
    GROUP_SCHEMA, ScimList, ScimListQuery, ScimResource, check_if_match, get_ci, invalid_value,
    page, paging,
};
use crate::authentication::check_name;
use crate::{Caller, Committed, Portcullis, Result, ServiceError};

/// The longest displayName or externalId kept.
pub const MAX_GROUP_NAME_CHARS: usize = 256;

#[derive(Debug, Clone)]
struct GroupInput {
    display_name: String,
    external_id: Option<String>,
    /// Member account ids; `None` when the document has no `members` (left as they are).
    members: Option<Vec<String>>,
}

fn text(object: &Map<String, Value>, name: &str) -> Result<Option<String>> {
    match get_ci(object, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = check_name("scim", s, MAX_GROUP_NAME_CHARS).map_err(|_| {
                invalid_value(format!("`{name}` is too long or has control characters"))
            })?;
            Ok((!s.is_empty()).then_some(s))
        }
        Some(_) => Err(invalid_value(format!("`{name}` must be a string"))),
    }
}

impl GroupInput {
    fn parse(document: &Value) -> Result<Self> {
        let object = document
            .as_object()
            .ok_or_else(|| super::scim_error("scim.invalid_syntax", "a Group is a JSON object"))?;
        let display_name = text(object, "displayName")?
            .ok_or_else(|| invalid_value("`displayName` is required"))?;
        let members = match get_ci(object, "members") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|m| {
                        m.as_object()
                            .and_then(|o| get_ci(o, "value"))
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                            .ok_or_else(|| invalid_value("each member needs a string `value`"))
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            Some(_) => return Err(invalid_value("`members` must be an array")),
        };
        Ok(Self {
            display_name,
            external_id: text(object, "externalId")?,
            members,
        })
    }
}

fn group_json(record: &ScimGroupRecord, members: Option<&[String]>, endpoint: &str) -> Value {
    let mut object = Map::new();
    object.insert("schemas".into(), json!([GROUP_SCHEMA]));
    object.insert("id".into(), json!(record.id));
    if let Some(external_id) = &record.external_id {
        object.insert("externalId".into(), json!(external_id));
    }
    object.insert("displayName".into(), json!(record.name));
    if let Some(members) = members {
        let members: Vec<Value> = members
            .iter()
            .map(|m| json!({"value": m, "type": "User", "$ref": format!("{endpoint}/Users/{m}")}))
            .collect();
        object.insert("members".into(), Value::Array(members));
    }
    object.insert(
        "meta".into(),
        json!({
            "resourceType": "Group",
            "created": portcullis_saml::rfc3339(record.created_at),
            "lastModified": portcullis_saml::rfc3339(record.modified_at),
            "location": format!("{endpoint}/Groups/{}", record.id),
            "version": super::etag(record.version),
        }),
    );
    Value::Object(object)
}

/// A new team id from a displayName: its letters and digits and a random suffix.
fn new_team_id(display_name: &str) -> Result<AccountId> {
    use rand::Rng;
    let stem: String = display_name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(20)
        .collect();
    let mut rng = rand::thread_rng();
    let suffix: String = (0..8)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.gen_range(0..36)]))
        .collect();
    let id = if stem.is_empty() {
        format!("group-{suffix}")
    } else {
        format!("{stem}-{suffix}")
    };
    AccountId::parse(&id).map_err(|e| ServiceError::Internal(Box::new(e)))
}

fn group_targets(org_id: &str, group: Option<&str>) -> Value {
    json!({"org": org_id, "group": group})
}

impl Portcullis {
    /// Resolves member account ids to members of `org`; an id that names none is refused.
    fn resolve_group_members(&self, org: OrgKey, ids: &[String]) -> Result<BTreeSet<UserKey>> {
        self.with_index(|i| {
            ids.iter()
                .map(|id| {
                    i.user_by_id(id)
                        .filter(|u| i.membership(*u, org).is_some())
                        .ok_or_else(|| {
                            invalid_value(format!("`{id}` is not a member of this organization"))
                        })
                })
                .collect()
        })
    }

    fn scim_team_key(&self, org: OrgKey, id: &str) -> Result<TeamKey> {
        self.resolve_team(org, id)
            .map_err(|_| ServiceError::NotFound("group"))
    }

    async fn group_resource(
        &self,
        org: OrgKey,
        team: TeamKey,
        with_members: bool,
    ) -> Result<ScimResource> {
        let record = self
            .store()
            .scim_group(org, team)
            .await?
            .ok_or(ServiceError::NotFound("group"))?;
        let members = if with_members {
            Some(self.member_ids(team).await?)
        } else {
            None
        };
        Ok(ScimResource {
            json: group_json(&record, members.as_deref(), &self.scim_endpoint(org)),
            version: record.version,
        })
    }

    async fn member_ids(&self, team: TeamKey) -> Result<Vec<String>> {
        Ok(self
            .store()
            .team_members_with_keys(team)
            .await?
            .into_iter()
            .map(|(_, id)| id)
            .collect())
    }

    /// A group (SCIM `GET /Groups/{id}`); `excludedAttributes=members` leaves members out.
    pub async fn scim_get_group(
        &self,
        caller: &Caller,
        org_id: &str,
        id: &str,
        excluded_attributes: Option<&str>,
    ) -> Result<ScimResource> {
        let org = self.scim_org(caller, org_id)?;
        let team = self.scim_team_key(org, id)?;
        self.group_resource(org, team, !excludes_members(excluded_attributes))
            .await
    }

    /// The groups matching a filter, one page (SCIM `GET /Groups`).
    pub async fn scim_list_groups(
        &self,
        caller: &Caller,
        org_id: &str,
        query: &ScimListQuery,
    ) -> Result<ScimList> {
        let org = self.scim_org(caller, org_id)?;
        let (start, count) = paging(query)?;
        let filter = query.filter.as_deref().map(filter::parse).transpose()?;
        let with_members = !excludes_members(query.excluded_attributes.as_deref());
        let filter_needs_members = query
            .filter
            .as_deref()
            .is_some_and(|f| f.to_ascii_lowercase().contains("members"));
        let endpoint = self.scim_endpoint(org);
        let mut matching = Vec::new();
        for record in self.store().scim_groups(org).await? {
            let members = if filter_needs_members {
                Some(self.member_ids(record.key).await?)
            } else {
                None
            };
            let doc = group_json(&record, members.as_deref(), &endpoint);
            if filter.as_ref().is_none_or(|f| filter::matches(f, &doc)) {
                matching.push((record, members));
            }
        }
        let total = matching.len();
        let mut resources = Vec::new();
        for (record, members) in matching.into_iter().skip(start - 1).take(count) {
            let members = match (with_members, members) {
                (false, _) => None,
                (true, Some(m)) => Some(m),
                (true, None) => Some(self.member_ids(record.key).await?),
            };
            resources.push(group_json(&record, members.as_deref(), &endpoint));
        }
        let mut list = page(Vec::new(), start, count);
        list.total_results = total;
        list.resources = resources;
        Ok(list)
    }

    /// Creates a team (SCIM `POST /Groups`).
    pub async fn scim_create_group(
        &self,
        caller: &Caller,
        org_id: &str,
        document: &Value,
    ) -> Result<Committed<ScimResource>> {
        let org = self.scim_org(caller, org_id)?;
        let label = self.member_org_handle(org);
        let result = async {
            let input = GroupInput::parse(document)?;
            let members =
                self.resolve_group_members(org, input.members.as_deref().unwrap_or_default())?;
            let id = new_team_id(&input.display_name)?;
            let committed = self
                .commit(caller, async |w| {
                    if self.name_taken(org, &input.display_name, None).await? {
                        return Err(ServiceError::Conflict("displayName"));
                    }
                    let new = NewTeam {
                        org,
                        id: id.clone(),
                        name: input.display_name.clone(),
                        default_role: TeamRole::FullAccess,
                    };
                    let team = w.create_team(&new).await?;
                    w.touch_scim_group(org, team, Some(input.external_id.as_deref()))
                        .await?;
                    let mut changes = vec![Change::TeamCreated {
                        key: team,
                        org,
                        id: id.as_str().to_owned(),
                        default_role: TeamRole::FullAccess,
                    }];
                    for user in &members {
                        if w.add_team_member(team, *user).await? == TeamMemberAdd::Added {
                            changes.push(Change::TeamMemberAdded { team, user: *user });
                        }
                    }
                    w.audit(
                        AuditRecord::new(
                            Some(org),
                            Operation::ScimGroupCreate,
                            group_targets(&label, Some(id.as_str())),
                        )
                        .with_details(json!({
                            "displayName": input.display_name,
                            "externalId": input.external_id,
                            "members": members.len(),
                        })),
                    );
                    self.apply_provisioned_roles(
                        w,
                        org,
                        members.iter().copied().collect(),
                        &mut changes,
                    )
                    .await?;
                    Ok((team, changes))
                })
                .await?;
            let resource = self.group_resource(org, committed.value, true).await?;
            Ok(Committed {
                value: resource,
                revision: committed.revision,
            })
        }
        .await;
        match result {
            Ok(done) => Ok(done),
            Err(err) => Err(self
                .scim_refused(
                    caller,
                    org,
                    Operation::ScimGroupCreate,
                    group_targets(&label, None),
                    err,
                )
                .await),
        }
    }

    /// Whether another team of `org` has this name (without regard to case).
    async fn name_taken(&self, org: OrgKey, name: &str, except: Option<TeamKey>) -> Result<bool> {
        let lower = name.to_lowercase();
        Ok(self
            .store()
            .scim_groups(org)
            .await?
            .iter()
            .any(|g| Some(g.key) != except && g.name.to_lowercase() == lower))
    }

    /// Replaces a group's name, externalId and members (SCIM `PUT /Groups/{id}`).
    pub async fn scim_replace_group(
        &self,
        caller: &Caller,
        org_id: &str,
        id: &str,
        document: &Value,
        if_match: Option<&str>,
    ) -> Result<Committed<ScimResource>> {
        let org = self.scim_org(caller, org_id)?;
        let label = self.member_org_handle(org);
        let result = async {
            let team = self.scim_team_key(org, id)?;
            let input = GroupInput::parse(document)?;
            self.update_group_in(caller, org, &label, team, &input, if_match)
                .await
        }
        .await;
        match result {
            Ok(done) => Ok(done),
            Err(err) => Err(self
                .scim_refused(
                    caller,
                    org,
                    Operation::ScimGroupUpdate,
                    group_targets(&label, Some(id)),
                    err,
                )
                .await),
        }
    }

    /// Applies a PATCH to a group (SCIM `PATCH /Groups/{id}`): renames, externalId, members
    /// added, removed (also by `members[value eq "..."]`) or replaced.
    pub async fn scim_patch_group(
        &self,
        caller: &Caller,
        org_id: &str,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<Committed<ScimResource>> {
        let org = self.scim_org(caller, org_id)?;
        let label = self.member_org_handle(org);
        let result = async {
            let team = self.scim_team_key(org, id)?;
            let operations = patch::operations(body)?;
            let current = self.group_resource(org, team, true).await?;
            check_if_match(if_match, current.version)?;
            let mut document = current.json;
            for operation in &operations {
                patch::apply(&mut document, operation)?;
            }
            if document.get("members").is_none_or(Value::is_null)
                && let Some(o) = document.as_object_mut()
            {
                // Removing `members` leaves an empty group, not an untouched one.
                o.insert("members".into(), json!([]));
            }
            let input = GroupInput::parse(&document)?;
            let expected = super::etag(current.version);
            self.update_group_in(caller, org, &label, team, &input, Some(&expected))
                .await
        }
        .await;
        match result {
            Ok(done) => Ok(done),
            Err(err) => Err(self
                .scim_refused(
                    caller,
                    org,
                    Operation::ScimGroupUpdate,
                    group_targets(&label, Some(id)),
                    err,
                )
                .await),
        }
    }

    async fn update_group_in(
        &self,
        caller: &Caller,
        org: OrgKey,
        label: &str,
        team: TeamKey,
        input: &GroupInput,
        if_match: Option<&str>,
    ) -> Result<Committed<ScimResource>> {
        let wanted = match &input.members {
            Some(ids) => Some(self.resolve_group_members(org, ids)?),
            None => None,
        };
        let committed = self
            .commit(caller, async |w| {
                let Some(before) = self.store().scim_group(org, team).await? else {
                    return Err(ServiceError::NotFound("group"));
                };
                check_if_match(if_match, before.version)?;
                let mut changes = Vec::new();
                if before.name != input.display_name {
                    if self.name_taken(org, &input.display_name, Some(team)).await? {
                        return Err(ServiceError::Conflict("displayName"));
                    }
                    let (_, after) = w
                        .update_team(
                            team,
                            &TeamChanges {
                                name: Some(input.display_name.clone()),
                                ..TeamChanges::default()
                            },
                        )
                        .await?;
                    changes.push(Change::TeamUpdated {
                        key: team,
                        id: after.id,
                        default_role: after.default_role,
                    });
                }
                w.touch_scim_group(org, team, Some(input.external_id.as_deref()))
                    .await?;
                let (mut added, mut removed) = (Vec::new(), Vec::new());
                if let Some(wanted) = &wanted {
                    let current: BTreeSet<UserKey> = self
                        .store()
                        .team_members_with_keys(team)
                        .await?
                        .into_iter()
                        .map(|(k, _)| k)
                        .collect();
                    for user in current.difference(wanted) {
                        if w.remove_team_member(team, *user).await? {
                            changes.push(Change::TeamMemberRemoved { team, user: *user });
                            removed.push(user.0);
                        }
                    }
                    for user in wanted.difference(&current) {
                        if w.add_team_member(team, *user).await? == TeamMemberAdd::Added {
                            changes.push(Change::TeamMemberAdded { team, user: *user });
                            added.push(user.0);
                        }
                    }
                }
                let operation = if before.name == input.display_name && (!added.is_empty() || !removed.is_empty()) {
                    Operation::ScimGroupMembers
                } else {
                    Operation::ScimGroupUpdate
                };
                let ids = |keys: &[u32]| -> Vec<String> {
                    self.with_index(|i| {
                        keys.iter()
                            .filter_map(|k| i.user(UserKey(*k)).map(|u| u.id.to_string()))
                            .collect()
                    })
                };
                w.audit(
                    AuditRecord::new(
                        Some(org),
                        operation,
                        group_targets(label, Some(&before.id)),
                    )
                    .with_details(json!({
                        "before": {"displayName": before.name, "externalId": before.external_id},
                        "after": {"displayName": input.display_name, "externalId": input.external_id},
                        "members_added": ids(&added),
                        "members_removed": ids(&removed),
                    })),
                );
                let moved = added.iter().chain(&removed).map(|k| UserKey(*k)).collect();
                self.apply_provisioned_roles(w, org, moved, &mut changes)
                    .await?;
                Ok(((), changes))
            })
            .await?;
        let resource = self.group_resource(org, team, true).await?;
        Ok(Committed {
            value: resource,
            revision: committed.revision,
        })
    }

    /// Deletes a team (SCIM `DELETE /Groups/{id}`).
    pub async fn scim_delete_group(
        &self,
        caller: &Caller,
        org_id: &str,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<Committed<()>> {
        let org = self.scim_org(caller, org_id)?;
        let label = self.member_org_handle(org);
        let result = async {
            let team = self.scim_team_key(org, id)?;
            self.commit(caller, async |w| {
                let Some(before) = self.store().scim_group(org, team).await? else {
                    return Err(ServiceError::NotFound("group"));
                };
                check_if_match(if_match, before.version)?;
                let members = w.team_member_keys(team).await?;
                w.delete_team(team).await?;
                w.audit(
                    AuditRecord::new(
                        Some(org),
                        Operation::ScimGroupDelete,
                        group_targets(&label, Some(&before.id)),
                    )
                    .with_details(json!({"displayName": before.name})),
                );
                let mut changes = vec![Change::TeamDeleted { key: team }];
                self.apply_provisioned_roles(w, org, members, &mut changes)
                    .await?;
                Ok(((), changes))
            })
            .await
        }
        .await;
        match result {
            Ok(done) => Ok(done),
            Err(err) => Err(self
                .scim_refused(
                    caller,
                    org,
                    Operation::ScimGroupDelete,
                    group_targets(&label, Some(id)),
                    err,
                )
                .await),
        }
    }
}

fn excludes_members(excluded: Option<&str>) -> bool {
    excluded.is_some_and(|e| {
        e.split(',')
            .any(|a| a.trim().eq_ignore_ascii_case("members"))
    })
}
