//! `submit`: the one accept pipeline. Every message Facteur takes in goes through it: mail
//! received over SMTP, `/v3.1/send`, a template's test send, the report of a template error and
//! the bounces (DSNs) Facteur writes itself. Its stages, in order:
//!
//! 1. **authorise**: the sending key is still active (an SMTP session that authenticated before
//!    a suspension), and it may set `Sender`;
//! 2. **screen**: the [`Hooks::screen`](crate::hooks::Hooks) hooks (limits), then the
//!    suppression lists: a listed recipient is recorded `blocked` (`preblocked`), not sent;
//! 3. **render**: the stored template and the templating language ([`crate::render`]);
//! 4. **compose**: MIME built (`Draft`) or completed (`Raw`: trace header, Message-ID, Date),
//!    size checked against `max_message_size`;
//! 5. **track** then **sign**: the [`Hooks::track`] and [`Hooks::sign`] hooks (DKIM signs the
//!    bytes that leave, tracking marks included);
//! 6. **spool**: durably, through the group commit (the 250 / 200 comes after this);
//! 7. **notify**: metrics, the scheduler's wake-up, and what follows from a template error (the
//!    bounce of a blocked SMTP message, the error report), each a submission of its own.
//!
//! [`Core::prepare`] runs stages 1–5 only: the scheduler spools a DSN in the same transaction as
//! the attempt that caused it.
//!
//! [`Hooks::sign`]: crate::hooks::Hooks::sign
//! [`Hooks::track`]: crate::hooks::Hooks::track

use std::sync::Arc;

use facteur_mailjet::mj_headers::{parts as mj_parts, replace_body};
use facteur_mailjet::send::add_url_tags;
use facteur_mailjet::{MailjetOptions, TemplateRef};
use facteur_message::compose::{Attachment, Composed, Mailbox, compose, mime_body};
use facteur_message::tracking::{has_unsub_placeholder, message_has_unsub_placeholder};
use facteur_message::{
    Dsn, DsnAction, DsnRecipient, ReceivedInfo, build_dsn, header_value, normalize_on_accept,
};
use facteur_store::{MessageMeta, NewMessage, SpoolReceipt};

pub use crate::submission::{
    Accepted, Authority, Content, Draft, Origin, Problem, SmtpTrace, Submission, SubmitError,
};

use crate::core::Core;
use crate::hooks::{Outgoing, Screening};
use crate::metrics::Metrics;
use crate::render::{self, CompiledTemplate, OwnedParts, PartError, Rendered};
use crate::time::now_ms;

/// A message through every stage before the spool: ready to be stored.
pub struct Prepared {
    pub message: NewMessage,
    origin: Origin,
    /// The template errors, for the report and the bounce.
    errors: Vec<PartError>,
    report_to: Option<Mailbox>,
}

/// A message as a bounce reports it.
pub struct Original<'a> {
    pub id: i64,
    pub account_id: Option<i64>,
    /// Its envelope sender: where the bounce goes.
    pub mail_from: &'a str,
    /// Unix milliseconds.
    pub created_at: i64,
    pub body: &'a [u8],
}

