//! Every reply the inbound session sends, named, with its enhanced status code (RFC 3463).
//! Tests assert on these names, so a wording change is one edit here.

use std::borrow::Cow;
use std::fmt;

/// One SMTP reply: code, enhanced status code and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// Enhanced status code such as `5.7.1`; empty for the greeting and the EHLO reply.
    pub esc: &'static str,
    pub text: Cow<'static, str>,
}

impl Reply {
    pub const fn new(code: u16, esc: &'static str, text: &'static str) -> Self {
        Reply {
            code,
            esc,
            text: Cow::Borrowed(text),
        }
    }

    /// A reply with a text made at run time (it may quote the client, a message or the
    /// store): control characters become `?` and the text is cut so the reply line stays
    /// within [`MAX_REPLY_LINE`] octets. Nothing can add a line to the reply.
    pub fn dynamic(code: u16, esc: &'static str, text: String) -> Self {
        let esc_len = if esc.is_empty() { 0 } else { esc.len() + 1 };
        let max = MAX_REPLY_LINE
            .saturating_sub("000 \r\n".len() + esc_len)
            .max(3);
        let mut text = text;
        if text.contains(char::is_control) {
            text = text
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect();
        }
        if text.len() > max {
            let mut cut = max - 3;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str("...");
        }
        Reply {
            code,
            esc,
            text: Cow::Owned(text),
        }
    }

    /// 4xx or 5xx: counts toward the per-session error limit.
    pub fn is_error(&self) -> bool {
        self.code >= 400
    }

    /// The wire form, CRLF-terminated.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.esc.is_empty() {
            write!(f, "{} {}\r\n", self.code, self.text)
        } else {
            write!(f, "{} {} {}\r\n", self.code, self.esc, self.text)
        }
    }
}

pub const OK: Reply = Reply::new(250, "2.0.0", "OK");
pub const RSET_OK: Reply = Reply::new(250, "2.0.0", "Flushed");
pub const BYE: Reply = Reply::new(221, "2.0.0", "Bye");
pub const HELP: Reply = Reply::new(214, "2.0.0", "See https://www.rfc-editor.org/rfc/rfc5321");
pub const VRFY: Reply = Reply::new(
    252,
    "2.5.0",
    "Cannot VRFY user, but will accept message and attempt delivery",
);
pub const START_DATA: Reply = Reply::new(354, "", "End data with <CR><LF>.<CR><LF>");
pub const READY_TLS: Reply = Reply::new(220, "2.0.0", "Ready to start TLS");
pub const AUTH_OK: Reply = Reply::new(235, "2.7.0", "Authentication successful");
pub const AUTH_USERNAME: Reply = Reply::new(334, "", "VXNlcm5hbWU6");
pub const AUTH_PASSWORD: Reply = Reply::new(334, "", "UGFzc3dvcmQ6");
pub const AUTH_EMPTY_CHALLENGE: Reply = Reply::new(334, "", "");

