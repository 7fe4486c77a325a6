//! A store transaction that never outlives a failure: its connection goes back to the pool
//! only after a successful `COMMIT` or `ROLLBACK`. A failed commit, a failed rollback or a
//! transaction dropped half-way (a cancelled request) closes the connection instead, which
//! makes the database roll back whatever it still holds. A connection returned while still
//! inside a transaction would turn every later "commit" on it into a savepoint release that
//! writes nothing durable, and keep the database's write lock from every other connection.

use std::ops::{Deref, DerefMut};

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Executor};

use crate::Result;

pub(crate) struct Tx {
    conn: PoolConnection<Any>,
    /// True from `BEGIN` until a `COMMIT` or `ROLLBACK` succeeded.
    open: bool,
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx").field("open", &self.open).finish()
    }
}

impl Tx {
    pub(crate) async fn begin(pool: &AnyPool) -> Result<Self> {
        let mut conn = pool.acquire().await?;
        if let Err(err) = conn.execute("BEGIN").await {
            // Whatever state the connection is in now, it is not one to reuse.
            conn.close_on_drop();
            return Err(err.into());
        }
        Ok(Self { conn, open: true })
    }

    /// Commits; on failure the connection is closed (the database rolls back), never reused.
    pub(crate) async fn commit(mut self) -> Result<()> {
        self.conn.execute("COMMIT").await?;
        self.open = false;
        Ok(())
    }

    /// Rolls back; on failure the connection is closed, never reused.
    pub(crate) async fn rollback(mut self) -> Result<()> {
        self.conn.execute("ROLLBACK").await?;
        self.open = false;
        Ok(())
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if self.open {
            self.conn.close_on_drop();
        }
    }
}

impl Deref for Tx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}
