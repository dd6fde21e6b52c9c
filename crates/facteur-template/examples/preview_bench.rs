//! What the editor waits for: previewing a ~100 KB MJML template with its test values (MJML →
//! HTML at the default validation level, then the templating language rendered on the HTML),
//! timed one preview at a time. The template is made of the newsletters corpus's sections with
//! variables, a loop and conditions, grown until it reaches 100 KB.
//! `cargo run --release -p facteur-template --example preview_bench [PREVIEWS]`
//! Prints `BYTES PREVIEWS P50_MS P95_MS MAX_MS`.

use std::time::Instant;

use facteur_template::{Context, Mode, Template, mjml};

/// One block of the template: a hero line with a variable, a loop over articles and a
/// condition, as the editor's users write them.
const BLOCK: &str = r##"
    <mj-section background-color="#ffffff" padding="20px 0">
      <mj-column width="60%">
        <mj-text font-size="20px" font-weight="700" color="#1b2a49">Hello {{ var:first_name:"there" }}, this week at {{ var:shop }}</mj-text>
        <mj-text font-size="14px" line-height="22px" color="#33415c">Our editors picked these for you: new arrivals, restocked favourites and the last sizes of the season. Prices include tax; delivery is free above {{ var:free_shipping }} euros.</mj-text>
      </mj-column>
      <mj-column width="40%">
        <mj-image src="https://example.com/img/hero.jpg" alt="Spring collection" href="https://example.com/shop?utm_source=news" border-radius="6px" />
        <mj-button href="https://example.com/shop/new" background-color="#0b3d91" color="#ffffff" border-radius="4px" inner-padding="12px 24px">Shop the edit</mj-button>
      </mj-column>
    </mj-section>
    <mj-raw>{% for a in var:articles %}</mj-raw>
    <mj-section padding="10px 0">
      <mj-column width="33%"><mj-image src="{{ a.image }}" alt="{{ a.title }}" href="{{ a.url }}" /></mj-column>
      <mj-column width="67%">
        <mj-text font-size="16px" font-weight="700">{{ a.title }}</mj-text>
        <mj-text font-size="13px" color="#555555">{{ a.summary }}</mj-text>
        <mj-raw>{% if a.price > 50 %}</mj-raw><mj-text color="#c0392b">Free delivery on this one</mj-text><mj-raw>{% endif %}</mj-raw>
      </mj-column>
    </mj-section>
    <mj-raw>{% endfor %}</mj-raw>
    <mj-section background-color="#f1f4fa">
      <mj-column><mj-divider border-color="#d0d7e6" border-width="1px" /><mj-social mode="horizontal" icon-size="24px"><mj-social-element name="facebook" href="https://example.com/fb" /><mj-social-element name="instagram" href="https://example.com/ig" /><mj-social-element name="linkedin" href="https://example.com/in" /></mj-social></mj-column>
    </mj-section>"##;

fn main() {
    let previews: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);
    let mut body = String::new();
    while body.len() < 100 * 1024 - 600 {
        body.push_str(BLOCK);
    }
    let source = format!(
        "<mjml>\n  <mj-head>\n    <mj-title>{{{{ var:shop }}}} news</mj-title>\n    <mj-preview>This week at {{{{ var:shop }}}}</mj-preview>\n    <mj-attributes><mj-all font-family=\"Helvetica, Arial, sans-serif\" /><mj-text padding=\"6px 20px\" /></mj-attributes>\n  </mj-head>\n  <mj-body background-color=\"#eef1f6\">{body}\n  </mj-body>\n</mjml>\n"
    );
    let articles: Vec<_> = (0..6)
        .map(|i| {
            serde_json::json!({
                "title": format!("Article {i}: linen & cotton"),
                "summary": "A short summary of the article, two lines long in most clients.",
                "url": format!("https://example.com/a/{i}"),
                "image": format!("https://example.com/img/{i}.jpg"),
                "price": 20 + i * 15,
            })
        })
        .collect();
    let vars = serde_json::json!({"first_name": "Ada", "shop": "Maison Lin", "free_shipping": 60, "articles": articles});
    let preview = || {
        let html = mjml::to_html(&source).expect("compiles").html;
        let template = Template::parse(&html).expect("parses");
        let ctx = Context {
            vars: &vars,
            ..Context::default()
        };
        template.render(&ctx, Mode::Html).expect("renders")
    };
    for _ in 0..5 {
        std::hint::black_box(preview());
    }
    let mut times: Vec<f64> = (0..previews)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(preview());
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
    println!(
        "{} {previews} {:.2} {:.2} {:.2}",
        source.len(),
        at(0.50),
        at(0.95),
        times[times.len() - 1]
    );
}

/// The facteur binary's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