impl Core {
    /// Accepts a message: every stage, then the durable spool. `Ok` only once it is stored.
    pub async fn submit(&self, submission: Submission) -> Result<Accepted, SubmitError> {
        let sandbox = submission.sandbox;
        let prepared = self.prepare(submission).await?;
        let blocked = prepared
            .message
            .meta
            .blocked
            .as_ref()
            .map(|b| b.reason.clone());
        if sandbox {
            return Ok(Accepted {
                receipt: SpoolReceipt {
                    message_id: 0,
                    recipients: Vec::new(),
                },
                blocked,
            });
        }
        let Prepared {
            message,
            origin,
            errors,
            report_to,
        } = prepared;
        // The report and the bounce attach the message: keep a copy only when one is sent.
        let bounce_sender = match &origin {
            Origin::Smtp(_) if blocked.is_some() && !message.mail_from.is_empty() => {
                Some((message.mail_from.clone(), message.recipients.clone()))
            }
            _ => None,
        };
        let keep = (report_to.is_some() && !errors.is_empty()) || bounce_sender.is_some();
        let original = keep.then(|| message.body.clone());
        let (account_id, subject, created_at) = (
            message.account_id,
            message.meta.subject.clone(),
            message.now,
        );
        let receipt = self.writer.spool_receipt(message).await?;
        Metrics::inc(&self.metrics.messages_accepted_total);
        match &blocked {
            None => self.queue_wakeup.notify_one(),
            Some(reason) => {
                tracing::info!(msg_id = receipt.message_id, reason = %reason, "message blocked: it will not be delivered");
            }
        }
        if let (Some((mail_from, rcpts)), Some(body), Some(reason)) =
            (bounce_sender, &original, &blocked)
        {
            // Over SMTP there is no response body to carry it: the sender learns it by mail.
            let diagnostic = format!("blocked by {}: {reason}", self.cfg.hostname);
            let recipients = rcpts
                .into_iter()
                .map(|address| DsnRecipient {
                    address,
                    action: DsnAction::Failed,
                    status: "5.6.0".into(),
                    remote_mta: None,
                    diagnostic: diagnostic.clone(),
                })
                .collect();
            let original = Original {
                id: receipt.message_id,
                account_id,
                mail_from: &mail_from,
                created_at,
                body,
            };
            let bounce = self.bounce(&original, recipients, now_ms());
            match Box::pin(self.submit(bounce)).await {
                Ok(_) => Metrics::inc(&self.metrics.dsn_generated_total),
                Err(e) => {
                    tracing::error!(error = %e, msg_id = receipt.message_id, "cannot spool the bounce of a blocked message")
                }
            }
        }
        if let (Some(to), Some(body)) = (report_to.filter(|_| !errors.is_empty()), &original) {
            let report = self.error_report(account_id, to, &subject, &errors, body);
            if let Err(e) = Box::pin(self.submit(report)).await {
                tracing::error!(error = %e, "cannot spool the template error report");
            }
        }
        Ok(Accepted { receipt, blocked })
    }

