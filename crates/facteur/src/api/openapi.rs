//! The OpenAPI 3.1 document served at `/openapi.json`, built at run time from [`ENDPOINTS`]:
//! one row per method and path. A test reads every `.route(…)` of the API's modules and
//! fails when one is missing here (or listed here but not routed), so the document cannot
//! drift from the router.

use std::sync::Arc;

use axum::response::IntoResponse;
use axum::{Json, Router, routing::get};
use serde_json::{Map, Value, json};

use crate::app::App;

pub fn routes() -> Router<Arc<App>> {
    Router::new().route("/openapi.json", get(serve))
}

async fn serve() -> impl IntoResponse {
    Json(document())
}

/// What a request body is.
#[derive(Clone, Copy)]
pub enum Body {
    None,
    /// A schema in `components/schemas`.
    Schema(&'static str),
    /// Any JSON object (the operation's text says which properties).
    Object,
    /// A file upload (zip).
    Binary,
}

/// One operation.
pub struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub body: Body,
    /// Response schema for the success status.
    pub response: &'static str,
    pub success: u16,
}

const fn ep(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    body: Body,
    response: &'static str,
    success: u16,
) -> Endpoint {
    Endpoint {
        method,
        path,
        tag,
        summary,
        body,
        response,
        success,
    }
}

use Body::{Binary, None as NoBody, Object, Schema};

