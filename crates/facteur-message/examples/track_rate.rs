//! How fast one recipient's HTML is rewritten for tracking: a 20 KB newsletter with 15 links,
//! rewritten for recipient after recipient (each with its own signed open and click tokens) for
//! a second on one core; prints the rate. Issue 12's target: 20,000 messages/s.

use std::time::{Duration, Instant};

use facteur_message::tracking::{Rewrite, Tokens, rewrite_html};

fn newsletter() -> String {
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>News</title>\
         <style>td{font-family:Arial,sans-serif}</style></head><body><table width=\"600\">",
    );
    let mut link = 0;
    while html.len() < 20_000 {
        html.push_str(
            "<tr><td style=\"padding:12px;color:#333\"><h2>A story worth reading</h2><p>",
        );
        html.push_str(&"Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(12));
        if link < 15 {
            html.push_str(&format!(
                "</p><a href=\"https://shop.example.com/articles/{link}?utm_source=news&amp;utm_medium=email\" style=\"color:#06c\">Read more</a>"
            ));
            link += 1;
        } else {
            html.push_str("</p>");
        }
        html.push_str("</td></tr>");
    }
    html.push_str(
        "<tr><td><a href=\"mailto:help@example.com\">Help</a></td></tr></table></body></html>",
    );
    html
}

fn main() {
    let html = newsletter();
    let tokens = Tokens::new(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"bench key"));
    let start = Instant::now();
    let (mut done, mut bytes) = (0u64, 0usize);
    while start.elapsed() < Duration::from_secs(1) {
        for _ in 0..100 {
            let recipient = 1_000_000 + done as i64;
            let pixel = format!(
                "https://t.example.com/o/{}",
                tokens.open(recipient, 1_800_000_000)
            );
            let click = |n: u16, url: &str| {
                format!(
                    "https://t.example.com/c/{}",
                    tokens.click(recipient, 1_800_000_000, n, url)
                )
            };
            let out = rewrite_html(
                &html,
                &Rewrite {
                    pixel: Some(&pixel),
                    click: Some(&click),
                    unsub: None,
                },
            )
            .expect("rewrites");
            bytes += out.len();
            done += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{:.0} messages/s ({} rewrites of a {} byte part with 15 links, {:.1} MB out, in {:.2} s, one core)",
        done as f64 / secs,
        done,
        html.len(),
        bytes as f64 / 1e6,
        secs
    );
}
