//! Operations on the block document, checked against the person's role, the sections' leases
//! and their locks before they change anything: [`apply`] either applies the whole operation or
//! refuses it and leaves the document as it was.

use std::collections::HashSet;

use facteur_template::blocks::{
    Block, BlockKind, Column, Document, Found, Props, Section, SectionKind,
};
use serde::{Deserialize, Serialize};

use crate::sanitize;

/// Which properties an operation changes: locks apply to each separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    Content,
    Style,
}

/// One change to the document, as a person meant it (an intent, not a diff).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Sets (or with `None` removes) a property of a section, column, block or of `"body"`.
    Set {
        target: String,
        group: Group,
        key: String,
        value: Option<String>,
    },
    /// Inserts a block into a column or an `if`/`for` block.
    InsertBlock {
        into: String,
        index: usize,
        block: Block,
    },
    /// Moves a block; `index` is its position in `into` once it left its place.
    MoveBlock {
        block: String,
        into: String,
        index: usize,
    },
    DeleteBlock {
        block: String,
    },
    InsertSection {
        index: usize,
        section: Section,
    },
    MoveSection {
        section: String,
        index: usize,
    },
    DeleteSection {
        section: String,
    },
    InsertColumn {
        section: String,
        index: usize,
        column: Column,
    },
    DeleteColumn {
        column: String,
    },
    /// Sets a section's locks (the lock permission only).
    Lock {
        section: String,
        style: bool,
        content: bool,
    },
}

impl Op {
    /// The element the operation is about, for messages and presence.
    pub fn subject(&self) -> &str {
        match self {
            Op::Set { target, .. } => target,
            Op::InsertBlock { block, .. } => &block.id,
            Op::MoveBlock { block, .. } | Op::DeleteBlock { block } => block,
            Op::InsertSection { section, .. } => &section.id,
            Op::MoveSection { section, .. }
            | Op::DeleteSection { section }
            | Op::Lock { section, .. } => section,
            Op::InsertColumn { column, .. } => &column.id,
            Op::DeleteColumn { column } => column,
        }
    }
}

/// Who sends an operation, and what their role lets them do.
#[derive(Clone, Copy, Debug)]
pub struct Actor {
    pub user: i64,
    pub can_edit: bool,
    pub can_lock: bool,
}

/// Why an operation was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The person's role does not allow it.
    Role(String),
    /// Another person holds the lease of a section it touches.
    Lease { section: String, holder: i64 },
    /// A lock of the section forbids it.
    Locked(String),
    /// The operation does not make sense on this document.
    Invalid(String),
}

impl Refusal {
    /// The short code clients switch on: `role`, `lease`, `locked`, `invalid`.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Role(_) => "role",
            Refusal::Lease { .. } => "lease",
            Refusal::Locked(_) => "locked",
            Refusal::Invalid(_) => "invalid",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Role(m) | Refusal::Locked(m) | Refusal::Invalid(m) => f.write_str(m),
            Refusal::Lease { section, .. } => write!(
                f,
                "Someone else is editing section {section}: wait until they leave it."
            ),
        }
    }
}

/// The most sections a document holds.
pub const MAX_SECTIONS: usize = 300;
/// The most blocks and columns a document holds, at any depth.
pub const MAX_ELEMENTS: usize = 5000;
/// The longest content property (a text block's HTML, verbatim MJML), in bytes.
pub const MAX_CONTENT: usize = 256 * 1024;
/// The longest style property, in bytes.
pub const MAX_STYLE: usize = 1024;
/// How deep `if`/`for` blocks nest.
pub const MAX_DEPTH: usize = 8;

fn invalid(m: impl Into<String>) -> Refusal {
    Refusal::Invalid(m.into())
}

