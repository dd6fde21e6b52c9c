//! The web app on the server side: every route of the table (API and pages) × every role,
//! allowed or refused by the server itself; sessions and their CSRF tokens; the sign-in form
//! (cookie flags, throttling, other origins); escaping of what people type.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;

use common::*;
use facteur_http::auth::{Permission, role_allows};
use facteur_store::people::Role;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// An answer: status, headers (lower-case names; repeated ones joined by "\n"), body.
struct Answer {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }
}

/// One request over a fresh connection.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: facteur.test\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(req.as_bytes()).await.unwrap();
    let raw = read_all(stream).await;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut map: HashMap<String, String> = HashMap::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let e = map.entry(k.trim().to_ascii_lowercase()).or_default();
            if !e.is_empty() {
                e.push('\n');
            }
            e.push_str(v.trim());
        }
    }
    Answer {
        status,
        headers: map,
        body: body.to_string(),
    }
}

/// A person with `role` on the node's account, and an open session: (cookie, CSRF token).
async fn person(node: &Node, email: &str, role: Role) -> (String, String) {
    let app = &node.running.app;
    let now = facteur::time::now_ms();
    let account = app
        .store
        .account_by_key(&node.api_key)
        .await
        .unwrap()
        .unwrap();
    let hash = facteur_engine::people::hash_password("a long password").unwrap();
    let user = match app.store.user_by_email(email).await.unwrap() {
        Some(u) => u,
        None => app
            .store
            .create_user(email, "Tester", &hash, now)
            .await
            .unwrap(),
    };
    app.store.grant(user.id, account.id, role).await.unwrap();
    let signed = app
        .sign_in(email, "a long password", "127.0.0.1", "test", now)
        .await
        .unwrap();
    (
        format!("facteur_session={}", signed.token),
        signed.session.csrf,
    )
}

/// The node's key as an HTTP Basic `Authorization` value.
fn basic_auth(node: &Node) -> String {
    format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{}:{}", node.api_key, node.secret)
        )
    )
}

/// A route's path with its parameters filled with values that name nothing.
fn concrete(path: &str) -> String {
    path.replace("{id}", "999999")
        .replace("{number}", "1")
        .replace("{slug}", "no-such-starter")
        .replace("{token}", "no-such-token")
        .replace("{email}", "nobody@example.com")
        .replace("{user}", "999999")
        .replace("{action}", "role")
        .replace("{*path}", "app.css")
}

/// Routes that end the session they are called with: checked on their own below.
fn ends_session(path: &str) -> bool {
    path.starts_with("/app/sign-out")
}

#[tokio::test]
async fn every_route_allows_or_refuses_every_role_on_the_server() {
    let receiver = Receiver::start().await;
    let node = node(receiver.addr).await;
    let http = node.running.http;
    let routes: Vec<_> = facteur_http::routes::table()
        .into_iter()
        .chain(facteur_http::routes::pages())
        .filter(|r| r.permission != Permission::Public && !ends_session(r.path))
        .collect();
    assert!(routes.len() > 50, "{} routes", routes.len());
    // A custom role with a few permissions, walked like the predefined ones.
    let reviewer = node
        .running
        .app
        .store
        .create_custom_role(
            "Reviewer",
            &[
                "templates:view".to_string(),
                "messages:view".to_string(),
                "statistics:view".to_string(),
            ],
            facteur::time::now_ms(),
        )
        .await
        .unwrap();
    let granted = [
        Permission::ViewTemplates,
        Permission::ViewMessages,
        Permission::ViewStatistics,
    ];
    let mut checked = 0;
    let roles = Role::ALL.into_iter().chain([Role::Custom(reviewer.id)]);
    for role in roles {
        let email = format!("{}@example.com", role.key().replace(':', "-"));
        for r in &routes {
            // A fresh session each time: a route may sign out or change roles.
            let (cookie, csrf) = person(&node, &email, role).await;
            let path = concrete(r.path);
            let method = r.method.to_ascii_uppercase();
            let a = request(
                http,
                &method,
                &path,
                &[
                    ("Cookie", &cookie),
                    ("X-CSRF-Token", &csrf),
                    ("Content-Type", "application/json"),
                ],
                "{}",
            )
            .await;
            let allowed = match role {
                Role::Custom(_) => {
                    r.permission == Permission::Member || granted.contains(&r.permission)
                }
                role => role_allows(role, r.permission),
            };
            let refused = a.status == 403
                && (a.body.contains(r.permission.name()) || a.body.contains("may not"));
            if allowed {
                assert!(
                    !refused && a.status != 401 && a.header("location").find("sign-in").is_none(),
                    "{} may {} {path} ({}): got {} {}",
                    role.as_str(),
                    method,
                    r.permission.name(),
                    a.status,
                    &a.body[..a.body.len().min(300)]
                );
            } else {
                assert!(
                    refused,
                    "{} may not {} {path} ({}): got {} {}",
                    role.as_str(),
                    method,
                    r.permission.name(),
                    a.status,
                    &a.body[..a.body.len().min(300)]
                );
            }
            checked += 1;
        }
    }
    // Keys hold every permission on their account.
    for r in &routes {
        let path = concrete(r.path);
        if r.path.starts_with("/app") {
            continue;
        }
        let basic = basic_auth(&node);
        let a = request(
            http,
            &r.method.to_ascii_uppercase(),
            &path,
            &[
                ("Authorization", &basic),
                ("Content-Type", "application/json"),
            ],
            "{}",
        )
        .await;
        assert!(
            a.status != 401 && !(a.status == 403 && a.body.contains("needed")),
            "the key may {} {path}: got {} {}",
            r.method,
            a.status,
            a.body
        );
    }
    assert_eq!(checked, routes.len() * (Role::ALL.len() + 1));
}

