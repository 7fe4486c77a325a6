//! The audit hash chain on both stores: clean chains verify, every kind of tampering done with
//! raw SQL is reported at the right entry, concurrent appends (writes and `record_failure`)
//! keep the chain whole, pruning leaves a chain that verifies, and a 100,000-entry log verifies.

use std::time::Instant;

use portcullis_core::audit::Operation;
use portcullis_core::audit_chain::{Break, EntryFields, GENESIS_HASH, chain_name, entry_hash};
use portcullis_core::{CredentialKind, OrgKey, UserKey};
use portcullis_store::testing::fresh_store_of;
use portcullis_store::{Actor, AuditRecord, Backend, Store};
use serde_json::json;

const NOW: i64 = 1_700_000_000_000;

fn actor() -> Actor {
    Actor {
        user: Some(UserKey(3)),
        credential: Some((9, CredentialKind::Session)),
        request_id: Some("req-1".into()),
        source_ip: Some("10.0.0.1".into()),
        user_agent: Some("tests".into()),
    }
}

/// Appends `n` entries to the chain of `org`, one write each, at NOW + i seconds.
async fn append(store: &Store, org: Option<OrgKey>, n: i64) {
    for i in 0..n {
        let mut w = store.begin_write(&actor(), NOW + i * 1000).await.unwrap();
        w.audit(
            AuditRecord::new(org, Operation::TeamCreate, json!({"team": format!("t{i}")}))
                .with_details(json!({"i": i})),
        );
        w.commit().await.unwrap();
    }
}

async fn id_of(store: &Store, org: OrgKey, seq: i64) -> i64 {
    store
        .audit_page(
            Some(org),
            &Default::default(),
            portcullis_store::AuditOrder::OldestFirst,
            None,
            1000,
        )
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.seq == seq)
        .unwrap()
        .id
}

async fn exec(store: &Store, url: &str, sql: &str) {
    let _ = store;
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
}

async fn each_backend<F>(scenario: F)
where
    F: AsyncFn(Store, String, Backend),
{
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let test_store = fresh_store_of(backend)
            .await
            .unwrap_or_else(|e| panic!("{backend:?}: {e}"));
        scenario(test_store.store.clone(), test_store.url.clone(), backend).await;
    }
}

