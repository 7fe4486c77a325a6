//! SP-initiated login: an AuthnRequest for the HTTP-Redirect binding.

use std::io::Write as _;

use base64::Engine;

use crate::{BINDING_POST, NS_ASSERTION, NS_PROTOCOL, xml_escape};

/// A built AuthnRequest: its id (stored for InResponseTo) and where to send the browser.
#[derive(Debug, Clone)]
pub struct AuthnRequest {
    pub id: String,
    pub redirect_url: String,
}

/// Builds an unsigned HTTP-Redirect AuthnRequest. `issue_instant` is RFC 3339 UTC.
pub fn authn_request(
    sso_url: &str,
    sp_entity_id: &str,
    acs_url: &str,
    name_id_format: &str,
    issue_instant: &str,
    relay_state: Option<&str>,
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
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("SAMLRequest", &encoded);
        if let Some(relay) = relay_state {
            query.append_pair("RelayState", relay);
        }
    }
    Ok(AuthnRequest {
        id,
        redirect_url: url.to_string(),
    })
}
