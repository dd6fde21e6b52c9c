//! Group commit: concurrent callers of [`Spooler::spool`] share transactions, so durability costs
//! one fsync per batch, not per message. A caller's future resolves only after the batch holding
//! its message has committed.

use tokio::sync::{mpsc, oneshot};

use crate::{Error, NewMessage, Result, Store};

type Job = (NewMessage, oneshot::Sender<Result<i64>>);

/// Most messages committed together.
const MAX_BATCH: usize = 256;

#[derive(Clone)]
pub struct Spooler {
    tx: mpsc::Sender<Job>,
}

impl Spooler {
    /// Starts the committing task on the current runtime.
    pub fn start(store: Store) -> Spooler {
        let (tx, rx) = mpsc::channel::<Job>(4096);
        tokio::spawn(run(store, rx));
        Spooler { tx }
    }

    /// Stores a message durably; returns its id once committed.
    pub async fn spool(&self, message: NewMessage) -> Result<i64> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send((message, done))
            .await
            .map_err(|_| Error::Invalid("spooler stopped".into()))?;
        wait.await
            .map_err(|_| Error::Invalid("spooler stopped".into()))?
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Job>) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (messages, waiters): (Vec<NewMessage>, Vec<_>) = jobs.drain(..).unzip();
        match store.spool_batch(&messages).await {
            Ok(ids) => {
                for (waiter, id) in waiters.into_iter().zip(ids) {
                    let _ = waiter.send(Ok(id));
                }
            }
            Err(e) if messages.len() > 1 => {
                // One bad message must not fail its neighbours: retry them one by one.
                tracing::warn!(error = %e, batch = messages.len(), "batch spool failed, retrying singly");
                for (m, waiter) in messages.into_iter().zip(waiters) {
                    let r = store
                        .spool_batch(std::slice::from_ref(&m))
                        .await
                        .map(|ids| ids[0]);
                    let _ = waiter.send(r);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "spool failed");
                for waiter in waiters {
                    let _ = waiter.send(Err(Error::Invalid(format!("spool failed: {e}"))));
                }
            }
        }
    }
}
