//! Mailjet's Send API v3.1 request, validated with no I/O: the JSON body becomes either a
//! global error (`mj-0002`, a bad `Messages` array…) or one [`MessageSpec`] or list of
//! [`SendError`]s per message, with Mailjet's error codes, messages and `ErrorRelatedTo`.
//! What needs the store (templates, key permissions) is checked by the caller.

use base64::Engine;
use serde_json::{Map, Value};

use facteur_message::compose::{Attachment, Mailbox};

pub use crate::options::Tracking;
use crate::options::{MailjetOptions, TemplateRef};

// The limits live in [`facteur_message::limits`], shared with the X-MJ SMTP headers and
// compose; re-exported here where they have always been.
use facteur_message::limits;
pub use facteur_message::limits::{
    MAX_ATTACHMENTS, MAX_ATTACHMENTS_BYTES, MAX_CAMPAIGN, MAX_CUSTOM_ID, MAX_EVENT_PAYLOAD,
    MAX_HEADER_NAME, MAX_HEADERS, MAX_MESSAGES, MAX_MONITORING_CATEGORY, MAX_RECIPIENTS,
    MAX_SUBJECT, MAX_URL_TAGS, MAX_VARIABLES,
};

/// Headers a message may not set through `Headers` (send-0011): Facteur or the envelope own them.
/// `MIME-Version` and `Content-*` are refused as well ([`limits::mime_header`]).
pub const FORBIDDEN_HEADERS: &[&str] = &[
    "From",
    "Sender",
    "Subject",
    "To",
    "Cc",
    "Bcc",
    "Return-Path",
    "Delivered-To",
    "DKIM-Signature",
    "DomainKey-Status",
    "Received-SPF",
    "Authentication-Results",
    "Received",
    "X-Mailjet-Prio",
    "X-Mailjet-Debug",
    "User-Agent",
    "X-Mailer",
    "X-MJ-CustomID",
    "X-MJ-EventPayload",
    "X-MJ-Vars",
    "X-MJ-TemplateErrorDeliver",
    "X-MJ-TemplateErrorReporting",
    "X-MJ-TemplateLanguage",
    "X-Mailjet-TrackOpen",
    "X-Mailjet-TrackClick",
    "X-MJ-TemplateID",
    "X-MJ-WorkflowID",
    "X-Feedback-Id",
    "X-Mailjet-Segmentation",
    "List-Id",
    "X-MJ-MID",
    "X-MJ-ErrorMessage",
    "Date",
    "X-CSA-Complaints",
    "Message-Id",
    "X-Mailjet-Campaign",
    "X-MJ-StatisticsContactsListID",
];

/// What kind of refusal an error is; the HTTP layer maps it to a status code (400, 401, 403,
/// 413, 429, 503, 500), nothing here knows HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request or message is wrong as given.
    Invalid,
    /// No credentials, wrong ones, or a suspended key.
    Unauthenticated,
    /// Authenticated, but this key may not do that.
    Forbidden,
    /// The request or the message built from it is too large.
    TooLarge,
    /// Too many failures from this client: later.
    Throttled,
    /// The server cannot do it now (the store is unavailable): nothing was sent, try again.
    Unavailable,
    /// A bug: the message was not sent.
    Internal,
}

/// One error, as Mailjet reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    /// `send-00NN` or `mj-00NN`.
    pub code: &'static str,
    pub kind: ErrorKind,
    pub message: String,
    pub related: Vec<String>,
}

