//! Event callbacks: stored events become calls to the URLs accounts registered (Mailjet's
//! payloads, version 1 one event a call, version 2 grouped), signed with the account's secret
//! (`X-Facteur-Signature: sha256=<hex HMAC-SHA256 of the body>`), retried every
//! `webhook_retry` until `webhook_give_up` after the first failure, then dropped and the URL
//! marked dead. A failing primary URL hands the call to the account's backup URL at once.
//! The payload building is pure; the loop at the bottom does the I/O.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use facteur_mailjet::events::{EventFacts, payload};
use facteur_store::webhooks::{EventRow, NewCall, Tried, Webhook, WebhookCall};
use serde_json::Value;
use tokio::sync::watch;

use crate::core::Core;
use crate::time::now_ms;

/// The Mailjet event type and payload of a stored event, if it is one webhooks carry
/// ([`facteur_mailjet::events`] has the names and shapes).
pub fn event_payload(e: &EventRow) -> Option<(&'static str, Value)> {
    payload(&EventFacts {
        kind: e.kind,
        at: e.at,
        recipient_id: e.recipient_id.unwrap_or(0),
        uuid: &e.uuid,
        address: &e.address,
        custom_id: &e.custom_id,
        event_payload: &e.event_payload,
        campaign: &e.campaign,
        detail: &e.detail,
        reply: e.reply.as_deref(),
        class: e.class,
        source: e.remote_host.as_deref(),
        ip: e.ip.as_deref(),
        agent: e.agent.as_deref(),
        url: e.url.as_deref(),
    })
}

/// The calls for a batch of events: for each account's hook of the event's type (its backup
/// only when the primary is dead), one call per event (version 1) or one grouped call
/// (version 2). Events older than the hook are not sent to it.
pub fn build_calls(events: &[EventRow], hooks: &[Webhook]) -> Vec<NewCall> {
    let target = |account: i64, kind: &str, at: i64| -> Option<&Webhook> {
        let of = |backup: bool| {
            hooks.iter().find(|h| {
                h.account_id == account
                    && h.event_type == kind
                    && h.is_backup == backup
                    && h.created_at <= at
            })
        };
        match of(false) {
            Some(primary) if primary.status == "alive" => Some(primary),
            primary => of(true).filter(|b| b.status == "alive").or(primary),
        }
    };
    let mut single = Vec::new();
    let mut grouped: Vec<(i64, Vec<Value>)> = Vec::new();
    for e in events {
        let Some(account) = e.account_id else {
            continue;
        };
        let Some((kind, payload)) = event_payload(e) else {
            continue;
        };
        let Some(hook) = target(account, kind, e.at) else {
            continue;
        };
        if hook.version == 2 {
            match grouped.iter_mut().find(|(id, _)| *id == hook.id) {
                Some((_, list)) => list.push(payload),
                None => grouped.push((hook.id, vec![payload])),
            }
        } else {
            single.push(NewCall {
                webhook_id: hook.id,
                body: payload.to_string(),
            });
        }
    }
    single.extend(grouped.into_iter().map(|(id, list)| NewCall {
        webhook_id: id,
        body: Value::Array(list).to_string(),
    }));
    single
}

/// Whether an address is one webhooks may not reach unless the operator allows it: anything
/// that is not globally routable unicast (loopback, private, shared, link-local, multicast,
/// reserved, documentation and benchmarking ranges), including IPv4 addresses wrapped in IPv6
/// (mapped, compatible, NAT64, 6to4) and Teredo.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => private_v4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded =
                |hi: u16, lo: u16| std::net::Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
            if let Some(v4) = v6.to_ipv4_mapped() {
                return private_v4(v4);
            }
            if s[..6] == [0; 6] {
                // ::/96, the deprecated IPv4-compatible form (and :: and ::1).
                return true;
            }
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return private_v4(embedded(s[6], s[7]));
            }
            if s[0] == 0x2002 {
                return private_v4(embedded(s[1], s[2]));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] == 0x64 && s[1] == 0xff9b) // 64:ff9b:1::/48, local NAT64
                || (s[0] == 0x100 && s[1..4] == [0, 0, 0]) // 100::/64, discard
                || (s[0] == 0x2001 && s[1] < 0x200) // 2001::/23: Teredo, benchmarking, ORCHID…
                || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] & 0xff00) == 0xff00 // multicast
        }
    }
}

