//! Counters kept in the process state (no global recorder, so two nodes can share a process)
//! and rendered in the Prometheus text format at `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($name:ident: $help:literal),* $(,)?) => {
        #[derive(Default)]
        pub struct Metrics { $(pub $name: AtomicU64,)* }

        impl Metrics {
            pub fn render(&self, out: &mut String) {
                $(
                    let _ = writeln!(out, "# HELP facteur_{} {}", stringify!($name), $help);
                    let _ = writeln!(out, "# TYPE facteur_{} counter", stringify!($name));
                    let _ = writeln!(out, "facteur_{} {}", stringify!($name), self.$name.load(Ordering::Relaxed));
                )*
            }
        }
    };
}

counters! {
    smtp_connections_total: "SMTP connections accepted",
    http_connections_total: "HTTP connections accepted",
    connections_refused_total: "Connections refused by max_connections_per_ip or max_connections (SMTP and HTTP)",
    accept_errors_total: "Failed accept() calls (e.g. out of file descriptors)",
    http_timeouts_total: "HTTP requests or connections ended by a header, body or idle timeout",
    store_failures_total: "Store reads or writes that failed (disk full, database unreachable)",
    messages_accepted_total: "Messages durably spooled (250 sent)",
    messages_spool_failures_total: "Messages refused because the spool failed (451 sent)",
    auth_successes_total: "Successful SMTP AUTH",
    auth_throttled_total: "Authentications refused because the address failed too often",
    auth_failures_total: "Failed authentications (SMTP AUTH and HTTP Basic)",
    deliveries_sent_total: "Recipients delivered (2xx from the next hop)",
    deliveries_deferred_total: "Recipient attempts deferred (4xx, connection failures)",
    deliveries_bounced_total: "Recipients bounced (5xx)",
    deliveries_expired_total: "Recipients expired (queue lifetime exceeded)",
    dsn_generated_total: "Delivery status notifications generated",
    opens_total: "Opens recorded (the tracking pixel loaded; people and machines)",
    clicks_total: "Clicks recorded (tracked links followed; people and machines)",
    unsubscribes_total: "Unsubscriptions recorded (the hosted page's button or RFC 8058 one-click)",
    tracking_write_failures_total: "Opens and clicks that could not be recorded (the redirect still went)",
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A counter kept elsewhere (e.g. by the store), read at scrape time.
pub fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(out, "# HELP facteur_{name} {help}");
    let _ = writeln!(out, "# TYPE facteur_{name} counter");
    let _ = writeln!(out, "facteur_{name} {value}");
}

/// A gauge line, for values read at scrape time.
pub fn gauge(out: &mut String, name: &str, help: &str, value: i64) {
    let _ = writeln!(out, "# HELP facteur_{name} {help}");
    let _ = writeln!(out, "# TYPE facteur_{name} gauge");
    let _ = writeln!(out, "facteur_{name} {value}");
}