impl SendError {
    pub fn new(
        code: &'static str,
        kind: ErrorKind,
        message: impl Into<String>,
        related: &[&str],
    ) -> Self {
        SendError {
            code,
            kind,
            message: message.into(),
            related: related.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// A bad-input error about one property.
    pub fn invalid(code: &'static str, message: impl Into<String>, related: &[&str]) -> Self {
        SendError::new(code, ErrorKind::Invalid, message, related)
    }

    fn at(code: &'static str, message: impl Into<String>, path: &str) -> Self {
        SendError::invalid(code, message, &[path])
    }

    pub fn malformed() -> Self {
        SendError::invalid(
            "mj-0002",
            "Malformed JSON, please review the syntax and properties types.",
            &[],
        )
    }
}

/// A message that passed validation: what it is made of, and its Mailjet options.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MessageSpec {
    pub from: Option<Mailbox>,
    pub sender: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub bcc: Vec<Mailbox>,
    pub reply_to: Option<Mailbox>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    pub inline: Vec<Attachment>,
    pub headers: Vec<(String, String)>,
    pub options: MailjetOptions,
}

impl MessageSpec {
    /// The envelope recipients: To, Cc and Bcc, each address once (case-insensitive).
    pub fn envelope_recipients(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for m in self.to.iter().chain(&self.cc).chain(&self.bcc) {
            if !out.iter().any(|a| a.eq_ignore_ascii_case(&m.email)) {
                out.push(m.email.clone());
            }
        }
        out
    }
}

/// A request: its sandbox flag and each message's outcome of validation, in order.
#[derive(Debug, Clone)]
pub struct SendRequest {
    pub sandbox: bool,
    pub messages: Vec<Result<MessageSpec, Vec<SendError>>>,
}

const MESSAGE_PROPS: &[&str] = &[
    "From",
    "Sender",
    "To",
    "Cc",
    "Bcc",
    "ReplyTo",
    "Subject",
    "TextPart",
    "HTMLPart",
    "TemplateID",
    "TemplateLanguage",
    "TemplateErrorReporting",
    "TemplateErrorDeliver",
    "Variables",
    "Attachments",
    "InlinedAttachments",
    "Headers",
    "CustomID",
    "EventPayload",
    "CustomCampaign",
    "DeduplicateCampaign",
    "TrackOpens",
    "TrackClicks",
    "Priority",
    "URLTags",
    "MonitoringCategory",
    "StatisticsContactsListID",
];

/// Parses and validates a request body.
pub fn parse_request(body: &[u8]) -> Result<SendRequest, SendError> {
    let root: Value = serde_json::from_slice(body).map_err(|_| SendError::malformed())?;
    let Value::Object(root) = root else {
        return Err(SendError::malformed());
    };
    for key in root.keys() {
        if !["Messages", "SandboxMode", "AdvanceErrorHandling", "Globals"].contains(&key.as_str()) {
            return Err(SendError::at(
                "mj-0005",
                format!("Unknown property \"{key}\"."),
                key,
            ));
        }
    }
    let sandbox = match root.get("SandboxMode") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(type_mismatch("boolean", "SandboxMode")),
    };
    if let Some(v) = root.get("AdvanceErrorHandling")
        && !v.is_boolean()
        && !v.is_null()
    {
        return Err(type_mismatch("boolean", "AdvanceErrorHandling"));
    }
    let globals = match root.get("Globals") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(g)) => g.clone(),
        Some(_) => return Err(type_mismatch("object", "Globals")),
    };
    let messages = match root.get("Messages") {
        None | Some(Value::Null) => {
            return Err(SendError::at(
                "mj-0003",
                "Mandatory property \"Messages\" is missing.",
                "Messages",
            ));
        }
        Some(Value::Array(m)) => m,
        Some(_) => return Err(type_mismatch("array of messages", "Messages")),
    };
    if messages.is_empty() {
        return Err(SendError::at(
            "mj-0007",
            "\"Messages\" must not be empty.",
            "Messages",
        ));
    }
    if messages.len() > MAX_MESSAGES {
        return Err(SendError::at(
            "mj-0008",
            format!("\"Messages\" has more than {MAX_MESSAGES} elements."),
            "Messages",
        ));
    }
    Ok(SendRequest {
        sandbox,
        messages: messages
            .iter()
            .map(|m| match m {
                Value::Object(m) => parse_message(&merge_globals(&globals, m)),
                _ => Err(vec![type_mismatch("message object", "Messages")]),
            })
            .collect(),
    })
}

