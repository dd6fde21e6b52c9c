//! `GET /app/templates/{id}/live`: one editor's WebSocket (the protocol is in
//! docs/collab.md): welcome and catch-up, operations checked and applied, leases taken and
//! released, presence, and everyone's operations sent back in order.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use facteur_collab::lease;
use facteur_engine::Engine;
use facteur_engine::time::now_ms;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::{Hub, Room, rest};
use crate::auth::{Permission, Principal};
use crate::errors::ApiError;

/// How long a connection may stay silent (the editor sends a heartbeat every 10 s).
const SILENCE: Duration = Duration::from_secs(45);
/// The longest gap a reconnecting editor catches up by operations; past it, a snapshot.
const CATCH_UP: i64 = 2_000;
/// The largest message an editor sends (a pasted text block, an imported section).
const MAX_MESSAGE: usize = 1024 * 1024;

/// Who is on the other end of a connection.
struct Editor {
    conn: String,
    user: i64,
    name: String,
    actor: facteur_collab::Actor,
    can_publish: bool,
}

pub async fn live(
    State(app): State<Arc<Engine>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // A page of another site must not open an editor with the person's cookie.
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let same_origin = match (origin, host) {
        (Some(o), Some(h)) => o
            .split_once("://")
            .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(h)),
        _ => false,
    };
    if !same_origin {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "The editor connects from the app's own pages only",
        )
        .into_response();
    }
    let Some(person) = p.person.clone() else {
        return ApiError::new(StatusCode::FORBIDDEN, "Sign in to the app to edit together")
            .into_response();
    };
    if let Err(e) = app.store.template(p.account.id, id).await {
        return ApiError::from(e).into_response();
    }
    let editor = Editor {
        conn: uuid::Uuid::now_v7().simple().to_string(),
        user: person.user.id,
        name: if person.user.name.is_empty() {
            person.user.email.clone()
        } else {
            person.user.name.clone()
        },
        actor: rest::actor(&p),
        can_publish: p.allows(Permission::PublishTemplates),
    };
    let account_id = p.account.id;
    ws.max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| async move {
            let hub = Hub::of(&app);
            let room = hub.room(account_id, id);
            session(&app, &room, &editor, socket).await;
            let _ = app.store.end_conn(&editor.conn).await;
            let _ = app.store.collab_notify(&format!("leases:{id}")).await;
            let _ = app.store.collab_notify(&format!("presence:{id}")).await;
            room.send_leases(&app, false).await;
            room.send_presence(&app, false).await;
            hub.leave(&room);
        })
}

async fn send(socket: &mut WebSocket, v: Value) -> bool {
    socket
        .send(WsMessage::Text(v.to_string().into()))
        .await
        .is_ok()
}

/// The whole life of one connection.
async fn session(app: &Arc<Engine>, room: &Arc<Room>, ed: &Editor, mut socket: WebSocket) {
    let mut rx = room.tx.subscribe();
    // The first message says what the editor has.
    let since = match tokio::time::timeout(SILENCE, socket.recv()).await {
        Ok(Some(Ok(WsMessage::Text(t)))) => {
            let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
            if v["t"] != "hello" {
                let _ = send(
                    &mut socket,
                    json!({"t": "error", "error": "say hello first"}),
                )
                .await;
                return;
            }
            v["since"].as_i64()
        }
        _ => return,
    };
    let Some(mut sent) = welcome(app, room, ed, &mut socket, since).await else {
        return;
    };
    let now = now_ms();
    let _ = app
        .store
        .touch_presence(&ed.conn, room.template_id, ed.user, "", "", now)
        .await;
    let _ = app
        .store
        .collab_notify(&format!("presence:{}", room.template_id))
        .await;
    room.send_presence(app, true).await;
    room.send_leases(app, true).await;
    loop {
        tokio::select! {
            m = rx.recv() => match m {
                Ok((seq, text)) => {
                    // Operations the welcome already covered are not sent twice.
                    if seq != 0 && seq <= sent {
                        continue;
                    }
                    if seq != 0 {
                        sent = seq;
                    }
                    if socket.send(WsMessage::Text(text.to_string().into())).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    // Too far behind the room: start again from a snapshot.
                    match welcome(app, room, ed, &mut socket, None).await {
                        Some(s) => sent = s,
                        None => return,
                    }
                }
                Err(RecvError::Closed) => return,
            },
            m = tokio::time::timeout(SILENCE, socket.recv()) => {
                let text = match m {
                    Ok(Some(Ok(WsMessage::Text(t)))) => t,
                    Ok(Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_)))) => continue,
                    // Closed, broken, binary, or silent for too long.
                    _ => return,
                };
                let v: Value = match serde_json::from_str(&text) {
                    Ok(v) => v,
                    Err(e) => {
                        let _ = send(&mut socket, json!({"t": "error", "error": format!("not JSON: {e}")})).await;
                        continue;
                    }
                };
                if let Some(reply) = handle(app, room, ed, v).await
                    && !send(&mut socket, reply).await
                {
                    return;
                }
            }
        }
    }
}

