//! Statistics kept as events are written, never computed by scanning the events: every write
//! that records an event adds to `stat_counters` in the same transaction, one upsert per
//! batch (`n = n + excluded.n`, so nodes that write at once add up, on SQLite and on
//! PostgreSQL alike). A counter row is keyed by account, timing, 5-minute slot, campaign,
//! sender and recipient domain; a request sums the rows it selects.
//!
//! Two timings, as Mailjet's `CounterTiming`: `event` counts each event in the slot it
//! happened in; `message` counts each recipient once per state it reached (first open, first
//! click…) in the slot its message was accepted in, so a campaign's rates stay with the day it
//! was sent.

use std::collections::HashMap;

use sqlx::Row;

use crate::batch::{Val, chunked, fetch_in};
use crate::{Backend, Result, Store};

/// Width of the finest slot (Mailjet's `Highest` resolution), in seconds.
pub const SLOT_SECS: i64 = 300;

/// Longest campaign name or URL kept in a counter's key (longer ones are cut: a key must fit
/// a PostgreSQL index row).
const KEY_CHARS: usize = 400;

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Counter {
    /// Accepted (queued or blocked): Mailjet's `Total`.
    Processed,
    Queued,
    Sent,
    Blocked,
    HardBounced,
    SoftBounced,
    Deferred,
    Opened,
    /// Opens by privacy proxies and scanners (also counted in `Opened`).
    OpenedMachine,
    Clicked,
    ClickedMachine,
    Spam,
    Unsubscribed,
}

impl Counter {
    pub const ALL: [Counter; 13] = [
        Counter::Processed,
        Counter::Queued,
        Counter::Sent,
        Counter::Blocked,
        Counter::HardBounced,
        Counter::SoftBounced,
        Counter::Deferred,
        Counter::Opened,
        Counter::OpenedMachine,
        Counter::Clicked,
        Counter::ClickedMachine,
        Counter::Spam,
        Counter::Unsubscribed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Counter::Processed => "processed",
            Counter::Queued => "queued",
            Counter::Sent => "sent",
            Counter::Blocked => "blocked",
            Counter::HardBounced => "hardbounced",
            Counter::SoftBounced => "softbounced",
            Counter::Deferred => "deferred",
            Counter::Opened => "opened",
            Counter::OpenedMachine => "opened_machine",
            Counter::Clicked => "clicked",
            Counter::ClickedMachine => "clicked_machine",
            Counter::Spam => "spam",
            Counter::Unsubscribed => "unsub",
        }
    }

    pub fn parse(s: &str) -> Option<Counter> {
        Counter::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Mailjet's `CounterTiming`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timing {
    // (Declared in the order of their names: the tally's rows are locked in this order, the
    // same on every node and version.)
    /// In the slot the event happened in, every event.
    Event,
    /// In the slot the message was accepted in, each recipient once per state.
    Message,
}

impl Timing {
    fn as_str(self) -> &'static str {
        match self {
            Timing::Message => "message",
            Timing::Event => "event",
        }
    }
}

/// Mailjet's `CounterResolution`: how wide each returned slice is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Lifetime,
    Day,
    Hour,
    /// 5 minutes.
    Highest,
}

impl Resolution {
    /// The slice's width in seconds; `None` for one slice over everything.
    pub fn width(self) -> Option<i64> {
        match self {
            Resolution::Lifetime => None,
            Resolution::Day => Some(86_400),
            Resolution::Hour => Some(3_600),
            Resolution::Highest => Some(SLOT_SECS),
        }
    }
}

/// Which messages a request counts (Mailjet's `CounterSource` and `SourceId`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Every message of the account (`APIKey`).
    Account,
    /// Messages sent with this campaign name (`CustomCampaign`, `X-Mailjet-Campaign`).
    Campaign(String),
    /// Messages from this envelope sender.
    Sender(String),
}

/// A statistics request.
#[derive(Debug, Clone)]
pub struct StatQuery {
    pub account_id: i64,
    pub source: Source,
    pub timing: Timing,
    pub resolution: Resolution,
    /// Unix seconds, inclusive.
    pub from: i64,
    /// Unix seconds, exclusive.
    pub to: i64,
}

/// One slice of counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    /// Start of the slice, unix seconds (the request's `from` for `Lifetime`).
    pub start: i64,
    pub counts: HashMap<Counter, i64>,
}

impl Slice {
    pub fn get(&self, c: Counter) -> i64 {
        self.counts.get(&c).copied().unwrap_or(0)
    }
}