/// Globals under the message: the message's own values win; `Headers` and `Variables` objects
/// are merged key by key.
fn merge_globals(globals: &Map<String, Value>, message: &Map<String, Value>) -> Map<String, Value> {
    let mut out = globals.clone();
    for (k, v) in message {
        match (out.get_mut(k), v) {
            (Some(Value::Object(g)), Value::Object(m)) if k == "Headers" || k == "Variables" => {
                for (mk, mv) in m {
                    g.insert(mk.clone(), mv.clone());
                }
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

fn type_mismatch(expected: &str, path: &str) -> SendError {
    SendError::at(
        "mj-0004",
        format!("Type mismatch. Expected type \"{expected}\"."),
        path,
    )
}

/// Collects a message's errors while reading its properties.
struct Check<'a> {
    m: &'a Map<String, Value>,
    errors: Vec<SendError>,
}

impl<'a> Check<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.m.get(key).filter(|v| !v.is_null())
    }

    fn string(&mut self, key: &str, max: Option<usize>) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => {
                if let Some(max) = max
                    && limits::too_long(s, max)
                {
                    self.errors.push(SendError::at(
                        "mj-0006",
                        format!("\"{key}\" is longer than {max} characters."),
                        key,
                    ));
                }
                Some(s.clone())
            }
            _ => {
                self.errors.push(type_mismatch("string", key));
                None
            }
        }
    }

    fn boolean(&mut self, key: &str) -> Option<bool> {
        match self.get(key)? {
            Value::Bool(b) => Some(*b),
            _ => {
                self.errors.push(type_mismatch("boolean", key));
                None
            }
        }
    }

    fn mailbox_at(&mut self, v: &Value, path: &str, expected: &str) -> Option<Mailbox> {
        let Value::Object(o) = v else {
            self.errors.push(type_mismatch(expected, path));
            return None;
        };
        let email_path = format!("{path}.Email");
        let email = match o.get("Email") {
            None | Some(Value::Null) => {
                self.errors.push(SendError::at(
                    "mj-0003",
                    "Mandatory property \"Email\" is missing.",
                    &email_path,
                ));
                return None;
            }
            Some(Value::String(s)) => s.trim().to_string(),
            Some(_) => {
                self.errors.push(type_mismatch("string", &email_path));
                return None;
            }
        };
        if email.is_empty() {
            self.errors.push(SendError::at(
                "mj-0012",
                "\"Email\" must not be an empty string.",
                &email_path,
            ));
            return None;
        }
        if !valid_email(&email) {
            self.errors.push(SendError::at(
                "mj-0013",
                format!("\"{email}\" is an invalid email address."),
                &email_path,
            ));
            return None;
        }
        let name = match o.get("Name") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                self.errors
                    .push(type_mismatch("string", &format!("{path}.Name")));
                return None;
            }
        };
        if name.contains(['\r', '\n', '\0']) {
            self.errors.push(SendError::at(
                "mj-0005",
                "\"Name\" must not contain line breaks or NUL.",
                &format!("{path}.Name"),
            ));
            return None;
        }
        Some(Mailbox { name, email })
    }

    fn mailbox(&mut self, key: &str) -> Option<Mailbox> {
        let v = self.get(key)?;
        self.mailbox_at(v, key, "email")
    }

    fn mailboxes(&mut self, key: &str) -> Vec<Mailbox> {
        let Some(v) = self.get(key) else {
            return Vec::new();
        };
        let Value::Array(items) = v else {
            self.errors.push(type_mismatch("array of emails", key));
            return Vec::new();
        };
        if items.len() > MAX_RECIPIENTS {
            self.errors.push(SendError::at(
                "send-0015",
                format!("Too many recipients in \"{key}\": at most {MAX_RECIPIENTS}."),
                key,
            ));
            return Vec::new();
        }
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.mailbox_at(item, &format!("{key}[{i}]"), "email"))
            .collect()
    }

    fn tracking(&mut self, key: &str) -> Tracking {
        match self.string(key, None).as_deref() {
            None | Some("account_default") => Tracking::AccountDefault,
            Some("disabled") => Tracking::Disabled,
            Some("enabled") => Tracking::Enabled,
            Some(other) => {
                self.errors.push(SendError::at(
                    "mj-0005",
                    format!(
                        "\"{other}\" is not allowed for \"{key}\": use account_default, disabled or enabled."
                    ),
                    key,
                ));
                Tracking::AccountDefault
            }
        }
    }

    fn attachments(&mut self, key: &str, inline: bool, budget: &mut usize) -> Vec<Attachment> {
        let Some(v) = self.get(key) else {
            return Vec::new();
        };
        let Value::Array(items) = v else {
            self.errors.push(type_mismatch("array of attachments", key));
            return Vec::new();
        };
        if items.len() > MAX_ATTACHMENTS {
            self.errors.push(SendError::at(
                "mj-0008",
                format!("\"{key}\" has more than {MAX_ATTACHMENTS} elements."),
                key,
            ));
            return Vec::new();
        }
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("{key}[{i}]");
            let Value::Object(o) = item else {
                self.errors.push(type_mismatch("attachment", &path));
                continue;
            };
            let mut field = |name: &str, required: bool| -> Option<String> {
                let p = format!("{path}.{name}");
                match o.get(name) {
                    None | Some(Value::Null) if required => {
                        self.errors.push(SendError::at(
                            "mj-0003",
                            format!("Mandatory property \"{name}\" is missing."),
                            &p,
                        ));
                        None
                    }
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) if s.is_empty() && required => {
                        self.errors.push(SendError::at(
                            "mj-0012",
                            format!("\"{name}\" must not be an empty string."),
                            &p,
                        ));
                        None
                    }
                    Some(Value::String(s)) if s.contains(['\r', '\n', '"']) => {
                        self.errors.push(SendError::at(
                            "mj-0005",
                            format!("\"{name}\" must not contain quotes or line breaks."),
                            &p,
                        ));
                        None
                    }
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(_) => {
                        self.errors.push(type_mismatch("string", &p));
                        None
                    }
                }
            };
            let content_type = field("ContentType", true);
            let filename = field("Filename", true);
            let cid = if inline {
                field("ContentID", false)
            } else {
                None
            };
            let data = field("Base64Content", true);
            let (Some(content_type), Some(filename), Some(data)) = (content_type, filename, data)
            else {
                continue;
            };
            if !content_type.contains('/') {
                self.errors.push(SendError::at(
                    "mj-0005",
                    format!("\"{content_type}\" is not a MIME type (type/subtype)."),
                    &format!("{path}.ContentType"),
                ));
                continue;
            }
            let cleaned: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            let content = match base64::engine::general_purpose::STANDARD.decode(cleaned) {
                Ok(c) => c,
                Err(_) => {
                    self.errors
                        .push(type_mismatch("base64", &format!("{path}.Base64Content")));
                    continue;
                }
            };
            if content.len() > *budget {
                self.errors.push(SendError::at(
                    "mj-0011",
                    format!(
                        "Attachments are larger than {} MB in all.",
                        MAX_ATTACHMENTS_BYTES / (1024 * 1024)
                    ),
                    key,
                ));
                *budget = 0;
                continue;
            }
            *budget -= content.len();
            out.push(Attachment {
                content_type,
                content_id: inline.then(|| cid.unwrap_or_else(|| filename.clone())),
                filename,
                content,
            });
        }
        out
    }

    fn headers(&mut self) -> Vec<(String, String)> {
        let Some(v) = self.get("Headers") else {
            return Vec::new();
        };
        let Value::Object(h) = v else {
            self.errors.push(type_mismatch("object", "Headers"));
            return Vec::new();
        };
        if h.len() > MAX_HEADERS {
            self.errors.push(SendError::at(
                "mj-0008",
                format!("\"Headers\" has more than {MAX_HEADERS} elements."),
                "Headers",
            ));
            return Vec::new();
        }
        let mut out = Vec::new();
        for (name, value) in h {
            let path = format!("Headers[\"{name}\"]");
            if limits::mime_header(name)
                || FORBIDDEN_HEADERS
                    .iter()
                    .any(|f| f.eq_ignore_ascii_case(name))
            {
                self.errors.push(SendError::at(
                    "send-0011",
                    format!("Header \"{name}\" cannot be set through \"Headers\"."),
                    &path,
                ));
                continue;
            }
            if !limits::valid_header_name(name) {
                self.errors.push(SendError::at(
                    "mj-0005",
                    format!("\"{name}\" is not a valid header name."),
                    &path,
                ));
                continue;
            }
            let value = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => {
                    self.errors.push(type_mismatch("string", &path));
                    continue;
                }
            };
            if value.contains(['\r', '\n', '\0']) {
                self.errors.push(SendError::at(
                    "mj-0005",
                    "Header values must not contain line breaks or NUL.",
                    &path,
                ));
                continue;
            }
            out.push((name.clone(), value));
        }
        out
    }
}

