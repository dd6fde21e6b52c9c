//! Mailjet's SMTP headers (`X-MJ-*`, `X-Mailjet-*`): read from a message received over SMTP,
//! then removed before delivery. Also what applying a template to such a message needs: its
//! text, HTML and attachments, and a new body under its own headers.

use mail_builder::headers::Header;
use mail_builder::mime::MimePart;
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::Value;

use crate::options::{MailjetOptions, TemplateRef, Tracking};
use crate::send::valid_email;
use facteur_message::compose::{Attachment, Mailbox, header_text};
use facteur_message::headers::{field_name, fields, header_section};
use facteur_message::limits::{
    self, MAX_CAMPAIGN, MAX_CUSTOM_ID, MAX_EVENT_PAYLOAD, MAX_MONITORING_CATEGORY,
    MAX_TEMPLATE_NAME, MAX_VARIABLES,
};

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

/// `name` is longer than `max` characters: the error says which header and which limit.
fn too_long(name: &str, value: &str, max: usize) -> Result<(), String> {
    if limits::too_long(value, max) {
        return Err(format!("{name} is longer than {max} characters"));
    }
    Ok(())
}

/// `X-MJ-TemplateID`: what the Send API's TemplateID takes (a positive integer), or the name
/// of a template (at most [`MAX_TEMPLATE_NAME`] characters, no control characters).
fn template_reference(value: String) -> Result<TemplateRef, String> {
    let error = || {
        Err(format!(
            "X-MJ-TemplateID must be a template id (a positive integer) or a template name of 1 to {MAX_TEMPLATE_NAME} characters"
        ))
    };
    let numeric = value.strip_prefix(['+', '-']).unwrap_or(&value);
    if !numeric.is_empty() && numeric.bytes().all(|b| b.is_ascii_digit()) {
        return match value.parse::<i64>().ok().and_then(limits::template_id) {
            Some(id) => Ok(TemplateRef::Id(id)),
            None => error(),
        };
    }
    if value.is_empty()
        || limits::too_long(&value, MAX_TEMPLATE_NAME)
        || value.contains(char::is_control)
    {
        return error();
    }
    Ok(TemplateRef::Name(value))
}

fn tracking(v: &str) -> Tracking {
    if flag(v) {
        Tracking::Enabled
    } else {
        Tracking::Disabled
    }
}