pub const ENDPOINTS: &[Endpoint] = &[
    ep(
        "post",
        "/v3.1/send",
        "Send",
        "Send up to 50 messages (Mailjet Send API v3.1). 200 when all succeed; otherwise each message has its Errors.",
        Schema("SendRequest"),
        "SendResponse",
        200,
    ),
    ep(
        "get",
        "/v3/REST/message",
        "Messages",
        "List messages (one per recipient), newest first; filter with CustomID; Limit (≤ 1000) and Offset.",
        NoBody,
        "MessageList",
        200,
    ),
    ep(
        "get",
        "/v3/REST/message/{id}",
        "Messages",
        "One message: its status, subject, attempts, CustomID.",
        NoBody,
        "MessageList",
        200,
    ),
    ep(
        "get",
        "/v3/REST/messagehistory/{id}",
        "Messages",
        "Every event of one message (queued, deferred, sent, bounce, blocked).",
        NoBody,
        "HistoryList",
        200,
    ),
    ep(
        "get",
        "/v3/REST/apikey",
        "API keys",
        "This key and, for a master key, its sub-account keys.",
        NoBody,
        "ApiKeyList",
        200,
    ),
    ep(
        "post",
        "/v3/REST/apikey",
        "API keys",
        "Create a sub-account key (master key only): {\"Name\"}. The SecretKey is shown only in this answer.",
        Schema("ApiKeyInput"),
        "ApiKeyList",
        201,
    ),
    ep(
        "get",
        "/v3/REST/apikey/{id}",
        "API keys",
        "One key.",
        NoBody,
        "ApiKeyList",
        200,
    ),
    ep(
        "put",
        "/v3/REST/apikey/{id}",
        "API keys",
        "Rename a key, or (master only) deactivate/reactivate it or allow Sender.",
        Schema("ApiKeyInput"),
        "ApiKeyList",
        200,
    ),
    ep(
        "get",
        "/v3/REST/eventcallbackurl",
        "Webhooks",
        "The account's event callback URLs.",
        NoBody,
        "WebhookList",
        200,
    ),
    ep(
        "post",
        "/v3/REST/eventcallbackurl",
        "Webhooks",
        "Register a callback URL for one event type.",
        Schema("WebhookInput"),
        "WebhookList",
        201,
    ),
    ep(
        "get",
        "/v3/REST/eventcallbackurl/{id}",
        "Webhooks",
        "One callback URL.",
        NoBody,
        "WebhookList",
        200,
    ),
    ep(
        "put",
        "/v3/REST/eventcallbackurl/{id}",
        "Webhooks",
        "Change a callback URL; a new Url makes a dead one alive.",
        Schema("WebhookInput"),
        "WebhookList",
        200,
    ),
    ep(
        "delete",
        "/v3/REST/eventcallbackurl/{id}",
        "Webhooks",
        "Delete a callback URL and its pending calls.",
        NoBody,
        "Empty",
        204,
    ),
    ep(
        "get",
        "/v3/REST/template",
        "Templates",
        "List templates: Name, EditMode, Categories, IsStarred filters; Sort; Limit and Offset.",
        NoBody,
        "Envelope",
        200,
    ),
    ep(
        "post",
        "/v3/REST/template",
        "Templates",
        "Create a template (metadata).",
        Object,
        "Envelope",
        201,
    ),
    ep(
        "get",
        "/v3/REST/template/{id}",
        "Templates",
        "One template's metadata.",
        NoBody,
        "Envelope",
        200,
    ),
    ep(
        "put",
        "/v3/REST/template/{id}",
        "Templates",
        "Change metadata (PUT acts as PATCH).",
        Object,
        "Envelope",
        200,
    ),
    ep(
        "delete",
        "/v3/REST/template/{id}",
        "Templates",
        "Delete a template and its versions.",
        NoBody,
        "Empty",
        204,
    ),
    ep(
        "get",
        "/v3/REST/template/{id}/detailcontent",
        "Templates",
        "The content: Html-part, Text-part, MJMLContent, Headers.",
        NoBody,
        "Envelope",
        200,
    ),
    ep(
        "post",
        "/v3/REST/template/{id}/detailcontent",
        "Templates",
        "Replace the content (published as a new version).",
        Object,
        "Envelope",
        201,
    ),
    ep(
        "put",
        "/v3/REST/template/{id}/detailcontent",
        "Templates",
        "Change the named parts of the content (published as a new version).",
        Object,
        "Envelope",
        200,
    ),
    ep(
        "put",
        "/v3/REST/template/{id}/draft",
        "Templates",
        "Save the draft without publishing.",
        Object,
        "Envelope",
        200,
    ),
    ep(
        "post",
        "/v3/REST/template/{id}/publish",
        "Templates",
        "Publish the draft as the next version.",
        Object,
        "Envelope",
        200,
    ),
    ep(
        "get",
        "/v3/REST/template/{id}/versions",
        "Templates",
        "Every version with its diff summary.",
        NoBody,
        "Envelope",
        200,
    ),
    ep(
        "post",
        "/v3/REST/template/{id}/versions/{number}/restore",
        "Templates",
        "Copy a version into the draft.",
        NoBody,
        "Envelope",
        200,
    ),
    ep(
        "post",
        "/v3/REST/template/{id}/preview",
        "Templates",
        "Render subject, HTML and text with test values (Normal or Expert mode) without sending.",
        Object,
        "Object",
        200,
    ),
    ep(
        "get",
        "/v3/REST/template/{id}/export",
        "Templates",
        "Export a template with all its versions as one JSON file.",
        NoBody,
        "Object",
        200,
    ),
    ep(
        "post",
        "/v3/REST/template/import",
        "Templates",
        "Import one exported template (JSON) or a zip of many.",
        Binary,
        "Envelope",
        201,
    ),
    ep(
        "get",
        "/v3/REST/template/export",
        "Templates",
        "Export every template of the account as a zip.",
        NoBody,
        "Binary",
        200,
    ),
    ep(
        "get",
        "/v3/REST/template/{id}/html",
        "Templates",
        "Download the rendered HTML.",
        NoBody,
        "Html",
        200,
    ),
    ep(
        "post",
        "/v3/REST/template/{id}/test",
        "Templates",
        "Send the template, rendered with its saved test values, to given addresses through the queue.",
        Object,
        "Object",
        200,
    ),
    ep(
        "post",
        "/v3/REST/template/{id}/duplicate",
        "Templates",
        "Copy a template.",
        Object,
        "Envelope",
        201,
    ),
    ep(
        "get",
        "/v3/REST/gallery",
        "Templates",
        "The starter templates.",
        NoBody,
        "Envelope",
        200,
    ),
    ep(
        "post",
        "/v3/REST/gallery/{slug}/use",
        "Templates",
        "Copy a starter template into the account.",
        Object,
        "Envelope",
        201,
    ),
    ep(
        "get",
        "/openapi.json",
        "Meta",
        "This document.",
        NoBody,
        "Object",
        200,
    ),
];

