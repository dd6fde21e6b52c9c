//! What happens to a recipient, as data: the kinds of events, and why a delivery failed (its
//! bounce class), computed once from the reply that decided it. Stored as columns, read by the
//! webhooks and the API without parsing any text again.

/// One event in a recipient's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// Accepted and queued.
    Queued,
    /// Accepted but never to be delivered (an error in its template).
    Blocked,
    /// The next hop took it (2xx).
    Sent,
    /// Not yet: tried again later (4xx, no connection).
    Deferred,
    /// Refused for good (5xx, null MX, no such domain).
    Bounced,
    /// Still deferred when the queue lifetime ran out.
    Expired,
    /// Taken out of the queue by an operator.
    Deleted,
}

impl EventKind {
    pub const ALL: [EventKind; 7] = [
        EventKind::Queued,
        EventKind::Blocked,
        EventKind::Sent,
        EventKind::Deferred,
        EventKind::Bounced,
        EventKind::Expired,
        EventKind::Deleted,
    ];

    /// The name stored and shown (`queued`, `sent`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Queued => "queued",
            EventKind::Blocked => "blocked",
            EventKind::Sent => "sent",
            EventKind::Deferred => "deferred",
            EventKind::Bounced => "bounced",
            EventKind::Expired => "expired",
            EventKind::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Whether a failure is final for the address, temporary, or a refusal by policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Hard,
    Soft,
    Policy,
}

/// Why a delivery failed (or was refused before it was tried).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BounceClass {
    /// No such mailbox (5.1.1).
    UserUnknown,
    /// Mailbox full or over quota (x.2.2).
    MailboxFull,
    /// Mailbox disabled (5.2.1).
    MailboxInactive,
    /// The domain accepts no mail (null MX, 5.1.10).
    NoMailHost,
    /// The domain does not exist (5.1.2).
    InvalidDomain,
    /// Greylisting: try again later.
    Greylisted,
    /// Relaying or access denied (5.7.1).
    AccessDenied,
    /// Refused as spam, or from a blocked sender.
    Spam,
    /// The message's own content (an error in its template).
    Content,
    /// No connection, a timeout, a DNS failure, an expired message.
    Connection,
    /// Anything else the remote server said.
    Protocol,
}

impl BounceClass {
    const ALL: [BounceClass; 11] = [
        BounceClass::UserUnknown,
        BounceClass::MailboxFull,
        BounceClass::MailboxInactive,
        BounceClass::NoMailHost,
        BounceClass::InvalidDomain,
        BounceClass::Greylisted,
        BounceClass::AccessDenied,
        BounceClass::Spam,
        BounceClass::Content,
        BounceClass::Connection,
        BounceClass::Protocol,
    ];

    /// The name stored in the `bounce_class` column.
    pub fn as_str(self) -> &'static str {
        match self {
            BounceClass::UserUnknown => "user-unknown",
            BounceClass::MailboxFull => "mailbox-full",
            BounceClass::MailboxInactive => "mailbox-inactive",
            BounceClass::NoMailHost => "no-mail-host",
            BounceClass::InvalidDomain => "invalid-domain",
            BounceClass::Greylisted => "greylisted",
            BounceClass::AccessDenied => "access-denied",
            BounceClass::Spam => "spam",
            BounceClass::Content => "content",
            BounceClass::Connection => "connection",
            BounceClass::Protocol => "protocol",
        }
    }

    pub fn parse(s: &str) -> Option<BounceClass> {
        BounceClass::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn severity(self) -> Severity {
        match self {
            BounceClass::UserUnknown
            | BounceClass::MailboxInactive
            | BounceClass::NoMailHost
            | BounceClass::InvalidDomain => Severity::Hard,
            BounceClass::MailboxFull | BounceClass::Greylisted | BounceClass::Connection => {
                Severity::Soft
            }
            BounceClass::AccessDenied
            | BounceClass::Spam
            | BounceClass::Content
            | BounceClass::Protocol => Severity::Policy,
        }
    }

    /// The class of a remote server's reply (`550 5.1.1 <text>`): its enhanced status code
    /// first, then the words servers use when they give none.
    pub fn of_reply(code: u16, enhanced: &str, text: &str) -> BounceClass {
        match enhanced {
            "5.1.1" | "5.1.0" | "5.1.6" => return BounceClass::UserUnknown,
            "5.1.10" => return BounceClass::NoMailHost,
            "5.1.2" => return BounceClass::InvalidDomain,
            "5.2.1" => return BounceClass::MailboxInactive,
            "5.2.2" | "4.2.2" => return BounceClass::MailboxFull,
            "5.7.1" => return BounceClass::AccessDenied,
            _ => {}
        }
        let t = text.to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
        if has(&[
            "user unknown",
            "no such user",
            "unknown user",
            "does not exist here",
            "recipient rejected",
            "mailbox unavailable",
        ]) {
            BounceClass::UserUnknown
        } else if has(&["quota", "mailbox full", "over limit"]) {
            BounceClass::MailboxFull
        } else if has(&["disabled", "inactive"]) {
            BounceClass::MailboxInactive
        } else if has(&["greylist", "try again later"]) {
            BounceClass::Greylisted
        } else if has(&["relay", "access denied"]) {
            BounceClass::AccessDenied
        } else if has(&["spam", "blocked", "blacklist", "blocklist"]) {
            BounceClass::Spam
        } else if code == 421 || enhanced.starts_with("4.4.") {
            BounceClass::Connection
        } else {
            BounceClass::Protocol
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
        for c in BounceClass::ALL {
            assert_eq!(BounceClass::parse(c.as_str()), Some(c));
        }
        assert_eq!(EventKind::parse("open"), None);
    }

    #[test]
    fn replies_are_classified() {
        let c = BounceClass::of_reply;
        assert_eq!(c(550, "5.1.1", "user unknown"), BounceClass::UserUnknown);
        assert_eq!(c(550, "", "No such user here"), BounceClass::UserUnknown);
        assert_eq!(c(552, "5.2.2", "mailbox full"), BounceClass::MailboxFull);
        assert_eq!(c(452, "", "Over quota"), BounceClass::MailboxFull);
        assert_eq!(
            c(554, "5.7.1", "rejected as spam"),
            BounceClass::AccessDenied
        );
        assert_eq!(
            c(554, "5.7.0", "message blocked as spam"),
            BounceClass::Spam
        );
        assert_eq!(
            c(451, "4.7.1", "greylisted, try again later"),
            BounceClass::Greylisted
        );
        assert_eq!(c(421, "4.4.2", "timeout"), BounceClass::Connection);
        assert_eq!(c(554, "5.3.0", "transaction failed"), BounceClass::Protocol);
        assert_eq!(BounceClass::UserUnknown.severity(), Severity::Hard);
        assert_eq!(BounceClass::MailboxFull.severity(), Severity::Soft);
        assert_eq!(BounceClass::Spam.severity(), Severity::Policy);
    }
}
