//! TOTP seeds sealed at rest, read back from the raw table: the row holds no seed, a store
//! opened with another key ring produces no code (and `serve`'s start-up check refuses it),
//! rotation re-seals under the new key so the old one can go, a value tampered with or moved
//! to another user's row is refused, and a plain seed an older version stored keeps working
//! and is sealed at start-up. The backend follows `PORTCULLIS_TEST_BACKEND` (SQLite by default).

use std::sync::Arc;

use portcullis_core::FixedClock;
use portcullis_core::audit::Operation;
use portcullis_service::authentication::{LoginOutcome, SignupInput};
use portcullis_service::sealing::{KeyRing, new_key_line};
use portcullis_service::store::testing::{TestStore, fresh_store};
use portcullis_service::totp::{STEP_SECONDS, TotpAuthority, code_at};
use portcullis_service::{Caller, Portcullis, RequestMeta, ServiceConfig, ServiceError};
use secrecy::{ExposeSecret, SecretString};

const T0: i64 = 1_700_000_000_000;
const STEP_MS: i64 = STEP_SECONDS * 1000;
const PASSWORD: &str = "correct-horse-battery-staple-42";

fn ring(lines: &[&SecretString]) -> Arc<KeyRing> {
    let text = lines
        .iter()
        .map(|l| l.expose_secret())
        .collect::<Vec<_>>()
        .join("\n");
    Arc::new(KeyRing::parse(&SecretString::from(text)).unwrap())
}

fn material(line: &SecretString) -> String {
    line.expose_secret().split(' ').nth(1).unwrap().to_owned()
}

async fn raw_pool(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(url).await.unwrap()
}

/// The stored form of every TOTP secret, by user id (`alice`, `bob`).
async fn raw_secret(url: &str, user: &str) -> String {
    let pool = raw_pool(url).await;
    let secret: String = sqlx::query_scalar(
        "SELECT t.secret FROM totp_factors t JOIN accounts a ON a.id = t.user_id \
         WHERE a.handle = $1",
    )
    .bind(user)
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    secret
}

async fn raw_set_secret(url: &str, user: &str, secret: &str) {
    let pool = raw_pool(url).await;
    let updated = sqlx::query(
        "UPDATE totp_factors SET secret = $1 WHERE user_id = \
         (SELECT id FROM accounts WHERE handle = $2)",
    )
    .bind(secret)
    .bind(user)
    .execute(&pool)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(updated, 1);
    pool.close().await;
}

async fn raw_audit_count(url: &str, operation: Operation) -> i64 {
    let pool = raw_pool(url).await;
    let count = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE operation = $1")
        .bind(operation.code())
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    count
}

struct World {
    store: TestStore,
    clock: FixedClock,
}

impl World {
    async fn new() -> Self {
        Self {
            store: fresh_store().await.unwrap(),
            clock: FixedClock::at(T0),
        }
    }

    /// A service on this store with `keys`, as `serve` would start it on another key file.
    async fn service(&self, keys: &Arc<KeyRing>) -> Arc<Portcullis> {
        Portcullis::start(
            self.store.store.clone(),
            Arc::new(self.clock.clone()),
            ServiceConfig {
                secret_keys: keys.clone(),
                ..ServiceConfig::default()
            },
        )
        .await
        .unwrap()
    }

    fn url(&self) -> &str {
        &self.store.url
    }

    /// Signs `id` up with an org requiring two-factor and enrols its factor through the login
    /// that requirement stops; returns the base32 seed the authenticator got.
    async fn enrolled(&self, service: &Portcullis, id: &str) -> String {
        let user = service
            .signup(
                &Caller::system(),
                SignupInput {
                    id: id.into(),
                    email: format!("{id}@example.com"),
                    password: SecretString::from(PASSWORD),
                    first_name: id.into(),
                    last_name: String::new(),
                },
            )
            .await
            .unwrap()
            .value
            .key;
        let admin = Caller::user_directly(user);
        let org = format!("{id}-org");
        service
            .create_org(&admin, &org, "Org", "billing@example.com")
            .await
            .unwrap();
        service
            .set_org_requires_two_factor(&admin, &org, true)
            .await
            .unwrap();
        let LoginOutcome::TwoFactorEnrolmentRequired {
            enrolment_token, ..
        } = self.login(service, id).await
        else {
            panic!("the org requires two-factor: the login must ask for enrolment");
        };
        let token = enrolment_token.expose_secret().to_owned();
        let caller = Caller::anonymous(RequestMeta::default());
        let seed = service
            .enrol_totp(TotpAuthority::EnrolmentToken(&caller, &token))
            .await
            .unwrap()
            .value
            .secret
            .expose_secret()
            .to_owned();
        let code = code_at(&seed, service.now()).unwrap();
        service
            .login_enrolling_second_factor(RequestMeta::default(), &token, &code)
            .await
            .unwrap();
        seed
    }

    async fn login(&self, service: &Portcullis, id: &str) -> LoginOutcome {
        service
            .login(
                RequestMeta::default(),
                &format!("{id}@example.com"),
                SecretString::from(PASSWORD),
                false,
            )
            .await
            .unwrap()
    }

