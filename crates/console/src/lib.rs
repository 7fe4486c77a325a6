//! The Portcullis web console: server-rendered pages at `/` over the same service functions the
//! API calls, so every permission check is the service's (the console only hides or disables
//! what the service would refuse, and the service refuses it anyway).
//!
//! Sessions are ordinary login sessions carried in a `__Host-portcullis` cookie (Secure,
//! HttpOnly, SameSite=Strict, Path=/). Every form post carries a CSRF token derived from the
//! session token (or, before sign-in, a double-submit cookie); a post without it is refused
//! with 403 before any service call. Every response carries a strict Content-Security-Policy
//! (`'self'` only, no inline scripts, `frame-ancestors 'none'`).
//!
//! This crate must not decide permissions or re-implement rules: it calls the service.

mod assets;
mod pages;
mod session;
mod view;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::routing::{get, post};
use portcullis_service::Portcullis;

pub use pages::auth::{sso_link_mailed, sso_signed_in};
/// The audit facts of a request (request id, source address, user agent, each bounded), read
/// the same way by the console and the API's extractors.
pub use session::request_meta;
pub use session::{sso_request_cookie, sso_request_of};

pub type ConsoleState = Arc<Portcullis>;

/// The Content-Security-Policy of every console response.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; \
    connect-src 'self'; frame-ancestors 'none'";