/// An id: 1–40 characters of `[A-Za-z0-9_-]`.
pub fn valid_id(id: &str) -> bool {
    (1..=40).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A style property's name: an MJML attribute name.
fn valid_style_key(key: &str) -> bool {
    (1..=40).contains(&key.len())
        && key.as_bytes()[0].is_ascii_lowercase()
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Applies `op` for `actor`, who holds or may take every section it touches: `holder` names
/// the person holding a section's lease now (expired leases are nobody's). Returns the
/// operation as applied (text blocks' HTML sanitised), which is what the op log records.
pub fn apply(
    doc: &mut Document,
    mut op: Op,
    actor: &Actor,
    holder: &dyn Fn(&str) -> Option<i64>,
) -> Result<Op, Refusal> {
    if !actor.can_edit {
        return Err(Refusal::Role("Your role may not edit templates.".into()));
    }
    if matches!(op, Op::Lock { .. }) && !actor.can_lock {
        return Err(Refusal::Role(
            "Your role may not lock or unlock sections.".into(),
        ));
    }
    normalize(doc, &mut op)?;
    // The sections the operation touches, and what each must not have locked.
    let touched = touched(doc, &op)?;
    for (index, need) in &touched {
        let s = &doc.sections[*index];
        if let Some(h) = holder(&s.id)
            && h != actor.user
        {
            return Err(Refusal::Lease {
                section: s.id.clone(),
                holder: h,
            });
        }
        let refused = match need {
            Need::Nothing => None,
            Need::Style if s.lock.style => Some("The style of this section is locked."),
            Need::Content if s.lock.content => Some("The content of this section is locked."),
            Need::Unlocked if s.lock.any() => {
                Some("This section is locked: lift its locks before deleting it.")
            }
            _ => None,
        };
        if let Some(m) = refused {
            return Err(Refusal::Locked(m.into()));
        }
    }
    if writes_markup(doc, &op) {
        // Verbatim MJML, raw HTML, a button's label or a condition go into the MJML as written:
        // the document must still compile with them, or the change is refused.
        let mut probe = doc.clone();
        mutate(&mut probe, &op)?;
        if let Err(e) = facteur_template::mjml::to_html(&probe.to_mjml()) {
            return Err(invalid(format!(
                "With this change the template's MJML no longer compiles: {}",
                e.message
            )));
        }
        *doc = probe;
    } else {
        mutate(doc, &op)?;
    }
    Ok(op)
}

/// Whether an operation writes markup that goes into the MJML unescaped (anything but
/// sanitised rich text, style values and structure).
fn writes_markup(doc: &Document, op: &Op) -> bool {
    fn markup(b: &Block) -> bool {
        !matches!(
            b.kind,
            BlockKind::Text | BlockKind::Divider | BlockKind::Spacer
        ) || b.children.iter().any(markup)
    }
    match op {
        Op::Set {
            target,
            group: Group::Content,
            ..
        } => !matches!(
            doc.find(target),
            Some((_, Found::Block(BlockKind::Text))) | None
        ),
        Op::InsertBlock { block, .. } => markup(block),
        Op::InsertSection { section, .. } => {
            section.kind == SectionKind::Mjml
                || section.columns.iter().flat_map(|c| &c.blocks).any(markup)
        }
        Op::InsertColumn { column, .. } => column.blocks.iter().any(markup),
        _ => false,
    }
}

/// What a touched section must allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Need {
    Nothing,
    Style,
    Content,
    Unlocked,
}

fn section_index(doc: &Document, id: &str) -> Result<usize, Refusal> {
    doc.sections
        .iter()
        .position(|s| s.id == id)
        .ok_or_else(|| invalid(format!("There is no section {id}.")))
}

fn located(doc: &Document, id: &str) -> Result<(usize, Found), Refusal> {
    doc.find(id)
        .ok_or_else(|| invalid(format!("There is no element {id}.")))
}

/// The section holding the column or `if`/`for` block `into`.
fn container(doc: &Document, into: &str) -> Result<usize, Refusal> {
    match located(doc, into)? {
        (i, Found::Column) => Ok(i),
        (i, Found::Block(k)) if k.is_wrapper() => Ok(i),
        _ => Err(invalid(format!(
            "{into} holds no blocks: blocks go into a column, an if or a for."
        ))),
    }
}

fn touched(doc: &Document, op: &Op) -> Result<Vec<(usize, Need)>, Refusal> {
    Ok(match op {
        Op::Set { target, group, .. } => {
            if target == "body" {
                vec![]
            } else {
                let (i, _) = located(doc, target)?;
                let need = match group {
                    Group::Style => Need::Style,
                    Group::Content => Need::Content,
                };
                vec![(i, need)]
            }
        }
        Op::InsertBlock { into, .. } => vec![(container(doc, into)?, Need::Content)],
        Op::MoveBlock { block, into, .. } => {
            let (from, found) = located(doc, block)?;
            if !matches!(found, Found::Block(_)) {
                return Err(invalid(format!("{block} is not a block.")));
            }
            vec![
                (from, Need::Content),
                (container(doc, into)?, Need::Content),
            ]
        }
        Op::DeleteBlock { block } => match located(doc, block)? {
            (i, Found::Block(_)) => vec![(i, Need::Content)],
            _ => return Err(invalid(format!("{block} is not a block."))),
        },
        Op::InsertSection { .. } => vec![],
        Op::MoveSection { section, .. } => vec![(section_index(doc, section)?, Need::Nothing)],
        Op::DeleteSection { section } => vec![(section_index(doc, section)?, Need::Unlocked)],
        Op::InsertColumn { section, .. } => vec![(section_index(doc, section)?, Need::Content)],
        Op::DeleteColumn { column } => match located(doc, column)? {
            (i, Found::Column) => vec![(i, Need::Content)],
            _ => return Err(invalid(format!("{column} is not a column."))),
        },
        Op::Lock { section, .. } => vec![(section_index(doc, section)?, Need::Nothing)],
    })
}

/// Checks what the operation brings in (ids, kinds, properties, sizes) and sanitises the HTML
/// of text blocks.
fn normalize(doc: &Document, op: &mut Op) -> Result<(), Refusal> {
    let mut ids: HashSet<&str> = HashSet::new();
    let existing = doc.ids();
    let count = existing.len();
    match op {
        Op::Set {
            target,
            group,
            key,
            value,
        } => {
            let kind = if target == "body" {
                None
            } else {
                let (i, found) = located(doc, target)?;
                if found == Found::Section
                    && *group == Group::Content
                    && doc.sections[i].kind != SectionKind::Mjml
                {
                    return Err(invalid("A section has no content properties."));
                }
                Some(found)
            };
            if let Some(v) = value.as_mut() {
                check_property(kind, *group, key, v)?;
            } else {
                check_key(kind, *group, key)?;
            }
        }
        Op::InsertBlock { block, .. } => {
            ids.extend(existing);
            check_block(block, &mut ids, 0)?;
            if count + ids_in_block(block) > MAX_ELEMENTS {
                return Err(invalid("The template has too many blocks."));
            }
        }
        Op::InsertSection { section, index } => {
            if doc.sections.len() >= MAX_SECTIONS {
                return Err(invalid("The template has too many sections."));
            }
            if *index > doc.sections.len() {
                return Err(invalid("The section's position is past the end."));
            }
            ids.extend(existing);
            check_section(section, &mut ids)?;
            if ids.len() > MAX_ELEMENTS {
                return Err(invalid("The template has too many blocks."));
            }
        }
        Op::InsertColumn { column, .. } => {
            ids.extend(existing);
            check_column(column, &mut ids)?;
            if ids.len() > MAX_ELEMENTS {
                return Err(invalid("The template has too many blocks."));
            }
        }
        Op::MoveBlock { .. }
        | Op::DeleteBlock { .. }
        | Op::MoveSection { .. }
        | Op::DeleteSection { .. }
        | Op::DeleteColumn { .. }
        | Op::Lock { .. } => {}
    }
    Ok(())
}

fn ids_in_block(b: &Block) -> usize {
    1 + b.children.iter().map(ids_in_block).sum::<usize>()
}

fn fresh<'a>(id: &'a str, ids: &mut HashSet<&'a str>) -> Result<(), Refusal> {
    if !valid_id(id) {
        return Err(invalid(format!(
            "{id:?} is not a valid id: 1 to 40 letters, digits, '-' or '_'."
        )));
    }
    if !ids.insert(id) {
        return Err(invalid(format!("The id {id} is already used.")));
    }
    Ok(())
}

