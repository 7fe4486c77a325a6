//! The permission matrix of docs/contract.md §2 and the decision rules of docs/contract.md §4, as a data corpus run
//! through one world and one assertion helper.
//!
//! `corpus/matrix.txt` is a hand transcription of SPEC.md, independent of `src/permissions.rs`:
//! the expected decision of every (role × permission) cell is computed from that file by the
//! SPEC rules, never from the code under test. Around the matrix, table-driven cases cover the
//! other paths of a decision: strangers, anonymous callers, visibility, suspension, personal
//! ownership, collaborators, credential bindings and scopes, level mismatches, unknown
//! resources, SSO enforcement and platform service keys.

use portcullis_core::decision::Binding;
use portcullis_core::index::Account;
use portcullis_core::permissions::role_permissions;
use portcullis_core::{
    AccessIndex, AppKey, Change, Decision, Denial, Grant, Level, OrgKey, OrgRole, Permission,
    PermissionSet, Resource, Subject, TeamKey, TeamRole, UserKey, Visibility, check,
};

// ---------------------------------------------------------------------------------------------
// The corpus file
// ---------------------------------------------------------------------------------------------

/// How far a role's app-level cells reach (the `[roles]` section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Every app of the organization.
    Everywhere,
    /// Apps of the member's teams, as far as the team's role there allows.
    TeamLinked,
    /// No app at all.
    Nowhere,
}

#[derive(Debug)]
struct Row {
    permission: Permission,
    level: Level,
    /// One cell per role, in the order of `Corpus::roles`.
    cells: Vec<bool>,
}

#[derive(Debug)]
struct Corpus {
    roles: Vec<(OrgRole, Reach)>,
    rows: Vec<Row>,
    team_roles: Vec<(TeamRole, PermissionSet)>,
}

impl Corpus {
    fn holds(&self, role: OrgRole, row: &Row) -> bool {
        let column = self
            .roles
            .iter()
            .position(|(r, _)| *r == role)
            .unwrap_or_else(|| panic!("role `{role}` has no column in the corpus"));
        row.cells[column]
    }

    /// A role's column as a set.
    fn column(&self, role: OrgRole) -> PermissionSet {
        self.rows
            .iter()
            .filter(|row| self.holds(role, row))
            .map(|row| row.permission)
            .collect()
    }

    fn rows_at(&self, level: Level) -> usize {
        self.rows.iter().filter(|row| row.level == level).count()
    }
}

fn corpus() -> Corpus {
    parse_corpus(include_str!("../corpus/matrix.txt"))
        .unwrap_or_else(|e| panic!("corpus/matrix.txt: {e}"))
}

