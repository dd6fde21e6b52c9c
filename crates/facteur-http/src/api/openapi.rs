//! The OpenAPI 3.1 document served at `/openapi.json`, built from the operations of the route
//! table (`crate::routes`): one per row, with the permission it needs.

use serde_json::{Map, Value, json};

use crate::auth::Permission;

/// What a request body is.
#[derive(Clone, Copy, Debug)]
pub enum Body {
    None,
    /// A schema in `components/schemas`.
    Schema(&'static str),
    /// Any JSON object (the operation's text says which properties).
    Object,
    /// A file upload (zip).
    Binary,
}

/// What the OpenAPI document says of a route.
#[derive(Clone, Copy, Debug)]
pub struct Doc {
    pub tag: &'static str,
    pub summary: &'static str,
    pub body: Body,
    /// Response schema for the success status.
    pub response: &'static str,
    pub success: u16,
}

/// One operation as the document shows it.
#[derive(Clone, Copy, Debug)]
pub struct Operation<'a> {
    pub method: &'static str,
    pub path: &'static str,
    pub permission: Permission,
    pub doc: &'a Doc,
}

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
    let sender_input = json!({"type": "object", "required": ["Email"], "properties": {"Email": {"type": "string", "description": "an address, or *@domain for all of a domain"}, "Name": {"type": "string"}, "EmailType": {"type": "string", "enum": ["transactional", "bulk", "unknown"]}, "IsDefaultSender": {"type": "boolean"}}});
    let domain_list = envelope(
        json!({"type": "object", "properties": {"ID": {"type": "integer"}, "Domain": {"type": "string"},
            "TrackHost": {"type": "string"},
            "DKIMRecordName": {"type": "string"}, "DKIMRecordValue": {"type": "string"}, "DKIMStatus": {"type": "string"}, "SPFRecordValue": {"type": "string"}, "SPFStatus": {"type": "string"},
            "DKIMKeys": {"type": "array", "items": {"type": "object", "properties": {"Selector": {"type": "string"}, "Algorithm": {"type": "string"}, "State": {"type": "string", "enum": ["pending", "active", "retired"]}, "RecordName": {"type": "string"}}}},
            "Records": {"type": "array", "items": {"type": "object", "properties": {"Type": {"type": "string"}, "Name": {"type": "string"}, "Value": {"type": "string"}, "Purpose": {"type": "string"}}}}}}),
    );
    let sender_list = envelope(
        json!({"type": "object", "properties": {"ID": {"type": "integer"}, "Email": {"type": "string"}, "Name": {"type": "string"},
            "Status": {"type": "string", "enum": ["Inactive", "Active", "Deleted"]}, "EmailType": {"type": "string"}, "IsDefaultSender": {"type": "boolean"},
            "DNSID": {"type": "integer"}, "Filename": {"type": "string"}, "ValidationMethod": {"type": "string"}, "CreatedAt": {"type": "string"}, "ValidatedAt": {"type": "string"}}}),
    );
    let sender_validation = json!({"type": "object", "properties": {"ValidationMethod": {"type": "string", "enum": ["ActivationEmail", "DNS", "Domain"]}, "Errors": {"type": "object"}, "GlobalError": {"type": "string"}}});
    let domain_check = json!({"type": "object", "properties": {"DKIMStatus": {"type": "string"}, "DKIMErrors": {"type": "array", "items": {"type": "string"}}, "DKIMRecordCurrentValue": {"type": "string"},
            "SPFStatus": {"type": "string"}, "SPFErrors": {"type": "array", "items": {"type": "string"}}, "SPFRecordsCurrentValues": {"type": "array", "items": {"type": "string"}},
            "Records": {"type": "array", "items": {"type": "object", "properties": {"Type": {"type": "string"}, "Name": {"type": "string"}, "Expected": {"type": "string"}, "Status": {"type": "string", "enum": ["OK", "Not found", "Error"]}, "CurrentValues": {"type": "array", "items": {"type": "string"}}, "Errors": {"type": "array", "items": {"type": "string"}}}}}}});
    let capture = json!({"type": "object", "properties": {"ID": {"type": "integer", "format": "int64"},
        "MessageID": {"type": "integer", "format": "int64", "description": "the recipient's MessageID (/v3/REST/message/{id})"},
        "From": {"type": "string", "description": "the envelope sender"}, "To": {"type": "string", "description": "the recipient"},
        "Subject": {"type": "string"}, "Size": {"type": "integer"}, "CapturedAt": {"type": "string", "format": "date-time"}}});
    let mut capture_detail = capture.clone();
    capture_detail["properties"]["Headers"] = json!({"type": "array", "items": {"type": "object", "properties": {"Name": {"type": "string"}, "Value": {"type": "string"}}}});
    capture_detail["properties"]["HtmlPart"] = json!({"type": ["string", "null"]});
    capture_detail["properties"]["TextPart"] = json!({"type": ["string", "null"]});
    let mut all = json!({
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
        "StatCounters": envelope(json!({"type": "object", "properties": {"APIKeyID": {"type": "integer"}, "SourceID": {"type": "string"}, "Timeslice": {"type": "string", "format": "date-time"},
            "Total": {"type": "integer"}, "MessageSentCount": {"type": "integer"}, "MessageBlockedCount": {"type": "integer"}, "MessageHardBouncedCount": {"type": "integer"},
            "MessageSoftBouncedCount": {"type": "integer"}, "MessageDeferredCount": {"type": "integer"}, "MessageQueuedCount": {"type": "integer"}, "MessageOpenedCount": {"type": "integer"},
            "MessageClickedCount": {"type": "integer"}, "MessageSpamCount": {"type": "integer"}, "MessageUnsubscribedCount": {"type": "integer"}, "EventOpenedCount": {"type": "integer"},
            "EventClickedCount": {"type": "integer"}, "EventSpamCount": {"type": "integer"}, "EventUnsubscribedCount": {"type": "integer"}, "EventOpenedMachineCount": {"type": "integer"},
            "EventClickedMachineCount": {"type": "integer"}, "Domain": {"type": "string"}}})),
        "LinkClicks": envelope(json!({"type": "object", "properties": {"URL": {"type": "string"}, "PositionIndex": {"type": "integer"}, "ClickedEventsCount": {"type": "integer"}, "ClickedMessagesCount": {"type": "integer"}}})),
        "MessageList": envelope(json!({"type": "object", "properties": {"ID": {"type": "integer", "format": "int64"}, "UUID": {"type": "string"}, "Status": {"type": "string",
            "enum": ["queued", "deferred", "sent", "opened", "clicked", "unsub", "hardbounced", "softbounced", "blocked"]}, "ContactAlt": {"type": "string"}, "Subject": {"type": "string"},
            "CustomID": {"type": "string"}, "ArrivedAt": {"type": "string", "format": "date-time"}, "AttemptCount": {"type": "integer"}, "MessageSize": {"type": "integer"}}})),
        "HistoryList": envelope(json!({"type": "object", "properties": {"EventAt": {"type": "integer"}, "EventType": {"type": "string"}, "State": {"type": "string"}, "Comment": {"type": "string"}}})),
        "ApiKeyInput": {"type": "object", "properties": {"Name": {"type": "string"}, "IsActive": {"type": "boolean"}, "AllowSender": {"type": "boolean"},
            "TrackHost": {"type": "string", "description": "host name or base URL of the key's tracking and unsubscribe links; empty: public_url"},
            "TrackOpens": {"type": ["boolean", "null"], "description": "default of TrackOpens account_default; null: the server's track_opens"},
            "TrackClicks": {"type": ["boolean", "null"], "description": "default of TrackClicks account_default; null: the server's track_clicks"}}},
        "ApiKeyList": envelope(json!({"type": "object", "properties": {"ID": {"type": "integer"}, "APIKey": {"type": "string"}, "SecretKey": {"type": "string"},
            "Name": {"type": "string"}, "IsActive": {"type": "boolean"}, "IsMaster": {"type": "boolean"}, "AllowSender": {"type": "boolean"}, "CreatedAt": {"type": "string"},
            "TrackHost": {"type": "string"}, "TrackOpens": {"type": ["boolean", "null"]}, "TrackClicks": {"type": ["boolean", "null"]}}})),
        "WebhookInput": {"type": "object", "properties": {"EventType": {"type": "string", "enum": facteur_store::webhooks::EVENT_TYPES},
            "Url": {"type": "string", "format": "uri"}, "Version": {"type": "integer", "enum": [1, 2]}, "IsBackup": {"type": "boolean"}, "Status": {"type": "string", "enum": ["alive", "dead"]}}},
        "WebhookList": envelope(json!({"type": "object", "properties": {"ID": {"type": "integer"}, "EventType": {"type": "string"}, "Url": {"type": "string"},
            "Version": {"type": "integer"}, "IsBackup": {"type": "boolean"}, "Status": {"type": "string"}, "SigningSecret": {"type": "string",
            "description": "X-Facteur-Signature = sha256=hex(HMAC-SHA256(SigningSecret, body))"}}})),
        "DomainInput": {"type": "object", "required": ["Domain"], "properties": {"Domain": {"type": "string"}, "Keys": {"type": "string", "enum": ["rsa", "ed25519", "both"]}}},
        "DomainUpdate": {"type": "object", "required": ["TrackHost"], "properties": {"TrackHost": {"type": "string", "description": "host name or base URL of the tracking and unsubscribe links of the domain's mail; empty: the account's"}}},
        "DomainRotate": {"type": "object", "properties": {"Keys": {"type": "string", "enum": ["rsa", "ed25519", "both"]}}},
        "DomainList": domain_list,
        "SenderInput": sender_input,
        "SenderList": sender_list,
        "SenderValidation": sender_validation,
        "DomainCheck": domain_check,
        "SuppressionInput": {"type": "object", "required": ["Email"], "properties": {"Email": {"type": "string"}, "Reason": {"type": "string", "enum": ["manual", "hard-bounce", "complaint", "unsubscribe"]}, "Comment": {"type": "string"}}},
        "SuppressionList": envelope(json!({"type": "object", "properties": {"Email": {"type": "string"}, "Reason": {"type": "string", "enum": ["hard-bounce", "soft-bounce", "complaint", "unsubscribe", "manual"]},
            "Comment": {"type": "string"}, "MessageID": {"type": ["integer", "null"]}, "Failures": {"type": "integer"}, "Active": {"type": "boolean"},
            "CreatedAt": {"type": "string"}, "UpdatedAt": {"type": "string"}, "ExpiresAt": {"type": ["string", "null"]}}})),
        "Csv": {"type": "string", "contentMediaType": "text/csv"},
        "Envelope": envelope(json!({"type": "object"})),
        "Object": {"type": "object"},
        "Empty": {"type": "null"},
        "Text": {"type": "string", "contentMediaType": "text/plain"},
        "Binary": {"type": "string", "contentMediaType": "application/zip"},
        "Gif": {"type": "string", "contentMediaType": "image/gif"},
        "Html": {"type": "string", "contentMediaType": "text/html"},
    });
    // Beside the literal: one json! more of this size exceeds the macro recursion limit.
    all["CaptureList"] = envelope(capture);
    all["Capture"] = envelope(capture_detail);
    all["Rfc822"] = json!({"type": "string", "contentMediaType": "message/rfc822"});
    all
}

/// The whole document.
pub fn document<'a>(operations: impl IntoIterator<Item = Operation<'a>>) -> Value {
    let mut paths = Map::new();
    for e in operations {
        let d = e.doc;
        let params: Vec<Value> = e
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                let schema =
                    if matches!(name, "slug" | "token" | "email") || e.path.contains("/dns/") {
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
            "Gif" => json!({"image/gif": {"schema": {"$ref": "#/components/schemas/Gif"}}}),
            "Text" => json!({"text/plain": {"schema": {"$ref": "#/components/schemas/Text"}}}),
            "Rfc822" => {
                json!({"message/rfc822": {"schema": {"$ref": "#/components/schemas/Rfc822"}}})
            }
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
        if d.success != 204 && d.response != "Empty" {
            ok["content"] = content(d.response);
        }
        responses.insert(d.success.to_string(), ok);
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
            "tags": [d.tag],
            "summary": d.summary,
            "x-permission": e.permission.name(),
            "operationId": format!("{}{}", e.method, e.path.replace(['/', '{', '}', '.'], "_")),
            "parameters": params,
            "responses": responses,
        });
        match d.body {
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
        if e.permission == Permission::Public {
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
