//! The render stage of `submit`: stored templates compiled once per published version and
//! cached, the template language applied to a message's parts with Mailjet's error handling
//! (blocked by default, delivered on request, reported by mail), CPU work on the blocking pool.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use facteur_message::compose::Mailbox;
use facteur_store::templates::TemplateContent;
use facteur_store::{Blocked, BounceClass, Store};
use facteur_template::{Activity, Context, Limits, Mode, Template, TemplateError};
use serde_json::Value;

pub use facteur_mailjet::events::TEMPLATE_ERROR;

/// A part parsed once: the template, or the error at parse time.
type Parsed = Result<Template, TemplateError>;

/// A stored template's published version, ready to render many times.
pub struct CompiledTemplate {
    pub content: TemplateContent,
    subject: Parsed,
    html: Parsed,
    text: Parsed,
    pub generate_text: bool,
    /// One of its purposes is `marketing`: its mail gets an unsubscribe link and headers, and
    /// unsubscribed addresses do not receive it.
    pub marketing: bool,
    /// One of its parts calls HasOpenedSince or HasClickedSince (found once, when compiled).
    pub reads_activity: bool,
}

impl CompiledTemplate {
    fn header(&self, name: &str) -> Option<String> {
        let headers = self.content.headers.as_object()?;
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_string)
            .filter(|s| !s.is_empty())
    }

    pub fn from(&self) -> Option<Mailbox> {
        self.header("From").and_then(|f| Mailbox::parse(&f))
    }

    pub fn reply_to(&self) -> Option<Mailbox> {
        self.header("Reply-To").and_then(|f| Mailbox::parse(&f))
    }

    fn subject_source(&self) -> &str {
        self.content
            .headers
            .get("Subject")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// Compiled templates by (template id, version number, when its settings changed). Versions
/// never change once published, and a change of the template's settings (its purposes, text
/// generation) moves its `updated_at`: an entry is never stale; either is a new key.
#[derive(Default)]
pub struct TemplateCache {
    map: Mutex<HashMap<(i64, i64, i64), Arc<CompiledTemplate>>>,
}

/// Most compiled templates kept; past this the cache starts over.
const CACHE_MAX: usize = 1024;

impl TemplateCache {
    /// The published version of the account's template `id`, compiled (from the cache when
    /// it was compiled before). `NotFound` when the account has no such published template.
    pub async fn get(
        &self,
        store: &Store,
        account_id: i64,
        id: i64,
    ) -> Result<Arc<CompiledTemplate>, facteur_store::Error> {
        let (version, updated_at) = store.published_number(account_id, id).await?;
        if let Some(t) = self.map.lock().unwrap().get(&(id, version, updated_at)) {
            return Ok(t.clone());
        }
        let content = store.version_content(id, version).await?;
        let meta = store.template(account_id, id).await?.meta;
        let generate_text = meta.text_part_generation;
        let marketing = meta.is_marketing();
        let subject = content
            .headers
            .get("Subject")
            .and_then(Value::as_str)
            .unwrap_or("");
        let reads_activity = [subject, content.html.as_str(), content.text.as_str()]
            .iter()
            .any(|s| calls(s, ACTIVITY_FUNCTIONS));
        let compiled = Arc::new(CompiledTemplate {
            subject: Template::parse(
                content
                    .headers
                    .get("Subject")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            ),
            html: Template::parse(&content.html),
            text: Template::parse(&content.text),
            content,
            generate_text,
            marketing,
            reads_activity,
        });
        let mut map = self.map.lock().unwrap();
        if map.len() >= CACHE_MAX {
            map.clear();
        }
        map.insert((id, version, updated_at), compiled.clone());
        Ok(compiled)
    }
}

/// What a render sees besides the parts: the message's variables (`var:`), the predefined
/// `mj:` values and its recipient's recent activity (HasOpenedSince, HasClickedSince).
#[derive(Clone, Copy)]
pub struct Input<'a> {
    pub vars: &'a Value,
    pub mj: &'a Value,
    pub activity: Activity,
}

/// Whom a message is rendered for: its `mj:` values and recent activity.
#[derive(Debug, Clone, Default)]
pub struct Audience {
    pub mj: Value,
    pub activity: Activity,
}

impl Audience {
    /// For a message to `contact` (its first recipient) with this activity.
    pub fn of(contact: Option<&str>, activity: Activity) -> Audience {
        Audience {
            mj: mj_values(contact),
            activity,
        }
    }
}