fn parse_corpus(text: &str) -> Result<Corpus, String> {
    let mut section = String::new();
    let mut roles = Vec::new();
    let mut rows: Vec<Row> = Vec::new();
    let mut team_lines = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let at = |message: String| format!("line {}: {message}", n + 1);
        let line = raw.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            name.clone_into(&mut section);
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        match section.as_str() {
            "roles" => {
                let [name, reach] = fields[..] else {
                    return Err(at(format!("expected `role reach`, got `{line}`")));
                };
                let role =
                    OrgRole::parse(name).ok_or_else(|| at(format!("unknown role `{name}`")))?;
                let reach = match reach {
                    "all-apps" => Reach::Everywhere,
                    "team-apps" => Reach::TeamLinked,
                    "no-apps" => Reach::Nowhere,
                    other => return Err(at(format!("unknown reach `{other}`"))),
                };
                roles.push((role, reach));
            }
            "matrix" => {
                let [id, level, cells @ ..] = &fields[..] else {
                    return Err(at(format!(
                        "expected `permission level cells..`, got `{line}`"
                    )));
                };
                let permission = Permission::parse(id)
                    .ok_or_else(|| at(format!("permission `{id}` is unknown to the code")))?;
                let level = match *level {
                    "org" => Level::Org,
                    "app" => Level::App,
                    other => return Err(at(format!("unknown level `{other}`"))),
                };
                if cells.len() != roles.len() {
                    return Err(at(format!(
                        "`{id}` has {} cells for {} roles",
                        cells.len(),
                        roles.len()
                    )));
                }
                let cells = cells
                    .iter()
                    .map(|cell| match *cell {
                        "Y" => Ok(true),
                        "N" => Ok(false),
                        other => Err(at(format!("cell `{other}` of `{id}` is not Y or N"))),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if rows.iter().any(|row| row.permission == permission) {
                    return Err(at(format!("`{id}` appears twice")));
                }
                rows.push(Row {
                    permission,
                    level,
                    cells,
                });
            }
            "team_roles" => team_lines.push((n + 1, fields)),
            other => return Err(at(format!("line outside a known section (`{other}`)"))),
        }
    }
    // Team roles are expanded last: `*` means every app-level row of the matrix.
    let mut team_roles = Vec::new();
    for (line, fields) in team_lines {
        let at = |message: String| format!("line {line}: {message}");
        let [name, permissions @ ..] = &fields[..] else {
            return Err(at("empty team role line".to_owned()));
        };
        let role =
            TeamRole::parse(name).ok_or_else(|| at(format!("unknown team role `{name}`")))?;
        let mut allowed = PermissionSet::EMPTY;
        for id in permissions {
            if *id == "*" {
                allowed = rows
                    .iter()
                    .filter(|row| row.level == Level::App)
                    .fold(allowed, |set, row| set.with(row.permission));
                continue;
            }
            let row = rows
                .iter()
                .find(|row| row.permission.as_str() == *id)
                .ok_or_else(|| at(format!("`{id}` is not a row of [matrix]")))?;
            if row.level != Level::App {
                return Err(at(format!("`{id}` is not an app-level permission")));
            }
            allowed = allowed.with(row.permission);
        }
        team_roles.push((role, allowed));
    }
    Ok(Corpus {
        roles,
        rows,
        team_roles,
    })
}

// ---------------------------------------------------------------------------------------------
// The world every case runs in
// ---------------------------------------------------------------------------------------------

const ACME: OrgKey = OrgKey(1);
const GLOBEX: OrgKey = OrgKey(2);

const ML_TEAM: TeamKey = TeamKey(1);

/// In `ml-team`, with the team role the world is built with. Private.
const IN_TEAM: AppKey = AppKey(1);
/// An acme app in no team. Private.
const OUTSIDE: AppKey = AppKey(2);
const PUBLIC_DEMO: AppKey = AppKey(3);
const ORG_WIDE: AppKey = AppKey(4);
/// A personal app of `solo`.
const NOTEBOOK: AppKey = AppKey(5);
const FORECASTS: AppKey = AppKey(6);
const NO_SUCH_APP: AppKey = AppKey(999);

/// No membership anywhere.
const STRANGER: UserKey = UserKey(30);
/// Not a member; collaborator on `outside` with `app.view` and `models.create`.
const GUEST: UserKey = UserKey(31);
/// A suspended org contributor of acme.
const DORMANT: UserKey = UserKey(32);
/// Owns the personal app `notebook`; in no organization.
const SOLO: UserKey = UserKey(33);
const GLOBEX_ADMIN: UserKey = UserKey(34);
/// The platform operator: holds no role in any organization.
const OPERATOR: UserKey = UserKey(35);
const NO_SUCH_USER: UserKey = UserKey(999);

/// The acme member holding `role` (one per role).
fn member(role: OrgRole) -> UserKey {
    UserKey(10 + role as u32)
}

/// Builds the world: organization `acme` with one member per role, team `ml-team` (holding the
/// team contributor) linked to app `in-team` with `team_role`, app `outside` in no team, a
/// public and an org-visible app, a personal app, a second organization `globex`, and a few
/// users outside acme (a stranger, a collaborator, a suspended member, the operator).
fn world(team_role: TeamRole) -> AccessIndex {
    let user = |key: UserKey, id: &str, active: bool, operator: bool| Change::UserUpserted {
        key,
        id: id.to_owned(),
        active,
        operator,
    };
    let app = |key: AppKey, owner: Account, id: &str, visibility: Visibility| Change::AppUpserted {
        key,
        owner,
        id: id.to_owned(),
        visibility,
    };
    let mut changes = vec![
        Change::OrgCreated {
            key: ACME,
            id: "acme".to_owned(),
        },
        Change::OrgCreated {
            key: GLOBEX,
            id: "globex".to_owned(),
        },
    ];
    for role in OrgRole::ALL {
        changes.push(user(member(role), role.as_str(), true, false));
        changes.push(Change::MemberSet {
            org: ACME,
            user: member(role),
            role,
        });
    }
    changes.extend([
        user(STRANGER, "stranger", true, false),
        user(GUEST, "guest", true, false),
        user(DORMANT, "dormant", false, false),
        user(SOLO, "solo", true, false),
        user(GLOBEX_ADMIN, "globex-admin", true, false),
        user(OPERATOR, "operator", true, true),
        Change::MemberSet {
            org: ACME,
            user: DORMANT,
            role: OrgRole::OrgContributor,
        },
        Change::MemberSet {
            org: GLOBEX,
            user: GLOBEX_ADMIN,
            role: OrgRole::Admin,
        },
        app(IN_TEAM, Account::Org(ACME), "in-team", Visibility::Private),
        app(OUTSIDE, Account::Org(ACME), "outside", Visibility::Private),
        app(
            PUBLIC_DEMO,
            Account::Org(ACME),
            "public-demo",
            Visibility::Public,
        ),
        app(ORG_WIDE, Account::Org(ACME), "org-wide", Visibility::Org),
        app(
            NOTEBOOK,
            Account::User(SOLO),
            "notebook",
            Visibility::Private,
        ),
        app(
            FORECASTS,
            Account::Org(GLOBEX),
            "forecasts",
            Visibility::Private,
        ),
        Change::TeamCreated {
            key: ML_TEAM,
            org: ACME,
            id: "ml-team".to_owned(),
            default_role: TeamRole::FullAccess,
        },
        Change::TeamMemberAdded {
            team: ML_TEAM,
            user: member(OrgRole::TeamContributor),
        },
        Change::TeamAppSet {
            team: ML_TEAM,
            app: IN_TEAM,
            role: team_role,
        },
        Change::CollaboratorSet {
            app: OUTSIDE,
            user: GUEST,
            permissions: PermissionSet::from_iter([Permission::AppView, Permission::ModelsCreate]),
        },
    ]);
    let mut index = AccessIndex::new();
    index.apply(1, &changes);
    index
}

/// The world of `world(FullAccess)` with more committed changes on top.
fn world_with(changes: &[Change]) -> AccessIndex {
    let mut index = world(TeamRole::FullAccess);
    index.apply(index.revision() + 1, changes);
    index
}

// ---------------------------------------------------------------------------------------------
// The one assertion helper
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Expect {
    Allow(Vec<Grant>),
    Deny(Denial),
}

/// `None` when the decision is the expected one, else what went wrong.
fn mismatch(decision: &Decision, expect: &Expect) -> Option<String> {
    let got = match (decision.allowed, decision.denial) {
        (true, None) => Expect::Allow(decision.via.to_vec()),
        (false, Some(denial)) if decision.via.is_empty() => Expect::Deny(denial),
        _ => return Some(format!("inconsistent decision {decision:?}")),
    };
    (got != *expect).then(|| format!("expected {}, got {}", render(expect), render(&got)))
}

fn render(expect: &Expect) -> String {
    match expect {
        Expect::Allow(via) => format!("allowed via {via:?}"),
        Expect::Deny(denial) => format!("denied ({denial:?})"),
    }
}

fn describe(index: &AccessIndex, resource: Resource) -> String {
    let app = |key: AppKey| {
        index
            .app(key)
            .map_or_else(|| format!("app #{}", key.0), |a| format!("app `{}`", a.id))
    };
    match resource {
        Resource::Account(account) => match index.account_id(account) {
            Some(id) => format!("account `{id}`"),
            None => format!("unknown account {account:?}"),
        },
        Resource::App(key) => app(key),
        Resource::AppItem {
            app: key,
            visibility,
        } => format!("{visibility} item of {}", app(key)),
    }
}

struct Case {
    name: &'static str,
    subject: Subject,
    permission: Permission,
    resource: Resource,
    expect: Expect,
}

fn case(
    name: &'static str,
    subject: &Subject,
    permission: Permission,
    resource: Resource,
    expect: Expect,
) -> Case {
    Case {
        name,
        subject: subject.clone(),
        permission,
        resource,
        expect,
    }
}

/// Runs every case and reports all failures at once, each naming who asked what about which
/// resource.
fn run(index: &AccessIndex, cases: &[Case]) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            let decision = check(index, &c.subject, c.permission, c.resource);
            mismatch(&decision, &c.expect).map(|m| {
                format!(
                    "{}: `{}` on {}: {m}",
                    c.name,
                    c.permission,
                    describe(index, c.resource)
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n  {}",
        failures.len(),
        cases.len(),
        failures.join("\n  ")
    );
}

fn allow(via: &[Grant]) -> Expect {
    Expect::Allow(via.to_vec())
}

fn deny(denial: Denial) -> Expect {
    Expect::Deny(denial)
}

fn org(key: OrgKey) -> Resource {
    Resource::Account(Account::Org(key))
}

fn app(key: AppKey) -> Resource {
    Resource::App(key)
}

fn item(key: AppKey, visibility: Visibility) -> Resource {
    Resource::AppItem {
        app: key,
        visibility,
    }
}

/// A PAT or app key of `user`.
fn token(user: UserKey, scopes: PermissionSet, binding: Binding) -> Subject {
    Subject {
        user: Some(user),
        scopes,
        binding,
        platform_service: false,
        sso_orgs: Default::default(),
    }
}

fn scopes(permissions: &[Permission]) -> PermissionSet {
    permissions.iter().copied().collect()
}

// ---------------------------------------------------------------------------------------------
// The corpus against the catalogue
// ---------------------------------------------------------------------------------------------

#[test]
fn corpus_lists_every_permission_of_the_catalogue_in_order() {
    let corpus = corpus();
    let in_corpus: Vec<&str> = corpus.rows.iter().map(|r| r.permission.as_str()).collect();
    let in_code: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
    let missing: Vec<&&str> = in_code.iter().filter(|p| !in_corpus.contains(p)).collect();
    assert!(
        missing.is_empty(),
        "permissions of the code missing from corpus/matrix.txt: {missing:?}"
    );
    assert_eq!(
        in_corpus, in_code,
        "corpus order differs from Permission::ALL"
    );
}

#[test]
fn corpus_levels_and_role_columns_equal_the_catalogue() {
    let corpus = corpus();
    assert_eq!(
        corpus.roles.iter().map(|(r, _)| *r).collect::<Vec<_>>(),
        OrgRole::ALL.to_vec(),
        "corpus role columns"
    );
    for row in &corpus.rows {
        assert_eq!(
            row.permission.level(),
            row.level,
            "level of `{}`",
            row.permission
        );
    }
    for (role, _) in &corpus.roles {
        assert_eq!(
            role_permissions(*role),
            corpus.column(*role),
            "column of role `{role}`"
        );
    }
    for (role, allowed) in &corpus.team_roles {
        assert_eq!(role.permissions(), *allowed, "team role `{role}`");
    }
    let team_roles: Vec<TeamRole> = corpus.team_roles.iter().map(|(r, _)| *r).collect();
    assert_eq!(team_roles, TeamRole::ALL.to_vec(), "corpus team roles");
}

// ---------------------------------------------------------------------------------------------
// Every cell
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Org,
    InTeam,
    Outside,
}

impl Place {
    fn resource(self) -> Resource {
        match self {
            Place::Org => org(ACME),
            Place::InTeam => app(IN_TEAM),
            Place::Outside => app(OUTSIDE),
        }
    }
}

/// The decision docs/contract.md §4 prescribes for one cell, from the corpus alone.
fn expected_cell(
    corpus: &Corpus,
    (role, reach): (OrgRole, Reach),
    row: &Row,
    place: Place,
    (team_role, team_allows): (TeamRole, PermissionSet),
) -> Expect {
    // The org-role cell is always the ceiling.
    if !corpus.holds(role, row) {
        return deny(Denial::RoleLacksPermission(role));
    }
    if row.level == Level::Org {
        return allow(&[Grant::Role(role)]);
    }
    match (reach, place) {
        (Reach::Everywhere, _) => allow(&[Grant::Role(role)]),
        (Reach::Nowhere, _) => deny(Denial::RoleLacksPermission(role)),
        (Reach::TeamLinked, Place::InTeam) if team_allows.contains(row.permission) => {
            allow(&[Grant::Team {
                team: ML_TEAM,
                role: team_role,
            }])
        }
        (Reach::TeamLinked, Place::InTeam) => deny(Denial::TeamRoleLacksPermission),
        (Reach::TeamLinked, _) => deny(Denial::AppNotInTeams),
    }
}

#[test]
fn every_role_permission_cell_on_the_org_and_on_apps_inside_and_outside_the_team() {
    let corpus = corpus();
    let mut failures = Vec::new();
    let mut checked = 0;
    for &(team_role, team_allows) in &corpus.team_roles {
        let index = world(team_role);
        for &(role, reach) in &corpus.roles {
            let subject = Subject::user(member(role));
            for row in &corpus.rows {
                let places: &[Place] = match row.level {
                    Level::Org => &[Place::Org],
                    Level::App => &[Place::InTeam, Place::Outside],
                };
                for &place in places {
                    let expect =
                        expected_cell(&corpus, (role, reach), row, place, (team_role, team_allows));
                    let decision = check(&index, &subject, row.permission, place.resource());
                    checked += 1;
                    if let Some(m) = mismatch(&decision, &expect) {
                        failures.push(format!(
                            "role `{role}`, permission `{}`, {} (ml-team is `{team_role}` there): {m}",
                            row.permission,
                            describe(&index, place.resource()),
                        ));
                    }
                }
            }
        }
    }
    let per_world =
        corpus.roles.len() * (corpus.rows_at(Level::Org) + 2 * corpus.rows_at(Level::App));
    assert_eq!(checked, corpus.team_roles.len() * per_world);
    assert_eq!(
        (
            corpus.roles.len(),
            corpus.rows.len(),
            corpus.team_roles.len()
        ),
        (6, 34, 4)
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} cells differ from corpus/matrix.txt:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------------
// Around the matrix
// ---------------------------------------------------------------------------------------------

#[test]
#[rustfmt::skip]
fn non_members_hold_nothing_in_the_organization() {
    use Permission::*;
    let stranger = Subject::user(STRANGER);
    let globex_admin = Subject::user(GLOBEX_ADMIN);
    let operator = Subject::user(OPERATOR);
    run(
        &world(TeamRole::FullAccess),
        &[
            case("stranger", &stranger, SidebarView, org(ACME), deny(Denial::NotMember)),
            case("stranger", &stranger, AppView, app(IN_TEAM), deny(Denial::NotMember)),
            case("stranger", &stranger, AppView, app(OUTSIDE), deny(Denial::NotMember)),
            case("admin of globex", &globex_admin, MembersManage, org(ACME), deny(Denial::NotMember)),
            case("admin of globex", &globex_admin, AppDelete, app(IN_TEAM), deny(Denial::NotMember)),
            case("admin of globex", &globex_admin, MembersManage, org(GLOBEX), allow(&[Grant::Role(OrgRole::Admin)])),
            case("admin of globex", &globex_admin, AppDelete, app(FORECASTS), allow(&[Grant::Role(OrgRole::Admin)])),
            case("acme admin", &Subject::user(member(OrgRole::Admin)), AppView, app(FORECASTS), deny(Denial::NotMember)),
            case("operator", &operator, SidebarView, org(ACME), deny(Denial::NotMember)),
            case("operator", &operator, AuthzCheck, org(ACME), deny(Denial::NotMember)),
        ],
    );
}

#[test]
#[rustfmt::skip]
fn anonymous_callers_see_public_apps_only() {
    use Permission::*;
    let anonymous = Subject::anonymous();
    let denied = deny(Denial::Unauthenticated);
    let public = allow(&[Grant::Visibility(Visibility::Public)]);
    run(
        &world(TeamRole::FullAccess),
        &[
            case("anonymous", &anonymous, SidebarView, org(ACME), denied.clone()),
            case("anonymous", &anonymous, AppView, app(IN_TEAM), denied.clone()),
            case("anonymous", &anonymous, AppView, app(ORG_WIDE), denied.clone()),
            case("anonymous", &anonymous, AppView, app(PUBLIC_DEMO), public.clone()),
            case("anonymous", &anonymous, ModelsCreate, app(PUBLIC_DEMO), denied.clone()),
            case("anonymous", &anonymous, CollaboratorsView, app(PUBLIC_DEMO), denied.clone()),
            case("anonymous", &anonymous, AppView, item(PUBLIC_DEMO, Visibility::Public), public.clone()),
            case("private item of a public app", &anonymous, AppView, item(PUBLIC_DEMO, Visibility::Private), denied.clone()),
            case("public item of a private app", &anonymous, AppView, item(IN_TEAM, Visibility::Public), denied.clone()),
            case("stranger", &Subject::user(STRANGER), AppView, app(PUBLIC_DEMO), public.clone()),
            case("org user", &Subject::user(member(OrgRole::OrgUser)), AppView, app(PUBLIC_DEMO), allow(&[Grant::Role(OrgRole::OrgUser), Grant::Visibility(Visibility::Public)])),
        ],
    );
}

#[test]
#[rustfmt::skip]
fn org_visibility_gives_app_view_to_members_of_the_owning_org_only() {
    use Permission::*;
    let org_visible = allow(&[Grant::Visibility(Visibility::Org)]);
    let financial = Subject::user(member(OrgRole::FinancialManager));
    run(
        &world(TeamRole::FullAccess),
        &[
            case("financial manager", &financial, AppView, app(ORG_WIDE), org_visible.clone()),
            case("infrastructure manager", &Subject::user(member(OrgRole::InfrastructureManager)), AppView, app(ORG_WIDE), org_visible.clone()),
            case("team contributor (not in ml-team's apps)", &Subject::user(member(OrgRole::TeamContributor)), AppView, app(ORG_WIDE), org_visible.clone()),
            case("financial manager", &financial, ModelsCreate, app(ORG_WIDE), deny(Denial::RoleLacksPermission(OrgRole::FinancialManager))),
            case("financial manager", &financial, AppView, app(OUTSIDE), deny(Denial::RoleLacksPermission(OrgRole::FinancialManager))),
            case("org user", &Subject::user(member(OrgRole::OrgUser)), AppView, app(ORG_WIDE), allow(&[Grant::Role(OrgRole::OrgUser), Grant::Visibility(Visibility::Org)])),
            case("public item of an org app", &financial, AppView, item(ORG_WIDE, Visibility::Public), org_visible.clone()),
            case("org item of a public app", &financial, AppView, item(PUBLIC_DEMO, Visibility::Org), org_visible.clone()),
            case("private item of an org app", &financial, AppView, item(ORG_WIDE, Visibility::Private), deny(Denial::RoleLacksPermission(OrgRole::FinancialManager))),
            case("stranger", &Subject::user(STRANGER), AppView, app(ORG_WIDE), deny(Denial::NotMember)),
            case("stranger", &Subject::user(STRANGER), AppView, item(PUBLIC_DEMO, Visibility::Org), deny(Denial::NotMember)),
            case("admin of globex", &Subject::user(GLOBEX_ADMIN), AppView, app(ORG_WIDE), deny(Denial::NotMember)),
            case("anonymous", &Subject::anonymous(), AppView, app(ORG_WIDE), deny(Denial::Unauthenticated)),
        ],
    );
}

#[test]
#[rustfmt::skip]
fn suspended_and_unknown_users_are_denied_before_any_grant() {
    use Permission::*;
    let dormant = Subject::user(DORMANT);
    let ghost = Subject::user(NO_SUCH_USER);
    run(
        &world(TeamRole::FullAccess),
        &[
            case("suspended org contributor", &dormant, SidebarView, org(ACME), deny(Denial::Suspended)),
            case("suspended org contributor", &dormant, ModelsCreate, app(IN_TEAM), deny(Denial::Suspended)),
            case("suspended org contributor", &dormant, AppView, app(PUBLIC_DEMO), deny(Denial::Suspended)),
            case("unknown user", &ghost, AppView, app(PUBLIC_DEMO), deny(Denial::CredentialInvalid)),
            case("unknown user", &ghost, SidebarView, org(ACME), deny(Denial::CredentialInvalid)),
        ],
    );
    // Suspending a member takes effect at the next revision.
    let admin = member(OrgRole::Admin);
    let index = world_with(&[Change::UserUpserted {
        key: admin,
        id: "admin".to_owned(),
        active: false,
        operator: false,
    }]);
    run(
        &index,
        &[case("suspended admin", &Subject::user(admin), MembersManage, org(ACME), deny(Denial::Suspended))],
    );
}

#[test]
#[rustfmt::skip]
fn the_owner_of_a_personal_app_holds_every_app_level_permission_on_it() {
    let solo = Subject::user(SOLO);
    let mut cases: Vec<Case> = Permission::ALL
        .iter()
        .filter(|p| p.level() == Level::App)
        .map(|p| case("owner", &solo, *p, app(NOTEBOOK), allow(&[Grant::Owner])))
        .collect();
    cases.extend([
        case("owner", &solo, Permission::AppsCreate, Resource::Account(Account::User(SOLO)), allow(&[Grant::Owner])),
        case("owner", &solo, Permission::SidebarView, org(ACME), deny(Denial::NotMember)),
        case("owner", &solo, Permission::AppView, app(OUTSIDE), deny(Denial::NotMember)),
        case("acme admin", &Subject::user(member(OrgRole::Admin)), Permission::AppView, app(NOTEBOOK), deny(Denial::NotMember)),
        case("stranger", &Subject::user(STRANGER), Permission::AppsCreate, Resource::Account(Account::User(SOLO)), deny(Denial::NotMember)),
        case("anonymous", &Subject::anonymous(), Permission::AppView, app(NOTEBOOK), deny(Denial::Unauthenticated)),
    ]);
    run(&world(TeamRole::FullAccess), &cases);
}

#[test]
#[rustfmt::skip]
fn collaborators_hold_what_they_were_granted_on_that_app_only() {
    use Permission::*;
    let guest = Subject::user(GUEST);
    run(
        &world(TeamRole::FullAccess),
        &[
            case("collaborator", &guest, AppView, app(OUTSIDE), allow(&[Grant::Collaborator])),
            case("collaborator", &guest, ModelsCreate, app(OUTSIDE), allow(&[Grant::Collaborator])),
            case("collaborator", &guest, ModelsDeleteAll, app(OUTSIDE), deny(Denial::NotMember)),
            case("collaborator", &guest, AppView, app(IN_TEAM), deny(Denial::NotMember)),
            case("collaborator", &guest, SidebarView, org(ACME), deny(Denial::NotMember)),
        ],
    );

    // A team contributor who collaborates on an app outside its teams: the union of both.
    let contributor = member(OrgRole::TeamContributor);
    let index = world_with(&[Change::CollaboratorSet {
        app: OUTSIDE,
        user: contributor,
        permissions: scopes(&[ModelsCreate]),
    }]);
    let subject = Subject::user(contributor);
    run(
        &index,
        &[
            case("collaborating team contributor", &subject, ModelsCreate, app(OUTSIDE), allow(&[Grant::Collaborator])),
            case("collaborating team contributor", &subject, WorkflowsCreate, app(OUTSIDE), deny(Denial::AppNotInTeams)),
        ],
    );

    // Removing the collaboration takes the grant away.
    let index = world_with(&[Change::CollaboratorRemoved {
        app: OUTSIDE,
        user: GUEST,
    }]);
    run(
        &index,
        &[case("former collaborator", &guest, AppView, app(OUTSIDE), deny(Denial::NotMember))],
    );
}

#[test]
#[rustfmt::skip]
fn a_collaborator_never_holds_delete_edit_id_or_change_visibility() {
    // docs/contract.md §4: a collaboration is "never `app.delete`, `app.edit_id`, `app.change_visibility`",
    // even if such a grant reached the index.
    let index = world_with(&[Change::CollaboratorSet {
        app: OUTSIDE,
        user: STRANGER,
        permissions: PermissionSet::all_at(Level::App),
    }]);
    let stranger = Subject::user(STRANGER);
    let forbidden = [
        Permission::AppDelete,
        Permission::AppEditId,
        Permission::AppChangeVisibility,
    ];
    let cases: Vec<Case> = Permission::ALL
        .iter()
        .filter(|p| p.level() == Level::App)
        .map(|p| {
            let expect = if forbidden.contains(p) {
                deny(Denial::NotMember)
            } else {
                allow(&[Grant::Collaborator])
            };
            case("collaborator granted everything", &stranger, *p, app(OUTSIDE), expect)
        })
        .collect();
    run(&index, &cases);
}

#[test]
#[rustfmt::skip]
fn an_app_key_reaches_nothing_outside_its_app() {
    use Permission::*;
    let key = token(
        member(OrgRole::Admin),
        PermissionSet::all(),
        Binding::App(IN_TEAM),
    );
    let elsewhere = deny(Denial::CredentialBoundElsewhere);
    let admin = allow(&[Grant::Role(OrgRole::Admin)]);
    run(
        &world(TeamRole::FullAccess),
        &[
            case("admin's app key for in-team", &key, ModelsCreate, app(IN_TEAM), admin.clone()),
            case("admin's app key for in-team", &key, AppView, item(IN_TEAM, Visibility::Private), admin.clone()),
            case("admin's app key for in-team", &key, ModelsCreate, app(OUTSIDE), elsewhere.clone()),
            case("admin's app key for in-team", &key, AppView, app(PUBLIC_DEMO), elsewhere.clone()),
            case("admin's app key for in-team", &key, AppView, app(NOTEBOOK), deny(Denial::NotMember)),
            case("admin's app key for in-team", &key, SidebarView, org(ACME), elsewhere.clone()),
            case("admin's app key for in-team", &key, MembersManage, org(ACME), elsewhere.clone()),
        ],
    );
}

#[test]
#[rustfmt::skip]
fn a_pat_bound_to_an_organization_reaches_only_that_organization() {
    use Permission::*;
    let admin = member(OrgRole::Admin);
    let bound_to_globex = token(admin, PermissionSet::all(), Binding::Org(GLOBEX));
    let bound_to_acme = token(admin, PermissionSet::all(), Binding::Org(ACME));
    let globex_pat = token(GLOBEX_ADMIN, PermissionSet::all(), Binding::Org(GLOBEX));
    let solo_pat = token(SOLO, PermissionSet::all(), Binding::Org(ACME));
    let elsewhere = deny(Denial::CredentialBoundElsewhere);
    let as_admin = allow(&[Grant::Role(OrgRole::Admin)]);
    run(
        &world(TeamRole::FullAccess),
        &[
            case("acme admin's PAT bound to globex", &bound_to_globex, MembersManage, org(ACME), elsewhere.clone()),
            case("acme admin's PAT bound to globex", &bound_to_globex, AppView, app(IN_TEAM), elsewhere.clone()),
            case("acme admin's PAT bound to acme", &bound_to_acme, MembersManage, org(ACME), as_admin.clone()),
            case("acme admin's PAT bound to acme", &bound_to_acme, AppView, app(IN_TEAM), as_admin.clone()),
            case("globex admin's PAT bound to globex", &globex_pat, MembersManage, org(GLOBEX), as_admin.clone()),
            case("globex admin's PAT bound to globex", &globex_pat, MembersManage, org(ACME), deny(Denial::NotMember)),
            case("owner's PAT bound to acme", &solo_pat, AppView, app(NOTEBOOK), elsewhere.clone()),
        ],
    );
}

#[test]
#[rustfmt::skip]
fn scopes_restrict_and_never_add() {
    use Permission::*;
    let admin = member(OrgRole::Admin);
    let view_only = token(admin, scopes(&[AppView]), Binding::Anywhere);
    let nothing = token(admin, PermissionSet::EMPTY, Binding::Anywhere);
    let org_user = token(
        member(OrgRole::OrgUser),
        scopes(&[ModelsCreate, AppView]),
        Binding::Anywhere,
    );
    let excluded = deny(Denial::ScopeExcludesPermission);
    run(
        &world(TeamRole::FullAccess),
        &[
            case("admin's view-only PAT", &view_only, AppView, app(IN_TEAM), allow(&[Grant::Role(OrgRole::Admin)])),
            case("admin's view-only PAT", &view_only, ModelsCreate, app(IN_TEAM), excluded.clone()),
            case("admin's view-only PAT", &view_only, MembersManage, org(ACME), excluded.clone()),
            case("admin's scope-less PAT", &nothing, SidebarView, org(ACME), excluded.clone()),
            case("org user's PAT scoped to models.create", &org_user, ModelsCreate, app(IN_TEAM), deny(Denial::RoleLacksPermission(OrgRole::OrgUser))),
            case("org user's PAT scoped to models.create", &org_user, AppView, app(IN_TEAM), allow(&[Grant::Role(OrgRole::OrgUser)])),
        ],
    );
}

#[test]
#[rustfmt::skip]
fn a_permission_asked_at_the_wrong_level_is_a_level_mismatch() {
    use Permission::*;
    let admin = Subject::user(member(OrgRole::Admin));
    let mismatch = deny(Denial::LevelMismatch);
    run(
        &world(TeamRole::FullAccess),
        &[
            case("admin", &admin, SidebarView, app(IN_TEAM), mismatch.clone()),
            case("admin", &admin, MembersManage, item(IN_TEAM, Visibility::Public), mismatch.clone()),
            case("admin", &admin, AppView, org(ACME), mismatch.clone()),
            case("admin", &admin, ModelsCreate, Resource::Account(Account::User(SOLO)), mismatch.clone()),
            case("anonymous", &Subject::anonymous(), AppView, org(ACME), mismatch.clone()),
        ],
    );
}

#[test]
#[rustfmt::skip]
fn unknown_resources_are_not_found() {
    use Permission::*;
    let admin = Subject::user(member(OrgRole::Admin));
    let not_found = deny(Denial::NotFound);
    run(
        &world(TeamRole::FullAccess),
        &[
            case("admin", &admin, AppView, app(NO_SUCH_APP), not_found.clone()),
            case("admin", &admin, AppView, item(NO_SUCH_APP, Visibility::Public), not_found.clone()),
            case("anonymous", &Subject::anonymous(), AppView, app(NO_SUCH_APP), not_found.clone()),
            case("admin", &admin, SidebarView, org(OrgKey(999)), not_found.clone()),
            case("suspended user", &Subject::user(DORMANT), AppView, app(NO_SUCH_APP), not_found.clone()),
        ],
    );
    let index = world_with(&[Change::AppDeleted { key: IN_TEAM }]);
    run(
        &index,
        &[
            case("admin", &admin, AppView, app(IN_TEAM), not_found.clone()),
            case("team contributor", &Subject::user(member(OrgRole::TeamContributor)), AppView, app(IN_TEAM), not_found.clone()),
        ],
    );
}

#[test]
#[rustfmt::skip]
fn sso_enforcement_requires_an_sso_session_from_members() {
    use Permission::*;
    let index = world_with(&[Change::OrgSsoEnforced {
        key: ACME,
        enforced: true,
    }]);
    let admin = member(OrgRole::Admin);
    let mut via_sso = Subject::user(admin);
    via_sso.sso_orgs = [ACME].into_iter().collect();
    run(
        &index,
        &[
            case("admin with a password session", &Subject::user(admin), MembersManage, org(ACME), deny(Denial::SsoRequired)),
            case("admin with a password session", &Subject::user(admin), AppView, app(IN_TEAM), deny(Denial::SsoRequired)),
            case("admin with an SSO session", &via_sso, MembersManage, org(ACME), allow(&[Grant::Role(OrgRole::Admin)])),
            case("stranger", &Subject::user(STRANGER), AppView, app(PUBLIC_DEMO), allow(&[Grant::Visibility(Visibility::Public)])),
            case("collaborator", &Subject::user(GUEST), AppView, app(OUTSIDE), allow(&[Grant::Collaborator])),
        ],
    );
}

#[test]
#[rustfmt::skip]
fn platform_service_keys_check_only_in_their_bound_organizations() {
    use Permission::*;
    let service = |scopes: PermissionSet, binding: Binding| Subject {
        user: Some(OPERATOR),
        scopes,
        binding,
        platform_service: true,
        sso_orgs: Default::default(),
    };
    let acme_only = service(
        scopes(&[AuthzCheck, UsageWrite]),
        Binding::Orgs([ACME].into_iter().collect()),
    );
    let everywhere_check_only = service(scopes(&[AuthzCheck]), Binding::Anywhere);
    let platform = allow(&[Grant::PlatformService]);
    run(
        &world(TeamRole::FullAccess),
        &[
            case("service key for acme", &acme_only, AuthzCheck, org(ACME), platform.clone()),
            case("service key for acme", &acme_only, UsageWrite, org(ACME), platform.clone()),
            case("service key for acme", &acme_only, AuthzCheck, org(GLOBEX), deny(Denial::CredentialBoundElsewhere)),
            case("service key for acme", &acme_only, MembersManage, org(ACME), deny(Denial::NotMember)),
            case("service key for acme", &acme_only, BillingView, org(ACME), deny(Denial::NotMember)),
            case("service key for acme", &acme_only, AppView, app(IN_TEAM), deny(Denial::NotMember)),
            case("service key for acme", &acme_only, AuthzCheck, Resource::Account(Account::User(SOLO)), deny(Denial::NotMember)),
            case("service key everywhere", &everywhere_check_only, AuthzCheck, org(GLOBEX), platform.clone()),
            case("service key everywhere", &everywhere_check_only, UsageWrite, org(GLOBEX), deny(Denial::ScopeExcludesPermission)),
            case("operator's own session", &Subject::user(OPERATOR), AuthzCheck, org(ACME), deny(Denial::NotMember)),
        ],
    );
}
