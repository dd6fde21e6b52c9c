//! Statistics in Mailjet's shapes, read from counters kept as events are written (no request
//! scans the events): `GET /v3/REST/statcounters`, `GET /v3/REST/statistics/link-click`,
//! `GET /v3/REST/statistics/recipient-esp`.
//!
//! `CounterTiming=Message` counts each recipient once per state it reached (its first open,
//! its first click…) in the slice its message was accepted in; `CounterTiming=Event` counts
//! every event in the slice it happened in. Both fill Mailjet's `Message…Count` and
//! `Event…Count` fields from that one count. `EventOpenedMachineCount` and
//! `EventClickedMachineCount` (Facteur's) say how many came from privacy proxies and link
//! scanners: people are the rest.

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use facteur_engine::Engine;
use facteur_engine::time::now_ms;
use facteur_store::stats::{Counter, Resolution, Slice, Source, StatQuery, Timing};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiAccount, ApiError, ApiQuery as Query, envelope, rfc3339};

/// Most slices one request may ask for.
const MAX_SLICES: i64 = 10_000;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct CountersQuery {
    #[serde(rename = "CounterSource")]
    source: Option<String>,
    #[serde(rename = "SourceId", alias = "SourceID")]
    source_id: Option<String>,
    #[serde(rename = "CounterTiming")]
    timing: Option<String>,
    #[serde(rename = "CounterResolution")]
    resolution: Option<String>,
    #[serde(rename = "FromTS")]
    from: Option<String>,
    #[serde(rename = "ToTS")]
    to: Option<String>,
}

/// A timestamp as Mailjet takes it: unix seconds or RFC 3339.
pub fn parse_ts(name: &str, s: &str) -> Result<i64, ApiError> {
    if let Ok(n) = s.trim().parse::<i64>() {
        return Ok(n);
    }
    time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| {
            ApiError::bad_request(format!(
                "{name} {s:?} is neither a unix timestamp nor an RFC 3339 date"
            ))
        })
}

/// `FromTS` and `ToTS` as given (`None`: absent or empty).
fn ts_range(from: Option<&str>, to: Option<&str>) -> Result<(Option<i64>, Option<i64>), ApiError> {
    let read = |name, v: Option<&str>| {
        v.filter(|s| !s.is_empty())
            .map(|s| parse_ts(name, s))
            .transpose()
    };
    Ok((read("FromTS", from)?, read("ToTS", to)?))
}

fn one_of<T: Copy>(
    name: &str,
    v: Option<&str>,
    default: T,
    all: &[(&str, T)],
) -> Result<T, ApiError> {
    let Some(v) = v.filter(|v| !v.is_empty()) else {
        return Ok(default);
    };
    all.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(v))
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
            ApiError::bad_request(format!("{name} {v:?} is not one of {}", names.join(", ")))
        })
}

/// Mailjet's fields for one slice.
pub fn slice_json(account_id: i64, source_id: &str, resolution: Resolution, s: &Slice) -> Value {
    let n = |c| s.get(c);
    json!({
        "APIKeyID": account_id,
        "SourceID": source_id,
        "Timeslice": rfc3339(s.start * 1000),
        "Resolution": format!("{resolution:?}"),
        "Total": n(Counter::Processed),
        "MessageQueuedCount": n(Counter::Queued),
        "MessageSentCount": n(Counter::Sent),
        "MessageBlockedCount": n(Counter::Blocked),
        "MessageHardBouncedCount": n(Counter::HardBounced),
        "MessageSoftBouncedCount": n(Counter::SoftBounced),
        "MessageDeferredCount": n(Counter::Deferred),
        "MessageOpenedCount": n(Counter::Opened),
        "MessageClickedCount": n(Counter::Clicked),
        "MessageSpamCount": n(Counter::Spam),
        "MessageUnsubscribedCount": n(Counter::Unsubscribed),
        "MessageWorkFlowExitedCount": 0,
        "EventOpenedCount": n(Counter::Opened),
        "EventClickedCount": n(Counter::Clicked),
        "EventSpamCount": n(Counter::Spam),
        "EventUnsubscribedCount": n(Counter::Unsubscribed),
        "EventWorkflowExitedCount": 0,
        "EventOpenedMachineCount": n(Counter::OpenedMachine),
        "EventClickedMachineCount": n(Counter::ClickedMachine),
        "EventOpenDelay": 0,
        "EventClickDelay": 0,
    })
}

