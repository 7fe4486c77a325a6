//! XML Encryption of an `EncryptedAssertion`, undone with openssl's primitives (RSA-OAEP key
//! transport through `PkeyCtx`, AES through `Crypter` / `decrypt_aead`); nothing here is
//! hand-written cryptography, only the XML-Enc framing (IV in front, tag behind, XML-Enc padding).
//!
//! Accepted: key transport `xmlenc#rsa-oaep-mgf1p` and `xmlenc11#rsa-oaep` (OAEP digest and MGF1
//! digest from SHA-1 to SHA-512), data `xmlenc#aes{128,192,256}-cbc` and
//! `xmlenc11#aes{128,192,256}-gcm`. `xmlenc#rsa-1_5` is refused with its own error before
//! anything is decrypted (Bleichenbacher oracles); every other algorithm is unsupported. Every
//! failure of the decryption itself is the same `DecryptionFailed`; for AES-CBC without a
//! Response signature the validation also folds the screening of the plaintext into it.

use openssl::md::{Md, MdRef};
use openssl::pkey::Id;
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::symm::{Cipher, Crypter, Mode};

use crate::{NS_DSIG, SamlError, SpKey, child, children, decode_b64, is, text_of};

pub const NS_XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
pub const NS_XENC11: &str = "http://www.w3.org/2009/xmlenc11#";

pub const KEY_RSA_1_5: &str = "http://www.w3.org/2001/04/xmlenc#rsa-1_5";
pub const KEY_RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
pub const KEY_RSA_OAEP: &str = "http://www.w3.org/2009/xmlenc11#rsa-oaep";
const TYPE_ELEMENT: &str = "http://www.w3.org/2001/04/xmlenc#Element";

/// The data cipher of an `EncryptedData`.
#[derive(Clone, Copy)]
enum DataCipher {
    Cbc(usize),
    Gcm(usize),
}

impl DataCipher {
    fn from_uri(uri: &str) -> Option<Self> {
        Some(match uri {
            "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => Self::Cbc(16),
            "http://www.w3.org/2001/04/xmlenc#aes192-cbc" => Self::Cbc(24),
            "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => Self::Cbc(32),
            "http://www.w3.org/2009/xmlenc11#aes128-gcm" => Self::Gcm(16),
            "http://www.w3.org/2009/xmlenc11#aes192-gcm" => Self::Gcm(24),
            "http://www.w3.org/2009/xmlenc11#aes256-gcm" => Self::Gcm(32),
            _ => return None,
        })
    }

    fn key_len(self) -> usize {
        match self {
            Self::Cbc(n) | Self::Gcm(n) => n,
        }
    }
}

fn digest(uri: &str) -> Option<&'static MdRef> {
    Some(match uri {
        "http://www.w3.org/2000/09/xmldsig#sha1" => Md::sha1(),
        "http://www.w3.org/2001/04/xmlenc#sha256" => Md::sha256(),
        "http://www.w3.org/2001/04/xmldsig-more#sha384" => Md::sha384(),
        "http://www.w3.org/2001/04/xmlenc#sha512" => Md::sha512(),
        _ => return None,
    })
}

fn mgf(uri: &str) -> Option<&'static MdRef> {
    Some(match uri {
        "http://www.w3.org/2009/xmlenc11#mgf1sha1" => Md::sha1(),
        "http://www.w3.org/2009/xmlenc11#mgf1sha256" => Md::sha256(),
        "http://www.w3.org/2009/xmlenc11#mgf1sha384" => Md::sha384(),
        "http://www.w3.org/2009/xmlenc11#mgf1sha512" => Md::sha512(),
        _ => return None,
    })
}

/// How the content-encryption key is wrapped.
struct KeyTransport {
    oaep_md: &'static MdRef,
    mgf1_md: &'static MdRef,
}

fn algorithm<'a>(node: roxmltree::Node<'a, '_>) -> Result<&'a str, SamlError> {
    child(node, NS_XENC, "EncryptionMethod")
        .and_then(|m| m.attribute("Algorithm"))
        .ok_or(SamlError::UnexpectedStructure(
            "an encrypted element without EncryptionMethod",
        ))
}

