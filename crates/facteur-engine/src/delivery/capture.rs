//! Development capture mode (`capture = true`): a [`Deliverer`] beside SMTP under which no
//! mail leaves the machine. Every row goes to one local destination (no DNS lookup), and each
//! pending recipient's copy is kept in the store as it would have gone on the wire (tracked,
//! signed), then reported sent with a 250 that says so: statuses, events, webhooks and
//! statistics flow as for real delivery. Nothing here opens a socket.

use facteur_store::capture::NewCapture;
use facteur_store::{BounceClass, QueueEntry, RcptOutcome, RcptStatus, RemoteReply, Store};

use super::{BoxFuture, Deliverer, Destination};
use crate::time::now_ms;

/// The site (and host) of every captured delivery.
pub const SITE: &str = "capture";

/// The reply every captured recipient gets.
pub const REPLY: &str = "250 2.0.0 captured (capture mode: not sent)";

pub struct CaptureDeliverer {
    store: Store,
}

impl CaptureDeliverer {
    pub fn new(store: Store) -> CaptureDeliverer {
        CaptureDeliverer { store }
    }

    async fn capture(&self, entry: &QueueEntry, body: &[u8]) -> Vec<RcptOutcome> {
        let now = now_ms();
        let subject = facteur_message::view::subject(body);
        let captures: Vec<NewCapture> = entry
            .recipients
            .iter()
            .map(|r| NewCapture {
                account_id: entry.account_id,
                message_id: entry.message_id,
                recipient_id: r.id,
                recipient: r.address.clone(),
                mail_from: entry.mail_from.clone(),
                subject: subject.clone(),
                raw: body,
                captured_at: now,
            })
            .collect();
        match self.store.add_captures(&captures).await {
            Ok(_) => entry
                .recipients
                .iter()
                .map(|r| RcptOutcome {
                    recipient_id: r.id,
                    address: r.address.clone(),
                    status: RcptStatus::Sent,
                    detail: format!("{SITE} said: {REPLY}"),
                    enhanced: "2.0.0".into(),
                    remote: Some(RemoteReply {
                        host: SITE.into(),
                        code: 250,
                        line: REPLY.into(),
                    }),
                    class: None,
                })
                .collect(),
            // Kept for the next attempt, as when a next hop cannot be reached.
            Err(e) => super::all(
                entry,
                RcptStatus::Deferred,
                "4.3.0",
                BounceClass::Connection,
                &format!("cannot keep the captured message: {e}"),
            ),
        }
    }
}

impl Deliverer for CaptureDeliverer {
    fn route<'a>(
        &'a self,
        _entry: &'a QueueEntry,
    ) -> BoxFuture<'a, Result<Destination, Vec<RcptOutcome>>> {
        Box::pin(async {
            Ok(Destination {
                site: SITE.into(),
                hosts: vec![SITE.into()],
                port: 0,
            })
        })
    }

    fn deliver<'a>(
        &'a self,
        entry: &'a QueueEntry,
        _to: &'a Destination,
        body: &'a [u8],
    ) -> BoxFuture<'a, Vec<RcptOutcome>> {
        Box::pin(self.capture(entry, body))
    }
}