fn private_v4(v4: std::net::Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    v4.is_private()
        || v4.is_loopback()
        || v4.is_link_local()
        || v4.is_unspecified()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224 // multicast, reserved, broadcast
}

/// Resolves webhook hosts for the HTTP client and drops every non-public address, so that the
/// address checked is the address connected to (a name that resolves to a public address for
/// a check and to 127.0.0.1 for the call — DNS rebinding — finds nothing to connect to).
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<_> = addrs
                .iter()
                .copied()
                .filter(|a| !is_private(a.ip()))
                .collect();
            if public.is_empty() {
                let shown = addrs
                    .first()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_default();
                return Err(format!(
                    "{host} resolves only to private addresses ({shown}); refused unless the operator sets webhook_allow_private"
                )
                .into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Checks a callback URL when it is registered: http(s), a host, no credentials-free
/// surprises, and no private or loopback target unless `allow_private`.
pub fn check_url(url: &str, allow_private: bool) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("\"{url}\" is not a URL: {e}"))?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err("Url must start with http:// or https://".into());
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| "Url has no host".to_string())?;
    if allow_private {
        return Ok(());
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let private = match bare.parse::<IpAddr>() {
        Ok(ip) => is_private(ip),
        Err(_) => bare.eq_ignore_ascii_case("localhost") || bare.ends_with(".localhost"),
    };
    if private {
        return Err(format!(
            "Url points to a loopback or private address ({host}): refused unless the operator sets webhook_allow_private"
        ));
    }
    Ok(())
}