pub const UNKNOWN_COMMAND: Reply = Reply::new(500, "5.5.2", "Error: command not recognized");
pub const LINE_TOO_LONG: Reply = Reply::new(500, "5.5.2", "Error: line too long");
pub const NUL_IN_COMMAND: Reply = Reply::new(500, "5.5.2", "Error: NUL character in command");
pub const NOT_IMPLEMENTED: Reply = Reply::new(502, "5.5.1", "Error: command not implemented");
pub const HELO_FIRST: Reply = Reply::new(503, "5.5.1", "Error: send HELO/EHLO first");
pub const NESTED_MAIL: Reply = Reply::new(503, "5.5.1", "Error: nested MAIL command");
pub const NEED_MAIL: Reply = Reply::new(503, "5.5.1", "Error: need MAIL command");
pub const NEED_RCPT: Reply = Reply::new(554, "5.5.1", "Error: no valid recipients");
pub const DATA_AFTER_BDAT: Reply = Reply::new(503, "5.5.1", "Error: DATA not permitted after BDAT");
pub const ALREADY_AUTHENTICATED: Reply = Reply::new(503, "5.5.1", "Error: already authenticated");
pub const AUTH_IN_TRANSACTION: Reply = Reply::new(
    503,
    "5.5.1",
    "Error: AUTH not permitted during a mail transaction",
);
pub const TLS_ALREADY_ACTIVE: Reply = Reply::new(503, "5.5.1", "Error: TLS already active");
pub const TLS_UNAVAILABLE: Reply = Reply::new(454, "4.7.0", "TLS not available");
pub const EHLO_SYNTAX: Reply = Reply::new(501, "5.5.4", "Syntax: EHLO domain");
pub const BAD_SENDER: Reply = Reply::new(501, "5.1.7", "Bad sender address syntax");
pub const BAD_RECIPIENT: Reply = Reply::new(501, "5.1.3", "Bad recipient address syntax");
pub const LOCAL_PART_TOO_LONG: Reply = Reply::new(
    501,
    "5.1.3",
    "Local part longer than 64 octets (RFC 5321 4.5.3.1.1)",
);
pub const NOT_FQ_RECIPIENT: Reply = Reply::new(
    501,
    "5.1.3",
    "Recipient address must be a fully qualified address",
);
pub const NEEDS_SMTPUTF8: Reply = Reply::new(
    553,
    "5.6.7",
    "Non-ASCII address requires the SMTPUTF8 parameter on MAIL",
);
pub const SIZE_EXCEEDED: Reply = Reply::new(
    552,
    "5.3.4",
    "Message size exceeds fixed maximum message size",
);
pub const TOO_MANY_RCPTS: Reply = Reply::new(452, "4.5.3", "Error: too many recipients");
pub const SEPARATE_TRANSACTION: Reply = Reply::new(
    452,
    "4.5.3",
    "Mail for this server's bounce domain goes in its own transaction: send this recipient again in another",
);
pub const NO_SUCH_INBOUND_MAILBOX: Reply = Reply::new(
    550,
    "5.1.1",
    "No such mailbox: this domain takes bounces (bounce+...), fbl, abuse and postmaster only",
);
pub const RELAY_DENIED: Reply = Reply::new(554, "5.7.1", "Relay access denied");
pub const STARTTLS_FIRST: Reply = Reply::new(530, "5.7.0", "Must issue a STARTTLS command first");
pub const AUTH_REQUIRED: Reply = Reply::new(530, "5.7.0", "Authentication required");
pub const AUTH_UNKNOWN_MECHANISM: Reply =
    Reply::new(504, "5.5.4", "Unrecognized authentication mechanism");
pub const AUTH_BAD_BASE64: Reply = Reply::new(501, "5.5.2", "Cannot decode response (bad base64)");
pub const AUTH_MALFORMED: Reply = Reply::new(501, "5.5.2", "Malformed authentication response");
pub const AUTH_CANCELLED: Reply = Reply::new(501, "5.7.0", "Authentication cancelled");
pub const AUTH_INVALID: Reply = Reply::new(535, "5.7.8", "Authentication credentials invalid");
pub const AUTH_TEMPORARY: Reply = Reply::new(
    454,
    "4.7.0",
    "Temporary authentication failure, try again later",
);
pub const AUTH_THROTTLED: Reply = Reply::new(
    421,
    "4.7.0",
    "Too many failed authentication attempts, try again later",
);
pub const BARE_NEWLINE: Reply = Reply::new(
    550,
    "5.5.2",
    "Message contains bare <CR> or <LF>; lines must end with <CR><LF> (RFC 5321 2.3.8)",
);
pub const NUL_IN_BODY: Reply = Reply::new(554, "5.6.0", "Message contains NUL characters");
pub const BODY_LINE_TOO_LONG: Reply = Reply::new(
    554,
    "5.6.0",
    "Message has a line longer than 998 characters (RFC 5322 2.1.1)",
);
pub const SPOOL_FAILED: Reply = Reply::new(
    451,
    "4.3.0",
    "Temporary storage failure, message not accepted; try again later",
);
pub const TOO_MANY_ERRORS: Reply = Reply::new(421, "4.7.0", "Too many errors, closing connection");
pub const TIMEOUT: Reply = Reply::new(421, "4.4.2", "Timeout exceeded, closing connection");
pub const SHUTTING_DOWN: Reply =
    Reply::new(421, "4.3.2", "Service shutting down, closing connection");
pub const TOO_MANY_CONNECTIONS: Reply = Reply::new(
    421,
    "4.7.0",
    "Too many connections from your address, try again later",
);
pub const SERVER_BUSY: Reply = Reply::new(
    421,
    "4.3.2",
    "Too many connections to this server, try again later",
);

