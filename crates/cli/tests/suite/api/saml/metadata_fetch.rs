//! Creating an identity provider from a metadata URL: the server follows HTTP(S) redirects only,
//! verifies TLS against the web PKI roots, gives up after its timeout and refuses documents over
//! the size cap, each with its own code, saving nothing. Internal addresses are refused unless
//! the operator allowed them (these tests allow 127.0.0.1, where their servers listen), in every
//! spelling and on every redirect hop, and a closed port looks like any other non-metadata
//! answer.

use std::time::Duration;

use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};
use portcullis_service::ServiceConfig;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{IDP_ENTITY, SSO_URL, cert, fixture_path, loopback_fetches, metadata_xml};
use crate::api::helpers::{TestApp, spawn_app_with};

const BIG: usize = 2 * 1024 * 1024;

/// A loopback HTTP server answering by path; returns its base URL.
async fn metadata_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let xml = metadata_xml(IDP_ENTITY, SSO_URL, &cert("idp.crt"));
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let xml = xml.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&request).into_owned();
                let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
                let redirect = |to: &str| {
                    format!(
                        "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                };
                let reply = match path.as_str() {
                    "/metadata" => format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
                        xml.len()
                    ),
                    "/to-metadata" => redirect("/metadata"),
                    "/to-other-loopback" => redirect(&format!("http://127.0.0.2:{port}/metadata")),
                    "/to-mapped" => redirect(&format!("http://[::ffff:127.0.0.1]:{port}/metadata")),
                    "/to-metadata-service" => redirect("http://169.254.169.254/latest/meta-data/"),
                    "/not-saml" => {
                        let page = "<html><body>an internal dashboard</body></html>";
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                            page.len()
                        )
                    }
                    "/to-file" => redirect("file:///etc/passwd"),
                    "/to-ftp" => redirect("ftp://127.0.0.1/metadata"),
                    "/to-gopher" => redirect("gopher://127.0.0.1:70/1"),
                    "/loop" => redirect("/loop"),
                    "/declared-big" => format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {BIG}\r\nConnection: close\r\n\r\n"
                    ),
                    "/streamed-big" => {
                        // No Content-Length: the cap must hold while streaming.
                        let head = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
                        if stream.write_all(head.as_bytes()).await.is_err() {
                            return;
                        }
                        let chunk = vec![b'<'; 64 * 1024];
                        for _ in 0..BIG / chunk.len() {
                            if stream.write_all(&chunk).await.is_err() {
                                return;
                            }
                        }
                        return;
                    }
                    "/slow" => {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        return;
                    }
                    _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_owned(),
                };
                if path == "/declared-big" {
                    let _ = stream.write_all(reply.as_bytes()).await;
                    let _ = stream.write_all(&vec![b'<'; BIG]).await;
                } else {
                    let _ = stream.write_all(reply.as_bytes()).await;
                }
                let _ = stream.shutdown().await;
            });
        }
    });
    base
}

/// A loopback HTTPS server whose certificate is self-signed (the fixtures' IdP certificate):
/// no web PKI root vouches for it.
fn self_signed_https_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    acceptor
        .set_private_key_file(fixture_path("idp.key"), SslFiletype::PEM)
        .unwrap();
    acceptor
        .set_certificate_chain_file(fixture_path("idp.crt"))
        .unwrap();
    let acceptor = acceptor.build();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            // The client must abort the handshake; nothing is ever served.
            let _ = acceptor.accept(stream);
        }
    });
    format!("https://127.0.0.1:{port}/metadata")
}

async fn create_from(app: &TestApp, token: &str, url: &str) -> crate::api::helpers::Reply {
    app.post(
        "/v1/orgs/acme/identity-providers",
        token,
        json!({"id": "okta", "metadata_url": url}),
    )
    .await
}

async fn assert_nothing_saved(app: &TestApp, token: &str) {
    let list = app
        .get("/v1/orgs/acme/identity-providers", token)
        .await
        .assert_status(200)
        .clone();
    assert_eq!(list["identity_providers"], json!([]), "{list}");
}

