//! Every HTTP route in one table: method, path, handler, the permission it needs, and what
//! the OpenAPI document says of it. The router ([`router`]) and `/openapi.json`
//! ([`crate::api::openapi`]) are both built from [`table`], so neither can drift from the
//! other, and no route exists without a declared permission.

use std::sync::{Arc, OnceLock};

use axum::response::IntoResponse;
use axum::routing::{MethodRouter, delete, get, post, put};
use axum::{Json, Router};
use facteur_engine::Engine;
use serde_json::Value;

use crate::api::openapi::{self, Body, Doc, Operation};
use crate::api::{
    apikeys, capture, domains, health, messages, send, senders, stats, suppression, templates,
    tracking, webhooks,
};
use crate::auth::Permission;

/// A route's OpenAPI text.
const fn doc(
    tag: &'static str,
    summary: &'static str,
    body: Body,
    response: &'static str,
    success: u16,
) -> Doc {
    Doc {
        tag,
        summary,
        body,
        response,
        success,
    }
}

/// One operation.
pub struct Route {
    /// Lower case, as OpenAPI writes it.
    pub method: &'static str,
    pub path: &'static str,
    pub permission: Permission,
    pub handler: MethodRouter<Arc<Engine>>,
    pub doc: Doc,
}

impl Route {
    /// What the OpenAPI document says of this route.
    pub fn operation(&self) -> Operation<'_> {
        Operation {
            method: self.method,
            path: self.path,
            permission: self.permission,
            doc: &self.doc,
        }
    }
}

/// `/openapi.json`: the document of [`table`], built once.
async fn openapi_json() -> impl IntoResponse {
    static DOC: OnceLock<Value> = OnceLock::new();
    Json(
        DOC.get_or_init(|| openapi::document(table().iter().map(Route::operation)))
            .clone(),
    )
}

use Body::{Binary, None as NoBody, Object, Schema};

/// A page of the web app (not in the OpenAPI document).
fn page(
    method: &'static str,
    path: &'static str,
    permission: Permission,
    handler: MethodRouter<Arc<Engine>>,
) -> Route {
    Route {
        method,
        path,
        permission,
        handler,
        doc: doc("Web app", "A page of the web app.", NoBody, "Html", 200),
    }
}

