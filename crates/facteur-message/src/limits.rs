//! The limits on what a message may ask for, in one place: the Send API (`facteur_mailjet::send`) and
//! the Mailjet SMTP headers (`facteur_mailjet::mj_headers`) both check them, with the same counting (a
//! length is in characters, as Mailjet counts), so a value refused on one path is refused on the
//! other.

/// Most messages in one Send API call.
pub const MAX_MESSAGES: usize = 50;
/// Most recipients in each of To, Cc and Bcc.
pub const MAX_RECIPIENTS: usize = 50;
/// `Subject`, in characters.
pub const MAX_SUBJECT: usize = 255;
/// `URLTags`, in characters.
pub const MAX_URL_TAGS: usize = 256;
/// Attachments and inline parts of one message, decoded, in all.
pub const MAX_ATTACHMENTS_BYTES: usize = 15 * 1024 * 1024;
/// Attachments (and, separately, inline parts) of one message.
pub const MAX_ATTACHMENTS: usize = 100;
/// Custom headers of one message (`Headers`).
pub const MAX_HEADERS: usize = 100;
/// Longest custom header name, in octets (a name cannot be folded: it must fit a line).
pub const MAX_HEADER_NAME: usize = 126;
/// Top-level keys of `Variables` / `X-MJ-Vars`.
pub const MAX_VARIABLES: usize = 1000;
/// `CustomID` / `X-MJ-CustomID`, in characters.
pub const MAX_CUSTOM_ID: usize = 255;
/// `EventPayload` / `X-MJ-EventPayload`, in characters.
pub const MAX_EVENT_PAYLOAD: usize = 4096;
/// `CustomCampaign` / `X-Mailjet-Campaign`, in characters.
pub const MAX_CAMPAIGN: usize = 255;
/// `MonitoringCategory` / `X-MJ-MonitoringCategory`, in characters.
pub const MAX_MONITORING_CATEGORY: usize = 255;
/// A template name given to `X-MJ-TemplateID` instead of an id, in characters.
pub const MAX_TEMPLATE_NAME: usize = 255;
/// `Priority` / `X-Mailjet-Prio`: 0 (lowest) to 3.
pub const PRIORITIES: std::ops::RangeInclusive<i64> = 0..=3;

/// More than `max` characters.
pub fn too_long(value: &str, max: usize) -> bool {
    // Counting stops early: a 100 MB value costs no more than a short one.
    value.chars().nth(max).is_some()
}

/// A custom header name (`Headers`, composed messages): 1 to [`MAX_HEADER_NAME`] printable
/// ASCII characters without a colon.
pub fn valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_HEADER_NAME
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
}

/// `MIME-Version` or a `Content-*` header: the MIME structure is Facteur's, a message cannot set
/// one through `Headers` (send-0011).
pub fn mime_header(name: &str) -> bool {
    name.eq_ignore_ascii_case("mime-version")
        || name
            .get(..8)
            .is_some_and(|p| p.eq_ignore_ascii_case("content-"))
}

/// A priority in [`PRIORITIES`].
pub fn priority(value: i64) -> Option<i32> {
    PRIORITIES.contains(&value).then_some(value as i32)
}

/// A template id: a positive integer.
pub fn template_id(value: i64) -> Option<i64> {
    (value > 0).then_some(value)
}

/// Why a campaign name is refused, if it is: at most [`MAX_CAMPAIGN`] characters, no control
/// characters (line breaks, NUL, tabs…).
pub fn campaign_error(value: &str) -> Option<String> {
    if too_long(value, MAX_CAMPAIGN) {
        Some(format!("longer than {MAX_CAMPAIGN} characters"))
    } else if value.chars().any(char::is_control) {
        Some("control characters (line breaks, NUL, tabs…) are not allowed".into())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting() {
        assert!(!too_long("", 0));
        assert!(too_long("a", 0));
        assert!(!too_long(&"é".repeat(255), MAX_CUSTOM_ID));
        assert!(too_long(&"é".repeat(256), MAX_CUSTOM_ID));
        assert_eq!(priority(3), Some(3));
        assert_eq!(priority(4), None);
        assert_eq!(priority(-1), None);
        assert_eq!(template_id(0), None);
        assert_eq!(template_id(7), Some(7));
        assert_eq!(campaign_error("Spring sale: été 2026!"), None);
        assert!(campaign_error("a\r\nb").is_some());
        assert!(campaign_error(&"c".repeat(256)).is_some());
    }
}
