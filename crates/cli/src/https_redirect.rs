//! The optional plain-HTTP listener of an HTTPS deployment (`http_redirect_listen`): every
//! request, whatever its method or path, is answered `308 Permanent Redirect` to the same path
//! and query under `public_url`. It serves nothing else: no API, no console, no probes.
//!
//! The target host is the configured `public_url`, never the request's `Host` header, so a
//! client cannot make this listener redirect anywhere else (an open redirect, or a poisoned
//! cache in front of it). 308 keeps the method and body, so a misconfigured API client's POST
//! is repeated over HTTPS instead of silently becoming a GET.

use axum::Router;
use axum::http::header::LOCATION;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// The redirecting router for `public_url` (an https:// URL without a trailing slash).
pub fn router(public_url: String) -> Router {
    Router::new().fallback(move |uri: Uri| {
        let public_url = public_url.clone();
        async move { redirect(&public_url, &uri) }
    })
}

fn redirect(public_url: &str, uri: &Uri) -> Response {
    // Only the path and query are taken from the request; a request in absolute form
    // (`GET http://elsewhere/x`) still goes to `public_url`, and one without a path
    // (`OPTIONS *`, `CONNECT host:port`) to its root.
    let path = uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .filter(|path| path.starts_with('/'))
        .unwrap_or("/");
    match HeaderValue::try_from(format!("{public_url}{path}")) {
        Ok(location) => (StatusCode::PERMANENT_REDIRECT, [(LOCATION, location)]).into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    fn location(uri: &str) -> String {
        let response = redirect("https://auth.example.com", &uri.parse().unwrap());
        assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
        response.headers()[LOCATION].to_str().unwrap().to_owned()
    }

    #[test]
    fn keeps_path_and_query_and_takes_the_host_from_configuration() {
        assert_eq!(location("/"), "https://auth.example.com/");
        assert_eq!(
            location("/a/acme/apps?x=1&y=%20"),
            "https://auth.example.com/a/acme/apps?x=1&y=%20"
        );
        assert_eq!(
            location("http://evil.example/steal?x=1"),
            "https://auth.example.com/steal?x=1"
        );
        assert_eq!(location("*"), "https://auth.example.com/");
        assert_eq!(location("evil.example:443"), "https://auth.example.com/");
    }
}