#[tokio::test]
async fn tampering_is_reported_at_the_right_entry() {
    each_backend(async |store, url, backend| {
        // One chain per kind of tampering, plus a clean one.
        let orgs: Vec<OrgKey> = (1..=7).map(OrgKey).collect();
        for org in &orgs {
            append(&store, Some(*org), 10).await;
        }
        append(&store, None, 3).await;
        for org in &orgs {
            assert!(store.verify_audit_chain(Some(*org)).await.unwrap().ok);
        }
        assert!(store.verify_audit_chain(None).await.unwrap().ok);

        let chain = |org: OrgKey| chain_name(Some(org));
        // 1. An edited detail.
        let edited = id_of(&store, orgs[0], 4).await;
        exec(&store, &url, &format!(
            "UPDATE audit_log SET details = '{{\"i\":99}}' WHERE id = {edited}"
        ))
        .await;
        // 2. A deleted row.
        let deleted = id_of(&store, orgs[1], 4).await;
        let after_deleted = id_of(&store, orgs[1], 5).await;
        exec(&store, &url, &format!("DELETE FROM audit_log WHERE id = {deleted}")).await;
        // 3. Two rows swapped (their positions, contents intact).
        let a = id_of(&store, orgs[2], 4).await;
        let b = id_of(&store, orgs[2], 5).await;
        exec(&store, &url, &format!(
            "UPDATE audit_log SET id = -1 WHERE id = {a}; UPDATE audit_log SET id = {a} WHERE id = {b}; \
             UPDATE audit_log SET id = {b} WHERE id = -1;"
        ))
        .await;
        // 4. A forged row appended with a correct hash, but not through the head.
        let last = store
            .audit_page(Some(orgs[3]), &Default::default(), portcullis_store::AuditOrder::NewestFirst, None, 1)
            .await
            .unwrap()
            .remove(0);
        let forged_fields = EntryFields {
            seq: 11,
            prev_hash: &last.hash,
            details: "{\"forged\":true}",
            ..last.fields()
        };
        let forged_hash = entry_hash(&forged_fields);
        exec(&store, &url, &format!(
            "INSERT INTO audit_log (id, org_id, at, revision, operation, targets, details, success, \
             actor_user_id, actor_credential_id, actor_credential_kind, request_id, source_ip, user_agent, \
             chain, seq, prev_hash, hash) VALUES (100000, 4, {}, {}, {}, '{}', '{}', 1, 3, 9, 'session', \
             'req-1', '10.0.0.1', 'tests', '{}', 11, '{}', '{}')",
            last.at, last.revision, last.operation, last.targets, forged_fields.details,
            chain(orgs[3]), last.hash, forged_hash
        ))
        .await;
        // 5. A forged row slipped in before the first entry.
        exec(&store, &url, &format!(
            "INSERT INTO audit_log (id, org_id, at, revision, operation, targets, details, success, \
             chain, seq, prev_hash, hash) VALUES (-5, 5, 1, 1, 100, '{{}}', '{{}}', 1, '{}', 0, '{}', 'x')",
            chain(orgs[4]), GENESIS_HASH
        ))
        .await;
        // 6. The newest entry removed (only the head still knows of it).
        exec(&store, &url, &format!(
            "DELETE FROM audit_log WHERE chain = '{}' AND seq = 10", chain(orgs[5])
        ))
        .await;

        let report = async |org: OrgKey| {
            let v = store.verify_audit_chain(Some(org)).await.unwrap();
            assert!(!v.ok, "{backend:?} {org:?}");
            let b = v.first_broken.unwrap();
            (b.seq, b.id, b.problem)
        };
        assert_eq!(report(orgs[0]).await, (4, Some(edited), Break::HashMismatch), "{backend:?}");
        assert_eq!(report(orgs[1]).await, (5, Some(after_deleted), Break::SeqGap), "{backend:?}");
        // The row at the first swapped position now holds entry 5.
        assert_eq!(report(orgs[2]).await, (5, Some(a), Break::SeqGap), "{backend:?}");
        assert_eq!(report(orgs[3]).await, (11, Some(100000), Break::BeyondHead), "{backend:?}");
        assert_eq!(report(orgs[4]).await, (0, Some(-5), Break::SeqGap), "{backend:?}");
        assert_eq!(report(orgs[5]).await, (10, None, Break::TruncatedTail), "{backend:?}");
        // The untouched chains still verify.
        let clean = store.verify_audit_chain(Some(orgs[6])).await.unwrap();
        assert!(clean.ok && clean.entries == 10, "{backend:?} {clean:?}");
        assert!(store.verify_audit_chain(None).await.unwrap().ok);
    })
    .await;
}