/// Languages whose `mj:unsub_link_<code>` is predefined (the hosted page is in English and
/// French; the others show it in English).
const UNSUB_LANGUAGES: &[&str] = &[
    "en", "fr", "de", "es", "it", "nl", "pt", "da", "sv", "no", "fi", "pl", "cs", "ro", "hu",
];

/// The predefined `mj:` values a render sees: `mj:contact.email`, `.local_part`, `.domain`
/// of the message's (first) recipient; `mj:unsub_link` and `mj:unsub_link_<code>` print the
/// placeholders each recipient's copy replaces with its own link at delivery
/// (`[[UNSUB_LINK]]`, `[[UNSUB_LINK_FR]]`…), as Mailjet's marketing placeholders are.
pub fn mj_values(contact: Option<&str>) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("unsub_link".into(), Value::from("[[UNSUB_LINK]]"));
    for l in UNSUB_LANGUAGES {
        m.insert(
            format!("unsub_link_{l}"),
            Value::from(format!("[[UNSUB_LINK_{}]]", l.to_ascii_uppercase())),
        );
    }
    if let Some(email) = contact {
        let (local, domain) = email.rsplit_once('@').unwrap_or((email, ""));
        m.insert(
            "contact".into(),
            serde_json::json!({"email": email, "local_part": local, "domain": domain}),
        );
    }
    Value::Object(m)
}

/// The functions that read a contact's activity (lower case, as the language reads names).
pub const ACTIVITY_FUNCTIONS: &[&str] = &["hasopenedsince", "hasclickedsince"];

/// Whether `source` calls one of `names` (lower case; compared without case, and without
/// copying the source).
pub fn calls(source: &str, names: &[&str]) -> bool {
    let s = source.as_bytes();
    names.iter().any(|n| {
        s.windows(n.len())
            .any(|w| w.eq_ignore_ascii_case(n.as_bytes()))
    })
}

/// One part to render: its name in error reports, its source, and the template parsed from
/// it when it comes from a stored template.
struct Part<'a> {
    name: &'static str,
    source: &'a str,
    parsed: Option<&'a Parsed>,
    mode: Mode,
}

/// A message's own parts (Send API properties, or the body of a message received over SMTP).
#[derive(Default, Clone, Copy)]
pub struct OwnParts<'a> {
    pub subject: Option<&'a str>,
    pub html: Option<&'a str>,
    pub text: Option<&'a str>,
}

/// Runs CPU work (parsing and rendering templates, compiling MJML, generating text) on the
/// blocking pool, so that it never holds an async worker. `Err` when it panicked (a bug: the
/// caller answers with an internal error instead of dropping the connection).
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!(error = %e, "CPU task failed");
        format!("internal error: {e}")
    })
}

/// [`OwnParts`] that own their text, to be sent to the blocking pool.
#[derive(Default, Clone)]
pub struct OwnedParts {
    pub subject: Option<String>,
    pub html: Option<String>,
    pub text: Option<String>,
}

impl OwnedParts {
    fn borrow(&self) -> OwnParts<'_> {
        OwnParts {
            subject: self.subject.as_deref(),
            html: self.html.as_deref(),
            text: self.text.as_deref(),
        }
    }
}

/// [`render_message`] on the blocking pool when it has CPU work to do (the template language,
/// text generation): a heavy template never holds an async worker, so SMTP sessions, HTTP
/// requests and `/healthz` keep being served meanwhile. Without such work it runs in place.
pub async fn render_message_blocking(
    template: Option<Arc<CompiledTemplate>>,
    own: OwnedParts,
    vars: Value,
    audience: Audience,
    language: bool,
    limits: &Limits,
) -> Rendered {
    let heavy = language || template.as_ref().is_some_and(|t| t.generate_text);
    let input = Input {
        vars: &vars,
        mj: &audience.mj,
        activity: audience.activity,
    };
    if !heavy {
        return render_message(template.as_deref(), own.borrow(), input, language, limits);
    }
    let limits = limits.clone();
    let task = blocking(move || {
        let input = Input {
            vars: &vars,
            mj: &audience.mj,
            activity: audience.activity,
        };
        render_message(template.as_deref(), own.borrow(), input, language, &limits)
    });
    match task.await {
        Ok(rendered) => rendered,
        // A panic in a render is a bug; the message is blocked rather than lost or sent raw.
        Err(_) => Rendered {
            subject: String::new(),
            html: String::new(),
            text: String::new(),
            errors: vec![PartError {
                part: "Message",
                error: TemplateError::internal("internal error while rendering"),
            }],
        },
    }
}

