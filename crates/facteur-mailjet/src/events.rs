//! Facteur's events in Mailjet's words, in one place: the event names of webhooks and of
//! `/v3/REST/messagehistory`, Mailjet's `error_related_to` / `error` for each bounce class, and
//! the webhook payloads. Everything comes from stored columns; no text is parsed again.

use facteur_message::outcome::{BounceClass, EventKind};
use serde_json::{Value, json};

/// Mailjet's `error` for a message blocked by its template.
pub const TEMPLATE_ERROR: &str = "error in template language";

/// The event's name in `/v3/REST/messagehistory` (`EventType`).
pub fn history_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Bounced | EventKind::Expired => "bounce",
        EventKind::Deleted => "blocked",
        EventKind::Open => "opened",
        EventKind::Click => "clicked",
        other => other.as_str(),
    }
}

/// The webhook event type an event is sent as, if any (queued, deferred and deleted are not).
pub fn webhook_name(kind: EventKind) -> Option<&'static str> {
    match kind {
        EventKind::Sent => Some("sent"),
        EventKind::Bounced | EventKind::Expired => Some("bounce"),
        EventKind::Blocked => Some("blocked"),
        EventKind::Spam => Some("spam"),
        EventKind::Open => Some("open"),
        EventKind::Click => Some("click"),
        EventKind::Unsub => Some("unsub"),
        EventKind::Queued | EventKind::Deferred | EventKind::Deleted => None,
    }
}

/// Mailjet's `error_related_to` and `error` for a failure of this class.
pub fn error_of(class: BounceClass) -> (&'static str, &'static str) {
    match class {
        BounceClass::UserUnknown => ("recipient", "user unknown"),
        BounceClass::MailboxFull => ("recipient", "quota exceeded"),
        BounceClass::MailboxInactive => ("recipient", "mailbox inactive"),
        BounceClass::NoMailHost => ("domain", "no mail host"),
        BounceClass::InvalidDomain => ("domain", "invalid domain"),
        BounceClass::Greylisted => ("domain", "greylisted"),
        BounceClass::AccessDenied => ("domain", "relay/access denied"),
        BounceClass::Spam => ("spam", "content blocked"),
        BounceClass::Content => ("content", TEMPLATE_ERROR),
        BounceClass::Connection => ("system", "connection issue"),
        BounceClass::Protocol => ("system", "protocol issue"),
        BounceClass::Preblocked => ("mailjet", "preblocked"),
    }
}

/// What a webhook payload is made of: one stored event and its message.
#[derive(Debug, Clone, Copy)]
pub struct EventFacts<'a> {
    pub kind: EventKind,
    /// Unix milliseconds.
    pub at: i64,
    /// Mailjet's MessageID (the recipient's id) and Message_GUID.
    pub recipient_id: i64,
    pub uuid: &'a str,
    pub address: &'a str,
    pub custom_id: &'a str,
    pub event_payload: &'a str,
    pub campaign: &'a str,
    /// What happened, for people.
    pub detail: &'a str,
    /// The remote server's reply line, when one decided it (`250 2.0.0 Ok`).
    pub reply: Option<&'a str>,
    pub class: Option<BounceClass>,
    /// Who reported it: the feedback program of a complaint.
    pub source: Option<&'a str>,
    /// An open's or a click's client: address, user agent; a click's link.
    pub ip: Option<&'a str>,
    pub agent: Option<&'a str>,
    pub url: Option<&'a str>,
}

