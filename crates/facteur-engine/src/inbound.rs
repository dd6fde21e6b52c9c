//! Mail that comes back to the bounce domain: read ([`facteur_message::report`]), tied to the
//! recipient its VERP return path names, and turned into what a synchronous refusal would
//! have given: the recipient `bounced` with its class (or a `spam` event for a complaint), the
//! webhooks that follow from the event, and the suppression list (hard bounces and complaints
//! at once, soft bounces once they repeat). Every message is recorded; one that changed
//! nothing keeps its bytes for an operator. What to do is decided by [`decide`], pure.

use facteur_message::outcome::Severity;
use facteur_message::report::{self, Action, Failure, Report, ReportKind};
use facteur_store::identity::{Suppression, SuppressionReason};
use facteur_store::inbound::{InboundReport, LateEvent, RecipientRef};
use facteur_store::{EventKind, RcptOutcome, RcptStatus, RemoteReply};

use crate::core::Core;
use crate::time::now_ms;

/// How long what the bounce domain received is kept (its record, and the message when kept).
pub const KEEP_REPORTS_MS: i64 = 30 * 86_400_000;

/// What to do with one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `bounce`, `delayed`, `complaint`, `auto-reply`, `not-a-bounce`.
    pub kind: &'static str,
    /// For people: what was done, or why nothing was.
    pub outcome: String,
    pub event: Option<LateEvent>,
    pub suppress: Option<SuppressionReason>,
    /// Keep the raw message (nothing was recorded about a recipient).
    pub keep: bool,
}

fn kind_name(k: ReportKind) -> &'static str {
    match k {
        ReportKind::Bounce => "bounce",
        ReportKind::Complaint => "complaint",
        ReportKind::AutoReply => "auto-reply",
        ReportKind::NotABounce => "not-a-bounce",
    }
}

/// The failure that is about `address`: the one naming it, else the only one (forwarding
/// changes the address a server reports), else none.
fn failure_for<'a>(failures: &'a [Failure], address: &str) -> Option<&'a Failure> {
    failures
        .iter()
        .find(|f| f.address.eq_ignore_ascii_case(address))
        .or(match failures {
            [only] => Some(only),
            _ => None,
        })
}

/// The reply code at the start of a diagnostic (`550 5.1.1 …`, `smtp; 550 …`), if any.
fn reply_code(diagnostic: &str) -> u16 {
    let text = diagnostic
        .trim_start()
        .strip_prefix("smtp;")
        .unwrap_or(diagnostic)
        .trim_start();
    match text.get(..3).and_then(|c| c.parse::<u16>().ok()) {
        Some(c)
            if (200..600).contains(&c)
                && !text[3..].starts_with(|ch: char| ch.is_ascii_digit()) =>
        {
            c
        }
        _ => 0,
    }
}