    /// The two-step login of `id` with the current code of `seed` (one step later each time,
    /// so no code is a replay).
    async fn second_factor(
        &self,
        service: &Portcullis,
        id: &str,
        seed: &str,
    ) -> Result<LoginOutcome, ServiceError> {
        self.clock.advance_ms(STEP_MS);
        let LoginOutcome::SecondFactorRequired { login_token, .. } = self.login(service, id).await
        else {
            panic!("{id} has two-factor on: the login must ask for a code");
        };
        let code = code_at(seed, service.now()).unwrap();
        service
            .login_second_factor(
                RequestMeta::default(),
                login_token.expose_secret(),
                Some(&code),
                None,
            )
            .await
    }
}

fn assert_unopenable(err: ServiceError, mentions: &[&str], never: &str) {
    match err {
        ServiceError::State { code, message } => {
            assert_eq!(code, "secrets.unopenable");
            for word in mentions {
                assert!(message.contains(word), "`{word}` missing in: {message}");
            }
            assert!(!message.contains(never), "{message}");
        }
        other => panic!("expected secrets.unopenable, got {other:?}"),
    }
}

#[tokio::test]
async fn the_raw_row_holds_no_seed_and_another_key_ring_produces_no_code() {
    let world = World::new().await;
    let key = new_key_line("k1");
    let keys = ring(&[&key]);
    let service = world.service(&keys).await;
    let seed = world.enrolled(&service, "alice").await;

    let stored = raw_secret(world.url(), "alice").await;
    assert!(stored.starts_with("sealed:v1:k1:"), "{stored}");
    assert!(!stored.contains(&seed), "the seed is readable: {stored}");
    assert!(!stored.to_ascii_uppercase().contains(&seed));
    assert!(matches!(
        world.second_factor(&service, "alice", &seed).await.unwrap(),
        LoginOutcome::Session(_)
    ));
    service.seal_stored_secrets().await.unwrap();

    // The database copied to a server with another key ring: the start-up check refuses it
    // (naming the missing key id, never a key), and no code is accepted.
    let other_key = new_key_line("k1");
    let other = world.service(&ring(&[&other_key])).await;
    let report = other.sealed_secrets_report().await.unwrap();
    assert_eq!(
        (report.current, report.refused),
        (0, 1),
        "same id, other key"
    );
    assert_unopenable(
        other.seal_stored_secrets().await.unwrap_err(),
        &["do not open", "k1"],
        &material(&other_key),
    );
    let stranger = world.service(&ring(&[&new_key_line("k9")])).await;
    let report = stranger.sealed_secrets_report().await.unwrap();
    assert_eq!(report.missing_key, 1);
    assert!(report.missing_key_ids.contains("k1"));
    assert_unopenable(
        stranger.rotate_secrets().await.unwrap_err(),
        &["`k1`", "k9"],
        &material(&key),
    );
    assert!(matches!(
        world.second_factor(&stranger, "alice", &seed).await,
        Err(ServiceError::Internal(_))
    ));
    assert_eq!(
        raw_secret(world.url(), "alice").await,
        stored,
        "nothing rewritten"
    );
}

#[tokio::test]
async fn rotation_reseals_everything_so_the_old_key_can_be_removed() {
    let world = World::new().await;
    let old = new_key_line("old");
    let service = world.service(&ring(&[&old])).await;
    let alice = world.enrolled(&service, "alice").await;
    let bob = world.enrolled(&service, "bob").await;
    let before = raw_secret(world.url(), "alice").await;

    let new = new_key_line("new");
    let both = world.service(&ring(&[&new, &old])).await;
    // Still opens under the old key before rotating.
    assert!(matches!(
        world.second_factor(&both, "bob", &bob).await.unwrap(),
        LoginOutcome::Session(_)
    ));
    let rotated = both.rotate_secrets().await.unwrap();
    assert_eq!((rotated.resealed, rotated.unchanged), (2, 0));
    assert_eq!(
        raw_audit_count(world.url(), Operation::SecretsRotate).await,
        1
    );
    let after = raw_secret(world.url(), "alice").await;
    assert!(after.starts_with("sealed:v1:new:"), "{after}");
    assert_ne!(after, before);
    let again = both.rotate_secrets().await.unwrap();
    assert_eq!((again.resealed, again.unchanged), (0, 2), "idempotent");
    assert_eq!(
        raw_audit_count(world.url(), Operation::SecretsRotate).await,
        1,
        "a pass that changes nothing records nothing"
    );

    let only_new = world.service(&ring(&[&new])).await;
    only_new.seal_stored_secrets().await.unwrap();
    let report = only_new.sealed_secrets_report().await.unwrap();
    assert_eq!((report.current, report.older_key), (2, 0));
    for (id, seed) in [("alice", &alice), ("bob", &bob)] {
        assert!(matches!(
            world.second_factor(&only_new, id, seed).await.unwrap(),
            LoginOutcome::Session(_)
        ));
    }
    // The old ring alone no longer opens them.
    let only_old = world.service(&ring(&[&old])).await;
    assert!(only_old.seal_stored_secrets().await.is_err());
}

