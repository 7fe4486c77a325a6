//! IdP metadata in, SP metadata out, certificate facts.

use crate::{
    BINDING_POST, BINDING_REDIRECT, MAX_METADATA_BYTES, NS_DSIG, NS_METADATA, SamlError, child,
    children, decode_b64, is, parse_xml, text_of, xml_escape,
};

/// What an IdP's metadata says about signing in through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    pub entity_id: String,
    /// The HTTP-Redirect SingleSignOnService location.
    pub sso_url: String,
    /// Signing certificates, base64 DER.
    pub certificates: Vec<String>,
    pub name_id_formats: Vec<String>,
}

/// Reads an `EntityDescriptor` (or the first IdP in an `EntitiesDescriptor`).
pub fn parse_idp_metadata(xml: &str) -> Result<IdpMetadata, SamlError> {
    if xml.len() > MAX_METADATA_BYTES {
        return Err(SamlError::TooLarge);
    }
    let doc = parse_xml(xml)?;
    let root = doc.root_element();
    let entity = if is(root, NS_METADATA, "EntityDescriptor") {
        Some(root)
    } else if is(root, NS_METADATA, "EntitiesDescriptor") {
        root.descendants().find(|n| {
            is(*n, NS_METADATA, "EntityDescriptor")
                && child(*n, NS_METADATA, "IDPSSODescriptor").is_some()
        })
    } else {
        None
    }
    .ok_or_else(|| SamlError::Metadata("no EntityDescriptor".into()))?;
    let entity_id = entity
        .attribute("entityID")
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| SamlError::Metadata("the EntityDescriptor has no entityID".into()))?
        .trim()
        .to_owned();
    let idp = child(entity, NS_METADATA, "IDPSSODescriptor")
        .ok_or_else(|| SamlError::Metadata("no IDPSSODescriptor".into()))?;
    let sso_url = children(idp, NS_METADATA, "SingleSignOnService")
        .find(|s| s.attribute("Binding") == Some(BINDING_REDIRECT))
        .and_then(|s| s.attribute("Location"))
        .ok_or_else(|| {
            SamlError::Metadata("no SingleSignOnService with the HTTP-Redirect binding".into())
        })?
        .trim()
        .to_owned();
    let mut certificates = Vec::new();
    for key in children(idp, NS_METADATA, "KeyDescriptor") {
        if !matches!(key.attribute("use"), None | Some("signing") | Some("")) {
            continue;
        }
        for cert in key
            .descendants()
            .filter(|n| is(*n, NS_DSIG, "X509Certificate"))
        {
            let raw: String = text_of(cert)
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            certificate_info(&raw)?;
            if !certificates.contains(&raw) {
                certificates.push(raw);
            }
        }
    }
    let name_id_formats = children(idp, NS_METADATA, "NameIDFormat")
        .map(text_of)
        .filter(|f| !f.is_empty())
        .collect();
    Ok(IdpMetadata {
        entity_id,
        sso_url,
        certificates,
        name_id_formats,
    })
}

/// Facts about a configured certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    pub subject: String,
    /// Validity bounds, unix milliseconds.
    pub not_before_ms: i64,
    pub not_after_ms: i64,
    /// Hex SHA-256 of the DER.
    pub fingerprint_sha256: String,
}

fn unix_ms(t: &openssl::asn1::Asn1TimeRef) -> Result<i64, SamlError> {
    let epoch =
        openssl::asn1::Asn1Time::from_unix(0).map_err(|e| SamlError::Certificate(e.to_string()))?;
    let diff = epoch
        .diff(t)
        .map_err(|e| SamlError::Certificate(e.to_string()))?;
    Ok((i64::from(diff.days) * 86_400 + i64::from(diff.secs)) * 1000)
}

/// Parses a base64 DER (or PEM) certificate.
pub fn certificate_info(raw: &str) -> Result<CertificateInfo, SamlError> {
    let body: String = raw
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>();
    let der = decode_b64(&body).ok_or_else(|| SamlError::Certificate("not base64".into()))?;
    let cert = openssl::x509::X509::from_der(&der)
        .map_err(|_| SamlError::Certificate("not an X.509 certificate".into()))?;
    let subject = cert
        .subject_name()
        .entries()
        .filter_map(|e| e.data().to_string().ok())
        .collect::<Vec<_>>()
        .join(", ");
    let digest = openssl::sha::sha256(&der);
    Ok(CertificateInfo {
        subject,
        not_before_ms: unix_ms(cert.not_before())?,
        not_after_ms: unix_ms(cert.not_after())?,
        fingerprint_sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
    })
}

/// The SP metadata for one IdP connection. With the SP certificate (base64 DER) it is
/// published for signing and for encryption; `AuthnRequestsSigned` says whether this
/// connection's AuthnRequests are signed.
pub fn sp_metadata(
    entity_id: &str,
    acs_url: &str,
    name_id_format: &str,
    certificate: Option<&str>,
    authn_requests_signed: bool,
) -> String {
    let keys: String = certificate
        .map(|cert| {
            ["signing", "encryption"]
                .iter()
                .map(|usage| {
                    format!(
                        r#"    <md:KeyDescriptor use="{usage}">
      <ds:KeyInfo xmlns:ds="{NS_DSIG}"><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
"#,
                        cert = xml_escape(cert),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="{NS_METADATA}" entityID="{entity}">
  <md:SPSSODescriptor AuthnRequestsSigned="{signed}" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
{keys}    <md:NameIDFormat>{format}</md:NameIDFormat>
    <md:AssertionConsumerService Binding="{BINDING_POST}" Location="{acs}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"#,
        entity = xml_escape(entity_id),
        signed = authn_requests_signed,
        format = xml_escape(name_id_format),
        acs = xml_escape(acs_url),
    )
}