/// What a report means for the recipient its return path named (`None`: it named none of ours).
pub fn decide(report: &Report, rcpt: Option<&RecipientRef>) -> Decision {
    let mut d = Decision {
        kind: kind_name(report.kind),
        outcome: String::new(),
        event: None,
        suppress: None,
        keep: true,
    };
    match report.kind {
        ReportKind::AutoReply => {
            d.outcome = "an automatic reply (out of office, challenge): nothing to record".into();
            return d;
        }
        ReportKind::NotABounce => {
            d.outcome = "neither a bounce nor a complaint: nothing recorded".into();
            return d;
        }
        _ => {}
    }
    let Some(rcpt) = rcpt else {
        d.outcome =
            "names none of this server's recipients (no valid VERP return path): nothing recorded"
                .into();
        return d;
    };
    if report.kind == ReportKind::Complaint {
        let c = report.complaint.clone().unwrap_or_default();
        let source = if c.source.is_empty() {
            "a feedback loop".to_string()
        } else {
            c.source.clone()
        };
        let feedback = if c.feedback_type.is_empty() {
            "abuse"
        } else {
            c.feedback_type.as_str()
        };
        d.outcome = format!(
            "{} complained ({feedback}) through {source}: spam event, address suppressed",
            rcpt.address
        );
        d.event = Some(LateEvent {
            kind: EventKind::Spam,
            outcome: RcptOutcome {
                recipient_id: rcpt.id,
                address: rcpt.address.clone(),
                status: rcpt.status,
                detail: format!("reported as spam ({feedback}) through {source}"),
                enhanced: String::new(),
                remote: Some(RemoteReply {
                    host: source,
                    code: 0,
                    line: String::new(),
                }),
                class: None,
            },
        });
        d.suppress = Some(SuppressionReason::Complaint);
        d.keep = false;
        return d;
    }
    let Some(f) = failure_for(&report.failures, &rcpt.address) else {
        d.outcome = format!(
            "a bounce that names {} recipients, none of them {}: nothing recorded",
            report.failures.len(),
            rcpt.address
        );
        return d;
    };
    if f.action == Action::Delayed {
        d.kind = "delayed";
        d.keep = false;
        d.outcome = format!(
            "delivery to {} is delayed ({}), still being tried by the remote server: nothing recorded",
            rcpt.address,
            f.status.as_deref().unwrap_or("no status")
        );
        return d;
    }
    if rcpt.status == RcptStatus::Bounced {
        d.keep = false;
        d.outcome = format!(
            "{} had already bounced: nothing more recorded",
            rcpt.address
        );
        return d;
    }
    let severity = f.severity();
    let host = f.remote_mta.clone().unwrap_or_default();
    let said = if host.is_empty() {
        "the remote server".to_string()
    } else {
        host.clone()
    };
    let enhanced = f.status.clone().unwrap_or_else(|| "5.0.0".into());
    d.keep = false;
    // Soft: only a mailbox that stays full counts (a delay or a connection says nothing of
    // the address).
    d.suppress = match severity {
        Severity::Hard => Some(SuppressionReason::HardBounce),
        Severity::Soft if f.class == facteur_message::outcome::BounceClass::MailboxFull => {
            Some(SuppressionReason::SoftBounce)
        }
        Severity::Soft | Severity::Policy => None,
    };
    d.outcome = format!(
        "{} bounced after it was sent ({}, {}): {said} said {}",
        rcpt.address,
        enhanced,
        f.class.as_str(),
        f.diagnostic
    );
    d.event = Some(LateEvent {
        kind: EventKind::Bounced,
        outcome: RcptOutcome {
            recipient_id: rcpt.id,
            address: rcpt.address.clone(),
            status: RcptStatus::Bounced,
            detail: format!("bounced after it was sent: {said} said: {}", f.diagnostic),
            enhanced,
            remote: Some(RemoteReply {
                host,
                code: reply_code(&f.diagnostic),
                line: f.diagnostic.clone(),
            }),
            class: Some(f.class),
        },
    });
    d
}