/// An address Facteur can put in an envelope: `local@domain`, no spaces or brackets, a
/// dotted or single-label domain of letters, digits and hyphens (or non-ASCII: IDN).
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    if local.is_empty()
        || local.len() > 64
        || domain.is_empty()
        || email.len() > 254
        || email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;\\".contains(c))
        || local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
    {
        return false;
    }
    domain.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
    })
}

fn parse_message(m: &Map<String, Value>) -> Result<MessageSpec, Vec<SendError>> {
    let mut c = Check {
        m,
        errors: Vec::new(),
    };
    for key in m.keys() {
        if !MESSAGE_PROPS.contains(&key.as_str()) {
            c.errors.push(SendError::at(
                "mj-0005",
                format!("Unknown property \"{key}\"."),
                key,
            ));
        }
    }
    let mut spec = MessageSpec {
        from: c.mailbox("From"),
        sender: c.mailbox("Sender"),
        reply_to: c.mailbox("ReplyTo"),
        subject: c.string("Subject", Some(MAX_SUBJECT)),
        text: c.string("TextPart", None),
        html: c.string("HTMLPart", None),
        ..MessageSpec::default()
    };
    match c.get("To") {
        None => c.errors.push(SendError::at(
            "mj-0003",
            "Mandatory property \"To\" is missing.",
            "To",
        )),
        Some(Value::Array(a)) if a.is_empty() => c.errors.push(SendError::at(
            "mj-0007",
            "\"To\" must not be an empty array.",
            "To",
        )),
        Some(_) => spec.to = c.mailboxes("To"),
    }
    spec.cc = c.mailboxes("Cc");
    spec.bcc = c.mailboxes("Bcc");
    if let Some(s) = &spec.subject
        && s.contains(['\r', '\n', '\0'])
    {
        c.errors.push(SendError::at(
            "mj-0005",
            "\"Subject\" must not contain line breaks or NUL.",
            "Subject",
        ));
    }
    spec.options.template = match c.get("TemplateID") {
        None => None,
        Some(Value::Number(n)) => match n.as_i64().and_then(limits::template_id) {
            Some(id) => Some(TemplateRef::Id(id)),
            None => {
                c.errors
                    .push(type_mismatch("positive integer", "TemplateID"));
                None
            }
        },
        Some(_) => {
            c.errors.push(type_mismatch("integer", "TemplateID"));
            None
        }
    };
    if spec.text.is_none() && spec.html.is_none() && c.get("TemplateID").is_none() {
        c.errors.push(SendError::invalid(
            "send-0003",
            "At least \"HTMLPart\", \"TextPart\" or \"TemplateID\" must be provided.",
            &["HTMLPart", "TextPart"],
        ));
    }
    spec.options.template_language = c.boolean("TemplateLanguage").unwrap_or(false);
    spec.options.error_reporting = c.mailbox("TemplateErrorReporting");
    spec.options.error_deliver = c.boolean("TemplateErrorDeliver").unwrap_or(false);
    if !spec.options.template_language {
        let mut related = Vec::new();
        if c.get("TemplateErrorReporting").is_some() {
            related.push("TemplateErrorReporting");
        }
        if c.get("TemplateErrorDeliver").is_some() {
            related.push("TemplateErrorDeliver");
        }
        if !related.is_empty() {
            c.errors.push(SendError::invalid(
                "send-0016",
                "\"TemplateErrorReporting\" and \"TemplateErrorDeliver\" need \"TemplateLanguage\": true.",
                &related,
            ));
        }
    }
    match c.get("Variables") {
        None => {}
        Some(Value::Object(v)) if v.len() > MAX_VARIABLES => c.errors.push(SendError::at(
            "mj-0008",
            format!("\"Variables\" has more than {MAX_VARIABLES} elements."),
            "Variables",
        )),
        Some(v @ Value::Object(_)) => spec.options.vars = v.clone(),
        Some(_) => c.errors.push(type_mismatch("object", "Variables")),
    }
    let mut budget = MAX_ATTACHMENTS_BYTES;
    spec.attachments = c.attachments("Attachments", false, &mut budget);
    spec.inline = c.attachments("InlinedAttachments", true, &mut budget);
    spec.headers = c.headers();
    spec.options.custom_id = c
        .string("CustomID", Some(MAX_CUSTOM_ID))
        .unwrap_or_default();
    spec.options.event_payload = c
        .string("EventPayload", Some(MAX_EVENT_PAYLOAD))
        .unwrap_or_default();
    spec.options.campaign = c.string("CustomCampaign", None).unwrap_or_default();
    if let Some(why) = limits::campaign_error(&spec.options.campaign) {
        let code = if limits::too_long(&spec.options.campaign, MAX_CAMPAIGN) {
            "mj-0006"
        } else {
            "mj-0005"
        };
        c.errors.push(SendError::at(
            code,
            format!("\"CustomCampaign\": {why}."),
            "CustomCampaign",
        ));
    }
    spec.options.deduplicate_campaign = c.boolean("DeduplicateCampaign").unwrap_or(false);
    if spec.options.deduplicate_campaign && spec.options.campaign.is_empty() {
        c.errors.push(SendError::invalid(
            "send-0012",
            "\"DeduplicateCampaign\" needs \"CustomCampaign\".",
            &["DeduplicateCampaign", "CustomCampaign"],
        ));
    }
    spec.options.track_opens = c.tracking("TrackOpens");
    spec.options.track_clicks = c.tracking("TrackClicks");
    match c.get("Priority") {
        None => {}
        Some(Value::Number(n)) => match n.as_i64().and_then(limits::priority) {
            Some(p) => spec.options.priority = p,
            None => c.errors.push(SendError::at(
                "mj-0005",
                format!("Priority {n} is not allowed: use 0, 1, 2 or 3."),
                "Priority",
            )),
        },
        Some(_) => c.errors.push(type_mismatch("integer", "Priority")),
    }
    spec.options.url_tags = c.string("URLTags", Some(MAX_URL_TAGS)).unwrap_or_default();
    if spec
        .options
        .url_tags
        .contains(|ch: char| ch.is_whitespace() || ch == '"' || ch == '<')
    {
        c.errors.push(SendError::at(
            "mj-0005",
            "\"URLTags\" must be a query string such as \"utm_source=mail&utm_medium=email\".",
            "URLTags",
        ));
    }
    spec.options.monitoring_category =
        c.string("MonitoringCategory", Some(MAX_MONITORING_CATEGORY));
    if let Some(v) = c.get("StatisticsContactsListID")
        && !v.is_i64()
    {
        c.errors
            .push(type_mismatch("integer", "StatisticsContactsListID"));
    }
    if c.errors.is_empty() {
        Ok(spec)
    } else {
        Err(c.errors)
    }
}

