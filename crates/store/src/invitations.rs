//! Invitations to join an organization, by email and role. At most one pending invitation per
//! organization and email (a partial unique index); a decided invitation keeps its final state
//! for the record. Expiry is a matter of time: a pending row past `expires_at` *is* expired
//! (see [`InvitationRecord::state_at`]) and is marked so when a new invitation replaces it.

use portcullis_core::{OrgKey, OrgRole, Timestamp, UserKey};

use crate::error::conflict_as;
use crate::rows::{id_of, org_key, org_role};
use crate::{Result, Store, StoreError, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationState {
    Pending,
    Accepted,
    Declined,
    Cancelled,
    Expired,
}

impl InvitationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Declined => "declined",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Accepted,
            Self::Declined,
            Self::Cancelled,
            Self::Expired,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

#[derive(Debug, Clone)]
pub struct NewInvitation {
    pub id: String,
    pub org: OrgKey,
    pub email: String,
    /// The canonical (lower-case) email.
    pub email_key: String,
    pub role: OrgRole,
    pub invited_by: UserKey,
    pub expires_at: Timestamp,
    /// The SHA-256 (hex) of the secret the invitation mail's link carries.
    pub token_hash: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InvitationRecord {
    pub id: String,
    pub org: OrgKey,
    /// The organization's account id.
    pub org_id: String,
    pub email: String,
    pub role: OrgRole,
    /// The state as stored; see [`Self::state_at`] for the effective one.
    pub state: InvitationState,
    /// The inviter's account id (`None` once that user is deleted).
    pub invited_by: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub decided_at: Option<Timestamp>,
}

impl InvitationRecord {
    /// The state at `now`: a pending invitation past its expiry is expired.
    pub fn state_at(&self, now: Timestamp) -> InvitationState {
        if self.state == InvitationState::Pending && self.expires_at <= now {
            InvitationState::Expired
        } else {
            self.state
        }
    }
}

type InvitationRow = (
    String,
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    Option<i64>,
);

const INVITATION_COLUMNS: &str = "i.id, i.org_id, o.handle, i.email, i.role, i.state, b.handle, \
                                  i.created_at, i.expires_at, i.decided_at";
const INVITATION_FROM: &str = "FROM invitations i JOIN accounts o ON o.id = i.org_id \
                               LEFT JOIN accounts b ON b.id = i.invited_by";

fn invitation_from_row(row: InvitationRow) -> Result<InvitationRecord> {
    let (id, org, org_id, email, role, state, invited_by, created_at, expires_at, decided_at) = row;
    Ok(InvitationRecord {
        id,
        org: org_key(org)?,
        org_id,
        email,
        role: org_role(&role)?,
        state: InvitationState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown invitation state `{state}`")))?,
        invited_by,
        created_at,
        expires_at,
        decided_at,
    })
}

impl Store {
    /// Every invitation of `org`, newest first.
    pub async fn invitations_of_org(&self, org: OrgKey) -> Result<Vec<InvitationRecord>> {
        let rows: Vec<InvitationRow> = sqlx::query_as(&format!(
            "SELECT {INVITATION_COLUMNS} {INVITATION_FROM} WHERE i.org_id = $1 \
             ORDER BY i.created_at DESC, i.id"
        ))
        .bind(id_of(org.0))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(invitation_from_row).collect()
    }

    /// The invitations addressed to `user`'s email that are still pending at `now`, newest
    /// first; none while that address is unverified (an unproven address matches nothing).
    pub async fn pending_invitations_of_user(
        &self,
        user: UserKey,
        now: Timestamp,
    ) -> Result<Vec<InvitationRecord>> {
        let rows: Vec<InvitationRow> = sqlx::query_as(&format!(
            "SELECT {INVITATION_COLUMNS} {INVITATION_FROM} \
             WHERE i.email_key = (SELECT email_key FROM users WHERE account_id = $1 \
             AND email_verified_at IS NOT NULL) \
             AND i.state = 'pending' AND i.expires_at > $2 ORDER BY i.created_at DESC, i.id"
        ))
        .bind(id_of(user.0))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(invitation_from_row).collect()
    }

    /// The invitation whose mail link carries the secret hashing to `token_hash`.
    pub async fn invitation_by_token(&self, token_hash: &str) -> Result<Option<InvitationRecord>> {
        let row: Option<InvitationRow> = sqlx::query_as(&format!(
            "SELECT {INVITATION_COLUMNS} {INVITATION_FROM} WHERE i.token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(invitation_from_row).transpose()
    }

    pub async fn invitation(&self, id: &str) -> Result<Option<InvitationRecord>> {
        let row: Option<InvitationRow> = sqlx::query_as(&format!(
            "SELECT {INVITATION_COLUMNS} {INVITATION_FROM} WHERE i.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(invitation_from_row).transpose()
    }
}

impl Write {
    /// Marks the pending invitations of `org` for `email_key` that have expired by now as
    /// `expired`, so a new one can take their place.
    pub async fn expire_stale_invitations(&mut self, org: OrgKey, email_key: &str) -> Result<u64> {
        let now = self.now();
        let expired = sqlx::query(
            "UPDATE invitations SET state = 'expired', decided_at = expires_at \
             WHERE org_id = $1 AND email_key = $2 AND state = 'pending' AND expires_at <= $3",
        )
        .bind(id_of(org.0))
        .bind(email_key)
        .bind(now)
        .execute(self.conn())
        .await?
        .rows_affected();
        Ok(expired)
    }

    /// Whether `org` has a pending invitation for `email_key` (expired ones included until
    /// [`Self::expire_stale_invitations`] marks them).
    pub async fn pending_invitation_exists(
        &mut self,
        org: OrgKey,
        email_key: &str,
    ) -> Result<bool> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM invitations WHERE org_id = $1 AND email_key = $2 AND state = 'pending'",
        )
        .bind(id_of(org.0))
        .bind(email_key)
        .fetch_one(self.conn())
        .await?;
        Ok(count > 0)
    }

    /// Stores a pending invitation; `Conflict("invitation")` when one is already pending.
    pub async fn create_invitation(&mut self, new: &NewInvitation) -> Result<InvitationRecord> {
        let now = self.now();
        sqlx::query(
            "INSERT INTO invitations (id, org_id, email, email_key, role, state, invited_by, \
             created_at, expires_at, token_hash) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9)",
        )
        .bind(&new.id)
        .bind(id_of(new.org.0))
        .bind(&new.email)
        .bind(&new.email_key)
        .bind(new.role.as_str())
        .bind(id_of(new.invited_by.0))
        .bind(now)
        .bind(new.expires_at)
        .bind(&new.token_hash)
        .execute(self.conn())
        .await
        .map_err(conflict_as("invitation"))?;
        self.invitation(&new.id).await
    }

    /// An invitation as this transaction sees it.
    pub async fn invitation(&mut self, id: &str) -> Result<InvitationRecord> {
        let row: Option<InvitationRow> = sqlx::query_as(&format!(
            "SELECT {INVITATION_COLUMNS} {INVITATION_FROM} WHERE i.id = $1"
        ))
        .bind(id)
        .fetch_optional(self.conn())
        .await?;
        row.map(invitation_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound("invitation"))
    }

    /// The invitation whose mail link carries the secret hashing to `token_hash`.
    pub async fn invitation_by_token(&mut self, token_hash: &str) -> Result<InvitationRecord> {
        let row: Option<InvitationRow> = sqlx::query_as(&format!(
            "SELECT {INVITATION_COLUMNS} {INVITATION_FROM} WHERE i.token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(self.conn())
        .await?;
        row.map(invitation_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound("invitation"))
    }

    /// An invitation only if it is addressed to `user`'s current email and that email is
    /// verified; `NotFound("invitation")` otherwise, so nobody learns about others' invitations.
    pub async fn invitation_for_user(
        &mut self,
        id: &str,
        user: UserKey,
    ) -> Result<InvitationRecord> {
        let row: Option<InvitationRow> = sqlx::query_as(&format!(
            "SELECT {INVITATION_COLUMNS} {INVITATION_FROM} WHERE i.id = $1 \
             AND i.email_key = (SELECT email_key FROM users WHERE account_id = $2 \
             AND email_verified_at IS NOT NULL)"
        ))
        .bind(id)
        .bind(id_of(user.0))
        .fetch_optional(self.conn())
        .await?;
        row.map(invitation_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound("invitation"))
    }

    /// Moves a pending invitation to its final `state`, recording who decided and when.
    /// Returns false (and changes nothing) when it was no longer pending.
    pub async fn decide_invitation(
        &mut self,
        id: &str,
        state: InvitationState,
        by: Option<UserKey>,
    ) -> Result<bool> {
        let now = self.now();
        let updated = sqlx::query(
            "UPDATE invitations SET state = $1, decided_at = $2, decided_by = $3 \
             WHERE id = $4 AND state = 'pending'",
        )
        .bind(state.as_str())
        .bind(now)
        .bind(by.map(|u| id_of(u.0)))
        .bind(id)
        .execute(self.conn())
        .await?
        .rows_affected();
        Ok(updated == 1)
    }
}
