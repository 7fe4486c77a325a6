//! Security: the organization's password policy (view; edit with `security.manage`; presets),
//! identity providers (create from metadata or fields, edit, enable toggle, delete with a
//! confirmation, certificates with their expiry), verified email domains, SSO enforcement with its break-glass
//! administrators, and the role summary generated from the permission catalogue the engine
//! uses.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use portcullis_core::password_policy::{PRESETS, PasswordPolicy};
use portcullis_core::permissions::CATALOGUE;
use portcullis_core::{OrgRole, Permission};
use portcullis_service::ServiceError;
use portcullis_service::identity_providers::{
    IdpInput, IdpView, NAME_ID_EMAIL, NAME_ID_PERSISTENT, NAME_ID_UNSPECIFIED,
};
use portcullis_service::policy::PolicyView;
use serde::Deserialize;

use crate::ConsoleState;
use crate::session::{Posted, SignedIn};
use crate::view::{Nav, after_post, page_error, render};

/// A number knob of the policy form: field name, label, value, help.
struct NumberKnob {
    name: &'static str,
    label: &'static str,
    value: u32,
}

/// A yes/no knob.
struct FlagKnob {
    name: &'static str,
    label: &'static str,
    value: bool,
}

fn knobs(p: &PasswordPolicy) -> (Vec<NumberKnob>, Vec<FlagKnob>) {
    let n = |name, label, value| NumberKnob { name, label, value };
    let f = |name, label, value| FlagKnob { name, label, value };
    (
        vec![
            n("minimum_length", "Minimum length", p.minimum_length),
            n("maximum_length", "Maximum length", p.maximum_length),
            n(
                "password_life_span_days",
                "Password expires after (days, 0 = never)",
                p.password_life_span_days,
            ),
            n(
                "password_reuse_epoch",
                "Previous passwords that may not be reused",
                p.password_reuse_epoch,
            ),
            n(
                "max_failed_attempts",
                "Failed sign-ins before lockout (0 = never)",
                p.max_failed_attempts,
            ),
            n(
                "lockout_minutes",
                "Lockout minutes (0 = until unlocked)",
                p.lockout_minutes,
            ),
        ],
        vec![
            f(
                "upper_case_needed",
                "Needs an upper-case letter",
                p.upper_case_needed,
            ),
            f(
                "lower_case_needed",
                "Needs a lower-case letter",
                p.lower_case_needed,
            ),
            f("numeric_needed", "Needs a digit", p.numeric_needed),
            f(
                "non_alphanumeric_needed",
                "Needs a symbol",
                p.non_alphanumeric_needed,
            ),
            f(
                "exclude_names",
                "May not contain the user's names",
                p.exclude_names,
            ),
            f(
                "exclude_email",
                "May not contain the e-mail address",
                p.exclude_email,
            ),
            f(
                "no_confusing_letters",
                "No confusable characters",
                p.no_confusing_letters,
            ),
            f(
                "no_simple_passwords",
                "No simple passwords (repeats, sequences)",
                p.no_simple_passwords,
            ),
            f(
                "no_common_vocabs",
                "No common passwords or words",
                p.no_common_vocabs,
            ),
            f(
                "no_overlap_with_old",
                "May not overlap the previous password",
                p.no_overlap_with_old,
            ),
        ],
    )
}

#[derive(Template)]
#[template(path = "security.html")]
struct SecurityPage {
    nav: Nav,
    view: PolicyView,
    numbers: Vec<NumberKnob>,
    flags: Vec<FlagKnob>,
    presets: &'static [&'static str],
    warnings: Vec<String>,
    /// `None` when the caller may not list identity providers.
    idps: Option<Vec<IdpRow>>,
    /// The organization's claimed email domains (`None` without `security.view`).
    domains: Option<Vec<super::domains::DomainRow>>,
    /// SSO enforcement and its break-glass administrators (`None` without `security.view`).
    sso: Option<(bool, Vec<String>)>,
    /// The organization's administrators (break-glass candidates).
    admins: Vec<String>,
    /// Whether members must use two-factor authentication.
    two_factor_required: bool,
}

