//! Shared partials: `<mj-include path="footer"/>` in a template's MJML includes another
//! template of the same account, found by name (a file path such as `./partials/footer.mjml`
//! also finds the template named `footer`, so documents written for node mjml keep working;
//! a number finds the template with that ID).
//!
//! A draft is compiled with each partial's current content (its draft, or its newest published
//! version); publishing compiles again with the partials' newest *published* versions, and the
//! version numbers used are recorded with the template's version (`template_includes`), so a
//! published template does not change when a partial is edited: it takes the new partial when
//! it is published again. A partial used by other templates cannot be deleted.

use std::collections::HashMap;

use facteur_template::include::{self, Kind, Partial};

use super::*;

/// Which version of each partial to compile with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    /// The partial's draft, or its newest published version.
    Current,
    /// The partial's newest published version (to publish).
    Published,
}

#[derive(Debug, Clone)]
struct Loaded {
    id: i64,
    number: i64,
    name: String,
    content: TemplateContent,
}

/// The partials a document needs, read from the store before compiling (compiling is
/// synchronous CPU work; the store is not).
#[derive(Debug, Clone, Default)]
pub(crate) struct Partials {
    found: HashMap<String, Loaded>,
    missing: HashMap<String, String>,
}

/// More partials than this in one document is refused (each costs a read).
const MAX_PARTIALS: usize = 50;

/// The template names a path may mean, in the order tried: as written, then the file name
/// without directories and `.mjml`/`.html`/`.css`.
fn names_for(path: &str) -> Vec<String> {
    let mut names = vec![path.trim().to_string()];
    let file = path.trim().rsplit(['/', '\\']).next().unwrap_or_default();
    let stem = [".mjml", ".html", ".css"]
        .iter()
        .find_map(|ext| file.strip_suffix(ext))
        .unwrap_or(file);
    if !stem.is_empty() && !names.iter().any(|n| n == stem) {
        names.push(stem.to_string());
    }
    names
}

impl Partials {
    /// Reads every partial `mjml` includes, and the partials they include, from the account's
    /// templates.
    pub(crate) async fn load(
        app: &Engine,
        account_id: i64,
        mjml: &str,
        which: Use,
    ) -> Result<Partials, ApiError> {
        Self::load_all(app, account_id, &[mjml], which).await
    }

    /// [`Partials::load`] for several documents (an import's versions) at once.
    pub(crate) async fn load_all(
        app: &Engine,
        account_id: i64,
        sources: &[&str],
        which: Use,
    ) -> Result<Partials, ApiError> {
        let mut partials = Partials::default();
        let mut queue: Vec<(String, Kind)> = sources
            .iter()
            .filter(|s| s.contains("<mj-include"))
            .flat_map(|s| include::requests(s))
            .map(|r| (r.path, r.kind))
            .collect();
        while let Some((path, kind)) = queue.pop() {
            if partials.found.contains_key(&path) || partials.missing.contains_key(&path) {
                continue;
            }
            if partials.found.len() >= MAX_PARTIALS {
                partials.missing.insert(
                    path,
                    format!("more than {MAX_PARTIALS} partials in one template"),
                );
                continue;
            }
            match Self::find(app, account_id, &path, which).await? {
                Ok(loaded) => {
                    if kind == Kind::Mjml {
                        queue.extend(
                            include::requests(&loaded.content.mjml)
                                .into_iter()
                                .map(|r| (r.path, r.kind)),
                        );
                    }
                    partials.found.insert(path, loaded);
                }
                Err(why) => {
                    partials.missing.insert(path, why);
                }
            }
        }
        Ok(partials)
    }