fn unsupported(what: &str) -> SamlError {
    SamlError::EncryptionUnsupported(what.to_owned())
}

/// The one `EncryptedData` and the one `EncryptedKey` (inside its KeyInfo or beside it).
fn parts<'a, 'i>(
    encrypted: roxmltree::Node<'a, 'i>,
) -> Result<(roxmltree::Node<'a, 'i>, roxmltree::Node<'a, 'i>), SamlError> {
    let data: Vec<_> = children(encrypted, NS_XENC, "EncryptedData").collect();
    let [data] = data.as_slice() else {
        return Err(SamlError::UnexpectedStructure(
            "an EncryptedAssertion must hold one EncryptedData",
        ));
    };
    let keys: Vec<_> = encrypted
        .descendants()
        .filter(|n| is(*n, NS_XENC, "EncryptedKey"))
        .collect();
    let [key] = keys.as_slice() else {
        return Err(SamlError::UnexpectedStructure(
            "an EncryptedAssertion must hold one EncryptedKey",
        ));
    };
    Ok((*data, *key))
}

fn key_transport(key: roxmltree::Node<'_, '_>) -> Result<KeyTransport, SamlError> {
    let method = child(key, NS_XENC, "EncryptionMethod").ok_or(SamlError::UnexpectedStructure(
        "an encrypted element without EncryptionMethod",
    ))?;
    let uri = algorithm(key)?;
    if uri == KEY_RSA_1_5 {
        return Err(SamlError::WeakEncryption);
    }
    if uri != KEY_RSA_OAEP_MGF1P && uri != KEY_RSA_OAEP {
        return Err(unsupported(uri));
    }
    if child(method, NS_XENC, "OAEPparams").is_some() {
        return Err(unsupported("OAEPparams"));
    }
    let oaep_md =
        match child(method, NS_DSIG, "DigestMethod").and_then(|d| d.attribute("Algorithm")) {
            Some(d) => digest(d).ok_or_else(|| unsupported(d))?,
            None => Md::sha1(),
        };
    let mgf1_md = match child(method, NS_XENC11, "MGF").and_then(|m| m.attribute("Algorithm")) {
        // rsa-oaep-mgf1p fixes MGF1 with SHA-1.
        Some(m) if uri == KEY_RSA_OAEP => mgf(m).ok_or_else(|| unsupported(m))?,
        Some(m) => return Err(unsupported(m)),
        None => Md::sha1(),
    };
    Ok(KeyTransport { oaep_md, mgf1_md })
}

fn data_cipher(data: roxmltree::Node<'_, '_>) -> Result<DataCipher, SamlError> {
    if let Some(kind) = data.attribute("Type")
        && kind != TYPE_ELEMENT
    {
        return Err(unsupported(kind));
    }
    let uri = algorithm(data)?;
    DataCipher::from_uri(uri).ok_or_else(|| unsupported(uri))
}

/// Whether the data cipher is AES-CBC (malleable, unlike AES-GCM).
pub(crate) fn is_malleable(encrypted: roxmltree::Node<'_, '_>) -> bool {
    parts(encrypted)
        .and_then(|(data, _)| data_cipher(data))
        .map_or(true, |cipher| matches!(cipher, DataCipher::Cbc(_)))
}

/// Checks the algorithms of an `EncryptedAssertion` without decrypting anything.
pub(crate) fn check_encryption(
    encrypted: roxmltree::Node<'_, '_>,
    sp_key: &SpKey,
) -> Result<(), SamlError> {
    let (data, key) = parts(encrypted)?;
    key_transport(key)?;
    data_cipher(data)?;
    if sp_key.private_key().id() != Id::RSA {
        return Err(unsupported(
            "RSA key transport needs an RSA service-provider key",
        ));
    }
    Ok(())
}