/// The webhook event type and Mailjet payload of an event, if webhooks carry it.
pub fn payload(e: &EventFacts<'_>) -> Option<(&'static str, Value)> {
    let name = webhook_name(e.kind)?;
    let mut v = json!({
        "event": name,
        "time": e.at / 1000,
        "MessageID": e.recipient_id,
        "Message_GUID": e.uuid,
        "email": e.address,
        "mj_campaign_id": 0,
        "mj_contact_id": 0,
        "customcampaign": e.campaign,
        "CustomID": e.custom_id,
        "Payload": e.event_payload,
    });
    match e.kind {
        EventKind::Sent => {
            v["mj_message_id"] = json!(e.recipient_id.to_string());
            v["smtp_reply"] = json!(format!("sent ({})", e.reply.unwrap_or(e.detail)));
        }
        EventKind::Bounced | EventKind::Expired => {
            let class = e.class.unwrap_or(BounceClass::Connection);
            let (related, error) = error_of(class);
            v["blocked"] = json!(false);
            // A refusal (5xx) is a hard bounce; an expiry after deferrals, or a bounce
            // received later that says the mailbox is full, a soft one.
            v["hard_bounce"] = json!(
                e.kind == EventKind::Bounced
                    && class.severity() != facteur_message::outcome::Severity::Soft
            );
            v["error_related_to"] = json!(related);
            v["error"] = json!(error);
            v["comment"] = json!(e.detail);
        }
        EventKind::Spam => {
            v["source"] = json!(e.source.unwrap_or(""));
        }
        EventKind::Open | EventKind::Click | EventKind::Unsub => {
            if e.kind == EventKind::Unsub {
                // Unsubscribing from a message, not a contact list (lists come later).
                v["mj_list_id"] = json!(0);
            }
            v["ip"] = json!(e.ip.unwrap_or(""));
            v["geo"] = json!("");
            v["agent"] = json!(e.agent.unwrap_or(""));
            if e.kind == EventKind::Click {
                v["url"] = json!(e.url.unwrap_or(""));
            }
        }
        _ => {
            // Blocked: by its content, or by Facteur for another reason.
            let (related, error) = e.class.map_or(("mailjet", "preblocked"), error_of);
            v["error_related_to"] = json!(related);
            v["error"] = json!(error);
            v["comment"] = json!(e.detail);
        }
    }
    Some((name, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(kind: EventKind, class: Option<BounceClass>) -> EventFacts<'static> {
        EventFacts {
            kind,
            at: 5000,
            recipient_id: 77,
            uuid: "u-1",
            address: "ada@example.net",
            custom_id: "c1",
            event_payload: "p",
            campaign: "spring",
            detail: "mx.example.net said: 250 2.0.0 OK queued",
            reply: Some("250 2.0.0 OK queued"),
            class,
            source: None,
            ip: None,
            agent: None,
            url: None,
        }
    }

    #[test]
    fn payloads_have_mailjet_fields() {
        let (name, v) = payload(&facts(EventKind::Sent, None)).unwrap();
        assert_eq!(name, "sent");
        assert_eq!(v["event"], "sent");
        assert_eq!(v["time"], 5);
        assert_eq!(v["MessageID"], 77);
        assert_eq!(v["Message_GUID"], "u-1");
        assert_eq!(v["CustomID"], "c1");
        assert_eq!(v["Payload"], "p");
        assert_eq!(v["customcampaign"], "spring");
        assert_eq!(v["smtp_reply"], "sent (250 2.0.0 OK queued)");
        let (name, v) =
            payload(&facts(EventKind::Bounced, Some(BounceClass::UserUnknown))).unwrap();
        assert_eq!(name, "bounce");
        assert_eq!(v["hard_bounce"], true);
        assert_eq!(v["error_related_to"], "recipient");
        assert_eq!(v["error"], "user unknown");
        let (_, v) = payload(&facts(EventKind::Expired, Some(BounceClass::Connection))).unwrap();
        assert_eq!(v["hard_bounce"], false);
        assert_eq!(v["error"], "connection issue");
        let (name, v) = payload(&facts(EventKind::Blocked, Some(BounceClass::Content))).unwrap();
        assert_eq!(name, "blocked");
        assert_eq!(v["error_related_to"], "content");
        assert_eq!(v["error"], TEMPLATE_ERROR);
        let (_, v) = payload(&facts(EventKind::Blocked, None)).unwrap();
        assert_eq!(v["error"], "preblocked");
        assert!(payload(&facts(EventKind::Queued, None)).is_none());
        assert!(payload(&facts(EventKind::Deferred, None)).is_none());
    }

    #[test]
    fn history_names() {
        assert_eq!(history_name(EventKind::Expired), "bounce");
        assert_eq!(history_name(EventKind::Deleted), "blocked");
        assert_eq!(history_name(EventKind::Sent), "sent");
    }
}
