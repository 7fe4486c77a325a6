//! The change feed's encoding: every [`Change`] variant, with every role, visibility, item kind,
//! credential kind and optional field in both states, written through a real write transaction
//! and read back from the `changes` table equal to what was written, on SQLite and PostgreSQL.
//! A server that decoded a change differently would silently diverge from the others.

use std::collections::BTreeSet;

use portcullis_core::index::{Account, CredentialEntry, ItemKind};
use portcullis_core::{
    AppKey, Change, CredentialKind, Level, OrgKey, OrgRole, Permission, PermissionSet, TeamKey,
    TeamRole, UserKey, Visibility,
};
use portcullis_store::changes::{ChangeFeed, decode_changes, encode_changes};
use portcullis_store::testing::fresh_store_of;
use portcullis_store::{Actor, Backend, Store};

const NOW: i64 = 1_700_000_000_000;

/// The variant's name; exhaustive, so a new variant fails to compile here until it is covered.
fn variant(change: &Change) -> &'static str {
    match change {
        Change::UserUpserted { .. } => "UserUpserted",
        Change::OrgCreated { .. } => "OrgCreated",
        Change::OrgDeleted { .. } => "OrgDeleted",
        Change::OrgSsoEnforced { .. } => "OrgSsoEnforced",
        Change::OrgTwoFactorRequired { .. } => "OrgTwoFactorRequired",
        Change::UserTwoFactor { .. } => "UserTwoFactor",
        Change::MemberSet { .. } => "MemberSet",
        Change::MemberRemoved { .. } => "MemberRemoved",
        Change::MemberSuspended { .. } => "MemberSuspended",
        Change::TeamCreated { .. } => "TeamCreated",
        Change::TeamUpdated { .. } => "TeamUpdated",
        Change::TeamDeleted { .. } => "TeamDeleted",
        Change::TeamMemberAdded { .. } => "TeamMemberAdded",
        Change::TeamMemberRemoved { .. } => "TeamMemberRemoved",
        Change::TeamAppSet { .. } => "TeamAppSet",
        Change::TeamAppRemoved { .. } => "TeamAppRemoved",
        Change::AppUpserted { .. } => "AppUpserted",
        Change::AppDeleted { .. } => "AppDeleted",
        Change::CollaboratorSet { .. } => "CollaboratorSet",
        Change::ItemUpserted { .. } => "ItemUpserted",
        Change::ItemDeleted { .. } => "ItemDeleted",
        Change::CollaboratorRemoved { .. } => "CollaboratorRemoved",
        Change::CredentialAdded { .. } => "CredentialAdded",
        Change::CredentialRevoked { .. } => "CredentialRevoked",
        Change::CredentialSsoAuthorized { .. } => "CredentialSsoAuthorized",
        Change::OrgSsoBreakGlass { .. } => "OrgSsoBreakGlass",
    }
}

const VARIANTS: usize = 26;

