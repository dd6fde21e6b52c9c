//! The web app in a real browser: Debian's `chromium`, driven by `playwright-core` from the
//! tests in `web-tests/` (run with Node's own test runner). This test starts the nodes they
//! talk to, prepares what they need (an owner link, people of every role, the API key) and
//! runs `node --test` with it in environment variables; their screenshots go to
//! `<target>/web-artifacts/`. Without chromium or `web-tests/node_modules` it says so and
//! returns, except under CI (`CI` set), where the browser tests must run.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use common::*;
use facteur_store::people::Role;
use tokio::io::{AsyncBufReadExt, BufReader};

const CHROMIUM: &str = "/usr/bin/chromium";
/// Every person the driver makes signs in with this password.
const PASSWORD: &str = "browser test password";

/// A line on the real stderr, past the test harness's capture: notices and node's output show
/// while the test runs.
fn say(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `<target>/web-artifacts`: the test binary is `<target>/<profile>/deps/browser-…`.
fn artifacts_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let target = exe
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| repo_root().join("target"));
    target.join("web-artifacts")
}

/// What is missing to run the browser tests, if anything.
fn missing(root: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    if !Path::new(CHROMIUM).exists() {
        missing.push(format!("{CHROMIUM} (apt-get install chromium)"));
    }
    if !root
        .join("web-tests/node_modules/playwright-core/package.json")
        .exists()
    {
        missing.push("web-tests/node_modules (cd web-tests && npm ci)".into());
    }
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node {
        missing.push("node (Node.js 20 or later)".into());
    }
    missing
}

/// A person with `role` on the node's account, signing in with [`PASSWORD`].
async fn person(node: &Node, email: &str, name: &str, role: Role) {
    let app = &node.running.app;
    let account = app
        .store
        .account_by_key(&node.api_key)
        .await
        .unwrap()
        .unwrap();
    let hash = facteur_engine::people::hash_password(PASSWORD).unwrap();
    let user = app
        .store
        .create_user(email, name, &hash, facteur::time::now_ms())
        .await
        .unwrap();
    app.store.grant(user.id, account.id, role).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_works_in_chromium() {
    let root = repo_root();
    let missing = missing(&root);
    if !missing.is_empty() {
        let what = missing.join(", ");
        if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0") {
            panic!(
                "CI runs the browser tests, and this machine lacks: {what} (.ci/run installs them)"
            );
        }
        say(&format!(
            "NOTICE: browser tests skipped: missing {what}; `bash .ci/run` installs them"
        ));
        return;
    }

    let receiver = Receiver::start().await;
    // A node no one can sign in to yet: the owner's first start.
    let fresh = node(receiver.addr).await;
    let token = fresh
        .running
        .app
        .owner_link(facteur::time::now_ms())
        .await
        .unwrap()
        .expect("no one can sign in yet");
    // A node with a person of every role (sign-ins are many here: no throttling in the way).
    // With PostgreSQL (FACTEUR_TEST_POSTGRES), a second node shares its database: the
    // co-editing test puts its second person there (FACTEUR_URL2).
    let pg = facteur_store::testing::TestDb::postgres().await;
    let team_settings = |s: &mut facteur::config::Settings| {
        s.auth_failures_per_ip = Some(1000);
        // Capture mode: what would leave is kept and shown in the app (08-capture).
        s.capture = Some(true);
        if let Some(db) = &pg {
            s.database = Some(db.url.clone());
        }
    };
    let team = node_with(receiver.addr, team_settings).await;
    let second = match &pg {
        Some(_) => Some(node_with(receiver.addr, team_settings).await),
        None => {
            say(
                "NOTICE: FACTEUR_TEST_POSTGRES is unset: co-editing across two nodes is not tested",
            );
            None
        }
    };
    let mut people = serde_json::Map::new();
    for role in Role::ALL {
        let email = format!("{}@example.com", role.as_str());
        let name = format!("{} Person", role.as_str());
        person(&team, &email, &name, role).await;
        people.insert(
            role.as_str().to_string(),
            serde_json::json!({"email": email, "password": PASSWORD, "name": name}),
        );
    }

    let artifacts = artifacts_dir();
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();
    say(&format!(
        "browser tests: screenshots in {}",
        artifacts.display()
    ));

    let dir = root.join("web-tests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".test.js"))
        })
        .collect();
    // FACTEUR_WEB_TESTS=gallery runs the files whose name has "gallery" only.
    if let Ok(only) = std::env::var("FACTEUR_WEB_TESTS") {
        files.retain(|p| p.to_string_lossy().contains(&only));
    }
    files.sort();
    assert!(!files.is_empty(), "no test in {}", dir.display());

    let started = Instant::now();
    let mut child = tokio::process::Command::new("node")
        .args(["--test", "--test-concurrency=1", "--test-reporter=spec"])
        .args(&files)
        .current_dir(&dir)
        .env(
            "FACTEUR_SETUP_URL",
            format!("http://{}/app/setup/{token}", fresh.running.http),
        )
        .env(
            "FACTEUR_FRESH_URL",
            format!("http://{}", fresh.running.http),
        )
        .env("FACTEUR_URL", format!("http://{}", team.running.http))
        .env(
            "FACTEUR_URL2",
            second
                .as_ref()
                .map(|n| format!("http://{}", n.running.http))
                .unwrap_or_default(),
        )
        .env("FACTEUR_API_KEY", &team.api_key)
        .env("FACTEUR_API_SECRET", &team.secret)
        .env(
            "FACTEUR_PEOPLE",
            serde_json::Value::Object(people).to_string(),
        )
        .env("FACTEUR_ARTIFACTS", &artifacts)
        .env("CHROMIUM", CHROMIUM)
        // Colours in a log are noise.
        .env("NO_COLOR", "1")
        .env_remove("FORCE_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let (status, _, _) = tokio::join!(
        tokio::time::timeout(std::time::Duration::from_secs(600), child.wait()),
        pump(out),
        pump(err),
    );
    let status = status
        .expect("the browser tests finish within 10 minutes")
        .unwrap();
    say(&format!(
        "browser tests: {} in {:.1} s; screenshots in {}",
        if status.success() { "passed" } else { "FAILED" },
        started.elapsed().as_secs_f64(),
        artifacts.display()
    ));
    assert!(
        status.success(),
        "the browser tests failed ({status}): see their output above and the screenshots in {}",
        artifacts.display()
    );
    fresh.running.stop().await;
    team.running.stop().await;
    if let Some(second) = second {
        second.running.stop().await;
    }
}

/// Prints each line of node's output as it comes.
async fn pump(r: impl tokio::io::AsyncRead + Unpin) {
    let mut lines = BufReader::new(r).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        say(&format!("web-tests| {line}"));
    }
}
