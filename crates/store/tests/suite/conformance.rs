//! The store conformance suite: the same scenarios against SQLite and PostgreSQL. Both backends
//! must answer identically; a failure names the backend.
//!
//! A scenario is an `async fn(Store, Backend)` listed in `scenarios!`, which makes it a test on
//! both backends and part of [`run_all`] (a scenario left out of the list is an unused function,
//! which the lints refuse).

use portcullis_core::audit::Operation;
use portcullis_core::index::Account;
use portcullis_core::{AccountId, CredentialKind, Email, OrgRole, PermissionSet, UserKey};
use portcullis_store::testing::fresh_store_of;
use portcullis_store::{
    Actor, AuditRecord, Backend, FailureCount, LOCKED_UNTIL_UNLOCKED, NewCredential, NewOrg,
    NewScimToken, NewUser, ScimUserAttributes, Store, StoreError,
};
use serde_json::json;

const NOW: i64 = 1_700_000_000_000;

fn new_user(id: &str, email: &str) -> NewUser {
    NewUser {
        id: AccountId::parse(id).unwrap(),
        email: Email::parse(email).unwrap(),
        first_name: "F".into(),
        last_name: "L".into(),
        password_hash: Some("$argon2id$fake".into()),
        operator: false,
    }
}

async fn create_user(store: &Store, id: &str) -> UserKey {
    let mut w = store.begin_write(&Actor::system(), NOW).await.unwrap();
    let key = w
        .create_user(&new_user(id, &format!("{id}@example.com")))
        .await
        .unwrap();
    w.audit(AuditRecord::new(
        None,
        Operation::UserSignup,
        json!({"user": id}),
    ));
    w.commit().await.unwrap();
    key
}

/// Every scenario of the suite: each is one test run on SQLite and on PostgreSQL, and
/// [`run_all`] runs them all over one more kind of store (`tls.rs`: PostgreSQL over TLS).
macro_rules! scenarios {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite_and_postgres {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::each_backend(super::$scenario).await;
                }
            )*
        }

        /// Runs every scenario, each on a fresh store from `fresh`, as PostgreSQL.
        pub async fn run_all(fresh: impl AsyncFn() -> Store) {
            $(
                let store = fresh().await;
                $scenario(store.clone(), Backend::Postgres).await;
                store.close().await;
            )*
        }
    };
}

scenarios!(
    ids_and_emails_are_unique_case_insensitively,
    revisions_increase_and_a_rolled_back_write_leaves_nothing,
    orgs_memberships_credentials_and_the_index_snapshot,
    expired_credentials_stay_out_of_the_index_and_failures_are_recorded,
    locked_members_are_the_org_members_locked_now,
    scim_tokens_users_and_suspension,
);

async fn each_backend<F>(scenario: F)
where
    F: AsyncFn(Store, Backend),
{
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let test_store = fresh_store_of(backend)
            .await
            .unwrap_or_else(|e| panic!("{backend:?}: {e}"));
        scenario(test_store.store.clone(), backend).await;
    }
}

