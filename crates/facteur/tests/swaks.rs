//! A real third-party client: swaks over STARTTLS and implicit TLS with AUTH, end to end.
//! Skipped with a notice where swaks is not installed; required under CI (`.ci/run` installs it).

mod common;

use common::*;
use tokio::process::Command;

async fn swaks_available() -> bool {
    match Command::new("swaks").arg("--version").output().await {
        Ok(o) => o.status.success(),
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_starttls_and_smtps_with_auth() {
    if !swaks_available().await {
        assert!(
            std::env::var_os("CI").is_none(),
            "swaks is required under CI (.ci/run installs it)"
        );
        eprintln!(
            "NOTICE: swaks not installed; skipping the swaks end-to-end test (apt-get install swaks)"
        );
        return;
    }
    let receiver = Receiver::start().await;
    let node = node(receiver.addr).await;
    for (listener, tls_flag, subject) in [
        ("smtp", "--tls", "via swaks starttls"),
        ("smtps", "--tlsc", "via swaks smtps"),
    ] {
        let out = Command::new("swaks")
            .args([
                "--server",
                &node.addr(listener).to_string(),
                tls_flag,
                "--auth",
                "PLAIN",
            ])
            .args([
                "--auth-user",
                &node.api_key,
                "--auth-password",
                &node.secret,
            ])
            .args(["--from", "swaks@sender.test", "--to", "someone@example.net"])
            .args([
                "--header",
                &format!("Subject: {subject}"),
                "--body",
                "sent by swaks",
            ])
            .output()
            .await
            .unwrap();
        let transcript = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "swaks failed:\n{transcript}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            transcript.contains("235 2.7.0 Authentication successful"),
            "{transcript}"
        );
        assert!(
            transcript.contains("250 2.0.0 Ok: queued as"),
            "{transcript}"
        );
    }
    let got = receiver
        .wait_for(10, "both swaks messages", |m| m.len() == 2)
        .await;
    for subject in ["via swaks starttls", "via swaks smtps"] {
        assert!(
            got.iter()
                .any(|m| m.data.contains(subject) && m.data.contains("with ESMTPSA")),
            "{subject}"
        );
    }
    // A wrong password is refused with 535 5.7.8.
    let out = Command::new("swaks")
        .args([
            "--server",
            &node.addr("smtp").to_string(),
            "--tls",
            "--auth",
            "LOGIN",
        ])
        .args(["--auth-user", &node.api_key, "--auth-password", "wrong"])
        .args(["--from", "swaks@sender.test", "--to", "someone@example.net"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("535 5.7.8"));
    node.running.stop().await;
}
