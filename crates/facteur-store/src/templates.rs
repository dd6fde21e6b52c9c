//! Templates and their versions, per account. A template has metadata (Mailjet's fields) and
//! numbered versions: at most one `draft` (the one being edited) and any number of
//! `published` versions, which never change. Publishing turns the draft into the next
//! published version; restoring copies any version into the draft.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Error, Result, Store};

/// Mailjet's template metadata. Lists are JSON arrays of strings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TemplateMeta {
    pub name: String,
    pub author: String,
    pub categories: Vec<String>,
    pub copyright: String,
    pub description: String,
    /// 1 drag and drop, 2 HTML, 3 saved section, 4 MJML.
    pub edit_mode: i64,
    pub is_starred: bool,
    pub text_part_generation: bool,
    pub locale: String,
    pub purposes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TemplateRecord {
    pub id: i64,
    pub account_id: i64,
    pub meta: TemplateMeta,
    /// Preview values saved with the template (Normal or Expert mode), reused by test sends.
    pub test_values: Value,
    pub created_at: i64,
    pub updated_at: i64,
    /// Newest published version number, if any.
    pub published: Option<i64>,
    /// The draft's version number, if there is one.
    pub draft: Option<i64>,
}

/// What a version holds: Mailjet's detailcontent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TemplateContent {
    pub html: String,
    pub text: String,
    pub mjml: String,
    /// Default headers: `{"From": …, "Subject": …, "Reply-To": …}`.
    pub headers: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VersionInfo {
    pub number: i64,
    /// `draft` or `published`.
    pub status: String,
    pub note: String,
    pub created_at: i64,
    pub content: TemplateContent,
}

/// Listing filters (Mailjet's GET /template parameters).
#[derive(Debug, Clone, Default)]
pub struct TemplateFilter {
    /// Name contains this (case-insensitive).
    pub name: Option<String>,
    pub edit_mode: Option<i64>,
    /// Keeps templates having any of these categories.
    pub categories_any: Vec<String>,
    pub starred_only: bool,
    /// `name`, `-name`, `updated`, `-updated` (default: `-updated`, newest first).
    pub sort: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

impl TemplateMeta {
    /// Whether the template is for marketing mail (its purposes say so): such mail needs an
    /// unsubscribe link.
    pub fn is_marketing(&self) -> bool {
        self.purposes
            .iter()
            .any(|p| p.eq_ignore_ascii_case("marketing"))
    }
}

fn list_json(items: &[String]) -> String {
    Value::from(items.to_vec()).to_string()
}

fn list_from(text: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(text).unwrap_or_default()
}

const TEMPLATE_COLUMNS: &str = "t.id, t.account_id, t.name, t.author, t.categories, t.copyright, t.description, t.edit_mode, \
     t.is_starred, t.text_part_generation, t.locale, t.purposes, t.test_values, t.created_at, t.updated_at, \
     (SELECT MAX(number) FROM template_versions v WHERE v.template_id = t.id AND v.status = 'published') AS published, \
     (SELECT MAX(number) FROM template_versions v WHERE v.template_id = t.id AND v.status = 'draft') AS draft";

fn template_from_row(r: &AnyRow) -> Result<TemplateRecord> {
    Ok(TemplateRecord {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        meta: TemplateMeta {
            name: r.try_get("name")?,
            author: r.try_get("author")?,
            categories: list_from(&r.try_get::<String, _>("categories")?),
            copyright: r.try_get("copyright")?,
            description: r.try_get("description")?,
            edit_mode: r.try_get("edit_mode")?,
            is_starred: r.try_get::<i64, _>("is_starred")? != 0,
            text_part_generation: r.try_get::<i64, _>("text_part_generation")? != 0,
            locale: r.try_get("locale")?,
            purposes: list_from(&r.try_get::<String, _>("purposes")?),
        },
        test_values: serde_json::from_str(&r.try_get::<String, _>("test_values")?)
            .unwrap_or(Value::Null),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        published: r.try_get("published")?,
        draft: r.try_get("draft")?,
    })
}

fn version_from_row(r: &AnyRow) -> Result<VersionInfo> {
    Ok(VersionInfo {
        number: r.try_get("number")?,
        status: r.try_get("status")?,
        note: r.try_get("note")?,
        created_at: r.try_get("created_at")?,
        content: TemplateContent {
            html: r.try_get("html")?,
            text: r.try_get("text")?,
            mjml: r.try_get("mjml")?,
            headers: serde_json::from_str(&r.try_get::<String, _>("headers")?)
                .unwrap_or(Value::Null),
        },
    })
}

/// Binds the ten metadata columns, in the order both INSERT and UPDATE list them.
fn bind_meta<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    meta: &'q TemplateMeta,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    q.bind(&meta.name)
        .bind(&meta.author)
        .bind(list_json(&meta.categories))
        .bind(&meta.copyright)
        .bind(&meta.description)
        .bind(meta.edit_mode)
        .bind(i64::from(meta.is_starred))
        .bind(i64::from(meta.text_part_generation))
        .bind(&meta.locale)
        .bind(list_json(&meta.purposes))
}

