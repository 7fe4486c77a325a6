//! The audit hash chain: the canonical encoding of an entry, its SHA-256, and a streaming
//! verifier. Pure: the store feeds rows in, the verifier says where the chain first breaks.
//!
//! Each organization has one chain and the platform has one. An entry's hash covers every
//! field it records plus its chain, its sequence number and its predecessor's hash, so editing,
//! deleting, inserting or reordering a stored row breaks the chain at (or right after) it.
//! The encoding is length-prefixed: no field value can be confused with a boundary.

use sha2::{Digest, Sha256};

use crate::index::OrgKey;

/// The predecessor hash of a chain's first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Domain separation: a different encoding version can never produce the same hash input.
const ENCODING_TAG: &[u8] = b"portcullis.audit.v1";

/// The chain an entry belongs to: `org:<row id>` or `platform`.
pub fn chain_name(org: Option<OrgKey>) -> String {
    match org {
        Some(org) => format!("org:{}", org.0),
        None => "platform".to_owned(),
    }
}

/// Every hashed field of one entry, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFields<'a> {
    pub chain: &'a str,
    pub seq: i64,
    pub prev_hash: &'a str,
    pub at: i64,
    pub revision: i64,
    pub operation: i64,
    pub actor_user: Option<i64>,
    pub actor_credential: Option<i64>,
    pub actor_credential_kind: Option<&'a str>,
    pub targets: &'a str,
    pub details: &'a str,
    pub success: bool,
    pub request_id: Option<&'a str>,
    pub source_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

struct Encoder(Sha256);

impl Encoder {
    fn bytes(&mut self, value: &[u8]) {
        self.0.update((value.len() as u64).to_be_bytes());
        self.0.update(value);
    }

    fn int(&mut self, value: i64) {
        self.bytes(&value.to_be_bytes());
    }

    fn opt_int(&mut self, value: Option<i64>) {
        match value {
            None => self.0.update([0u8]),
            Some(v) => {
                self.0.update([1u8]);
                self.int(v);
            }
        }
    }

    fn opt_str(&mut self, value: Option<&str>) {
        match value {
            None => self.0.update([0u8]),
            Some(v) => {
                self.0.update([1u8]);
                self.bytes(v.as_bytes());
            }
        }
    }
}

/// The hex SHA-256 of the canonical encoding of `entry`.
pub fn entry_hash(entry: &EntryFields<'_>) -> String {
    let mut e = Encoder(Sha256::new());
    e.bytes(ENCODING_TAG);
    e.bytes(entry.chain.as_bytes());
    e.int(entry.seq);
    e.bytes(entry.prev_hash.as_bytes());
    e.int(entry.at);
    e.int(entry.revision);
    e.int(entry.operation);
    e.opt_int(entry.actor_user);
    e.opt_int(entry.actor_credential);
    e.opt_str(entry.actor_credential_kind);
    e.bytes(entry.targets.as_bytes());
    e.bytes(entry.details.as_bytes());
    e.int(i64::from(entry.success));
    e.opt_str(entry.request_id);
    e.opt_str(entry.source_ip);
    e.opt_str(entry.user_agent);
    hex::encode(e.0.finalize())
}

/// Why the chain is broken at an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Break {
    /// The entry's fields do not hash to its stored hash (it was edited or forged).
    HashMismatch,
    /// The entry does not name its predecessor's hash (something was inserted or removed
    /// before it, or it was moved).
    PrevHashMismatch,
    /// The sequence number is not the predecessor's plus one (removed, inserted or reordered).
    SeqGap,
    /// The stored chain ends before its recorded head (entries at the end were removed).
    TruncatedTail,
    /// The head names an entry the log does not end with.
    HeadMismatch,
    /// The entry lies beyond the chain's recorded head (appended without going through it).
    BeyondHead,
}

impl Break {
    pub fn code(self) -> &'static str {
        match self {
            Break::HashMismatch => "hash_mismatch",
            Break::PrevHashMismatch => "prev_hash_mismatch",
            Break::SeqGap => "seq_gap",
            Break::TruncatedTail => "truncated_tail",
            Break::HeadMismatch => "head_mismatch",
            Break::BeyondHead => "beyond_head",
        }
    }
}

/// The first broken link: the entry (row id, when one exists) and its expected sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    pub seq: i64,
    pub id: Option<i64>,
    pub problem: Break,
}

/// Walks one chain in stored order and remembers the first break.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    expected_seq: i64,
    expected_prev: String,
    head: Option<(i64, String)>,
    entries: u64,
    broken: Option<BrokenLink>,
}

impl ChainVerifier {
    /// A verifier for a chain whose entries before `first_seq` were pruned, the last of them
    /// having hash `anchor` (a chain never pruned starts at 1 with [`GENESIS_HASH`]); `head` is
    /// the chain's recorded last entry (`None`: nothing was ever appended).
    pub fn new(first_seq: i64, anchor: &str, head: Option<(i64, String)>) -> Self {
        Self {
            expected_seq: first_seq,
            expected_prev: anchor.to_owned(),
            head,
            entries: 0,
            broken: None,
        }
    }

