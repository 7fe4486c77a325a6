//! Static assets compiled into the binary (no external requests, ever): the stylesheet and the
//! one small script (live password-policy feedback; every page works without it).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("../assets/console.css");
pub const PASSWORD_CHECK_JS: &str = include_str!("../assets/password-check.js");

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

pub async fn css() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

pub async fn password_check_js() -> Response {
    asset(PASSWORD_CHECK_JS, "text/javascript; charset=utf-8")
}