impl Store {
    pub async fn create_template(
        &self,
        account_id: i64,
        meta: &TemplateMeta,
        now: i64,
    ) -> Result<TemplateRecord> {
        if meta.name.trim().is_empty() {
            return Err(Error::Invalid("Name is required".into()));
        }
        let id = self.ids.next(now);
        let q = sqlx::query(
            "INSERT INTO templates (id, account_id, name, author, categories, copyright, description, edit_mode, is_starred, \
             text_part_generation, locale, purposes, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(id)
        .bind(account_id);
        bind_meta(q, meta)
            .bind(now)
            .bind(now)
            .execute(&self.pool)
            .await?;
        self.template(account_id, id).await
    }

    /// One template of this account.
    pub async fn template(&self, account_id: i64, id: i64) -> Result<TemplateRecord> {
        let sql = format!(
            "SELECT {TEMPLATE_COLUMNS} FROM templates t WHERE t.id = $1 AND t.account_id = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::NotFound)?;
        template_from_row(&row)
    }

    pub async fn list_templates(
        &self,
        account_id: i64,
        filter: &TemplateFilter,
    ) -> Result<(Vec<TemplateRecord>, i64)> {
        let order = match filter.sort.as_deref() {
            Some("name") => "LOWER(t.name), t.id",
            Some("-name") => "LOWER(t.name) DESC, t.id",
            Some("updated") => "t.updated_at, t.id",
            _ => "t.updated_at DESC, t.id DESC",
        };
        let sql = format!(
            "SELECT {TEMPLATE_COLUMNS} FROM templates t WHERE t.account_id = $1 \
             AND ($2 = '' OR LOWER(t.name) LIKE $3 ESCAPE '\\') AND ($4 < 0 OR t.edit_mode = $4) AND ($5 = 0 OR t.is_starred = 1) ORDER BY {order}"
        );
        let name = filter.name.clone().unwrap_or_default();
        let pattern = crate::like_contains(&name);
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(&name)
            .bind(pattern)
            .bind(filter.edit_mode.unwrap_or(-1))
            .bind(i64::from(filter.starred_only))
            .fetch_all(&self.pool)
            .await?;
        let mut all = rows
            .iter()
            .map(template_from_row)
            .collect::<Result<Vec<_>>>()?;
        if !filter.categories_any.is_empty() {
            all.retain(|t| {
                t.meta.categories.iter().any(|c| {
                    filter
                        .categories_any
                        .iter()
                        .any(|f| f.eq_ignore_ascii_case(c))
                })
            });
        }
        let total = all.len() as i64;
        let limit = if filter.limit <= 0 {
            10
        } else {
            filter.limit.min(1000)
        };
        let page = all
            .into_iter()
            .skip(filter.offset.max(0) as usize)
            .take(limit as usize)
            .collect();
        Ok((page, total))
    }

    pub async fn update_template_meta(
        &self,
        account_id: i64,
        id: i64,
        meta: &TemplateMeta,
        now: i64,
    ) -> Result<TemplateRecord> {
        let q = sqlx::query(
            "UPDATE templates SET name = $1, author = $2, categories = $3, copyright = $4, description = $5, edit_mode = $6, \
             is_starred = $7, text_part_generation = $8, locale = $9, purposes = $10, updated_at = $11 WHERE id = $12 AND account_id = $13",
        );
        let done = bind_meta(q, meta)
            .bind(now)
            .bind(id)
            .bind(account_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if done == 0 {
            return Err(Error::NotFound);
        }
        self.template(account_id, id).await
    }

    /// Saves the preview test values (Normal mode: a flat object; Expert mode: a Send API
    /// message shape).
    pub async fn set_template_test_values(
        &self,
        account_id: i64,
        id: i64,
        values: &Value,
        now: i64,
    ) -> Result<()> {
        let done = sqlx::query("UPDATE templates SET test_values = $1, updated_at = $2 WHERE id = $3 AND account_id = $4")
            .bind(values.to_string())
            .bind(now)
            .bind(id)
            .bind(account_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if done == 0 {
            Err(Error::NotFound)
        } else {
            Ok(())
        }
    }

    pub async fn delete_template(&self, account_id: i64, id: i64) -> Result<()> {
        let mut tx = crate::tx::Tx::begin(&self.pool, self.backend).await?;
        let owned = sqlx::query("SELECT id FROM templates WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .fetch_optional(&mut *tx)
            .await?;
        if owned.is_none() {
            return Err(Error::NotFound);
        }
        // Checked in the deleting transaction: an include saved meanwhile is seen.
        let users = usage(&mut tx, account_id, Some(id))
            .await?
            .remove(&id)
            .unwrap_or_default();
        if !users.is_empty() {
            let names: Vec<String> = users.iter().map(|u| format!("{:?}", u.name)).collect();
            return Err(Error::Conflict(format!(
                "this template is a partial used by {}: remove their mj-include first",
                names.join(", ")
            )));
        }
        sqlx::query("DELETE FROM template_includes WHERE template_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM template_versions WHERE template_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM templates WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes the draft (creating it as the next version number if there is none).
    pub async fn save_template_draft(
        &self,
        account_id: i64,
        id: i64,
        content: &TemplateContent,
        now: i64,
    ) -> Result<i64> {
        let template = self.template(account_id, id).await?;
        let mut tx = crate::tx::Tx::begin(&self.pool, self.backend).await?;
        let number = match template.draft {
            Some(n) => {
                sqlx::query(
                    "UPDATE template_versions SET html = $1, text = $2, mjml = $3, headers = $4, created_at = $5 \
                     WHERE template_id = $6 AND number = $7",
                )
                .bind(&content.html)
                .bind(&content.text)
                .bind(&content.mjml)
                .bind(content.headers.to_string())
                .bind(now)
                .bind(id)
                .bind(n)
                .execute(&mut *tx)
                .await?;
                n
            }
            None => {
                let n = template.published.unwrap_or(0) + 1;
                sqlx::query(
                    "INSERT INTO template_versions (id, template_id, number, status, html, text, mjml, headers, created_at) \
                     VALUES ($1, $2, $3, 'draft', $4, $5, $6, $7, $8)",
                )
                .bind(self.ids.next(now))
                .bind(id)
                .bind(n)
                .bind(&content.html)
                .bind(&content.text)
                .bind(&content.mjml)
                .bind(content.headers.to_string())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                n
            }
        };
        sqlx::query("UPDATE templates SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(number)
    }

    /// Publishes the draft: it becomes the newest published version. Returns its number.
    pub async fn publish_template(
        &self,
        account_id: i64,
        id: i64,
        note: &str,
        now: i64,
    ) -> Result<i64> {
        let template = self.template(account_id, id).await?;
        let Some(number) = template.draft else {
            return Err(Error::Invalid(
                "nothing to publish: the template has no draft".into(),
            ));
        };
        sqlx::query("UPDATE template_versions SET status = 'published', note = $1, created_at = $2 WHERE template_id = $3 AND number = $4")
            .bind(note)
            .bind(now)
            .bind(id)
            .bind(number)
            .execute(&self.pool)
            .await?;
        Ok(number)
    }

    /// Every version, newest first.
    pub async fn template_versions(&self, account_id: i64, id: i64) -> Result<Vec<VersionInfo>> {
        self.template(account_id, id).await?;
        let rows = sqlx::query(
            "SELECT number, status, note, created_at, html, text, mjml, headers FROM template_versions WHERE template_id = $1 ORDER BY number DESC",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(version_from_row).collect()
    }

    /// The number of the version sends use (the newest published one), if `account_id` owns
    /// the template and it has one: one indexed row, cheap enough for every send.
    /// The number of the template's published version, and when the template's settings
    /// (purposes, text generation…) last changed.
    pub async fn published_number(&self, account_id: i64, id: i64) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT v.number AS number, t.updated_at AS updated_at FROM template_versions v JOIN templates t ON t.id = v.template_id
             WHERE t.id = $1 AND t.account_id = $2 AND v.status = 'published'
             ORDER BY v.number DESC LIMIT 1",
        )
        .bind(id)
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound)?;
        Ok((row.try_get("number")?, row.try_get("updated_at")?))
    }

    /// The id of the account's template with this exact name (X-MJ-TemplateID takes names).
    pub async fn template_id_by_name(&self, account_id: i64, name: &str) -> Result<i64> {
        let row = sqlx::query(
            "SELECT id FROM templates WHERE account_id = $1 AND name = $2 ORDER BY id LIMIT 1",
        )
        .bind(account_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound)?;
        Ok(row.try_get("id")?)
    }

    /// One version's content (no ownership check: pair it with [`Store::published_number`]).
    pub async fn version_content(&self, id: i64, number: i64) -> Result<TemplateContent> {
        let row = sqlx::query(
            "SELECT number, status, note, created_at, html, text, mjml, headers FROM template_versions WHERE template_id = $1 AND number = $2",
        )
        .bind(id)
        .bind(number)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound)?;
        Ok(version_from_row(&row)?.content)
    }

    /// The content a message is sent with: the newest published version.
    pub async fn published_content(&self, account_id: i64, id: i64) -> Result<TemplateContent> {
        let t = self.template(account_id, id).await?;
        self.version_content(id, t.published.ok_or(Error::NotFound)?)
            .await
    }

    /// The content being edited: the draft, else the newest published version (empty for a
    /// template that has neither).
    pub async fn editing_content(&self, t: &TemplateRecord) -> Result<TemplateContent> {
        match t.draft.or(t.published) {
            Some(n) => self.version_content(t.id, n).await,
            None => Ok(TemplateContent::default()),
        }
    }

    /// Copies version `number` into the draft (a new version from any version).
    pub async fn restore_template_version(
        &self,
        account_id: i64,
        id: i64,
        number: i64,
        now: i64,
    ) -> Result<i64> {
        let versions = self.template_versions(account_id, id).await?;
        let source = versions
            .into_iter()
            .find(|v| v.number == number)
            .ok_or(Error::NotFound)?;
        self.save_template_draft(account_id, id, &source.content, now)
            .await
    }

    /// A copy of a template (metadata, test values, and its newest content as a draft).
    pub async fn duplicate_template(
        &self,
        account_id: i64,
        id: i64,
        name: &str,
        now: i64,
    ) -> Result<TemplateRecord> {
        let original = self.template(account_id, id).await?;
        let meta = TemplateMeta {
            name: name.to_string(),
            ..original.meta.clone()
        };
        let copy = self.create_template(account_id, &meta, now).await?;
        self.set_template_test_values(account_id, copy.id, &original.test_values, now)
            .await?;
        if let Some(latest) = self
            .template_versions(account_id, id)
            .await?
            .into_iter()
            .next()
        {
            self.save_template_draft(account_id, copy.id, &latest.content, now)
                .await?;
        }
        self.template(account_id, copy.id).await
    }

    /// Records the partials (`(partial id, its version number)`) version `number` of a
    /// template was compiled with, replacing what was recorded for that version.
    pub async fn set_template_includes(
        &self,
        id: i64,
        number: i64,
        partials: &[(i64, i64)],
    ) -> Result<()> {
        let mut tx = crate::tx::Tx::begin(&self.pool, self.backend).await?;
        sqlx::query("DELETE FROM template_includes WHERE template_id = $1 AND number = $2")
            .bind(id)
            .bind(number)
            .execute(&mut *tx)
            .await?;
        for (partial_id, partial_number) in partials {
            sqlx::query(
                "INSERT INTO template_includes (template_id, number, partial_id, partial_number) VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(number)
            .bind(partial_id)
            .bind(partial_number)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The partials version `number` of a template was compiled with.
    pub async fn template_includes(&self, id: i64, number: i64) -> Result<Vec<PartialUse>> {
        let rows = sqlx::query(
            "SELECT i.partial_id AS id, i.partial_number AS number, COALESCE(t.name, '') AS name \
             FROM template_includes i LEFT JOIN templates t ON t.id = i.partial_id \
             WHERE i.template_id = $1 AND i.number = $2 ORDER BY name",
        )
        .bind(id)
        .bind(number)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(partial_use_from_row).collect()
    }

    /// The templates of the account whose newest version (draft or published) uses partial
    /// `id`, with the partial's version each was compiled with.
    pub async fn partial_users(&self, account_id: i64, id: i64) -> Result<Vec<PartialUse>> {
        let mut conn = self.pool.acquire().await?;
        Ok(usage(&mut conn, account_id, Some(id))
            .await?
            .remove(&id)
            .unwrap_or_default())
    }

    /// For every partial of the account that is used: the templates whose newest version
    /// uses it (one query, for the gallery).
    pub async fn partial_usage(
        &self,
        account_id: i64,
    ) -> Result<std::collections::HashMap<i64, Vec<PartialUse>>> {
        let mut conn = self.pool.acquire().await?;
        usage(&mut conn, account_id, None).await
    }
}

/// The templates whose newest version uses one partial, or each partial, of an account.
async fn usage(
    conn: &mut sqlx::AnyConnection,
    account_id: i64,
    partial: Option<i64>,
) -> Result<std::collections::HashMap<i64, Vec<PartialUse>>> {
    let sql = format!(
        "SELECT i.partial_id AS partial_id, t.id AS id, t.name AS name, i.partial_number AS number \
         FROM template_includes i JOIN templates t ON t.id = i.template_id \
         WHERE t.account_id = $1 {} \
           AND i.number = (SELECT MAX(v.number) FROM template_versions v WHERE v.template_id = t.id) \
         ORDER BY t.name, t.id",
        if partial.is_some() {
            "AND i.partial_id = $2"
        } else {
            ""
        }
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(account_id);
    if let Some(id) = partial {
        query = query.bind(id);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    let mut usage: std::collections::HashMap<i64, Vec<PartialUse>> = Default::default();
    for r in &rows {
        usage
            .entry(r.try_get("partial_id")?)
            .or_default()
            .push(partial_use_from_row(r)?);
    }
    Ok(usage)
}

/// A template on one side of an include: its id, name, and a version number (of the partial
/// it was compiled with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialUse {
    pub id: i64,
    pub name: String,
    pub number: i64,
}

fn partial_use_from_row(r: &AnyRow) -> Result<PartialUse> {
    Ok(PartialUse {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        number: r.try_get("number")?,
    })
}
