//! Collaborators: users (members of the owning organization or not) granted a set of
//! app-level permissions on one app. Deleting the app or the user removes the grant.

use portcullis_core::{AppKey, PermissionSet, Timestamp, UserKey};

use crate::rows::{app_key, id_of, scopes_from_text, scopes_to_text, user_key};
use crate::{Result, Store, StoreError, Write};

#[derive(Debug, Clone, PartialEq)]
pub struct CollaboratorRecord {
    pub app: AppKey,
    pub user: UserKey,
    /// The collaborator's user id.
    pub user_id: String,
    pub permissions: PermissionSet,
    pub created_at: Timestamp,
}

/// An app a user collaborates on.
#[derive(Debug, Clone, PartialEq)]
pub struct CollaborationRecord {
    pub app: AppKey,
    /// The account owning the app, and the app's id.
    pub account: String,
    pub app_id: String,
    pub permissions: PermissionSet,
    pub created_at: Timestamp,
}

impl Store {
    /// The collaborators of `app`, in user id order.
    pub async fn collaborators_of_app(&self, app: AppKey) -> Result<Vec<CollaboratorRecord>> {
        let rows: Vec<(i64, i64, String, String, i64)> = sqlx::query_as(
            "SELECT c.app_id, c.user_id, a.handle, c.permissions, c.created_at FROM collaborators c \
             JOIN accounts a ON a.id = c.user_id WHERE c.app_id = $1 ORDER BY a.handle_key",
        )
        .bind(id_of(app.0))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(app, user, user_id, permissions, created_at)| {
                Ok(CollaboratorRecord {
                    app: app_key(app)?,
                    user: user_key(user)?,
                    user_id,
                    permissions: scopes_from_text(&permissions)?,
                    created_at,
                })
            })
            .collect()
    }

    /// The apps `user` collaborates on, by owner and app id.
    pub async fn collaborations_of_user(&self, user: UserKey) -> Result<Vec<CollaborationRecord>> {
        let rows: Vec<(i64, String, String, String, i64)> = sqlx::query_as(
            "SELECT c.app_id, a.handle, p.handle, c.permissions, c.created_at FROM collaborators c \
             JOIN apps p ON p.id = c.app_id JOIN accounts a ON a.id = p.owner_id \
             WHERE c.user_id = $1 ORDER BY a.handle_key, p.handle_key",
        )
        .bind(id_of(user.0))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(app, account, app_id, permissions, created_at)| {
                Ok(CollaborationRecord {
                    app: app_key(app)?,
                    account,
                    app_id,
                    permissions: scopes_from_text(&permissions)?,
                    created_at,
                })
            })
            .collect()
    }
}

impl Write {
    /// Grants `permissions` to `user` on `app`, replacing an earlier grant; returns the
    /// earlier grant, if any.
    pub async fn set_collaborator(
        &mut self,
        app: AppKey,
        user: UserKey,
        permissions: PermissionSet,
    ) -> Result<Option<PermissionSet>> {
        let before: Option<String> = sqlx::query_scalar(
            "SELECT permissions FROM collaborators WHERE app_id = $1 AND user_id = $2",
        )
        .bind(id_of(app.0))
        .bind(id_of(user.0))
        .fetch_optional(self.conn())
        .await?;
        let now = self.now();
        if before.is_some() {
            sqlx::query(
                "UPDATE collaborators SET permissions = $1 WHERE app_id = $2 AND user_id = $3",
            )
            .bind(scopes_to_text(permissions))
            .bind(id_of(app.0))
            .bind(id_of(user.0))
            .execute(self.conn())
            .await?;
        } else {
            sqlx::query(
                "INSERT INTO collaborators (app_id, user_id, permissions, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(id_of(app.0))
            .bind(id_of(user.0))
            .bind(scopes_to_text(permissions))
            .bind(now)
            .execute(self.conn())
            .await?;
        }
        before.as_deref().map(scopes_from_text).transpose()
    }

    /// Removes `user`'s grant on `app`; returns what it was.
    pub async fn remove_collaborator(
        &mut self,
        app: AppKey,
        user: UserKey,
    ) -> Result<PermissionSet> {
        let before: Option<String> = sqlx::query_scalar(
            "DELETE FROM collaborators WHERE app_id = $1 AND user_id = $2 RETURNING permissions",
        )
        .bind(id_of(app.0))
        .bind(id_of(user.0))
        .fetch_optional(self.conn())
        .await?;
        before
            .as_deref()
            .map(scopes_from_text)
            .transpose()?
            .ok_or(StoreError::NotFound("collaborator"))
    }
}
