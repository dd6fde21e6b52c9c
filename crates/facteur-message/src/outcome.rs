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
    /// The recipient reported it as spam (a feedback-loop report).
    Spam,
    /// The open pixel was loaded.
    Open,
    /// A tracked link was followed.
    Click,
    /// The recipient unsubscribed (the hosted page or RFC 8058 one-click).
    Unsub,
}

impl EventKind {
    pub const ALL: [EventKind; 11] = [
        EventKind::Queued,
        EventKind::Blocked,
        EventKind::Sent,
        EventKind::Deferred,
        EventKind::Bounced,
        EventKind::Expired,
        EventKind::Deleted,
        EventKind::Spam,
        EventKind::Open,
        EventKind::Click,
        EventKind::Unsub,
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
            EventKind::Spam => "spam",
            EventKind::Open => "open",
            EventKind::Click => "click",
            EventKind::Unsub => "unsub",
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
    /// On a suppression list (an earlier hard bounce, a complaint, an unsubscription): not
    /// sent.
    Preblocked,
}

impl BounceClass {
    const ALL: [BounceClass; 12] = [
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
        BounceClass::Preblocked,
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
            BounceClass::Preblocked => "preblocked",
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
            | BounceClass::Protocol
            | BounceClass::Preblocked => Severity::Policy,
        }
    }

    /// The class of a remote server's reply (`550 5.1.1 <text>`), or of a bounce's
    /// diagnostic: words that name spam or a block list first (servers refuse spam with any
    /// code), then the enhanced status code, then the words servers use when they give none.
    pub fn of_reply(code: u16, enhanced: &str, text: &str) -> BounceClass {
        // Addresses are left out of the words: `<nospam@…>: user unknown` is not spam.
        let t: String = text
            .to_ascii_lowercase()
            .split_whitespace()
            .filter(|w| !w.contains('@'))
            .collect::<Vec<_>>()
            .join(" ");
        let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
        const SPAM: &[&str] = &[
            "spam",
            "blacklist",
            "blocklist",
            "block list",
            "blocked using",
            "listed at",
            "listed on",
            "dnsbl",
            "spamhaus",
            "unsolicited",
            "dmarc",
            "reputation",
            "user complaints",
        ];
        const UNKNOWN: &[&str] = &[
            "user unknown",
            "unknown user",
            "no such user",
            "no such recipient",
            "no such mailbox",
            "no mailbox",
            "mailbox not found",
            "mailbox unavailable",
            "mailbox does not exist",
            "address does not exist",
            "does not exist",
            "recipientnotfound",
            "recipient not found",
            "user not found",
            "not listed in",
            "doesn't have a",
            "does not have an account",
            "unknown recipient",
            "invalid recipient",
            "recipient rejected",
            "address rejected",
            "has moved",
            "not our customer",
            "no longer available",
        ];
        const FULL: &[&str] = &[
            "quota",
            "mailbox full",
            "mailbox is full",
            "over limit",
            "insufficient storage",
            "out of storage",
        ];
        const INACTIVE: &[&str] = &["disabled", "inactive", "suspended", "deactivated"];
        const GREYLIST: &[&str] = &["greylist", "graylist", "try again later", "postgrey"];
        const NO_DOMAIN: &[&str] = &[
            "host or domain name not found",
            "domain not found",
            "no such domain",
            "domain does not exist",
            "no host by that name",
            "unrouteable",
        ];
        const CONNECTION: &[&str] = &[
            "timed out",
            "timeout",
            "connection refused",
            "could not connect",
            "cannot connect",
            "unable to connect",
            "network is unreachable",
            "expired",
            "retry time",
        ];
        const CONTENT: &[&str] = &[
            "too large",
            "too big",
            "size limit",
            "exceeds the maximum",
            "message size",
            "virus",
            "content",
        ];
        let mut parts = enhanced.splitn(3, '.');
        let (class, subject, detail) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        // The codes that name the mailbox or the domain decide before any words.
        match (class, subject, detail) {
            ("5", "1", "1" | "0" | "6" | "3") => return BounceClass::UserUnknown,
            ("5", "1", "2") => return BounceClass::InvalidDomain,
            (_, "2", "2") => return BounceClass::MailboxFull,
            _ => {}
        }
        if !t.is_empty() && has(SPAM) {
            return BounceClass::Spam;
        }
        match (class, subject, detail) {
            ("5", "1", "1" | "0" | "6" | "3") => return BounceClass::UserUnknown,
            // Office 365 says 5.1.10 for a recipient it does not know; RFC 7505 for null MX.
            ("5", "1", "10") if has(UNKNOWN) => return BounceClass::UserUnknown,
            ("5", "1", "10") => return BounceClass::NoMailHost,
            ("5", "1", "2") | ("5", "4", "4") => return BounceClass::InvalidDomain,
            ("5", "2", "1") if has(FULL) => return BounceClass::MailboxFull,
            ("5", "2", "1") => return BounceClass::MailboxInactive,
            (_, "2", "2") => return BounceClass::MailboxFull,
            ("5", "2", "3") | ("5", "3", "4") => return BounceClass::Content,
            ("4", _, _) | (_, "7", _) if has(GREYLIST) => return BounceClass::Greylisted,
            ("5", "7", "1") | ("5", "4", "1") => {
                return if has(&["access denied", "relay"]) {
                    BounceClass::AccessDenied
                } else if has(UNKNOWN) {
                    BounceClass::UserUnknown
                } else {
                    BounceClass::AccessDenied
                };
            }
            (_, "4", "6") | (_, "6", _) => return BounceClass::Protocol,
            (_, "4", _) => return BounceClass::Connection,
            _ => {}
        }
        if has(FULL) {
            BounceClass::MailboxFull
        } else if has(GREYLIST) {
            BounceClass::Greylisted
        } else if has(NO_DOMAIN) {
            BounceClass::InvalidDomain
        } else if has(UNKNOWN) {
            BounceClass::UserUnknown
        } else if has(INACTIVE) {
            BounceClass::MailboxInactive
        } else if has(&["relay", "access denied", "not permitted"]) {
            BounceClass::AccessDenied
        } else if has(CONNECTION) || code == 421 {
            BounceClass::Connection
        } else if has(CONTENT) {
            BounceClass::Content
        } else if has(&["blocked", "rejected for policy", "policy"]) {
            BounceClass::Spam
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
        assert_eq!(EventKind::parse("unsub"), Some(EventKind::Unsub));
    }

    #[test]
    fn replies_are_classified() {
        let c = BounceClass::of_reply;
        assert_eq!(c(550, "5.1.1", "user unknown"), BounceClass::UserUnknown);
        assert_eq!(c(550, "", "No such user here"), BounceClass::UserUnknown);
        assert_eq!(c(552, "5.2.2", "mailbox full"), BounceClass::MailboxFull);
        assert_eq!(c(452, "", "Over quota"), BounceClass::MailboxFull);
        assert_eq!(c(554, "5.7.1", "rejected as spam"), BounceClass::Spam);
        assert_eq!(
            c(550, "5.1.1", "<nospam@example.com>: user unknown"),
            BounceClass::UserUnknown
        );
        assert_eq!(
            c(550, "", "<dmarc-reports@example.com>: no such user"),
            BounceClass::UserUnknown
        );
        assert_eq!(
            c(554, "5.7.1", "Relay access denied"),
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
