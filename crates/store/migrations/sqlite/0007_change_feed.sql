-- The change feed (SQLite). Keep in step with ../postgres/0007_change_feed.sql.
-- One row per committed revision, written in the write's own transaction: the index changes
-- it made, as JSON (see crates/store/src/changes.rs). Servers sharing the database apply the
-- rows in revision order to stay current; old rows are pruned.
CREATE TABLE changes (
    revision BIGINT PRIMARY KEY,
    payload TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX changes_at ON changes (at);