/// HMAC-SHA256 of the body with the account's secret, as sent in `X-Facteur-Signature`.
pub fn signature(secret: &str, body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, body.as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Longest wait for a receiver's answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// How often new events are looked for (version 2 groups the events of this period).
const TICK: Duration = Duration::from_secs(1);

/// The dispatcher: collects calls from new events and makes due calls, every second.
pub async fn run(core: Arc<Core>, mut shutdown: watch::Receiver<bool>) {
    // reqwest's rustls takes the process-wide provider: ring, as everywhere in Facteur.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .timeout(CALL_TIMEOUT)
        .user_agent(concat!("Facteur-Webhooks/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    if !core.cfg.webhook_allow_private {
        builder = builder.dns_resolver(PublicOnly);
    }
    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook HTTP client; webhooks are off");
            return;
        }
    };
    let lease_ms = (CALL_TIMEOUT.as_millis() as i64) * 4;
    let mut calls = tokio::task::JoinSet::new();
    loop {
        while calls.try_join_next().is_some() {}
        let now = now_ms();
        match core
            .store
            .collect_webhook_calls(now, 5000, build_calls)
            .await
        {
            Ok(n) if n > 0 => tracing::debug!(events = n, "webhook events collected"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot collect webhook events; retrying"),
        }
        match core.store.claim_webhook_calls(now, lease_ms, 100).await {
            Ok(due) => {
                for call in due {
                    let core = core.clone();
                    let client = client.clone();
                    calls.spawn(async move { make_call(&core, &client, call).await });
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read webhook calls; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = shutdown.changed() => break,
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while calls.join_next().await.is_some() {}
    })
    .await;
}

/// One POST; `Ok` when the receiver answered 200.
async fn post(
    core: &Core,
    client: &reqwest::Client,
    hook: &Webhook,
    body: &str,
    secret: &str,
) -> Result<(), String> {
    let url = reqwest::Url::parse(&hook.url).map_err(|e| format!("bad URL: {e}"))?;
    // Names are resolved by the client's `PublicOnly` resolver, once, at connect time; a
    // literal address never reaches a resolver, so it is checked here.
    if !core.cfg.webhook_allow_private
        && let Ok(ip) = url
            .host_str()
            .unwrap_or("")
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
        && is_private(ip)
    {
        return Err(format!("{ip} is a private address; refused"));
    }
    let mut request = client
        .post(url.clone())
        .header("Content-Type", "application/json")
        .header("X-Facteur-Signature", signature(secret, body))
        .body(body.to_string());
    if !url.username().is_empty() {
        request = request.basic_auth(url.username(), url.password());
    }
    match request.send().await {
        Ok(r) if r.status().as_u16() == 200 => Ok(()),
        Ok(r) => Err(format!("answered HTTP {}", r.status().as_u16())),
        Err(e) => Err(format!("request failed: {e}")),
    }
}

async fn make_call(core: &Core, client: &reqwest::Client, call: WebhookCall) {
    let now = now_ms();
    let mut result = if call.hook.status == "alive" {
        post(core, client, &call.hook, &call.body, &call.signing_secret).await
    } else {
        Err("URL is dead".to_string())
    };
    // Each URL posted to is logged under its own hook: a backup that answers does not make a
    // failing primary look healthy.
    let tried_one = |hook: &Webhook, result: &Result<(), String>| Tried {
        webhook_id: hook.id,
        attempt: call.attempts + 1,
        ok: result.is_ok(),
        error: result.as_ref().err().cloned().unwrap_or_default(),
    };
    let mut tried = vec![tried_one(&call.hook, &result)];
    if let Err(primary_error) = &result
        && let Some(backup) = call.backup.as_ref().filter(|b| b.status == "alive")
    {
        let backup_result = post(core, client, backup, &call.body, &call.signing_secret).await;
        tried.push(tried_one(backup, &backup_result));
        result = backup_result.map_err(|e| format!("{primary_error}; backup {}: {e}", backup.url));
    }
    let outcome = match &result {
        Ok(()) => core.store.webhook_call_done(call.id, now, &tried).await,
        Err(error) => {
            let first = call.first_failed_at.unwrap_or(now);
            if now - first >= core.cfg.webhook_give_up.as_millis() as i64 {
                tracing::warn!(url = %call.hook.url, error = %error, "webhook call given up; URL marked dead");
                core.store
                    .webhook_call_abandoned(call.id, call.hook.id, now, &tried)
                    .await
            } else {
                tracing::info!(url = %call.hook.url, error = %error, attempts = call.attempts + 1, "webhook call failed; will retry");
                core.store
                    .webhook_call_failed(
                        call.id,
                        now,
                        now + core.cfg.webhook_retry.as_millis() as i64,
                        error,
                        &tried,
                    )
                    .await
            }
        }
    };
    if let Err(e) = outcome {
        tracing::error!(error = %e, "cannot record a webhook call's outcome; it is retried after its lease");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use facteur_store::{BounceClass, EventKind};

    fn event(kind: EventKind, class: Option<BounceClass>, at: i64) -> EventRow {
        EventRow {
            id: at,
            at,
            kind,
            detail: "mx said: 250 2.0.0 OK queued".into(),
            reply: Some("250 2.0.0 OK queued".into()),
            class,
            remote_host: None,
            account_id: Some(1),
            message_id: 10,
            recipient_id: Some(77),
            uuid: "u-1".into(),
            address: "ada@example.net".into(),
            custom_id: "c1".into(),
            event_payload: "p".into(),
            campaign: "spring".into(),
            ip: None,
            agent: None,
            url: None,
            machine: false,
        }
    }

    fn hook(id: i64, kind: &str, version: i64, backup: bool, status: &str) -> Webhook {
        Webhook {
            id,
            account_id: 1,
            event_type: kind.into(),
            url: format!("http://h/{id}"),
            version,
            is_backup: backup,
            status: status.into(),
            created_at: 0,
        }
    }

    /// A stored event's columns reach the payload (the shapes are tested in facteur-mailjet).
    #[test]
    fn payloads_come_from_the_columns() {
        let (kind, v) = event_payload(&event(EventKind::Sent, None, 5000)).unwrap();
        assert_eq!(kind, "sent");
        assert_eq!(v["MessageID"], 77);
        assert_eq!(v["smtp_reply"], "sent (250 2.0.0 OK queued)");
        let bounced = event(EventKind::Bounced, Some(BounceClass::UserUnknown), 1);
        let (kind, v) = event_payload(&bounced).unwrap();
        assert_eq!(kind, "bounce");
        assert_eq!(v["error"], "user unknown");
        assert!(event_payload(&event(EventKind::Deferred, None, 1)).is_none());
    }

    #[test]
    fn calls_by_version_and_backup() {
        let events = [
            event(EventKind::Sent, None, 1),
            event(EventKind::Sent, None, 2),
            event(EventKind::Bounced, Some(BounceClass::UserUnknown), 3),
        ];
        let hooks = [
            hook(1, "sent", 2, false, "alive"),
            hook(2, "bounce", 1, false, "alive"),
        ];
        let calls = build_calls(&events, &hooks);
        assert_eq!(calls.len(), 2);
        let bounce = calls.iter().find(|c| c.webhook_id == 2).unwrap();
        assert!(bounce.body.starts_with('{'));
        let grouped = calls.iter().find(|c| c.webhook_id == 1).unwrap();
        let list: Vec<Value> = serde_json::from_str(&grouped.body).unwrap();
        assert_eq!(list.len(), 2);
        // A dead primary sends to the backup.
        let hooks = [
            hook(1, "sent", 1, false, "dead"),
            hook(3, "sent", 1, true, "alive"),
        ];
        let calls = build_calls(&events[..1], &hooks);
        assert_eq!(calls[0].webhook_id, 3);
        // Other accounts' hooks see nothing.
        let mut other = hook(1, "sent", 1, false, "alive");
        other.account_id = 2;
        assert!(build_calls(&events, &[other]).is_empty());
    }

    #[test]
    fn private_targets() {
        for url in [
            "http://127.0.0.1:9/x",
            "http://localhost/x",
            "http://10.1.2.3/",
            "http://[::1]:8080/",
            "http://192.168.0.1/",
            "http://169.254.169.254/latest",
            "http://[::7f00:1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[64:ff9b::7f00:1]/",
            "http://[2002:7f00:1::]/",
            "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
            "http://[ff02::1]/",
            "http://[fec0::1]/",
            "http://224.0.0.1/",
            "http://239.255.255.250/",
            "http://198.18.0.1/",
            "http://198.19.255.1/",
            "http://240.0.0.1/",
            "http://255.255.255.255/",
            "http://192.0.0.8/",
            "http://192.0.2.1/",
            "http://0.0.0.0/",
            "http://100.100.1.1/",
        ] {
            assert!(check_url(url, false).is_err(), "{url}");
            assert!(check_url(url, true).is_ok(), "{url}");
        }
        assert!(check_url("https://hooks.example.com/mj", false).is_ok());
        for public in [
            "http://93.184.215.14/",
            "http://[2606:4700::1111]/",
            "http://[64:ff9b::5db8:d70e]/",
            "http://[2002:5db8:d70e::1]/",
        ] {
            assert!(check_url(public, false).is_ok(), "{public}");
        }
        assert!(check_url("ftp://example.com/", true).is_err());
        assert!(check_url("not a url", true).is_err());
    }

    /// The client resolves names itself and connects only to public addresses: a name that
    /// passed registration but resolves to loopback at call time (DNS rebinding) fails.
    #[tokio::test]
    async fn the_call_time_resolver_drops_private_addresses() {
        use reqwest::dns::Resolve;
        use std::str::FromStr;
        let name = reqwest::dns::Name::from_str("localhost").unwrap();
        let err = match PublicOnly.resolve(name).await {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("private"), "{err}");
    }

    #[test]
    fn signature_is_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
