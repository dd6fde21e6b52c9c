//! Versioned, idempotent migrations: an ordered list, each applied once in its own
//! transaction and recorded in `schema_migrations`.

use sqlx::{AnyPool, Row};

use crate::Backend;

/// (version, description, SQL) in order. Types are written for SQLite; [`for_backend`] adapts
/// the few that PostgreSQL spells differently.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
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
    ),
    (
        2,
        "templates and their versions",
        "CREATE TABLE templates (
        id BIGINT PRIMARY KEY,
        account_id BIGINT NOT NULL REFERENCES accounts(id),
        name TEXT NOT NULL,
        author TEXT NOT NULL DEFAULT '',
        categories TEXT NOT NULL DEFAULT '[]',
        copyright TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT '',
        edit_mode INTEGER NOT NULL DEFAULT 2,
        is_starred BIGINT NOT NULL DEFAULT 0,
        text_part_generation BIGINT NOT NULL DEFAULT 1,
        locale TEXT NOT NULL DEFAULT 'en_US',
        purposes TEXT NOT NULL DEFAULT '[]',
        test_values TEXT NOT NULL DEFAULT '{}',
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    CREATE INDEX templates_account ON templates (account_id, name);
    CREATE TABLE template_versions (
        id BIGINT PRIMARY KEY,
        template_id BIGINT NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
        number BIGINT NOT NULL,
        status TEXT NOT NULL,
        html TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL DEFAULT '',
        mjml TEXT NOT NULL DEFAULT '',
        headers TEXT NOT NULL DEFAULT '{}',
        note TEXT NOT NULL DEFAULT '',
        created_at BIGINT NOT NULL,
        UNIQUE (template_id, number)
    );",
    ),
    (
        3,
        "Send API: message metadata, recipient UUIDs, sub-account keys, webhooks",
        "ALTER TABLE accounts ADD COLUMN parent_id BIGINT;
    ALTER TABLE accounts ADD COLUMN is_active BIGINT NOT NULL DEFAULT 1;
    ALTER TABLE accounts ADD COLUMN allow_sender BIGINT NOT NULL DEFAULT 1;
    ALTER TABLE accounts ADD COLUMN signing_secret TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN custom_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN event_payload TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN campaign TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN subject TEXT NOT NULL DEFAULT '';
    CREATE INDEX messages_custom_id ON messages (account_id, custom_id);
    ALTER TABLE recipients ADD COLUMN uuid TEXT NOT NULL DEFAULT '';
    CREATE TABLE webhooks (
        id BIGINT PRIMARY KEY,
        account_id BIGINT NOT NULL REFERENCES accounts(id),
        event_type TEXT NOT NULL,
        url TEXT NOT NULL,
        version BIGINT NOT NULL DEFAULT 1,
        is_backup BIGINT NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'alive',
        created_at BIGINT NOT NULL,
        UNIQUE (account_id, event_type, is_backup)
    );
    CREATE TABLE webhook_calls (
        id BIGINT PRIMARY KEY,
        webhook_id BIGINT NOT NULL,
        body TEXT NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0,
        next_attempt_at BIGINT NOT NULL,
        first_failed_at BIGINT,
        last_error TEXT NOT NULL DEFAULT '',
        lease_until BIGINT,
        created_at BIGINT NOT NULL
    );
    CREATE INDEX webhook_calls_due ON webhook_calls (next_attempt_at);
    CREATE TABLE webhook_cursor (name TEXT PRIMARY KEY, last_event_id BIGINT NOT NULL);
    INSERT INTO webhook_cursor (name, last_event_id) SELECT 'events', COALESCE(MAX(id), 0) FROM events;",
    ),
    (
        4,
        "health probe: a row /healthz writes to prove the store can write",
        "CREATE TABLE health_probe (name TEXT PRIMARY KEY, at BIGINT NOT NULL);",
    ),
    (
        5,
        "structured outcomes: the reply that decided an event, its host and bounce class",
        "ALTER TABLE events ADD COLUMN reply_code BIGINT;
    ALTER TABLE events ADD COLUMN enhanced_code TEXT;
    ALTER TABLE events ADD COLUMN reply TEXT;
    ALTER TABLE events ADD COLUMN remote_host TEXT;
    ALTER TABLE events ADD COLUMN bounce_class TEXT;",
    ),
    (
        6,
        "sender identity: domains, DKIM keys (sealed), suppression lists",
        "CREATE TABLE domains (
        id BIGINT PRIMARY KEY,
        account_id BIGINT NOT NULL REFERENCES accounts(id),
        name TEXT NOT NULL UNIQUE,
        created_at BIGINT NOT NULL
    );
    CREATE INDEX domains_account ON domains (account_id);
    CREATE TABLE dkim_keys (
        id BIGINT PRIMARY KEY,
        domain_id BIGINT NOT NULL,
        selector TEXT NOT NULL,
        algorithm TEXT NOT NULL,
        private_key BLOB NOT NULL,
        public_key TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        UNIQUE (domain_id, selector)
    );
    CREATE TABLE suppressions (
        account_id BIGINT NOT NULL,
        address TEXT NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        message_id BIGINT,
        failures BIGINT NOT NULL DEFAULT 1,
        first_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        expires_at BIGINT,
        active BIGINT NOT NULL DEFAULT 1,
        PRIMARY KEY (account_id, address)
    );
    CREATE INDEX suppressions_address ON suppressions (address);",
    ),
    (
        7,
        "mail received at the bounce domain: bounces, complaints and what is neither",
        "CREATE TABLE inbound_reports (
        id BIGINT PRIMARY KEY,
        received_at BIGINT NOT NULL,
        peer TEXT NOT NULL,
        mail_from TEXT NOT NULL,
        rcpt_to TEXT NOT NULL,
        kind TEXT NOT NULL,
        outcome TEXT NOT NULL,
        account_id BIGINT,
        message_id BIGINT,
        recipient_id BIGINT,
        raw BLOB NULL
    );
    CREATE INDEX inbound_reports_time ON inbound_reports (received_at);",
    ),
    (
        8,
        "senders (validated From addresses), each account's switch for the check, domain DNS checks",
        "CREATE TABLE senders (
        id BIGINT PRIMARY KEY,
        account_id BIGINT NOT NULL,
        email TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        email_type TEXT NOT NULL DEFAULT 'unknown',
        is_default BIGINT NOT NULL DEFAULT 0,
        status TEXT NOT NULL,
        token TEXT NOT NULL,
        method TEXT,
        created_at BIGINT NOT NULL,
        validated_at BIGINT,
        UNIQUE (account_id, email)
    );
    CREATE INDEX senders_token ON senders (token);
    ALTER TABLE accounts ADD COLUMN enforce_senders BIGINT NOT NULL DEFAULT 1;
    ALTER TABLE domains ADD COLUMN checked_at BIGINT;
    ALTER TABLE domains ADD COLUMN check_result TEXT;
    ALTER TABLE domains ADD COLUMN verified_at BIGINT;
    UPDATE accounts SET enforce_senders = 0;",
    ),
    (
        9,
        "opens and clicks: the client's address and agent, the link, machine or person",
        "ALTER TABLE events ADD COLUMN ip TEXT;
    ALTER TABLE events ADD COLUMN agent TEXT;
    ALTER TABLE events ADD COLUMN url TEXT;
    ALTER TABLE events ADD COLUMN machine BIGINT;",
    ),
    (
        10,
        "what each message tracks (opens, clicks), rewritten per recipient at delivery",
        "ALTER TABLE messages ADD COLUMN tracking BIGINT NOT NULL DEFAULT 0;",
    ),
    (
        11,
        "statistics kept as events are written; first opens, clicks and unsubscriptions",
        "ALTER TABLE recipients ADD COLUMN opened_at BIGINT;
    ALTER TABLE recipients ADD COLUMN clicked_at BIGINT;
    ALTER TABLE recipients ADD COLUMN unsub_at BIGINT;
    CREATE TABLE stat_counters (
        account_id BIGINT NOT NULL,
        timing TEXT NOT NULL,
        slot BIGINT NOT NULL,
        campaign TEXT NOT NULL,
        sender TEXT NOT NULL,
        domain TEXT NOT NULL,
        counter TEXT NOT NULL,
        n BIGINT NOT NULL,
        PRIMARY KEY (account_id, timing, slot, campaign, sender, domain, counter)
    );
    CREATE TABLE link_clicks (
        recipient_id BIGINT NOT NULL,
        position BIGINT NOT NULL,
        PRIMARY KEY (recipient_id, position)
    );
    CREATE TABLE link_counters (
        account_id BIGINT NOT NULL,
        campaign TEXT NOT NULL,
        position BIGINT NOT NULL,
        url TEXT NOT NULL,
        clicks BIGINT NOT NULL,
        messages BIGINT NOT NULL,
        PRIMARY KEY (account_id, campaign, position, url)
    );
    CREATE TABLE contact_activity (
        account_id BIGINT NOT NULL,
        address TEXT NOT NULL,
        opened_at BIGINT,
        clicked_at BIGINT,
        PRIMARY KEY (account_id, address)
    );",
    ),
    (
        12,
        "each account's tracking defaults and tracking host; a domain's tracking host",
        "ALTER TABLE accounts ADD COLUMN track_opens BIGINT;
    ALTER TABLE accounts ADD COLUMN track_clicks BIGINT;
    ALTER TABLE accounts ADD COLUMN track_host TEXT NOT NULL DEFAULT '';
    ALTER TABLE domains ADD COLUMN track_host TEXT NOT NULL DEFAULT '';",
    ),
    (
        13,
        "people who sign in to the web app: users, their roles per account, sessions, one-time links",
        "CREATE TABLE users (
        id BIGINT PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL DEFAULT '',
        password_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        disabled_at BIGINT
    );
    CREATE TABLE memberships (
        user_id BIGINT NOT NULL,
        account_id BIGINT NOT NULL,
        role TEXT NOT NULL,
        PRIMARY KEY (user_id, account_id)
    );
    CREATE INDEX memberships_account ON memberships (account_id);
    CREATE TABLE user_sessions (
        token_hash TEXT PRIMARY KEY,
        user_id BIGINT NOT NULL,
        csrf TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        last_seen_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        ip TEXT NOT NULL DEFAULT '',
        agent TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX user_sessions_user ON user_sessions (user_id);
    CREATE TABLE user_links (
        token_hash TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        email TEXT NOT NULL,
        user_id BIGINT,
        account_id BIGINT,
        role TEXT,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT
    );",
    ),
    (
        14,
        "capture mode: messages kept instead of sent, one row per recipient",
        "CREATE TABLE captured (
        id BIGINT PRIMARY KEY,
        account_id BIGINT,
        message_id BIGINT NOT NULL,
        recipient_id BIGINT NOT NULL,
        recipient TEXT NOT NULL,
        mail_from TEXT NOT NULL,
        subject TEXT NOT NULL DEFAULT '',
        size BIGINT NOT NULL,
        captured_at BIGINT NOT NULL,
        raw BLOB NOT NULL
    );
    CREATE INDEX captured_account ON captured (account_id, captured_at);",
    ),
    (
        15,
        "webhook call log: the recent calls of each callback URL and how they went",
        "CREATE TABLE webhook_call_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        webhook_id BIGINT NOT NULL,
        at BIGINT NOT NULL,
        ok BIGINT NOT NULL,
        attempt BIGINT NOT NULL,
        error TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX webhook_call_log_hook ON webhook_call_log (webhook_id, id);",
    ),
    (
        16,
        "custom roles: roles built from permissions, granted like the predefined ones (custom:ID)",
        "CREATE TABLE custom_roles (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        permissions TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );",
    ),
    (
        17,
        "template partials: which partial versions (mj-include) each template version was compiled with",
        "CREATE TABLE template_includes (
        template_id BIGINT NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
        number BIGINT NOT NULL,
        partial_id BIGINT NOT NULL,
        partial_number BIGINT NOT NULL,
        PRIMARY KEY (template_id, number, partial_id)
    );
    CREATE INDEX template_includes_partial ON template_includes (partial_id);",
    ),
    (
        18,
        "captured: one copy per recipient (an attempt captured again after a crash keeps the first)",
        "DELETE FROM captured WHERE id NOT IN (SELECT MIN(id) FROM captured GROUP BY recipient_id);
    CREATE UNIQUE INDEX captured_recipient ON captured (recipient_id);",
    ),
    (
        19,
        "the block editor: documents, op log, section leases, presence, comments, publish requests, notifications, images",
        "CREATE TABLE template_docs (
        template_id BIGINT PRIMARY KEY REFERENCES templates(id) ON DELETE CASCADE,
        doc TEXT NOT NULL,
        seq BIGINT NOT NULL DEFAULT 0,
        updated_at BIGINT NOT NULL
    );
    CREATE TABLE template_ops (
        template_id BIGINT NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
        seq BIGINT NOT NULL,
        user_id BIGINT NOT NULL,
        cid TEXT NOT NULL DEFAULT '',
        op TEXT NOT NULL,
        at BIGINT NOT NULL,
        PRIMARY KEY (template_id, seq)
    );
    CREATE TABLE section_leases (
        template_id BIGINT NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
        section_id TEXT NOT NULL,
        user_id BIGINT NOT NULL,
        conn TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (template_id, section_id)
    );
    CREATE INDEX section_leases_conn ON section_leases (conn);
    CREATE TABLE editor_presence (
        conn TEXT PRIMARY KEY,
        template_id BIGINT NOT NULL,
        user_id BIGINT NOT NULL,
        section_id TEXT NOT NULL DEFAULT '',
        block_id TEXT NOT NULL DEFAULT '',
        seen_at BIGINT NOT NULL
    );
    CREATE INDEX editor_presence_template ON editor_presence (template_id);
    CREATE TABLE template_comments (
        id BIGINT PRIMARY KEY,
        template_id BIGINT NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
        mode TEXT NOT NULL DEFAULT 'template',
        block_id TEXT NOT NULL,
        parent_id BIGINT,
        author_id BIGINT NOT NULL,
        body TEXT NOT NULL,
        mentions TEXT NOT NULL DEFAULT '[]',
        resolved_at BIGINT,
        resolved_by BIGINT,
        created_at BIGINT NOT NULL,
        edited_at BIGINT
    );
    CREATE INDEX template_comments_template ON template_comments (template_id);
    CREATE TABLE publish_requests (
        id BIGINT PRIMARY KEY,
        template_id BIGINT NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
        requester_id BIGINT NOT NULL,
        message TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,
        html TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL DEFAULT '',
        mjml TEXT NOT NULL DEFAULT '',
        headers TEXT NOT NULL DEFAULT '{}',
        decided_by BIGINT,
        reason TEXT NOT NULL DEFAULT '',
        version BIGINT,
        decided_at BIGINT,
        created_at BIGINT NOT NULL
    );
    CREATE INDEX publish_requests_template ON publish_requests (template_id);
    CREATE TABLE notifications (
        id BIGINT PRIMARY KEY,
        user_id BIGINT NOT NULL,
        account_id BIGINT NOT NULL,
        text TEXT NOT NULL,
        link TEXT NOT NULL DEFAULT '',
        created_at BIGINT NOT NULL,
        read_at BIGINT
    );
    CREATE INDEX notifications_user ON notifications (user_id, read_at);
    CREATE TABLE images (
        id BIGINT PRIMARY KEY,
        account_id BIGINT NOT NULL,
        token TEXT NOT NULL UNIQUE,
        content_type TEXT NOT NULL,
        body BLOB NOT NULL,
        created_at BIGINT NOT NULL
    );",
    ),
];

