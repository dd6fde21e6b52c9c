//! What a submission is and what can come of it: the message and its options, where it comes
//! from, and the problems and errors the pipeline ([`crate::submit`]) and its hooks
//! ([`crate::hooks`]) report. Types only.

use facteur_mailjet::{MailjetOptions, TemplateRef};
use facteur_message::compose::{Attachment, Mailbox};
use facteur_store::SpoolReceipt;

/// Where a message comes from: decides the trace header, the size limit and what a template
/// error leads to.
#[derive(Debug, Clone)]
pub enum Origin {
    /// Received over SMTP; the `Received` header is written from this.
    Smtp(SmtpTrace),
    /// `POST /v3.1/send`.
    SendApi,
    /// A template's test send from the API.
    TestSend,
    /// The report of a template error (`TemplateErrorReporting`).
    ErrorReport,
    /// A bounce (DSN) Facteur writes: for a failed delivery or a blocked message.
    Bounce,
    /// A message Facteur writes to a person: a sender's confirmation link.
    Notice,
}

impl Origin {
    /// Content a user gave (as opposed to Facteur's own reports): `max_message_size` holds.
    pub(crate) fn is_user_content(&self) -> bool {
        matches!(self, Origin::Smtp(_) | Origin::SendApi | Origin::TestSend)
    }
}

/// What the `Received` header of a message received over SMTP says.
#[derive(Debug, Clone)]
pub struct SmtpTrace {
    pub helo: String,
    pub peer_ip: String,
    pub esmtp: bool,
    pub tls: bool,
    pub authenticated: bool,
}

/// A message's content: whole, or parts to build it from.
#[derive(Debug, Clone)]
pub enum Content {
    /// A whole message (SMTP DATA, a DSN), its Mailjet headers already read and removed.
    Raw(Vec<u8>),
    /// Parts to compose (the Send API, test sends, reports).
    Draft(Box<Draft>),
}

/// The parts of a message to compose. `from` and `reply_to` may come from the stored template.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub from: Option<Mailbox>,
    pub sender: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub reply_to: Option<Mailbox>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub headers: Vec<(String, String)>,
    pub attachments: Vec<Attachment>,
    pub inline: Vec<Attachment>,
}

/// What the sending key was found allowed to do when it authenticated.
#[derive(Debug, Clone, Copy, Default)]
pub struct Authority {
    /// Check the account is still active (an SMTP session authenticated by AUTH: a key
    /// suspended since is refused).
    pub recheck_active: bool,
    /// The key may set `Sender` (AllowSender).
    pub may_set_sender: bool,
}

/// One message to accept.
#[derive(Debug, Clone)]
pub struct Submission {
    pub account_id: Option<i64>,
    pub authority: Authority,
    pub origin: Origin,
    /// The envelope sender; `None`: the draft's Sender, else its From. Empty for the null
    /// sender.
    pub mail_from: Option<String>,
    pub recipients: Vec<String>,
    pub content: Content,
    pub options: MailjetOptions,
    /// Run every stage but spool and notify (the Send API's `SandboxMode`).
    pub sandbox: bool,
}

impl Submission {
    /// A message Facteur sends itself, from its own address, with the null sender (nothing
    /// bounces back to a person).
    pub fn notice(content: Content) -> Submission {
        let recipients = match &content {
            Content::Draft(d) => d.to.iter().map(|m| m.email.clone()).collect(),
            Content::Raw(_) => Vec::new(),
        };
        Submission::new(
            None,
            Origin::Notice,
            Some(String::new()),
            recipients,
            content,
        )
    }

    /// A submission with no options, no account rights and no sandbox.
    pub fn new(
        account_id: Option<i64>,
        origin: Origin,
        mail_from: Option<String>,
        recipients: Vec<String>,
        content: Content,
    ) -> Submission {
        Submission {
            account_id,
            authority: Authority::default(),
            origin,
            mail_from,
            recipients,
            content,
            options: MailjetOptions::default(),
            sandbox: false,
        }
    }
}