/// Sends the welcome (with a snapshot, or followed by the operations after `since`); returns
/// the last sequence number the editor now has.
async fn welcome(
    app: &Arc<Engine>,
    room: &Arc<Room>,
    ed: &Editor,
    socket: &mut WebSocket,
    since: Option<i64>,
) -> Option<i64> {
    let (doc, seq) = match app.store.blocks(room.template_id).await {
        Ok(Some(x)) => x,
        Ok(None) => {
            let _ = send(
                socket,
                json!({"t": "error", "error": "This template is edited as code now: reload the page."}),
            )
            .await;
            return None;
        }
        Err(e) => {
            let _ = send(socket, json!({"t": "error", "error": e.to_string()})).await;
            return None;
        }
    };
    room.seen(seq).await;
    let mut welcome = json!({
        "t": "welcome", "seq": seq,
        "me": {"user": ed.user.to_string(), "name": ed.name, "color": lease::colour(ed.user), "conn": ed.conn},
        "can": {"edit": ed.actor.can_edit, "lock": ed.actor.can_lock, "publish": ed.can_publish},
    });
    let catch_up = since.filter(|s| *s <= seq && seq - s <= CATCH_UP);
    match catch_up {
        Some(s) if s < seq => {
            let ops = app
                .store
                .ops_since(room.template_id, s, CATCH_UP)
                .await
                .ok()?;
            // The log may hold more than the snapshot by now: send only up to `seq`, the rest
            // comes through the room.
            let mut list = Vec::new();
            for o in ops.iter().filter(|o| o.seq <= seq) {
                list.push(room.op_json(app, o).await);
            }
            if !send(socket, welcome).await || !send(socket, json!({"t": "ops", "ops": list})).await
            {
                return None;
            }
        }
        Some(_) => {
            if !send(socket, welcome).await {
                return None;
            }
        }
        None => {
            welcome["doc"] = serde_json::from_str(&doc).unwrap_or(Value::Null);
            if !send(socket, welcome).await {
                return None;
            }
        }
    }
    Some(seq)
}

/// One message from the editor; what to answer it alone (a refusal), if anything.
async fn handle(app: &Arc<Engine>, room: &Arc<Room>, ed: &Editor, v: Value) -> Option<Value> {
    let t = room.template_id;
    let now = now_ms();
    match v["t"].as_str().unwrap_or("") {
        "op" => {
            let cid = v["cid"]
                .as_str()
                .unwrap_or("")
                .chars()
                .take(64)
                .collect::<String>();
            let op = match serde_json::from_value::<facteur_collab::Op>(v["op"].clone()) {
                Ok(op) => op,
                Err(e) => {
                    return Some(json!({"t": "refused", "cid": cid, "code": "invalid",
                        "error": format!("This operation is not one the editor knows: {e}")}));
                }
            };
            match rest::apply(app, room.account_id, t, &ed.actor, &cid, op).await {
                Ok(_) => None,
                Err(r) => {
                    Some(json!({"t": "refused", "cid": cid, "code": r.code, "error": r.error}))
                }
            }
        }
        "take" => {
            let section = v["section"].as_str().unwrap_or("").to_string();
            let taken = app
                .store
                .take_lease(t, &section, ed.user, &ed.conn, now, now + lease::LEASE_MS)
                .await;
            let reply = match taken {
                Ok(Ok(())) => {
                    let _ = app
                        .store
                        .touch_presence(&ed.conn, t, ed.user, &section, "", now)
                        .await;
                    None
                }
                Ok(Err(holder)) => {
                    let name = room.name(app, holder).await;
                    Some(json!({"t": "refused", "section": section, "code": "lease",
                        "error": format!("{name} is editing this section.")}))
                }
                Err(e) => Some(
                    json!({"t": "refused", "section": section, "code": "unavailable",
                    "error": e.to_string()}),
                ),
            };
            changed(app, room).await;
            reply
        }
        "release" => {
            let section = v["section"].as_str().unwrap_or("");
            let _ = app.store.release_lease(t, section, &ed.conn).await;
            let _ = app
                .store
                .touch_presence(&ed.conn, t, ed.user, "", "", now)
                .await;
            changed(app, room).await;
            None
        }
        "focus" => {
            let section = v["section"].as_str().unwrap_or("");
            let block = v["block"].as_str().unwrap_or("");
            let _ = app
                .store
                .touch_presence(&ed.conn, t, ed.user, section, block, now)
                .await;
            let _ = app.store.collab_notify(&format!("presence:{t}")).await;
            room.send_presence(app, false).await;
            None
        }
        "heartbeat" => {
            let _ = app
                .store
                .renew_conn(&ed.conn, now, now + lease::LEASE_MS)
                .await;
            None
        }
        other => Some(json!({"t": "error", "error": format!("unknown message {other:?}")})),
    }
}

/// Leases or presence changed: this node's editors and the other nodes' hear it.
async fn changed(app: &Arc<Engine>, room: &Arc<Room>) {
    let t = room.template_id;
    let _ = app.store.collab_notify(&format!("leases:{t}")).await;
    let _ = app.store.collab_notify(&format!("presence:{t}")).await;
    room.send_leases(app, false).await;
    room.send_presence(app, false).await;
}
