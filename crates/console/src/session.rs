//! Cookie sessions and CSRF tokens.
//!
//! The session cookie holds an ordinary login session token; resolving it is
//! `Portcullis::authenticate`, so revocation, expiry, idle timeout and suspension apply exactly
//! as for the API. The CSRF token of a session is a hash of its token under a fixed label: only
//! a holder of the cookie can compute it, it needs no server-side state, and it works on every
//! server of a cluster. Before sign-in, forms use a double-submit cookie instead.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cookie::Cookie;
use portcullis_service::{Caller, RequestMeta};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::ConsoleState;
use crate::view::error_page;

/// The session cookie (the `__Host-` prefix pins it to this host, `/` and Secure).
pub const SESSION_COOKIE: &str = "__Host-portcullis";
/// The double-submit CSRF cookie of signed-out forms.
pub const PRE_COOKIE: &str = "__Host-portcullis-pre";
/// A pending login step (two-factor or password change): the short-lived step token.
pub const STEP_COOKIE: &str = "__Host-portcullis-step";
/// The AuthnRequest an SP-initiated SSO login of this browser is waiting for. SameSite=None:
/// the IdP's form posts the answer cross-site, and the cookie must come with it.
pub const SSO_REQUEST_COOKIE: &str = "__Host-portcullis-sso";
/// A one-shot message shown by the next page.
pub const FLASH_COOKIE: &str = "__Host-portcullis-flash";

/// The largest form body the console reads (app notes may be 64 KiB).
const MAX_FORM_BYTES: usize = 256 * 1024;

/// The value of the cookie `name` the request carries, if any (the first, as browsers send the
/// most specific first).
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .and_then(|c| c.value_raw())
}

/// A `Set-Cookie` value with the attributes every console cookie has.
pub fn set_cookie(name: &str, value: &str, max_age_secs: Option<i64>) -> HeaderValue {
    let age = max_age_secs.map_or(String::new(), |s| format!("; Max-Age={s}"));
    let raw = format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict{age}");
    HeaderValue::from_str(&raw).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// The cookie that binds an SP-initiated login to the browser that started it (10 minutes, as
/// long as the request may be answered).
pub fn sso_request_cookie(request_id: &str) -> HeaderValue {
    let raw = format!(
        "{SSO_REQUEST_COOKIE}={request_id}; Path=/; Secure; HttpOnly; SameSite=None; Max-Age=600"
    );
    HeaderValue::from_str(&raw).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// The AuthnRequest ID the browser's SSO cookie names, if any.
pub fn sso_request_of(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, SSO_REQUEST_COOKIE)
}

pub fn clear_cookie(name: &str) -> HeaderValue {
    set_cookie(name, "", Some(0))
}

/// The CSRF token of a session.
pub fn csrf_for(session_token: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"portcullis console csrf v1\0");
    hasher.update(session_token.as_bytes());
    hex::encode(hasher.finalize())
}

/// Compares without an early exit, so timing says nothing about the expected token.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn request_meta(parts: &Parts) -> RequestMeta {
    let header_str = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            // `to_str` accepts visible ASCII only: 200 bytes are 200 characters.
            .map(|v| v.get(..200).unwrap_or(v).to_owned())
    };
    RequestMeta {
        request_id: header_str("x-request-id"),
        source_ip: parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip().to_string()),
        user_agent: header_str(header::USER_AGENT.as_str()),
    }
}

/// A signed-in browser: the caller its session cookie resolves to, and its CSRF token.
#[derive(Debug)]
pub struct SignedIn {
    pub caller: Caller,
    pub csrf: String,
    pub flash: Option<Flash>,
}

fn to_sign_in() -> Response {
    let mut response = Redirect::to("/sign-in").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, clear_cookie(SESSION_COOKIE));
    response
}