pub fn syntax(syntax: &'static str) -> Reply {
    Reply::dynamic(501, "5.5.4", format!("Syntax: {syntax}"))
}

/// Longest reply line, CRLF included (RFC 5321 4.5.3.1.5).
pub const MAX_REPLY_LINE: usize = 512;

/// Longest piece of client text quoted in a reply: with the code, the status code and the
/// wording, a reply line stays within 512 octets (RFC 5321 4.5.3.1.5).
pub const MAX_ECHO: usize = 300;

/// Client text quoted in a reply: control characters (none should be there) become `?`, and
/// it is cut after [`MAX_ECHO`] octets.
pub fn echo(text: &str) -> Cow<'_, str> {
    if text.len() <= MAX_ECHO && !text.contains(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(MAX_ECHO + 3);
    for c in text.chars() {
        if out.len() + c.len_utf8() > MAX_ECHO {
            out.push_str("...");
            break;
        }
        out.push(if c.is_control() { '?' } else { c });
    }
    Cow::Owned(out)
}

pub fn invalid_parameter(param: &str) -> Reply {
    let param = echo(param);
    Reply::dynamic(501, "5.5.4", format!("Invalid value for parameter {param}"))
}

pub fn unsupported_parameter(param: &str) -> Reply {
    let param = echo(param);
    Reply::dynamic(555, "5.5.4", format!("Unsupported parameter {param}"))
}

pub fn sender_ok(addr: &str) -> Reply {
    let addr = echo(addr);
    Reply::dynamic(250, "2.1.0", format!("Sender <{addr}> OK"))
}

pub fn recipient_ok(addr: &str) -> Reply {
    let addr = echo(addr);
    Reply::dynamic(250, "2.1.5", format!("Recipient <{addr}> OK"))
}

pub fn queued(id: &str) -> Reply {
    Reply::dynamic(250, "2.0.0", format!("Ok: queued as {id}"))
}

pub fn chunk_ok(octets: usize) -> Reply {
    Reply::dynamic(250, "2.0.0", format!("{octets} octets received"))
}

pub fn greeting(hostname: &str) -> Reply {
    Reply::dynamic(220, "", format!("{hostname} ESMTP Facteur"))
}

pub fn helo(hostname: &str) -> Reply {
    Reply::dynamic(250, "", hostname.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the smtp-session fuzz target: a 480-octet unknown MAIL parameter (or address)
    /// was quoted whole, making a reply line over 512 octets (RFC 5321 4.5.3.1.5).
    #[test]
    fn quoted_client_text_keeps_replies_short() {
        let long = "X".repeat(500);
        for r in [
            unsupported_parameter(&long),
            invalid_parameter(&long),
            sender_ok(&format!("a@{long}")),
            recipient_ok(&format!("é@{long}")),
        ] {
            let line = r.to_string();
            assert!(line.len() <= 512, "{} octets: {line}", line.len());
            assert!(
                line.ends_with("...> OK\r\n") || line.ends_with("...\r\n"),
                "{line}"
            );
        }
        assert_eq!(
            sender_ok("a@b.c").to_string(),
            "250 2.1.0 Sender <a@b.c> OK\r\n"
        );
        assert_eq!(echo("a\rb\0"), "a?b?");
    }

    /// Any text made at run time (the server quotes X-MJ-TemplateID, up to 255 characters, in
    /// a 550): one line, within 512 octets.
    #[test]
    fn dynamic_text_is_one_short_line() {
        let why = format!(
            "X-MJ-TemplateID {}\r\n250 OK: no such template",
            "é".repeat(255)
        );
        let line = Reply::dynamic(550, "5.6.0", why).to_string();
        assert!(line.len() <= MAX_REPLY_LINE, "{} octets", line.len());
        assert_eq!(line.matches("\r\n").count(), 1, "{line:?}");
        assert!(line.starts_with("550 5.6.0 X-MJ-TemplateID éé") && line.ends_with("...\r\n"));
        let short = Reply::dynamic(550, "5.6.0", "a\nb".into()).to_string();
        assert_eq!(short, "550 5.6.0 a?b\r\n");
        let greeting = Reply::dynamic(220, "", "x".repeat(600)).to_string();
        assert_eq!(greeting.len(), MAX_REPLY_LINE);
    }
}
