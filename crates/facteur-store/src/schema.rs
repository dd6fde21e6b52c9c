//! Versioned, idempotent migrations: an ordered list, each applied once in its own
//! transaction and recorded in `schema_migrations`.

use sqlx::{Row, SqlitePool};

const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "accounts, spool, queue, recipients, events",
    "CREATE TABLE accounts (
        id BIGINT PRIMARY KEY,
        name TEXT NOT NULL,
        api_key TEXT NOT NULL UNIQUE,
        secret_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE messages (
        id BIGINT PRIMARY KEY,
        account_id BIGINT REFERENCES accounts(id),
        mail_from TEXT NOT NULL,
        size BIGINT NOT NULL,
        body BLOB NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE queue (
        id BIGINT PRIMARY KEY,
        message_id BIGINT NOT NULL REFERENCES messages(id),
        domain TEXT NOT NULL,
        priority INTEGER NOT NULL DEFAULT 0,
        attempts BIGINT NOT NULL DEFAULT 0,
        next_attempt_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        lease_owner TEXT,
        lease_until BIGINT
    );
    CREATE INDEX queue_due ON queue (next_attempt_at);
    CREATE INDEX queue_message ON queue (message_id);
    CREATE TABLE recipients (
        id BIGINT PRIMARY KEY,
        message_id BIGINT NOT NULL REFERENCES messages(id),
        queue_id BIGINT NOT NULL,
        address TEXT NOT NULL,
        status TEXT NOT NULL,
        last_reply TEXT,
        updated_at BIGINT NOT NULL
    );
    CREATE INDEX recipients_message ON recipients (message_id);
    CREATE INDEX recipients_queue ON recipients (queue_id);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at BIGINT NOT NULL,
        message_id BIGINT NOT NULL,
        recipient TEXT,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX events_message ON events (message_id);",
)];

pub async fn migrate(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    )
    .execute(pool)
    .await?;
    let applied: Vec<i64> = sqlx::query("SELECT version FROM schema_migrations")
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| r.try_get("version"))
        .collect::<Result<_, _>>()?;
    for (version, description, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        let mut tx = pool.begin().await?;
        sqlx::raw_sql(*sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version, description) VALUES ($1, $2)")
            .bind(version)
            .bind(description)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, description, "applied migration");
    }
    Ok(())
}