async fn ids_and_emails_are_unique_case_insensitively(store: Store, backend: Backend) {
    create_user(&store, "Alice").await;
    let mut w = store.begin_write(&Actor::system(), NOW).await.unwrap();
    let dup_id = w.create_user(&new_user("alice", "other@example.com")).await;
    assert!(
        matches!(dup_id, Err(StoreError::Conflict("account id"))),
        "{backend:?}: {dup_id:?}"
    );
    drop(w);
    let mut w = store.begin_write(&Actor::system(), NOW).await.unwrap();
    let dup_email = w
        .create_user(&new_user("alice2", "ALICE@example.com"))
        .await;
    assert!(
        matches!(dup_email, Err(StoreError::Conflict("email"))),
        "{backend:?}: {dup_email:?}"
    );
    drop(w);
    let found = store
        .user_by_email(&Email::parse("aLiCe@EXAMPLE.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, "Alice", "{backend:?}");
    // Organizations share the namespace.
    let mut w = store.begin_write(&Actor::system(), NOW).await.unwrap();
    let org = NewOrg {
        id: AccountId::parse("ALICE").unwrap(),
        name: "x".into(),
        billing_email: Email::parse("b@e.co").unwrap(),
    };
    assert!(
        matches!(
            w.create_org(&org, found.key).await,
            Err(StoreError::Conflict("account id"))
        ),
        "{backend:?}"
    );
}

async fn revisions_increase_and_a_rolled_back_write_leaves_nothing(store: Store, backend: Backend) {
    let start = store.revision().await.unwrap();
    create_user(&store, "bob").await;
    let after = store.revision().await.unwrap();
    assert_eq!(after, start + 1, "{backend:?}");
    // A write dropped without commit: no user, no audit entry, no revision.
    let mut w = store.begin_write(&Actor::system(), NOW).await.unwrap();
    w.create_user(&new_user("carol", "carol@example.com"))
        .await
        .unwrap();
    w.audit(AuditRecord::new(
        None,
        Operation::UserSignup,
        json!({"user": "carol"}),
    ));
    drop(w);
    assert_eq!(store.revision().await.unwrap(), after, "{backend:?}");
    assert!(
        store
            .user_by_email(&Email::parse("carol@example.com").unwrap())
            .await
            .unwrap()
            .is_none(),
        "{backend:?}"
    );
    let audit = store.audit_entries(None).await.unwrap();
    assert_eq!(audit.len(), 1, "{backend:?}: only bob's signup is recorded");
    assert_eq!(audit[0].operation, Operation::UserSignup.code());
    assert_eq!(audit[0].revision, i64::try_from(after).unwrap());
    assert!(audit[0].success);
}

async fn orgs_memberships_credentials_and_the_index_snapshot(store: Store, backend: Backend) {
    let alice = create_user(&store, "alice").await;
    let mut w = store.begin_write(&Actor::system(), NOW).await.unwrap();
    let org = NewOrg {
        id: AccountId::parse("Acme").unwrap(),
        name: "Acme".into(),
        billing_email: Email::parse("b@e.co").unwrap(),
    };
    let org_key = w.create_org(&org, alice).await.unwrap();
    let cred = NewCredential {
        public_id: "key_1".into(),
        user: alice,
        kind: CredentialKind::PersonalAccessToken,
        token_hash: [7; 32],
        description: "ci".into(),
        scopes: PermissionSet::parse_scopes(["app.view"]).unwrap(),
        org: Some(org_key),
        app: None,
        expires_at: None,
    };
    w.create_credential(&cred).await.unwrap();
    w.audit(AuditRecord::new(
        Some(org_key),
        Operation::OrgCreate,
        json!({"org": "Acme"}),
    ));
    w.commit().await.unwrap();

    let orgs = store.orgs_of_user(alice).await.unwrap();
    assert_eq!(orgs.len(), 1, "{backend:?}");
    assert_eq!(orgs[0].1, OrgRole::Admin);
    let index = store.load_index(NOW).await.unwrap();
    assert_eq!(
        index.revision(),
        store.revision().await.unwrap(),
        "{backend:?}"
    );
    assert_eq!(index.org_by_id("acme"), Some(org_key), "{backend:?}");
    assert_eq!(
        index.membership(alice, org_key).map(|m| m.role),
        Some(OrgRole::Admin),
        "{backend:?}"
    );
    let entry = index
        .credential(&[7; 32])
        .expect("live credential in the index");
    assert_eq!(entry.org, Some(org_key));
    assert_eq!(entry.scopes, cred.scopes);

    // Revocation removes it from the next snapshot; deleting the org cascades.
    let mut w = store.begin_write(&Actor::system(), NOW).await.unwrap();
    let revoked = w.revoke_credential(alice, "key_1").await.unwrap();
    assert_eq!(revoked.token_hash, [7; 32]);
    assert!(
        matches!(
            w.revoke_credential(alice, "key_1").await,
            Err(StoreError::NotFound(_))
        ),
        "{backend:?}"
    );
    w.delete_org(org_key).await.unwrap();
    w.commit().await.unwrap();
    let index = store.load_index(NOW).await.unwrap();
    assert!(index.credential(&[7; 32]).is_none(), "{backend:?}");
    assert!(index.account("acme").is_none(), "{backend:?}");
    assert_eq!(index.account("alice"), Some(Account::User(alice)));
    assert!(
        store.orgs_of_user(alice).await.unwrap().is_empty(),
        "{backend:?}"
    );
    // The audit entries outlive the org.
    assert_eq!(
        store.audit_entries(Some(org_key)).await.unwrap().len(),
        1,
        "{backend:?}"
    );
}

async fn expired_credentials_stay_out_of_the_index_and_failures_are_recorded(
    store: Store,
    backend: Backend,
) {
    let dave = create_user(&store, "dave").await;
    let mut w = store.begin_write(&Actor::system(), NOW).await.unwrap();
    let cred = NewCredential {
        public_id: "ses_1".into(),
        user: dave,
        kind: CredentialKind::Session,
        token_hash: [9; 32],
        description: "s".into(),
        scopes: PermissionSet::all(),
        org: None,
        app: None,
        expires_at: Some(NOW + 1000),
    };
    w.create_credential(&cred).await.unwrap();
    w.commit().await.unwrap();
    assert!(
        store
            .load_index(NOW)
            .await
            .unwrap()
            .credential(&[9; 32])
            .is_some(),
        "{backend:?}"
    );
    assert!(
        store
            .load_index(NOW + 1000)
            .await
            .unwrap()
            .credential(&[9; 32])
            .is_none(),
        "{backend:?}"
    );
    let listed = store
        .credentials_of_user(dave, &[CredentialKind::Session])
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].scopes,
        PermissionSet::all(),
        "{backend:?}: `all` round-trips"
    );

    store
        .record_failure(
            &Actor::system(),
            NOW,
            AuditRecord::new(None, Operation::LoginFailure, json!({"email": "x@y.z"})),
        )
        .await
        .unwrap();
    let last = store.audit_entries(None).await.unwrap().pop().unwrap();
    assert_eq!(last.operation, Operation::LoginFailure.code());
    assert!(!last.success, "{backend:?}");
}

