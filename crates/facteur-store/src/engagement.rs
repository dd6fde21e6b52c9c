//! Opens, clicks and unsubscriptions in a group-commit batch: each names a recipient by id
//! (the token carried it, nothing was read to answer the reader), so the batch reads those
//! recipients once, marks the first open / click / unsubscription of each (an `UPDATE … WHERE
//! col IS NULL` that only one node can win), writes the events, the link counters, the
//! contact's last activity and the statistics.

use std::collections::{HashMap, HashSet};

use sqlx::Row;

use crate::batch::{Val, chunked, chunked_rows, fetch_in};
use crate::stats::{Counter, Facts, Tally};
use crate::{Backend, Engagement, EventKind, Result, domain_of};

/// Longest URL kept in a link counter's key.
const URL_CHARS: usize = 400;

struct Who {
    message_id: i64,
    address: String,
    facts: Option<Facts>,
}

async fn recipients(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    es: &[Engagement],
) -> Result<HashMap<i64, Who>> {
    let ids: Vec<i64> = es.iter().map(|e| e.recipient_id).collect();
    let rows = fetch_in(
        tx,
        backend,
        "SELECT r.id AS id, r.message_id AS message_id, r.address AS address, m.account_id AS account_id,
                m.campaign AS campaign, m.mail_from AS mail_from, m.created_at AS created_at
         FROM recipients r JOIN messages m ON m.id = r.message_id WHERE r.id IN ({})",
        &ids,
    )
    .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in rows {
        let account: Option<i64> = r.try_get("account_id")?;
        let facts = match account {
            Some(account_id) => Some(Facts {
                account_id,
                campaign: r.try_get("campaign")?,
                sender: r.try_get("mail_from")?,
                created_at: r.try_get("created_at")?,
            }),
            None => None,
        };
        out.insert(
            r.try_get::<i64, _>("id")?,
            Who {
                message_id: r.try_get("message_id")?,
                address: r.try_get("address")?,
                facts,
            },
        );
    }
    Ok(out)
}

/// The recipients for which this batch holds the first event of `kind`, marked in `column`.
async fn firsts(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    es: &[Engagement],
    known: &HashMap<i64, Who>,
    kind: EventKind,
    column: &str,
) -> Result<HashSet<i64>> {
    let mut earliest: HashMap<i64, i64> = HashMap::new();
    for e in es
        .iter()
        .filter(|e| e.kind == kind && known.contains_key(&e.recipient_id))
    {
        let at = earliest.entry(e.recipient_id).or_insert(e.at);
        *at = (*at).min(e.at);
    }
    let mut rows: Vec<(i64, i64)> = earliest.into_iter().collect();
    rows.sort_unstable();
    let rows = rows
        .into_iter()
        .map(|(id, at)| vec![Val::I64(id), Val::I64(at)])
        .collect();
    let answered = chunked_rows(
        tx,
        backend,
        &format!("UPDATE recipients SET {column} = v.column2 FROM (VALUES "),
        &format!(
            ") AS v WHERE recipients.id = v.column1 AND recipients.{column} IS NULL RETURNING recipients.id AS id"
        ),
        rows,
    )
    .await?;
    answered
        .iter()
        .map(|r| Ok(r.try_get::<i64, _>("id")?))
        .collect()
}

