//! The pipeline's extension points, typed: what `submit` asks of the rules that later issues
//! add (suppression and sending limits, DKIM signing, open and click tracking). Each stage runs
//! its hooks in order; with none registered a stage does nothing.

use std::sync::Arc;

use facteur_mailjet::MailjetOptions;

use crate::submission::{Origin, Problem};

/// What a screening hook sees before anything is rendered: who sends, with which options.
pub struct Screening<'a> {
    pub account_id: Option<i64>,
    pub origin: &'a Origin,
    pub mail_from: &'a str,
    pub options: &'a MailjetOptions,
}

/// Limits and suppression: may refuse a message (or drop recipients) before it is built.
pub trait Screen: Send + Sync {
    /// `Err` refuses the whole message; recipients removed from `recipients` (the envelope
    /// recipients) are not sent to.
    fn screen(&self, message: &Screening<'_>, recipients: &mut Vec<String>) -> Result<(), Problem>;
}

/// A message once built, as the signing and tracking hooks change it.
pub struct Outgoing<'a> {
    pub account_id: Option<i64>,
    pub origin: &'a Origin,
    pub options: &'a MailjetOptions,
    pub mail_from: &'a str,
    pub recipients: &'a [String],
    /// The whole message (headers and body, CRLF line ends) as it will be spooled.
    pub body: &'a mut Vec<u8>,
}

/// Changes a built message: DKIM signing, tracking marks.
pub trait Rewrite: Send + Sync {
    fn rewrite(&self, message: &mut Outgoing<'_>) -> Result<(), Problem>;
}

/// The hooks of each stage, run in order.
#[derive(Default, Clone)]
pub struct Hooks {
    /// Before rendering: sending limits, suppression lists.
    pub screen: Vec<Arc<dyn Screen>>,
    /// After composing: tracking marks (open pixel, click links).
    pub track: Vec<Arc<dyn Rewrite>>,
    /// Last: DKIM and other signatures, over the bytes that will leave.
    pub sign: Vec<Arc<dyn Rewrite>>,
}