fn cipher_value(node: roxmltree::Node<'_, '_>) -> Result<Vec<u8>, SamlError> {
    let data = child(node, NS_XENC, "CipherData").ok_or(SamlError::UnexpectedStructure(
        "an encrypted element without CipherData",
    ))?;
    let value =
        child(data, NS_XENC, "CipherValue").ok_or_else(|| unsupported("CipherReference"))?;
    decode_b64(&text_of(value)).ok_or(SamlError::DecryptionFailed)
}

/// Decrypts an `EncryptedAssertion` into the UTF-8 text of the element it encrypts.
pub(crate) fn decrypt_assertion(
    encrypted: roxmltree::Node<'_, '_>,
    sp_key: &SpKey,
) -> Result<String, SamlError> {
    check_encryption(encrypted, sp_key)?;
    let (data, key) = parts(encrypted)?;
    let transport = key_transport(key)?;
    let cipher = data_cipher(data)?;
    let wrapped = cipher_value(key)?;
    let content = cipher_value(data)?;

    let failed = |_| SamlError::DecryptionFailed;
    let mut ctx = PkeyCtx::new(sp_key.private_key()).map_err(failed)?;
    ctx.decrypt_init().map_err(failed)?;
    ctx.set_rsa_padding(Padding::PKCS1_OAEP).map_err(failed)?;
    ctx.set_rsa_oaep_md(transport.oaep_md).map_err(failed)?;
    ctx.set_rsa_mgf1_md(transport.mgf1_md).map_err(failed)?;
    let mut cek = Vec::new();
    ctx.decrypt_to_vec(&wrapped, &mut cek).map_err(failed)?;
    if cek.len() != cipher.key_len() {
        return Err(SamlError::DecryptionFailed);
    }
    let plain = match cipher {
        DataCipher::Cbc(len) => {
            let aes = match len {
                16 => Cipher::aes_128_cbc(),
                24 => Cipher::aes_192_cbc(),
                _ => Cipher::aes_256_cbc(),
            };
            decrypt_cbc(aes, &cek, &content)?
        }
        DataCipher::Gcm(len) => {
            let aes = match len {
                16 => Cipher::aes_128_gcm(),
                24 => Cipher::aes_192_gcm(),
                _ => Cipher::aes_256_gcm(),
            };
            // XML-Enc 1.1: 96-bit IV in front, 128-bit tag behind.
            if content.len() < 12 + 16 {
                return Err(SamlError::DecryptionFailed);
            }
            let (iv, rest) = content.split_at(12);
            let (body, tag) = rest.split_at(rest.len() - 16);
            openssl::symm::decrypt_aead(aes, &cek, Some(iv), &[], body, tag).map_err(failed)?
        }
    };
    String::from_utf8(plain).map_err(|_| SamlError::DecryptionFailed)
}

/// AES-CBC with the IV in front and XML-Enc padding (the last octet counts the padding
/// octets, whose values are arbitrary), which is not PKCS#7, so openssl's padding is off.
fn decrypt_cbc(aes: Cipher, key: &[u8], content: &[u8]) -> Result<Vec<u8>, SamlError> {
    let block = aes.block_size();
    if content.len() < 2 * block || !content.len().is_multiple_of(block) {
        return Err(SamlError::DecryptionFailed);
    }
    let (iv, body) = content.split_at(block);
    let failed = |_| SamlError::DecryptionFailed;
    let mut crypter = Crypter::new(aes, Mode::Decrypt, key, Some(iv)).map_err(failed)?;
    crypter.pad(false);
    let mut out = vec![0; body.len() + block];
    let mut n = crypter.update(body, &mut out).map_err(failed)?;
    n += crypter.finalize(&mut out[n..]).map_err(failed)?;
    out.truncate(n);
    let pad = usize::from(*out.last().ok_or(SamlError::DecryptionFailed)?);
    if pad == 0 || pad > block || pad > out.len() {
        return Err(SamlError::DecryptionFailed);
    }
    out.truncate(out.len() - pad);
    Ok(out)
}