fn check_section<'a>(s: &'a mut Section, ids: &mut HashSet<&'a str>) -> Result<(), Refusal> {
    fresh(&s.id, ids)?;
    for (k, v) in &s.style {
        style_value(k, v)?;
    }
    match s.kind {
        SectionKind::Section => {
            if !s.content.is_empty() {
                return Err(invalid("A section has no content properties."));
            }
        }
        SectionKind::Mjml => {
            if !s.columns.is_empty() || s.content.keys().any(|k| k != "source") {
                return Err(invalid(
                    "An mjml section holds only its source, no columns.",
                ));
            }
            content_value(s.content.get("source").map_or("", String::as_str))?;
        }
    }
    let Section { columns, .. } = s;
    for c in columns {
        check_column(c, ids)?;
    }
    Ok(())
}

fn check_column<'a>(c: &'a mut Column, ids: &mut HashSet<&'a str>) -> Result<(), Refusal> {
    fresh(&c.id, ids)?;
    for (k, v) in &c.style {
        style_value(k, v)?;
    }
    for b in &mut c.blocks {
        check_block(b, ids, 0)?;
    }
    Ok(())
}

fn check_block<'a>(
    b: &'a mut Block,
    ids: &mut HashSet<&'a str>,
    depth: usize,
) -> Result<(), Refusal> {
    if depth > MAX_DEPTH {
        return Err(invalid("if and for blocks nest too deep."));
    }
    fresh(&b.id, ids)?;
    let kind = b.kind;
    if !kind.is_wrapper() && !b.children.is_empty() {
        return Err(invalid(format!(
            "A {} block holds no blocks.",
            kind.as_str()
        )));
    }
    for (k, v) in &mut b.content {
        check_property(Some(Found::Block(kind)), Group::Content, k, v)?;
    }
    for (k, v) in &mut b.style {
        check_property(Some(Found::Block(kind)), Group::Style, k, v)?;
    }
    for child in &mut b.children {
        check_block(child, ids, depth + 1)?;
    }
    Ok(())
}