/// Every page of the web app, with the permission each needs.
pub fn pages() -> Vec<Route> {
    use crate::collab::{live, rest as cr};
    use crate::web::{
        self, account as wa, capture as wc, messages as wm, people as wp, templates as wt,
    };
    use Permission as P;
    vec![
        page("get", "/app/assets/{*path}", P::Public, get(web::asset)),
        page("get", "/app/sign-in", P::Public, get(wp::sign_in_page)),
        page("post", "/app/sign-in", P::Public, post(wp::sign_in)),
        page("post", "/app/sign-out", P::Member, post(wp::sign_out)),
        page(
            "post",
            "/app/sign-out-everywhere",
            P::Member,
            post(wp::sign_out_everywhere),
        ),
        page("get", "/app/setup/{token}", P::Public, get(wp::setup_page)),
        page("post", "/app/setup/{token}", P::Public, post(wp::setup)),
        page(
            "get",
            "/app/invitation/{token}",
            P::Public,
            get(wp::invitation_page),
        ),
        page(
            "post",
            "/app/invitation/{token}",
            P::Public,
            post(wp::accept_invitation),
        ),
        page("get", "/app/reset", P::Public, get(wp::reset_request_page)),
        page("post", "/app/reset", P::Public, post(wp::reset_request)),
        page("get", "/app/reset/{token}", P::Public, get(wp::reset_page)),
        page("post", "/app/reset/{token}", P::Public, post(wp::reset)),
        page("get", "/app", P::Member, get(web::home)),
        page("post", "/app/account", P::Member, post(web::switch_account)),
        page("get", "/app/people", P::ViewPeople, get(wp::people_page)),
        page(
            "post",
            "/app/people/invite",
            P::ManagePeople,
            post(wp::invite),
        ),
        page(
            "post",
            "/app/people/{user}/{action}",
            P::ManagePeople,
            post(wp::change_role),
        ),
        page("get", "/app/roles", P::ViewPeople, get(wp::roles_page)),
        page("post", "/app/roles", P::ManagePeople, post(wp::create_role)),
        page(
            "post",
            "/app/roles/{id}/delete",
            P::ManagePeople,
            post(wp::delete_role),
        ),
        page("get", "/app/templates", P::ViewTemplates, get(wt::gallery)),
        page(
            "get",
            "/app/templates/{id}",
            P::ViewTemplates,
            get(wt::editor),
        ),
        page(
            "get",
            "/app/templates/{id}/thumbnail",
            P::ViewTemplates,
            get(wt::thumbnail),
        ),
        // The block editor and co-editing (docs/collab.md).
        page(
            "get",
            "/app/templates/{id}/live",
            P::ViewTemplates,
            get(live::live),
        ),
        page(
            "post",
            "/app/templates/{id}/mode",
            P::EditTemplates,
            post(cr::switch_mode),
        ),
        page(
            "get",
            "/app/templates/{id}/blocks/preview",
            P::ViewTemplates,
            get(cr::preview),
        ),
        page(
            "get",
            "/app/templates/{id}/comments",
            P::ViewTemplates,
            get(cr::list_comments),
        ),
        page(
            "post",
            "/app/templates/{id}/comments",
            P::ViewTemplates,
            post(cr::add_comment),
        ),
        page(
            "patch",
            "/app/comments/{id}",
            P::ViewTemplates,
            axum::routing::patch(cr::edit_comment).delete(cr::delete_comment),
        ),
        page(
            "post",
            "/app/comments/{id}/{action}",
            P::ViewTemplates,
            post(cr::resolve_comment),
        ),
        page(
            "post",
            "/app/templates/{id}/requests",
            P::EditTemplates,
            post(cr::create_request),
        ),
        page(
            "post",
            "/app/templates/{id}/images",
            P::EditTemplates,
            post(cr::upload_image),
        ),
        page(
            "get",
            "/app/requests/{id}",
            P::ViewTemplates,
            get(cr::request_page),
        ),
        page(
            "get",
            "/app/requests/{id}/frame/{which}",
            P::ViewTemplates,
            get(cr::request_frame),
        ),
        page(
            "post",
            "/app/requests/{id}/{action}",
            P::PublishTemplates,
            post(cr::decide_request),
        ),
        page(
            "get",
            "/app/notifications",
            P::Member,
            get(cr::notifications),
        ),
        page(
            "post",
            "/app/notifications/read",
            P::Member,
            post(cr::read_notifications),
        ),
        page("get", "/app/keys", P::ViewKeys, get(wa::keys)),
        page("get", "/app/webhooks", P::ViewWebhooks, get(wa::webhooks)),
        page("get", "/app/captured", P::ViewMessages, get(wc::list)),
        page("get", "/app/captured/{id}", P::ViewMessages, get(wc::one)),
        page(
            "get",
            "/app/captured/{id}/html",
            P::ViewMessages,
            get(wc::html),
        ),
        page(
            "post",
            "/app/captured/{id}/delete",
            P::ManageMessages,
            post(wc::delete),
        ),
        page("get", "/app/messages", P::ViewMessages, get(wm::log)),
        page(
            "get",
            "/app/messages/{id}",
            P::ViewMessages,
            get(wm::message),
        ),
        page(
            "get",
            "/app/messages/{id}/html",
            P::ViewMessages,
            get(wm::message_html),
        ),
    ]
}

