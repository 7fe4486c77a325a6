//! What every page shares: the navigation context (who, which account, what the sidebar may
//! show), rendering, and how service errors become pages or messages.

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use portcullis_core::{Permission, PermissionSet};
use portcullis_service::{Portcullis, ServiceError};

use crate::session::{FLASH_COOKIE, Flash, SignedIn, clear_cookie, redirect_with};

/// One entry of the account switcher.
#[derive(Debug, Clone)]
pub struct AccountLink {
    pub id: String,
    pub label: String,
    pub current: bool,
}

/// The navigation context of a signed-in page.
#[derive(Debug, Clone)]
pub struct Nav {
    pub user_id: String,
    pub user_name: String,
    pub csrf: String,
    pub flash: Option<Flash>,
    /// The account the page is about (an organization or the user's own), if any.
    pub account: Option<String>,
    pub account_is_org: bool,
    pub accounts: Vec<AccountLink>,
    /// The caller's permissions on the account (org level).
    pub perms: PermissionSet,
    pub section: &'static str,
    pub title: String,
}

impl Nav {
    pub async fn build(
        service: &Portcullis,
        viewer: &SignedIn,
        account: Option<&str>,
        section: &'static str,
        title: impl Into<String>,
    ) -> Result<Nav, Response> {
        let me = service.me(&viewer.caller).await.map_err(page_error)?;
        let orgs = service.my_orgs(&viewer.caller).await.map_err(page_error)?;
        let perms = match account {
            Some(account) => {
                service
                    .my_permissions(&viewer.caller, account, None)
                    .map_err(page_error)?
                    .0
            }
            None => PermissionSet::EMPTY,
        };
        let mut accounts = vec![AccountLink {
            id: me.id.clone(),
            label: format!("{} (personal)", me.id),
            current: account == Some(me.id.as_str()),
        }];
        accounts.extend(orgs.iter().map(|(org, _)| AccountLink {
            id: org.id.clone(),
            label: org.name.clone(),
            current: account == Some(org.id.as_str()),
        }));
        let user_name = format!("{} {}", me.first_name, me.last_name)
            .trim()
            .to_owned();
        Ok(Nav {
            user_name: if user_name.is_empty() {
                me.id.clone()
            } else {
                user_name
            },
            account_is_org: account.is_some_and(|a| service.resolve_org(a).is_ok()),
            user_id: me.id,
            csrf: viewer.csrf.clone(),
            flash: viewer.flash.clone(),
            account: account.map(str::to_owned),
            accounts,
            perms,
            section,
            title: title.into(),
        })
    }

    /// Whether the caller holds `permission` (by id) on the account.
    pub fn can(&self, permission: &str) -> bool {
        Permission::parse(permission).is_some_and(|p| self.perms.contains(p))
    }

    /// The account id, or empty (templates only use it on account pages).
    pub fn acct(&self) -> &str {
        self.account.as_deref().unwrap_or("")
    }

    pub fn is(&self, section: &str) -> bool {
        self.section == section
    }
}

/// Renders a page; consumes the flash message it shows.
pub fn render<T: Template>(page: &T, flash_shown: bool) -> Response {
    match page.render() {
        Ok(html) => {
            let mut response = Html(html).into_response();
            if flash_shown {
                response
                    .headers_mut()
                    .append(header::SET_COOKIE, clear_cookie(FLASH_COOKIE));
            }
            response
        }
        Err(err) => {
            tracing::error!(error = %err, "console template failed");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "internal error",
            )
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

/// A minimal page for refusals and failures.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let html = ErrorPage { title, message }
        .render()
        .unwrap_or_else(|_| "error".to_owned());
    (status, Html(html)).into_response()
}

/// A page for a failed read: sign in again, not found, refused or an internal error.
pub fn page_error(err: ServiceError) -> Response {
    match err {
        ServiceError::Unauthenticated => Redirect::to("/sign-in").into_response(),
        ServiceError::NotFound(what) => error_page(
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("{what} not found"),
        ),
        ServiceError::Forbidden(permission) => error_page(
            StatusCode::FORBIDDEN,
            "Not allowed",
            &format!(
                "you need the permission `{}` ({})",
                permission.as_str(),
                permission.label()
            ),
        ),
        ServiceError::NotAllowed { message, .. } => {
            error_page(StatusCode::FORBIDDEN, "Not allowed", &message)
        }
        err @ (ServiceError::StoreFull | ServiceError::Unavailable { .. }) => error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again shortly",
            &err.to_string(),
        ),
        ServiceError::Internal(err) => {
            tracing::error!(error = %err, "console request failed");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "internal error",
            )
        }
        other => error_page(
            StatusCode::BAD_REQUEST,
            "Cannot do that",
            &other.to_string(),
        ),
    }
}

/// The answer to a form post: back to `to` with a message, or a refusal page when the caller
/// may not do it at all (so the refusal is visible in the status too).
pub fn after_post<T>(result: Result<T, ServiceError>, to: &str, done: &str) -> Response {
    match result {
        Ok(_) => redirect_with(to, false, done),
        Err(
            err @ (ServiceError::Unauthenticated
            | ServiceError::NotFound(_)
            | ServiceError::Forbidden(_)
            | ServiceError::NotAllowed { .. }
            | ServiceError::Internal(_)),
        ) => page_error(err),
        Err(err) => redirect_with(to, true, &message_of(&err)),
    }
}

/// The message shown for a refused change (the last-admin rule gets its own wording).
pub fn message_of(err: &ServiceError) -> String {
    match err {
        ServiceError::LastAdmin => "An organization must keep at least one Administrator: \
            promote another member to Administrator first, then change or remove this one."
            .to_owned(),
        other => other.to_string(),
    }
}

/// `ms` since the epoch as `YYYY-MM-DD HH:MM` UTC.
pub fn when(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_default()
}