/// One or more samples of every variant, covering every value of each enum-like field and both
/// states of each optional one; keys at both ends of their range.
fn samples() -> Vec<Change> {
    let (u, o, a, t) = (UserKey(7), OrgKey(8), AppKey(9), TeamKey(10));
    let max = u32::MAX;
    let mut hash = [0u8; 32];
    for (i, b) in hash.iter_mut().enumerate() {
        *b = u8::try_from(i * 8 + 1).unwrap();
    }
    let some_scopes = PermissionSet::EMPTY
        .with(Permission::ALL[0])
        .with(Permission::ALL[Permission::ALL.len() - 1]);
    let mut out = vec![
        Change::UserUpserted {
            key: UserKey(1),
            id: "alice".into(),
            active: true,
            operator: false,
        },
        Change::UserUpserted {
            key: UserKey(max),
            id: "Ünïcode \"quoted\" \\ id".into(),
            active: false,
            operator: true,
        },
        Change::OrgCreated {
            key: o,
            id: "acme".into(),
        },
        Change::OrgDeleted { key: OrgKey(max) },
        Change::OrgSsoEnforced {
            key: o,
            enforced: true,
        },
        Change::OrgSsoEnforced {
            key: o,
            enforced: false,
        },
        Change::OrgTwoFactorRequired {
            key: o,
            required: true,
        },
        Change::OrgTwoFactorRequired {
            key: o,
            required: false,
        },
        Change::UserTwoFactor {
            key: u,
            enabled: true,
        },
        Change::UserTwoFactor {
            key: u,
            enabled: false,
        },
        Change::MemberRemoved { org: o, user: u },
        Change::TeamDeleted { key: t },
        Change::TeamMemberAdded { team: t, user: u },
        Change::TeamMemberRemoved { team: t, user: u },
        Change::TeamAppRemoved { team: t, app: a },
        Change::AppUpserted {
            key: a,
            owner: Account::User(u),
            id: "app".into(),
            visibility: Visibility::ALL[0],
        },
        Change::AppUpserted {
            key: AppKey(max),
            owner: Account::Org(o),
            id: "org-app".into(),
            visibility: Visibility::ALL[Visibility::ALL.len() - 1],
        },
        Change::AppDeleted { key: a },
        Change::CollaboratorSet {
            app: a,
            user: u,
            permissions: PermissionSet::all(),
        },
        Change::CollaboratorSet {
            app: a,
            user: u,
            permissions: PermissionSet::EMPTY,
        },
        Change::CollaboratorSet {
            app: a,
            user: u,
            permissions: PermissionSet::all_at(Level::App),
        },
        Change::CollaboratorRemoved { app: a, user: u },
        Change::CredentialAdded {
            hash,
            entry: CredentialEntry {
                id: 1,
                user: u,
                kind: CredentialKind::Session,
                scopes: PermissionSet::all(),
                org: None,
                app: None,
                expires_at: None,
            },
        },
        Change::CredentialAdded {
            hash: [0xff; 32],
            entry: CredentialEntry {
                id: i64::MAX,
                user: UserKey(max),
                kind: CredentialKind::AppKey,
                scopes: some_scopes,
                org: Some(o),
                app: Some(a),
                expires_at: Some(NOW + 3_600_000),
            },
        },
        Change::CredentialRevoked { hash },
        Change::CredentialRevoked { hash: [0; 32] },
        Change::CredentialSsoAuthorized {
            credential: 42,
            org: o,
        },
        Change::OrgSsoBreakGlass {
            key: o,
            users: Vec::new(),
        },
        Change::OrgSsoBreakGlass {
            key: o,
            users: vec![u, UserKey(1), UserKey(max)],
        },
    ];
    for role in OrgRole::ALL {
        out.push(Change::MemberSet {
            org: o,
            user: u,
            role,
        });
    }
    for role in TeamRole::ALL {
        out.push(Change::TeamCreated {
            key: t,
            org: o,
            id: "ml".into(),
            default_role: role,
        });
        out.push(Change::TeamUpdated {
            key: t,
            id: "ml-renamed".into(),
            default_role: role,
        });
        out.push(Change::TeamAppSet {
            team: t,
            app: a,
            role,
        });
    }
    for visibility in Visibility::ALL {
        for kind in ItemKind::ALL {
            out.push(Change::ItemUpserted {
                app: a,
                kind,
                id: format!("{}-item", kind.as_str()),
                visibility,
            });
        }
    }
    for kind in ItemKind::ALL {
        out.push(Change::ItemDeleted {
            app: a,
            kind,
            id: "gone".into(),
        });
    }
    for kind in [
        CredentialKind::Session,
        CredentialKind::PersonalAccessToken,
        CredentialKind::AppKey,
        CredentialKind::ServiceKey,
    ] {
        out.push(Change::CredentialAdded {
            hash,
            entry: CredentialEntry {
                id: 3,
                user: u,
                kind,
                scopes: some_scopes,
                org: Some(o),
                app: None,
                expires_at: Some(0),
            },
        });
    }
    // Variants added after the v1 fixture (none of its rows can hold them): last.
    out.extend([
        Change::MemberSuspended {
            org: o,
            user: u,
            suspended: true,
        },
        Change::MemberSuspended {
            org: OrgKey(max),
            user: UserKey(max),
            suspended: false,
        },
    ]);
    out
}

/// Variants added after the v1 fixture was captured.
const ADDED_AFTER_V1: [&str; 1] = ["MemberSuspended"];

fn debug(changes: &[Change]) -> Vec<String> {
    changes.iter().map(|c| format!("{c:?}")).collect()
}

/// Commits one write carrying `changes`; returns its revision.
async fn commit(store: &Store, changes: &[Change]) -> u64 {
    let mut write = store.begin_write(&Actor::system(), NOW).await.unwrap();
    write.set_changes(changes);
    write.commit().await.unwrap()
}

async fn read_back(store: &Store, revision: u64) -> Vec<Change> {
    match store
        .changes_after(revision - 1, Some(revision), 10)
        .await
        .unwrap()
    {
        ChangeFeed::Rows(mut rows) => {
            assert_eq!(rows.len(), 1);
            assert_eq!(rows[0].revision, revision);
            rows.remove(0).changes
        }
        ChangeFeed::Pruned => panic!("revision {revision} missing from the feed"),
    }
}

#[test]
fn the_samples_cover_every_variant() {
    let names: BTreeSet<&str> = samples().iter().map(variant).collect();
    assert_eq!(names.len(), VARIANTS, "{names:?}");
}

#[test]
fn the_encoding_round_trips_in_memory() {
    let samples = samples();
    let decoded = decode_changes(&encode_changes(&samples).unwrap()).unwrap();
    assert_eq!(debug(&decoded), debug(&samples));
}

