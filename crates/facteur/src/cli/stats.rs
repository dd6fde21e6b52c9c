//! `facteur stats`: an account's statistics as a table (or JSON), read from the counters the
//! server keeps as events are written (what `/v3/REST/statcounters` answers).

use std::process::ExitCode;

use facteur_engine::time::now_ms;
use facteur_store::stats::{Counter, Resolution, Slice, Source, StatQuery, Timing};
use serde_json::{Value, json};

use super::Common;

#[derive(clap::Args)]
pub(super) struct StatsArgs {
    /// The account's API key (default: every account)
    #[arg(long)]
    account: Option<String>,
    /// Only the messages of this campaign (CustomCampaign, X-Mailjet-Campaign)
    #[arg(long, conflicts_with = "sender")]
    campaign: Option<String>,
    /// Only the messages of this envelope sender
    #[arg(long)]
    sender: Option<String>,
    /// One row per day, hour or 5 minutes, one row in all (lifetime), or one row per
    /// recipient domain
    #[arg(long, default_value = "day", value_parser = ["lifetime", "day", "hour", "highest", "domain"])]
    by: String,
    /// How many days back to count, up to now
    #[arg(long, default_value_t = 7)]
    days: i64,
    /// Count every event when it happened (Mailjet's CounterTiming=Event), not each
    /// recipient once with the day its message was sent
    #[arg(long)]
    event: bool,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    common: Common,
}

/// The table's columns: heading and what it shows.
const COLUMNS: &[(&str, &[Counter])] = &[
    ("processed", &[Counter::Processed]),
    ("sent", &[Counter::Sent]),
    ("deferred", &[Counter::Deferred]),
    ("bounced", &[Counter::HardBounced, Counter::SoftBounced]),
    ("blocked", &[Counter::Blocked]),
    ("opened", &[Counter::Opened]),
    ("clicked", &[Counter::Clicked]),
    ("spam", &[Counter::Spam]),
    ("unsub", &[Counter::Unsubscribed]),
];

fn sum(s: &Slice, cs: &[Counter]) -> i64 {
    cs.iter().map(|c| s.get(*c)).sum()
}

