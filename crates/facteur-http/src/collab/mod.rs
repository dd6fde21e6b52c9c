//! The block editor's server side: one room per template open in an editor on this node, a
//! broadcast channel per room, and one LISTEN connection per node. An operation applied here
//! is broadcast at once; one applied on another node arrives as `op:TEMPLATE:SEQ` by NOTIFY
//! and is read from the op log, so a lost notification only delays an operation until the
//! next one (or the room's periodic check) reads the log again.

pub mod live;
pub mod rest;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use facteur_collab::lease;
use facteur_engine::Engine;
use facteur_engine::time::now_ms;
use facteur_store::collab::{COLLAB_CHANNEL, OpRecord};
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// A message for a room's connections: the sequence number of the operation it carries (0
/// for the rest), and the JSON text to send.
pub type Message = (i64, Arc<str>);

/// The rooms of one node (one engine).
pub struct Hub {
    engine: Weak<Engine>,
    rooms: Mutex<HashMap<i64, Arc<Room>>>,
    listening: AtomicBool,
}

/// One template's editors on this node.
pub struct Room {
    pub template_id: i64,
    pub account_id: i64,
    pub tx: broadcast::Sender<Message>,
    /// The last operation broadcast; held while broadcasting so operations go out in order.
    seq: tokio::sync::Mutex<i64>,
    /// People's names by id (for operations' and leases' labels).
    names: Mutex<HashMap<i64, String>>,
    draft_pending: AtomicBool,
    /// The last leases and presence sent, to send again only what changed.
    last_leases: Mutex<String>,
    last_presence: Mutex<String>,
}

/// How long presence lasts without a heartbeat.
const PRESENCE_MS: i64 = 3 * lease::HEARTBEAT_MS;

impl Hub {
    /// The hub of `engine` (one per engine, shared by its listeners).
    pub fn of(engine: &Arc<Engine>) -> Arc<Hub> {
        static HUBS: Mutex<Vec<Arc<Hub>>> = Mutex::new(Vec::new());
        let mut hubs = HUBS.lock().unwrap_or_else(|e| e.into_inner());
        hubs.retain(|h| h.engine.strong_count() > 0);
        if let Some(h) = hubs
            .iter()
            .find(|h| std::ptr::eq(h.engine.as_ptr(), Arc::as_ptr(engine)))
        {
            return h.clone();
        }
        let hub = Arc::new(Hub {
            engine: Arc::downgrade(engine),
            rooms: Mutex::new(HashMap::new()),
            listening: AtomicBool::new(false),
        });
        hubs.push(hub.clone());
        hub
    }

    /// The room of a template, made when its first editor arrives.
    pub fn room(self: &Arc<Self>, account_id: i64, template_id: i64) -> Arc<Room> {
        self.start();
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms
            .entry(template_id)
            .or_insert_with(|| {
                Arc::new(Room {
                    template_id,
                    account_id,
                    tx: broadcast::channel(1024).0,
                    seq: tokio::sync::Mutex::new(-1),
                    names: Mutex::new(HashMap::new()),
                    draft_pending: AtomicBool::new(false),
                    last_leases: Mutex::new(String::new()),
                    last_presence: Mutex::new(String::new()),
                })
            })
            .clone()
    }

    /// The room of a template if someone edits it on this node.
    pub fn existing(&self, template_id: i64) -> Option<Arc<Room>> {
        self.rooms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&template_id)
            .cloned()
    }

    /// Forgets a room nobody is in any more.
    pub fn leave(&self, room: &Arc<Room>) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if room.tx.receiver_count() == 0 {
            rooms.remove(&room.template_id);
        }
    }

    /// Starts, once, the node's listener (PostgreSQL) and the periodic check of the rooms.
    fn start(self: &Arc<Self>) {
        if self.listening.swap(true, Ordering::SeqCst) {
            return;
        }
        let hub = Arc::downgrade(self);
        tokio::spawn(async move {
            let Some(engine) = hub.upgrade().and_then(|h| h.engine.upgrade()) else {
                return;
            };
            let mut notes = match engine.store.listen(COLLAB_CHANNEL).await {
                Ok(rx) => rx,
                Err(e) => {
                    tracing::warn!(error = %e, "editor notifications from other nodes are off: LISTEN failed");
                    None
                }
            };
            drop(engine);
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            loop {
                let note = match notes.as_mut() {
                    Some(rx) => tokio::select! {
                        n = rx.recv() => match n {
                            Some(n) => Some(n),
                            None => { notes = None; continue; }
                        },
                        _ = tick.tick() => None,
                    },
                    None => {
                        tick.tick().await;
                        None
                    }
                };
                let Some(hub) = hub.upgrade() else { return };
                let Some(engine) = hub.engine.upgrade() else {
                    return;
                };
                match note {
                    Some(n) => hub.heard(&engine, &n).await,
                    None => hub.sweep(&engine).await,
                }
            }
        });
    }

    /// A notification from another node.
    async fn heard(&self, engine: &Engine, note: &str) {
        let mut parts = note.split(':');
        let (Some(kind), Some(Ok(template))) = (parts.next(), parts.next().map(str::parse::<i64>))
        else {
            return;
        };
        let Some(room) = self.existing(template) else {
            return;
        };
        match kind {
            "op" => room.catch_up(engine).await,
            "leases" => room.send_leases(engine, false).await,
            "presence" => room.send_presence(engine, false).await,
            "comments" | "requests" => {
                room.send_text(&json!({ "t": kind }).to_string());
            }
            _ => {}
        }
    }

    /// Every two seconds: operations whose notification was lost, leases that expired,
    /// presence that went stale.
    async fn sweep(&self, engine: &Engine) {
        let rooms: Vec<Arc<Room>> = self
            .rooms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for room in rooms {
            room.catch_up(engine).await;
            room.send_leases(engine, false).await;
            room.send_presence(engine, false).await;
        }
    }
}

