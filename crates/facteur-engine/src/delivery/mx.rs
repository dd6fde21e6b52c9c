//! Where to deliver a domain's mail: MX records in preference order, the implicit MX (the
//! domain's own A/AAAA) when there are none, null MX (RFC 7505) as a permanent refusal.
//! Behind an enum so tests use a static map; the system resolver caches answers by TTL.

use std::collections::HashMap;
use std::net::IpAddr;

use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::RData;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Hosts to try, best first.
    Hosts(Vec<String>),
    /// The domain publishes a null MX: it accepts no mail (bounce, 5.1.10).
    NullMx,
    /// The domain does not exist (bounce, 5.1.2).
    NoSuchDomain,
}

pub enum Resolver {
    System(Box<TokioResolver>),
    /// Fixed answers: domain → route, host → addresses. Unknown names do not exist.
    Static {
        routes: HashMap<String, Route>,
        hosts: HashMap<String, Vec<IpAddr>>,
    },
}

impl Resolver {
    pub fn system() -> Result<Resolver, String> {
        let builder = TokioResolver::builder_tokio()
            .map_err(|e| format!("cannot read the system DNS configuration: {e}"))?;
        Ok(Resolver::System(Box::new(builder.build().map_err(
            |e| format!("cannot build the DNS resolver: {e}"),
        )?)))
    }

    /// The route for a domain; `Err` is a temporary failure (retry later).
    pub async fn route(&self, domain: &str) -> Result<Route, String> {
        if let Some(literal) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
            let ip = literal.strip_prefix("IPv6:").unwrap_or(literal);
            return Ok(Route::Hosts(vec![ip.to_string()]));
        }
        match self {
            Resolver::Static { routes, .. } => {
                Ok(routes.get(domain).cloned().unwrap_or(Route::NoSuchDomain))
            }
            Resolver::System(r) => {
                let fqdn = format!("{}.", domain.trim_end_matches('.'));
                match r.mx_lookup(fqdn.as_str()).await {
                    Ok(lookup) => {
                        let mut mx: Vec<(u16, String)> = lookup
                            .answers()
                            .iter()
                            .filter_map(|rec| match &rec.data {
                                RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
                                _ => None,
                            })
                            .collect();
                        if mx.len() == 1 && (mx[0].1 == "." || mx[0].1.is_empty()) {
                            return Ok(Route::NullMx);
                        }
                        mx.sort();
                        let hosts: Vec<String> = mx
                            .into_iter()
                            .map(|(_, h)| h.trim_end_matches('.').to_string())
                            .filter(|h| !h.is_empty())
                            .collect();
                        if hosts.is_empty() {
                            return Ok(Route::Hosts(vec![domain.to_string()]));
                        }
                        Ok(Route::Hosts(hosts))
                    }
                    Err(e) if e.is_nx_domain() => Ok(Route::NoSuchDomain),
                    // No MX records: the domain itself is the implicit MX (RFC 5321 5.1).
                    Err(e) if e.is_no_records_found() => Ok(Route::Hosts(vec![domain.to_string()])),
                    Err(e) => Err(format!("MX lookup for {domain} failed: {e}")),
                }
            }
        }
    }

    /// Addresses of a host; `Err` is a temporary failure.
    pub async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        match self {
            Resolver::Static { hosts, .. } => hosts
                .get(host)
                .cloned()
                .ok_or_else(|| format!("host {host} not found")),
            Resolver::System(r) => {
                let fqdn = format!("{}.", host.trim_end_matches('.'));
                let ips: Vec<IpAddr> = r
                    .lookup_ip(fqdn.as_str())
                    .await
                    .map_err(|e| format!("address lookup for {host} failed: {e}"))?
                    .iter()
                    .collect();
                if ips.is_empty() {
                    return Err(format!("host {host} has no address"));
                }
                Ok(ips)
            }
        }
    }
}
