//! Two-factor authentication on the Account page: set up (the secret, its `otpauth://` URI and
//! a QR code of it), confirm with a current code (the recovery codes, shown once), turn off.
//! The setup pieces ([`shown`], [`Flow`] and the `two_factor_setup_steps.html` and
//! `two_factor_codes_list.html` partials) also serve the sign-in step of an organization that
//! requires two-factor (`auth.rs`).
//!
//! Every rule is the service's (`enrol_totp`, `confirm_totp`, `disable_totp`): the console
//! only shows its answers. The secret is shown on the page that starts the setup and is never
//! sent back by the browser: a wrong confirmation code shows the form again without it, and
//! "start over" makes a new one.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use portcullis_service::ServiceError;
use portcullis_service::totp::{Enrolment, RECOVERY_CODE_COUNT, TotpAuthority};
use qrcode::QrCode;
use qrcode::render::svg;
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::ConsoleState;
use crate::session::{Posted, SignedIn};
use crate::view::{Nav, after_post, message_of, page_error, render};

/// Where the Account page's two-factor section is.
const SECTION: &str = "/account#two-factor-h";

/// What the setup page shows of a new secret.
pub(crate) struct Shown {
    /// The base32 secret in groups of four, for typing it in by hand.
    pub secret_grouped: String,
    pub otpauth_url: String,
    /// The QR code of `otpauth_url` as an inline `<svg>` (generated, no user text in it).
    pub qr_svg: String,
}

/// Where the setup forms post (the Account page's or the sign-in step's) and their CSRF token.
pub(crate) struct Flow {
    pub csrf: String,
    pub confirm: &'static str,
    pub restart: &'static str,
}

impl Flow {
    fn account(viewer: &SignedIn) -> Self {
        Self {
            csrf: viewer.csrf.clone(),
            confirm: "/account/two-factor/confirm",
            restart: "/account/two-factor/setup",
        }
    }
}

#[derive(Template)]
#[template(path = "two_factor_setup.html")]
struct SetupPage {
    nav: Nav,
    flow: Flow,
    shown: Option<Shown>,
    /// Why the last code was refused, shown next to the field.
    code_error: Option<String>,
}

#[derive(Template)]
#[template(path = "two_factor_codes.html")]
struct CodesPage {
    nav: Nav,
    codes: Vec<String>,
}

/// `ABCDEFGH…` as `ABCD EFGH …`.
fn grouped(secret: &str) -> String {
    secret
        .as_bytes()
        .chunks(4)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The QR code of `text` as an inline SVG element, labelled for screen readers.
fn qr_svg(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // Inline in HTML: no XML declaration; a role and a name instead.
    let start = image.find("<svg")?;
    Some(image[start..].replacen(
        "<svg ",
        "<svg class=\"qr\" role=\"img\" aria-label=\"QR code of the otpauth URI\" ",
        1,
    ))
}

pub(crate) fn shown(enrolment: &Enrolment) -> Shown {
    let url = enrolment.otpauth_url.expose_secret();
    Shown {
        secret_grouped: grouped(enrolment.secret.expose_secret()),
        otpauth_url: url.to_owned(),
        qr_svg: qr_svg(url).unwrap_or_default(),
    }
}

async fn nav(service: &ConsoleState, viewer: &SignedIn) -> Result<Nav, Response> {
    Nav::build(
        service,
        viewer,
        None,
        "account",
        "Set up two-factor authentication",
    )
    .await
}

#[derive(Deserialize)]
pub struct Empty {}

/// `POST /account/two-factor/setup`: a new secret (replacing one not yet confirmed).
pub async fn setup(State(service): State<ConsoleState>, posted: Posted<Empty>) -> Response {
    let viewer = posted.viewer;
    let enrolment = match service
        .enrol_totp(TotpAuthority::Caller(&viewer.caller))
        .await
    {
        Ok(enrolment) => enrolment.value,
        Err(err) => return after_post(Err::<(), _>(err), SECTION, ""),
    };
    let nav = match nav(&service, &viewer).await {
        Ok(nav) => nav,
        Err(response) => return response,
    };
    let page = SetupPage {
        nav,
        flow: Flow::account(&viewer),
        shown: Some(shown(&enrolment)),
        code_error: None,
    };
    render(&page, viewer.flash.is_some())
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

/// `POST /account/two-factor/confirm`: turns two-factor on and shows the recovery codes once.
pub async fn confirm(State(service): State<ConsoleState>, posted: Posted<CodeForm>) -> Response {
    let viewer = posted.viewer;
    let result = service
        .confirm_totp(TotpAuthority::Caller(&viewer.caller), &posted.form.code)
        .await;
    let nav = match nav(&service, &viewer).await {
        Ok(nav) => nav,
        Err(response) => return response,
    };
    match result {
        Ok(codes) => {
            let nav = Nav {
                title: "Save your recovery codes".to_owned(),
                ..nav
            };
            render(
                &CodesPage {
                    nav,
                    codes: codes.value,
                },
                viewer.flash.is_some(),
            )
        }
        // A wrong code: the same form again, with the reason beside the field.
        Err(err @ ServiceError::Invalid { .. }) => {
            let page = SetupPage {
                nav,
                flow: Flow::account(&viewer),
                shown: None,
                code_error: Some(message_of(&err)),
            };
            render(&page, viewer.flash.is_some())
        }
        Err(err) => after_post(Err::<(), _>(err), SECTION, ""),
    }
}

/// `POST /account/two-factor/disable`: turns two-factor off with a current code.
pub async fn disable(State(service): State<ConsoleState>, posted: Posted<CodeForm>) -> Response {
    let result = service
        .disable_totp(&posted.viewer.caller, &posted.form.code)
        .await;
    after_post(result, SECTION, "two-factor authentication is off")
}

/// The Account page's view of the caller's two-factor state.
#[derive(Debug)]
pub struct Status {
    pub enabled: bool,
    pub recovery_codes_left: i64,
    pub recovery_codes_total: usize,
}

pub async fn status(service: &ConsoleState, viewer: &SignedIn) -> Result<Status, Response> {
    let (enabled, recovery_codes_left) = service
        .totp_status(&viewer.caller)
        .await
        .map_err(page_error)?;
    Ok(Status {
        enabled,
        recovery_codes_left,
        recovery_codes_total: RECOVERY_CODE_COUNT,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_grouped_by_four() {
        assert_eq!(grouped("ABCDEFGHIJ"), "ABCD EFGH IJ");
    }

    #[test]
    fn the_qr_code_is_an_inline_labelled_svg_without_styles() {
        let svg = qr_svg("otpauth://totp/Portcullis:alice?secret=ABCD&issuer=Portcullis").unwrap();
        assert!(svg.starts_with("<svg class=\"qr\" role=\"img\""), "{svg}");
        assert!(!svg.contains("<?xml") && !svg.contains("style="), "{svg}");
        assert!(svg.len() < 40 * 1024);
    }
}