fn style_value(key: &str, value: &str) -> Result<(), Refusal> {
    if !valid_style_key(key) {
        return Err(invalid(format!("{key:?} is not a style property.")));
    }
    if value.len() > MAX_STYLE || value.chars().any(char::is_control) {
        return Err(invalid(format!(
            "The value of {key} is too long or holds control characters."
        )));
    }
    Ok(())
}

fn content_value(value: &str) -> Result<(), Refusal> {
    if value.len() > MAX_CONTENT {
        return Err(invalid(format!(
            "A content property holds at most {} KB.",
            MAX_CONTENT / 1024
        )));
    }
    Ok(())
}

/// Whether `key` exists in `group` for an element of kind `kind` (`None`: the body).
fn check_key(kind: Option<Found>, group: Group, key: &str) -> Result<(), Refusal> {
    let ok = match (kind, group) {
        (None, Group::Style) => valid_style_key(key),
        (None, Group::Content) => false,
        (Some(Found::Section | Found::Column), Group::Style) => valid_style_key(key),
        // An mjml section's source; plain sections and columns have no content.
        (Some(Found::Section), Group::Content) => key == "source",
        (Some(Found::Column), Group::Content) => false,
        (Some(Found::Block(k)), Group::Content) => k.content_keys().contains(&key),
        (Some(Found::Block(k)), Group::Style) => k.has_style() && valid_style_key(key),
    };
    if ok {
        Ok(())
    } else {
        let what = match kind {
            None => "the body".to_string(),
            Some(Found::Section) => "a section".into(),
            Some(Found::Column) => "a column".into(),
            Some(Found::Block(k)) => format!("a {} block", k.as_str()),
        };
        let group = match group {
            Group::Content => "content",
            Group::Style => "style",
        };
        Err(invalid(format!("{what} has no {group} property {key:?}.")))
    }
}

fn check_property(
    kind: Option<Found>,
    group: Group,
    key: &str,
    value: &mut String,
) -> Result<(), Refusal> {
    check_key(kind, group, key)?;
    match group {
        Group::Style => style_value(key, value),
        Group::Content => {
            content_value(value)?;
            if kind == Some(Found::Block(BlockKind::Text)) && key == "html" {
                *value = sanitize::rich_text(value);
            }
            Ok(())
        }
    }
}

// ---- Changing the document (every check has passed) ----

fn blocks_in<'a>(doc: &'a mut Document, into: &str) -> Option<&'a mut Vec<Block>> {
    fn walk<'a>(blocks: &'a mut [Block], id: &str) -> Option<&'a mut Vec<Block>> {
        for b in blocks.iter_mut() {
            if b.id == id {
                return Some(&mut b.children);
            }
            if let Some(found) = walk(&mut b.children, id) {
                return Some(found);
            }
        }
        None
    }
    for s in &mut doc.sections {
        for c in &mut s.columns {
            if c.id == into {
                return Some(&mut c.blocks);
            }
            if let Some(found) = walk(&mut c.blocks, into) {
                return Some(found);
            }
        }
    }
    None
}

fn take_block(doc: &mut Document, id: &str) -> Option<Block> {
    fn walk(blocks: &mut Vec<Block>, id: &str) -> Option<Block> {
        if let Some(i) = blocks.iter().position(|b| b.id == id) {
            return Some(blocks.remove(i));
        }
        blocks.iter_mut().find_map(|b| walk(&mut b.children, id))
    }
    doc.sections
        .iter_mut()
        .flat_map(|s| s.columns.iter_mut())
        .find_map(|c| walk(&mut c.blocks, id))
}

