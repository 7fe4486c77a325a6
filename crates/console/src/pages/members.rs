//! Members of an organization: the list with roles, invitations (invite, cancel), change role,
//! remove, unlock. The last-administrator rule is the service's; its refusal is shown plainly.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use portcullis_core::OrgRole;
use portcullis_service::ServiceError;
use portcullis_service::store::{InvitationRecord, MemberRecord};
use serde::Deserialize;

use crate::ConsoleState;
use crate::session::{Posted, SignedIn, redirect_with};
use crate::view::{Nav, after_post, message_of, page_error, render, when};

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    nav: Nav,
    members: Vec<MemberRecord>,
    next_cursor: Option<String>,
    invitations: Vec<InvitationRecord>,
    roles: Vec<(&'static str, &'static str)>,
    /// Members locked out by failed sign-ins, with when each lockout ends (`None`: until
    /// unlocked); only loaded for those who may unlock.
    locked: Vec<(String, Option<i64>)>,
}

impl MembersPage {
    fn joined(&self, member: &MemberRecord) -> String {
        when(member.joined_at)
    }
    fn expires(&self, invitation: &InvitationRecord) -> String {
        when(invitation.expires_at)
    }
    /// "until …" for a locked member, `None` for one who may sign in.
    fn lockout(&self, member: &MemberRecord) -> Option<String> {
        self.locked
            .iter()
            .find(|(id, _)| *id == member.id)
            .map(|(_, until)| match until {
                Some(at) => format!("until {}", when(*at)),
                None => "until an administrator unlocks it".to_owned(),
            })
    }
}

fn roles() -> Vec<(&'static str, &'static str)> {
    OrgRole::ALL
        .iter()
        .map(|r| (r.as_str(), r.label()))
        .collect()
}

#[derive(Deserialize)]
pub struct PageQuery {
    cursor: Option<String>,
}

pub async fn list(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    Query(query): Query<PageQuery>,
    viewer: SignedIn,
) -> Response {
    let nav = match Nav::build(&service, &viewer, Some(&account), "members", "Members").await {
        Ok(nav) => nav,
        Err(response) => return response,
    };
    let page = match service
        .list_members(
            &viewer.caller,
            &account,
            Some("200"),
            query.cursor.as_deref(),
        )
        .await
    {
        Ok(page) => page,
        Err(err) => return page_error(err),
    };
    // Only managers may list invitations and lockouts; others simply do not see them.
    let (invitations, locked) = if nav.can("members.manage") {
        let invitations = match service.list_invitations(&viewer.caller, &account).await {
            Ok(list) => list
                .into_iter()
                .filter(|i| i.state.as_str() == "pending")
                .collect(),
            Err(err) => return page_error(err),
        };
        match service.locked_members(&viewer.caller, &account).await {
            Ok(locked) => (invitations, locked),
            Err(err) => return page_error(err),
        }
    } else {
        (Vec::new(), Vec::new())
    };
    let page = MembersPage {
        nav,
        members: page.members,
        next_cursor: page.next_cursor,
        invitations,
        roles: roles(),
        locked,
    };
    render(&page, viewer.flash.is_some())
}

#[derive(Deserialize)]
pub struct InviteForm {
    email: String,
    role: String,
}

pub async fn invite(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    posted: Posted<InviteForm>,
) -> Response {
    let back = format!("/a/{account}/members");
    let result = service
        .create_invitation(
            &posted.viewer.caller,
            &account,
            &posted.form.email,
            &posted.form.role,
        )
        .await;
    after_post(
        result,
        &back,
        &format!("invitation sent to {}", posted.form.email),
    )
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn cancel_invitation(
    State(service): State<ConsoleState>,
    Path((account, id)): Path<(String, String)>,
    posted: Posted<Empty>,
) -> Response {
    let back = format!("/a/{account}/members");
    let result = service
        .cancel_invitation(&posted.viewer.caller, &account, &id)
        .await;
    after_post(result, &back, "invitation cancelled")
}

#[derive(Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    role: String,
}

pub async fn member_action(
    State(service): State<ConsoleState>,
    Path((account, user, action)): Path<(String, String, String)>,
    posted: Posted<MemberForm>,
) -> Response {
    let back = format!("/a/{account}/members");
    let caller = &posted.viewer.caller;
    let result: Result<String, ServiceError> = match action.as_str() {
        "role" => service
            .change_member_role(caller, &account, &user, &posted.form.role)
            .await
            .map(|c| format!("{user} is now {}", c.value.member.role.label())),
        "remove" => service
            .remove_member(caller, &account, &user)
            .await
            .map(|_| format!("{user} removed from the organization")),
        "unlock" => service
            .unlock_member(caller, &account, &user)
            .await
            .map(|c| {
                if c.value {
                    format!("{user} unlocked")
                } else {
                    format!("{user} was not locked")
                }
            }),
        _ => Err(ServiceError::NotFound("page")),
    };
    match result {
        Ok(message) => redirect_with(&back, false, &message),
        Err(ServiceError::LastAdmin) => {
            redirect_with(&back, true, &message_of(&ServiceError::LastAdmin))
        }
        Err(err) => after_post(Err::<(), _>(err), &back, ""),
    }
}
