//! Test support: throwaway databases for every backend the machine offers. SQLite always;
//! PostgreSQL when `FACTEUR_TEST_POSTGRES` holds an admin URL (a fresh database is created per
//! [`TestDb`] and dropped with it, even when the test panics).

use std::path::PathBuf;

use crate::Backend;

/// Environment variable with a PostgreSQL URL allowed to create databases.
pub const POSTGRES_ENV: &str = "FACTEUR_TEST_POSTGRES";

pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Postgres { admin_url: String, name: String },
}

fn unique(prefix: &str) -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("system random source");
    format!("{prefix}{}", u64::from_le_bytes(b))
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(unique("facteur-test-"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TestDb {
            url: dir.join("facteur.db").to_string_lossy().into_owned(),
            backend: Backend::Sqlite,
            cleanup: Cleanup::Dir(dir),
        }
    }

    /// A fresh PostgreSQL database, or `None` (with a notice) when the variable is unset.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(admin_url) = std::env::var(POSTGRES_ENV) else {
            // Straight to the stderr handle: libtest captures eprintln! of passing tests.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "NOTICE: {POSTGRES_ENV} is not set; PostgreSQL tests skipped (.ci/run sets it)"
            );
            return None;
        };
        let name = unique("facteur_test_");
        use sqlx::Connection;
        let mut admin = sqlx::postgres::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_ENV}={admin_url} does not answer: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let (base, query) = match admin_url.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (admin_url.as_str(), String::new()),
        };
        let server = base
            .rsplit_once('/')
            .map(|(s, _)| s)
            .filter(|s| !s.ends_with('/'))
            .unwrap_or(base);
        Some(TestDb {
            url: format!("{server}/{name}{query}"),
            backend: Backend::Postgres,
            cleanup: Cleanup::Postgres { admin_url, name },
        })
    }

    /// SQLite, then PostgreSQL when available.
    pub async fn all() -> Vec<TestDb> {
        let mut dbs = vec![TestDb::sqlite()];
        dbs.extend(TestDb::postgres().await);
        dbs
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop may run inside a runtime: use a thread with its own.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .ok()?;
                    rt.block_on(async {
                        use sqlx::Connection;
                        let mut admin = sqlx::postgres::PgConnection::connect(&admin_url)
                            .await
                            .ok()?;
                        sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&mut admin)
                        .await
                        .ok()
                    })
                })
                .join();
            }
        }
    }
}

/// A tmpfs mounted for a test's lifetime, to make a disk fill up, grow again or turn read-only
/// under a running store. Needs root: elsewhere `mount` fails and the test skips with a notice.
pub struct Tmpfs {
    pub dir: PathBuf,
}

impl Tmpfs {
    pub fn mount(size: &str) -> Option<Tmpfs> {
        let dir = std::env::temp_dir().join(unique("facteur-tmpfs-"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "NOTICE: cannot mount a tmpfs (needs root); disk fault tests skipped"
            );
            let _ = std::fs::remove_dir(&dir);
            return None;
        }
        Some(Tmpfs { dir })
    }

    /// `mount -o remount,OPTIONS`: `size=200m`, `ro`, `rw`.
    pub fn remount(&self, options: &str) {
        let ok = std::process::Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.dir)
            .status()
            .expect("mount")
            .success();
        assert!(ok, "remount {options}");
    }

    pub fn path(&self) -> &std::path::Path {
        &self.dir
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}
