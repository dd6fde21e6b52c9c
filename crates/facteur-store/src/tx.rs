//! A transaction on a pooled connection that is never handed back in doubt.
//!
//! When SQLite fails a write with `SQLITE_FULL` or `SQLITE_IOERR` it may roll the transaction
//! back on its own, while the driver still counts it open; the next `begin` on that pooled
//! connection then nests a savepoint in a transaction that no longer exists, and writes on it
//! are acknowledged and never committed (the lost-mail-after-disk-full fault). So a transaction
//! here is plain `BEGIN` … `COMMIT` on a connection taken from the pool, and unless `COMMIT`
//! succeeded the connection is closed when the `Tx` is dropped (the database rolls back what a
//! closed connection left), never returned to the pool.

use std::ops::{Deref, DerefMut};

use sqlx::AnyConnection;
use sqlx::pool::PoolConnection;

use crate::{Backend, Result};

pub(crate) struct Tx {
    conn: PoolConnection<sqlx::Any>,
    committed: bool,
}

impl Tx {
    /// Begins a transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`):
    /// a deferred transaction that reads and then writes fails with "database is locked",
    /// whatever the busy timeout, when another connection committed in between.
    pub(crate) async fn begin(pool: &sqlx::AnyPool, backend: Backend) -> Result<Tx> {
        let mut conn = pool.acquire().await?;
        let begin = match backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        if let Err(e) = sqlx::raw_sql(begin).execute(&mut *conn).await {
            conn.close_on_drop();
            return Err(e.into());
        }
        Ok(Tx {
            conn,
            committed: false,
        })
    }

    pub(crate) async fn commit(mut self) -> Result<()> {
        sqlx::raw_sql("COMMIT").execute(&mut *self.conn).await?;
        self.committed = true;
        Ok(())
    }
}

impl Tx {
    /// Ends the transaction without writing; the connection goes back to the pool.
    pub(crate) async fn rollback(mut self) -> Result<()> {
        sqlx::raw_sql("ROLLBACK").execute(&mut *self.conn).await?;
        self.committed = true;
        Ok(())
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

impl Drop for Tx {
    fn drop(&mut self) {
        if !self.committed {
            self.conn.close_on_drop();
        }
    }
}