/// The console's routes, with their own state, mergeable into any router.
pub fn router<S: Clone + Send + Sync + 'static>(service: ConsoleState) -> Router<S> {
    use pages::{
        account, apps, audit, auth, domains, email, identity_links, members, passwords, scim,
        security, teams, two_factor,
    };
    Router::new()
        .route("/", get(account::home))
        .route("/assets/console.css", get(assets::css))
        .route("/assets/password-check.js", get(assets::password_check_js))
        .route("/password-check", post(passwords::password_check))
        .route(
            "/password-reset",
            get(passwords::reset_page).post(passwords::reset_request),
        )
        .route(
            "/password-reset/confirm",
            get(passwords::reset_confirm_page).post(passwords::reset_confirm),
        )
        .route("/account/password", post(passwords::change))
        .route("/sign-in", get(auth::sign_in_page).post(auth::sign_in))
        .route(
            "/sign-in/two-factor",
            get(auth::two_factor_page).post(auth::two_factor),
        )
        .route(
            "/sign-in/two-factor/setup",
            get(auth::enrol_page).post(auth::enrol_start),
        )
        .route("/sign-in/two-factor/confirm", post(auth::enrol_confirm))
        .route(
            "/sign-in/password",
            get(auth::password_page).post(auth::password_change),
        )
        .route("/sign-up", get(auth::sign_up_page).post(auth::sign_up))
        .route("/verify-email", get(email::verify_page).post(email::verify))
        .route(
            "/invitations/accept",
            get(email::invitation_page).post(email::accept_invitation),
        )
        .route(
            "/link-identity",
            get(identity_links::confirm_page).post(identity_links::confirm),
        )
        .route("/account/identity-links", post(identity_links::start))
        .route(
            "/account/identity-links/{org}/{idp}/unlink",
            post(identity_links::unlink),
        )
        .route("/account/email", post(email::change))
        .route("/account/email/verification", post(email::resend))
        .route("/sign-out", post(auth::sign_out))
        .route("/account", get(account::account_page))
        .route("/account/orgs", post(account::create_org))
        .route("/account/two-factor/setup", post(two_factor::setup))
        .route("/account/two-factor/confirm", post(two_factor::confirm))
        .route("/account/two-factor/disable", post(two_factor::disable))
        .route(
            "/account/invitations/{id}/{decision}",
            post(account::decide_invitation),
        )
        .route("/roles", get(security::roles_page))
        .route("/a/{account}", get(apps::list))
        .route("/a/{account}/apps", get(apps::list).post(apps::create))
        .route("/a/{account}/apps/{app}", get(apps::settings))
        .route("/a/{account}/apps/{app}/settings", post(apps::update))
        .route("/a/{account}/apps/{app}/delete", post(apps::delete))
        .route(
            "/a/{account}/apps/{app}/collaborators",
            post(apps::set_collaborator),
        )
        .route(
            "/a/{account}/apps/{app}/collaborators/{user}/remove",
            post(apps::remove_collaborator),
        )
        .route("/a/{account}/members", get(members::list))
        .route("/a/{account}/members/invite", post(members::invite))
        .route(
            "/a/{account}/invitations/{id}/cancel",
            post(members::cancel_invitation),
        )
        .route(
            "/a/{account}/members/{user}/{action}",
            post(members::member_action),
        )
        .route("/a/{account}/teams", get(teams::list).post(teams::create))
        .route("/a/{account}/teams/{team}", get(teams::detail))
        .route("/a/{account}/teams/{team}/{action}", post(teams::action))
        .route("/a/{account}/security", get(security::security_page))
        .route("/a/{account}/security/policy", post(security::set_policy))
        .route("/a/{account}/security/idps", post(security::create_idp))
        .route(
            "/a/{account}/security/idps/{idp}/toggle",
            post(security::toggle_idp),
        )
        .route(
            "/a/{account}/security/idps/{idp}",
            post(security::update_idp),
        )
        .route(
            "/a/{account}/security/idps/{idp}/delete",
            post(security::delete_idp),
        )
        .route("/a/{account}/security/domains", post(domains::add_domain))
        .route(
            "/a/{account}/security/domains/{domain}/verify",
            post(domains::verify_domain),
        )
        .route(
            "/a/{account}/security/domains/{domain}/delete",
            post(domains::delete_domain),
        )
        .route("/a/{account}/security/sso", post(security::set_sso))
        .route(
            "/a/{account}/security/two-factor",
            post(security::set_two_factor),
        )
        .route("/a/{account}/scim", get(scim::scim_page))
        .route("/a/{account}/scim/tokens", post(scim::create_token))
        .route(
            "/a/{account}/scim/tokens/{id}/rotate",
            post(scim::rotate_token),
        )
        .route(
            "/a/{account}/scim/tokens/{id}/revoke",
            post(scim::revoke_token),
        )
        .route("/a/{account}/roles", get(security::roles_page_in_org))
        .route("/a/{account}/audit", get(audit::log))
        .route("/a/{account}/audit/export.csv", get(audit::export_csv))
        .route("/a/{account}/access-review", get(audit::access_review))
        .route("/a/{account}/billing", get(pages::costs::billing))
        .route(
            "/a/{account}/billing/costs.csv",
            get(pages::costs::costs_csv),
        )
        .route(
            "/a/{account}/billing/budget",
            post(pages::costs::set_budget),
        )
        .route(
            "/a/{account}/billing/budget/clear",
            post(pages::costs::clear_budget),
        )
        .route("/a/{account}/compute", get(pages::compute::compute))
        .route(
            "/a/{account}/compute/clusters",
            post(pages::compute::create_cluster),
        )
        .route(
            "/a/{account}/compute/clusters/{cluster}",
            post(pages::compute::update_cluster),
        )
        .route(
            "/a/{account}/compute/clusters/{cluster}/delete",
            post(pages::compute::delete_cluster),
        )
        .route(
            "/a/{account}/compute/clusters/{cluster}/nodepools",
            post(pages::compute::create_nodepool),
        )
        .route(
            "/a/{account}/compute/clusters/{cluster}/nodepools/{nodepool}",
            post(pages::compute::update_nodepool),
        )
        .route(
            "/a/{account}/compute/clusters/{cluster}/nodepools/{nodepool}/delete",
            post(pages::compute::delete_nodepool),
        )
        .route(
            "/a/{account}/compute/deployments",
            post(pages::compute::create_deployment),
        )
        .route(
            "/a/{account}/compute/deployments/{deployment}",
            post(pages::compute::update_deployment),
        )
        .route(
            "/a/{account}/compute/deployments/{deployment}/delete",
            post(pages::compute::delete_deployment),
        )
        .layer(axum::middleware::map_response(security_headers))
        .with_state(service)
}

/// The headers every console response carries.
async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    let headers = response.headers_mut();
    let fixed: [(HeaderName, &'static str); 6] = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=()",
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
