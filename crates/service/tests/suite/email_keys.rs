//! Canonical email keys for data an older version stored: keys that only lower-cased are
//! upgraded at start-up, and accounts that collide under the canonical form (a look-alike
//! address registered before look-alikes were refused) are reported and left alone. The backend
//! follows `PORTCULLIS_TEST_BACKEND` (SQLite by default).

use std::sync::Arc;

use portcullis_core::audit::Operation;
use portcullis_core::{AccountId, Email, SystemClock};
use portcullis_service::email_keys::Collision;
use portcullis_service::store::testing::fresh_store;
use portcullis_service::store::{Actor, AuditFilter, AuditOrder, NewUser};
use portcullis_service::{Portcullis, ServiceConfig};

async fn raw(url: &str, sql: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::query(sql).execute(&pool).await.unwrap();
    pool.close().await;
}

#[tokio::test]
async fn stored_keys_are_upgraded_and_look_alike_accounts_reported_not_merged() {
    let test = fresh_store().await.unwrap();
    let store = test.store.clone();
    let mut w = store.begin_write(&Actor::system(), 1).await.unwrap();
    for (id, email) in [
        ("kate", "kate.admin@example.com"),
        ("squatter", "placeholder@example.com"),
        ("anna", "Anna@Bücher.example"),
    ] {
        w.create_user(&NewUser {
            id: AccountId::parse(id).unwrap(),
            email: Email::parse(email).unwrap(),
            first_name: id.into(),
            last_name: "Test".into(),
            password_hash: None,
            operator: false,
        })
        .await
        .unwrap();
    }
    w.commit().await.unwrap();
    // What an older version stored: a fullwidth look-alike of kate's address (keyed by its
    // lower case, so it did not collide then), and anna's key lower-cased only.
    raw(
        &test.url,
        "UPDATE users SET email = '\u{ff4b}ate.admin@example.com', \
         email_key = '\u{ff4b}ate.admin@example.com' WHERE email = 'placeholder@example.com'",
    )
    .await;
    raw(
        &test.url,
        "UPDATE users SET email_key = 'anna@bücher.example' WHERE email = 'Anna@Bücher.example'",
    )
    .await;

    let service = Portcullis::start(
        store.clone(),
        Arc::new(SystemClock),
        ServiceConfig::default(),
    )
    .await
    .unwrap();
    let anna = Email::parse("ANNA@xn--bcher-kva.example").unwrap();
    assert!(
        store.user_by_email(&anna).await.unwrap().is_none(),
        "before the upgrade the old key does not match the canonical form"
    );

    let report = service.email_key_report().await.unwrap();
    assert_eq!(report.upgradable, 1);
    assert_eq!(
        report.collisions,
        vec![Collision {
            canonical: "kate.admin@example.com".into(),
            accounts: vec!["kate".into(), "squatter".into()],
        }]
    );
    assert!(report.invalid.is_empty());
    let revision = service.revision();

    assert_eq!(service.upgrade_email_keys().await.unwrap(), report);
    assert_eq!(
        service.revision(),
        revision + 1,
        "one write for every upgrade"
    );
    assert_eq!(
        store.user_by_email(&anna).await.unwrap().unwrap().id,
        "anna"
    );
    // Not merged, not re-keyed: the real owner keeps her address, the look-alike its old key.
    let kate = Email::parse("Kate.Admin@example.com").unwrap();
    assert_eq!(
        store.user_by_email(&kate).await.unwrap().unwrap().id,
        "kate"
    );
    let stored = store.stored_emails().await.unwrap();
    let squatter = stored.iter().find(|s| s.id == "squatter").unwrap();
    assert_eq!(squatter.email_key, "\u{ff4b}ate.admin@example.com");

    let upgrade = Operation::EmailKeysUpgrade.code();
    let entries = store
        .audit_page(
            None,
            &AuditFilter {
                operations: vec![upgrade],
                ..AuditFilter::default()
            },
            AuditOrder::OldestFirst,
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(entries.len(), 1, "the upgrade is on the platform chain");

    let again = service.upgrade_email_keys().await.unwrap();
    assert_eq!(again.upgradable, 0);
    assert_eq!(service.revision(), revision + 1, "nothing left to write");
    assert_eq!(again.collisions.len(), 1, "reported until resolved");
}