#[tokio::test]
async fn metadata_urls_follow_only_http_redirects_and_refuse_untrusted_tls() {
    let app = spawn_app_with(loopback_fetches()).await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let base = metadata_server().await;

    for (path, code) in [
        ("/to-file", "idp.metadata_redirect_scheme"),
        ("/to-ftp", "idp.metadata_redirect_scheme"),
        ("/to-gopher", "idp.metadata_redirect_scheme"),
        ("/loop", "idp.metadata_too_many_redirects"),
        ("/declared-big", "idp.metadata_too_large"),
        ("/streamed-big", "idp.metadata_too_large"),
        ("/missing", "idp.metadata_fetch_failed"),
    ] {
        let reply = create_from(&app, &alice, &format!("{base}{path}")).await;
        assert_eq!(reply.status.as_u16(), 422, "{path}: {}", reply.body);
        reply.assert_problem(422, code);
        assert_eq!(reply.body["field"], "metadata_url", "{path}");
    }
    // Not an HTTP(S) URL at all: refused before any fetch.
    create_from(&app, &alice, "file:///etc/passwd")
        .await
        .assert_problem(422, "field.url_invalid");

    // An https URL is fetched over TLS (not refused as an unsupported scheme), and a
    // certificate no web PKI root vouches for is refused with its own code.
    let https = self_signed_https_server();
    let reply = create_from(&app, &alice, &https).await;
    reply.assert_problem(422, "idp.metadata_tls_untrusted");
    let message = reply.body["detail"].to_string() + &reply.body["title"].to_string();
    assert!(!message.contains("scheme"), "{}", reply.body);
    assert_nothing_saved(&app, &alice).await;

    // Control: an HTTP redirect to HTTP metadata is followed and fills the record.
    let created = create_from(&app, &alice, &format!("{base}/to-metadata")).await;
    let created = created.assert_status(201).clone();
    assert_eq!(created["entity_id"], IDP_ENTITY);
    assert_eq!(created["metadata_url"], format!("{base}/to-metadata"));
}

#[tokio::test]
async fn a_metadata_url_that_does_not_answer_in_time_is_refused() {
    let app = spawn_app_with(ServiceConfig {
        metadata_fetch_timeout: Duration::from_secs(1),
        ..loopback_fetches()
    })
    .await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let base = metadata_server().await;
    create_from(&app, &alice, &format!("{base}/slow"))
        .await
        .assert_problem(422, "idp.metadata_fetch_timeout");
    assert_nothing_saved(&app, &alice).await;
}

/// By default the server fetches nothing internal: loopback in every spelling (a name that
/// resolves to it, decimal, credentials before the host, IPv6 and IPv4-mapped), private,
/// link-local (cloud metadata) and CGNAT addresses are refused before any connection, with one
/// code, and nothing is saved.
#[tokio::test]
async fn internal_metadata_urls_are_refused_by_default() {
    let app = spawn_app_with(ServiceConfig::default()).await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let base = metadata_server().await;
    let port = base.rsplit(':').next().unwrap();
    for url in [
        format!("{base}/metadata"),
        format!("http://localhost:{port}/metadata"),
        format!("http://2130706433:{port}/metadata"),
        format!("http://0x7f.1:{port}/metadata"),
        format!("http://example.com@127.0.0.1:{port}/metadata"),
        format!("http://[::1]:{port}/metadata"),
        format!("http://[::ffff:127.0.0.1]:{port}/metadata"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/metadata".to_owned(),
        "http://192.168.1.1/metadata".to_owned(),
        "http://100.64.0.1/metadata".to_owned(),
        "http://0.0.0.0/metadata".to_owned(),
        "https://[fd00::1]/metadata".to_owned(),
    ] {
        let reply = create_from(&app, &alice, &url).await;
        assert_eq!(reply.status.as_u16(), 422, "{url}: {}", reply.body);
        reply.assert_problem(422, "idp.metadata_address_refused");
        assert_eq!(reply.body["field"], "metadata_url", "{url}");
    }
    assert_nothing_saved(&app, &alice).await;
}

/// With 127.0.0.1 allowed, a redirect to any other internal address is still refused (every
/// hop is checked), and a closed port, an HTTP error and a page that is not metadata all get
/// the same answer: the fetch cannot map what listens inside.
#[tokio::test]
async fn redirects_are_checked_and_failures_look_alike() {
    let app = spawn_app_with(loopback_fetches()).await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let base = metadata_server().await;
    for path in ["/to-other-loopback", "/to-mapped", "/to-metadata-service"] {
        create_from(&app, &alice, &format!("{base}{path}"))
            .await
            .assert_problem(422, "idp.metadata_address_refused");
    }
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut answers = Vec::new();
    for url in [
        format!("http://127.0.0.1:{closed}/metadata"),
        format!("{base}/missing"),
        format!("{base}/not-saml"),
    ] {
        let reply = create_from(&app, &alice, &url).await;
        reply.assert_problem(422, "idp.metadata_fetch_failed");
        answers.push(reply.body.clone());
    }
    assert_eq!(answers[0], answers[1], "closed port vs 404");
    assert_eq!(answers[0], answers[2], "closed port vs not SAML");
    assert_nothing_saved(&app, &alice).await;
    // Control: the allowed address itself is fetched.
    create_from(&app, &alice, &format!("{base}/metadata"))
        .await
        .assert_status(201);
}