/// What a message is sent with, and the template errors met on the way.
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
    pub errors: Vec<PartError>,
}

/// The parts a message is sent with: the stored template's, each replaced by the message's own
/// where the template has none (its subject always wins), rendered with `vars` when `language`
/// is on; then a text part generated from the HTML when the template asks for one.
pub fn render_message(
    template: Option<&CompiledTemplate>,
    own: OwnParts<'_>,
    input: Input<'_>,
    language: bool,
    limits: &Limits,
) -> Rendered {
    let stored_subject = template.map(|t| (t.subject_source(), &t.subject));
    let stored_html = template.map(|t| (t.content.html.as_str(), &t.html));
    let stored_text = template.map(|t| (t.content.text.as_str(), &t.text));
    fn part<'a>(
        name: &'static str,
        mode: Mode,
        own: Option<&'a str>,
        stored: Option<(&'a str, &'a Parsed)>,
    ) -> Part<'a> {
        // The message's own subject wins over the template's; its other parts fill in where
        // the template has none.
        let use_own = name == "Subject" && own.is_some();
        match stored {
            Some((source, parsed)) if !use_own && !source.is_empty() => Part {
                name,
                source,
                parsed: Some(parsed),
                mode,
            },
            _ => Part {
                name,
                source: own.unwrap_or(""),
                parsed: None,
                mode,
            },
        }
    }
    let parts = [
        part("Subject", Mode::Text, own.subject, stored_subject),
        part("HTMLPart", Mode::Html, own.html, stored_html),
        part("TextPart", Mode::Text, own.text, stored_text),
    ];
    let (out, errors) = render(&parts, input, language, limits);
    let [subject, html, text]: [String; 3] = out.try_into().expect("three parts");
    let generate = template.is_some_and(|t| t.generate_text);
    let text = if generate && text.trim().is_empty() && !html.is_empty() {
        generated_text(&html, limits)
    } else {
        text
    };
    Rendered {
        subject,
        html,
        text,
        errors,
    }
}

/// A template error with the part it happened in.
#[derive(Debug, Clone)]
pub struct PartError {
    pub part: &'static str,
    pub error: TemplateError,
}

impl std::fmt::Display for PartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (line {}, column {}): {}",
            self.part, self.error.line, self.error.column, self.error.message
        )
    }
}

/// The text part generated from the HTML within `limits`; HTML past them (too deep, too slow
/// to lay out) gets its tags stripped instead.
pub fn generated_text(html: &str, limits: &Limits) -> String {
    facteur_template::text::html_to_text_with(html, limits)
        .unwrap_or_else(|_| facteur_template::text::strip_tags(html))
}

/// Renders each part with `vars` when `language` is on (else the parts are sent as they
/// are). A part that fails keeps its source; every error is returned.
fn render(
    parts: &[Part<'_>],
    input: Input<'_>,
    language: bool,
    limits: &Limits,
) -> (Vec<String>, Vec<PartError>) {
    let mut errors = Vec::new();
    let ctx = Context {
        vars: input.vars,
        mj: input.mj,
        activity: input.activity,
        ..Context::default()
    };
    let out = parts
        .iter()
        .map(|p| {
            if !language || p.source.is_empty() {
                return p.source.to_string();
            }
            let parsed;
            let template = match p.parsed {
                Some(t) => t,
                None => {
                    parsed = Template::parse(p.source);
                    &parsed
                }
            };
            match template
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|t| t.render_with(&ctx, p.mode, limits))
            {
                Ok(s) => s,
                Err(e) => {
                    errors.push(PartError {
                        part: p.name,
                        error: e,
                    });
                    p.source.to_string()
                }
            }
        })
        .collect();
    (out, errors)
}

/// What a template error does to a message: blocked (the default) or delivered anyway, and
/// the reason recorded with the `blocked` event.
pub fn blocked_reason(errors: &[PartError], deliver_anyway: bool) -> Option<Blocked> {
    if errors.is_empty() || deliver_anyway {
        return None;
    }
    Some(Blocked {
        class: BounceClass::Content,
        reason: format!("{TEMPLATE_ERROR}: {}", errors[0]),
    })
}