/// The session cookie is SameSite=Strict, so a browser does not send it on a navigation that
/// another site started: the 303 of the SSO assertion consumer, whose form the IdP's page
/// posted. Such a request without the cookie gets a page that reloads itself; the reload is
/// this site's own navigation and carries the cookie (or, without one, ends at the sign-in).
fn cross_site_without_cookie(parts: &Parts) -> Option<Response> {
    let cross_site = parts
        .headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site");
    if !cross_site || parts.method != axum::http::Method::GET {
        return None;
    }
    let page = "<!doctype html><html><head><meta charset=\"utf-8\">\
        <meta http-equiv=\"refresh\" content=\"0\"><title>Signing in</title></head>\
        <body><p>Signing in…</p></body></html>";
    let mut response = (StatusCode::OK, axum::response::Html(page)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Some(response)
}

impl FromRequestParts<ConsoleState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let token = cookie(&parts.headers, SESSION_COOKIE)
            .ok_or_else(|| cross_site_without_cookie(parts).unwrap_or_else(to_sign_in))?;
        let caller = state
            .authenticate(token, request_meta(parts))
            .map_err(|_| to_sign_in())?;
        Ok(Self {
            caller,
            csrf: csrf_for(token),
            flash: Flash::read(&parts.headers),
        })
    }
}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

fn refused() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "Request refused",
        "the form was not sent from this console (missing or wrong CSRF token); reload the page and try again",
    )
}

async fn read_form(req: Request) -> Result<(Parts, axum::body::Bytes), Response> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| {
            error_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Too large",
                "the form is too large",
            )
        })?;
    Ok((parts, bytes))
}

async fn decode<T: DeserializeOwned>(
    parts: &Parts,
    bytes: &axum::body::Bytes,
) -> Result<T, Response> {
    let mut req = Request::new(Body::from(bytes.clone()));
    *req.headers_mut() = parts.headers.clone();
    *req.method_mut() = parts.method.clone();
    axum::Form::<T>::from_request(req, &())
        .await
        .map(|axum::Form(value)| value)
        .map_err(|rejection| {
            error_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid form",
                &rejection.body_text(),
            )
        })
}

/// A form posted by a signed-in browser with the session's CSRF token. Checked before the
/// form is even decoded: without the token nothing else happens.
#[derive(Debug)]
pub struct Posted<T> {
    pub viewer: SignedIn,
    pub form: T,
}

impl<T: DeserializeOwned + Send> FromRequest<ConsoleState> for Posted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &ConsoleState) -> Result<Self, Self::Rejection> {
        let (mut parts, bytes) = read_form(req).await?;
        let viewer = match SignedIn::from_request_parts(&mut parts, state).await {
            Ok(viewer) => viewer,
            Err(_) => return Err(refused()),
        };
        let sent: CsrfField = decode(&parts, &bytes).await.map_err(|_| refused())?;
        if !same_token(&sent.csrf, &viewer.csrf) {
            return Err(refused());
        }
        let form = decode(&parts, &bytes).await?;
        Ok(Self { viewer, form })
    }
}

/// A form posted before sign-in, with the double-submit token of [`PRE_COOKIE`].
#[derive(Debug)]
pub struct AnonPosted<T> {
    pub meta: RequestMeta,
    pub headers: HeaderMap,
    pub form: T,
}

impl<T: DeserializeOwned + Send> FromRequest<ConsoleState> for AnonPosted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, _: &ConsoleState) -> Result<Self, Self::Rejection> {
        let (parts, bytes) = read_form(req).await?;
        let expected = cookie(&parts.headers, PRE_COOKIE).ok_or_else(refused)?;
        let sent: CsrfField = decode(&parts, &bytes).await.map_err(|_| refused())?;
        if expected.len() < 32 || !same_token(&sent.csrf, expected) {
            return Err(refused());
        }
        let form = decode(&parts, &bytes).await?;
        Ok(Self {
            meta: request_meta(&parts),
            headers: parts.headers,
            form,
        })
    }
}

