//! Mailjet's SMTP headers (`X-MJ-*`, `X-Mailjet-*`): read from a message received over SMTP,
//! then removed before delivery. Also what applying a template to such a message needs: its
//! text, HTML and attachments, and a new body under its own headers.

use mail_builder::headers::Header;
use mail_builder::headers::text::Text;
use mail_builder::mime::MimePart;
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::Value;

use crate::compose::Attachment;
use crate::headers::{field_name, fields, header_section};

/// What the Mailjet headers of one message ask for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MjHeaders {
    /// `X-MJ-TemplateID`: an id or a template name.
    pub template: Option<String>,
    pub template_language: bool,
    /// `X-MJ-Vars`: a JSON object.
    pub vars: Option<Value>,
    pub custom_id: String,
    pub event_payload: String,
    pub campaign: String,
    pub deduplicate_campaign: bool,
    pub track_open: Option<bool>,
    pub track_click: Option<bool>,
    /// `X-Mailjet-Prio`, 0–3.
    pub priority: Option<i32>,
    pub error_reporting: Option<String>,
    pub error_deliver: bool,
    pub monitoring_category: Option<String>,
}

/// Whether a header is one of Mailjet's (removed before delivery).
fn is_mailjet(name: &[u8]) -> bool {
    let prefix = |p: &[u8]| name.len() > p.len() && name[..p.len()].eq_ignore_ascii_case(p);
    prefix(b"x-mj-") || prefix(b"x-mailjet-")
}

fn flag(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "y"
    )
}

/// Reads the Mailjet headers; returns them with the message without them, or `None` when it
/// had none (the message is then used as it is, without a copy). A header with a value
/// Facteur cannot use is an error naming it (the SMTP session refuses the message).
pub fn extract(raw: &[u8]) -> Result<(MjHeaders, Option<Vec<u8>>), String> {
    let section = header_section(raw);
    let is_mailjet = |f: &[u8]| field_name(f).is_some_and(is_mailjet);
    if !fields(section).any(is_mailjet) {
        return Ok((MjHeaders::default(), None));
    }
    let mut mj = MjHeaders::default();
    let mut kept = Vec::with_capacity(raw.len());
    for field in fields(section) {
        if !is_mailjet(field) {
            kept.extend_from_slice(field);
            continue;
        }
        let text = String::from_utf8_lossy(field);
        let (name, value) = text.split_once(':').unwrap_or((&text, ""));
        let value: String = value
            .replace("\r\n", "")
            .replace('\n', "")
            .trim()
            .to_string();
        match name.trim().to_ascii_lowercase().as_str() {
            "x-mj-templateid" => mj.template = Some(value),
            "x-mj-templatelanguage" => mj.template_language = flag(&value),
            "x-mj-vars" => match serde_json::from_str::<Value>(&value) {
                Ok(v @ Value::Object(_)) => mj.vars = Some(v),
                _ => return Err("X-MJ-Vars must hold a JSON object".into()),
            },
            "x-mj-customid" => mj.custom_id = value,
            "x-mj-eventpayload" => mj.event_payload = value,
            "x-mailjet-campaign" => {
                if value.chars().count() > 255
                    || !value
                        .chars()
                        .all(|c| c.is_alphanumeric() || " -_".contains(c))
                {
                    return Err("X-Mailjet-Campaign takes up to 255 letters, digits, spaces, dashes and underscores".into());
                }
                mj.campaign = value
            }
            "x-mailjet-deduplicatecampaign" => mj.deduplicate_campaign = flag(&value),
            "x-mailjet-trackopen" => mj.track_open = Some(flag(&value)),
            "x-mailjet-trackclick" => mj.track_click = Some(flag(&value)),
            "x-mailjet-prio" => match value.parse::<i32>() {
                Ok(p @ 0..=3) => mj.priority = Some(p),
                _ => return Err("X-Mailjet-Prio must be 0, 1, 2 or 3".into()),
            },
            "x-mj-templateerrorreporting" => mj.error_reporting = Some(value),
            "x-mj-templateerrordeliver" => {
                mj.error_deliver = matches!(
                    value.to_ascii_lowercase().as_str(),
                    "deliver" | "1" | "true"
                )
            }
            "x-mj-monitoringcategory" => mj.monitoring_category = Some(value),
            // Other X-MJ / X-Mailjet headers are Mailjet's own: dropped too.
            _ => {}
        }
    }
    kept.extend_from_slice(&raw[section.len()..]);
    Ok((mj, Some(kept)))
}

/// The parts of a message a template language render works on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parts {
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    pub inline: Vec<Attachment>,
}

