//! Opens and clicks as the public endpoints see them: a token read (no database: it carries
//! the recipient and the link), the event recorded durably through the group commit, and
//! whether a machine did it — a privacy proxy that fetches every image (Apple Mail Privacy
//! Protection, Gmail's image proxy), a link scanner that follows every link within seconds of
//! delivery or with `HEAD`. Statistics count people and all; the flag says which is which.

use std::collections::HashMap;
use std::net::IpAddr;

use facteur_message::tracking::{Token, TokenKind, Tokens};
use facteur_store::{Engagement, EventKind};

use crate::core::Core;
use crate::time::now_ms;

/// A click this soon after the message was written is a scanner's (people take longer).
const SCANNER_WINDOW_SECS: i64 = 10;

/// User agents of link scanners and image proxies (lower case, as parts).
const MACHINE_AGENTS: &[&str] = &[
    "googleimageproxy",
    "yahoomailproxy",
    "bingpreview",
    "barracuda",
    "mimecast",
    "proofpoint",
    "safelinks",
    "microsoft office protection",
    "symantec",
    "trendmicro",
    "forcepoint",
    "cisco",
    "ironport",
    "python-requests",
    "curl/",
    "wget/",
    "go-http-client",
    "headlesschrome",
    "bot",
    "spider",
    "crawler",
];

/// Each account's tracking defaults and host, each domain's host, as the store has them.
#[derive(Debug, Default)]
pub struct TrackTable {
    /// account → (opens, clicks, host): `None` / empty where the server's default applies.
    accounts: HashMap<i64, (Option<bool>, Option<bool>, String)>,
    /// (account, domain) → host.
    domains: HashMap<(i64, String), String>,
}

/// A tracking host as given (`t.example.com`, `https://t.example.com/`, `http://10.0.0.5:8080`)
/// as the base URL links start with (`https://t.example.com`); `""` stays `""` (the default).
pub fn normalize_track_host(given: &str) -> Result<String, String> {
    let g = given.trim();
    if g.is_empty() {
        return Ok(String::new());
    }
    let (scheme, rest) = match g.split_once("://") {
        Some((s, r)) if s.eq_ignore_ascii_case("https") => ("https", r),
        Some((s, r)) if s.eq_ignore_ascii_case("http") => ("http", r),
        Some(_) => {
            return Err(format!(
                "tracking host {given:?}: use a host name or an http(s) URL"
            ));
        }
        None => ("https", g),
    };
    let rest = rest.trim_end_matches('/');
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host_ok = host
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'[')
        && !host.ends_with(':')
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    let path_ok = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~/".contains(&b));
    if !host_ok || !path_ok || rest.len() > 200 {
        return Err(format!(
            "tracking host {given:?}: expected a host name (t.example.com) or a base URL without query (https://t.example.com/mail)"
        ));
    }
    Ok(format!("{scheme}://{rest}"))
}

/// Whether an open or a click came from a machine rather than a person.
pub fn is_machine(
    kind: TokenKind,
    head: bool,
    agent: &str,
    ip: Option<IpAddr>,
    seconds_after_sending: i64,
) -> bool {
    let a = agent.to_ascii_lowercase();
    if head || a.trim().is_empty() || MACHINE_AGENTS.iter().any(|m| a.contains(m)) {
        return true;
    }
    match kind {
        // Apple's Mail Privacy Protection fetches images from Apple's network (17.0.0.0/8)
        // with a bare "Mozilla/5.0" agent, whether the message is read or not.
        TokenKind::Open => {
            a.trim() == "mozilla/5.0"
                || ip.is_some_and(|ip| match ip {
                    IpAddr::V4(v4) => v4.octets()[0] == 17,
                    IpAddr::V6(_) => false,
                })
        }
        TokenKind::Click => (0..SCANNER_WINDOW_SECS).contains(&seconds_after_sending),
        // Unsubscribing takes a POST (the page's button or a mail client's one-click): a
        // person's, or done on a person's behalf.
        TokenKind::Unsub => false,
    }
}