#[tokio::test]
async fn a_value_tampered_with_or_moved_to_another_users_row_is_refused() {
    let world = World::new().await;
    let keys = ring(&[&new_key_line("k1")]);
    let service = world.service(&keys).await;
    let alice = world.enrolled(&service, "alice").await;
    let bob = world.enrolled(&service, "bob").await;
    let alices = raw_secret(world.url(), "alice").await;
    let bobs = raw_secret(world.url(), "bob").await;

    // Alice's sealed seed copied into bob's row: alice's codes do not open bob's account.
    raw_set_secret(world.url(), "bob", &alices).await;
    assert!(world.second_factor(&service, "bob", &alice).await.is_err());
    assert_eq!(service.sealed_secrets_report().await.unwrap().refused, 1);
    assert_unopenable(
        service.seal_stored_secrets().await.unwrap_err(),
        &["do not open"],
        "sealed:",
    );
    raw_set_secret(world.url(), "bob", &bobs).await;
    assert!(world.second_factor(&service, "bob", &bob).await.is_ok());

    // One character of the ciphertext changed.
    let mut tampered = alices.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    raw_set_secret(world.url(), "alice", &String::from_utf8(tampered).unwrap()).await;
    assert!(matches!(
        world.second_factor(&service, "alice", &alice).await,
        Err(ServiceError::Internal(_))
    ));
    assert!(service.seal_stored_secrets().await.is_err());
}

#[tokio::test]
async fn a_plain_seed_an_older_version_stored_keeps_working_and_is_sealed_at_start_up() {
    let world = World::new().await;
    let keys = ring(&[&new_key_line("k1")]);
    let service = world.service(&keys).await;
    let seed = world.enrolled(&service, "alice").await;
    // What the version before sealing stored: the base32 seed itself.
    raw_set_secret(world.url(), "alice", &seed).await;

    let upgraded = world.service(&keys).await;
    assert_eq!(upgraded.sealed_secrets_report().await.unwrap().plain, 1);
    assert!(matches!(
        world
            .second_factor(&upgraded, "alice", &seed)
            .await
            .unwrap(),
        LoginOutcome::Session(_)
    ));
    let sealed = upgraded.seal_stored_secrets().await.unwrap();
    assert_eq!(sealed.sealed_plain, 1);
    assert_eq!(
        raw_audit_count(world.url(), Operation::SecretsSeal).await,
        1
    );
    let stored = raw_secret(world.url(), "alice").await;
    assert!(stored.starts_with("sealed:v1:k1:"), "{stored}");
    assert!(!stored.contains(&seed));
    assert!(matches!(
        world
            .second_factor(&upgraded, "alice", &seed)
            .await
            .unwrap(),
        LoginOutcome::Session(_)
    ));
    assert_eq!(
        upgraded.seal_stored_secrets().await.unwrap().sealed_plain,
        0,
        "nothing left to seal"
    );
}

/// A backup (SQLite) and a migration into PostgreSQL (when that is the backend under test)
/// carry the sealed values as they are: they open with the same ring and no other.
#[tokio::test]
async fn backups_and_migrations_keep_secrets_sealed_and_openable_with_the_same_ring() {
    use portcullis_service::store::testing::{backend_under_test, fresh_store_of};
    use portcullis_service::store::{Backend, Store};

    let source = World {
        store: fresh_store_of(Backend::Sqlite).await.unwrap(),
        clock: FixedClock::at(T0),
    };
    let keys = ring(&[&new_key_line("k1")]);
    let service = source.service(&keys).await;
    let seed = source.enrolled(&service, "alice").await;
    let sealed = raw_secret(source.url(), "alice").await;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("restored");
    std::fs::create_dir(&data).unwrap();
    source
        .store
        .store
        .backup_to(&data.join(portcullis_service::store::SQLITE_FILE))
        .await
        .unwrap();
    let mut copies = vec![Store::open_data_dir(&data).await.unwrap()];
    let _target = if backend_under_test() == Backend::Postgres {
        let target = fresh_store_of(Backend::Postgres).await.unwrap();
        source.store.store.copy_into(&target.store).await.unwrap();
        assert_eq!(raw_secret(&target.url, "alice").await, sealed);
        copies.push(target.store.clone());
        Some(target)
    } else {
        None
    };
    for copy in copies {
        let start = |keys: &Arc<KeyRing>| {
            Portcullis::start(
                copy.clone(),
                Arc::new(source.clock.clone()),
                ServiceConfig {
                    secret_keys: keys.clone(),
                    ..ServiceConfig::default()
                },
            )
        };
        let stranger = start(&ring(&[&new_key_line("k1")])).await.unwrap();
        assert!(
            stranger.seal_stored_secrets().await.is_err(),
            "{:?}",
            copy.backend()
        );
        let same = start(&keys).await.unwrap();
        same.seal_stored_secrets().await.unwrap();
        assert!(matches!(
            source.second_factor(&same, "alice", &seed).await.unwrap(),
            LoginOutcome::Session(_)
        ));
    }
}