/// Why a message cannot be accepted as it is (the SMTP reply is 550 5.6.0 or 550 5.7.1 with
/// the text; the Send API gives each its Mailjet error code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The key was suspended after the session authenticated.
    Suspended,
    /// A template (or the templating language) needs an authenticated account.
    NeedsAccount,
    TemplateNotFound(TemplateRef),
    /// `HTMLPart` given with a template that has an HTML part.
    HtmlWithTemplate,
    /// No `From`, and the template has none.
    NoFrom,
    /// `Sender` given by a key without AllowSender.
    SenderNotAllowed,
    /// The From address is not a validated sender of an account that enforces the check.
    FromNotValidated(String),
    /// The Sender address is not a validated sender either.
    SenderNotValidated(String),
    UnknownMonitoringCategory(String),
    /// Refused by a screening or rewriting hook, with its reason.
    Refused(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Suspended => write!(f, "{}", crate::auth::SUSPENDED),
            Problem::NeedsAccount => write!(
                f,
                "X-MJ-TemplateID and X-MJ-TemplateLanguage need an authenticated account"
            ),
            Problem::TemplateNotFound(TemplateRef::Id(id)) => write!(
                f,
                "Template {id} does not exist for this API key, or has no published version"
            ),
            Problem::TemplateNotFound(TemplateRef::Name(name)) => write!(
                f,
                "X-MJ-TemplateID {name}: no published template with this id or name for this account"
            ),
            Problem::HtmlWithTemplate => write!(
                f,
                "\"HTMLPart\" cannot be given with a template that has an HTML part"
            ),
            Problem::NoFrom => write!(
                f,
                "Mandatory property \"From\" is missing (give it, or a From header on the template)"
            ),
            Problem::SenderNotAllowed => write!(
                f,
                "This API key may not set \"Sender\" (AllowSender is off on /v3/REST/apikey)"
            ),
            Problem::FromNotValidated(a) => write!(
                f,
                "The From address {a} is not a validated sender of this account: add it with POST /v3/REST/sender and validate it (a confirmation link, or its domain's DNS check)"
            ),
            Problem::SenderNotValidated(a) => write!(
                f,
                "The Sender address {a} is not a validated sender of this account: add it with POST /v3/REST/sender and validate it"
            ),
            Problem::UnknownMonitoringCategory(c) => {
                write!(f, "MonitoringCategory \"{c}\" does not exist")
            }
            Problem::Refused(why) => write!(f, "{why}"),
        }
    }
}

/// Why a submission was not accepted.
#[derive(Debug)]
pub enum SubmitError {
    /// The message cannot be used as it is: every problem found.
    Invalid(Vec<Problem>),
    /// Larger than `max_message_size` once built (SMTP 552 5.3.4, Send API mj-0011).
    TooBig { size: usize, limit: usize },
    /// The store failed: a temporary failure (SMTP 451 4.3.0, HTTP 503); nothing was kept.
    Unavailable(facteur_store::Error),
}

impl From<facteur_store::Error> for SubmitError {
    fn from(e: facteur_store::Error) -> Self {
        SubmitError::Unavailable(e)
    }
}

impl std::fmt::Display for SubmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubmitError::Invalid(problems) => {
                let texts: Vec<String> = problems.iter().map(Problem::to_string).collect();
                write!(f, "{}", texts.join("; "))
            }
            SubmitError::TooBig { size, limit } => write!(
                f,
                "Message too big once its template is applied ({size} bytes, limit {limit} bytes)"
            ),
            SubmitError::Unavailable(e) => write!(f, "{e}"),
        }
    }
}

/// An accepted message: its id and each recipient's id and UUID, in the order given (empty in
/// sandbox mode), and why it will not be delivered when its template failed.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub receipt: SpoolReceipt,
    pub blocked: Option<String>,
}