fn contains(b: &Block, id: &str) -> bool {
    b.children.iter().any(|c| c.id == id || contains(c, id))
}

fn props_of<'a>(doc: &'a mut Document, target: &str, group: Group) -> Option<&'a mut Props> {
    if target == "body" {
        return (group == Group::Style).then_some(&mut doc.attributes);
    }
    fn walk<'a>(blocks: &'a mut [Block], id: &str, group: Group) -> Option<&'a mut Props> {
        for b in blocks.iter_mut() {
            if b.id == id {
                return Some(match group {
                    Group::Content => &mut b.content,
                    Group::Style => &mut b.style,
                });
            }
            if let Some(p) = walk(&mut b.children, id, group) {
                return Some(p);
            }
        }
        None
    }
    for s in &mut doc.sections {
        if s.id == target {
            return Some(match group {
                Group::Content => &mut s.content,
                Group::Style => &mut s.style,
            });
        }
        for c in &mut s.columns {
            if c.id == target {
                return (group == Group::Style).then_some(&mut c.style);
            }
            if let Some(p) = walk(&mut c.blocks, target, group) {
                return Some(p);
            }
        }
    }
    None
}

fn mutate(doc: &mut Document, op: &Op) -> Result<(), Refusal> {
    match op {
        Op::Set {
            target,
            group,
            key,
            value,
        } => {
            let props = props_of(doc, target, *group)
                .ok_or_else(|| invalid(format!("There is no element {target}.")))?;
            match value {
                Some(v) => {
                    props.insert(key.clone(), v.clone());
                }
                None => {
                    props.remove(key);
                }
            }
        }
        Op::InsertBlock { into, index, block } => {
            let blocks = blocks_in(doc, into)
                .ok_or_else(|| invalid(format!("There is no column {into}.")))?;
            if *index > blocks.len() {
                return Err(invalid("The block's position is past the end."));
            }
            blocks.insert(*index, block.clone());
        }
        Op::MoveBlock { block, into, index } => {
            // Check before taking anything out: a refused move changes nothing.
            let moving = doc
                .sections
                .iter()
                .flat_map(|s| &s.columns)
                .find_map(|c| find(&c.blocks, block))
                .ok_or_else(|| invalid(format!("There is no block {block}.")))?;
            if moving.id == *into || contains(moving, into) {
                return Err(invalid("A block cannot move into itself."));
            }
            let mut probe = doc.clone();
            let taken = take_block(&mut probe, block).expect("found above");
            let blocks = blocks_in(&mut probe, into)
                .ok_or_else(|| invalid(format!("There is no column {into}.")))?;
            if *index > blocks.len() {
                return Err(invalid("The block's position is past the end."));
            }
            blocks.insert(*index, taken);
            *doc = probe;
        }
        Op::DeleteBlock { block } => {
            take_block(doc, block).ok_or_else(|| invalid(format!("There is no block {block}.")))?;
        }
        Op::InsertSection { index, section } => {
            doc.sections.insert(*index, section.clone());
        }
        Op::MoveSection { section, index } => {
            let from = section_index(doc, section)?;
            if *index >= doc.sections.len() {
                return Err(invalid("The section's position is past the end."));
            }
            let s = doc.sections.remove(from);
            doc.sections.insert(*index, s);
        }
        Op::DeleteSection { section } => {
            let i = section_index(doc, section)?;
            doc.sections.remove(i);
        }
        Op::InsertColumn {
            section,
            index,
            column,
        } => {
            let i = section_index(doc, section)?;
            let s = &mut doc.sections[i];
            if s.kind != SectionKind::Section {
                return Err(invalid("An mjml section has no columns."));
            }
            if *index > s.columns.len() {
                return Err(invalid("The column's position is past the end."));
            }
            s.columns.insert(*index, column.clone());
        }
        Op::DeleteColumn { column } => {
            for s in &mut doc.sections {
                if let Some(i) = s.columns.iter().position(|c| c.id == *column) {
                    s.columns.remove(i);
                    return Ok(());
                }
            }
            return Err(invalid(format!("There is no column {column}.")));
        }
        Op::Lock {
            section,
            style,
            content,
        } => {
            let i = section_index(doc, section)?;
            doc.sections[i].lock.style = *style;
            doc.sections[i].lock.content = *content;
        }
    }
    Ok(())
}

fn find<'a>(blocks: &'a [Block], id: &str) -> Option<&'a Block> {
    blocks.iter().find_map(|b| {
        if b.id == id {
            Some(b)
        } else {
            find(&b.children, id)
        }
    })
}