impl SecurityPage {
    fn break_glass(&self, user: &str) -> bool {
        self.sso
            .as_ref()
            .is_some_and(|(_, users)| users.iter().any(|u| u == user))
    }
    fn enforced(&self) -> bool {
        self.sso.as_ref().is_some_and(|(on, _)| *on)
    }
    /// The JIT role choices of the create form (the API's default selected).
    fn new_idp_roles(&self) -> Vec<(&'static str, &'static str, bool)> {
        role_choices(OrgRole::OrgUser.as_str())
    }
    fn new_idp_name_id_formats(&self) -> Vec<(&'static str, &'static str, bool)> {
        name_id_choices("")
    }
}

/// A certificate of an identity provider: subject, expiry, and whether it needs attention.
struct CertRow {
    subject: String,
    expires: String,
    expired: bool,
    expiring_soon: bool,
}

/// An identity provider as listed, with its certificates' expiry.
struct IdpRow {
    id: String,
    name: String,
    enabled: bool,
    entity_id: String,
    sso_url: String,
    metadata_url: String,
    certificates: Vec<CertRow>,
    warnings: Vec<String>,
    /// What to configure at the IdP.
    sp_entity_id: String,
    acs_url: String,
    options: IdpOptionsRow,
}

/// The sign-in options of an identity provider, as its edit form shows them.
struct IdpOptionsRow {
    jit: bool,
    default_role: String,
    map_email: String,
    map_first_name: String,
    map_last_name: String,
    map_groups: String,
    /// `group = team`, one per line.
    group_teams: String,
    name_id_format: String,
    idp_initiated: bool,
    sign_requests: bool,
    allow_sha1: bool,
    clock_skew_secs: i64,
}

impl IdpOptionsRow {
    /// The roles a JIT member may get, with this provider's selected.
    fn roles(&self) -> Vec<(&'static str, &'static str, bool)> {
        role_choices(&self.default_role)
    }

    fn name_id_formats(&self) -> Vec<(&'static str, &'static str, bool)> {
        name_id_choices(&self.name_id_format)
    }
}

fn role_choices(selected: &str) -> Vec<(&'static str, &'static str, bool)> {
    OrgRole::ALL
        .iter()
        .map(|r| (r.as_str(), r.label(), r.as_str() == selected))
        .collect()
}

fn name_id_choices(selected: &str) -> Vec<(&'static str, &'static str, bool)> {
    [
        (NAME_ID_EMAIL, "email address"),
        (NAME_ID_PERSISTENT, "persistent"),
        (NAME_ID_UNSPECIFIED, "unspecified"),
    ]
    .into_iter()
    .map(|(urn, label)| (urn, label, urn == selected))
    .collect()
}

fn idp_row(view: IdpView) -> IdpRow {
    let sp_entity_id = view.sp_entity_id.clone();
    let acs_url = view.acs_url.clone();
    let s = view.record.settings;
    let mapped = |key: &str| s.attribute_mapping.get(key).cloned().unwrap_or_default();
    let options = IdpOptionsRow {
        jit: s.jit_enabled,
        default_role: s.default_role.as_str().to_owned(),
        map_email: mapped("email"),
        map_first_name: mapped("first_name"),
        map_last_name: mapped("last_name"),
        map_groups: mapped("groups"),
        group_teams: s
            .group_teams
            .iter()
            .map(|(group, team)| format!("{group} = {team}\n"))
            .collect(),
        name_id_format: s.name_id_format.clone(),
        idp_initiated: s.idp_initiated,
        sign_requests: s.sign_requests,
        allow_sha1: s.allow_sha1,
        clock_skew_secs: s.clock_skew_secs,
    };
    IdpRow {
        sp_entity_id,
        acs_url,
        options,
        id: s.id.as_str().to_owned(),
        name: s.name,
        enabled: s.enabled,
        entity_id: s.entity_id,
        sso_url: s.sso_url,
        metadata_url: s.metadata_url.unwrap_or_default(),
        certificates: view
            .certificates
            .iter()
            .map(|c| match &c.info {
                Some(info) => CertRow {
                    subject: info.subject.clone(),
                    expires: crate::view::when(info.not_after_ms),
                    expired: c.expired,
                    expiring_soon: c.expiring_soon,
                },
                None => CertRow {
                    subject: "unreadable certificate".to_owned(),
                    expires: String::new(),
                    expired: false,
                    expiring_soon: false,
                },
            })
            .collect(),
        warnings: view.warnings,
    }
}

