//! The text part generated from the HTML part, when a template has none and text-part
//! generation is enabled (html2text; layout tables are read as plain flow, not drawn).

/// Plain text for an HTML email, wrapped at 78 columns; links keep their URLs.
pub fn html_to_text(html: &str) -> String {
    let text = html2text::config::plain()
        .raw_mode(true)
        .no_table_borders()
        .string_from_read(html.as_bytes(), 78)
        .unwrap_or_default();
    // Collapse the blank lines left by layout tables and hidden preheaders.
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines().map(str::trim_end) {
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 || out.is_empty() {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim_end().to_string() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_a_starter() {
        let s = crate::starters::ALL
            .iter()
            .find(|s| s.slug == "newsletter")
            .unwrap();
        let html = crate::mjml::to_html(s.mjml).unwrap().html;
        let vars = serde_json::json!({"issue": {"title": "Spring update", "url": "https://x.test/n"}, "articles": [{"title": "Scheduled sends", "summary": "Pick the minute.", "url": "https://x.test/a", "image": "https://x.test/i.png"}]});
        let data = serde_json::json!({"firstname": "Camille"});
        let rendered = crate::render(
            &html,
            &crate::Context {
                vars: &vars,
                data: &data,
                ..crate::Context::default()
            },
            crate::Mode::Html,
        )
        .unwrap();
        let text = html_to_text(&rendered);
        assert!(
            text.contains("Spring update")
                && text.contains("Hello Camille,")
                && text.contains("Scheduled sends")
        );
        assert!(text.contains("https://x.test/a"), "links keep their URLs");
        assert!(!text.contains('<') && !text.contains("\n\n\n"));
        assert!(text.lines().all(|l| l.chars().count() <= 78));
    }
}
