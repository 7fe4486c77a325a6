//! Password hashing: argon2id with OWASP's parameters, always off the async threads, and a
//! dummy verification for unknown accounts so login time does not reveal whether one exists.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

use crate::{Result, ServiceError};

/// OWASP Password Storage Cheat Sheet: argon2id, m = 19 MiB, t = 2, p = 1.
const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;

/// Passwords are never truncated; this only bounds the work an attacker can make us do.
pub const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Debug, Clone)]
pub struct PasswordHasher {
    dummy_hash: String,
}

fn argon2() -> Argon2<'static> {
    // The parameters are constants within argon2's documented bounds.
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn internal(err: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(err.to_string().into())
}

/// The outcome of verifying a password against a stored hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Correct, and the stored hash used other parameters: here is a fresh one to store.
    YesRehashed(String),
}

impl PasswordHasher {
    pub async fn new() -> Result<Self> {
        let dummy_hash =
            Self::hash_blocking(SecretString::from("portcullis-dummy-password")).await?;
        Ok(Self { dummy_hash })
    }

    /// The one rule outside the password policy: at most [`MAX_PASSWORD_BYTES`] (it bounds
    /// the hashing work; passwords are never truncated). The policy does the rest.
    pub fn validate(password: &SecretString) -> Result<()> {
        Self::validate_field(password, "password")
    }

    pub fn validate_field(password: &SecretString, field: &'static str) -> Result<()> {
        if password.expose_secret().len() > MAX_PASSWORD_BYTES {
            return Err(ServiceError::invalid(
                "password.too_long",
                field,
                format!("`{field}` must be at most {MAX_PASSWORD_BYTES} bytes"),
            ));
        }
        Ok(())
    }

    pub async fn hash(&self, password: SecretString) -> Result<String> {
        Self::hash_blocking(password).await
    }

    async fn hash_blocking(password: SecretString) -> Result<String> {
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            argon2()
                .hash_password(password.expose_secret().as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(internal)
        })
        .await
        .map_err(internal)?
    }

    /// Whether `password` matches any of `hashes` (password history). Unparseable hashes
    /// never match.
    pub async fn matches_any(&self, password: &str, hashes: Vec<String>) -> Result<bool> {
        if hashes.is_empty() {
            return Ok(false);
        }
        let password = SecretString::from(password.to_owned());
        tokio::task::spawn_blocking(move || {
            let argon = argon2();
            hashes.iter().any(|stored| {
                PasswordHash::new(stored).is_ok_and(|parsed| {
                    argon
                        .verify_password(password.expose_secret().as_bytes(), &parsed)
                        .is_ok()
                })
            })
        })
        .await
        .map_err(internal)
    }

    /// Verifies `password` against `stored`, or against a dummy hash when there is no stored
    /// hash (unknown user, SSO-only user) so that both paths cost the same.
    pub async fn verify(&self, password: SecretString, stored: Option<String>) -> Result<Verified> {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.dummy_hash.clone());
        tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&stored).map_err(internal)?;
            let argon = argon2();
            if argon
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_err()
                || !known
            {
                return Ok(Verified::No);
            }
            if uses_current_parameters(&parsed) {
                return Ok(Verified::Yes);
            }
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            let fresh = argon
                .hash_password(password.expose_secret().as_bytes(), &salt)
                .map_err(internal)?;
            Ok(Verified::YesRehashed(fresh.to_string()))
        })
        .await
        .map_err(internal)?
    }
}

fn uses_current_parameters(hash: &PasswordHash<'_>) -> bool {
    let Ok(params) = Params::try_from(hash) else {
        return false;
    };
    hash.algorithm == argon2::ARGON2ID_IDENT
        && params.m_cost() == MEMORY_KIB
        && params.t_cost() == ITERATIONS
        && params.p_cost() == PARALLELISM
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_old_parameters_are_rehashed() {
        let hasher = PasswordHasher::new().await.unwrap();
        let hash = hasher
            .hash(SecretString::from("correct horse"))
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(
            hasher
                .verify(SecretString::from("correct horse"), Some(hash.clone()))
                .await
                .unwrap(),
            Verified::Yes
        );
        assert_eq!(
            hasher
                .verify(SecretString::from("wrong horse"), Some(hash))
                .await
                .unwrap(),
            Verified::No
        );
        assert_eq!(
            hasher
                .verify(SecretString::from("portcullis-dummy-password"), None)
                .await
                .unwrap(),
            Verified::No
        );

        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8, 1, 1, None).unwrap(),
        )
        .hash_password(
            b"correct horse",
            &SaltString::generate(&mut rand::rngs::OsRng),
        )
        .unwrap()
        .to_string();
        match hasher
            .verify(SecretString::from("correct horse"), Some(weak))
            .await
            .unwrap()
        {
            Verified::YesRehashed(fresh) => {
                assert!(fresh.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"))
            }
            other => panic!("expected a re-hash, got {other:?}"),
        }
    }
}