pub async fn security_page(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    viewer: SignedIn,
) -> Response {
    let nav = match Nav::build(&service, &viewer, Some(&account), "security", "Security").await {
        Ok(nav) => nav,
        Err(response) => return response,
    };
    if !nav.perms.contains(Permission::SecurityView) {
        return page_error(portcullis_service::ServiceError::Forbidden(
            Permission::SecurityView,
        ));
    }
    let view = match service.org_password_policy(&viewer.caller, &account).await {
        Ok(view) => view,
        Err(err) => return page_error(err),
    };
    let (numbers, flags) = knobs(&view.policy);
    let warnings = view
        .warnings
        .iter()
        .map(|w| format!("`{}` {}", w.field, w.message))
        .collect();
    let idps = match service.identity_providers(&viewer.caller, &account).await {
        Ok(list) => Some(list.into_iter().map(idp_row).collect()),
        Err(ServiceError::Forbidden(_)) => None,
        Err(err) => return page_error(err),
    };
    let domains = match service.domains(&viewer.caller, &account).await {
        Ok(list) => Some(list.into_iter().map(Into::into).collect()),
        Err(ServiceError::Forbidden(_)) => None,
        Err(err) => return page_error(err),
    };
    let sso = match service.sso_enforcement(&viewer.caller, &account).await {
        Ok(sso) => Some(sso),
        Err(ServiceError::Forbidden(_)) => None,
        Err(err) => return page_error(err),
    };
    let admins = match service
        .list_members(&viewer.caller, &account, Some("200"), None)
        .await
    {
        Ok(page) => page
            .members
            .into_iter()
            .filter(|m| m.role == OrgRole::Admin)
            .map(|m| m.id)
            .collect(),
        Err(err) => return page_error(err),
    };
    let two_factor_required = match service
        .org_requires_two_factor(&viewer.caller, &account)
        .await
    {
        Ok(required) => required,
        Err(err) => return page_error(err),
    };
    let page = SecurityPage {
        nav,
        view,
        numbers,
        flags,
        presets: PRESETS,
        warnings,
        idps,
        domains,
        sso,
        admins,
        two_factor_required,
    };
    render(&page, viewer.flash.is_some())
}

#[derive(Deserialize)]
pub struct PolicyForm {
    #[serde(default)]
    preset: String,
    minimum_length: Option<u32>,
    maximum_length: Option<u32>,
    password_life_span_days: Option<u32>,
    password_reuse_epoch: Option<u32>,
    max_failed_attempts: Option<u32>,
    lockout_minutes: Option<u32>,
    upper_case_needed: Option<String>,
    lower_case_needed: Option<String>,
    numeric_needed: Option<String>,
    non_alphanumeric_needed: Option<String>,
    exclude_names: Option<String>,
    exclude_email: Option<String>,
    no_confusing_letters: Option<String>,
    no_simple_passwords: Option<String>,
    no_common_vocabs: Option<String>,
    no_overlap_with_old: Option<String>,
}