/// Counts failures of `user` at `at` until it is locked until `until` (one failure suffices).
async fn lock(store: &Store, user: UserKey, at: i64, until: i64) {
    let failure = AuditRecord::new(None, Operation::LoginFailure, json!({"user": user.0}));
    let lockout = AuditRecord::new(None, Operation::AccountLockout, json!({"user": user.0}));
    let counted = store
        .count_login_failure(
            user,
            at,
            1,
            until,
            &Actor::system(),
            &failure,
            &lockout,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        counted,
        FailureCount::Counted {
            attempts: 1,
            locked: until > at
        }
    );
}

async fn locked_members_are_the_org_members_locked_now(store: Store, backend: Backend) {
    let alice = create_user(&store, "alice").await;
    let timed = create_user(&store, "timed").await;
    let held = create_user(&store, "held").await;
    let expired = create_user(&store, "expired").await;
    let counted = create_user(&store, "counted").await;
    let elsewhere = create_user(&store, "elsewhere").await;
    let loner = create_user(&store, "loner").await;
    let mut w = store.begin_write(&Actor::system(), NOW).await.unwrap();
    let org = |id: &str| NewOrg {
        id: AccountId::parse(id).unwrap(),
        name: id.into(),
        billing_email: Email::parse("b@e.co").unwrap(),
    };
    let acme = w.create_org(&org("acme"), alice).await.unwrap();
    let globex = w.create_org(&org("globex"), alice).await.unwrap();
    for member in [timed, held, expired, counted] {
        w.add_member(acme, member, OrgRole::OrgUser).await.unwrap();
    }
    w.add_member(globex, elsewhere, OrgRole::OrgUser)
        .await
        .unwrap();
    w.commit().await.unwrap();

    // Locked until a time, until an administrator unlocks it, a lockout that has ended,
    // failures below the limit, and locked users of another org and of none.
    lock(&store, timed, NOW, NOW + 60_000).await;
    lock(&store, held, NOW, LOCKED_UNTIL_UNLOCKED).await;
    lock(&store, expired, NOW - 120_000, NOW - 60_000).await;
    let failure = AuditRecord::new(None, Operation::LoginFailure, json!({}));
    store
        .count_login_failure(
            counted,
            NOW,
            5,
            NOW + 60_000,
            &Actor::system(),
            &failure,
            &failure,
            None,
        )
        .await
        .unwrap();
    lock(&store, elsewhere, NOW, NOW + 60_000).await;
    lock(&store, loner, NOW, LOCKED_UNTIL_UNLOCKED).await;

    assert_eq!(
        store.locked_members(acme, NOW).await.unwrap(),
        vec![(timed, NOW + 60_000), (held, LOCKED_UNTIL_UNLOCKED)],
        "{backend:?}"
    );
    assert_eq!(
        store.locked_members(globex, NOW).await.unwrap(),
        vec![(elsewhere, NOW + 60_000)],
        "{backend:?}"
    );
    // A timed lockout ends at its instant; the other lasts until it is lifted.
    assert_eq!(
        store.locked_members(acme, NOW + 60_000).await.unwrap(),
        vec![(held, LOCKED_UNTIL_UNLOCKED)],
        "{backend:?}"
    );
    let mut w = store.begin_write(&Actor::system(), NOW).await.unwrap();
    assert!(w.unlock_user(held).await.unwrap(), "{backend:?}");
    w.commit().await.unwrap();
    assert_eq!(
        store.locked_members(acme, NOW).await.unwrap(),
        vec![(timed, NOW + 60_000)],
        "{backend:?}"
    );
    assert!(
        store
            .locked_members(acme, NOW + 60_000)
            .await
            .unwrap()
            .is_empty(),
        "{backend:?}"
    );
}

