//! Renders per second of a realistic transactional template through the language alone:
//! a loop over 10 order lines and 3 conditions, HTML mode.
//! `cargo run --release -p facteur-template --example render_bench [RENDERS]`

use std::time::Instant;

use facteur_template::{Context, Mode, Template};

const TEMPLATE: &str = r#"<h1>Thank you {{ var:customer.first_name:"friend" }}!</h1>
<p>Order <b>#{{ var:order.id }}</b> placed on {{ var:order.date }}.</p>
{% if var:order.express %}<p class="express">Express delivery: arrives tomorrow.</p>{% else %}<p>Standard delivery: 3 to 5 days.</p>{% endif %}
<table>{% for line in var:order.lines %}
<tr><td>{{ line.name }}</td><td>{{ line.qty }}</td><td>{{ FormatNumberLocale(line.qty * line.price, "en", 2) }}</td>{% if line.qty > 1 %}<td>bulk</td>{% endif %}</tr>{% endfor %}
</table>
<p>Total: {{ FormatNumberLocale(var:order.total, "en", 2) }} {{ Upper(var:order.currency) }}</p>
{% if var:customer.vip and var:order.total > 100 %}<p>VIP bonus: {{ Round(var:order.total * 0.05, 2) }} points</p>{% endif %}"#;

fn main() {
    let renders: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let lines: Vec<_> = (0..10)
        .map(|i| serde_json::json!({"name": format!("Item <{i}>"), "qty": 1 + i % 3, "price": 9.99 + i as f64}))
        .collect();
    let vars = serde_json::json!({
        "customer": {"first_name": "Ada", "vip": true},
        "order": {"id": 1042, "date": "2026-11-22", "express": true, "lines": lines, "total": 321.5, "currency": "eur"}
    });
    let template = Template::parse(TEMPLATE).expect("template parses");
    let ctx = Context {
        vars: &vars,
        ..Context::default()
    };
    let mut bytes = 0;
    let start = Instant::now();
    for _ in 0..renders {
        bytes += template.render(&ctx, Mode::Html).expect("renders").len();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{renders} renders in {secs:.3} s: {:.0} renders/s ({} bytes each)",
        renders as f64 / secs,
        bytes / renders
    );
}

/// The facteur binary's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
