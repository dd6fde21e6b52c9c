//! The DNS check of a sending domain (`POST /v3/REST/dns/{id}/check`, `facteur domain check`):
//! each record Facteur asked to publish is looked up (through CNAMEs; SPF through its
//! `include:` and `redirect=`, at most 10 lookups as RFC 7208 4.6.4 allows) and given a status
//! — `OK`, `Not found`, `Error` with what is wrong — and its current value. A domain whose
//! DKIM record of an active key is found is verified. The lookups are done by [`Dns`]; what
//! they mean is decided by the pure functions below.

use std::net::SocketAddr;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use serde_json::{Value, json};

/// What a TXT (or MX) lookup found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    /// TXT: each record's strings joined; MX: the exchanges, lower case, no trailing dot.
    pub values: Vec<String>,
    /// The names a CNAME chain went through, in order.
    pub via: Vec<String>,
    /// The lookup failed (not "no such name": a timeout, a refusal).
    pub error: Option<String>,
}

/// The resolver the check asks: `dns_resolver` from the configuration, else the system's.
/// A new one for every check, so that a record just published is not hidden by a cached
/// "no such name".
pub struct Dns {
    resolver: TokioResolver,
}

impl Dns {
    pub fn new(server: Option<SocketAddr>) -> Result<Dns, String> {
        let builder = match server {
            Some(addr) => {
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                for c in &mut ns.connections {
                    c.port = addr.port();
                }
                TokioResolver::builder_with_config(
                    ResolverConfig::from_parts(None, vec![], vec![ns]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => TokioResolver::builder_tokio()
                .map_err(|e| format!("cannot read the system DNS configuration: {e}"))?,
        };
        let mut builder = builder;
        // A check is interactive: a resolver that does not answer fails it in seconds.
        builder.options_mut().timeout = std::time::Duration::from_secs(3);
        builder.options_mut().attempts = 1;
        let resolver = builder
            .build()
            .map_err(|e| format!("cannot build the DNS resolver: {e}"))?;
        Ok(Dns { resolver })
    }

    pub async fn lookup(&self, name: &str, kind: RecordType) -> Answer {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self.resolver.lookup(fqdn.as_str(), kind).await {
            Ok(lookup) => {
                let mut a = Answer::default();
                for rec in lookup.answers() {
                    match &rec.data {
                        RData::CNAME(c) => a
                            .via
                            .push(c.0.to_ascii().trim_end_matches('.').to_ascii_lowercase()),
                        RData::TXT(t) => a.values.push(
                            t.txt_data
                                .iter()
                                .map(|s| String::from_utf8_lossy(s).into_owned())
                                .collect::<String>(),
                        ),
                        RData::MX(mx) => a.values.push(
                            mx.exchange
                                .to_ascii()
                                .trim_end_matches('.')
                                .to_ascii_lowercase(),
                        ),
                        _ => {}
                    }
                }
                a
            }
            Err(e) if e.is_nx_domain() || e.is_no_records_found() => Answer::default(),
            Err(e) => Answer {
                error: Some(format!("the lookup of {name} failed: {e}")),
                ..Answer::default()
            },
        }
    }
}

/// One record's check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordCheck {
    pub kind: &'static str,
    pub name: String,
    pub expected: String,
    /// `OK`, `Not found`, `Error`.
    pub status: &'static str,
    pub current: Vec<String>,
    pub errors: Vec<String>,
    /// What the record is for (the DKIM key's selector, SPF, DMARC, the return path).
    pub purpose: String,
}

impl RecordCheck {
    pub fn ok(&self) -> bool {
        self.status == "OK"
    }

    pub fn to_json(&self) -> Value {
        json!({
            "Type": self.kind,
            "Name": self.name,
            "Purpose": self.purpose,
            "Expected": self.expected,
            "Status": self.status,
            "CurrentValues": self.current,
            "Errors": self.errors,
        })
    }
}

fn check(kind: &'static str, name: &str, expected: &str, purpose: &str) -> RecordCheck {
    RecordCheck {
        kind,
        name: name.to_string(),
        expected: expected.to_string(),
        status: "Not found",
        current: Vec::new(),
        errors: Vec::new(),
        purpose: purpose.to_string(),
    }
}

/// A tag of a `k=v; k=v` record (DKIM, DMARC), whitespace removed from the value.
fn tag(record: &str, name: &str) -> Option<String> {
    record.split(';').find_map(|part| {
        let (k, v) = part.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(name)).then(|| v.split_whitespace().collect::<String>())
    })
}

/// A DKIM key record: OK when a TXT record there carries the same public key.
pub fn dkim(name: &str, expected: &str, purpose: &str, answer: &Answer) -> RecordCheck {
    let mut c = check("TXT", name, expected, purpose);
    c.current = answer.values.clone();
    if let Some(e) = &answer.error {
        c.status = "Error";
        c.errors.push(e.clone());
        return c;
    }
    let want = tag(expected, "p");
    let keys: Vec<&String> = answer
        .values
        .iter()
        .filter(|v| tag(v, "p").is_some())
        .collect();
    if keys.is_empty() {
        if !answer.values.is_empty() {
            c.status = "Error";
            c.errors.push(format!(
                "{name} has TXT records, none of them a DKIM key (p=…)"
            ));
        }
        return c;
    }
    if keys.iter().any(|v| tag(v, "p") == want) {
        c.status = "OK";
    } else {
        c.status = "Error";
        c.errors.push(format!(
            "{name} publishes another key than this domain's: replace its value with the expected one"
        ));
    }
    c
}

/// The SPF records among a name's TXT records.
fn spf_records(answer: &Answer) -> Vec<&String> {
    answer
        .values
        .iter()
        .filter(|v| {
            let l = v.trim_start().to_ascii_lowercase();
            l == "v=spf1" || l.starts_with("v=spf1 ")
        })
        .collect()
}

/// The mechanism of Facteur's SPF value that must appear (`include:spf.example.net`,
/// `a:mx.example.net`).
fn our_mechanism(expected: &str) -> Option<String> {
    expected
        .split_whitespace()
        .find(|t| {
            let t = t.to_ascii_lowercase();
            t.starts_with("include:") || t.starts_with("a:") || t.starts_with("ip4:")
        })
        .map(|t| t.to_ascii_lowercase())
}

/// One SPF record, read in order up to its `all` (what follows `all` is never evaluated).
#[derive(Debug, Default, PartialEq, Eq)]
struct SpfRead {
    /// Facteur's mechanism is there with a pass (`+` or no qualifier) before `all`.
    passes: bool,
    /// Facteur's mechanism is there but softfails, is neutral or fails (`~`, `?`, `-`).
    weak: bool,
    /// `include:` targets with a pass qualifier, then `redirect=` when there is no `all`.
    next: Vec<String>,
    /// DNS lookups the record costs (include, a, mx, ptr, exists, redirect: RFC 7208 4.6.4).
    lookups: usize,
}

fn read_spf(record: &str, mechanism: &str) -> SpfRead {
    let mut r = SpfRead::default();
    let mut redirect = None;
    let mut ended = false;
    for term in record.split_whitespace().skip(1) {
        let term = term.to_ascii_lowercase();
        if let Some(target) = term.strip_prefix("redirect=") {
            redirect = Some(target.trim_end_matches('.').to_string());
            continue;
        }
        if ended || term.contains('=') {
            continue;
        }
        let (qualifier, body) = match term.chars().next() {
            Some(q @ ('+' | '-' | '~' | '?')) => (q, &term[1..]),
            _ => ('+', term.as_str()),
        };
        let name = body.split(['/', ':']).next().unwrap_or("");
        if matches!(name, "include" | "a" | "mx" | "ptr" | "exists") {
            r.lookups += 1;
        }
        if body == "all" {
            ended = true;
            continue;
        }
        if body.trim_end_matches('.') == mechanism.trim_end_matches('.') {
            if qualifier == '+' {
                r.passes = true;
                return r;
            }
            r.weak = true;
        }
        if qualifier == '+'
            && let Some(target) = body.strip_prefix("include:")
        {
            r.next.push(target.trim_end_matches('.').to_string());
        }
    }
    if !ended && let Some(target) = redirect {
        r.lookups += 1;
        r.next.push(target);
    }
    r
}

/// The SPF check: OK when the domain's one SPF record authorises Facteur with a pass, itself
/// or through its includes (`lookup` answers the included names), within 10 lookups.
pub async fn spf<F, Fut>(
    domain: &str,
    expected: &str,
    answer: &Answer,
    mut lookup: F,
) -> RecordCheck
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Answer>,
{
    let mut c = check(
        "TXT",
        domain,
        expected,
        "SPF: the hosts that send this domain's mail",
    );
    if let Some(e) = &answer.error {
        c.status = "Error";
        c.errors.push(e.clone());
        return c;
    }
    let records = spf_records(answer);
    c.current = records.iter().map(|r| r.to_string()).collect();
    let Some(mechanism) = our_mechanism(expected) else {
        return c;
    };
    match records.as_slice() {
        [] => return c,
        [_, _, ..] => {
            c.status = "Error";
            c.errors.push(format!(
                "{domain} has {} SPF records: receivers treat that as an error (RFC 7208 3.2); merge them into one",
                records.len()
            ));
            return c;
        }
        [_] => {}
    }
    let mut pending = vec![records[0].to_string()];
    let (mut lookups, mut weak) = (0, false);
    while let Some(record) = pending.pop() {
        let read = read_spf(&record, &mechanism);
        lookups += read.lookups;
        if lookups > 10 {
            c.status = "Error";
            c.errors.push(
                "more than 10 SPF lookups (RFC 7208 4.6.4): receivers give up with a permanent error".into(),
            );
            return c;
        }
        if read.passes {
            c.status = "OK";
            return c;
        }
        weak |= read.weak;
        for target in read.next {
            let a = lookup(target.clone()).await;
            if let Some(e) = a.error.clone() {
                c.errors.push(e);
            }
            if let Some(r) = spf_records(&a).first() {
                c.current.push(format!("{target}: {r}"));
                pending.push(r.to_string());
            }
        }
    }
    c.status = "Error";
    c.errors.push(if weak {
        format!(
            "the SPF record of {domain} names {mechanism} with ~, ? or -: receivers then softfail or fail this server's mail; write it without a qualifier"
        )
    } else {
        format!(
            "the SPF record of {domain} does not authorise this server: add {mechanism} before its all"
        )
    });
    c
}

/// DMARC: OK when `_dmarc.<domain>` has a DMARC record (any policy).
pub fn dmarc(name: &str, expected: &str, answer: &Answer) -> RecordCheck {
    let mut c = check(
        "TXT",
        name,
        expected,
        "DMARC: start with p=none, move to quarantine once reports are clean",
    );
    if let Some(e) = &answer.error {
        c.status = "Error";
        c.errors.push(e.clone());
        return c;
    }
    let records: Vec<&String> = answer
        .values
        .iter()
        .filter(|v| v.trim_start().to_ascii_uppercase().starts_with("V=DMARC1"))
        .collect();
    c.current = records.iter().map(|r| r.to_string()).collect();
    match records.len() {
        0 => {}
        1 => c.status = "OK",
        n => {
            c.status = "Error";
            c.errors.push(format!(
                "{name} has {n} DMARC records: receivers ignore them all"
            ));
        }
    }
    c
}

/// The return path (bounce domain): OK when its MX is this server.
pub fn return_path(name: &str, host: &str, answer: &Answer) -> RecordCheck {
    let mut c = check(
        "MX",
        name,
        &format!("10 {host}."),
        "Return path: bounces and complaints come back to this server",
    );
    if let Some(e) = &answer.error {
        c.status = "Error";
        c.errors.push(e.clone());
        return c;
    }
    c.current = answer.values.clone();
    if answer.values.is_empty() {
        return c;
    }
    if answer
        .values
        .iter()
        .any(|v| v.eq_ignore_ascii_case(host.trim_end_matches('.')))
    {
        c.status = "OK";
    } else {
        c.status = "Error";
        c.errors.push(format!(
            "the MX of {name} is not {host}: bounces would go elsewhere"
        ));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txt(values: &[&str]) -> Answer {
        Answer {
            values: values.iter().map(|v| v.to_string()).collect(),
            ..Answer::default()
        }
    }

    #[test]
    fn dkim_records_are_compared_by_their_key() {
        let expected = "v=DKIM1; k=rsa; p=MIIBIjAN";
        assert_eq!(
            dkim(
                "s._domainkey.a.test",
                expected,
                "",
                &txt(&["v=DKIM1;k=rsa; p=MIIB IjAN"])
            )
            .status,
            "OK"
        );
        let wrong = dkim(
            "s._domainkey.a.test",
            expected,
            "",
            &txt(&["v=DKIM1; p=OTHER"]),
        );
        assert_eq!(wrong.status, "Error");
        assert!(wrong.errors[0].contains("another key"));
        assert_eq!(
            dkim("s._domainkey.a.test", expected, "", &txt(&[])).status,
            "Not found"
        );
        assert_eq!(
            dkim("s._domainkey.a.test", expected, "", &txt(&["hello"])).status,
            "Error"
        );
    }

    #[test]
    fn spf_terms_are_read_in_order_up_to_all() {
        let m = "include:spf.facteur.test";
        assert!(read_spf("v=spf1 mx include:spf.facteur.test -all", m).passes);
        assert!(read_spf("v=spf1 +include:spf.facteur.test -all", m).passes);
        // After all: never evaluated.
        assert!(!read_spf("v=spf1 -all include:spf.facteur.test", m).passes);
        let soft = read_spf("v=spf1 ~include:spf.facteur.test -all", m);
        assert!(!soft.passes && soft.weak);
        // A failing include is not followed; redirect only without all.
        assert!(
            read_spf("v=spf1 -include:other.test -all", m)
                .next
                .is_empty()
        );
        assert_eq!(
            read_spf("v=spf1 mx redirect=_spf.x.test", m).next,
            ["_spf.x.test"]
        );
        assert!(
            read_spf("v=spf1 -all redirect=_spf.x.test", m)
                .next
                .is_empty()
        );
        assert_eq!(
            read_spf(
                "v=spf1 a mx:x.test ip4:192.0.2.1 exists:%{i}.x.test ptr -all",
                m
            )
            .lookups,
            4
        );
    }

    #[tokio::test]
    async fn spf_follows_includes_and_counts_lookups() {
        let expected = "v=spf1 include:spf.facteur.test ~all";
        let none = |_: String| async { Answer::default() };
        let direct = spf(
            "a.test",
            expected,
            &txt(&["v=spf1 mx include:spf.facteur.test -all"]),
            none,
        )
        .await;
        assert_eq!(direct.status, "OK");
        let nested = spf(
            "a.test",
            expected,
            &txt(&["v=spf1 include:_spf.provider.test ~all"]),
            |name: String| async move {
                if name == "_spf.provider.test" {
                    txt(&["v=spf1 include:spf.facteur.test ~all"])
                } else {
                    Answer::default()
                }
            },
        )
        .await;
        assert_eq!(nested.status, "OK", "{nested:?}");
        assert_eq!(nested.current.len(), 2);
        let missing = spf("a.test", expected, &txt(&["v=spf1 mx -all"]), none).await;
        assert_eq!(missing.status, "Error");
        assert!(missing.errors[0].contains("include:spf.facteur.test"));
        let two = spf(
            "a.test",
            expected,
            &txt(&["v=spf1 -all", "v=spf1 mx -all"]),
            none,
        )
        .await;
        assert_eq!(two.status, "Error");
        assert_eq!(
            spf("a.test", expected, &txt(&["google-site=x"]), none)
                .await
                .status,
            "Not found"
        );
        // A loop of includes stops at 10 lookups.
        let looping = spf(
            "a.test",
            expected,
            &txt(&["v=spf1 include:loop.test ~all"]),
            |_| async { txt(&["v=spf1 include:loop.test ~all"]) },
        )
        .await;
        assert!(
            looping.errors.iter().any(|e| e.contains("10 SPF lookups")),
            "{looping:?}"
        );
    }

    #[test]
    fn dmarc_and_return_path() {
        assert_eq!(
            dmarc("_dmarc.a.test", "", &txt(&["v=DMARC1; p=none"])).status,
            "OK"
        );
        assert_eq!(dmarc("_dmarc.a.test", "", &txt(&[])).status, "Not found");
        let mx = Answer {
            values: vec!["mx.facteur.test".into()],
            ..Answer::default()
        };
        assert_eq!(
            return_path("bounces.a.test", "mx.facteur.test", &mx).status,
            "OK"
        );
        assert_eq!(
            return_path("bounces.a.test", "other.test", &mx).status,
            "Error"
        );
    }
}
