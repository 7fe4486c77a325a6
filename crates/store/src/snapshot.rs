//! Loading the whole access index from committed data, at one consistent revision.

use portcullis_core::index::{Account, CredentialEntry, ItemKind};
use portcullis_core::{AccessIndex, Change, Timestamp};

use crate::connect::Backend;
use crate::credentials::{CREDENTIAL_COLUMNS, credential_from_row};
use crate::rows::{
    app_key, flag, org_key, org_role, scopes_from_text, team_key, team_role, user_key, visibility,
};
use crate::{Result, Store, StoreError};

impl Store {
    /// Builds the index from the store: every account, membership, team, link, app,
    /// collaborator and live credential, read in one snapshot.
    pub async fn load_index(&self, now: Timestamp) -> Result<AccessIndex> {
        let mut tx = self.pool.begin().await?;
        if self.backend() == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        let revision: i64 = sqlx::query_scalar("SELECT value FROM meta WHERE name = 'revision'")
            .fetch_one(&mut *tx)
            .await?;
        let mut changes = Vec::new();

        let users: Vec<(i64, String, String, i64)> = sqlx::query_as(
            "SELECT a.id, a.handle, u.state, u.is_operator FROM users u JOIN accounts a ON a.id = u.account_id",
        )
        .fetch_all(&mut *tx)
        .await?;
        for (id, handle, state, operator) in users {
            changes.push(Change::UserUpserted {
                key: user_key(id)?,
                id: handle,
                active: state == "active",
                operator: flag(operator),
            });
        }
        let orgs: Vec<(i64, String)> = sqlx::query_as(
            "SELECT a.id, a.handle FROM orgs o JOIN accounts a ON a.id = o.account_id",
        )
        .fetch_all(&mut *tx)
        .await?;
        for (id, handle) in orgs {
            changes.push(Change::OrgCreated {
                key: org_key(id)?,
                id: handle,
            });
        }
        let members: Vec<(i64, i64, String)> =
            sqlx::query_as("SELECT org_id, user_id, role FROM memberships")
                .fetch_all(&mut *tx)
                .await?;
        for (org, user, role) in members {
            changes.push(Change::MemberSet {
                org: org_key(org)?,
                user: user_key(user)?,
                role: org_role(&role)?,
            });
        }
        let apps: Vec<(i64, i64, String, String, String)> = sqlx::query_as(
            "SELECT p.id, p.owner_id, a.kind, p.handle, p.visibility FROM apps p JOIN accounts a ON a.id = p.owner_id",
        )
        .fetch_all(&mut *tx)
        .await?;
        for (id, owner, kind, handle, vis) in apps {
            let owner = match kind.as_str() {
                "org" => Account::Org(org_key(owner)?),
                "user" => Account::User(user_key(owner)?),
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "unknown account kind `{other}`"
                    )));
                }
            };
            changes.push(Change::AppUpserted {
                key: app_key(id)?,
                owner,
                id: handle,
                visibility: visibility(&vis)?,
            });
        }
        let teams: Vec<(i64, i64, String, String)> =
            sqlx::query_as("SELECT id, org_id, handle, default_role FROM teams")
                .fetch_all(&mut *tx)
                .await?;
        for (id, org, handle, default_role) in teams {
            changes.push(Change::TeamCreated {
                key: team_key(id)?,
                org: org_key(org)?,
                id: handle,
                default_role: team_role(&default_role)?,
            });
        }
        let team_members: Vec<(i64, i64)> =
            sqlx::query_as("SELECT team_id, user_id FROM team_members")
                .fetch_all(&mut *tx)
                .await?;
        for (team, user) in team_members {
            changes.push(Change::TeamMemberAdded {
                team: team_key(team)?,
                user: user_key(user)?,
            });
        }
        let team_apps: Vec<(i64, i64, String)> =
            sqlx::query_as("SELECT team_id, app_id, role FROM team_apps")
                .fetch_all(&mut *tx)
                .await?;
        for (team, app, role) in team_apps {
            changes.push(Change::TeamAppSet {
                team: team_key(team)?,
                app: app_key(app)?,
                role: team_role(&role)?,
            });
        }
        let collaborators: Vec<(i64, i64, String)> =
            sqlx::query_as("SELECT app_id, user_id, permissions FROM collaborators")
                .fetch_all(&mut *tx)
                .await?;
        for (app, user, permissions) in collaborators {
            changes.push(Change::CollaboratorSet {
                app: app_key(app)?,
                user: user_key(user)?,
                permissions: scopes_from_text(&permissions)?,
            });
        }
        for kind in ItemKind::ALL {
            let table = match kind {
                ItemKind::Model => "models",
                ItemKind::Workflow => "workflows",
                ItemKind::Module => "modules",
            };
            let items: Vec<(i64, String, String)> =
                sqlx::query_as(&format!("SELECT app_id, handle, visibility FROM {table}"))
                    .fetch_all(&mut *tx)
                    .await?;
            for (app, handle, vis) in items {
                changes.push(Change::ItemUpserted {
                    app: app_key(app)?,
                    kind,
                    id: handle,
                    visibility: visibility(&vis)?,
                });
            }
        }
        let credentials: Vec<_> = sqlx::query_as(&format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials \
             WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)"
        ))
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        for row in credentials {
            let record = credential_from_row(row)?;
            changes.push(Change::CredentialAdded {
                hash: record.token_hash,
                entry: CredentialEntry {
                    id: record.id,
                    user: record.user,
                    kind: record.kind,
                    scopes: record.scopes,
                    org: record.org,
                    app: record.app,
                    expires_at: record.expires_at,
                },
            });
        }
        changes.extend(crate::identity_providers::sso_index_changes(&mut tx).await?);
        tx.commit().await?;

        let mut index = AccessIndex::new();
        index.apply(u64::try_from(revision).unwrap_or_default(), &changes);
        Ok(index)
    }
}