    /// Every stage before the spool: authorise, screen, render, compose, sign, track.
    pub async fn prepare(&self, submission: Submission) -> Result<Prepared, SubmitError> {
        let Submission {
            account_id,
            authority,
            origin,
            mail_from,
            mut recipients,
            content,
            mut options,
            sandbox: _,
        } = submission;
        let now = now_ms();

        // 1. Authorise.
        if authority.recheck_active
            && let Some(id) = account_id
            && !self.store.account_active(id).await?
        {
            return Err(SubmitError::Invalid(vec![Problem::Suspended]));
        }
        let mut problems = Vec::new();
        if let Content::Draft(d) = &content
            && d.sender.is_some()
            && !authority.may_set_sender
        {
            problems.push(Problem::SenderNotAllowed);
        }
        if let (Origin::SendApi, Some(c)) = (&origin, &options.monitoring_category) {
            // No monitoring categories exist yet: every one the Send API names is unknown
            // (over SMTP, Mailjet's header is read and ignored).
            problems.push(Problem::UnknownMonitoringCategory(c.clone()));
        }

        // 2. Screen.
        let screening_from = mail_from.clone().unwrap_or_default();
        let view = Screening {
            account_id,
            origin: &origin,
            mail_from: &screening_from,
            options: &options,
        };
        for hook in &self.hooks.screen {
            if let Err(p) = hook.screen(&view, &mut recipients) {
                problems.push(p);
            }
        }

        // The suppression lists (the account's and the global one): these recipients are
        // recorded blocked, the others are sent to. An unsubscription stops marketing mail
        // only: whether this message is marketing is known once it is rendered.
        let suppressed: Vec<(String, String, bool)> =
            if origin.is_user_content() && self.may_suppress(account_id) {
                self.store
                    .suppressed(account_id, &recipients, now)
                    .await?
                    .into_iter()
                    .map(|s| {
                        let list = if s.account_id == facteur_store::identity::GLOBAL {
                            "the global suppression list"
                        } else {
                            "the account's suppression list"
                        };
                        let why = format!("preblocked: on {list} ({})", s.reason.as_str());
                        let marketing_only =
                            s.reason == facteur_store::identity::SuppressionReason::Unsubscribe;
                        (s.address, why, marketing_only)
                    })
                    .collect()
            } else {
                Vec::new()
            };

        // 3. Render.
        let template = match (&options.template, account_id) {
            (None, _) => None,
            (Some(_), None) => {
                problems.push(Problem::NeedsAccount);
                None
            }
            (Some(reference), Some(account)) => match self.template(account, reference).await {
                Ok(t) => Some(t),
                Err(facteur_store::Error::NotFound) => {
                    problems.push(Problem::TemplateNotFound(reference.clone()));
                    None
                }
                Err(e) => return Err(SubmitError::Unavailable(e)),
            },
        };
        if options.template_language && account_id.is_none() && options.template.is_none() {
            problems.push(Problem::NeedsAccount);
        }
        let (body, subject, mail_from, errors, marketing) = match content {
            Content::Draft(mut draft) => {
                if let Some(t) = &template
                    && draft.html.is_some()
                    && !t.content.html.is_empty()
                {
                    problems.push(Problem::HtmlWithTemplate);
                }
                let from = draft
                    .from
                    .take()
                    .or_else(|| template.as_ref().and_then(|t| t.from()));
                if from.is_none() {
                    problems.push(Problem::NoFrom);
                }
                if let Some(f) = &from {
                    let senders: Vec<String> =
                        draft.sender.iter().map(|s| s.email.clone()).collect();
                    problems.extend(crate::senders::sender_problems(
                        &self.senders,
                        account_id,
                        &origin,
                        std::slice::from_ref(&f.email),
                        &senders,
                    ));
                }
                let Some(from) = from.filter(|_| problems.is_empty()) else {
                    return Err(SubmitError::Invalid(problems));
                };
                let contact = draft.to.first().map(|m| m.email.clone());
                let rendered = self
                    .render(
                        template.clone(),
                        OwnedParts {
                            subject: draft.subject.take(),
                            html: draft.html.take(),
                            text: draft.text.take(),
                        },
                        &mut options,
                        account_id,
                        contact.as_deref(),
                    )
                    .await;
                let marketing = template.as_ref().is_some_and(|t| t.marketing)
                    || has_unsub_placeholder(rendered.html.as_bytes())
                    || has_unsub_placeholder(rendered.text.as_bytes());
                let reply_to = draft
                    .reply_to
                    .take()
                    .or_else(|| template.as_ref().and_then(|t| t.reply_to()));
                // 4. Compose.
                let html = add_url_tags(&rendered.html, &options.url_tags);
                let raw = compose(&Composed {
                    from: Some(&from),
                    sender: draft.sender.as_ref(),
                    to: &draft.to,
                    cc: &draft.cc,
                    reply_to: reply_to.as_ref(),
                    subject: &rendered.subject,
                    text: &rendered.text,
                    html: &html,
                    message_id: &self.new_message_id(),
                    date: now / 1000,
                    headers: &draft.headers,
                    attachments: &draft.attachments,
                    inline: &draft.inline,
                });
                let mail_from = mail_from
                    .unwrap_or_else(|| draft.sender.as_ref().unwrap_or(&from).email.clone());
                (raw, rendered.subject, mail_from, rendered.errors, marketing)
            }
            Content::Raw(body) => {
                // The From header's address (the envelope sender when there is none), read
                // only for an account that enforces sender validation.
                // Every address of the From header is checked; one that cannot be read, or two
                // From fields, are refused; with no From at all, the envelope sender is.
                if account_id.is_some_and(|a| self.senders.enforces(a)) {
                    let from =
                        facteur_message::header_mailboxes(&body, "from").unwrap_or_else(|| {
                            mail_from
                                .iter()
                                .filter(|m| !m.is_empty())
                                .cloned()
                                .collect()
                        });
                    let sender =
                        facteur_message::header_mailboxes(&body, "sender").unwrap_or_default();
                    problems.extend(crate::senders::sender_problems(
                        &self.senders,
                        account_id,
                        &origin,
                        &from,
                        &sender,
                    ));
                }
                if !problems.is_empty() {
                    return Err(SubmitError::Invalid(problems));
                }
                let template_marketing = template.as_ref().is_some_and(|t| t.marketing);
                let (body, errors, placeholders) = if options.renders() {
                    // The first address of the To header (never a Bcc recipient's, which
                    // the others would see).
                    let contact = facteur_message::header_mailboxes(&body, "to")
                        .and_then(|to| to.into_iter().next());
                    self.render_raw(template, body, &mut options, account_id, contact.as_deref())
                        .await
                } else {
                    // Read decoded when a part is encoded (a quoted-printable soft break or
                    // base64 hides a placeholder from the raw bytes).
                    let found = origin.is_user_content()
                        && account_id.is_some()
                        && message_has_unsub_placeholder(&body);
                    (body, Vec::new(), found)
                };
                // 4. Compose: trace header on mail received over SMTP, Message-ID and Date
                // when missing.
                let body = match &origin {
                    Origin::Smtp(trace) => normalize_on_accept(
                        &body,
                        &ReceivedInfo {
                            helo: &trace.helo,
                            peer_ip: &trace.peer_ip,
                            hostname: &self.cfg.hostname,
                            esmtp: trace.esmtp,
                            tls: trace.tls,
                            authenticated: trace.authenticated,
                            now: now / 1000,
                        },
                        || self.new_message_id(),
                    ),
                    _ => body,
                };
                let subject = header_value(&body, "subject").unwrap_or_default();
                (
                    body,
                    subject,
                    mail_from.unwrap_or_default(),
                    errors,
                    template_marketing || placeholders,
                )
            }
        };
        if origin.is_user_content() && body.len() > self.cfg.max_message_size {
            // A template can make a message larger than what was read: the limit holds on
            // what would be delivered.
            return Err(SubmitError::TooBig {
                size: body.len(),
                limit: self.cfg.max_message_size,
            });
        }

        // 5. Track, then sign. Opens and clicks are rewritten per recipient at delivery, and
        // such a message is signed there, over the bytes that leave (`Core::personalise`).
        let marketing = marketing && origin.is_user_content() && account_id.is_some();
        let preblocked: Vec<(String, String)> = suppressed
            .into_iter()
            .filter(|(_, _, marketing_only)| marketing || !marketing_only)
            .map(|(address, why, _)| (address, why))
            .collect();
        let tracking = self.tracking_of(account_id, &origin, &options, marketing);
        let mut body = body;
        let sign: &[Arc<dyn crate::hooks::Rewrite>] =
            if tracking == 0 { &self.hooks.sign } else { &[] };
        for hook in self.hooks.track.iter().chain(sign) {
            let mut outgoing = Outgoing {
                account_id,
                origin: &origin,
                options: &options,
                mail_from: &mail_from,
                recipients: &recipients,
                body: &mut body,
            };
            hook.rewrite(&mut outgoing)
                .map_err(|p| SubmitError::Invalid(vec![p]))?;
        }

        let blocked = render::blocked_reason(&errors, options.error_deliver);
        let MailjetOptions {
            custom_id,
            event_payload,
            campaign,
            priority,
            error_reporting,
            ..
        } = options;
        Ok(Prepared {
            message: NewMessage {
                account_id,
                mail_from,
                recipients,
                body,
                priority,
                now,
                expires_at: self.expiry(now),
                meta: MessageMeta {
                    custom_id,
                    event_payload,
                    campaign,
                    subject,
                    blocked,
                    preblocked,
                    tracking,
                },
            },
            origin,
            errors,
            report_to: error_reporting,
        })
    }

