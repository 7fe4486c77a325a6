//! The canonical keys stored beside every email address (users and pending invitations), and
//! their upgrade when the canonical form changes: keys written by an older version are
//! recomputed at start-up, one transaction for all of them.

use portcullis_core::UserKey;

use crate::rows::{id_of, user_key};
use crate::{Result, Store, Write};

/// A stored address with the key it is matched by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEmail {
    /// The user's account id, or the invitation's id.
    pub id: String,
    pub owner: EmailOwner,
    pub email: String,
    pub email_key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailOwner {
    User(UserKey),
    /// A pending invitation (decided ones are history and never matched again).
    Invitation,
}

impl Store {
    /// Every user's address and every pending invitation's, with their stored keys.
    pub async fn stored_emails(&self) -> Result<Vec<StoredEmail>> {
        let users: Vec<(i64, String, String, String)> = sqlx::query_as(
            "SELECT a.id, a.handle, u.email, u.email_key FROM users u \
             JOIN accounts a ON a.id = u.account_id ORDER BY a.id",
        )
        .fetch_all(&self.pool)
        .await?;
        let invitations: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT id, email, email_key FROM invitations WHERE state = 'pending' ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut stored = Vec::with_capacity(users.len() + invitations.len());
        for (key, id, email, email_key) in users {
            stored.push(StoredEmail {
                id,
                owner: EmailOwner::User(user_key(key)?),
                email,
                email_key,
            });
        }
        stored.extend(
            invitations
                .into_iter()
                .map(|(id, email, email_key)| StoredEmail {
                    id,
                    owner: EmailOwner::Invitation,
                    email,
                    email_key,
                }),
        );
        Ok(stored)
    }
}

impl Write {
    /// Replaces the key a stored address is matched by (never the address itself).
    pub async fn set_email_key(&mut self, stored: &StoredEmail, key: &str) -> Result<()> {
        match stored.owner {
            EmailOwner::User(user) => {
                sqlx::query("UPDATE users SET email_key = $1 WHERE account_id = $2")
                    .bind(key)
                    .bind(id_of(user.0))
                    .execute(self.conn())
                    .await?;
            }
            EmailOwner::Invitation => {
                sqlx::query("UPDATE invitations SET email_key = $1 WHERE id = $2")
                    .bind(key)
                    .bind(&stored.id)
                    .execute(self.conn())
                    .await?;
            }
        }
        Ok(())
    }
}