/// Appends `tags` (a query string) to every http(s) link of an HTML part, as `URLTags` asks.
pub fn add_url_tags(html: &str, tags: &str) -> String {
    if tags.is_empty() {
        return html.to_string();
    }
    let tags = tags.trim_start_matches(['?', '&']);
    let mut out = String::with_capacity(html.len() + tags.len() * 4);
    let mut rest = html;
    loop {
        let Some(at) = find_href(rest) else {
            out.push_str(rest);
            return out;
        };
        let (before, after) = rest.split_at(at.value_start);
        out.push_str(before);
        let value = &after[..at.value_len];
        let is_web = value.starts_with("http://") || value.starts_with("https://");
        if is_web {
            let (url, fragment) = match value.find('#') {
                Some(i) => value.split_at(i),
                None => (value, ""),
            };
            out.push_str(url);
            out.push(if url.contains('?') { '&' } else { '?' });
            // The HTML attribute holds `&amp;`-escaped text; the tags are plain text.
            out.push_str(&tags.replace('&', "&amp;"));
            out.push_str(fragment);
        } else {
            out.push_str(value);
        }
        rest = &after[at.value_len..];
    }
}

struct Href {
    value_start: usize,
    value_len: usize,
}

/// The next quoted `href` attribute value.
fn find_href(s: &str) -> Option<Href> {
    let lower = s.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("href") {
        let start = from + i;
        let preceded = start == 0 || lower.as_bytes()[start - 1].is_ascii_whitespace();
        let after = lower[start + 4..].trim_start();
        let skipped = lower.len() - start - 4 - after.len();
        if preceded && let Some(after_eq) = after.strip_prefix('=') {
            let value_part = after_eq.trim_start();
            let q = value_part.chars().next();
            if let Some(quote @ ('"' | '\'')) = q {
                let value_start = start + 4 + skipped + 1 + (after_eq.len() - value_part.len()) + 1;
                let value_len = s[value_start..].find(quote)?;
                return Some(Href {
                    value_start,
                    value_len,
                });
            }
        }
        from = start + 4;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(v: Value) -> Result<MessageSpec, Vec<SendError>> {
        let body = serde_json::to_vec(&json!({"Messages": [v]})).unwrap();
        parse_request(&body).unwrap().messages.remove(0)
    }

    fn codes(v: Value) -> Vec<(&'static str, Vec<String>)> {
        one(v)
            .unwrap_err()
            .into_iter()
            .map(|e| (e.code, e.related))
            .collect()
    }

    fn base() -> Value {
        json!({"From": {"Email": "shop@example.com"}, "To": [{"Email": "ada@example.net"}], "TextPart": "hi"})
    }

    fn with(key: &str, v: Value) -> Value {
        let mut b = base();
        b[key] = v;
        b
    }

    #[test]
    fn global_errors() {
        assert_eq!(parse_request(b"{").unwrap_err().code, "mj-0002");
        assert_eq!(parse_request(b"[]").unwrap_err().code, "mj-0002");
        assert_eq!(parse_request(b"{}").unwrap_err().code, "mj-0003");
        assert_eq!(
            parse_request(br#"{"Messages": {}}"#).unwrap_err().code,
            "mj-0004"
        );
        assert_eq!(
            parse_request(br#"{"Messages": []}"#).unwrap_err().code,
            "mj-0007"
        );
        let many = json!({"Messages": vec![base(); 51]});
        assert_eq!(
            parse_request(&serde_json::to_vec(&many).unwrap())
                .unwrap_err()
                .code,
            "mj-0008"
        );
        assert_eq!(
            parse_request(br#"{"Messages": [], "SandboxMode": "yes"}"#)
                .unwrap_err()
                .code,
            "mj-0004"
        );
    }

    #[test]
    fn a_valid_message() {
        let spec = one(json!({
            "From": {"Email": "shop@example.com", "Name": "Shop"},
            "To": [{"Email": "ada@example.net", "Name": "Ada"}, {"Email": "bob@example.net"}],
            "Cc": [{"Email": "ADA@example.net"}],
            "Bcc": [{"Email": "audit@example.org"}],
            "Subject": "Hello", "HTMLPart": "<p>hi</p>", "CustomID": "order-1",
            "Headers": {"X-Order": "1"}, "Priority": 3, "Variables": {"n": 1},
            "Attachments": [{"ContentType": "text/plain", "Filename": "a.txt", "Base64Content": "aGVsbG8="}],
        }))
        .unwrap();
        assert_eq!(spec.to.len(), 2);
        assert_eq!(
            spec.envelope_recipients(),
            ["ada@example.net", "bob@example.net", "audit@example.org"]
        );
        assert_eq!(spec.attachments[0].content, b"hello");
        assert_eq!(spec.options.priority, 3);
        assert_eq!(spec.headers, [("X-Order".to_string(), "1".to_string())]);
    }

    #[test]
    fn every_message_error_code() {
        let long_name = format!("X-{}", "a".repeat(200));
        let long_path = format!("Headers[\"{long_name}\"]");
        let cases: Vec<(Value, &str, &str)> = vec![
            (
                json!({"From": {"Email": "a@b.c"}, "To": [{"Email": "d@e.f"}]}),
                "send-0003",
                "HTMLPart",
            ),
            (
                with("Headers", json!({"Reply-To": "x", "From": "y"})),
                "send-0011",
                "Headers[\"From\"]",
            ),
            (
                with("Headers", json!({"Content-Type": "text/plain"})),
                "send-0011",
                "Headers[\"Content-Type\"]",
            ),
            (
                with("Headers", json!({"mime-version": "1.0"})),
                "send-0011",
                "Headers[\"mime-version\"]",
            ),
            (
                with("DeduplicateCampaign", json!(true)),
                "send-0012",
                "DeduplicateCampaign",
            ),
            (
                with("To", json!(vec![json!({"Email": "a@b.c"}); 51])),
                "send-0015",
                "To",
            ),
            (
                with("TemplateErrorDeliver", json!(true)),
                "send-0016",
                "TemplateErrorDeliver",
            ),
            (with("To", json!("ada@example.net")), "mj-0004", "To"),
            (with("Priority", json!(4)), "mj-0005", "Priority"),
            (
                with("TrackClicks", json!("sometimes")),
                "mj-0005",
                "TrackClicks",
            ),
            (
                with("Subject", json!("x".repeat(256))),
                "mj-0006",
                "Subject",
            ),
            (
                with("URLTags", json!("a=".repeat(200))),
                "mj-0006",
                "URLTags",
            ),
            (with("To", json!([])), "mj-0007", "To"),
            (
                with(
                    "Headers",
                    json!(
                        (0..101)
                            .map(|i| (format!("X-H{i}"), json!("v")))
                            .collect::<Map<_, _>>()
                    ),
                ),
                "mj-0008",
                "Headers",
            ),
            (
                with(
                    "Variables",
                    json!(
                        (0..1001)
                            .map(|i| (format!("v{i}"), json!(1)))
                            .collect::<Map<_, _>>()
                    ),
                ),
                "mj-0008",
                "Variables",
            ),
            (with("To", json!([{"Email": ""}])), "mj-0012", "To[0].Email"),
            (
                with(
                    "Attachments",
                    json!([{"ContentType": "text/plain", "Filename": "", "Base64Content": "aGk="}]),
                ),
                "mj-0012",
                "Attachments[0].Filename",
            ),
            (
                with("To", json!([{"Email": "not an address"}])),
                "mj-0013",
                "To[0].Email",
            ),
            (
                with("From", json!({"Email": "a@b..c"})),
                "mj-0013",
                "From.Email",
            ),
            (with("To", json!([{"Name": "x"}])), "mj-0003", "To[0].Email"),
            (
                json!({"From": {"Email": "a@b.c"}, "TextPart": "x"}),
                "mj-0003",
                "To",
            ),
            (
                with(
                    "Attachments",
                    json!([{"ContentType": "text/plain", "Filename": "a", "Base64Content": "%%%"}]),
                ),
                "mj-0004",
                "Attachments[0].Base64Content",
            ),
            (with("TemplateID", json!("12")), "mj-0004", "TemplateID"),
            (with("Htmlpart", json!("typo")), "mj-0005", "Htmlpart"),
            (with("Subject", json!("a\0b")), "mj-0005", "Subject"),
            (with("Subject", json!("a\rb")), "mj-0005", "Subject"),
            (
                with("From", json!({"Email": "a@b.c", "Name": "A\0"})),
                "mj-0005",
                "From.Name",
            ),
            (
                with("Headers", json!({"X-A": "v\0"})),
                "mj-0005",
                "Headers[\"X-A\"]",
            ),
            (
                with("Headers", json!({"X-A": "v\rX-B: 1"})),
                "mj-0005",
                "Headers[\"X-A\"]",
            ),
            (
                with("Headers", json!({long_name.clone(): "v"})),
                "mj-0005",
                &long_path,
            ),
            (
                with("CustomCampaign", json!("spring\r\nsale")),
                "mj-0005",
                "CustomCampaign",
            ),
            (
                with("CustomCampaign", json!("c".repeat(256))),
                "mj-0006",
                "CustomCampaign",
            ),
            (
                with("CustomID", json!("c".repeat(256))),
                "mj-0006",
                "CustomID",
            ),
            (
                with("EventPayload", json!("p".repeat(4097))),
                "mj-0006",
                "EventPayload",
            ),
            (with("TemplateID", json!(0)), "mj-0004", "TemplateID"),
        ];
        for (msg, code, related) in cases {
            let got = codes(msg.clone());
            assert!(
                got.iter()
                    .any(|(c, r)| *c == code && r.iter().any(|x| x == related)),
                "{code} on {related}: got {got:?} for {msg}"
            );
        }
    }

    /// Issue "Faults and hostile input", A: what passes validation composes into a message the
    /// SMTP intake itself would accept (the smuggling TextPart of the probe among it).
    #[test]
    fn hostile_request_composes_safely() {
        let spec = one(json!({
            "From": {"Email": "shop@example.com", "Name": "Shop\tTab\u{85}\u{7f}"},
            "To": [{"Email": "ada@example.net", "Name": "Ada\u{2028}Lovelace"}],
            "Subject": "Hello\u{2028}\u{1}\u{85}",
            "TextPart": "end\r.\rMAIL FROM:<ceo@bank.example>\r\n\u{0}",
            "HTMLPart": "<p>\n.\n</p>\r.\r\n",
            "Headers": {"X-Tab": "a\tb\u{1}\u{7f}", "X-Long": "x".repeat(2000)},
            "CustomID": "id\r\nX-Injected: 1",
            "Attachments": [{"ContentType": "text/plain", "Filename": "a.txt",
                "Base64Content": base64::engine::general_purpose::STANDARD.encode(b"a\r.\rQUIT\r\n\0")}],
        }))
        .unwrap();
        let raw = facteur_message::compose::compose(&facteur_message::compose::Composed {
            from: spec.from.as_ref(),
            to: &spec.to,
            subject: spec.subject.as_deref().unwrap_or_default(),
            text: spec.text.as_deref().unwrap_or_default(),
            html: spec.html.as_deref().unwrap_or_default(),
            message_id: "m@facteur.test",
            date: 1_795_000_000,
            headers: &spec.headers,
            attachments: &spec.attachments,
            ..facteur_message::compose::Composed::default()
        });
        facteur_message::testing::assert_smtp_safe(&raw);
        assert!(!String::from_utf8_lossy(&raw).contains("X-Injected"));
    }

    #[test]
    fn globals_merge() {
        let body = json!({
            "Globals": {"From": {"Email": "g@example.com"}, "Headers": {"X-A": "1"}, "Subject": "G"},
            "Messages": [{"To": [{"Email": "x@example.net"}], "TextPart": "t", "Headers": {"X-B": "2"}, "Subject": "Own"}]
        });
        let spec = parse_request(&serde_json::to_vec(&body).unwrap())
            .unwrap()
            .messages
            .remove(0)
            .unwrap();
        assert_eq!(spec.from.unwrap().email, "g@example.com");
        assert_eq!(spec.subject.as_deref(), Some("Own"));
        assert_eq!(spec.headers.len(), 2);
    }

    #[test]
    fn url_tags() {
        assert_eq!(
            add_url_tags(
                r#"<a href="https://x.test/a">A</a> <a class=b HREF='http://y.test/?q=1#top'>B</a> <a href="mailto:a@b.c">m</a>"#,
                "utm_source=mj&utm_medium=email"
            ),
            r#"<a href="https://x.test/a?utm_source=mj&amp;utm_medium=email">A</a> <a class=b HREF='http://y.test/?q=1&utm_source=mj&amp;utm_medium=email#top'>B</a> <a href="mailto:a@b.c">m</a>"#
        );
        assert_eq!(add_url_tags("<p>no links</p>", "a=1"), "<p>no links</p>");
    }

    #[test]
    fn emails() {
        for ok in [
            "a@b.c",
            "first.last+tag@sub.example.com",
            "élise@exemple.fr",
            "x@localhost",
        ] {
            assert!(valid_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "@b.c", "a@", "a b@c.d", "a@b..c", "a@-b.c", "<a@b.c>", ".a@b.c", "a@b_c.d",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }
}
