//! The service provider's own key pair: signs HTTP-Redirect AuthnRequests and decrypts
//! encrypted assertions. Loaded once at start-up from PEM files; the private key never leaves
//! this type (no accessor, `Debug` shows only the certificate's fingerprint).

use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use openssl::x509::X509;

use crate::SamlError;

pub const SIG_RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const SIG_ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";

/// A validated SP key pair: an RSA (≥ 2048 bits) or EC P-256 private key and the X.509
/// certificate of its public key.
pub struct SpKey {
    key: PKey<Private>,
    cert_der: Vec<u8>,
    fingerprint_sha256: String,
}

impl std::fmt::Debug for SpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpKey")
            .field("certificate_sha256", &self.fingerprint_sha256)
            .finish_non_exhaustive()
    }
}

fn key_error(message: &str) -> SamlError {
    SamlError::SpKey(message.to_owned())
}

impl SpKey {
    /// Reads a PEM private key (PKCS#8, PKCS#1 or SEC1) and a PEM certificate, and checks that
    /// the key is strong enough and that the certificate is the key's. Error messages never
    /// include key material.
    pub fn from_pem(key_pem: &[u8], cert_pem: &[u8]) -> Result<Self, SamlError> {
        let key = PKey::private_key_from_pem(key_pem)
            .map_err(|_| key_error("the private key is not a readable PEM private key"))?;
        match key.id() {
            Id::RSA => {
                if key.bits() < 2048 {
                    return Err(key_error("an RSA key must have at least 2048 bits"));
                }
            }
            Id::EC => {
                let curve = key
                    .ec_key()
                    .ok()
                    .and_then(|k| k.group().curve_name())
                    .ok_or_else(|| key_error("unreadable EC key"))?;
                if curve != Nid::X9_62_PRIME256V1 {
                    return Err(key_error("an EC key must be on the P-256 curve"));
                }
            }
            _ => return Err(key_error("the key must be RSA (≥ 2048 bits) or EC P-256")),
        }
        let cert = X509::from_pem(cert_pem)
            .map_err(|_| key_error("the certificate is not a readable PEM X.509 certificate"))?;
        let public = cert
            .public_key()
            .map_err(|_| key_error("the certificate's public key is unreadable"))?;
        if !public.public_eq(&key) {
            return Err(key_error(
                "the certificate does not belong to the private key",
            ));
        }
        let cert_der = cert
            .to_der()
            .map_err(|_| key_error("the certificate cannot be encoded"))?;
        let fingerprint_sha256 = openssl::sha::sha256(&cert_der)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self {
            key,
            cert_der,
            fingerprint_sha256,
        })
    }

    /// The certificate, base64 DER (as in `ds:X509Certificate`).
    pub fn certificate_b64(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&self.cert_der)
    }

    /// Hex SHA-256 of the certificate's DER.
    pub fn fingerprint_sha256(&self) -> &str {
        &self.fingerprint_sha256
    }

    /// The redirect-binding `SigAlg` this key signs with.
    pub fn sig_alg(&self) -> &'static str {
        if self.key.id() == Id::EC {
            SIG_ECDSA_SHA256
        } else {
            SIG_RSA_SHA256
        }
    }

    /// Signs `data` with SHA-256 (RSA PKCS#1 v1.5, or ECDSA with a DER signature) by openssl.
    pub(crate) fn sign(&self, data: &[u8]) -> Result<Vec<u8>, SamlError> {
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), &self.key)
            .map_err(|_| key_error("cannot sign with the SP key"))?;
        signer
            .update(data)
            .and_then(|()| signer.sign_to_vec())
            .map_err(|_| key_error("cannot sign with the SP key"))
    }

    /// The RSA private key for key transport (an EC key cannot decrypt RSA-wrapped keys).
    pub(crate) fn private_key(&self) -> &PKey<Private> {
        &self.key
    }
}