/// A form posted either by a signed-in browser (with the session's CSRF token) or before
/// sign-in (with the double-submit token): the caller is the session's, or anonymous.
#[derive(Debug)]
pub struct AnyPosted<T> {
    pub caller: Caller,
    pub signed_in: bool,
    pub headers: HeaderMap,
    pub form: T,
}

impl<T: DeserializeOwned + Send> FromRequest<ConsoleState> for AnyPosted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &ConsoleState) -> Result<Self, Self::Rejection> {
        let (mut parts, bytes) = read_form(req).await?;
        let sent: CsrfField = decode(&parts, &bytes).await.map_err(|_| refused())?;
        let (caller, signed_in) = match SignedIn::from_request_parts(&mut parts, state).await {
            Ok(viewer) if same_token(&sent.csrf, &viewer.csrf) => (viewer.caller, true),
            _ => {
                let expected = cookie(&parts.headers, PRE_COOKIE).ok_or_else(refused)?;
                if expected.len() < 32 || !same_token(&sent.csrf, expected) {
                    return Err(refused());
                }
                (Caller::anonymous(request_meta(&parts)), false)
            }
        };
        let form = decode(&parts, &bytes).await?;
        Ok(Self {
            caller,
            signed_in,
            headers: parts.headers,
            form,
        })
    }
}

/// The signed-out CSRF token: the browser's, or a fresh one to set.
#[derive(Debug)]
pub struct PreToken {
    pub token: String,
    pub fresh: bool,
    pub flash: Option<Flash>,
    pub step: Option<String>,
    pub signed_in: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for PreToken {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let existing = cookie(&parts.headers, PRE_COOKIE).filter(|t| t.len() >= 32);
        Ok(Self {
            token: existing.map_or_else(random_token, str::to_owned),
            fresh: existing.is_none(),
            flash: Flash::read(&parts.headers),
            step: cookie(&parts.headers, STEP_COOKIE).map(str::to_owned),
            signed_in: cookie(&parts.headers, SESSION_COOKIE).is_some(),
        })
    }
}

impl PreToken {
    /// Adds the cookies this page needs (the new token, the consumed flash).
    pub fn finish(&self, mut response: Response) -> Response {
        if self.fresh {
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(PRE_COOKIE, &self.token, Some(3600)),
            );
        }
        if self.flash.is_some() {
            response
                .headers_mut()
                .append(header::SET_COOKIE, clear_cookie(FLASH_COOKIE));
        }
        response
    }
}

/// A one-shot message carried to the next page in a cookie (hex, so any text fits).
#[derive(Debug, Clone)]
pub struct Flash {
    pub error: bool,
    pub message: String,
}

impl Flash {
    fn read(headers: &HeaderMap) -> Option<Self> {
        let raw = cookie(headers, FLASH_COOKIE)?;
        let bytes = hex::decode(raw).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (kind, message) = text.split_once('|')?;
        Some(Self {
            error: kind == "e",
            message: message.to_owned(),
        })
    }

    pub fn cookie(error: bool, message: &str) -> HeaderValue {
        let message: String = message.chars().take(600).collect();
        let raw = format!("{}|{message}", if error { "e" } else { "n" });
        set_cookie(FLASH_COOKIE, &hex::encode(raw), Some(60))
    }
}

/// A redirect (303, so the browser follows with a GET) carrying a flash message.
pub fn redirect_with(to: &str, error: bool, message: &str) -> Response {
    let mut response = Redirect::to(to).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, Flash::cookie(error, message));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_found_in_any_cookie_header_by_its_exact_name() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; broken"),
        );
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("__Host-portcullis-pre=p1 ;  __Host-portcullis=s=1; x=y"),
        );
        assert_eq!(cookie(&headers, PRE_COOKIE), Some("p1"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("s=1"));
        assert_eq!(cookie(&headers, "theme"), Some("dark"));
        assert_eq!(cookie(&headers, STEP_COOKIE), None);
        assert_eq!(cookie(&headers, "broken"), None);
        assert_eq!(cookie(&HeaderMap::new(), SESSION_COOKIE), None);
    }
}