pub async fn set_policy(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    posted: Posted<PolicyForm>,
) -> Response {
    let back = format!("/a/{account}/security");
    let form = posted.form;
    let preset = Some(form.preset.as_str()).filter(|p| !p.is_empty());
    let from_preset = preset.is_some();
    let build = move |base: PasswordPolicy| {
        if from_preset {
            return base;
        }
        let or = |v: Option<u32>, d: u32| v.unwrap_or(d);
        PasswordPolicy {
            minimum_length: or(form.minimum_length, base.minimum_length),
            maximum_length: or(form.maximum_length, base.maximum_length),
            password_life_span_days: or(form.password_life_span_days, 0),
            password_reuse_epoch: or(form.password_reuse_epoch, 0),
            max_failed_attempts: or(form.max_failed_attempts, 0),
            lockout_minutes: or(form.lockout_minutes, 0),
            upper_case_needed: form.upper_case_needed.is_some(),
            lower_case_needed: form.lower_case_needed.is_some(),
            numeric_needed: form.numeric_needed.is_some(),
            non_alphanumeric_needed: form.non_alphanumeric_needed.is_some(),
            exclude_names: form.exclude_names.is_some(),
            exclude_email: form.exclude_email.is_some(),
            no_confusing_letters: form.no_confusing_letters.is_some(),
            no_simple_passwords: form.no_simple_passwords.is_some(),
            no_common_vocabs: form.no_common_vocabs.is_some(),
            no_overlap_with_old: form.no_overlap_with_old.is_some(),
        }
    };
    let result = service
        .set_org_password_policy(&posted.viewer.caller, &account, preset, build)
        .await;
    let done = match preset {
        Some(name) => format!("password policy set from the `{name}` preset"),
        None => "password policy saved".to_owned(),
    };
    after_post(result, &back, &done)
}

/// One row of the role summary.
struct MatrixRow {
    label: &'static str,
    id: &'static str,
    level: &'static str,
    cells: Vec<bool>,
}

#[derive(Template)]
#[template(path = "roles.html")]
struct RolesPage {
    nav: Nav,
    roles: Vec<&'static str>,
    rows: Vec<MatrixRow>,
}

fn matrix() -> (Vec<&'static str>, Vec<MatrixRow>) {
    let roles = OrgRole::ALL.iter().map(|r| r.label()).collect();
    let rows = CATALOGUE
        .iter()
        .map(|row| MatrixRow {
            label: row.label,
            id: row.permission.as_str(),
            level: row.level.as_str(),
            cells: OrgRole::ALL.iter().map(|r| row.roles.contains(r)).collect(),
        })
        .collect();
    (roles, rows)
}

async fn roles(service: &ConsoleState, viewer: &SignedIn, account: Option<&str>) -> Response {
    let nav = match Nav::build(service, viewer, account, "roles", "Role summary").await {
        Ok(nav) => nav,
        Err(response) => return response,
    };
    let (roles, rows) = matrix();
    render(&RolesPage { nav, roles, rows }, viewer.flash.is_some())
}

pub async fn roles_page(State(service): State<ConsoleState>, viewer: SignedIn) -> Response {
    roles(&service, &viewer, None).await
}

pub async fn roles_page_in_org(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    viewer: SignedIn,
) -> Response {
    roles(&service, &viewer, Some(&account)).await
}

/// The sign-in options of the create and edit forms: everything the API sets on a provider
/// besides where it is and its certificates. An unchecked box is `false`.
#[derive(Deserialize)]
pub struct IdpOptionsForm {
    jit_enabled: Option<String>,
    #[serde(default)]
    default_role: String,
    #[serde(default)]
    map_email: String,
    #[serde(default)]
    map_first_name: String,
    #[serde(default)]
    map_last_name: String,
    #[serde(default)]
    map_groups: String,
    #[serde(default)]
    group_teams: String,
    #[serde(default)]
    name_id_format: String,
    idp_initiated: Option<String>,
    sign_requests: Option<String>,
    allow_sha1: Option<String>,
    #[serde(default)]
    clock_skew_secs: String,
}