#[tokio::test]
async fn concurrent_writes_and_failures_keep_the_chain_whole() {
    each_backend(async |store, _url, backend| {
        let org = Some(OrgKey(1));
        let mut tasks = Vec::new();
        for i in 0..40i64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let record = AuditRecord::new(org, Operation::MemberChange, json!({"i": i}));
                if i % 2 == 0 {
                    store.record_failure(&actor(), NOW, record).await.unwrap();
                } else {
                    let mut w = store.begin_write(&actor(), NOW).await.unwrap();
                    w.audit(record);
                    w.commit().await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let v = store.verify_audit_chain(org).await.unwrap();
        assert!(v.ok, "{backend:?} {v:?}");
        assert_eq!(v.entries, 40, "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn pruning_leaves_a_chain_that_verifies() {
    each_backend(async |store, _url, backend| {
        let org = OrgKey(2);
        append(&store, Some(org), 10).await;
        append(&store, None, 4).await;
        // Entries are at NOW + i s: keep the last four of the org, the last one of the platform.
        let (pruned, _) = store
            .prune_audit(&Actor::system(), NOW + 20_000, NOW + 6_000)
            .await
            .unwrap();
        assert_eq!(pruned.len(), 2, "{backend:?}");
        for chain in [Some(org), None] {
            let v = store.verify_audit_chain(chain).await.unwrap();
            assert!(v.ok, "{backend:?} {v:?}");
        }
        let kept = store
            .audit_page(
                Some(org),
                &Default::default(),
                portcullis_store::AuditOrder::OldestFirst,
                None,
                100,
            )
            .await
            .unwrap();
        assert_eq!(kept.first().unwrap().seq, 7, "{backend:?}");
        let last = kept.last().unwrap();
        assert_eq!(last.operation, Operation::AuditPrune.code());
        assert_eq!(last.seq, 11);
        // Pruning twice more: nothing older is left, the chain still verifies.
        store
            .prune_audit(&Actor::system(), NOW + 30_000, NOW + 6_000)
            .await
            .unwrap();
        assert!(store.verify_audit_chain(Some(org)).await.unwrap().ok);
        // Deleting the new first entry is still detected.
        let first = kept.first().unwrap().id;
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&_url)
            .await
            .unwrap();
        sqlx::query(&format!("DELETE FROM audit_log WHERE id = {first}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let v = store.verify_audit_chain(Some(org)).await.unwrap();
        assert_eq!(
            v.first_broken.map(|b| (b.seq, b.problem)),
            Some((8, Break::SeqGap))
        );
    })
    .await;
}

/// Builds a valid chain of `n` entries with multi-row inserts (hashed by the same function the
/// store uses) and verifies it. 100,000 on both stores.
#[tokio::test]
async fn a_clean_log_of_100000_entries_verifies() {
    const N: i64 = 100_000;
    each_backend(async |store, url, backend| {
        let chain = chain_name(Some(OrgKey(1)));
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        let mut prev = GENESIS_HASH.to_owned();
        let mut sql = String::new();
        sqlx::raw_sql("BEGIN").execute(&mut conn).await.unwrap();
        for seq in 1..=N {
            let details = format!("{{\"i\":{seq}}}");
            let fields = EntryFields {
                chain: &chain,
                seq,
                prev_hash: &prev,
                at: NOW + seq,
                revision: seq,
                operation: 101,
                actor_user: Some(3),
                actor_credential: None,
                actor_credential_kind: None,
                targets: "{}",
                details: &details,
                success: true,
                request_id: None,
                source_ip: Some("10.0.0.1"),
                user_agent: None,
            };
            let hash = entry_hash(&fields);
            if sql.is_empty() {
                sql.push_str(
                    "INSERT INTO audit_log (org_id, at, revision, operation, actor_user_id, targets, \
                     details, success, source_ip, chain, seq, prev_hash, hash) VALUES ",
                );
            } else {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(1, {}, {seq}, 101, 3, '{{}}', '{details}', 1, '10.0.0.1', '{chain}', {seq}, '{prev}', '{hash}')",
                NOW + seq
            ));
            prev = hash;
            if seq % 2000 == 0 || seq == N {
                sqlx::raw_sql(&sql).execute(&mut conn).await.unwrap();
                sql.clear();
            }
        }
        sqlx::raw_sql(&format!(
            "INSERT INTO audit_heads (chain, seq, hash) VALUES ('{chain}', {N}, '{prev}')"
        ))
        .execute(&mut conn)
        .await
        .unwrap();
        sqlx::raw_sql("COMMIT").execute(&mut conn).await.unwrap();
        let started = Instant::now();
        let v = store.verify_audit_chain(Some(OrgKey(1))).await.unwrap();
        let elapsed = started.elapsed();
        assert!(v.ok, "{backend:?} {v:?}");
        assert_eq!(v.entries, N as u64);
        eprintln!(
            "{backend:?}: verified {N} entries in {elapsed:?} ({:.0} entries/s)",
            N as f64 / elapsed.as_secs_f64()
        );
    })
    .await;
}

/// Benchmark (run with `--ignored --nocapture`): writes per second with one chained audit entry
/// each versus the same writes with no audit entry.
#[tokio::test]
#[ignore = "benchmark"]
async fn bench_writes_with_and_without_the_chain() {
    const N: i64 = 300;
    each_backend(async |store, _url, backend| {
        let mut rates = Vec::new();
        for audited in [false, true] {
            let started = Instant::now();
            for i in 0..N {
                let mut w = store.begin_write(&actor(), NOW).await.unwrap();
                if audited {
                    w.audit(AuditRecord::new(
                        Some(OrgKey(1)),
                        Operation::TeamUpdate,
                        json!({"i": i}),
                    ));
                }
                w.commit().await.unwrap();
            }
            rates.push(N as f64 / started.elapsed().as_secs_f64());
        }
        eprintln!(
            "{backend:?}: {:.0} writes/s without audit, {:.0} with a chained entry (ratio {:.2})",
            rates[0],
            rates[1],
            rates[1] / rates[0]
        );
    })
    .await;
}