#[tokio::test]
async fn every_change_round_trips_through_the_changes_table() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let test_store = fresh_store_of(backend)
            .await
            .unwrap_or_else(|e| panic!("{backend:?}: {e}"));
        let store = &test_store.store;
        let samples = samples();

        // Each change alone in its own write, then all of them in one, then none.
        let mut written = Vec::new();
        for change in &samples {
            let revision = commit(store, std::slice::from_ref(change)).await;
            written.push((revision, vec![change.clone()]));
        }
        let all = commit(store, &samples).await;
        written.push((all, samples.clone()));
        let none = commit(store, &[]).await;
        written.push((none, Vec::new()));

        for (revision, changes) in &written {
            let back = read_back(store, *revision).await;
            assert_eq!(debug(&back), debug(changes), "{backend:?} r{revision}");
        }

        // Read as a follower does: contiguous, in order, every write once.
        let first = written[0].0;
        let ChangeFeed::Rows(rows) = store.changes_after(first - 1, None, 10_000).await.unwrap()
        else {
            panic!("{backend:?}: feed pruned")
        };
        assert_eq!(rows.len(), written.len(), "{backend:?}");
        for (row, (revision, changes)) in rows.iter().zip(&written) {
            assert_eq!(row.revision, *revision, "{backend:?}");
            assert_eq!(debug(&row.changes), debug(changes), "{backend:?}");
        }
    }
}

/// Payloads the hand-written codec of earlier versions wrote, one per sample (captured from it
/// before the derived codec replaced it): rows already in a database must still decode, and
/// the same changes must still encode to the same bytes.
fn stored_by_earlier_versions() -> Vec<(String, String)> {
    let text = include_str!("../fixtures/change_feed_v1.json");
    let entries: Vec<serde_json::Value> = serde_json::from_str(text).unwrap();
    entries
        .iter()
        .map(|e| {
            let field = |name: &str| e[name].as_str().unwrap().to_owned();
            (field("change"), field("payload"))
        })
        .collect()
}

#[test]
fn rows_written_by_earlier_versions_decode_and_encode_byte_for_byte() {
    let stored = stored_by_earlier_versions();
    let all_samples = samples();
    let (samples, later) = all_samples.split_at(stored.len());
    assert!(
        later.iter().all(|c| ADDED_AFTER_V1.contains(&variant(c))),
        "only variants added after v1 lack a stored payload"
    );
    let mut variants = BTreeSet::new();
    for ((expected, payload), sample) in stored.iter().zip(samples) {
        let decoded = decode_changes(payload).unwrap_or_else(|e| panic!("{payload}: {e}"));
        assert_eq!(debug(&decoded), std::slice::from_ref(expected), "{payload}");
        variants.insert(variant(&decoded[0]));
        assert_eq!(&format!("{sample:?}"), expected);
        assert_eq!(
            &encode_changes(std::slice::from_ref(sample)).unwrap(),
            payload
        );
    }
    assert_eq!(variants.len(), VARIANTS - ADDED_AFTER_V1.len());

    // Several changes in one row: the entries in order, comma-separated.
    let inner: Vec<&str> = stored.iter().map(|(_, p)| &p[1..p.len() - 1]).collect();
    assert_eq!(
        encode_changes(samples).unwrap(),
        format!("[{}]", inner.join(","))
    );
    assert_eq!(encode_changes(&[]).unwrap(), "[]");
}

#[test]
fn earlier_rows_without_optional_credential_fields_decode() {
    let hash = "00".repeat(32);
    let payload = format!(
        r#"[{{"t":"credential","hash":"{hash}","id":5,"user":7,"kind":"pat","scopes":"all"}}]"#
    );
    let decoded = decode_changes(&payload).unwrap();
    let [Change::CredentialAdded { entry, .. }] = decoded.as_slice() else {
        panic!("{decoded:?}");
    };
    assert_eq!((entry.org, entry.app, entry.expires_at), (None, None, None));
}

#[test]
fn unknown_or_malformed_entries_are_corruption_not_skipped() {
    for payload in [
        r#"[{"t":"teleport","key":1}]"#,
        r#"[{"t":"member","org":1,"user":2,"role":"emperor"}]"#,
        r#"[{"t":"org","key":-1,"id":"x"}]"#,
        r#"[{"t":"org","key":4294967296,"id":"x"}]"#,
        r#"[{"t":"credential_revoked","hash":"abc"}]"#,
        r#"[{"t":"app","key":1,"owner":{"user":1,"org":2},"id":"a","visibility":"public"}]"#,
        r#"[{"t":"app","key":1,"owner":{"team":1},"id":"a","visibility":"public"}]"#,
        r#"[{"t":"credential_revoked","hash":"zz09111921293139414951596169717981899199a1a9b1b9c1c9d1d9e1e9f1f9"}]"#,
        r#"[{"t":"org_sso_break_glass","key":1,"users":[1,-2]}]"#,
        r#"[{"t":"collaborator","app":1,"user":2,"permissions":"fly"}]"#,
        r#"[{"t":"org","id":"x"}]"#,
        r#"{"t":"org"}"#,
        r#"[1]"#,
        "not json",
    ] {
        assert!(decode_changes(payload).is_err(), "accepted {payload}");
    }
}