impl IdpOptionsForm {
    /// Fills `input` with these options; a malformed group line or skew is refused by name.
    fn apply(self, input: &mut IdpInput) -> Result<(), ServiceError> {
        let mut mapping = std::collections::BTreeMap::new();
        for (key, value) in [
            ("email", self.map_email),
            ("first_name", self.map_first_name),
            ("last_name", self.map_last_name),
            ("groups", self.map_groups),
        ] {
            let value = value.trim();
            if !value.is_empty() {
                mapping.insert(key.to_owned(), value.to_owned());
            }
        }
        let mut groups = std::collections::BTreeMap::new();
        for line in self
            .group_teams
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            let Some((group, team)) = line.split_once('=') else {
                return Err(ServiceError::invalid(
                    "field.invalid",
                    "group_teams",
                    format!("write each group mapping as `group = team`, not `{line}`"),
                ));
            };
            groups.insert(group.trim().to_owned(), team.trim().to_owned());
        }
        let skew = self.clock_skew_secs.trim();
        if !skew.is_empty() {
            input.clock_skew_secs = Some(skew.parse().map_err(|_| {
                ServiceError::invalid(
                    "field.invalid",
                    "clock_skew_secs",
                    "the clock skew is a number of seconds",
                )
            })?);
        }
        input.attribute_mapping = Some(mapping);
        input.group_teams = Some(groups);
        input.jit_enabled = Some(self.jit_enabled.is_some());
        input.default_role = Some(self.default_role).filter(|r| !r.is_empty());
        input.name_id_format = Some(self.name_id_format).filter(|f| !f.is_empty());
        input.idp_initiated = Some(self.idp_initiated.is_some());
        input.sign_requests = Some(self.sign_requests.is_some());
        input.allow_sha1 = Some(self.allow_sha1.is_some());
        Ok(())
    }
}

#[derive(Deserialize)]
pub struct IdpForm {
    #[serde(flatten)]
    options: IdpOptionsForm,
    id: String,
    #[serde(default)]
    name: String,
    enabled: Option<String>,
    #[serde(default)]
    metadata_url: String,
    #[serde(default)]
    metadata_xml: String,
    #[serde(default)]
    entity_id: String,
    #[serde(default)]
    sso_url: String,
    #[serde(default)]
    certificate: String,
}

/// A pasted certificate as base64 DER: PEM armour and whitespace removed.
fn certificate_body(raw: &str) -> String {
    raw.lines()
        .filter(|line| !line.starts_with("-----"))
        .flat_map(|line| line.split_whitespace())
        .collect()
}

pub async fn create_idp(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    posted: Posted<IdpForm>,
) -> Response {
    let form = posted.form;
    let given = |v: String| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    let certificate = certificate_body(&form.certificate);
    let mut input = IdpInput {
        name: given(form.name).or_else(|| Some(form.id.clone())),
        id: Some(form.id),
        enabled: Some(form.enabled.is_some()),
        metadata_url: given(form.metadata_url),
        metadata_xml: given(form.metadata_xml),
        entity_id: given(form.entity_id),
        sso_url: given(form.sso_url),
        certificates: Some(certificate).filter(|c| !c.is_empty()).map(|c| vec![c]),
        ..IdpInput::default()
    };
    // Without metadata the form's NameID format stands; with it, the metadata's unless the
    // administrator changed the default.
    let result = match form.options.apply(&mut input) {
        Ok(()) => {
            service
                .create_identity_provider(&posted.viewer.caller, &account, input)
                .await
        }
        Err(err) => Err(err),
    };
    after_post(
        result,
        &format!("/a/{account}/security"),
        "identity provider created",
    )
}

#[derive(Deserialize)]
pub struct ToggleForm {
    enabled: Option<String>,
}

pub async fn toggle_idp(
    State(service): State<ConsoleState>,
    Path((account, idp)): Path<(String, String)>,
    posted: Posted<ToggleForm>,
) -> Response {
    let enabled = posted.form.enabled.as_deref() == Some("true");
    let input = IdpInput {
        enabled: Some(enabled),
        ..IdpInput::default()
    };
    let result = service
        .update_identity_provider(&posted.viewer.caller, &account, &idp, input, false)
        .await;
    let done = format!(
        "identity provider {idp} {}",
        if enabled { "enabled" } else { "disabled" }
    );
    after_post(result, &format!("/a/{account}/security"), &done)
}