fn schemas() -> Value {
    let mailbox = json!({"type": "object", "required": ["Email"], "properties": {"Email": {"type": "string", "format": "email"}, "Name": {"type": "string"}}});
    let mailboxes =
        json!({"type": "array", "maxItems": 50, "items": {"$ref": "#/components/schemas/Mailbox"}});
    let attachment = json!({"type": "object", "required": ["ContentType", "Filename", "Base64Content"], "properties": {
        "ContentType": {"type": "string"}, "Filename": {"type": "string"}, "Base64Content": {"type": "string", "contentEncoding": "base64"}, "ContentID": {"type": "string"}}});
    let tracking = json!({"type": "string", "enum": ["account_default", "disabled", "enabled"]});
    let message = json!({"type": "object", "properties": {
        "From": {"$ref": "#/components/schemas/Mailbox"}, "Sender": {"$ref": "#/components/schemas/Mailbox"},
        "To": mailboxes, "Cc": mailboxes, "Bcc": mailboxes, "ReplyTo": {"$ref": "#/components/schemas/Mailbox"},
        "Subject": {"type": "string", "maxLength": 255}, "TextPart": {"type": "string"}, "HTMLPart": {"type": "string"},
        "TemplateID": {"type": "integer"}, "TemplateLanguage": {"type": "boolean"},
        "TemplateErrorReporting": {"$ref": "#/components/schemas/Mailbox"}, "TemplateErrorDeliver": {"type": "boolean"},
        "Variables": {"type": "object"}, "Attachments": {"type": "array", "items": {"$ref": "#/components/schemas/Attachment"}},
        "InlinedAttachments": {"type": "array", "items": {"$ref": "#/components/schemas/Attachment"}},
        "Headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "CustomID": {"type": "string"}, "EventPayload": {"type": "string"}, "CustomCampaign": {"type": "string"},
        "DeduplicateCampaign": {"type": "boolean"}, "TrackOpens": tracking, "TrackClicks": tracking,
        "Priority": {"type": "integer", "minimum": 0, "maximum": 3}, "URLTags": {"type": "string", "maxLength": 256},
        "MonitoringCategory": {"type": "string"}}});
    let error = json!({"type": "object", "properties": {"ErrorIdentifier": {"type": "string"}, "ErrorCode": {"type": "string", "examples": ["send-0003", "mj-0013"]},
        "StatusCode": {"type": "integer"}, "ErrorMessage": {"type": "string"}, "ErrorRelatedTo": {"type": "array", "items": {"type": "string"}}}});
    let sent_to = json!({"type": "array", "items": {"type": "object", "properties": {"Email": {"type": "string"}, "MessageUUID": {"type": "string"}, "MessageID": {"type": "integer", "format": "int64"}, "MessageHref": {"type": "string"}}}});
    let envelope = |item: Value| json!({"type": "object", "properties": {"Count": {"type": "integer"}, "Total": {"type": "integer"}, "Data": {"type": "array", "items": item}}});
    json!({
        "Mailbox": mailbox,
        "Attachment": attachment,
        "Message": message,
        "SendRequest": {"type": "object", "required": ["Messages"], "properties": {
            "Messages": {"type": "array", "minItems": 1, "maxItems": 50, "items": {"$ref": "#/components/schemas/Message"}},
            "Globals": {"$ref": "#/components/schemas/Message"}, "SandboxMode": {"type": "boolean"}, "AdvanceErrorHandling": {"type": "boolean"}}},
        "SendError": error,
        "SendResponse": {"type": "object", "properties": {"Messages": {"type": "array", "items": {"type": "object", "properties": {
            "Status": {"type": "string", "enum": ["success", "error"]}, "CustomID": {"type": "string"},
            "To": sent_to, "Cc": sent_to, "Bcc": sent_to, "Errors": {"type": "array", "items": {"$ref": "#/components/schemas/SendError"}}}}}}},
        "RestError": {"type": "object", "properties": {"ErrorInfo": {"type": "string"}, "ErrorMessage": {"type": "string"}, "StatusCode": {"type": "integer"}}},
        "MessageList": envelope(json!({"type": "object", "properties": {"ID": {"type": "integer", "format": "int64"}, "UUID": {"type": "string"}, "Status": {"type": "string",
            "enum": ["queued", "deferred", "sent", "hardbounced", "softbounced", "blocked"]}, "ContactAlt": {"type": "string"}, "Subject": {"type": "string"},
            "CustomID": {"type": "string"}, "ArrivedAt": {"type": "string", "format": "date-time"}, "AttemptCount": {"type": "integer"}, "MessageSize": {"type": "integer"}}})),
        "HistoryList": envelope(json!({"type": "object", "properties": {"EventAt": {"type": "integer"}, "EventType": {"type": "string"}, "State": {"type": "string"}, "Comment": {"type": "string"}}})),
        "ApiKeyInput": {"type": "object", "properties": {"Name": {"type": "string"}, "IsActive": {"type": "boolean"}, "AllowSender": {"type": "boolean"}}},
        "ApiKeyList": envelope(json!({"type": "object", "properties": {"ID": {"type": "integer"}, "APIKey": {"type": "string"}, "SecretKey": {"type": "string"},
            "Name": {"type": "string"}, "IsActive": {"type": "boolean"}, "IsMaster": {"type": "boolean"}, "AllowSender": {"type": "boolean"}, "CreatedAt": {"type": "string"}}})),
        "WebhookInput": {"type": "object", "properties": {"EventType": {"type": "string", "enum": facteur_store::webhooks::EVENT_TYPES},
            "Url": {"type": "string", "format": "uri"}, "Version": {"type": "integer", "enum": [1, 2]}, "IsBackup": {"type": "boolean"}, "Status": {"type": "string", "enum": ["alive", "dead"]}}},
        "WebhookList": envelope(json!({"type": "object", "properties": {"ID": {"type": "integer"}, "EventType": {"type": "string"}, "Url": {"type": "string"},
            "Version": {"type": "integer"}, "IsBackup": {"type": "boolean"}, "Status": {"type": "string"}, "SigningSecret": {"type": "string",
            "description": "X-Facteur-Signature = sha256=hex(HMAC-SHA256(SigningSecret, body))"}}})),
        "Envelope": envelope(json!({"type": "object"})),
        "Object": {"type": "object"},
        "Empty": {"type": "null"},
        "Binary": {"type": "string", "contentMediaType": "application/zip"},
        "Html": {"type": "string", "contentMediaType": "text/html"},
    })
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for e in ENDPOINTS {
        let params: Vec<Value> = e
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                let schema = if name == "slug" {
                    json!({"type": "string"})
                } else {
                    json!({"type": "integer", "format": "int64"})
                };
                json!({"name": name, "in": "path", "required": true, "schema": schema})
            })
            .collect();
        let content = |schema: &str| match schema {
            "Binary" => {
                json!({"application/zip": {"schema": {"$ref": "#/components/schemas/Binary"}}})
            }
            "Html" => json!({"text/html": {"schema": {"$ref": "#/components/schemas/Html"}}}),
            s => {
                json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{s}")}}})
            }
        };
        let error_schema = if e.path.starts_with("/v3.1/") {
            "SendError"
        } else {
            "RestError"
        };
        let mut responses = Map::new();
        let mut ok = json!({"description": "Success"});
        if e.success != 204 {
            ok["content"] = content(e.response);
        }
        responses.insert(e.success.to_string(), ok);
        for (code, text) in [
            ("400", "Invalid request (JSON error body)"),
            ("401", "Missing or wrong API key and secret key"),
            ("404", "Not found"),
            ("408", "The body did not arrive within http_body_timeout"),
            ("413", "Body larger than http_max_body"),
            (
                "429",
                "Too many failed authentications from this address (auth_failures_per_ip)",
            ),
            (
                "503",
                "The store cannot be read or written (retry later), or too many connections",
            ),
        ] {
            responses.insert(
                code.to_string(),
                json!({"description": text, "content": content(error_schema)}),
            );
        }
        let mut op = json!({
            "tags": [e.tag],
            "summary": e.summary,
            "operationId": format!("{}{}", e.method, e.path.replace(['/', '{', '}', '.'], "_")),
            "parameters": params,
            "responses": responses,
        });
        match e.body {
            Body::None => {}
            Body::Schema(s) => {
                op["requestBody"] = json!({"required": true, "content": content(s)});
            }
            Body::Object => {
                op["requestBody"] = json!({"content": content("Object")});
            }
            Body::Binary => {
                op["requestBody"] = json!({"content": {"application/zip": {"schema": {"$ref": "#/components/schemas/Binary"}}, "application/json": {"schema": {"type": "object"}}}});
            }
        }
        if e.path == "/openapi.json" {
            op["security"] = json!([]);
        }
        paths
            .entry(e.path)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("object")
            .insert(e.method.to_string(), op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Facteur API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Mailjet-compatible Send API v3.1 and REST resources. Authenticate with HTTP Basic: API key as the user, secret key as the password.",
        },
        "servers": [{"url": "/"}],
        "security": [{"basic": []}],
        "components": {
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
            "schemas": schemas(),
        },
        "paths": paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (method, path) of every `.route(…)` in the API sources.
    fn routed() -> Vec<(String, String)> {
        let sources = [
            include_str!("templates.rs"),
            include_str!("send.rs"),
            include_str!("messages.rs"),
            include_str!("apikeys.rs"),
            include_str!("webhooks.rs"),
            include_str!("openapi.rs"),
        ];
        let mut out = Vec::new();
        for src in sources {
            let flat: String = src.split_whitespace().collect::<Vec<_>>().join(" ");
            for part in flat.split(".route(").skip(1) {
                let Some(path) = part.split('"').nth(1) else {
                    continue;
                };
                if !path.starts_with('/') {
                    continue;
                }
                let handlers = part.split_once(',').map(|(_, h)| h).unwrap_or("");
                let handlers = &handlers[..handlers.find(['}', ';']).unwrap_or(handlers.len())];
                for method in ["get", "post", "put", "delete"] {
                    if handlers.contains(&format!("{method}(")) {
                        out.push((method.to_string(), path.to_string()));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn every_route_is_documented_and_nothing_else() {
        let routed = routed();
        assert!(routed.len() > 30, "parsed {routed:?}");
        for (m, p) in &routed {
            assert!(
                ENDPOINTS.iter().any(|e| e.method == m && e.path == p),
                "{m} {p} is routed but missing from ENDPOINTS"
            );
        }
        for e in ENDPOINTS {
            assert!(
                routed.iter().any(|(m, p)| m == e.method && p == e.path),
                "{} {} is documented but not routed",
                e.method,
                e.path
            );
        }
    }

    #[test]
    fn references_resolve() {
        let doc = document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("#/components/schemas/").skip(1) {
            let name = part.split('"').next().unwrap();
            assert!(schemas.contains_key(name), "missing schema {name}");
        }
    }
}