    /// Feeds the next stored entry (in row id order) with its row id and stored hash.
    pub fn feed(&mut self, id: i64, entry: &EntryFields<'_>, stored_hash: &str) {
        self.entries += 1;
        if self.broken.is_some() {
            return;
        }
        let head_seq = self.head.as_ref().map_or(0, |(seq, _)| *seq);
        let problem = if entry.seq > head_seq && entry.seq >= self.expected_seq {
            Some(Break::BeyondHead)
        } else if entry.seq != self.expected_seq {
            Some(Break::SeqGap)
        } else if entry.prev_hash != self.expected_prev {
            Some(Break::PrevHashMismatch)
        } else if entry_hash(entry) != stored_hash {
            Some(Break::HashMismatch)
        } else {
            None
        };
        if let Some(problem) = problem {
            self.broken = Some(BrokenLink {
                seq: entry.seq,
                id: Some(id),
                problem,
            });
            return;
        }
        self.expected_seq += 1;
        stored_hash.clone_into(&mut self.expected_prev);
    }

    /// Ends the walk: the last entry must be the recorded head.
    pub fn finish(mut self) -> Verification {
        if self.broken.is_none() {
            let last_seq = self.expected_seq - 1;
            match &self.head {
                Some((seq, _)) if *seq > last_seq => {
                    self.broken = Some(BrokenLink {
                        seq: last_seq + 1,
                        id: None,
                        problem: Break::TruncatedTail,
                    });
                }
                Some((seq, hash))
                    if *seq != last_seq || (*seq > 0 && *hash != self.expected_prev) =>
                {
                    self.broken = Some(BrokenLink {
                        seq: *seq,
                        id: None,
                        problem: Break::HeadMismatch,
                    });
                }
                None if self.entries > 0 => {
                    self.broken = Some(BrokenLink {
                        seq: last_seq,
                        id: None,
                        problem: Break::HeadMismatch,
                    });
                }
                _ => {}
            }
        }
        Verification {
            ok: self.broken.is_none(),
            entries: self.entries,
            first_broken: self.broken,
        }
    }
}

/// The result of verifying one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub ok: bool,
    /// How many stored entries were read.
    pub entries: u64,
    pub first_broken: Option<BrokenLink>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(seq: i64, prev: &'a str, details: &'a str) -> EntryFields<'a> {
        EntryFields {
            chain: "org:1",
            seq,
            prev_hash: prev,
            at: 1,
            revision: 2,
            operation: 100,
            actor_user: Some(3),
            actor_credential: None,
            actor_credential_kind: None,
            targets: "{}",
            details,
            success: true,
            request_id: None,
            source_ip: Some("127.0.0.1"),
            user_agent: None,
        }
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = entry(1, GENESIS_HASH, "{}");
        let h = entry_hash(&base);
        let variants = [
            EntryFields {
                chain: "org:2",
                ..base.clone()
            },
            EntryFields {
                seq: 2,
                ..base.clone()
            },
            EntryFields {
                at: 9,
                ..base.clone()
            },
            EntryFields {
                actor_user: None,
                ..base.clone()
            },
            EntryFields {
                actor_credential_kind: Some(""),
                ..base.clone()
            },
            EntryFields {
                success: false,
                ..base.clone()
            },
            EntryFields {
                request_id: Some(""),
                ..base.clone()
            },
            EntryFields {
                source_ip: None,
                ..base.clone()
            },
            // Moving bytes between adjacent fields must not collide.
            EntryFields {
                targets: "{}{",
                details: "}",
                ..base.clone()
            },
        ];
        for v in &variants {
            assert_ne!(entry_hash(v), h, "{v:?}");
        }
        assert_eq!(h.len(), 64);
    }

    #[test]
    fn verifier_finds_the_first_break_and_a_missing_tail() {
        let h1 = entry_hash(&entry(1, GENESIS_HASH, "a"));
        let h2 = entry_hash(&entry(2, &h1, "b"));
        let mut v = ChainVerifier::new(1, GENESIS_HASH, Some((2, h2.clone())));
        v.feed(10, &entry(1, GENESIS_HASH, "a"), &h1);
        v.feed(11, &entry(2, &h1, "b"), &h2);
        let ok = v.finish();
        assert!(ok.ok);
        assert_eq!(ok.entries, 2);
        let mut v = ChainVerifier::new(1, GENESIS_HASH, Some((3, "x".into())));
        v.feed(10, &entry(1, GENESIS_HASH, "a"), &h1);
        v.feed(11, &entry(2, &h1, "b"), &h2);
        let truncated = v.finish();
        assert_eq!(
            truncated.first_broken,
            Some(BrokenLink {
                seq: 3,
                id: None,
                problem: Break::TruncatedTail
            })
        );

        let mut edited = ChainVerifier::new(1, GENESIS_HASH, Some((2, h2.clone())));
        edited.feed(10, &entry(1, GENESIS_HASH, "a"), &h1);
        edited.feed(11, &entry(2, &h1, "B"), &h2);
        let r = edited.finish();
        assert_eq!(
            r.first_broken.map(|b| (b.id, b.problem)),
            Some((Some(11), Break::HashMismatch))
        );
    }
}