    /// The account's published template, by id or by name.
    async fn template(
        &self,
        account_id: i64,
        reference: &TemplateRef,
    ) -> Result<Arc<CompiledTemplate>, facteur_store::Error> {
        let id = match reference {
            TemplateRef::Id(id) => *id,
            TemplateRef::Name(name) => self.store.template_id_by_name(account_id, name).await?,
        };
        self.templates.get(&self.store, account_id, id).await
    }

    /// A message's own parts (a draft's, or those read from a whole message) with the
    /// template applied and the language rendered for `contact`.
    async fn render(
        &self,
        template: Option<Arc<CompiledTemplate>>,
        own: OwnedParts,
        options: &mut MailjetOptions,
        account_id: Option<i64>,
        contact: Option<&str>,
    ) -> Rendered {
        let activity = self
            .activity(options, template.as_deref(), &own, account_id, contact)
            .await;
        render::render_message_blocking(
            template,
            own,
            std::mem::take(&mut options.vars),
            render::Audience::of(contact, activity),
            options.template_language,
            &self.cfg.template_limits,
        )
        .await
    }

    /// What HasOpenedSince / HasClickedSince answer for the message's (first) recipient: read
    /// from the contact's activity only when the language is on and a part calls them. A
    /// store that cannot answer counts as no activity (the message is not held up).
    async fn activity(
        &self,
        options: &MailjetOptions,
        template: Option<&CompiledTemplate>,
        own: &OwnedParts,
        account_id: Option<i64>,
        contact: Option<&str>,
    ) -> facteur_template::Activity {
        let (Some(account), Some(contact), true) = (account_id, contact, options.template_language)
        else {
            return Default::default();
        };
        let called = template.is_some_and(|t| t.reads_activity)
            || [&own.subject, &own.html, &own.text].iter().any(|p| {
                p.as_deref()
                    .is_some_and(|s| render::calls(s, render::ACTIVITY_FUNCTIONS))
            });
        if !called {
            return Default::default();
        }
        match self.store.contact_activity(account, contact).await {
            Ok((opened, clicked)) => {
                let now = now_ms();
                let days = |t: Option<i64>| t.map(|t| (now - t).max(0) / 86_400_000);
                facteur_template::Activity {
                    opened_days_ago: days(opened),
                    clicked_days_ago: days(clicked),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the contact's activity: HasOpenedSince and HasClickedSince answer false");
                Default::default()
            }
        }
    }

    /// A whole message with its template applied: X-MJ-TemplateID's content (or the message's
    /// own parts) rendered with X-MJ-Vars when X-MJ-TemplateLanguage is on, as a new body under
    /// the message's own headers.
    async fn render_raw(
        &self,
        template: Option<Arc<CompiledTemplate>>,
        body: Vec<u8>,
        options: &mut MailjetOptions,
        account_id: Option<i64>,
        contact: Option<&str>,
    ) -> (Vec<u8>, Vec<PartError>, bool) {
        let mut parts = mj_parts(&body);
        let own = OwnedParts {
            subject: parts.subject.take(),
            html: parts.html.take(),
            text: parts.text.take(),
        };
        let Rendered {
            subject,
            html,
            text,
            errors,
        } = self
            .render(template, own, options, account_id, contact)
            .await;
        let placeholders =
            has_unsub_placeholder(html.as_bytes()) || has_unsub_placeholder(text.as_bytes());
        let html = add_url_tags(&html, &options.url_tags);
        let new_body = mime_body(&text, &html, &parts.attachments, &parts.inline);
        let subject = (!subject.is_empty()).then_some(subject.as_str());
        (replace_body(&body, subject, new_body), errors, placeholders)
    }

    /// The bounce (RFC 3464 DSN, null sender) telling `original`'s sender about `recipients`:
    /// for failed deliveries, and for messages blocked at accept.
    pub fn bounce(
        &self,
        original: &Original<'_>,
        recipients: Vec<DsnRecipient>,
        now: i64,
    ) -> Submission {
        let dsn = Dsn {
            reporting_mta: &self.cfg.hostname,
            original_sender: original.mail_from,
            original_envelope_id: original.id,
            arrival_date: original.created_at / 1000,
            now: now / 1000,
            recipients,
            original_message: original.body,
            message_id: self.new_message_id(),
            boundary: format!("dsn-{}", uuid::Uuid::now_v7().simple()),
        };
        Submission::new(
            original.account_id,
            Origin::Bounce,
            Some(String::new()),
            vec![original.mail_from.to_string()],
            Content::Raw(build_dsn(&dsn)),
        )
    }

    /// The report Mailjet sends to `TemplateErrorReporting`: the errors in the body, the
    /// message as it would have been sent attached.
    fn error_report(
        &self,
        account_id: Option<i64>,
        to: Mailbox,
        subject: &str,
        errors: &[PartError],
        original: &[u8],
    ) -> Submission {
        let from = Mailbox {
            name: "Facteur templating language".into(),
            email: format!("templating-language-error@{}", self.cfg.hostname),
        };
        let mut text = format!(
            "The templating language could not be evaluated for the message \"{subject}\".\r\n\r\n"
        );
        for e in errors {
            text.push_str(&format!("- {e}\r\n"));
        }
        text.push_str("\r\nThe message as it was to be sent is attached.\r\n");
        let recipients = vec![to.email.clone()];
        let draft = Draft {
            from: Some(from),
            to: vec![to],
            subject: Some(format!(
                "Error while evaluating Mailjet Templating language for message \"{subject}\""
            )),
            text: Some(text),
            attachments: vec![Attachment {
                content_type: "message/rfc822".into(),
                filename: "original-message.eml".into(),
                content: original.to_vec(),
                content_id: None,
            }],
            ..Draft::default()
        };
        Submission::new(
            account_id,
            Origin::ErrorReport,
            Some(String::new()),
            recipients,
            Content::Draft(Box::new(draft)),
        )
    }
}
