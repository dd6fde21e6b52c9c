//! Group commit: concurrent writers (sessions spooling mail, delivery workers recording
//! outcomes) share transactions, so durability costs one fsync per batch, not per write. A
//! caller's future resolves only after the batch holding its write has committed.

use tokio::sync::{mpsc, oneshot};

use crate::{
    AttemptRecord, Claim, Error, NewMessage, QueueEntry, Result, SpoolReceipt, Store, WriteOp,
    WriteResult,
};

type Job = (WriteOp, Reply);

/// Who hears of a write once its batch is committed: a caller waiting for it, or a callback
/// run by the writer (for opens and clicks, whose callers do not wait).
enum Reply {
    Wait(oneshot::Sender<Result<WriteResult>>),
    Then(Box<dyn FnOnce(Result<WriteResult>) + Send>),
}

impl Reply {
    fn answer(self, r: Result<WriteResult>) {
        match self {
            Reply::Wait(tx) => {
                let _ = tx.send(r);
            }
            Reply::Then(f) => f(r),
        }
    }
}

/// Most writes committed together.
const MAX_BATCH: usize = 256;

#[derive(Clone)]
pub struct GroupCommit {
    tx: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Starts the committing task on the current runtime.
    pub fn start(store: Store) -> GroupCommit {
        let (tx, rx) = mpsc::channel::<Job>(4096);
        let written = std::sync::Arc::new(tokio::sync::Notify::new());
        tokio::spawn(checkpoints(store.clone(), tx.downgrade(), written.clone()));
        tokio::spawn(run(store, rx, written));
        GroupCommit { tx }
    }

    async fn submit(&self, op: WriteOp) -> Result<WriteResult> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send((op, Reply::Wait(done)))
            .await
            .map_err(|_| Error::Unavailable("the group commit writer stopped".into()))?;
        wait.await
            .map_err(|_| Error::Unavailable("the group commit writer stopped".into()))?
    }

    /// Stores a message durably; returns its id once committed.
    pub async fn spool(&self, message: NewMessage) -> Result<i64> {
        self.spool_receipt(message).await.map(|r| r.message_id)
    }

    /// Stores a message durably; returns its id and its recipients' ids and UUIDs.
    pub async fn spool_receipt(&self, message: NewMessage) -> Result<SpoolReceipt> {
        match self.submit(WriteOp::Spool(message)).await? {
            WriteResult::Spooled(receipt) => Ok(receipt),
            _ => Err(Error::Unavailable("unexpected write result".into())),
        }
    }

    /// Records an open, a click or an unsubscription durably (its event; webhooks follow
    /// from it); returns once committed.
    pub async fn engagement(&self, e: crate::Engagement) -> Result<()> {
        self.submit(WriteOp::Engagement(e)).await.map(|_| ())
    }

    /// Queues an open or a click for the next batch and returns once it is queued (waiting
    /// only while the writer is full); `then` runs on the writer once the batch is committed
    /// (or failed): it must be quick.
    pub async fn engagement_then(
        &self,
        e: crate::Engagement,
        then: impl FnOnce(Result<()>) + Send + 'static,
    ) -> Result<()> {
        let reply = Reply::Then(Box::new(move |r: Result<WriteResult>| then(r.map(|_| ()))));
        self.tx
            .send((WriteOp::Engagement(e), reply))
            .await
            .map_err(|_| Error::Unavailable("the group commit writer stopped".into()))
    }

    /// Leases due queue rows for `owner` (see [`Store::claim_due`]).
    pub async fn claim(
        &self,
        owner: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<QueueEntry>> {
        let claim = Claim {
            owner: owner.to_string(),
            now,
            lease_ms,
            limit,
        };
        self.submit(WriteOp::Claim(claim)).await?.into_claimed()
    }

    /// Records a delivery attempt durably, with its DSN if it has one; returns the DSN's id.
    pub async fn record(&self, record: AttemptRecord) -> Result<Option<i64>> {
        match self.submit(WriteOp::Record(record)).await? {
            WriteResult::Recorded { dsn } => Ok(dsn),
            other => Err(Error::Unavailable(format!(
                "unexpected write result {other:?}"
            ))),
        }
    }
}

/// Bytes of message bodies committed after which a checkpoint runs without waiting for its
/// tick, so that the WAL's growth between checkpoints does not depend on the write rate.
const CHECKPOINT_EVERY_BYTES: usize = 8 << 20;

/// Checkpoints the WAL every half second, and after every [`CHECKPOINT_EVERY_BYTES`] written,
/// while the group commit is alive.
async fn checkpoints(
    store: Store,
    alive: mpsc::WeakSender<Job>,
    written: std::sync::Arc<tokio::sync::Notify>,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = written.notified() => {}
        }
        if alive.upgrade().is_none() {
            return;
        }
        if let Err(e) = store.checkpoint().await {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

async fn run(
    store: Store,
    mut rx: mpsc::Receiver<Job>,
    written: std::sync::Arc<tokio::sync::Notify>,
) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut since_checkpoint = 0usize;
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (ops, waiters): (Vec<WriteOp>, Vec<_>) = jobs.drain(..).unzip();
        since_checkpoint += ops
            .iter()
            .map(|op| match op {
                WriteOp::Spool(m) => m.body.len(),
                WriteOp::Record(r) => r.dsn.as_ref().map_or(256, |d| d.body.len()),
                WriteOp::Claim(_) => 64,
                WriteOp::Engagement(e) => 128 + e.url.as_ref().map_or(0, |u| u.len()),
            })
            .sum::<usize>();
        if since_checkpoint >= CHECKPOINT_EVERY_BYTES {
            since_checkpoint = 0;
            written.notify_one();
        }
        let started = std::time::Instant::now();
        let result = store.write_batch(&ops).await;
        tracing::debug!(
            ops = ops.len(),
            micros = started.elapsed().as_micros() as u64,
            "group commit"
        );
        match result {
            Ok(results) => {
                for (waiter, r) in waiters.into_iter().zip(results) {
                    waiter.answer(Ok(r));
                }
            }
            Err(e) if ops.len() > 1 => {
                // One bad write must not fail its neighbours: retry them one by one.
                tracing::warn!(error = %e, batch = ops.len(), "batch write failed, retrying singly");
                for (op, waiter) in ops.into_iter().zip(waiters) {
                    let r = store
                        .write_batch(std::slice::from_ref(&op))
                        .await
                        .map(|mut r| r.remove(0));
                    waiter.answer(r);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "write failed");
                if let Some(waiter) = waiters.into_iter().next() {
                    waiter.answer(Err(e));
                }
            }
        }
    }
}