/// The editable fields of an identity provider; a blank certificate or metadata keeps what is
/// stored.
#[derive(Deserialize)]
pub struct IdpEditForm {
    #[serde(flatten)]
    options: IdpOptionsForm,
    #[serde(default)]
    name: String,
    #[serde(default)]
    entity_id: String,
    #[serde(default)]
    sso_url: String,
    #[serde(default)]
    metadata_url: String,
    #[serde(default)]
    metadata_xml: String,
    #[serde(default)]
    certificate: String,
}

pub async fn update_idp(
    State(service): State<ConsoleState>,
    Path((account, idp)): Path<(String, String)>,
    posted: Posted<IdpEditForm>,
) -> Response {
    let form = posted.form;
    let given = |v: String| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    // An unchanged metadata URL is not sent, so saving a name does not fetch metadata again.
    let stored_url = match service
        .identity_provider(&posted.viewer.caller, &account, &idp)
        .await
    {
        Ok(view) => view.record.settings.metadata_url.unwrap_or_default(),
        Err(err) => return page_error(err),
    };
    let certificate = certificate_body(&form.certificate);
    let mut input = IdpInput {
        name: given(form.name),
        entity_id: given(form.entity_id),
        sso_url: given(form.sso_url),
        metadata_url: given(form.metadata_url).filter(|url| *url != stored_url),
        metadata_xml: given(form.metadata_xml),
        certificates: Some(certificate).filter(|c| !c.is_empty()).map(|c| vec![c]),
        ..IdpInput::default()
    };
    let result = match form.options.apply(&mut input) {
        Ok(()) => {
            service
                .update_identity_provider(&posted.viewer.caller, &account, &idp, input, false)
                .await
        }
        Err(err) => Err(err),
    };
    after_post(
        result,
        &format!("/a/{account}/security"),
        &format!("identity provider {idp} saved"),
    )
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    confirm: String,
}

pub async fn delete_idp(
    State(service): State<ConsoleState>,
    Path((account, idp)): Path<(String, String)>,
    posted: Posted<ConfirmForm>,
) -> Response {
    let back = format!("/a/{account}/security");
    if posted.form.confirm.trim() != idp {
        return crate::session::redirect_with(
            &back,
            true,
            &format!(
                "to delete the identity provider, type its id `{idp}` in the confirmation field"
            ),
        );
    }
    let result = service
        .delete_identity_provider(&posted.viewer.caller, &account, &idp)
        .await;
    after_post(result, &back, &format!("identity provider {idp} deleted"))
}

/// SSO enforcement: `enforced` and one `break_glass` field per ticked administrator.
pub async fn set_sso(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    posted: Posted<Vec<(String, String)>>,
) -> Response {
    let enforced = posted.form.iter().any(|(k, _)| k == "enforced");
    let break_glass: Vec<String> = posted
        .form
        .iter()
        .filter(|(k, _)| k == "break_glass")
        .map(|(_, v)| v.clone())
        .collect();
    let result = service
        .set_sso_enforcement(&posted.viewer.caller, &account, enforced, &break_glass)
        .await;
    let done = if enforced {
        "SSO enforcement on"
    } else {
        "SSO enforcement off"
    };
    after_post(result, &format!("/a/{account}/security"), done)
}

/// Whether the organization requires two-factor authentication of its members (`required`
/// ticked or not).
pub async fn set_two_factor(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    posted: Posted<Vec<(String, String)>>,
) -> Response {
    let required = posted.form.iter().any(|(k, _)| k == "required");
    let result = service
        .set_org_requires_two_factor(&posted.viewer.caller, &account, required)
        .await;
    let done = if required {
        "two-factor authentication required of every member"
    } else {
        "two-factor authentication no longer required"
    };
    after_post(result, &format!("/a/{account}/security"), done)
}
