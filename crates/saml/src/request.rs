//! SP-initiated login: an AuthnRequest for the HTTP-Redirect binding.

use std::io::Write as _;

use base64::Engine;

use crate::{BINDING_POST, NS_ASSERTION, NS_PROTOCOL, SpKey, xml_escape};

fn form_encode(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

/// A built AuthnRequest: its id (stored for InResponseTo) and where to send the browser.
#[derive(Debug, Clone)]
pub struct AuthnRequest {
    pub id: String,
    pub redirect_url: String,
}

/// Builds an HTTP-Redirect AuthnRequest. `issue_instant` is RFC 3339 UTC.
///
/// With `signing`, the query carries `SigAlg` and `Signature` as SAML bindings §3.4.4.1
/// prescribes: the signature is over exactly `SAMLRequest=…&RelayState=…&SigAlg=…` (each value
/// URL-encoded, RelayState only when present), the same bytes that are sent; any query the
/// IdP's SSO URL already has is kept in front and not signed.
pub fn authn_request(
    sso_url: &str,
    sp_entity_id: &str,
    acs_url: &str,
    name_id_format: &str,
    issue_instant: &str,
    relay_state: Option<&str>,
    signing: Option<&SpKey>,
) -> Result<AuthnRequest, std::io::Error> {
    let id = format!("_{}", uuid::Uuid::new_v4().simple());
    let xml = format!(
        r#"<samlp:AuthnRequest xmlns:samlp="{NS_PROTOCOL}" xmlns:saml="{NS_ASSERTION}" ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{dest}" AssertionConsumerServiceURL="{acs}" ProtocolBinding="{BINDING_POST}"><saml:Issuer>{issuer}</saml:Issuer><samlp:NameIDPolicy Format="{format}" AllowCreate="true"/></samlp:AuthnRequest>"#,
        instant = xml_escape(issue_instant),
        dest = xml_escape(sso_url),
        acs = xml_escape(acs_url),
        issuer = xml_escape(sp_entity_id),
        format = xml_escape(name_id_format),
    );
    let mut deflater =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflater.write_all(xml.as_bytes())?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(deflater.finish()?);
    let mut url = url::Url::parse(sso_url)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut saml_query = format!("SAMLRequest={}", form_encode(&encoded));
    if let Some(relay) = relay_state {
        saml_query.push_str("&RelayState=");
        saml_query.push_str(&form_encode(relay));
    }
    if let Some(key) = signing {
        saml_query.push_str("&SigAlg=");
        saml_query.push_str(&form_encode(key.sig_alg()));
        let signature = key
            .sign(saml_query.as_bytes())
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        saml_query.push_str("&Signature=");
        saml_query.push_str(&form_encode(
            &base64::engine::general_purpose::STANDARD.encode(signature),
        ));
    }
    let query = match url.query().filter(|q| !q.is_empty()) {
        Some(existing) => format!("{existing}&{saml_query}"),
        None => saml_query,
    };
    url.set_query(Some(&query));
    Ok(AuthnRequest {
        id,
        redirect_url: url.to_string(),
    })
}
