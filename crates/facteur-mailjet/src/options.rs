//! The options Mailjet lets a sender give with a message, once: the Send API's properties and
//! the SMTP relay's `X-MJ-*` / `X-Mailjet-*` headers both become a [`MailjetOptions`], which
//! Facteur's accept pipeline reads (template, variables, tracking, priority, identifiers).

use facteur_message::compose::Mailbox;
use serde_json::{Map, Value};

/// Priority when none is given (Mailjet's default).
pub const PRIORITY_DEFAULT: i32 = 2;

/// `TrackOpens` / `TrackClicks`, `X-Mailjet-TrackOpen` / `X-Mailjet-TrackClick`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tracking {
    #[default]
    AccountDefault,
    Disabled,
    Enabled,
}

/// A stored template, by id (`TemplateID`, or a numeric `X-MJ-TemplateID`) or by name (a
/// non-numeric `X-MJ-TemplateID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateRef {
    Id(i64),
    Name(String),
}

impl std::fmt::Display for TemplateRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TemplateRef::Id(id) => write!(f, "{id}"),
            TemplateRef::Name(name) => write!(f, "{name}"),
        }
    }
}

/// Every Mailjet option of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct MailjetOptions {
    pub template: Option<TemplateRef>,
    /// `TemplateLanguage` / `X-MJ-TemplateLanguage`: render the parts with `vars`.
    pub template_language: bool,
    /// `Variables` / `X-MJ-Vars`: always a JSON object.
    pub vars: Value,
    /// Where the report of a template error goes (`TemplateErrorReporting`).
    pub error_reporting: Option<Mailbox>,
    /// Deliver a message whose template failed (`TemplateErrorDeliver`) instead of blocking it.
    pub error_deliver: bool,
    pub custom_id: String,
    pub event_payload: String,
    pub campaign: String,
    pub deduplicate_campaign: bool,
    pub track_opens: Tracking,
    pub track_clicks: Tracking,
    /// 0–3 (1 is sent first, last in first out), default [`PRIORITY_DEFAULT`].
    pub priority: i32,
    /// `URLTags`: query parameters added to every link of the HTML part.
    pub url_tags: String,
    pub monitoring_category: Option<String>,
}

impl Default for MailjetOptions {
    fn default() -> Self {
        MailjetOptions {
            template: None,
            template_language: false,
            vars: Value::Object(Map::new()),
            error_reporting: None,
            error_deliver: false,
            custom_id: String::new(),
            event_payload: String::new(),
            campaign: String::new(),
            deduplicate_campaign: false,
            track_opens: Tracking::AccountDefault,
            track_clicks: Tracking::AccountDefault,
            priority: PRIORITY_DEFAULT,
            url_tags: String::new(),
            monitoring_category: None,
        }
    }
}

impl MailjetOptions {
    /// Whether the message needs a render: a stored template, or the language on its own parts.
    pub fn renders(&self) -> bool {
        self.template.is_some() || self.template_language
    }
}