/// One tracked link of a campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkStat {
    pub url: String,
    /// The link's position in the message (from 0).
    pub position: i64,
    pub clicks: i64,
    /// Recipients who followed it at least once.
    pub messages: i64,
}

/// What the counters of one message need: who sent it, when, under which campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub account_id: i64,
    pub campaign: String,
    pub sender: String,
    pub created_at: i64,
}

fn cut(s: &str) -> String {
    s.chars().take(KEY_CHARS).collect()
}

type Key = (i64, Timing, i64, String, String, String, Counter);

/// The counter increments one transaction makes, summed by key before they are written.
#[derive(Debug, Default)]
pub(crate) struct Tally(HashMap<Key, i64>);

impl Tally {
    /// Counts one event at `at_ms` for a recipient at `domain`: in its event slot, and, when
    /// `per_message` (the first time the recipient reached this state), in its message's.
    pub(crate) fn add(
        &mut self,
        f: &Facts,
        domain: &str,
        counter: Counter,
        at_ms: i64,
        per_message: bool,
    ) {
        let slot = |ms: i64| ms.div_euclid(SLOT_SECS * 1000) * SLOT_SECS;
        let mut key = |timing: Timing, slot: i64| {
            *self
                .0
                .entry((
                    f.account_id,
                    timing,
                    slot,
                    cut(&f.campaign),
                    cut(&f.sender.to_ascii_lowercase()),
                    domain.to_string(),
                    counter,
                ))
                .or_default() += 1;
        };
        key(Timing::Event, slot(at_ms));
        if per_message {
            key(Timing::Message, slot(f.created_at));
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds everything counted to the stored counters.
    pub(crate) async fn write(self, tx: &mut sqlx::AnyConnection, backend: Backend) -> Result<()> {
        let mut rows: Vec<(Key, i64)> = self.0.into_iter().collect();
        // The same order on every node: two transactions never wait on each other's rows in
        // opposite orders.
        rows.sort_unstable();
        let vals = rows
            .into_iter()
            .map(
                |((account, timing, slot, campaign, sender, domain, counter), n)| {
                    vec![
                        Val::I64(account),
                        Val::Text(timing.as_str().into()),
                        Val::I64(slot),
                        Val::Text(campaign),
                        Val::Text(sender),
                        Val::Text(domain),
                        Val::Text(counter.as_str().into()),
                        Val::I64(n),
                    ]
                },
            )
            .collect();
        chunked(
            tx,
            backend,
            "INSERT INTO stat_counters (account_id, timing, slot, campaign, sender, domain, counter, n) VALUES ",
            " ON CONFLICT (account_id, timing, slot, campaign, sender, domain, counter) DO UPDATE SET n = stat_counters.n + excluded.n",
            vals,
        )
        .await
    }
}

/// The counting facts of these messages (those of no account are left out: Facteur's own
/// reports are not the account's statistics).
pub(crate) async fn facts(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    message_ids: &[i64],
) -> Result<HashMap<i64, Facts>> {
    fetch_in(
        tx,
        backend,
        "SELECT id, account_id, campaign, mail_from, created_at FROM messages WHERE id IN ({}) AND account_id IS NOT NULL",
        message_ids,
    )
    .await?
    .iter()
    .map(|r| {
        Ok((
            r.try_get::<i64, _>("id")?,
            Facts {
                account_id: r.try_get("account_id")?,
                campaign: r.try_get("campaign")?,
                sender: r.try_get("mail_from")?,
                created_at: r.try_get("created_at")?,
            },
        ))
    })
    .collect()
}

/// Folds `(key, counter, n)` rows, ordered by key, into one map of counters per key (rows of
/// a counter this version does not know are left out).
fn fold_by<K: PartialEq>(
    rows: &[sqlx::any::AnyRow],
    key: impl Fn(&sqlx::any::AnyRow) -> Result<K>,
) -> Result<Vec<(K, HashMap<Counter, i64>)>> {
    let mut out: Vec<(K, HashMap<Counter, i64>)> = Vec::new();
    for r in rows {
        let Some(counter) = Counter::parse(r.try_get::<String, _>("counter")?.as_str()) else {
            continue;
        };
        let n: i64 = r.try_get("n")?;
        let k = key(r)?;
        match out.last_mut() {
            Some((last, m)) if *last == k => *m.entry(counter).or_default() += n,
            _ => out.push((k, HashMap::from([(counter, n)]))),
        }
    }
    Ok(out)
}

impl Store {
    /// The counters a request selects, one slice per `resolution` step that has any (in
    /// order), or one slice for `Lifetime`.
    pub async fn stat_counters(&self, q: &StatQuery) -> Result<Vec<Slice>> {
        let (filter, value) = match &q.source {
            Source::Account => ("", None),
            Source::Campaign(c) => (" AND campaign = $5", Some(cut(c))),
            Source::Sender(s) => (" AND sender = $5", Some(cut(&s.to_ascii_lowercase()))),
        };
        let sql = format!(
            "SELECT slot, counter, CAST(SUM(n) AS BIGINT) AS n FROM stat_counters
             WHERE account_id = $1 AND timing = $2 AND slot >= $3 AND slot < $4{filter}
             GROUP BY slot, counter ORDER BY slot"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(q.account_id)
            .bind(q.timing.as_str())
            .bind(q.from)
            .bind(q.to);
        if let Some(v) = value {
            query = query.bind(v);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let slices = fold_by(&rows, |r| {
            let slot: i64 = r.try_get("slot")?;
            Ok(match q.resolution.width() {
                None => q.from,
                Some(w) => slot.div_euclid(w) * w,
            })
        })?;
        Ok(slices
            .into_iter()
            .map(|(start, counts)| Slice { start, counts })
            .collect())
    }

    /// Per recipient domain (Mailjet's ESP statistics), message timing, over `[from, to)`.
    pub async fn stats_by_domain(
        &self,
        account_id: i64,
        from: i64,
        to: i64,
    ) -> Result<Vec<(String, HashMap<Counter, i64>)>> {
        let rows = sqlx::query(
            "SELECT domain, counter, CAST(SUM(n) AS BIGINT) AS n FROM stat_counters
             WHERE account_id = $1 AND timing = 'message' AND slot >= $2 AND slot < $3
             GROUP BY domain, counter ORDER BY domain",
        )
        .bind(account_id)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        fold_by(&rows, |r| Ok(r.try_get::<String, _>("domain")?))
    }

    /// The tracked links of a campaign (`None`: of every message of the account, campaign or
    /// not), in the order they appear in the message.
    pub async fn link_stats(
        &self,
        account_id: i64,
        campaign: Option<&str>,
    ) -> Result<Vec<LinkStat>> {
        let rows = sqlx::query(
            "SELECT url, position, CAST(SUM(clicks) AS BIGINT) AS clicks, CAST(SUM(messages) AS BIGINT) AS messages
             FROM link_counters WHERE account_id = $1 AND ($2 IS NULL OR campaign = $2)
             GROUP BY url, position ORDER BY position, url",
        )
        .bind(account_id)
        .bind(campaign.map(cut))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LinkStat {
                    url: r.try_get("url")?,
                    position: r.try_get("position")?,
                    clicks: r.try_get("clicks")?,
                    messages: r.try_get("messages")?,
                })
            })
            .collect()
    }

    /// When an address of the account last opened and last clicked (unix ms), for the
    /// template language's HasOpenedSince / HasClickedSince.
    pub async fn contact_activity(
        &self,
        account_id: i64,
        address: &str,
    ) -> Result<(Option<i64>, Option<i64>)> {
        let row = sqlx::query(
            "SELECT opened_at, clicked_at FROM contact_activity WHERE account_id = $1 AND address = $2",
        )
        .bind(account_id)
        .bind(address.to_ascii_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => (r.try_get("opened_at")?, r.try_get("clicked_at")?),
            None => (None, None),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_names_round_trip() {
        for c in Counter::ALL {
            assert_eq!(Counter::parse(c.as_str()), Some(c));
        }
    }

    #[test]
    fn tally_sums_by_slot_and_timing() {
        let f = Facts {
            account_id: 3,
            campaign: "spring".into(),
            sender: "news@example.com".into(),
            created_at: 1_000_000,
        };
        let mut t = Tally::default();
        // Two opens in one slot, the first also counted for its message.
        t.add(&f, "example.net", Counter::Opened, 2_000_000, true);
        t.add(&f, "example.net", Counter::Opened, 2_050_000, false);
        t.add(
            &f,
            "example.net",
            Counter::Opened,
            2_000_000 + 300_000,
            false,
        );
        let get = |timing, slot| {
            t.0.get(&(
                3,
                timing,
                slot,
                "spring".to_string(),
                "news@example.com".to_string(),
                "example.net".to_string(),
                Counter::Opened,
            ))
            .copied()
        };
        assert_eq!(get(Timing::Event, 1800), Some(2));
        assert_eq!(get(Timing::Event, 2100), Some(1));
        assert_eq!(get(Timing::Message, 900), Some(1));
        assert_eq!(t.0.len(), 3);
    }
}