impl Room {
    pub fn send_text(&self, text: &str) {
        let _ = self.tx.send((0, Arc::from(text)));
    }

    /// A person's display name (cached per room).
    pub async fn name(&self, engine: &Engine, user: i64) -> String {
        if user == 0 {
            return "API".into();
        }
        if let Some(n) = self
            .names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&user)
        {
            return n.clone();
        }
        let name = match engine.store.user(user).await {
            Ok(u) if !u.name.is_empty() => u.name,
            Ok(u) => u.email,
            Err(_) => format!("person {user}"),
        };
        self.names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(user, name.clone());
        name
    }

    async fn op_json(&self, engine: &Engine, o: &OpRecord) -> Value {
        let op: Value = serde_json::from_str(&o.op).unwrap_or(Value::Null);
        json!({
            "seq": o.seq, "by": o.user_id.to_string(), "name": self.name(engine, o.user_id).await,
            "cid": o.cid, "op": op,
        })
    }

    /// Broadcasts an operation this node just applied; reads the log first when operations
    /// before it were not broadcast yet (applied by another node, or still in flight here).
    pub async fn applied(&self, engine: &Engine, o: OpRecord) {
        let mut last = self.seq.lock().await;
        if *last < 0 {
            *last = o.seq - 1;
        }
        if o.seq == *last + 1 {
            let msg = json!({"t": "ops", "ops": [self.op_json(engine, &o).await]}).to_string();
            let _ = self.tx.send((o.seq, Arc::from(msg)));
            *last = o.seq;
        } else if o.seq > *last {
            drop(last);
            self.catch_up(engine).await;
        }
    }

    /// Broadcasts, in order, the operations of the log not broadcast yet.
    pub async fn catch_up(&self, engine: &Engine) {
        let mut last = self.seq.lock().await;
        if *last < 0 {
            // Nobody has been sent anything yet: connections start from their welcome.
            match engine.store.blocks(self.template_id).await {
                Ok(Some((_, seq))) => *last = seq,
                _ => return,
            }
            return;
        }
        loop {
            let ops = match engine.store.ops_since(self.template_id, *last, 200).await {
                Ok(ops) => ops,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the op log");
                    return;
                }
            };
            if ops.is_empty() {
                // The log may have started again (a switch back to the visual editor).
                if let Ok(Some((_, seq))) = engine.store.blocks(self.template_id).await
                    && seq < *last
                {
                    *last = seq;
                    self.send_text(&json!({"t": "reload"}).to_string());
                }
                return;
            }
            let n = ops.len();
            for o in ops {
                let msg = json!({"t": "ops", "ops": [self.op_json(engine, &o).await]}).to_string();
                let _ = self.tx.send((o.seq, Arc::from(msg)));
                *last = o.seq;
            }
            if n < 200 {
                return;
            }
        }
    }

    /// The last operation broadcast (a new connection's starting point).
    pub async fn seen(&self, seq: i64) {
        let mut last = self.seq.lock().await;
        if *last < 0 {
            *last = seq;
        }
    }

    /// Sends the live leases (only when they changed, unless `force`).
    pub async fn send_leases(&self, engine: &Engine, force: bool) {
        let Ok(leases) = engine.store.leases(self.template_id, now_ms()).await else {
            return;
        };
        let mut list = Vec::new();
        for l in leases {
            list.push(json!({
                "section": l.section, "user": l.user_id.to_string(),
                "name": self.name(engine, l.user_id).await,
                "color": lease::colour(l.user_id), "until": l.expires_at,
            }));
        }
        // Renewals change `until` only: not worth a message.
        let key = list
            .iter()
            .map(|l| format!("{}={}", l["section"], l["user"]))
            .collect::<Vec<_>>()
            .join(",");
        {
            let mut last = self.last_leases.lock().unwrap_or_else(|e| e.into_inner());
            if !force && *last == key {
                return;
            }
            *last = key;
        }
        self.send_text(&json!({"t": "leases", "leases": list}).to_string());
    }

    /// Sends who is in the editor (only when it changed, unless `force`).
    pub async fn send_presence(&self, engine: &Engine, force: bool) {
        let Ok(people) = engine
            .store
            .presence(self.template_id, now_ms() - PRESENCE_MS)
            .await
        else {
            return;
        };
        let mut list = Vec::new();
        for p in people {
            list.push(json!({
                "conn": p.conn, "user": p.user_id.to_string(),
                "name": self.name(engine, p.user_id).await,
                "color": lease::colour(p.user_id),
                "section": (!p.section.is_empty()).then_some(p.section),
                "block": (!p.block.is_empty()).then_some(p.block),
            }));
        }
        let msg = json!({"t": "presence", "people": list}).to_string();
        {
            let mut last = self.last_presence.lock().unwrap_or_else(|e| e.into_inner());
            if !force && *last == msg {
                return;
            }
            *last = msg.clone();
        }
        self.send_text(&msg);
    }
}

/// After an operation: the draft is compiled from the document again, at most every 300 ms
/// per template and node, so everything that reads templates sees the visual editor's work.
pub fn schedule_draft(engine: &Arc<Engine>, room: Option<&Arc<Room>>, account_id: i64, id: i64) {
    if let Some(room) = room
        && room.draft_pending.swap(true, Ordering::SeqCst)
    {
        return;
    }
    let (engine, room) = (engine.clone(), room.cloned());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if let Some(room) = &room {
            room.draft_pending.store(false, Ordering::SeqCst);
        }
        if let Err(e) = rest::save_doc_draft(&engine, account_id, id).await {
            tracing::warn!(template = id, error = %e.message, "the visual editor's draft was not saved");
        }
    });
}