#[tokio::test]
async fn sessions_need_their_csrf_token_and_pages_send_strangers_to_sign_in() {
    let receiver = Receiver::start().await;
    let node = node(receiver.addr).await;
    let http = node.running.http;
    let (cookie, csrf) = person(&node, "dev@example.com", Role::Developer).await;

    // No session: pages go to the sign-in page (and come back), the API answers 401.
    let a = request(http, "GET", "/app/templates?q=x", &[], "").await;
    assert_eq!(a.status, 303);
    assert_eq!(
        a.header("location"),
        "/app/sign-in?next=%2Fapp%2Ftemplates%3Fq%3Dx"
    );
    let a = request(http, "GET", "/v3/REST/template", &[], "").await;
    assert_eq!(a.status, 401);
    // A made-up session is no session.
    let a = request(
        http,
        "GET",
        "/app",
        &[("Cookie", "facteur_session=0000")],
        "",
    )
    .await;
    assert_eq!(a.status, 303);
    // An API key signs nobody in to the pages.
    let basic = basic_auth(&node);
    let a = request(http, "GET", "/app", &[("Authorization", &basic)], "").await;
    assert_eq!(a.status, 303);

    // A session reads the API and the pages.
    let a = request(http, "GET", "/v3/REST/template", &[("Cookie", &cookie)], "").await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = request(http, "GET", "/app", &[("Cookie", &cookie)], "").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.header("content-security-policy")
            .contains("script-src 'self'")
    );
    assert!(
        a.body
            .contains(&format!("<meta name=\"csrf\" content=\"{csrf}\">"))
    );
    assert_eq!(a.header("cache-control"), "no-store");

    // Writing needs the CSRF token: none, a wrong one, then the header and a form field.
    let create = r#"{"Name": "Hello"}"#;
    let json = ("Content-Type", "application/json");
    for headers in [
        vec![("Cookie", cookie.as_str()), json],
        vec![("Cookie", cookie.as_str()), json, ("X-CSRF-Token", "0123")],
    ] {
        let a = request(http, "POST", "/v3/REST/template", &headers, create).await;
        assert_eq!(a.status, 403, "{}", a.body);
        assert!(a.body.contains("CSRF"), "{}", a.body);
    }
    let a = request(
        http,
        "POST",
        "/v3/REST/template",
        &[("Cookie", &cookie), json, ("X-CSRF-Token", &csrf)],
        create,
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let a = request(
        http,
        "POST",
        "/app/people/invite",
        &[("Cookie", &cookie), form],
        "email=x%40example.com&role=designer",
    )
    .await;
    assert_eq!(a.status, 403, "a Developer does not manage people");
    let (owner, owner_csrf) = person(&node, "owner@example.com", Role::Owner).await;
    let a = request(
        http,
        "POST",
        "/app/people/invite",
        &[("Cookie", &owner), form],
        "email=x%40example.com&role=designer",
    )
    .await;
    assert_eq!(a.status, 403, "no token in the form: {}", a.body);
    let a = request(
        http,
        "POST",
        "/app/people/invite",
        &[("Cookie", &owner), form],
        &format!("email=x%40example.com&role=designer&_csrf={owner_csrf}"),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("/app/invitation/"), "{}", a.body);

    // An account the person has no role on.
    let a = request(
        http,
        "GET",
        "/v3/REST/template",
        &[("Cookie", &cookie), ("X-Facteur-Account", "424242")],
        "",
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);

    // Signing out ends the session: the cookie no longer works.
    let a = request(
        http,
        "POST",
        "/app/sign-out",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        "",
    )
    .await;
    assert_eq!(a.status, 303);
    assert!(a.header("set-cookie").contains("Max-Age=0"));
    let a = request(http, "GET", "/v3/REST/template", &[("Cookie", &cookie)], "").await;
    assert_eq!(a.status, 401);
}