/// Every route of the API.
pub fn table() -> Vec<Route> {
    vec![
        Route {
            method: "get",
            path: "/healthz",
            permission: Permission::Public,
            handler: get(health::healthz),
            doc: doc(
                "Meta",
                "Health: 200 {\"status\": \"ok\", \"queue\": n} when the store answers a read and a write, else 503.",
                NoBody,
                "Object",
                200,
            ),
        },
        Route {
            method: "get",
            path: "/metrics",
            permission: Permission::Public,
            handler: get(health::metrics),
            doc: doc(
                "Meta",
                "Prometheus metrics (text format).",
                NoBody,
                "Text",
                200,
            ),
        },
        Route {
            method: "post",
            path: "/v3.1/send",
            permission: Permission::Send,
            handler: post(send::send),
            doc: doc(
                "Send",
                "Send up to 50 messages (Mailjet Send API v3.1). 200 when all succeed; otherwise each message has its Errors.",
                Schema("SendRequest"),
                "SendResponse",
                200,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/message",
            permission: Permission::ViewMessages,
            handler: get(messages::list),
            doc: doc(
                "Messages",
                "List messages (one per recipient), newest first; filter with CustomID; Limit (≤ 1000) and Offset.",
                NoBody,
                "MessageList",
                200,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/message/{id}",
            permission: Permission::ViewMessages,
            handler: get(messages::one),
            doc: doc(
                "Messages",
                "One message: its status, subject, attempts, CustomID.",
                NoBody,
                "MessageList",
                200,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/messagehistory/{id}",
            permission: Permission::ViewMessages,
            handler: get(messages::history),
            doc: doc(
                "Messages",
                "Every event of one message (queued, deferred, sent, bounce, blocked).",
                NoBody,
                "HistoryList",
                200,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/capture",
            permission: Permission::ViewMessages,
            handler: get(capture::list),
            doc: doc(
                "Capture",
                "Capture mode: the messages kept instead of sent (one per recipient), newest first; Search (recipient or subject contains), Limit (≤ 1000) and Offset.",
                NoBody,
                "CaptureList",
                200,
            ),
        },
        Route {
            method: "delete",
            path: "/v3/REST/capture",
            permission: Permission::ManageMessages,
            handler: delete(capture::clear),
            doc: doc(
                "Capture",
                "Remove every captured message of the account.",
                NoBody,
                "Empty",
                204,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/capture/{id}",
            permission: Permission::ViewMessages,
            handler: get(capture::one),
            doc: doc(
                "Capture",
                "One captured message: its Headers as written, HtmlPart and TextPart decoded (null when absent).",
                NoBody,
                "Capture",
                200,
            ),
        },
        Route {
            method: "delete",
            path: "/v3/REST/capture/{id}",
            permission: Permission::ManageMessages,
            handler: delete(capture::remove),
            doc: doc(
                "Capture",
                "Remove one captured message.",
                NoBody,
                "Empty",
                204,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/capture/{id}/raw",
            permission: Permission::ViewMessages,
            handler: get(capture::raw),
            doc: doc(
                "Capture",
                "The captured message's source, byte for byte as it would have been sent (tracked, signed).",
                NoBody,
                "Rfc822",
                200,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/apikey",
            permission: Permission::ViewKeys,
            handler: get(apikeys::list),
            doc: doc(
                "API keys",
                "This key and, for a master key, its sub-account keys.",
                NoBody,
                "ApiKeyList",
                200,
            ),
        },
        Route {
            method: "post",
            path: "/v3/REST/apikey",
            permission: Permission::ManageKeys,
            handler: post(apikeys::create),
            doc: doc(
                "API keys",
                "Create a sub-account key (master key only): {\"Name\"}. The SecretKey is shown only in this answer.",
                Schema("ApiKeyInput"),
                "ApiKeyList",
                201,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/apikey/{id}",
            permission: Permission::ViewKeys,
            handler: get(apikeys::one),
            doc: doc("API keys", "One key.", NoBody, "ApiKeyList", 200),
        },
        Route {
            method: "put",
            path: "/v3/REST/apikey/{id}",
            permission: Permission::ManageKeys,
            handler: put(apikeys::update),
            doc: doc(
                "API keys",
                "Rename a key, set its TrackHost and TrackOpens/TrackClicks defaults, or (master only) deactivate/reactivate it or allow Sender.",
                Schema("ApiKeyInput"),
                "ApiKeyList",
                200,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/eventcallbackurl",
            permission: Permission::ViewWebhooks,
            handler: get(webhooks::list),
            doc: doc(
                "Webhooks",
                "The account's event callback URLs.",
                NoBody,
                "WebhookList",
                200,
            ),
        },
        Route {
            method: "post",
            path: "/v3/REST/eventcallbackurl",
            permission: Permission::ManageWebhooks,
            handler: post(webhooks::create),
            doc: doc(
                "Webhooks",
                "Register a callback URL for one event type.",
                Schema("WebhookInput"),
                "WebhookList",
                201,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/eventcallbackurl/{id}",
            permission: Permission::ViewWebhooks,
            handler: get(webhooks::one),
            doc: doc("Webhooks", "One callback URL.", NoBody, "WebhookList", 200),
        },
        Route {
            method: "put",
            path: "/v3/REST/eventcallbackurl/{id}",
            permission: Permission::ManageWebhooks,
            handler: put(webhooks::update),
            doc: doc(
                "Webhooks",
                "Change a callback URL; a new Url makes a dead one alive.",
                Schema("WebhookInput"),
                "WebhookList",
                200,
            ),
        },
        Route {
            method: "delete",
            path: "/v3/REST/eventcallbackurl/{id}",
            permission: Permission::ManageWebhooks,
            handler: delete(webhooks::remove),
            doc: doc(
                "Webhooks",
                "Delete a callback URL and its pending calls.",
                NoBody,
                "Empty",
                204,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/dns",
            permission: Permission::ViewDomains,
            handler: get(domains::list),
            doc: doc(
                "Sender domains",
                "The account's sending domains, their DKIM keys and the DNS records to publish.",
                NoBody,
                "DomainList",
                200,
            ),
        },
        Route {
            method: "post",
            path: "/v3/REST/dns",
            permission: Permission::ManageDomains,
            handler: post(domains::create),
            doc: doc(
                "Sender domains",
                "Add a sending domain: its DKIM keys are generated (Keys: rsa, ed25519 or both) and mail from it is signed at once.",
                Schema("DomainInput"),
                "DomainList",
                201,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/dns/{id}",
            permission: Permission::ViewDomains,
            handler: get(domains::one),
            doc: doc(
                "Sender domains",
                "One domain, by ID or by name.",
                NoBody,
                "DomainList",
                200,
            ),
        },
        Route {
            method: "put",
            path: "/v3/REST/dns/{id}",
            permission: Permission::ManageDomains,
            handler: put(domains::update),
            doc: doc(
                "Sender domains",
                "Set the domain's TrackHost: where the tracking and unsubscribe links of its mail point (\"\" for the account's, else public_url).",
                Schema("DomainUpdate"),
                "DomainList",
                200,
            ),
        },
        Route {
            method: "delete",
            path: "/v3/REST/dns/{id}",
            permission: Permission::ManageDomains,
            handler: delete(domains::remove),
            doc: doc(
                "Sender domains",
                "Remove a domain and its keys: its mail is no longer signed.",
                NoBody,
                "Empty",
                204,
            ),
        },
        Route {
            method: "post",
            path: "/v3/REST/dns/{id}/rotate",
            permission: Permission::ManageDomains,
            handler: post(domains::rotate),
            doc: doc(
                "Sender domains",
                "Key rotation, step 1: new keys under a new selector, pending beside the active ones. Publish their records, then activate.",
                Schema("DomainRotate"),
                "DomainList",
                200,
            ),
        },
        Route {
            method: "post",
            path: "/v3/REST/dns/{id}/activate",
            permission: Permission::ManageDomains,
            handler: post(domains::activate),
            doc: doc(
                "Sender domains",
                "Key rotation, step 2: the pending keys sign from now on, the active ones retire.",
                NoBody,
                "DomainList",
                200,
            ),
        },
        Route {
            method: "post",
            path: "/v3/REST/dns/{id}/check",
            permission: Permission::ManageDomains,
            handler: post(domains::check),
            doc: doc(
                "Sender domains",
                "Look the domain's records up in DNS (following CNAMEs and SPF includes): each record's status (OK, Not found, Error) and current value. A domain whose DKIM record is found is verified: its addresses may send.",
                NoBody,
                "DomainCheck",
                200,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/sender",
            permission: Permission::ViewSenders,
            handler: get(senders::list),
            doc: doc(
                "Senders",
                "The account's senders (addresses and *@domain catch-alls); filter with Email, Status, ShowDeleted.",
                NoBody,
                "SenderList",
                200,
            ),
        },
        Route {
            method: "post",
            path: "/v3/REST/sender",
            permission: Permission::ManageSenders,
            handler: post(senders::create),
            doc: doc(
                "Senders",
                "Add a sender, Inactive until validated (POST /v3/REST/sender/{id}/validate).",
                Schema("SenderInput"),
                "SenderList",
                201,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/sender/{id}",
            permission: Permission::ViewSenders,
            handler: get(senders::one),
            doc: doc("Senders", "One sender.", NoBody, "SenderList", 200),
        },
        Route {
            method: "delete",
            path: "/v3/REST/sender/{id}",
            permission: Permission::ManageSenders,
            handler: delete(senders::remove),
            doc: doc(
                "Senders",
                "Delete a sender (its Status becomes Deleted): mail from it is refused where senders are enforced.",
                NoBody,
                "Empty",
                204,
            ),
        },
        Route {
            method: "post",
            path: "/v3/REST/sender/{id}/validate",
            permission: Permission::ManageSenders,
            handler: post(senders::validate),
            doc: doc(
                "Senders",
                "Validate a sender: an address gets a confirmation link (sent through this server), or is active at once when its domain is verified; a catch-all needs its domain's DNS check. 200 with Errors when it did not validate; 400 when already active.",
                NoBody,
                "SenderValidation",
                200,
            ),
        },
        Route {
            method: "get",
            path: "/sender/confirm/{token}",
            permission: Permission::Public,
            handler: get(senders::confirm_page),
            doc: doc(
                "Senders",
                "The confirmation link of a sender's validation e-mail: an HTML page with a button (opening the link alone validates nothing).",
                NoBody,
                "Text",
                200,
            ),
        },
        Route {
            method: "post",
            path: "/sender/confirm/{token}",
            permission: Permission::Public,
            handler: post(senders::confirm),
            doc: doc(
                "Senders",
                "The page's button: the sender becomes Active.",
                NoBody,
                "Text",
                200,
            ),
        },
        Route {
            method: "get",
            path: "/o/{token}",
            permission: Permission::Public,
            handler: get(tracking::open),
            doc: doc(
                "Tracking",
                "The open pixel of a tracked message: a 1x1 GIF, never cached; the open is recorded. 404 for a token that is not valid.",
                NoBody,
                "Gif",
                200,
            ),
        },
        Route {
            method: "get",
            path: "/c/{token}",
            permission: Permission::Public,
            handler: get(tracking::click),
            doc: doc(
                "Tracking",
                "A tracked link: 302 to the URL the token carries; the click is recorded (HEAD requests as a machine's). 404 for a token that is not valid, never a redirect.",
                NoBody,
                "Empty",
                302,
            ),
        },
        Route {
            method: "get",
            path: "/u/{token}",
            permission: Permission::Public,
            handler: get(tracking::unsub_page_get),
            doc: doc(
                "Tracking",
                "A recipient's unsubscribe link (marketing mail's [[UNSUB_LINK_xx]] and List-Unsubscribe): a page in English or French (?l=fr, else the browser's language) with a button; opening it alone unsubscribes nobody. 404 for a token that is not valid.",
                NoBody,
                "Text",
                200,
            ),
        },
        Route {
            method: "post",
            path: "/u/{token}",
            permission: Permission::Public,
            handler: post(tracking::unsub_post),
            doc: doc(
                "Tracking",
                "Unsubscribes (the page's button, or RFC 8058 one-click with List-Unsubscribe=One-Click): the address goes on the account's suppression list for marketing mail and the unsub event is recorded. 404 for a token that is not valid.",
                NoBody,
                "Text",
                200,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/statcounters",
            permission: Permission::ViewStatistics,
            handler: get(stats::counters),
            doc: doc(
                "Statistics",
                "Counters by slice (CounterSource APIKey|Campaign|Sender, SourceId, CounterTiming Message|Event, CounterResolution Lifetime|Day|Hour|Highest, FromTS, ToTS).",
                NoBody,
                "StatCounters",
                200,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/statistics/link-click",
            permission: Permission::ViewStatistics,
            handler: get(stats::link_click),
            doc: doc(
                "Statistics",
                "Clicks per tracked link (CampaignId: the campaign's name; none: every message).",
                NoBody,
                "LinkClicks",
                200,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/statistics/recipient-esp",
            permission: Permission::ViewStatistics,
            handler: get(stats::recipient_esp),
            doc: doc(
                "Statistics",
                "Counters per recipient domain, message timing (FromTS, ToTS).",
                NoBody,
                "StatCounters",
                200,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/suppression",
            permission: Permission::ViewSuppression,
            handler: get(suppression::list),
            doc: doc(
                "Suppression list",
                "Addresses that get no more mail (Reason, Email filters; Limit, Offset).",
                NoBody,
                "SuppressionList",
                200,
            ),
        },
        Route {
            method: "post",
            path: "/v3/REST/suppression",
            permission: Permission::ManageSuppression,
            handler: post(suppression::create),
            doc: doc(
                "Suppression list",
                "Add an address by hand (Reason manual by default).",
                Schema("SuppressionInput"),
                "SuppressionList",
                201,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/suppression.csv",
            permission: Permission::ViewSuppression,
            handler: get(suppression::export),
            doc: doc(
                "Suppression list",
                "The list as CSV (same filters as the list).",
                NoBody,
                "Csv",
                200,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/suppression/{email}",
            permission: Permission::ViewSuppression,
            handler: get(suppression::one),
            doc: doc(
                "Suppression list",
                "One address's entry.",
                NoBody,
                "SuppressionList",
                200,
            ),
        },
        Route {
            method: "delete",
            path: "/v3/REST/suppression/{email}",
            permission: Permission::ManageSuppression,
            handler: delete(suppression::remove),
            doc: doc(
                "Suppression list",
                "Take an address off the list: it gets mail again.",
                NoBody,
                "Empty",
                204,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/template",
            permission: Permission::ViewTemplates,
            handler: get(templates::list),
            doc: doc(
                "Templates",
                "List templates: Name, EditMode, Categories, IsStarred filters; Sort; Limit and Offset.",
                NoBody,
                "Envelope",
                200,
            ),
        },
        Route {
            method: "post",
            path: "/v3/REST/template",
            permission: Permission::EditTemplates,
            handler: post(templates::create),
            doc: doc(
                "Templates",
                "Create a template (metadata).",
                Object,
                "Envelope",
                201,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/template/{id}",
            permission: Permission::ViewTemplates,
            handler: get(templates::show),
            doc: doc(
                "Templates",
                "One template's metadata.",
                NoBody,
                "Envelope",
                200,
            ),
        },
        Route {
            method: "put",
            path: "/v3/REST/template/{id}",
            permission: Permission::EditTemplates,
            handler: put(templates::update),
            doc: doc(
                "Templates",
                "Change metadata (PUT acts as PATCH).",
                Object,
                "Envelope",
                200,
            ),
        },
        Route {
            method: "delete",
            path: "/v3/REST/template/{id}",
            permission: Permission::EditTemplates,
            handler: delete(templates::remove),
            doc: doc(
                "Templates",
                "Delete a template and its versions.",
                NoBody,
                "Empty",
                204,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/template/{id}/detailcontent",
            permission: Permission::ViewTemplates,
            handler: get(templates::content::content),
            doc: doc(
                "Templates",
                "The content: Html-part, Text-part, MJMLContent, Headers.",
                NoBody,
                "Envelope",
                200,
            ),
        },
        Route {
            method: "post",
            path: "/v3/REST/template/{id}/detailcontent",
            permission: Permission::PublishTemplates,
            handler: post(templates::content::replace_content),
            doc: doc(
                "Templates",
                "Replace the content (published as a new version).",
                Object,
                "Envelope",
                201,
            ),
        },
        Route {
            method: "put",
            path: "/v3/REST/template/{id}/detailcontent",
            permission: Permission::PublishTemplates,
            handler: put(templates::content::merge_content),
            doc: doc(
                "Templates",
                "Change the named parts of the content (published as a new version).",
                Object,
                "Envelope",
                200,
            ),
        },
        Route {
            method: "put",
            path: "/v3/REST/template/{id}/draft",
            permission: Permission::EditTemplates,
            handler: put(templates::content::save_draft),
            doc: doc(
                "Templates",
                "Save the draft without publishing.",
                Object,
                "Envelope",
                200,
            ),
        },
        Route {
            method: "post",
            path: "/v3/REST/template/{id}/publish",
            permission: Permission::PublishTemplates,
            handler: post(templates::content::publish),
            doc: doc(
                "Templates",
                "Publish the draft as the next version.",
                Object,
                "Envelope",
                200,
            ),
        },
        Route {
            method: "post",
            path: "/v3/REST/template/{id}/operations",
            permission: Permission::EditTemplates,
            handler: post(crate::collab::rest::operation),
            doc: doc(
                "Templates",
                "Apply one operation of the block editor (docs/collab.md: set, insert_block, move_block, delete_block, insert_section, move_section, delete_section, insert_column, delete_column, lock) to a template edited visually. Checked as the editor's own are: 403 for a role that may not, 409 when another person holds the section's lease, 423 when a lock of the section forbids it (ErrorInfo: role, lease, locked, invalid). 200 {\"Seq\": n}.",
                Object,
                "Object",
                200,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/template/{id}/blocks",
            permission: Permission::ViewTemplates,
            handler: get(crate::collab::rest::document),
            doc: doc(
                "Templates",
                "The block document of a template edited visually: {\"Seq\": the op log's last sequence number, \"Document\": sections → columns → blocks, \"MJML\": what it compiles to}. 404 for a template edited as code.",
                NoBody,
                "Object",
                200,
            ),
        },
        Route {
            method: "get",
            path: "/i/{token}",
            permission: Permission::Public,
            handler: get(crate::collab::rest::image),
            doc: doc(
                "Tracking",
                "An image uploaded in the block editor, as recipients load it (cached for good).",
                NoBody,
                "Binary",
                200,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/template/{id}/partials",
            permission: Permission::ViewTemplates,
            handler: get(templates::partials::partials),
            doc: doc(
                "Templates",
                "Shared partials: {\"Uses\": the templates this one's newest version includes with <mj-include path=\"NAME\"/> and the version of each it was compiled with, \"UsedBy\": the templates whose newest version includes this one}. A draft compiles with each partial's current content, publishing with its newest published version.",
                NoBody,
                "Object",
                200,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/template/{id}/versions",
            permission: Permission::ViewTemplates,
            handler: get(templates::content::versions),
            doc: doc(
                "Templates",
                "Every version with its diff summary.",
                NoBody,
                "Envelope",
                200,
            ),
        },
        Route {
            method: "post",
            path: "/v3/REST/template/{id}/versions/{number}/restore",
            permission: Permission::EditTemplates,
            handler: post(templates::content::restore),
            doc: doc(
                "Templates",
                "Copy a version into the draft.",
                NoBody,
                "Envelope",
                200,
            ),
        },
        Route {
            method: "post",
            path: "/v3/REST/template/{id}/preview",
            permission: Permission::ViewTemplates,
            handler: post(templates::preview::preview),
            doc: doc(
                "Templates",
                "Render subject, HTML and text with test values (Normal or Expert mode) without sending.",
                Object,
                "Object",
                200,
            ),
        },
        Route {
            method: "post",
            path: "/v3/REST/mjml",
            permission: Permission::ViewTemplates,
            handler: post(templates::preview::compile_mjml),
            doc: doc(
                "Templates",
                "Compile MJML to HTML without storing it and without the templating language (other tools' placeholders are kept): {\"MJMLContent\", \"Validation\": \"strict\"|\"soft\" (default)|\"skip\", \"KeepComments\": true (default)|false} → {\"Html-part\", \"Warnings\": [{\"Message\", \"Line\", \"Column\"}], \"Partials\": the templates <mj-include> brought in}; an MJML error (or, at the strict level, a validation finding) is a 400 with its line and column.",
                Object,
                "Object",
                200,
            ),
        },
        Route {
            method: "post",
            path: "/v3/REST/template/{id}/check",
            permission: Permission::ViewTemplates,
            handler: post(templates::preview::check),
            doc: doc(
                "Templates",
                "Content advice on the template rendered with test values: text/image ratio, weight, calls to action (number, position, wording, contrast), preheader, subject, unsubscribe link, links, alt texts. Each advice names its element: [{Code, Severity, Message, Element, Line}].",
                Object,
                "Envelope",
                200,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/template/{id}/export",
            permission: Permission::ViewTemplates,
            handler: get(templates::transfer::export),
            doc: doc(
                "Templates",
                "Export a template with all its versions as one JSON file.",
                NoBody,
                "Object",
                200,
            ),
        },
        Route {
            method: "post",
            path: "/v3/REST/template/import",
            permission: Permission::EditTemplates,
            handler: post(templates::transfer::import),
            doc: doc(
                "Templates",
                "Import one exported template (JSON) or a zip of many.",
                Binary,
                "Envelope",
                201,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/template/export",
            permission: Permission::ViewTemplates,
            handler: get(templates::transfer::export_zip),
            doc: doc(
                "Templates",
                "Export every template of the account as a zip.",
                NoBody,
                "Binary",
                200,
            ),
        },
        Route {
            method: "get",
            path: "/v3/REST/template/{id}/html",
            permission: Permission::ViewTemplates,
            handler: get(templates::transfer::download_html),
            doc: doc(
                "Templates",
                "Download the rendered HTML.",
                NoBody,
                "Html",
                200,
            ),
        },
        Route {
            method: "post",
            path: "/v3/REST/template/{id}/test",
            permission: Permission::TestSend,
            handler: post(templates::preview::send_test),
            doc: doc(
                "Templates",
                "Send the template, rendered with its saved test values, to given addresses through the queue.",
                Object,
                "Object",
                200,
            ),
        },
        Route {
            method: "post",
            path: "/v3/REST/template/{id}/duplicate",
            permission: Permission::EditTemplates,
            handler: post(templates::transfer::duplicate),
            doc: doc("Templates", "Copy a template.", Object, "Envelope", 201),
        },
        Route {
            method: "get",
            path: "/v3/REST/gallery",
            permission: Permission::ViewTemplates,
            handler: get(templates::gallery::gallery),
            doc: doc(
                "Templates",
                "The starter templates.",
                NoBody,
                "Envelope",
                200,
            ),
        },
        Route {
            method: "post",
            path: "/v3/REST/gallery/{slug}/use",
            permission: Permission::EditTemplates,
            handler: post(templates::gallery::use_starter),
            doc: doc(
                "Templates",
                "Copy a starter template into the account.",
                Object,
                "Envelope",
                201,
            ),
        },
        Route {
            method: "get",
            path: "/openapi.json",
            permission: Permission::Public,
            handler: get(openapi_json),
            doc: doc("Meta", "This document.", NoBody, "Object", 200),
        },
    ]
}

/// The router of [`table`]: each route's handler behind the check of its permission
/// ([`crate::auth::require`]). Routes that share a path share one method router.
pub fn router(engine: &Arc<Engine>) -> Router<Arc<Engine>> {
    let mut router = Router::new();
    let pages = pages().into_iter().map(|mut p| {
        p.handler = p
            .handler
            .layer(axum::middleware::from_fn(crate::web::compress));
        p
    });
    for route in table().into_iter().chain(pages) {
        let handler = route
            .handler
            .route_layer(axum::middleware::from_fn_with_state(
                (route.permission, engine.clone()),
                crate::auth::require,
            ));
        router = router.route(route.path, handler);
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::auth::Permission;

    /// Every route of the table has a permission, appears in the document with it, and the
    /// document has nothing else.
    #[test]
    fn every_route_has_a_permission_and_is_documented() {
        let routes = table();
        assert!(routes.len() > 30);
        let doc = openapi::document(routes.iter().map(Route::operation));
        let paths = doc["paths"].as_object().unwrap();
        for r in &routes {
            let op = &paths[r.path][r.method];
            assert!(
                op.is_object(),
                "{} {} missing from OpenAPI",
                r.method,
                r.path
            );
            assert_eq!(
                op["x-permission"],
                r.permission.name(),
                "{} {}",
                r.method,
                r.path
            );
            let public = op["security"] == json!([]);
            assert_eq!(
                public,
                r.permission == Permission::Public,
                "{} {}",
                r.method,
                r.path
            );
        }
        let operations: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(operations, routes.len(), "one operation per route");
        let mut seen = std::collections::HashSet::new();
        for r in &routes {
            assert!(
                seen.insert((r.method, r.path)),
                "{} {} twice",
                r.method,
                r.path
            );
        }
    }

    #[test]
    fn references_resolve() {
        let doc = openapi::document(table().iter().map(Route::operation));
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("#/components/schemas/").skip(1) {
            let name = part.split('"').next().unwrap();
            assert!(schemas.contains_key(name), "missing schema {name}");
        }
    }
}