impl Core {
    /// Loads the tracking settings (at start, after a change here, and every minute).
    pub async fn reload_tracking(&self) -> Result<(), facteur_store::Error> {
        let s = self.store.tracking_settings().await?;
        let table = TrackTable {
            accounts: s
                .accounts
                .into_iter()
                .map(|(id, o, c, h)| (id, (o, c, h)))
                .collect(),
            domains: s.domains.into_iter().map(|(a, d, h)| ((a, d), h)).collect(),
        };
        *self.track_settings.write().expect("tracking settings lock") = table;
        Ok(())
    }

    /// Where the tracking and unsubscribe links of an account's mail from `mail_from` point:
    /// the sender domain's tracking host (or its nearest parent's), else the account's, else
    /// `public_url`.
    pub fn track_base(&self, account_id: Option<i64>, mail_from: &str) -> String {
        let Some(account) = account_id else {
            return self.public_url.clone();
        };
        let t = self.track_settings.read().expect("tracking settings lock");
        let domain = mail_from
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase())
            .unwrap_or_default();
        // The domain or the nearest parent with a host (news.example.com under example.com).
        for d in crate::senders::domain_and_parents(&domain) {
            if let Some(h) = t.domains.get(&(account, d.to_string())) {
                return h.clone();
            }
        }
        match t.accounts.get(&account) {
            Some((_, _, h)) if !h.is_empty() => h.clone(),
            _ => self.public_url.clone(),
        }
    }

    /// What a message tracks: its `TrackOpens` / `TrackClicks` (or `X-Mailjet-Track*`), else
    /// its account's setting, else the server's `track_opens` / `track_clicks`; and, for `marketing` mail, its unsubscribe
    /// link and headers. Only for mail of an account (Facteur's own reports and bounces are
    /// never tracked).
    pub fn tracking_of(
        &self,
        account_id: Option<i64>,
        origin: &crate::submission::Origin,
        options: &facteur_mailjet::MailjetOptions,
        marketing: bool,
    ) -> u8 {
        use facteur_mailjet::options::Tracking;
        if account_id.is_none() || !origin.is_user_content() {
            return 0;
        }
        let on = |t: Tracking, default: bool| match t {
            Tracking::Enabled => true,
            Tracking::Disabled => false,
            Tracking::AccountDefault => default,
        };
        let (opens, clicks) = account_id
            .and_then(|a| {
                let t = self.track_settings.read().expect("tracking settings lock");
                t.accounts.get(&a).map(|(o, c, _)| (*o, *c))
            })
            .unwrap_or_default();
        let mut bits = 0;
        if on(options.track_opens, opens.unwrap_or(self.cfg.track_opens)) {
            bits |= facteur_store::TRACK_OPENS;
        }
        if on(
            options.track_clicks,
            clicks.unwrap_or(self.cfg.track_clicks),
        ) {
            bits |= facteur_store::TRACK_CLICKS;
        }
        if marketing {
            bits |= facteur_store::TRACK_UNSUB;
        }
        bits
    }

    /// One recipient's copy of a tracked message: its HTML parts with its own pixel and click
    /// links (on `public_url`); for marketing mail its own unsubscribe link in place of the
    /// `[[UNSUB_LINK…]]` placeholders and in `List-Unsubscribe` (RFC 8058 one-click); then
    /// DKIM-signed over exactly these bytes. A message whose HTML
    /// cannot be read leaves as it is, signed (a log line says why).
    pub fn personalise(
        &self,
        entry: &facteur_store::QueueEntry,
        recipient_id: i64,
        now_secs: i64,
    ) -> Vec<u8> {
        use facteur_message::tracking::{Rewrite, rewrite_message};
        let base = &self.track_base(entry.account_id, &entry.mail_from);
        let pixel = (entry.tracking & facteur_store::TRACK_OPENS != 0)
            .then(|| format!("{base}/o/{}", self.tracking.open(recipient_id, now_secs)));
        let click = |n: u16, url: &str| {
            format!(
                "{base}/c/{}",
                self.tracking.click(recipient_id, now_secs, n, url)
            )
        };
        let unsub = (entry.tracking & facteur_store::TRACK_UNSUB != 0)
            .then(|| format!("{base}/u/{}", self.tracking.unsub(recipient_id, now_secs)));
        let how = Rewrite {
            pixel: pixel.as_deref(),
            click: (entry.tracking & facteur_store::TRACK_CLICKS != 0).then_some(&click as _),
            unsub: unsub.as_deref(),
        };
        let mut body = match rewrite_message(&entry.body, &how) {
            Ok(Some(b)) => b,
            Ok(None) => entry.body.clone(),
            Err(e) => {
                tracing::warn!(msg_id = entry.message_id, error = %e, "tracking not added: the message leaves as it was written");
                entry.body.clone()
            }
        };
        if let Some(url) = &unsub {
            facteur_message::tracking::add_list_unsubscribe(&mut body, url);
        }
        if let Some(account) = entry.account_id
            && let Err(e) = self.dkim.sign_message(account, &mut body)
        {
            tracing::error!(msg_id = entry.message_id, error = %e, "DKIM signing failed: the message leaves unsigned");
        }
        body
    }

    /// Reads a token of the `expected` kind, queues its open or click for the group commit
    /// (`head`: a HEAD request), and returns it; `then` runs once the batch holding it is
    /// committed (pass its outcome to [`Core::engaged`]). `None` for a token that is not
    /// ours, was changed, or is of the other kind (nothing is recorded). The reader's answer
    /// needs no more than the token: it does not wait for the commit (a crash loses at most
    /// the batch being written, a few milliseconds of opens and clicks). `Err`: it could not
    /// be queued.
    #[allow(clippy::too_many_arguments)]
    pub async fn engage(
        &self,
        token: &str,
        expected: TokenKind,
        ip: Option<IpAddr>,
        agent: &str,
        head: bool,
        then: impl FnOnce(Result<(), facteur_store::Error>) + Send + 'static,
    ) -> (Option<Token>, Result<(), facteur_store::Error>) {
        let Some(t) = self
            .tracking
            .read(token)
            .filter(|t| t.kind == expected && t.kind != TokenKind::Unsub)
        else {
            return (None, Ok(()));
        };
        let now = now_ms();
        let machine = is_machine(t.kind, head, agent, ip, now / 1000 - t.issued_at);
        let e = Engagement {
            at: now,
            recipient_id: t.recipient_id,
            kind: match t.kind {
                TokenKind::Open => EventKind::Open,
                _ => EventKind::Click,
            },
            url: t.link.as_ref().map(|(_, u)| u.clone()),
            position: t.link.as_ref().map_or(0, |(n, _)| i64::from(*n)),
            ip: ip.map(|i| i.to_string()).unwrap_or_default(),
            // At most what a header line holds; the rest says nothing more.
            agent: agent.chars().take(512).collect(),
            machine,
        };
        let queued = self.writer.engagement_then(e, then).await;
        (Some(t), queued)
    }

    /// Counts an open or a click once its commit is known (`facteur_opens_total`,
    /// `facteur_clicks_total`; a failure in `facteur_tracking_write_failures_total`).
    pub fn engaged(&self, kind: TokenKind, committed: Result<(), facteur_store::Error>) {
        use crate::metrics::Metrics;
        match committed {
            Ok(()) if kind == TokenKind::Open => Metrics::inc(&self.metrics.opens_total),
            Ok(()) => Metrics::inc(&self.metrics.clicks_total),
            Err(e) => {
                Metrics::inc(&self.metrics.tracking_write_failures_total);
                tracing::error!(error = %e, "cannot record an open or a click");
            }
        }
    }

    /// Whose unsubscribe link a token is: the recipient, its address and account, for the
    /// hosted page. `None` for a token that is not ours, was changed, is of another kind, or
    /// names a recipient of no account.
    pub async fn unsub_target(
        &self,
        token: &str,
    ) -> Result<Option<facteur_store::inbound::RecipientRef>, facteur_store::Error> {
        let Some(t) = self
            .tracking
            .read(token)
            .filter(|t| t.kind == TokenKind::Unsub)
        else {
            return Ok(None);
        };
        Ok(self
            .store
            .recipient_ref(t.recipient_id)
            .await?
            .filter(|r| r.account_id.is_some()))
    }

    /// Whether the recipient's address is on its account's list as unsubscribed now (taken
    /// off the list, it is subscribed again).
    pub async fn is_unsubscribed(
        &self,
        target: &facteur_store::inbound::RecipientRef,
    ) -> Result<bool, facteur_store::Error> {
        let Some(account) = target.account_id else {
            return Ok(false);
        };
        Ok(self
            .store
            .suppression(account, &target.address)
            .await?
            .is_some_and(|s| {
                s.active && s.reason == facteur_store::identity::SuppressionReason::Unsubscribe
            }))
    }

    /// Unsubscribes the recipient a token names: the address goes on its account's
    /// suppression list (marketing mail only: transactional mail still reaches it) and the
    /// `unsub` event is recorded durably (statistics, the message's status, the webhook).
    /// `None` for a token that is not valid (nothing is recorded).
    pub async fn unsubscribe(
        &self,
        token: &str,
        ip: Option<IpAddr>,
        agent: &str,
    ) -> Result<Option<facteur_store::inbound::RecipientRef>, facteur_store::Error> {
        let Some(target) = self.unsub_target(token).await? else {
            return Ok(None);
        };
        let now = now_ms();
        let Some(account_id) = target.account_id else {
            return Ok(None);
        };
        self.suppress(&facteur_store::identity::Suppression {
            account_id,
            address: target.address.clone(),
            reason: facteur_store::identity::SuppressionReason::Unsubscribe,
            detail: format!("unsubscribed with the link of message {}", target.id),
            message_id: Some(target.message_id),
            failures: 1,
            first_at: now,
            updated_at: now,
            expires_at: None,
            active: true,
        })
        .await?;
        self.writer
            .engagement(Engagement {
                at: now,
                recipient_id: target.id,
                kind: EventKind::Unsub,
                url: None,
                position: 0,
                ip: ip.map(|i| i.to_string()).unwrap_or_default(),
                agent: agent.chars().take(512).collect(),
                machine: false,
            })
            .await?;
        crate::metrics::Metrics::inc(&self.metrics.unsubscribes_total);
        Ok(Some(target))
    }

    /// The tokens this node signs and reads (every node with the same secret key reads the
    /// others').
    pub fn tracking_tokens(&self) -> &Tokens {
        &self.tracking
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_hosts_read_as_base_urls() {
        for (given, want) in [
            ("", ""),
            ("t.example.com", "https://t.example.com"),
            (" https://T.example.com/ ", "https://T.example.com"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("https://example.com/mail/", "https://example.com/mail"),
        ] {
            assert_eq!(normalize_track_host(given).as_deref(), Ok(want), "{given}");
        }
        for bad in [
            "ftp://t.example.com",
            "https://",
            "https://a.test/?x=1",
            "a b.test",
            "javascript:alert(1)",
        ] {
            assert!(normalize_track_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn machines_and_people() {
        let person = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15";
        let ip: Option<IpAddr> = "192.0.2.7".parse().ok();
        assert!(!is_machine(TokenKind::Open, false, person, ip, 3600));
        assert!(!is_machine(TokenKind::Click, false, person, ip, 3600));
        // Apple's proxy, Google's, an empty agent, HEAD, a click within seconds.
        assert!(is_machine(TokenKind::Open, false, "Mozilla/5.0", ip, 3600));
        assert!(is_machine(
            TokenKind::Open,
            false,
            person,
            "17.58.1.2".parse().ok(),
            3600
        ));
        assert!(is_machine(
            TokenKind::Open,
            false,
            "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
            ip,
            3600
        ));
        assert!(is_machine(TokenKind::Click, false, "", ip, 3600));
        assert!(is_machine(TokenKind::Click, true, person, ip, 3600));
        assert!(is_machine(TokenKind::Click, false, person, ip, 2));
        assert!(is_machine(
            TokenKind::Click,
            false,
            "Mozilla/5.0 Mimecast",
            ip,
            3600
        ));
    }
}