/// The migration's SQL for a backend: BLOB is BYTEA and AUTOINCREMENT keys are identities on
/// PostgreSQL.
fn for_backend(sql: &str, backend: Backend) -> String {
    match backend {
        Backend::Sqlite => sql.to_string(),
        Backend::Postgres => sql
            .replace(
                "INTEGER PRIMARY KEY AUTOINCREMENT",
                "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            )
            .replace(" BLOB ", " BYTEA "),
    }
}

pub async fn migrate(pool: &AnyPool, backend: Backend) -> Result<(), sqlx::Error> {
    // Several nodes may start together: on PostgreSQL one migrates while the others wait.
    let mut conn = pool.acquire().await?;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_lock(7251004)")
            .execute(&mut *conn)
            .await?;
    }
    let result = apply(&mut conn, backend).await;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_unlock(7251004)")
            .execute(&mut *conn)
            .await?;
    }
    result
}

async fn apply(conn: &mut sqlx::AnyConnection, backend: Backend) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    )
    .execute(&mut *conn)
    .await?;
    let applied: Vec<i64> = sqlx::query("SELECT version FROM schema_migrations")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get("version"))
        .collect::<Result<_, _>>()?;
    for (version, description, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        let mut tx = conn.begin().await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(for_backend(sql, backend)))
            .execute(&mut *tx)
            .await?;
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