/// SCIM: tokens found by hash only while live, rotation's overlap, provisioned users unique
/// by userName without regard to case and gone with their membership, suspension in the
/// index snapshot, and the last active administrator kept.
async fn scim_tokens_users_and_suspension(store: Store, backend: Backend) {
    let alice = create_user(&store, "alice").await;
    let bob = create_user(&store, "bob").await;
    let mut w = store.begin_write(&Actor::system(), NOW).await.unwrap();
    let org = NewOrg {
        id: AccountId::parse("acme").unwrap(),
        name: "Acme".into(),
        billing_email: Email::parse("b@e.co").unwrap(),
    };
    let org = w.create_org(&org, alice).await.unwrap();
    let token = NewScimToken {
        public_id: "scim_1".into(),
        org,
        token_hash: [9; 32],
        description: "okta".into(),
        created_by: Some(alice),
    };
    let row = w.create_scim_token(&token).await.unwrap();
    w.add_member(org, bob, OrgRole::OrgUser).await.unwrap();
    let attributes = |name: &str| ScimUserAttributes {
        user_name: name.into(),
        external_id: Some("ext".into()),
        display_name: None,
        attributes: "{}".into(),
    };
    w.insert_scim_user(org, bob, &attributes("Bob@Acme.example"))
        .await
        .unwrap();
    assert!(w.scim_token_live(row).await.unwrap(), "{backend:?}");
    w.commit().await.unwrap();

    let found = store.scim_token_by_hash(&[9; 32]).await.unwrap().unwrap();
    assert_eq!(
        (found.org, found.created_by.as_deref()),
        (org, Some("alice")),
        "{backend:?}"
    );
    assert!(found.live(NOW), "{backend:?}");
    assert!(store.scim_token_by_hash(&[8; 32]).await.unwrap().is_none());
    store.touch_scim_token(row, NOW + 5).await.unwrap();
    assert_eq!(
        store.scim_tokens(org).await.unwrap()[0].last_used_at,
        Some(NOW + 5)
    );
    let users = store.scim_users(org).await.unwrap();
    assert_eq!(users.len(), 1, "{backend:?}");
    assert_eq!(
        (users[0].key, users[0].user_name.as_str()),
        (bob, "Bob@Acme.example")
    );
    assert!(
        store
            .scim_user_by_name(org, "bob@acme.EXAMPLE")
            .await
            .unwrap()
            .is_some(),
        "{backend:?}"
    );
    assert_eq!(
        store.scim_default_role(org).await.unwrap(),
        OrgRole::OrgUser
    );

    let mut w = store.begin_write(&Actor::system(), NOW).await.unwrap();
    let dup = w
        .insert_scim_user(org, alice, &attributes("BOB@acme.example"))
        .await;
    assert!(
        matches!(dup, Err(StoreError::Conflict("userName"))),
        "{backend:?}: {dup:?}"
    );
    drop(w);

    // Suspension: in the snapshot; the last active administrator cannot be suspended.
    let mut w = store.begin_write(&Actor::system(), NOW).await.unwrap();
    assert!(w.set_member_suspended(org, bob, true).await.unwrap());
    assert!(!w.set_member_suspended(org, bob, true).await.unwrap());
    w.expire_scim_token(row, NOW + 10).await.unwrap();
    w.commit().await.unwrap();
    let index = store.load_index(NOW).await.unwrap();
    assert_eq!(
        index.membership(bob, org).map(|m| m.suspended),
        Some(true),
        "{backend:?}"
    );
    assert_eq!(
        index.membership(alice, org).map(|m| m.suspended),
        Some(false)
    );
    let mut w = store.begin_write(&Actor::system(), NOW).await.unwrap();
    let last = w.set_member_suspended(org, alice, true).await;
    assert!(
        matches!(last, Err(StoreError::LastAdmin)),
        "{backend:?}: {last:?}"
    );
    drop(w);
    let expired = store.scim_token_by_hash(&[9; 32]).await.unwrap().unwrap();
    assert!(
        expired.live(NOW + 9) && !expired.live(NOW + 10),
        "{backend:?}"
    );

    // Leaving the org takes the SCIM row with the membership; revocation ends the token.
    let mut w = store.begin_write(&Actor::system(), NOW).await.unwrap();
    w.remove_member(org, bob).await.unwrap();
    assert!(w.revoke_scim_token(row).await.unwrap());
    assert!(!w.revoke_scim_token(row).await.unwrap());
    assert!(!w.scim_token_live(row).await.unwrap(), "{backend:?}");
    w.commit().await.unwrap();
    assert!(
        store.scim_users(org).await.unwrap().is_empty(),
        "{backend:?}"
    );
}