pub(crate) async fn write(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    es: &[Engagement],
    tally: &mut Tally,
) -> Result<()> {
    let known = recipients(tx, backend, es).await?;
    let opened = firsts(tx, backend, es, &known, EventKind::Open, "opened_at").await?;
    let clicked = firsts(tx, backend, es, &known, EventKind::Click, "clicked_at").await?;
    let unsubscribed = firsts(tx, backend, es, &known, EventKind::Unsub, "unsub_at").await?;

    // Link firsts: a recipient's first click on each link.
    let mut link_rows: Vec<(i64, i64)> = es
        .iter()
        .filter(|e| e.kind == EventKind::Click && known.contains_key(&e.recipient_id))
        .map(|e| (e.recipient_id, e.position))
        .collect();
    link_rows.sort_unstable();
    link_rows.dedup();
    let first_links: HashSet<(i64, i64)> = chunked_rows(
        tx,
        backend,
        "INSERT INTO link_clicks (recipient_id, position) VALUES ",
        " ON CONFLICT (recipient_id, position) DO NOTHING RETURNING recipient_id, position",
        link_rows
            .into_iter()
            .map(|(r, p)| vec![Val::I64(r), Val::I64(p)])
            .collect(),
    )
    .await?
    .iter()
    .map(|r| Ok((r.try_get("recipient_id")?, r.try_get("position")?)))
    .collect::<Result<_>>()?;

    let mut events = Vec::new();
    let mut links: HashMap<(i64, String, i64, String), (i64, i64)> = HashMap::new();
    let mut activity: HashMap<(i64, String), (Option<i64>, Option<i64>)> = HashMap::new();
    // Each first is counted once, with the batch's earliest event of its kind.
    let mut counted: HashSet<(i64, EventKind)> = HashSet::new();
    let mut counted_links: HashSet<(i64, i64)> = HashSet::new();
    for e in es {
        let Some(who) = known.get(&e.recipient_id) else {
            // A token naming no recipient of this database records nothing.
            continue;
        };
        let first_of_kind = match e.kind {
            EventKind::Open => opened.contains(&e.recipient_id),
            EventKind::Click => clicked.contains(&e.recipient_id),
            EventKind::Unsub => unsubscribed.contains(&e.recipient_id),
            _ => false,
        } && counted.insert((e.recipient_id, e.kind));
        if e.kind == EventKind::Unsub && !first_of_kind {
            // Unsubscribing twice is one unsubscription.
            continue;
        }
        events.push(vec![
            Val::I64(e.at),
            Val::I64(who.message_id),
            Val::OptText(Some(who.address.clone())),
            Val::Text(e.kind.as_str().into()),
            Val::Text(String::new()),
            Val::OptText(e.url.clone()),
            Val::Text(e.ip.clone()),
            Val::Text(e.agent.clone()),
            Val::I64(i64::from(e.machine)),
        ]);
        let Some(f) = &who.facts else { continue };
        let domain = domain_of(&who.address);
        let (counter, machine_counter) = match e.kind {
            EventKind::Open => (Counter::Opened, Some(Counter::OpenedMachine)),
            EventKind::Click => (Counter::Clicked, Some(Counter::ClickedMachine)),
            _ => (Counter::Unsubscribed, None),
        };
        tally.add(f, &domain, counter, e.at, first_of_kind);
        if let Some(m) = machine_counter.filter(|_| e.machine) {
            tally.add(f, &domain, m, e.at, false);
        }
        if e.kind == EventKind::Click {
            let url: String = e
                .url
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(URL_CHARS)
                .collect();
            let first_link = first_links.contains(&(e.recipient_id, e.position))
                && counted_links.insert((e.recipient_id, e.position));
            let c = links
                .entry((f.account_id, f.campaign.clone(), e.position, url))
                .or_default();
            c.0 += 1;
            c.1 += i64::from(first_link);
        }
        if !e.machine && e.kind != EventKind::Unsub {
            let a = activity
                .entry((f.account_id, who.address.to_ascii_lowercase()))
                .or_default();
            let slot = if e.kind == EventKind::Open {
                &mut a.0
            } else {
                &mut a.1
            };
            *slot = Some(slot.map_or(e.at, |t| t.max(e.at)));
        }
    }
    chunked(
        tx,
        backend,
        "INSERT INTO events (at, message_id, recipient, kind, detail, url, ip, agent, machine) VALUES ",
        "",
        events,
    )
    .await?;

    let mut links: Vec<_> = links.into_iter().collect();
    links.sort();
    chunked(
        tx,
        backend,
        "INSERT INTO link_counters (account_id, campaign, position, url, clicks, messages) VALUES ",
        " ON CONFLICT (account_id, campaign, position, url) DO UPDATE SET clicks = link_counters.clicks + excluded.clicks, messages = link_counters.messages + excluded.messages",
        links
            .into_iter()
            .map(|((a, c, p, u), (clicks, messages))| {
                vec![
                    Val::I64(a),
                    Val::Text(c.chars().take(URL_CHARS).collect()),
                    Val::I64(p),
                    Val::Text(u),
                    Val::I64(clicks),
                    Val::I64(messages),
                ]
            })
            .collect(),
    )
    .await?;

    let mut activity: Vec<_> = activity.into_iter().collect();
    activity.sort();
    let later = |col: &str| {
        format!(
            "{col} = CASE WHEN excluded.{col} IS NOT NULL AND (contact_activity.{col} IS NULL OR excluded.{col} > contact_activity.{col}) THEN excluded.{col} ELSE contact_activity.{col} END"
        )
    };
    chunked(
        tx,
        backend,
        "INSERT INTO contact_activity (account_id, address, opened_at, clicked_at) VALUES ",
        &format!(
            " ON CONFLICT (account_id, address) DO UPDATE SET {}, {}",
            later("opened_at"),
            later("clicked_at")
        ),
        activity
            .into_iter()
            .map(|((a, addr), (o, c))| {
                vec![Val::I64(a), Val::Text(addr), Val::OptI64(o), Val::OptI64(c)]
            })
            .collect(),
    )
    .await
}