/// Reads the subject, the first text and HTML bodies and the attachments of a message.
pub fn parts(raw: &[u8]) -> Parts {
    let Some(m) = MessageParser::default().parse(raw) else {
        return Parts::default();
    };
    let mut out = Parts {
        subject: m.subject().map(str::to_string),
        text: (m.text_body_count() > 0)
            .then(|| m.body_text(0).map(|t| t.into_owned()))
            .flatten(),
        html: (m.html_body_count() > 0)
            .then(|| m.body_html(0).map(|t| t.into_owned()))
            .flatten(),
        ..Parts::default()
    };
    // A text-only message also has an HTML view made by the parser: keep only real parts.
    if m.html_body_count() > 0
        && let Some(part) = m.html_part(0)
        && !part
            .content_type()
            .is_some_and(|c| c.subtype().is_some_and(|s| s.eq_ignore_ascii_case("html")))
    {
        out.html = None;
    }
    if m.text_body_count() > 0
        && let Some(part) = m.text_part(0)
        && part
            .content_type()
            .is_some_and(|c| c.subtype().is_some_and(|s| s.eq_ignore_ascii_case("html")))
    {
        out.text = None;
    }
    for a in m.attachments() {
        let content_type = a
            .content_type()
            .map(|c| match c.subtype() {
                Some(sub) => format!("{}/{}", c.ctype(), sub),
                None => c.ctype().to_string(),
            })
            .unwrap_or_else(|| "application/octet-stream".into());
        let att = Attachment {
            content_type,
            filename: a.attachment_name().unwrap_or("attachment").to_string(),
            content: a.contents().to_vec(),
            content_id: a
                .content_id()
                .map(|c| c.trim_matches(['<', '>']).to_string()),
        };
        if att.content_id.is_some()
            && a.content_disposition()
                .is_none_or(|d| d.ctype() == "inline")
        {
            out.inline.push(att);
        } else {
            out.attachments.push(att);
        }
    }
    out
}

/// The message with a new subject (when given) and a new body: its other headers kept,
/// MIME headers replaced by the new body's.
pub fn replace_body(raw: &[u8], subject: Option<&str>, body: MimePart<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    for field in fields(header_section(raw)) {
        let name = field_name(field).unwrap_or_default();
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        let mime = name.len() > 8 && name[..8].eq_ignore_ascii_case(b"content-");
        if field.trim_ascii().is_empty()
            || mime
            || is("mime-version")
            || (subject.is_some() && is("subject"))
        {
            continue;
        }
        out.extend_from_slice(field);
    }
    if let Some(s) = subject {
        out.extend_from_slice(b"Subject: ");
        Text::new(s.to_string()).write_header(&mut out, 9);
    }
    out.extend_from_slice(b"MIME-Version: 1.0\r\n");
    body.write_part(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::mime_body;

    const MSG: &[u8] = b"From: shop@example.com\r\nTo: ada@example.net\r\nSubject: Order {{var:n}}\r\nX-MJ-TemplateLanguage: 1\r\nX-MJ-Vars: {\"n\": 42,\r\n \"name\": \"Ada\"}\r\nX-MJ-CustomID: order-42\r\nX-Mailjet-Prio: 3\r\nx-mailjet-campaign: Spring sale\r\nX-Other: kept\r\n\r\nHello {{var:name}}\r\n";

    #[test]
    fn reads_and_strips() {
        let (mj, stripped) = extract(MSG).unwrap();
        let stripped = stripped.unwrap();
        assert!(mj.template_language);
        assert_eq!(mj.vars, Some(serde_json::json!({"n": 42, "name": "Ada"})));
        assert_eq!(mj.custom_id, "order-42");
        assert_eq!(mj.priority, Some(3));
        assert_eq!(mj.campaign, "Spring sale");
        let text = String::from_utf8(stripped).unwrap();
        assert!(!text.to_ascii_lowercase().contains("x-mj"), "{text}");
        assert!(!text.to_ascii_lowercase().contains("x-mailjet"), "{text}");
        assert!(text.contains("X-Other: kept\r\n\r\nHello {{var:name}}\r\n"));
    }

    #[test]
    fn untouched_without_mailjet_headers() {
        let raw = b"Subject: x\r\n\r\nbody\r\n";
        let (mj, out) = extract(raw).unwrap();
        assert_eq!(mj, MjHeaders::default());
        assert_eq!(out, None, "no copy when there is nothing to strip");
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(extract(b"X-MJ-Vars: [1]\r\n\r\nx").is_err());
        assert!(extract(b"X-MJ-Vars: {oops\r\n\r\nx").is_err());
        assert!(extract(b"X-Mailjet-Prio: 9\r\n\r\nx").is_err());
        assert!(extract(b"X-Mailjet-Campaign: a<b\r\n\r\nx").is_err());
    }

    #[test]
    fn new_body_under_old_headers() {
        let stripped = extract(MSG).unwrap().1.unwrap();
        let p = parts(&stripped);
        assert_eq!(p.text.as_deref(), Some("Hello {{var:name}}\r\n"));
        assert_eq!(p.html, None);
        let out = replace_body(
            &stripped,
            Some("Commande 42 été"),
            mime_body("Hello Ada", "<p>Hello Ada</p>", &[], &[]),
        );
        let m = MessageParser::default().parse(&out).unwrap();
        assert_eq!(m.subject(), Some("Commande 42 été"));
        assert_eq!(m.body_text(0).as_deref(), Some("Hello Ada"));
        assert_eq!(m.body_html(0).as_deref(), Some("<p>Hello Ada</p>"));
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("Subject:").count(), 1);
        assert!(text.contains("X-Other: kept"));
    }
}