/// Reads the Mailjet headers; returns them with the message without them, or `None` when it
/// had none (the message is then used as it is, without a copy). A header with a value
/// Facteur cannot use is an error naming it and, for a limit, the limit (the SMTP session
/// refuses the message with it: the text is one line and quotes nothing from the message).
/// The limits are the Send API's ([`crate::limits`]).
pub fn extract(raw: &[u8]) -> Result<(MailjetOptions, Option<Vec<u8>>), String> {
    let section = header_section(raw);
    let is_mailjet = |f: &[u8]| field_name(f).is_some_and(is_mailjet);
    if !fields(section).any(is_mailjet) {
        return Ok((MailjetOptions::default(), None));
    }
    let mut mj = MailjetOptions::default();
    let mut kept = Vec::with_capacity(raw.len());
    for field in fields(section) {
        if !is_mailjet(field) {
            kept.extend_from_slice(field);
            continue;
        }
        let text = String::from_utf8_lossy(field);
        let (name, value) = text.split_once(':').unwrap_or((&text, ""));
        // Unfolded (RFC 5322 2.2.3); the folding tab counts as the space it stands for.
        let value: String = value
            .replace("\r\n", "")
            .replace('\n', "")
            .replace('\t', " ")
            .trim()
            .to_string();
        match name.trim().to_ascii_lowercase().as_str() {
            "x-mj-templateid" => mj.template = Some(template_reference(value)?),
            "x-mj-templatelanguage" => mj.template_language = flag(&value),
            "x-mj-vars" => match serde_json::from_str::<Value>(&value) {
                Ok(Value::Object(vars)) if vars.len() > MAX_VARIABLES => {
                    return Err(format!("X-MJ-Vars has more than {MAX_VARIABLES} variables"));
                }
                Ok(v @ Value::Object(_)) => mj.vars = v,
                _ => return Err("X-MJ-Vars must hold a JSON object".into()),
            },
            "x-mj-customid" => {
                too_long("X-MJ-CustomID", &value, MAX_CUSTOM_ID)?;
                mj.custom_id = value
            }
            "x-mj-eventpayload" => {
                too_long("X-MJ-EventPayload", &value, MAX_EVENT_PAYLOAD)?;
                mj.event_payload = value
            }
            "x-mailjet-campaign" => {
                if let Some(why) = limits::campaign_error(&value) {
                    return Err(format!(
                        "X-Mailjet-Campaign: {why} (at most {MAX_CAMPAIGN} characters, no control characters)"
                    ));
                }
                mj.campaign = value
            }
            "x-mailjet-deduplicatecampaign" => mj.deduplicate_campaign = flag(&value),
            "x-mailjet-trackopen" => mj.track_opens = tracking(&value),
            "x-mailjet-trackclick" => mj.track_clicks = tracking(&value),
            "x-mailjet-prio" => {
                let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
                match value
                    .parse::<i64>()
                    .ok()
                    .filter(|_| digits)
                    .and_then(limits::priority)
                {
                    Some(p) => mj.priority = p,
                    None => {
                        return Err(format!(
                            "X-Mailjet-Prio must be {} to {}",
                            limits::PRIORITIES.start(),
                            limits::PRIORITIES.end()
                        ));
                    }
                }
            }
            "x-mj-templateerrorreporting" => {
                match Mailbox::parse(&value).filter(|m| valid_email(&m.email)) {
                    Some(to) => mj.error_reporting = Some(to),
                    None => {
                        return Err("X-MJ-TemplateErrorReporting must be an email address".into());
                    }
                }
            }
            "x-mj-templateerrordeliver" => {
                mj.error_deliver = matches!(
                    value.to_ascii_lowercase().as_str(),
                    "deliver" | "1" | "true"
                )
            }
            "x-mj-monitoringcategory" => {
                too_long("X-MJ-MonitoringCategory", &value, MAX_MONITORING_CATEGORY)?;
                mj.monitoring_category = Some(value)
            }
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
/// MIME headers replaced by the new body's. The subject is written on one line (control
/// characters become spaces) and the message ends with CRLF.
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
        if !field.ends_with(b"\n") {
            out.extend_from_slice(b"\r\n");
        }
    }
    if let Some(s) = subject {
        out.extend_from_slice(b"Subject: ");
        header_text(s).write_header(&mut out, 9);
    }
    out.extend_from_slice(b"MIME-Version: 1.0\r\n");
    body.write_part(&mut out);
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use facteur_message::compose::mime_body;

    const MSG: &[u8] = b"From: shop@example.com\r\nTo: ada@example.net\r\nSubject: Order {{var:n}}\r\nX-MJ-TemplateLanguage: 1\r\nX-MJ-Vars: {\"n\": 42,\r\n \"name\": \"Ada\"}\r\nX-MJ-CustomID: order-42\r\nX-Mailjet-Prio: 3\r\nx-mailjet-campaign: Spring sale\r\nX-Other: kept\r\n\r\nHello {{var:name}}\r\n";

    #[test]
    fn reads_and_strips() {
        let (mj, stripped) = extract(MSG).unwrap();
        let stripped = stripped.unwrap();
        assert!(mj.template_language);
        assert_eq!(mj.vars, serde_json::json!({"n": 42, "name": "Ada"}));
        assert_eq!(mj.custom_id, "order-42");
        assert_eq!(mj.priority, 3);
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
        assert_eq!(mj, MailjetOptions::default());
        assert_eq!(out, None, "no copy when there is nothing to strip");
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(extract(b"X-MJ-Vars: [1]\r\n\r\nx").is_err());
        assert!(extract(b"X-MJ-Vars: {oops\r\n\r\nx").is_err());
        assert!(extract(b"X-Mailjet-Prio: 9\r\n\r\nx").is_err());
        assert!(extract(b"X-Mailjet-Prio: -1\r\n\r\nx").is_err());
        assert!(extract(b"X-Mailjet-Prio: +1\r\n\r\nx").is_err());
        assert!(extract(b"X-Mailjet-Campaign: a\x01b\r\n\r\nx").is_err());
    }

    fn header(name: &str, value: &str) -> Vec<u8> {
        format!("From: a@b.c\r\n{name}: {value}\r\n\r\nbody\r\n").into_bytes()
    }

    /// The error of a header, which must name the header and the limit (it is the text of the
    /// SMTP reply: one line).
    fn refused(name: &str, value: &str, limit: &str) {
        let e = extract(&header(name, value)).unwrap_err();
        assert!(e.contains(name) && e.contains(limit), "{name}: {e}");
        assert!(!e.contains(['\r', '\n']), "{e:?}");
    }

    /// Issue "Faults and hostile input", B: over SMTP, X-MJ-CustomID and X-MJ-EventPayload of
    /// 100 KB and X-MJ-Vars of 150k keys were accepted; the Send API caps them at 255, 4096 and
    /// 1000. Both paths now check the same constants.
    #[test]
    fn send_api_limits_apply() {
        use facteur_message::limits::*;
        refused("X-MJ-CustomID", &"c".repeat(100 * 1024), "255");
        refused("X-MJ-CustomID", &"é".repeat(MAX_CUSTOM_ID + 1), "255");
        refused("X-MJ-EventPayload", &"p".repeat(100 * 1024), "4096");
        refused(
            "X-MJ-EventPayload",
            &"p".repeat(MAX_EVENT_PAYLOAD + 1),
            "4096",
        );
        let vars = |n: usize| {
            let keys: Vec<String> = (0..n).map(|i| format!("\"k{i}\": {i}")).collect();
            format!("{{{}}}", keys.join(", "))
        };
        refused("X-MJ-Vars", &vars(150_000), "1000");
        refused("X-MJ-Vars", &vars(MAX_VARIABLES + 1), "1000");
        refused("X-Mailjet-Campaign", &"c".repeat(MAX_CAMPAIGN + 1), "255");
        refused(
            "X-MJ-MonitoringCategory",
            &"m".repeat(MAX_MONITORING_CATEGORY + 1),
            "255",
        );
        refused("X-MJ-TemplateID", &"t".repeat(MAX_TEMPLATE_NAME + 1), "255");
        refused("X-Mailjet-Prio", "4", "3");
        // At the limits: accepted.
        let (mj, _) = extract(&header("X-MJ-CustomID", &"é".repeat(MAX_CUSTOM_ID))).unwrap();
        assert_eq!(mj.custom_id.chars().count(), MAX_CUSTOM_ID);
        let (mj, _) =
            extract(&header("X-MJ-EventPayload", &"p".repeat(MAX_EVENT_PAYLOAD))).unwrap();
        assert_eq!(mj.event_payload.len(), MAX_EVENT_PAYLOAD);
        let (mj, _) = extract(&header("X-MJ-Vars", &vars(MAX_VARIABLES))).unwrap();
        assert_eq!(mj.vars.as_object().unwrap().len(), MAX_VARIABLES);
        let (mj, _) = extract(&header("X-Mailjet-Campaign", &"c".repeat(MAX_CAMPAIGN))).unwrap();
        assert_eq!(mj.campaign.len(), MAX_CAMPAIGN);
    }

    /// X-MJ-TemplateID, X-Mailjet-Campaign, X-Mailjet-Prio and X-MJ-TemplateErrorReporting take
    /// what TemplateID, CustomCampaign, Priority and TemplateErrorReporting take.
    #[test]
    fn values_checked_as_the_send_api_does() {
        for (ok, want) in [
            ("12", TemplateRef::Id(12)),
            ("+12", TemplateRef::Id(12)),
            ("Welcome mail", TemplateRef::Name("Welcome mail".into())),
            ("été", TemplateRef::Name("été".into())),
        ] {
            let (mj, _) = extract(&header("X-MJ-TemplateID", ok)).unwrap();
            assert_eq!(mj.template, Some(want));
        }
        for bad in ["0", "-3", "", "99999999999999999999", "a\x01b"] {
            refused("X-MJ-TemplateID", bad, "positive integer");
        }
        // Any character but control characters, as CustomCampaign.
        for ok in ["Spring sale", "a<b", "Été 2026: -50%!"] {
            assert_eq!(
                extract(&header("X-Mailjet-Campaign", ok))
                    .unwrap()
                    .0
                    .campaign,
                ok
            );
        }
        // Folding whitespace is a space, not a control character.
        let folded = b"X-Mailjet-Campaign: Spring\r\n\tsale\r\n\r\nx";
        assert_eq!(extract(folded).unwrap().0.campaign, "Spring sale");
        for (value, p) in [("0", 0), ("3", 3), (" 2 ", 2)] {
            assert_eq!(
                extract(&header("X-Mailjet-Prio", value))
                    .unwrap()
                    .0
                    .priority,
                p
            );
        }
        for bad in ["x", "1.5", "", "3 4"] {
            refused("X-Mailjet-Prio", bad, "3");
        }
        let (mj, _) = extract(&header("X-MJ-TemplateErrorReporting", "Ops <ops@x.test>")).unwrap();
        assert_eq!(mj.error_reporting.unwrap().email, "ops@x.test");
        refused(
            "X-MJ-TemplateErrorReporting",
            "not an address",
            "email address",
        );
    }

    /// A template's rendered subject and parts cannot bring a line break, NUL or long line
    /// into the message; a header section cut short still ends its last field.
    #[test]
    fn new_body_is_smtp_safe() {
        for raw in [
            &b"From: a@b.c\r\nSubject: old\r\n\r\nbody\r\n"[..],
            b"From: a@b.c\r\nX-Last: no line end",
        ] {
            let out = replace_body(
                raw,
                Some("New\r\nBcc: victim@x.test\0"),
                mime_body("t\r.\rMAIL FROM:<a@b.c>\0", "", &[], &[]),
            );
            facteur_message::testing::assert_smtp_safe(&out);
            let names: Vec<_> = fields(header_section(&out))
                .filter_map(field_name)
                .collect();
            assert!(
                !names.iter().any(|n| n.eq_ignore_ascii_case(b"bcc")),
                "{names:?}"
            );
            let m = MessageParser::default().parse(&out).unwrap();
            assert_eq!(m.subject(), Some("New  Bcc: victim@x.test "));
        }
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