    /// One partial, or why there is none.
    async fn find(
        app: &Engine,
        account_id: i64,
        path: &str,
        which: Use,
    ) -> Result<Result<Loaded, String>, ApiError> {
        let mut id = None;
        for name in names_for(path) {
            match app.store.template_id_by_name(account_id, &name).await {
                Ok(found) => {
                    id = Some(found);
                    break;
                }
                Err(facteur_store::Error::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let missing = || {
            Ok(Err(
                "no template of this account has that name (a partial is a template: create it, then include it by its name)".into(),
            ))
        };
        // No template of that name: a number is a template ID.
        let Some(id) = id.or_else(|| path.trim().parse::<i64>().ok()) else {
            return missing();
        };
        let t = match app.store.template(account_id, id).await {
            Ok(t) => t,
            Err(facteur_store::Error::NotFound) => return missing(),
            Err(e) => return Err(e.into()),
        };
        let number = match which {
            Use::Published => match t.published {
                Some(n) => n,
                None => {
                    return Ok(Err(format!(
                        "the partial {:?} has no published version yet: publish it first",
                        t.meta.name
                    )));
                }
            },
            Use::Current => match t.draft.or(t.published) {
                Some(n) => n,
                None => return Ok(Err(format!("the partial {:?} is empty", t.meta.name))),
            },
        };
        let content = app.store.version_content(id, number).await?;
        Ok(Ok(Loaded {
            id,
            number,
            name: t.meta.name,
            content,
        }))
    }

    /// Compiles `source` with `options`, its `<mj-include>`s resolved from these partials.
    pub(crate) fn compile(
        &self,
        source: &str,
        options: mjml::Options<'_>,
    ) -> Result<mjml::Compiled, mjml::MjmlError> {
        let resolve = |path: &str, kind: Kind, _: Option<&str>| self.resolve(path, kind);
        mjml::compile(
            source,
            &mjml::Options {
                resolve: Some(&resolve),
                ..options
            },
        )
    }

    /// The partial an include names, as loaded.
    fn resolve(&self, path: &str, kind: Kind) -> Result<Partial, String> {
        if let Some(why) = self.missing.get(path) {
            return Err(why.clone());
        }
        let Some(p) = self.found.get(path) else {
            return Err("not found".into());
        };
        let content = match kind {
            Kind::Mjml if !p.content.mjml.trim().is_empty() => p.content.mjml.clone(),
            // An HTML template included as MJML is raw HTML in place.
            Kind::Mjml => format!("<mj-raw>{}</mj-raw>", p.content.html),
            // A style sheet is kept in the partial's HTML part.
            Kind::Html | Kind::Css { .. } => p.content.html.clone(),
        };
        Ok(Partial {
            name: p.name.clone(),
            content,
        })
    }

    /// `(partial id, version number)` of each partial named in `used` (as compilation reports
    /// them), to record with the template's version.
    pub(super) fn pins(&self, used: &[String]) -> Vec<(i64, i64)> {
        let mut pins: Vec<(i64, i64)> = self
            .found
            .values()
            .filter(|p| used.contains(&p.name))
            .map(|p| (p.id, p.number))
            .collect();
        pins.sort_unstable();
        pins.dedup();
        pins
    }
}

/// `GET /v3/REST/template/{id}/partials`: the partials the template's newest version uses
/// (with the version of each it was compiled with) and the templates that use it.
pub(crate) async fn partials(
    State(app): State<Arc<Engine>>,
    ApiAccount(account): ApiAccount,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let t = app.store.template(account.id, id).await?;
    let uses = match t.draft.max(t.published) {
        Some(number) => app.store.template_includes(id, number).await?,
        None => Vec::new(),
    };
    let used_by = app.store.partial_users(account.id, id).await?;
    let row = |u: &facteur_store::templates::PartialUse| json!({"ID": u.id, "Name": u.name, "PartialVersion": u.number});
    Ok(Json(json!({
        "Uses": uses.iter().map(row).collect::<Vec<_>>(),
        "UsedBy": used_by.iter().map(row).collect::<Vec<_>>(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_path_also_means_its_file_name() {
        assert_eq!(names_for("footer"), vec!["footer"]);
        assert_eq!(
            names_for("./partials/footer.mjml"),
            vec!["./partials/footer.mjml", "footer"]
        );
        assert_eq!(names_for("brand.css"), vec!["brand.css", "brand"]);
    }
}