fn rate(part: i64, whole: i64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

/// Rows of (label, slice) as an aligned table with open and click rates (of the sent).
fn table(first: &str, rows: &[(String, Slice)]) -> String {
    let mut lines: Vec<Vec<String>> = Vec::new();
    let mut head = vec![first.to_string()];
    head.extend(COLUMNS.iter().map(|(h, _)| h.to_string()));
    head.extend(["open rate".into(), "click rate".into()]);
    lines.push(head);
    let mut total = Slice {
        start: 0,
        counts: Default::default(),
    };
    for (label, s) in rows {
        for (c, n) in &s.counts {
            *total.counts.entry(*c).or_default() += n;
        }
        lines.push(row(label, s));
    }
    if rows.len() > 1 {
        lines.push(row("total", &total));
    }
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for l in &lines {
        let cells: Vec<String> = l
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn row(label: &str, s: &Slice) -> Vec<String> {
    let mut r = vec![label.to_string()];
    r.extend(COLUMNS.iter().map(|(_, cs)| sum(s, cs).to_string()));
    let sent = s.get(Counter::Sent);
    r.push(rate(s.get(Counter::Opened), sent));
    r.push(rate(s.get(Counter::Clicked), sent));
    r
}

/// A slice's start as a date (`--by day`) or a date and time (UTC).
fn label(start: i64, by: &str) -> String {
    // 2026-12-03T13:05:00Z
    let t = facteur_http::api::rfc3339(start * 1000);
    match by {
        "day" => t.get(..10).unwrap_or(&t).to_string(),
        _ => t.get(..16).unwrap_or(&t).replacen('T', " ", 1),
    }
}

fn slice_json(label: &str, s: &Slice) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("slice".into(), json!(label));
    for c in Counter::ALL {
        m.insert(c.as_str().into(), json!(s.get(c)));
    }
    Value::Object(m)
}

pub(super) async fn stats(a: StatsArgs) -> anyhow::Result<ExitCode> {
    if a.days < 1 {
        anyhow::bail!("--days {}: count at least 1 day", a.days);
    }
    if a.by == "domain" && (a.campaign.is_some() || a.sender.is_some() || a.event) {
        anyhow::bail!(
            "--by domain counts every message of the account, by message: leave out --campaign, --sender and --event"
        );
    }
    let store = super::open_store(&a.common).await?;
    let accounts = match &a.account {
        Some(key) => vec![super::account_by_key(&store, key).await?],
        None => store.list_accounts().await?,
    };
    if accounts.is_empty() {
        anyhow::bail!("no account yet: `facteur serve` creates the first one");
    }
    let to = now_ms() / 1000 + 1;
    let from = match a.by.as_str() {
        "lifetime" => 0,
        // Whole days, so that the first row is not a part of one.
        _ => (to - a.days * 86_400).div_euclid(86_400) * 86_400,
    };
    let source = match (&a.campaign, &a.sender) {
        (Some(c), _) => Source::Campaign(c.clone()),
        (_, Some(s)) => Source::Sender(s.clone()),
        _ => Source::Account,
    };
    let timing = if a.event {
        Timing::Event
    } else {
        Timing::Message
    };
    let mut json_out = Vec::new();
    for account in &accounts {
        let rows: Vec<(String, Slice)> = if a.by == "domain" {
            store
                .stats_by_domain(account.id, from, to)
                .await?
                .into_iter()
                .map(|(d, counts)| {
                    (
                        d,
                        Slice {
                            start: from,
                            counts,
                        },
                    )
                })
                .collect()
        } else {
            let resolution = match a.by.as_str() {
                "lifetime" => Resolution::Lifetime,
                "hour" => Resolution::Hour,
                "highest" => Resolution::Highest,
                _ => Resolution::Day,
            };
            let q = StatQuery {
                account_id: account.id,
                source: source.clone(),
                timing,
                resolution,
                from,
                to,
            };
            store
                .stat_counters(&q)
                .await?
                .into_iter()
                .map(|s| {
                    let l = if resolution == Resolution::Lifetime {
                        "lifetime".to_string()
                    } else {
                        label(s.start, &a.by)
                    };
                    (l, s)
                })
                .collect()
        };
        if a.json {
            json_out.push(json!({
                "account": account.name,
                "api_key": account.api_key,
                "rows": rows.iter().map(|(l, s)| slice_json(l, s)).collect::<Vec<_>>(),
            }));
            continue;
        }
        let scope = match (&a.campaign, &a.sender) {
            (Some(c), _) => format!(", campaign {c:?}"),
            (_, Some(s)) => format!(", sender {s}"),
            _ => String::new(),
        };
        let span = if a.by == "lifetime" {
            "since the start".to_string()
        } else {
            format!("last {} day{}", a.days, if a.days == 1 { "" } else { "s" })
        };
        println!("{} ({}){scope}, {span}:", account.name, account.api_key);
        if rows.is_empty() {
            println!("  nothing sent in this span\n");
        } else {
            let first = if a.by == "domain" { "domain" } else { "slice" };
            println!("{}", table(first, &rows));
        }
    }
    if a.json {
        println!("{}", Value::Array(json_out));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_aligns_and_totals() {
        let s = |sent, opened| Slice {
            start: 0,
            counts: [
                (Counter::Processed, sent),
                (Counter::Sent, sent),
                (Counter::Opened, opened),
            ]
            .into_iter()
            .collect(),
        };
        let t = table(
            "slice",
            &[
                ("2026-12-01".into(), s(4, 1)),
                ("2026-12-02".into(), s(6, 3)),
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        assert!(lines[0].starts_with("slice"), "{t}");
        assert!(lines[1].ends_with("25.0%        0.0%"), "{t}");
        assert!(lines[3].starts_with("total"), "{t}");
        assert!(lines[3].contains(" 10 "), "{t}");
        assert!(lines[3].contains("40.0%"), "{t}");
        assert_eq!(label(0, "day"), "1970-01-01");
        assert_eq!(
            label(1_796_256_000 + 3_600 * 13 + 300, "hour"),
            "2026-12-03 13:05"
        );
        assert_eq!(label(951_782_400, "day"), "2000-02-29");
        // Nothing sent: no rate.
        assert_eq!(rate(3, 0), "-");
    }
}
