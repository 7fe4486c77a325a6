//! Invitations: create, list and cancel (organization side); accept, decline and list one's
//! own (invited user's side).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use portcullis_service::store::InvitationRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::rfc3339;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, Authenticated, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_invitation, list_invitations))
        .routes(routes!(cancel_invitation))
        .routes(routes!(accept_invitation))
        .routes(routes!(accept_invitation_by_link))
        .routes(routes!(decline_invitation))
        .routes(routes!(my_invitations))
}

/// An invitation to join an organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationDto {
    pub id: String,
    /// The organization's id.
    pub org: String,
    pub email: String,
    pub role: String,
    /// `pending`, `accepted`, `declined`, `cancelled` or `expired`.
    pub state: String,
    /// The inviting user's id (`null` once that user is deleted).
    pub invited_by: Option<String>,
    pub created_at: String,
    pub expires_at: String,
}

impl From<InvitationRecord> for InvitationDto {
    fn from(i: InvitationRecord) -> Self {
        Self {
            id: i.id,
            org: i.org_id,
            email: i.email,
            role: i.role.as_str().to_owned(),
            state: i.state.as_str().to_owned(),
            invited_by: i.invited_by,
            created_at: rfc3339(i.created_at),
            expires_at: rfc3339(i.expires_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationListDto {
    pub invitations: Vec<InvitationDto>,
}

impl From<Vec<InvitationRecord>> for InvitationListDto {
    fn from(list: Vec<InvitationRecord>) -> Self {
        Self {
            invitations: list.into_iter().map(InvitationDto::from).collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitationRequest {
    pub email: String,
    /// One of the six organization roles.
    pub role: String,
}

/// Invites an email address into the organization in a role (`members.manage`).
#[utoipa::path(post, path = "/v1/orgs/{org}/invitations", tag = "invitations", security(("bearer" = [])),
    params(("org" = String, Path)), request_body = CreateInvitationRequest, responses(
    (status = 201, body = InvitationDto), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "`invitation.pending_exists`, `invitation.already_member`"),
    (status = 422, body = Problem),
))]
async fn create_invitation(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<CreateInvitationRequest>,
) -> Result<(StatusCode, Json<InvitationDto>), ApiError> {
    let invitation = service
        .create_invitation(&caller, &org, &body.email, &body.role)
        .await?;
    Ok((StatusCode::CREATED, Json(invitation.value.into())))
}

/// Every invitation of the organization with its state (`members.manage`).
#[utoipa::path(get, path = "/v1/orgs/{org}/invitations", tag = "invitations", security(("bearer" = [])),
    params(("org" = String, Path)), responses(
    (status = 200, body = InvitationListDto), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn list_invitations(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
) -> Result<Json<InvitationListDto>, ApiError> {
    Ok(Json(service.list_invitations(&caller, &org).await?.into()))
}

/// Cancels a pending invitation (`members.manage`).
#[utoipa::path(delete, path = "/v1/orgs/{org}/invitations/{id}", tag = "invitations", security(("bearer" = [])),
    params(("org" = String, Path), ("id" = String, Path)), responses(
    (status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "`invitation.not_pending`"),
))]
async fn cancel_invitation(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    service.cancel_invitation(&caller, &org, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accepts an invitation addressed to the caller's verified email; the caller joins in the
/// invited role. An unverified account gets `403 email.unverified`; an invitation for another
/// address does not exist for the caller (404).
#[utoipa::path(post, path = "/v1/invitations/{id}/accept", tag = "invitations", security(("bearer" = [])),
    params(("id" = String, Path)), responses(
    (status = 200, body = InvitationDto), (status = 401, body = Problem),
    (status = 403, body = Problem, description = "`email.unverified`"),
    (status = 404, body = Problem),
    (status = 409, body = Problem, description = "`invitation.expired`, `invitation.not_pending`, `invitation.already_member`, `org.quota_exceeded`"),
))]
async fn accept_invitation(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<InvitationDto>, ApiError> {
    Ok(Json(
        service.accept_invitation(&caller, &id).await?.value.into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptByLinkRequest {
    /// The token of the invitation mail's link.
    #[schema(value_type = String, format = Password)]
    pub token: secrecy::SecretString,
}

/// Accepts the invitation whose mail link carries the token (the link proves access to the
/// invited mailbox; the caller's address, when it is the invited one, becomes verified).
#[utoipa::path(post, path = "/v1/invitations/accept", tag = "invitations", security(("bearer" = [])),
    request_body = AcceptByLinkRequest, responses(
    (status = 200, body = InvitationDto), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 409, body = Problem, description = "`invitation.expired`, `invitation.not_pending`, `invitation.already_member`, `org.quota_exceeded`"),
    (status = 422, body = Problem, description = "`token.invalid`"),
))]
async fn accept_invitation_by_link(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<AcceptByLinkRequest>,
) -> Result<Json<InvitationDto>, ApiError> {
    use secrecy::ExposeSecret;
    Ok(Json(
        service
            .accept_invitation_by_link(&caller, body.token.expose_secret())
            .await?
            .value
            .into(),
    ))
}

/// Declines an invitation addressed to the caller's verified email.
#[utoipa::path(post, path = "/v1/invitations/{id}/decline", tag = "invitations", security(("bearer" = [])),
    params(("id" = String, Path)), responses(
    (status = 200, body = InvitationDto), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem),
    (status = 409, body = Problem, description = "`invitation.expired`, `invitation.not_pending`"),
))]
async fn decline_invitation(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<InvitationDto>, ApiError> {
    Ok(Json(
        service.decline_invitation(&caller, &id).await?.value.into(),
    ))
}

/// The caller's pending invitations: those for its verified address (none while unverified).
#[utoipa::path(get, path = "/v1/users/me/invitations", tag = "invitations", security(("bearer" = [])), responses(
    (status = 200, body = InvitationListDto), (status = 401, body = Problem),
))]
async fn my_invitations(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<InvitationListDto>, ApiError> {
    Ok(Json(service.my_invitations(&caller).await?.into()))
}