impl Core {
    /// Reads and records one message received at the bounce domain; returns its report's id
    /// (the queue id the SMTP reply gives). `Err` only when the store cannot take it: the
    /// sender is then told to try again (451), nothing is lost.
    pub async fn receive_report(
        &self,
        peer: &str,
        mail_from: &str,
        rcpts: &[String],
        body: Vec<u8>,
    ) -> Result<i64, facteur_store::Error> {
        let now = now_ms();
        let (report, body) = tokio::task::spawn_blocking(move || (report::parse(&body), body))
            .await
            .map_err(|e| facteur_store::Error::Unavailable(e.to_string()))?;
        // The envelope recipient is the return path we gave; a feedback loop writes to a fixed
        // address, but the message it returns still carries its return path.
        let named = self.verp.as_ref().and_then(|v| {
            v.find(
                rcpts
                    .iter()
                    .map(String::as_str)
                    .chain(report.addressed_to.iter().map(String::as_str))
                    .chain(report.original_return_path.as_deref()),
            )
        });
        let mut rcpt = match named {
            Some(id) => self.store.recipient_ref(id).await?,
            None => None,
        };
        // A DSN may come back before the attempt that sent the message is recorded: give the
        // record a moment, so that the bounce comes after `sent`, not before it.
        for _ in 0..30 {
            match &rcpt {
                Some(r) if !r.status.is_final() => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    rcpt = self.store.recipient_ref(r.id).await?;
                }
                _ => break,
            }
        }
        let d = decide(&report, rcpt.as_ref());
        let row = InboundReport {
            id: 0,
            received_at: now,
            peer: peer.to_string(),
            mail_from: mail_from.to_string(),
            rcpt_to: rcpts.join(", "),
            kind: d.kind.to_string(),
            outcome: d.outcome.clone(),
            account_id: rcpt.as_ref().and_then(|r| r.account_id),
            message_id: rcpt.as_ref().map(|r| r.message_id),
            recipient_id: rcpt.as_ref().map(|r| r.id),
            raw: d.keep.then_some(body),
        };
        let event = match (&rcpt, &d.event) {
            (Some(r), Some(e)) => Some((r, e)),
            _ => None,
        };
        let (id, recorded) = self.store.record_inbound(&row, event).await?;
        tracing::info!(report = id, kind = d.kind, peer, outcome = %d.outcome, "bounce-domain mail read");
        // Not for the same bounce received twice (it was recorded once).
        if let (true, Some(r), Some(reason), Some(e)) = (recorded, &rcpt, d.suppress, &d.event) {
            self.suppress_after(
                r.account_id,
                &r.address,
                reason,
                &e.outcome.detail,
                Some(r.message_id),
                now,
            )
            .await;
        }
        Ok(id)
    }

    /// Puts an address on its account's suppression list after a bounce or a complaint
    /// (soft bounces are counted first). A failure is logged: the event is already stored,
    /// and the next bounce will try again.
    pub async fn suppress_after(
        &self,
        account_id: Option<i64>,
        address: &str,
        reason: SuppressionReason,
        detail: &str,
        message_id: Option<i64>,
        now: i64,
    ) {
        let Some(account_id) = account_id else {
            return;
        };
        let result = if reason == SuppressionReason::SoftBounce {
            let cfg = &self.cfg;
            match self
                .store
                .record_soft_bounce(
                    account_id,
                    address,
                    detail,
                    message_id,
                    cfg.soft_bounce_threshold,
                    cfg.soft_bounce_span.as_millis() as i64,
                    cfg.soft_bounce_expiry.as_millis() as i64,
                    now,
                )
                .await
            {
                Ok(true) => {
                    self.suppressing
                        .write()
                        .expect("suppression lock")
                        .insert(account_id);
                    Ok(())
                }
                other => other.map(|_| ()),
            }
        } else {
            self.suppress(&Suppression {
                account_id,
                address: address.to_string(),
                reason,
                detail: detail.to_string(),
                message_id,
                failures: 1,
                first_at: now,
                updated_at: now,
                expires_at: None,
                active: true,
            })
            .await
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, rcpt = %address, reason = reason.as_str(), "cannot add the address to the suppression list");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use facteur_message::outcome::BounceClass;

    fn rcpt(status: RcptStatus) -> RecipientRef {
        RecipientRef {
            id: 42,
            message_id: 7,
            account_id: Some(1),
            address: "someone@example.net".into(),
            status,
            unsubscribed: false,
        }
    }

    fn bounce(failures: Vec<Failure>) -> Report {
        Report {
            kind: ReportKind::Bounce,
            failures,
            complaint: None,
            addressed_to: vec![],
            original_return_path: None,
            original_message_id: None,
        }
    }

    fn failure(address: &str, action: Action, status: &str, class: BounceClass) -> Failure {
        Failure {
            address: address.into(),
            action,
            status: Some(status.into()),
            class,
            remote_mta: Some("mx.example.net".into()),
            diagnostic: format!("550 {status} no such user"),
        }
    }

    #[test]
    fn a_hard_bounce_bounces_the_recipient_and_suppresses_it() {
        let r = bounce(vec![failure(
            "Someone@example.net",
            Action::Failed,
            "5.1.1",
            BounceClass::UserUnknown,
        )]);
        let d = decide(&r, Some(&rcpt(RcptStatus::Sent)));
        assert_eq!(d.kind, "bounce");
        assert_eq!(d.suppress, Some(SuppressionReason::HardBounce));
        assert!(!d.keep);
        let e = d.event.unwrap();
        assert_eq!(e.kind, EventKind::Bounced);
        assert_eq!(e.outcome.enhanced, "5.1.1");
        assert_eq!(e.outcome.class, Some(BounceClass::UserUnknown));
        let remote = e.outcome.remote.unwrap();
        assert_eq!((remote.host.as_str(), remote.code), ("mx.example.net", 550));
    }

    #[test]
    fn soft_policy_delayed_and_repeated_bounces() {
        let soft = bounce(vec![failure(
            "someone@example.net",
            Action::Failed,
            "5.2.2",
            BounceClass::MailboxFull,
        )]);
        assert_eq!(
            decide(&soft, Some(&rcpt(RcptStatus::Sent))).suppress,
            Some(SuppressionReason::SoftBounce)
        );
        let policy = bounce(vec![failure(
            "someone@example.net",
            Action::Failed,
            "5.7.1",
            BounceClass::Spam,
        )]);
        let d = decide(&policy, Some(&rcpt(RcptStatus::Sent)));
        assert!(d.event.is_some() && d.suppress.is_none());
        let delayed = bounce(vec![failure(
            "someone@example.net",
            Action::Delayed,
            "4.4.7",
            BounceClass::Connection,
        )]);
        let d = decide(&delayed, Some(&rcpt(RcptStatus::Sent)));
        assert_eq!((d.kind, d.event.is_none()), ("delayed", true));
        let d = decide(&soft, Some(&rcpt(RcptStatus::Bounced)));
        assert!(d.event.is_none() && d.outcome.contains("already"));
    }

    #[test]
    fn what_names_nobody_is_kept_for_an_operator() {
        let r = bounce(vec![failure(
            "a@example.net",
            Action::Failed,
            "5.1.1",
            BounceClass::UserUnknown,
        )]);
        let d = decide(&r, None);
        assert!(d.keep && d.event.is_none() && d.suppress.is_none());
        // Two failures, neither the recipient's: which one is it about? Nothing is guessed.
        let two = bounce(vec![
            failure(
                "a@example.net",
                Action::Failed,
                "5.1.1",
                BounceClass::UserUnknown,
            ),
            failure(
                "b@example.net",
                Action::Failed,
                "5.1.1",
                BounceClass::UserUnknown,
            ),
        ]);
        assert!(decide(&two, Some(&rcpt(RcptStatus::Sent))).keep);
        let mut auto = bounce(vec![]);
        auto.kind = ReportKind::AutoReply;
        let d = decide(&auto, Some(&rcpt(RcptStatus::Sent)));
        assert!(d.keep && d.event.is_none());
    }

    #[test]
    fn a_complaint_is_a_spam_event_with_its_source() {
        let mut r = bounce(vec![]);
        r.kind = ReportKind::Complaint;
        r.complaint = Some(report::Complaint {
            feedback_type: "abuse".into(),
            recipient: Some("someone@example.net".into()),
            source: "Yahoo! Mail AntiSpam Feedback Loop".into(),
            source_ip: None,
        });
        let d = decide(&r, Some(&rcpt(RcptStatus::Sent)));
        assert_eq!(d.suppress, Some(SuppressionReason::Complaint));
        let e = d.event.unwrap();
        assert_eq!(e.kind, EventKind::Spam);
        assert_eq!(
            e.outcome.remote.unwrap().host,
            "Yahoo! Mail AntiSpam Feedback Loop"
        );
    }

    #[test]
    fn reply_codes_are_read_from_diagnostics() {
        assert_eq!(reply_code("smtp; 550 5.1.1 <a@b> no such user"), 550);
        assert_eq!(reply_code("452 4.2.2 over quota"), 452);
        assert_eq!(reply_code("5501 weird"), 0);
        assert_eq!(reply_code("user unknown"), 0);
        assert_eq!(reply_code(""), 0);
    }
}
