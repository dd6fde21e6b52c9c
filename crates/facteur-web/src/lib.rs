//! The web app's files, and nothing else: the page templates (minijinja, rendered by
//! `facteur-http`) and the static assets (ES modules, CSS, the vendored Preact and htm with
//! their licences). Every build embeds them in the binary (rust-embed with `debug-embed`), so
//! `facteur serve` needs no Node and no files beside it, and a binary never reads the folder it
//! was built from; `build.rs` makes an edited, added or removed file rebuild this small crate.

use std::borrow::Cow;

#[derive(rust_embed::RustEmbed)]
#[folder = "assets/"]
struct Assets;

#[derive(rust_embed::RustEmbed)]
#[folder = "templates/"]
struct Pages;

/// A static file of the app.
pub struct Asset {
    pub bytes: Cow<'static, [u8]>,
    pub content_type: &'static str,
    /// A strong validator: the SHA-256 of the content, quoted.
    pub etag: String,
}

/// The asset at `path` (relative to `assets/`, e.g. `app.css`, `vendor/preact.module.js`).
pub fn asset(path: &str) -> Option<Asset> {
    let file = Assets::get(path)?;
    let hash = file.metadata.sha256_hash();
    let mut etag = String::with_capacity(2 + 32);
    etag.push('"');
    for b in &hash[..16] {
        etag.push_str(&format!("{b:02x}"));
    }
    etag.push('"');
    Some(Asset {
        bytes: file.data,
        content_type: content_type(path),
        etag,
    })
}

/// Every asset's path.
pub fn asset_paths() -> impl Iterator<Item = Cow<'static, str>> {
    Assets::iter()
}

/// The source of the page template `name` (e.g. `sign_in.html`).
pub fn page(name: &str) -> Option<String> {
    let file = Pages::get(name)?;
    String::from_utf8(file.data.into_owned()).ok()
}

/// Every page template's name.
pub fn page_names() -> impl Iterator<Item = Cow<'static, str>> {
    Pages::iter()
}

/// The media type of an asset, by its extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("html") => "text/html; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_and_pages_are_found_with_their_types() {
        let preact = asset("vendor/preact.module.js").expect("vendored preact");
        assert_eq!(preact.content_type, "text/javascript; charset=utf-8");
        assert_eq!(preact.etag.len(), 34);
        assert!(asset("vendor/LICENSE-preact").is_some(), "licence kept");
        assert!(asset("../Cargo.toml").is_none());
        assert!(asset("nope.js").is_none());
        assert!(page("layout.html").is_some_and(|p| p.contains("<!doctype html>")));
        assert!(page_names().count() >= 5);
    }

    /// The vendored modules import nothing by a bare name (there is no import map: the CSP
    /// allows no inline script).
    #[test]
    fn modules_import_by_relative_path_only() {
        for path in asset_paths().filter(|p| p.ends_with(".js")) {
            let text = String::from_utf8(asset(&path).unwrap().bytes.into_owned()).unwrap();
            for (i, _) in text.match_indices("import") {
                // `import … from "X"` / `import{…}from"X"`, up to the statement's end.
                let statement = &text[i..];
                let statement =
                    &statement[..statement.find([';', '\n']).unwrap_or(statement.len())];
                let Some(at) = statement.find("from") else {
                    continue;
                };
                let spec = statement[at + 4..].trim_start();
                let Some(spec) = spec.strip_prefix(['"', '\'']) else {
                    continue;
                };
                assert!(
                    spec.starts_with("./") || spec.starts_with("../") || spec.starts_with('/'),
                    "{path} imports a bare name: {}",
                    &spec[..spec.len().min(40)]
                );
            }
        }
    }
}
