//! Opens and clicks as the public endpoints see them: a token read (no database: it carries
//! the recipient and the link), the event recorded durably through the group commit, and
//! whether a machine did it — a privacy proxy that fetches every image (Apple Mail Privacy
//! Protection, Gmail's image proxy), a link scanner that follows every link within seconds of
//! delivery or with `HEAD`. Statistics count people and all; the flag says which is which.

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
    }
}

impl Core {
    /// What a message tracks: its `TrackOpens` / `TrackClicks` (or `X-Mailjet-Track*`), else
    /// the server's `track_opens` / `track_clicks`. Only for mail of an account (Facteur's own
    /// reports and bounces are never tracked).
    pub fn tracking_of(
        &self,
        account_id: Option<i64>,
        origin: &crate::submission::Origin,
        options: &facteur_mailjet::MailjetOptions,
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
        let mut bits = 0;
        if on(options.track_opens, self.cfg.track_opens) {
            bits |= facteur_store::TRACK_OPENS;
        }
        if on(options.track_clicks, self.cfg.track_clicks) {
            bits |= facteur_store::TRACK_CLICKS;
        }
        bits
    }

    /// One recipient's copy of a tracked message: its HTML parts with its own pixel and click
    /// links (on `public_url`), then DKIM-signed over exactly these bytes. A message whose HTML
    /// cannot be read leaves as it is, signed (a log line says why).
    pub fn personalise(
        &self,
        entry: &facteur_store::QueueEntry,
        recipient_id: i64,
        now_secs: i64,
    ) -> Vec<u8> {
        use facteur_message::tracking::{Rewrite, rewrite_message};
        let base = &self.public_url;
        let pixel = (entry.tracking & facteur_store::TRACK_OPENS != 0)
            .then(|| format!("{base}/o/{}", self.tracking.open(recipient_id, now_secs)));
        let click = |n: u16, url: &str| {
            format!(
                "{base}/c/{}",
                self.tracking.click(recipient_id, now_secs, n, url)
            )
        };
        let how = Rewrite {
            pixel: pixel.as_deref(),
            click: (entry.tracking & facteur_store::TRACK_CLICKS != 0).then_some(&click as _),
        };
        let mut body = match rewrite_message(&entry.body, &how) {
            Ok(Some(b)) => b,
            Ok(None) => entry.body.clone(),
            Err(e) => {
                tracing::warn!(msg_id = entry.message_id, error = %e, "tracking not added: the message leaves as it was written");
                entry.body.clone()
            }
        };
        if let Some(account) = entry.account_id
            && let Err(e) = self.dkim.sign_message(account, &mut body)
        {
            tracing::error!(msg_id = entry.message_id, error = %e, "DKIM signing failed: the message leaves unsigned");
        }
        body
    }

    /// Reads a token of the `expected` kind, records its open or click (`head`: a HEAD
    /// request), and returns it; `None` for a token that is not ours, was changed, or is of
    /// the other kind (nothing is recorded). The event is on disk when this returns `Ok`.
    pub async fn engage(
        &self,
        token: &str,
        expected: TokenKind,
        ip: Option<IpAddr>,
        agent: &str,
        head: bool,
    ) -> (Option<Token>, Result<(), facteur_store::Error>) {
        let Some(t) = self.tracking.read(token).filter(|t| t.kind == expected) else {
            return (None, Ok(()));
        };
        let now = now_ms();
        let machine = is_machine(t.kind, head, agent, ip, now / 1000 - t.issued_at);
        let e = Engagement {
            at: now,
            recipient_id: t.recipient_id,
            kind: match t.kind {
                TokenKind::Open => EventKind::Open,
                TokenKind::Click => EventKind::Click,
            },
            url: t.link.as_ref().map(|(_, u)| u.clone()),
            position: t.link.as_ref().map_or(0, |(n, _)| i64::from(*n)),
            ip: ip.map(|i| i.to_string()).unwrap_or_default(),
            // At most what a header line holds; the rest says nothing more.
            agent: agent.chars().take(512).collect(),
            machine,
        };
        let counter = match t.kind {
            TokenKind::Open => &self.metrics.opens_total,
            TokenKind::Click => &self.metrics.clicks_total,
        };
        let written = self.writer.engagement(e).await;
        if written.is_ok() {
            crate::metrics::Metrics::inc(counter);
        }
        (Some(t), written)
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