/// The request a query string makes, checked.
pub(crate) async fn stat_query(
    app: &Engine,
    account_id: i64,
    q: &CountersQuery,
) -> Result<(StatQuery, String), ApiError> {
    let source = q.source.as_deref().unwrap_or("APIKey");
    let id = q.source_id.clone().unwrap_or_default();
    let source = match one_of(
        "CounterSource",
        Some(source),
        0,
        &[("APIKey", 0), ("Campaign", 1), ("Sender", 2), ("List", 3)],
    )? {
        0 => Source::Account,
        1 if !id.is_empty() => Source::Campaign(id.clone()),
        2 if id.contains('@') => Source::Sender(id.clone()),
        2 if !id.is_empty() => {
            let n: i64 = id.parse().map_err(|_| {
                ApiError::bad_request("SourceId of a Sender is its ID or its email")
            })?;
            Source::Sender(app.store.sender(account_id, n).await?.email)
        }
        3 => {
            return Err(ApiError::bad_request(
                "CounterSource List: contact lists do not exist yet; use APIKey, Campaign or Sender",
            ));
        }
        _ => {
            return Err(ApiError::bad_request(
                "SourceId is required with CounterSource Campaign (the campaign's name) or Sender (its ID or email)",
            ));
        }
    };
    let timing = one_of(
        "CounterTiming",
        q.timing.as_deref(),
        Timing::Message,
        &[("Message", Timing::Message), ("Event", Timing::Event)],
    )?;
    let resolution = one_of(
        "CounterResolution",
        q.resolution.as_deref(),
        Resolution::Lifetime,
        &[
            ("Lifetime", Resolution::Lifetime),
            ("Day", Resolution::Day),
            ("Hour", Resolution::Hour),
            ("Highest", Resolution::Highest),
        ],
    )?;
    let (from, to) = ts_range(q.from.as_deref(), q.to.as_deref())?;
    let to = to.unwrap_or_else(|| now_ms() / 1000 + 1);
    let from = match from {
        Some(from) => from,
        None if resolution == Resolution::Lifetime => 0,
        None => {
            return Err(ApiError::bad_request(
                "FromTS is required with CounterResolution Day, Hour or Highest",
            ));
        }
    };
    if from >= to {
        return Err(ApiError::bad_request("FromTS must be before ToTS"));
    }
    if let Some(w) = resolution.width()
        && (to - from) / w > MAX_SLICES
    {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_SLICES} slices per request: narrow FromTS..ToTS or take a coarser CounterResolution"
        )));
    }
    Ok((
        StatQuery {
            account_id,
            source,
            timing,
            resolution,
            from,
            to,
        },
        id,
    ))
}

pub(crate) async fn counters(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Query(q): Query<CountersQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let (query, id) = stat_query(&app, account.id, &q).await?;
    let slices = app.store.stat_counters(&query).await?;
    let data: Vec<Value> = if query.resolution == Resolution::Lifetime && slices.is_empty() {
        // Lifetime always has its one slice, of zeros when nothing was sent.
        vec![slice_json(
            account.id,
            &id,
            query.resolution,
            &Slice {
                start: query.from,
                counts: Default::default(),
            },
        )]
    } else {
        slices
            .iter()
            .map(|s| slice_json(account.id, &id, query.resolution, s))
            .collect()
    };
    let total = data.len() as i64;
    Ok(envelope(data, total))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct LinkQuery {
    #[serde(rename = "CampaignId", alias = "CampaignID")]
    campaign: Option<String>,
}

pub(crate) async fn link_click(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Query(q): Query<LinkQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let campaign = q.campaign.as_deref().filter(|c| !c.is_empty());
    let links = app.store.link_stats(account.id, campaign).await?;
    let data: Vec<Value> = links
        .iter()
        .map(|l| {
            json!({
                "URL": l.url,
                "PositionIndex": l.position,
                "ClickedEventsCount": l.clicks,
                "ClickedMessagesCount": l.messages,
            })
        })
        .collect();
    let total = data.len() as i64;
    Ok(envelope(data, total))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct EspQuery {
    #[serde(rename = "FromTS")]
    from: Option<String>,
    #[serde(rename = "ToTS")]
    to: Option<String>,
}

pub(crate) async fn recipient_esp(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Query(q): Query<EspQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let (from, to) = ts_range(q.from.as_deref(), q.to.as_deref())?;
    let (from, to) = (from.unwrap_or(0), to.unwrap_or(i64::MAX));
    let rows = app.store.stats_by_domain(account.id, from, to).await?;
    let data: Vec<Value> = rows
        .iter()
        .map(|(domain, m)| {
            let s = Slice {
                start: from,
                counts: m.clone(),
            };
            let mut v = slice_json(account.id, "", Resolution::Lifetime, &s);
            v["Domain"] = json!(domain);
            v
        })
        .collect();
    let total = data.len() as i64;
    Ok(envelope(data, total))
}