#[tokio::test]
async fn the_sign_in_form_sets_a_safe_cookie_and_is_throttled() {
    let receiver = Receiver::start().await;
    let node = node_with(receiver.addr, |s| s.auth_failures_per_ip = Some(3)).await;
    let http = node.running.http;
    person(&node, "ada@example.com", Role::Designer).await;
    let form = ("Content-Type", "application/x-www-form-urlencoded");

    let a = request(
        http,
        "POST",
        "/app/sign-in",
        &[form],
        "email=ada%40example.com&password=a+long+password&next=%2Fapp%2Ftemplates",
    )
    .await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(a.header("location"), "/app/templates");
    let cookie = a.header("set-cookie");
    assert!(cookie.starts_with("facteur_session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http here: {cookie}");
    // Another site's form is refused; `next` never leaves the app.
    let a = request(
        http,
        "POST",
        "/app/sign-in",
        &[form, ("Origin", "https://evil.example")],
        "email=ada%40example.com&password=a+long+password",
    )
    .await;
    assert_eq!(a.status, 403);
    let a = request(
        http,
        "POST",
        "/app/sign-in",
        &[form, ("Origin", "http://facteur.test")],
        "email=ada%40example.com&password=a+long+password&next=https%3A%2F%2Fevil.example",
    )
    .await;
    assert_eq!(a.status, 303);
    assert_eq!(a.header("location"), "/app");

    // Wrong passwords: the form again (401), then throttled (429) even with the right one.
    for _ in 0..3 {
        let a = request(
            http,
            "POST",
            "/app/sign-in",
            &[form],
            "email=ada%40example.com&password=wrong+password",
        )
        .await;
        assert_eq!(a.status, 401);
        assert!(a.body.contains("not right"), "{}", a.body);
        assert!(a.body.contains("value=\"ada@example.com\""));
    }
    let a = request(
        http,
        "POST",
        "/app/sign-in",
        &[form],
        "email=ada%40example.com&password=a+long+password",
    )
    .await;
    assert_eq!(a.status, 429);
}

#[tokio::test]
async fn what_people_type_is_escaped_in_pages() {
    let receiver = Receiver::start().await;
    let node = node(receiver.addr).await;
    let http = node.running.http;
    let (cookie, csrf) = person(&node, "mara@example.com", Role::Marketer).await;
    let evil = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    let body = serde_json::json!({"Name": evil, "Description": evil}).to_string();
    let a = request(
        http,
        "POST",
        "/v3/REST/template",
        &[
            ("Cookie", &cookie),
            ("X-CSRF-Token", &csrf),
            ("Content-Type", "application/json"),
        ],
        &body,
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let id = serde_json::from_str::<serde_json::Value>(&a.body).unwrap()["Data"][0]["ID"]
        .as_i64()
        .unwrap();
    for path in [
        "/app/templates".to_string(),
        format!("/app/templates/{id}"),
        format!("/app/templates?q={}", "%3Cscript%3E"),
    ] {
        let a = request(http, "GET", &path, &[("Cookie", &cookie)], "").await;
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        assert!(!a.body.contains("<script>alert"), "{path} shows raw HTML");
        assert!(!a.body.contains("<img src=x"), "{path} shows raw HTML");
        assert!(a.body.contains("&lt;script&gt;alert(1)"), "{path}");
    }
    // The template's own HTML is served only as a sandboxed document.
    let a = request(
        http,
        "GET",
        &format!("/app/templates/{id}/thumbnail"),
        &[("Cookie", &cookie)],
        "",
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(a.header("content-security-policy").starts_with("sandbox"));
    let etag = a.header("etag").to_string();
    let a = request(
        http,
        "GET",
        &format!("/app/templates/{id}/thumbnail"),
        &[("Cookie", &cookie), ("If-None-Match", &etag)],
        "",
    )
    .await;
    assert_eq!(a.status, 304, "unchanged: the cached thumbnail is good");
}

#[tokio::test]
async fn content_advice_over_the_api_names_each_element() {
    let receiver = Receiver::start().await;
    let node = node_with(receiver.addr, |s| {
        s.link_blocklist = vec!["Spam.Example".into()]
    })
    .await;
    let http = node.running.http;
    let key = Some((node.api_key.as_str(), node.secret.as_str()));
    let (status, t) = http_json(
        http,
        "POST",
        "/v3/REST/template",
        key,
        Some(r#"{"Name": "Promo", "Purposes": ["marketing"], "Locale": "fr_FR"}"#),
    )
    .await;
    assert_eq!(status, 201, "{t}");
    let id = t["Data"][0]["ID"].as_i64().unwrap();
    let mjml = "<mjml><mj-body><mj-section><mj-column>\n<mj-text>Bonjour {{var:name}}, voici nos offres de la semaine pour vous.</mj-text>\n<mj-image src=\"https://cdn.example.com/a.png\" width=\"300px\" height=\"200px\"></mj-image>\n<mj-button href=\"https://spam.example/offre\" background-color=\"#ffffff\" color=\"#eeeeee\">Cliquez ici</mj-button>\n</mj-column></mj-section></mj-body></mjml>";
    let body = serde_json::json!({"MJMLContent": mjml, "Headers": {"Subject": "Nos offres", "From": "shop@shop.example"}});
    let (status, r) = http_json(
        http,
        "PUT",
        &format!("/v3/REST/template/{id}/draft"),
        key,
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let (status, r) = http_json(
        http,
        "POST",
        &format!("/v3/REST/template/{id}/check"),
        key,
        Some(r#"{"Version": "draft", "Variables": {"name": "Ada"}}"#),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let codes: Vec<&str> = r["Data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["Code"].as_str().unwrap())
        .collect();
    for code in [
        "unsubscribe-missing",
        "image-missing-alt",
        "cta-vague",
        "cta-contrast",
        "link-blocklisted",
        "preheader-missing",
    ] {
        assert!(codes.contains(&code), "{code} in {codes:?}");
    }
    let image = r["Data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["Code"] == "image-missing-alt")
        .unwrap();
    assert!(
        image["Element"].as_str().unwrap().contains("a.png"),
        "{image}"
    );
    assert_eq!(r["Total"], r["Data"].as_array().unwrap().len());
    // MJML compiled alone: CRLF, another tool's placeholders kept; errors with a position.
    let body = serde_json::json!({"MJMLContent": "<mjml>\r\n<mj-body><mj-section><mj-column><mj-text>Hi {{FirstName}}</mj-text></mj-column></mj-section></mj-body>\r\n</mjml>"});
    let (status, r) = http_json(http, "POST", "/v3/REST/mjml", key, Some(&body.to_string())).await;
    assert_eq!(status, 200, "{r}");
    assert!(
        r["Html-part"]
            .as_str()
            .unwrap()
            .contains("Hi {{FirstName}}")
    );
    let body =
        serde_json::json!({"MJMLContent": "<mjml>\n<mj-body>\n<mj-text>open</mj-body></mjml>"});
    let (status, r) = http_json(http, "POST", "/v3/REST/mjml", key, Some(&body.to_string())).await;
    assert_eq!(status, 400, "{r}");
    assert!(r["ErrorInfo"].as_str().unwrap().contains("line"), "{r}");
    // Another account's template is not found.
    let (status, _) = http_json(http, "POST", "/v3/REST/template/999999/check", key, None).await;
    assert_eq!(status, 404);
}

/// `curl` over https to `addr`, trusting only the node's certificate (for `facteur.test`):
/// the response head and body, or `None` when curl is not installed.
async fn curl_https(node: &Node, addr: SocketAddr, args: &[&str]) -> Option<String> {
    let cert = node.dir.path().join("tls-cert.pem");
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "-i", "--cacert"])
        .arg(&cert)
        .arg("--resolve")
        .arg(format!("facteur.test:{}:127.0.0.1", addr.port()))
        .args(args)
        .output()
        .await
        .ok()?;
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn https_serves_the_api_and_the_app_with_hsts_and_secure_cookies() {
    let receiver = Receiver::start().await;
    let node = node_with(receiver.addr, |s| {
        s.https = Some("127.0.0.1:0".into());
        s.hsts = Some(true);
    })
    .await;
    let https = node.running.https.expect("an https listener");
    person(&node, "ada@example.com", Role::Developer).await;
    let base = format!("https://facteur.test:{}", https.port());
    let Some(health) = curl_https(&node, https, &[&format!("{base}/healthz")]).await else {
        eprintln!("NOTICE: curl is not installed; the https test is skipped");
        return;
    };
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(
        health
            .to_ascii_lowercase()
            .contains("strict-transport-security: max-age=31536000"),
        "{health}"
    );
    // The Send API with a key, as Mailjet's https-only clients call it.
    let user = format!("{}:{}", node.api_key, node.secret);
    let send = curl_https(
        &node,
        https,
        &[
            "-u",
            &user,
            "-H",
            "Content-Type: application/json",
            "--data",
            r#"{"Messages":[{"From":{"Email":"a@example.com"},"To":[{"Email":"b@example.net"}],"Subject":"over https","TextPart":"hi"}]}"#,
            &format!("{base}/v3.1/send"),
        ],
    )
    .await
    .unwrap();
    assert!(send.starts_with("HTTP/1.1 200"), "{send}");
    assert!(send.contains("\"Status\":\"success\""), "{send}");
    // Signing in over https: the cookie is Secure.
    let signed = curl_https(
        &node,
        https,
        &[
            "--data",
            "email=ada%40example.com&password=a+long+password",
            &format!("{base}/app/sign-in"),
        ],
    )
    .await
    .unwrap();
    assert!(signed.starts_with("HTTP/1.1 303"), "{signed}");
    let cookie = signed
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_default();
    assert!(cookie.contains("; Secure"), "{cookie}");
    // Plain http stays plain: no HSTS there.
    let a = request(node.running.http, "GET", "/healthz", &[], "").await;
    assert_eq!(a.header("strict-transport-security"), "");
}

#[tokio::test]
async fn capture_mode_shows_what_would_have_left_in_the_app() {
    let receiver = Receiver::start().await;
    let node = node_with(receiver.addr, |s| s.capture = Some(true)).await;
    let http = node.running.http;
    let key = Some((node.api_key.as_str(), node.secret.as_str()));
    let send = r#"{"Messages":[{"From":{"Email":"shop@example.com"},"To":[{"Email":"ada@example.net"}],"Subject":"Your <order>","TextPart":"Thanks!","HTMLPart":"<p>Thanks <b>Ada</b></p>"}]}"#;
    let (status, r) = http_json(http, "POST", "/v3.1/send", key, Some(send)).await;
    assert_eq!(status, 200, "{r}");
    let (cookie, csrf) = person(&node, "dev@example.com", Role::Developer).await;
    let mut list = String::new();
    for _ in 0..100 {
        let a = request(http, "GET", "/app/captured", &[("Cookie", &cookie)], "").await;
        assert_eq!(a.status, 200, "{}", a.body);
        list = a.body;
        if list.contains("ada@example.net") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(list.contains("Your &lt;order&gt;"), "{list}");
    assert!(list.contains("Capture mode is on"));
    let id: i64 = list
        .split("href=\"/app/captured/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|s| s.parse().ok())
        .expect("a link to the captured message");
    let a = request(
        http,
        "GET",
        &format!("/app/captured/{id}"),
        &[("Cookie", &cookie)],
        "",
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(a.body.contains("Thanks!"), "the text part");
    assert!(a.body.contains("Message-ID"), "the headers");
    let a = request(
        http,
        "GET",
        &format!("/app/captured/{id}/html"),
        &[("Cookie", &cookie)],
        "",
    )
    .await;
    assert!(a.body.contains("<b>Ada</b>"));
    assert!(a.header("content-security-policy").starts_with("sandbox"));
    // A Designer may not read messages; a Developer deletes it.
    let (designer, _) = person(&node, "dee@example.com", Role::Designer).await;
    let a = request(http, "GET", "/app/captured", &[("Cookie", &designer)], "").await;
    assert_eq!(a.status, 403);
    let a = request(
        http,
        "POST",
        &format!("/app/captured/{id}/delete"),
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        &format!("_csrf={csrf}"),
    )
    .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let a = request(
        http,
        "GET",
        &format!("/app/captured/{id}"),
        &[("Cookie", &cookie)],
        "",
    )
    .await;
    assert_eq!(a.status, 404);
}

#[tokio::test]
async fn keys_and_webhooks_pages_show_secrets_once_and_recent_calls() {
    let receiver = Receiver::start().await;
    let node = node_with(receiver.addr, |s| {
        s.webhook_allow_private = Some(true);
        s.webhook_retry = Some("300ms".into());
    })
    .await;
    let http = node.running.http;
    let (cookie, csrf) = person(&node, "owner@example.com", Role::Owner).await;
    let json = ("Content-Type", "application/json");

    // A sub-account made by a person: its secret in that answer only, and the master's
    // owners own it (the organisation owns its sub-accounts).
    let a = request(
        http,
        "POST",
        "/v3/REST/apikey",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf), json],
        r#"{"Name": "Shop"}"#,
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let created: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    let secret = created["Data"][0]["SecretKey"]
        .as_str()
        .unwrap()
        .to_string();
    let sub_id = created["Data"][0]["ID"].as_i64().unwrap();
    let a = request(http, "GET", "/app/keys", &[("Cookie", &cookie)], "").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("Shop") && a.body.contains("sub-account"));
    assert!(!a.body.contains(&secret), "the secret is never shown again");
    let a = request(
        http,
        "GET",
        "/v3/REST/template",
        &[
            ("Cookie", &cookie),
            ("X-Facteur-Account", &sub_id.to_string()),
        ],
        "",
    )
    .await;
    assert_eq!(
        a.status, 200,
        "the owner owns the new sub-account: {}",
        a.body
    );

    // A webhook that fails twice, then answers: the page shows both.
    let hook = Hook::start(2).await;
    let body =
        serde_json::json!({"EventType": "sent", "Url": format!("http://{}/hook", hook.addr)});
    let a = request(
        http,
        "POST",
        "/v3/REST/eventcallbackurl",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf), json],
        &body.to_string(),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let key = Some((node.api_key.as_str(), node.secret.as_str()));
    let send = r#"{"Messages":[{"From":{"Email":"a@example.com"},"To":[{"Email":"b@example.net"}],"Subject":"hooked","TextPart":"hi"}]}"#;
    let (status, r) = http_json(http, "POST", "/v3.1/send", key, Some(send)).await;
    assert_eq!(status, 200, "{r}");
    hook.wait(20, "two failed calls and a successful one", |calls| {
        calls.len() >= 3
    })
    .await;
    let mut page = String::new();
    for _ in 0..50 {
        page = request(http, "GET", "/app/webhooks", &[("Cookie", &cookie)], "")
            .await
            .body;
        if page.matches(">failed<").count() >= 2 && page.contains(">ok<") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        page.contains(&format!("http://{}/hook", hook.addr)),
        "{page}"
    );
    assert_eq!(page.matches(">failed<").count(), 2, "{page}");
    assert!(page.contains("answered HTTP 500"), "{page}");
    assert!(page.contains(">ok<"), "{page}");
    // The owner may manage webhooks: the page offers to add and delete them.
    assert!(page.contains("<form id=\"new-hook\""), "{page}");
    assert!(page.contains("data-action=\"delete-hook\""), "{page}");
    // A Designer sees neither page.
    let (designer, _) = person(&node, "dee@example.com", Role::Designer).await;
    for path in ["/app/keys", "/app/webhooks"] {
        let a = request(http, "GET", path, &[("Cookie", &designer)], "").await;
        assert_eq!(a.status, 403, "{path}");
    }
    // Pages and assets are compressed for clients that take gzip; assets validated by ETag.
    let a = request(
        http,
        "GET",
        "/app/keys",
        &[
            ("Cookie", &cookie),
            ("Accept-Encoding", "gzip, deflate, br"),
        ],
        "",
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-encoding"), "gzip");
    let a = request(http, "GET", "/app/keys", &[("Cookie", &cookie)], "").await;
    assert_eq!(
        a.header("content-encoding"),
        "",
        "identity without Accept-Encoding"
    );
    assert!(a.body.contains("API keys of"));
    let a = request(
        http,
        "GET",
        "/app/assets/vendor/preact.module.js",
        &[("Accept-Encoding", "gzip, br")],
        "",
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-encoding"), "gzip");
    let a = request(
        http,
        "GET",
        "/app/assets/app.css",
        &[("If-None-Match", a.header("etag"))],
        "",
    )
    .await;
    assert_eq!(a.status, 200, "another file's ETag does not match");
    let etag = a.header("etag").to_string();
    let a = request(
        http,
        "GET",
        "/app/assets/app.css",
        &[("If-None-Match", &etag)],
        "",
    )
    .await;
    assert_eq!(a.status, 304);
}

#[tokio::test]
async fn the_owner_builds_custom_roles_from_permissions() {
    let receiver = Receiver::start().await;
    let node = node(receiver.addr).await;
    let http = node.running.http;
    let (owner, csrf) = person(&node, "owner@example.com", Role::Owner).await;
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let post = |path: &'static str, body: String| {
        let owner = owner.clone();
        async move { request(http, "POST", path, &[("Cookie", &owner), form], &body).await }
    };
    // A role of two permissions; a name taken, no permission, an unknown one: refused.
    let a = post(
        "/app/roles",
        format!(
            "_csrf={csrf}&name=Reviewer&permission=templates%3Aview&permission=messages%3Aview"
        ),
    )
    .await;
    assert_eq!(a.status, 303, "{}", a.body);
    for (body, status) in [
        (
            format!("_csrf={csrf}&name=reviewer&permission=templates%3Aview"),
            409,
        ),
        (format!("_csrf={csrf}&name=Empty"), 400),
        (format!("_csrf={csrf}&name=Odd&permission=everything"), 400),
        (
            format!("_csrf={csrf}&name=Manager&permission=templates%3Aview"),
            409,
        ),
    ] {
        let a = post("/app/roles", body.clone()).await;
        assert_eq!(a.status, status, "{body}: {}", a.body);
    }
    let roles = node.running.app.store.custom_roles().await.unwrap();
    assert_eq!(roles.len(), 1);
    let id = roles[0].id;
    assert_eq!(roles[0].permissions, ["messages:view", "templates:view"]);
    let page = request(http, "GET", "/app/roles", &[("Cookie", &owner)], "").await;
    assert!(page.body.contains("Reviewer") && page.body.contains("messages:view"));

    // Given to someone on the People page: they get those permissions and no others.
    let (rita, rita_csrf) = person(&node, "rita@example.com", Role::Designer).await;
    let user = node
        .running
        .app
        .store
        .user_by_email("rita@example.com")
        .await
        .unwrap()
        .unwrap();
    let people = request(http, "GET", "/app/people", &[("Cookie", &owner)], "").await;
    assert!(
        people.body.contains(&format!("value=\"custom:{id}\"")),
        "the custom role is offered"
    );
    let a = request(
        http,
        "POST",
        &format!("/app/people/{}/role", user.id),
        &[("Cookie", &owner), form],
        &format!("_csrf={csrf}&role=custom%3A{id}"),
    )
    .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let get = |path: &'static str| {
        let rita = rita.clone();
        async move {
            request(http, "GET", path, &[("Cookie", &rita)], "")
                .await
                .status
        }
    };
    assert_eq!(get("/app/messages").await, 200, "messages:view");
    assert_eq!(get("/app/templates").await, 200, "templates:view");
    assert_eq!(get("/app/keys").await, 403);
    let home = request(http, "GET", "/app", &[("Cookie", &rita)], "").await;
    assert!(
        home.body.contains("Reviewer of this account"),
        "{}",
        home.body
    );
    let a = request(
        http,
        "POST",
        "/v3/REST/template",
        &[
            ("Cookie", &rita),
            ("X-CSRF-Token", &rita_csrf),
            ("Content-Type", "application/json"),
        ],
        r#"{"Name": "Nope"}"#,
    )
    .await;
    assert_eq!(a.status, 403, "no templates:edit: {}", a.body);
    assert!(a.body.contains("Reviewer"), "{}", a.body);
    // A role someone holds cannot be deleted; once no one does, it can.
    let delete = Box::leak(format!("/app/roles/{id}/delete").into_boxed_str());
    let a = post(delete, format!("_csrf={csrf}")).await;
    assert_eq!(a.status, 409, "{}", a.body);
    let a = request(
        http,
        "POST",
        &format!("/app/people/{}/role", user.id),
        &[("Cookie", &owner), form],
        &format!("_csrf={csrf}&role=designer"),
    )
    .await;
    assert_eq!(a.status, 303);
    let a = post(delete, format!("_csrf={csrf}")).await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert!(
        node.running
            .app
            .store
            .custom_roles()
            .await
            .unwrap()
            .is_empty()
    );
    // A made-up custom role is refused.
    let a = request(
        http,
        "POST",
        &format!("/app/people/{}/role", user.id),
        &[("Cookie", &owner), form],
        &format!("_csrf={csrf}&role=custom%3A{id}"),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
}

/// The link to this server in a received message's text (quoted-printable soft breaks undone).
fn link_in(data: &str, prefix: &str) -> String {
    let text = data.replace("=\r\n", "").replace("=3D", "=");
    let start = text.find(prefix).expect("a link in the message");
    text[start..]
        .split(|c: char| c.is_whitespace())
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn password_resets_and_invitations_arrive_by_mail_through_facteur() {
    let receiver = Receiver::start().await;
    let node = node(receiver.addr).await;
    let http = node.running.http;
    let (old_cookie, _) = person(&node, "ada@example.com", Role::Owner).await;
    let form = ("Content-Type", "application/x-www-form-urlencoded");

    // The same answer for an address no one has; a mail for the one someone has.
    for email in ["nobody%40example.com", "ada%40example.com"] {
        let a = request(
            http,
            "POST",
            "/app/reset",
            &[form],
            &format!("email={email}"),
        )
        .await;
        assert_eq!(a.status, 200);
        assert!(a.body.contains("is on its way"), "{}", a.body);
    }
    let got = receiver
        .wait_for(20, "the reset mail", |m| {
            m.iter()
                .any(|r| r.rcpts.contains(&"ada@example.com".to_string()))
        })
        .await;
    assert!(
        !got.iter()
            .any(|r| r.rcpts.contains(&"nobody@example.com".to_string())),
        "no mail for an unknown address"
    );
    let mail = got
        .iter()
        .find(|r| r.rcpts.contains(&"ada@example.com".to_string()))
        .unwrap();
    assert!(mail.data.contains("Subject: Reset your Facteur password"));
    let base = format!("http://{http}");
    let link = link_in(&mail.data, &format!("{base}/app/reset/"));
    let path = link.strip_prefix(&base).unwrap();
    let a = request(http, "GET", path, &[], "").await;
    assert_eq!(a.status, 200);
    let a = request(http, "POST", path, &[form], "password=a+brand+new+password").await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(a.header("location"), "/app/sign-in?done=reset");
    // Used once; every earlier session is over; the new password signs in.
    let a = request(http, "POST", path, &[form], "password=another+password+1").await;
    assert_eq!(a.status, 400, "{}", a.body);
    let a = request(http, "GET", "/app", &[("Cookie", &old_cookie)], "").await;
    assert_eq!(a.status, 303, "signed out everywhere");
    let a = request(
        http,
        "POST",
        "/app/sign-in",
        &[form],
        "email=ada%40example.com&password=a+brand+new+password",
    )
    .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let cookie = a
        .header("set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = request(http, "GET", "/app", &[("Cookie", &cookie)], "")
        .await
        .body
        .split("<meta name=\"csrf\" content=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();

    // An invitation, mailed: its link signs the invitee in with the role given.
    let a = request(
        http,
        "POST",
        "/app/people/invite",
        &[("Cookie", &cookie), form],
        &format!("_csrf={csrf}&email=bo%40example.net&role=designer"),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let got = receiver
        .wait_for(20, "the invitation", |m| {
            m.iter()
                .any(|r| r.rcpts.contains(&"bo@example.net".to_string()))
        })
        .await;
    let mail = got
        .iter()
        .find(|r| r.rcpts.contains(&"bo@example.net".to_string()))
        .unwrap();
    assert!(mail.data.contains("invites you to"), "{}", mail.data);
    let link = link_in(&mail.data, &format!("{base}/app/invitation/"));
    let a = request(
        http,
        "POST",
        link.strip_prefix(&base).unwrap(),
        &[form],
        "name=Bo&password=bo+has+a+long+password",
    )
    .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let bo = a
        .header("set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let home = request(http, "GET", "/app", &[("Cookie", &bo)], "").await;
    assert!(
        home.body
            .contains("bo@example.net, designer of this account"),
        "{}",
        home.body
    );
}

/// The gallery and the editor show which templates use a partial (`<mj-include>`).
#[tokio::test]
async fn the_gallery_shows_who_uses_a_partial() {
    let receiver = Receiver::start().await;
    let node = node(receiver.addr).await;
    let http = node.running.http;
    let auth = basic_auth(&node);
    let api = |method: &'static str, path: String, body: String| {
        let auth = auth.clone();
        async move {
            let a = request(
                http,
                method,
                &path,
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/json"),
                ],
                &body,
            )
            .await;
            assert!(a.status < 300, "{method} {path}: {} {}", a.status, a.body);
            serde_json::from_str::<serde_json::Value>(&a.body).unwrap_or_default()
        }
    };
    let mut ids = Vec::new();
    for (name, mjml) in [
        (
            "brand footer",
            "<mj-section><mj-column><mj-text>Maison Lin, 3 rue des Lilas</mj-text></mj-column></mj-section>",
        ),
        (
            "spring news",
            "<mjml><mj-body><mj-include path=\"brand footer\"/></mj-body></mjml>",
        ),
    ] {
        let t = api(
            "POST",
            "/v3/REST/template".into(),
            serde_json::json!({"Name": name, "EditMode": 4}).to_string(),
        )
        .await;
        let id = t["Data"][0]["ID"].as_i64().unwrap();
        api(
            "POST",
            format!("/v3/REST/template/{id}/detailcontent"),
            serde_json::json!({"MJMLContent": mjml}).to_string(),
        )
        .await;
        ids.push(id);
    }
    let (cookie, _) = person(&node, "vera@example.com", Role::Marketer).await;
    let gallery = request(http, "GET", "/app/templates", &[("Cookie", &cookie)], "").await;
    assert_eq!(gallery.status, 200);
    let used_by = format!(
        "used by <a href=\"/app/templates/{}\">spring news</a>",
        ids[1]
    );
    assert!(gallery.body.contains(&used_by), "{}", gallery.body);
    let editor = request(
        http,
        "GET",
        &format!("/app/templates/{}", ids[0]),
        &[("Cookie", &cookie)],
        "",
    )
    .await;
    assert!(
        editor.body.contains(&format!(
            "included by <a href=\"/app/templates/{}\">spring news</a>",
            ids[1]
        )),
        "{}",
        editor.body
    );
}
