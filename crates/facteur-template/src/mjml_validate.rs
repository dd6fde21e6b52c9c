//! MJML validation as node mjml 5.4.1 does it (its `validationLevel` option), with node's
//! message texts, from the rules in [`crate::mjml_rules`] (generated from node mjml by
//! `tools/mjml-node/extract-rules.js`). mrml has no validator.
//!
//! [`validate`] reads the document the way node mjml's parser does (htmlparser2 9.1 in HTML
//! mode under mjml-parser-xml): tag names lowercased, attribute names kept as written, the
//! first of two same-named attributes kept, `/>` closing any element, HTML's void elements,
//! implied closes (`<p>` closes an open `<p>`…) and raw-text elements (`<script>`, `<style>`,
//! `<title>`, `<textarea>`); a close tag closes every element opened after the one it names,
//! and one that names no open element is ignored. The content of an ending tag (`mj-text`,
//! `mj-button`, `mj-raw`… see [`crate::mjml_rules::Component::ending_tag`]) is raw HTML:
//! nothing in it is checked. A comment outside ending tags is an `mj-raw` element for the
//! validator, as in node (so a comment where `mj-raw` is not allowed is reported).
//! `mj-include` is dropped wherever it is, as node mjml does by default (`ignoreIncludes`):
//! its children belong to its parent.
//!
//! Then it reports, for each element in document order, what node's rules report, in node's
//! order: illegal attributes (one issue listing them all), children the element does not
//! accept (one issue per child, on the child), an unknown element, then each attribute value
//! that does not match its type. The root `mjml` element itself is not checked (its children
//! are). A document with no element has no issues (node refuses to compile it; so does mrml).
//!
//! Where we differ from node on purpose:
//! * Lines: node counts `\n` only; a lone `\r` (old Mac line ending) is a line break here too,
//!   as in the rest of Facteur ([`crate::mjml`] reads `\r\n` and `\r` as `\n`).
//! * Positions: node gives the line where the previous token ends, which is the line of the
//!   element's `<` except right after a close tag with a space and a line break before its
//!   `>` (`</mj-text \n><mj-foo/>`: node says the close tag's line); we always give the `<`'s
//!   line and column.
//! * Attributes named like `Object.prototype` members (`constructor`, `toString`…) and the
//!   element `<constructor>` make node's validator throw a TypeError; here they are ordinary
//!   (illegal, unknown) names.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use crate::mjml_rules::{self, Child};

/// How invalid MJML is handled (node mjml's `validationLevel`).
///
/// Node mjml 5.4.1 behaves this way:
/// * `strict`: any issue refuses the document (no HTML).
/// * `soft` (node's default): the HTML is produced and the issues are returned with it.
/// * `skip`: not validated.
///
/// `soft` and `skip` give the same HTML: an unknown element disappears from it with all its
/// content (known elements inside included), an illegal attribute is ignored, an invalid value
/// is copied as written (`color="nope"` gives `color:nope`), and a known element in the wrong
/// parent is rendered where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Level {
    Strict,
    #[default]
    Soft,
    Skip,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Strict => "strict",
            Level::Soft => "soft",
            Level::Skip => "skip",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validation level that is not `strict`, `soft` or `skip`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLevel(pub String);

impl fmt::Display for UnknownLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown MJML validation level {:?}: expected strict, soft or skip",
            self.0
        )
    }
}

impl std::error::Error for UnknownLevel {}

impl FromStr for Level {
    type Err = UnknownLevel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "strict" => Ok(Level::Strict),
            "soft" => Ok(Level::Soft),
            "skip" => Ok(Level::Skip),
            _ => Err(UnknownLevel(s.to_string())),
        }
    }
}

/// One problem node mjml's validator reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// 1-based line of the element's `<`.
    pub line: usize,
    /// 1-based column (in characters) of the element's `<`.
    pub column: usize,
    /// Byte offset of the element's `<` in the source.
    pub offset: usize,
    /// The element's tag name, lowercased (`mj-raw` for a comment).
    pub tag: String,
    /// Node mjml's message, e.g. `Attribute color has invalid value: nope for type Color `
    /// (node's trailing space included).
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Line {}, column {} ({}) — {}",
            self.line, self.column, self.tag, self.message
        )
    }
}

/// Validates an MJML document as node mjml 5.4.1 does; issues in node's order.
pub fn validate(source: &str) -> Vec<Issue> {
    let tree = parse(source);
    let Some(root) = tree.root else {
        return Vec::new();
    };
    let mut found: Vec<(usize, String, String)> = Vec::new();
    let mut todo = vec![root];
    while let Some(id) = todo.pop() {
        let node = &tree.nodes[id];
        if !mjml_rules::SKIP_ELEMENTS.contains(&node.tag.as_ref()) {
            check(&tree, node, &mut |n: &Node, message| {
                found.push((n.at, n.tag.to_string(), message));
            });
        }
        todo.extend(node.children.iter().rev());
    }
    let offsets: Vec<usize> = found.iter().map(|f| f.0).collect();
    found
        .into_iter()
        .zip(positions(source, &offsets))
        .map(|((offset, tag, message), (line, column))| Issue {
            line,
            column,
            offset,
            tag,
            message,
        })
        .collect()
}

/// node's rules, in the order it runs them: validAttributes, validChildren, validTag,
/// validTypes (errorAttr only reports failed includes, which are not read here).
fn check(tree: &Tree, node: &Node, report: &mut impl FnMut(&Node, String)) {
    let index = mjml_rules::component_index(&node.tag);
    let component = index.map(|i| &mjml_rules::COMPONENTS[i]);
    let attributes = &tree.attributes[node.attributes.clone()];
    if let Some(component) = component {
        let illegal: Vec<&str> = attributes
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| {
                !component.attributes.iter().any(|(a, _)| a == name)
                    && !mjml_rules::GLOBAL_ATTRIBUTES.contains(name)
            })
            .collect();
        if illegal.len() == 1 {
            report(node, format!("Attribute {} is illegal", illegal[0]));
        } else if !illegal.is_empty() {
            report(
                node,
                format!("Attributes {} are illegal", illegal.join(", ")),
            );
        }
        let accepted = mjml_rules::dependencies(&node.tag).unwrap_or(&[]);
        for &child in &node.children {
            let child = &tree.nodes[child];
            let valid = mjml_rules::component(&child.tag).is_none()
                || mjml_rules::SKIP_ELEMENTS.contains(&child.tag.as_ref())
                || accepts(accepted, &child.tag);
            if !valid {
                let parents: Vec<&str> = mjml_rules::DEPENDENCIES
                    .iter()
                    .filter(|d| accepts(d.children, &child.tag))
                    .map(|d| d.parent)
                    .collect();
                report(
                    child,
                    format!(
                        "{} cannot be used inside {}, only inside: {}",
                        child.tag,
                        node.tag,
                        parents.join(", ")
                    ),
                );
            }
        }
    } else if !mjml_rules::COMPONENTLESS_TAGS.contains(&node.tag.as_ref()) {
        report(
            node,
            format!("Element {} doesn't exist or is not registered", node.tag),
        );
    }
    if let Some(index) = index {
        for (name, value) in attributes {
            // Facteur differs here on purpose: a value written with the templating language
            // (`{{ var:bg }}`, `{% … %}`, `[[var:w]]`) is only known per message, so its type
            // is not checked (node mjml, which knows no such language, refuses it).
            if has_language(value) {
                continue;
            }
            if let Some(error) = type_error(index, name, value) {
                report(node, format!("Attribute {name} {error}"));
            }
        }
    }
}

/// Whether `value` holds a statement of the templating language (`{{`, `{%` or `[[`).
fn has_language(value: &str) -> bool {
    let b = value.as_bytes();
    memchr::memchr2_iter(b'{', b'[', b).any(|at| {
        matches!(
            (b[at], b.get(at + 1)),
            (b'{', Some(b'{' | b'%')) | (b'[', Some(b'['))
        )
    })
}

fn accepts(children: &[Child], tag: &str) -> bool {
    children.iter().any(|c| match c {
        Child::Tag(t) => *t == tag,
        Child::Any => true,
    })
}

// ---- Attribute types (mjml-core's types/*.js) ----

/// An attribute type as mjml-core's `initializeType` reads its declaration.
#[derive(Debug, PartialEq)]
enum Type<'a> {
    Boolean,
    /// The accepted values, comma-separated.
    Enum(&'a str),
    Color,
    Unit {
        negative: bool,
        /// As declared, comma-separated (`auto` and an empty unit included).
        units: &'a str,
        /// The value count, as declared (`1,4`; `1` when not given).
        count: &'a str,
    },
    String,
    Integer,
}

/// The content of the first `open … close` with at least one character in between and no
/// `close` in it (the regexes `\(([^)]+)\)` and `\{([^}]+)\}`).
fn first_group(s: &str, open: char, close: char) -> Option<&str> {
    s.match_indices(open).find_map(|(i, _)| {
        let rest = &s[i + 1..];
        match rest.find(close) {
            Some(end) if end > 0 => Some(&rest[..end]),
            _ => None,
        }
    })
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

/// The checker node picks for a declaration (the first family whose name starts it, in
/// mjml-core's order: boolean, enum, color, unit, string, integer).
fn parse_type(declaration: &str) -> Option<Type<'_>> {
    let d = declaration;
    if starts_with_ignore_case(d, "boolean") {
        Some(Type::Boolean)
    } else if starts_with_ignore_case(d, "enum") {
        Some(Type::Enum(first_group(d, '(', ')')?))
    } else if starts_with_ignore_case(d, "color") {
        Some(Type::Color)
    } else if (starts_with_ignore_case(d, "unit(")
        || starts_with_ignore_case(d, "unitWithNegative("))
        && d.contains(')')
    {
        Some(Type::Unit {
            negative: d.starts_with("unitWithNegative"),
            units: first_group(d, '(', ')')?,
            count: first_group(d, '{', '}').unwrap_or("1"),
        })
    } else if starts_with_ignore_case(d, "string") {
        Some(Type::String)
    } else if starts_with_ignore_case(d, "integer") {
        Some(Type::Integer)
    } else {
        None
    }
}

/// The type of each attribute of each component (as [`mjml_rules::COMPONENTS`] orders them),
/// read from its declaration once.
static TYPES: LazyLock<Vec<Vec<Option<Type<'static>>>>> = LazyLock::new(|| {
    mjml_rules::COMPONENTS
        .iter()
        .map(|c| c.attributes.iter().map(|(_, d)| parse_type(d)).collect())
        .collect()
});

/// What node appends to `Attribute NAME ` when the value does not match the type attribute
/// `name` has in component `index` of [`mjml_rules::COMPONENTS`].
fn type_error(index: usize, name: &str, value: &str) -> Option<String> {
    let at = mjml_rules::COMPONENTS[index]
        .attributes
        .iter()
        .position(|(a, _)| *a == name)?;
    let template = match *TYPES[index][at].as_ref()? {
        Type::String => return None,
        Type::Boolean => {
            if value == "true" || value == "false" {
                return None;
            }
            format!("has invalid value: {value} for type Boolean ")
        }
        Type::Integer => {
            if value.bytes().any(|b| b.is_ascii_digit()) {
                return None;
            }
            format!("has invalid value: {value} for type NInteger ")
        }
        Type::Color => {
            if is_color(value) {
                return None;
            }
            format!("has invalid value: {value} for type Color ")
        }
        Type::Enum(values) => {
            if values.split(',').any(|v| v == value) {
                return None;
            }
            format!(
                "has invalid value: $value for type Enum, only accepts {}",
                values.replace(',', ", ")
            )
        }
        Type::Unit {
            negative,
            units,
            count,
        } => {
            if unit_matches(value, negative, units, count) {
                return None;
            }
            format!(
                "has invalid value: $value for type Unit, only accepts ({}) units and {} value(s)",
                units.replace(',', ", "),
                count.replace(',', " to ")
            )
        }
    };
    Some(replace_value(&template, value))
}

/// Whether `value` is of the unit type declared with these units and value count.
fn unit_matches(value: &str, negative: bool, units: &str, count: &str) -> bool {
    let auto = units.split(',').any(|u| u == "auto");
    // Declarations name a few units (at most three): no allocation for them.
    let mut plain = [""; 8];
    let mut n = 0;
    for unit in units.split(',').filter(|u| *u != "auto") {
        if n == plain.len() {
            break;
        }
        plain[n] = unit;
        n += 1;
    }
    let mut counts = count.split(',');
    let min = counts.next().and_then(|c| c.parse().ok()).unwrap_or(1);
    let max = match counts.next() {
        None => Some(min),
        Some(c) => c.parse().ok(),
    };
    is_unit(value.as_bytes(), negative, &plain[..n], auto, min, max)
}

/// `template.replace(/\$value/g, value)` in JavaScript: every `$value` becomes the value, where
/// the value's own `$$`, `$&`, `` $` `` and `$'` are replacement patterns.
fn replace_value(template: &str, value: &str) -> String {
    const PATTERN: &str = "$value";
    let mut out = String::with_capacity(template.len() + value.len());
    let mut last = 0;
    for (start, _) in template.match_indices(PATTERN) {
        let end = start + PATTERN.len();
        out.push_str(&template[last..start]);
        let mut chars = value.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '$' {
                out.push(c);
                continue;
            }
            match chars.peek() {
                Some('$') => out.push('$'),
                Some('&') => out.push_str(PATTERN),
                Some('`') => out.push_str(&template[..start]),
                Some('\'') => out.push_str(&template[end..]),
                _ => {
                    out.push('$');
                    continue;
                }
            }
            chars.next();
        }
        last = end;
    }
    out.push_str(&template[last..]);
    out
}

/// mjml-core's unit regex, `^(((-|\d|,|\.){1,}(UNITS)|0|auto)( )?){MIN,MAX}$` (`-` when
/// negative values are allowed, `auto` when it is one of the units), run as a set of reachable
/// positions: linear in the value's length per repetition.
fn is_unit(
    v: &[u8],
    negative: bool,
    units: &[&str],
    auto: bool,
    min: usize,
    max: Option<usize>,
) -> bool {
    let n = v.len();
    let is_number_char =
        |b: u8| b.is_ascii_digit() || b == b',' || b == b'.' || (negative && b == b'-');
    // Every repetition takes at least one byte.
    if n == 0 {
        return min == 0;
    }
    let max = max.unwrap_or(n).min(n);
    // Three rows of reachable positions; on the stack for the short values nearly all are.
    let mut stack = [false; 3 * 64];
    let mut heap = Vec::new();
    let rows: &mut [bool] = if 3 * (n + 1) <= stack.len() {
        &mut stack[..3 * (n + 1)]
    } else {
        heap.resize(3 * (n + 1), false);
        &mut heap
    };
    let (at, rest) = rows.split_at_mut(n + 1);
    let (next, spaced) = rest.split_at_mut(n + 1);
    at[0] = true;
    for reps in 1..=max {
        next.fill(false);
        // One or more number characters, then a unit.
        let mut in_number = false;
        for i in 0..n {
            if !is_number_char(v[i]) {
                in_number = false;
                continue;
            }
            in_number |= at[i];
            if in_number {
                for unit in units {
                    if v[i + 1..].starts_with(unit.as_bytes()) {
                        next[i + 1 + unit.len()] = true;
                    }
                }
            }
        }
        for i in 0..n {
            if at[i] {
                if v[i] == b'0' {
                    next[i + 1] = true;
                }
                if auto && v[i..].starts_with(b"auto") {
                    next[i + 4] = true;
                }
            }
        }
        // An optional space after each value.
        spaced.copy_from_slice(next);
        for i in 0..n {
            if next[i] && v[i] == b' ' {
                spaced[i + 1] = true;
            }
        }
        if reps >= min && spaced[n] {
            return true;
        }
        if !spaced.contains(&true) {
            return false;
        }
        at.copy_from_slice(spaced);
    }
    false
}

/// mjml-core's color type: `rgba(…)` or `rgb(…)` anywhere in the value (those two regexes are
/// not anchored), `#` and 3 or 6 hex digits, or a color name as written (lowercase).
fn is_color(value: &str) -> bool {
    let v = value.as_bytes();
    let found = |prefix: &[u8], alpha: bool| {
        (0..v.len()).any(|i| {
            v[i..]
                .get(..prefix.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
                && rgb_arguments(value, i + prefix.len(), alpha)
        })
    };
    (matches!(v.len(), 4 | 7) && v[0] == b'#' && v[1..].iter().all(u8::is_ascii_hexdigit))
        || (memchr::memchr2(b'r', b'R', v).is_some()
            && (found(b"rgba(", true) || found(b"rgb(", false)))
        || mjml_rules::NAMED_COLORS.contains(&value)
}

/// `\d{1,3},\s?\d{1,3},\s?\d{1,3}\)`, or with `alpha` `…,\s?\d(\.\d{1,3})?\)`, from `i`.
fn rgb_arguments(value: &str, mut i: usize, alpha: bool) -> bool {
    let v = value.as_bytes();
    let digits = |i: usize| {
        v[i.min(v.len())..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let skip_space = |i: usize| i + value.get(i..).map_or(0, js_space_len);
    for k in 0..3 {
        let d = digits(i);
        if !(1..=3).contains(&d) {
            return false;
        }
        i += d;
        let last = k == 2 && !alpha;
        if v.get(i) != Some(if last { &b')' } else { &b',' }) {
            return false;
        }
        i += 1;
        if !last {
            i = skip_space(i);
        }
    }
    if !alpha {
        return true;
    }
    if !v.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    i += 1;
    if v.get(i) == Some(&b'.') {
        let d = digits(i + 1);
        if !(1..=3).contains(&d) {
            return false;
        }
        i += 1 + d;
    }
    v.get(i) == Some(&b')')
}

/// The length in bytes of the character starting `s` when JavaScript's `\s` matches it, else 0.
fn js_space_len(s: &str) -> usize {
    match s.chars().next() {
        Some(
            c @ ('\t'
            | '\n'
            | '\u{b}'
            | '\u{c}'
            | '\r'
            | ' '
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
            | '\u{feff}'),
        ) => c.len_utf8(),
        _ => 0,
    }
}

// ---- Positions ----

/// 1-based line and column (in characters) of each byte offset, in one pass over the source
/// (`\n`, `\r\n` and `\r` are one line break each).
fn positions(source: &str, offsets: &[usize]) -> Vec<(usize, usize)> {
    let b = source.as_bytes();
    let mut order: Vec<usize> = (0..offsets.len()).collect();
    order.sort_by_key(|&i| offsets[i]);
    let mut out = vec![(0, 0); offsets.len()];
    let (mut line, mut column, mut pos) = (1, 1, 0);
    for i in order {
        let at = offsets[i].min(b.len());
        while pos < at {
            let c = b[pos];
            if c == b'\n' || (c == b'\r' && b.get(pos + 1) != Some(&b'\n')) {
                line += 1;
                column = 1;
            } else if c & 0xc0 != 0x80 {
                column += 1;
            }
            pos += 1;
        }
        out[i] = (line, column);
    }
    out
}

// ---- The document tree, as mjml-parser-xml builds it ----

#[derive(Debug)]
struct Node<'a> {
    tag: Cow<'a, str>,
    /// Its attributes in [`Tree::attributes`], in JavaScript's key order: integer-like names
    /// first, ascending, then as written.
    attributes: std::ops::Range<usize>,
    children: Vec<usize>,
    parent: Option<usize>,
    /// Byte offset of the `<`.
    at: usize,
}

#[derive(Debug, Default)]
struct Tree<'a> {
    nodes: Vec<Node<'a>>,
    /// The attributes of all the nodes, each node's in one run (one list for the document).
    attributes: Vec<(&'a str, &'a str)>,
    /// The last element opened at the top level (node keeps the last one).
    root: Option<usize>,
    current: Option<usize>,
    /// How many ending tags are open: their content is not MJML.
    in_ending_tag: usize,
}

fn is_ending_tag(tag: &str) -> bool {
    mjml_rules::component(tag).is_some_and(|c| c.ending_tag)
}

/// A name JavaScript orders first among an object's keys (an array index).
fn array_index(name: &str) -> Option<u64> {
    let valid = name == "0"
        || (!name.is_empty()
            && name.len() <= 10
            && !name.starts_with('0')
            && name.bytes().all(|b| b.is_ascii_digit()));
    name.parse::<u64>()
        .ok()
        .filter(|&n| valid && n < u64::from(u32::MAX))
}

impl<'a> Tree<'a> {
    fn open(&mut self, tag: Cow<'a, str>, attributes: &[(&'a str, &'a str)], at: usize) {
        let ending = is_ending_tag(&tag);
        if self.in_ending_tag > 0 {
            if ending {
                self.in_ending_tag += 1;
            }
            return;
        }
        if ending {
            self.in_ending_tag += 1;
        }
        if tag == "mj-include" {
            return;
        }
        let start = self.attributes.len();
        self.attributes.extend_from_slice(attributes);
        let own = &mut self.attributes[start..];
        if own
            .iter()
            .any(|(name, _)| name.starts_with(|c: char| c.is_ascii_digit()))
        {
            own.sort_by_key(|(name, _)| array_index(name).map_or((1, 0), |n| (0, n)));
        }
        let range = start..self.attributes.len();
        self.push(tag, range, at, true);
    }

    fn push(
        &mut self,
        tag: Cow<'a, str>,
        attributes: std::ops::Range<usize>,
        at: usize,
        enter: bool,
    ) {
        let id = self.nodes.len();
        self.nodes.push(Node {
            tag,
            attributes,
            children: Vec::new(),
            parent: self.current,
            at,
        });
        match self.current {
            Some(parent) => self.nodes[parent].children.push(id),
            None => self.root = Some(id),
        }
        if enter {
            self.current = Some(id);
        }
    }

    fn close(&mut self, tag: &str) {
        if is_ending_tag(tag) {
            self.in_ending_tag = self.in_ending_tag.saturating_sub(1);
        }
        if self.in_ending_tag > 0 {
            return;
        }
        if tag != "mj-include" {
            self.current = self.current.and_then(|c| self.nodes[c].parent);
        }
    }

    fn comment(&mut self, at: usize) {
        if self.in_ending_tag == 0 && self.current.is_some() {
            self.push(Cow::Borrowed("mj-raw"), 0..0, at, false);
        }
    }
}

// ---- htmlparser2 9.1's parser (HTML mode): the stack of open elements ----

fn is_void(tag: &str) -> bool {
    matches!(
        tag,
        "area"
            | "base"
            | "basefont"
            | "br"
            | "col"
            | "command"
            | "embed"
            | "frame"
            | "hr"
            | "img"
            | "input"
            | "isindex"
            | "keygen"
            | "link"
            | "meta"
            | "param"
            | "source"
            | "track"
            | "wbr"
    )
}

/// The open elements (on top of the stack) that opening this one closes.
fn implied_closes(tag: &str) -> &'static [&'static str] {
    const P: &[&str] = &["p"];
    const FORM: &[&str] = &[
        "input", "option", "optgroup", "select", "button", "datalist", "textarea",
    ];
    match tag {
        "tr" => &["tr", "th", "td"],
        "th" => &["th"],
        "td" => &["thead", "th", "td"],
        "body" => &["head", "link", "script"],
        "li" => &["li"],
        "select" | "input" | "output" | "button" | "datalist" | "textarea" => FORM,
        "option" => &["option"],
        "optgroup" => &["optgroup", "option"],
        "dd" | "dt" => &["dd", "dt"],
        "rt" | "rp" => &["rt", "rp"],
        "tbody" | "tfoot" => &["thead", "tbody"],
        "p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "address" | "article" | "aside"
        | "blockquote" | "details" | "div" | "dl" | "fieldset" | "figcaption" | "figure"
        | "footer" | "form" | "header" | "hr" | "main" | "nav" | "ol" | "pre" | "section"
        | "table" | "ul" => P,
        _ => &[],
    }
}

#[derive(Default)]
struct Parser<'a> {
    tree: Tree<'a>,
    stack: Vec<Cow<'a, str>>,
    tag: Cow<'a, str>,
    tag_at: usize,
    /// Whether a start tag's attributes are being read, and those read (one buffer).
    reading: bool,
    attributes: Vec<(&'a str, &'a str)>,
    /// The attribute being read: its name and its value, as byte ranges of the source.
    attribute: (usize, usize),
    value: (usize, usize),
}

impl<'a> Parser<'a> {
    fn pop_stack(&mut self) -> Option<Cow<'a, str>> {
        self.stack.pop()
    }

    fn open_tag_name(&mut self, tag: Cow<'a, str>, at: usize) {
        let closes = implied_closes(&tag);
        while self
            .stack
            .last()
            .is_some_and(|t| closes.contains(&t.as_ref()))
        {
            if let Some(closed) = self.pop_stack() {
                self.tree.close(&closed);
            }
        }
        if !is_void(&tag) {
            self.stack.push(tag.clone());
        }
        self.tag = tag;
        self.tag_at = at;
        self.reading = true;
        self.attributes.clear();
    }

    fn attribute_end(&mut self, text: &'a str) {
        let name = std::mem::take(&mut self.attribute);
        let value = std::mem::take(&mut self.value);
        // Inside an ending tag (raw HTML) the element is not kept: nor are its attributes.
        if self.tree.in_ending_tag > 0 {
            return;
        }
        let name = &text[name.0..name.1];
        // Assigning `__proto__` on a JavaScript object does not add a key.
        if self.reading
            && name != "__proto__"
            && !self.attributes.iter().any(|(seen, _)| *seen == name)
        {
            self.attributes.push((name, &text[value.0..value.1]));
        }
    }

    fn end_open_tag(&mut self) {
        if std::mem::take(&mut self.reading) {
            self.tree
                .open(self.tag.clone(), &self.attributes, self.tag_at);
        }
        if is_void(&self.tag) {
            self.tree.close(&self.tag);
        }
    }

    fn close_current_tag(&mut self) {
        let tag = self.tag.clone();
        self.end_open_tag();
        self.tag = Cow::Borrowed("");
        if self.stack.last() == Some(&tag) {
            self.pop_stack();
            self.tree.close(&tag);
        }
    }

    fn close_tag(&mut self, tag: Cow<'a, str>, at: usize) {
        if !is_void(&tag) {
            // The stack is as deep as the document (tens of elements): a scan is cheaper
            // than keeping a count per name.
            if self.stack.contains(&tag) {
                while let Some(closed) = self.pop_stack() {
                    self.tree.close(&closed);
                    if closed == tag {
                        break;
                    }
                }
            } else if tag == "p" {
                // `</p>` with no open `<p>` is `<p></p>`.
                self.open_tag_name(tag, at);
                self.close_current_tag();
            }
        } else if tag == "br" {
            // `</br>` is `<br>`.
            self.tree.open(Cow::Borrowed("br"), &[], at);
            self.tree.close("br");
        }
    }
}

// ---- htmlparser2 9.1's tokenizer (HTML mode, entities not decoded, CDATA recognized) ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Text,
    BeforeTagName,
    InTagName,
    InSelfClosingTag,
    BeforeClosingTagName,
    InClosingTagName,
    AfterClosingTagName,
    BeforeAttributeName,
    InAttributeName,
    AfterAttributeName,
    BeforeAttributeValue,
    InAttributeValue(u8),
    InAttributeValueUnquoted,
    BeforeDeclaration,
    InDeclaration,
    InProcessingInstruction,
    BeforeComment,
    CdataSequence,
    InSpecialComment,
    InCommentLike,
    BeforeSpecialS,
    BeforeSpecialT,
    SpecialStartSequence,
    InSpecialTag,
}

const CDATA: &[u8] = b"CDATA[";
const CDATA_END: &[u8] = b"]]>";
const COMMENT_END: &[u8] = b"-->";
const SCRIPT_END: &[u8] = b"</script";
const STYLE_END: &[u8] = b"</style";
const TITLE_END: &[u8] = b"</title";
const TEXTAREA_END: &[u8] = b"</textarea";

/// JavaScript's `toLowerCase` of a tag name (ASCII names, nearly all, without Unicode tables;
/// a name already in lowercase, nearly all, is not copied).
fn lowercase(name: &str) -> Cow<'_, str> {
    if !name
        .bytes()
        .any(|b| b.is_ascii_uppercase() || !b.is_ascii())
    {
        Cow::Borrowed(name)
    } else if name.is_ascii() {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Owned(name.to_lowercase())
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\t' | b'\x0c' | b'\r')
}

fn ends_tag_section(c: u8) -> bool {
    c == b'/' || c == b'>' || is_space(c)
}

struct Tokenizer<'a> {
    text: &'a str,
    src: &'a [u8],
    state: State,
    index: usize,
    section_start: usize,
    /// The `<` of the markup being read.
    lt: usize,
    sequence: &'static [u8],
    sequence_index: usize,
    special: bool,
    parser: Parser<'a>,
}

fn parse(source: &str) -> Tree<'_> {
    let mut t = Tokenizer {
        text: source,
        src: source.as_bytes(),
        state: State::Text,
        index: 0,
        section_start: 0,
        lt: 0,
        sequence: COMMENT_END,
        sequence_index: 0,
        special: false,
        parser: Parser::default(),
    };
    while t.index < t.src.len() {
        // States that only wait for one byte skip straight to it (memchr): most of a document
        // is text, attribute values and comments.
        let wanted = match t.state {
            State::Text => Some(b'<'),
            State::InAttributeValue(quote) => Some(quote),
            State::InCommentLike if t.sequence_index == 0 => Some(t.sequence[0]),
            State::InDeclaration
            | State::InProcessingInstruction
            | State::AfterClosingTagName
            | State::InSpecialComment => Some(b'>'),
            _ => None,
        };
        if let Some(byte) = wanted {
            match memchr::memchr(byte, &t.src[t.index..]) {
                Some(p) => t.index += p,
                None => break,
            }
        } else {
            // Inside a name, the bytes that do not end it change nothing: skipped.
            let mut rest = t.src[t.index..].iter();
            let skipped = match t.state {
                State::InTagName => rest.position(|&c| ends_tag_section(c)),
                State::InAttributeName => rest.position(|&c| c == b'=' || ends_tag_section(c)),
                State::InClosingTagName => rest.position(|&c| c == b'>' || is_space(c)),
                State::BeforeAttributeName => rest.position(|&c| !is_space(c)),
                _ => Some(0),
            };
            match skipped {
                Some(p) => t.index += p,
                None => break,
            }
        }
        let c = t.src[t.index];
        t.step(c);
        t.index += 1;
    }
    // A comment left open runs to the end of the document.
    if t.state == State::InCommentLike && t.sequence == COMMENT_END && t.section_start < t.src.len()
    {
        t.parser.tree.comment(t.lt);
    }
    t.parser.tree
}

impl<'a> Tokenizer<'a> {
    fn slice(&self, from: usize) -> &'a str {
        &self.text[from.min(self.index)..self.index]
    }

    /// The range [`Self::slice`] would give.
    fn span(&self, from: usize) -> (usize, usize) {
        (from.min(self.index), self.index)
    }

    fn step(&mut self, c: u8) {
        match self.state {
            State::Text => self.text_char(c),
            State::BeforeTagName => self.before_tag_name(c),
            State::InTagName => self.in_tag_name(c),
            State::InSelfClosingTag => {
                if c == b'>' {
                    self.parser.close_current_tag();
                    self.state = State::Text;
                    self.section_start = self.index + 1;
                    self.special = false;
                } else if !is_space(c) {
                    self.state = State::BeforeAttributeName;
                    self.before_attribute_name(c);
                }
            }
            State::BeforeClosingTagName => {
                if c == b'>' {
                    self.state = State::Text;
                } else if !is_space(c) {
                    self.state = if c.is_ascii_alphabetic() {
                        State::InClosingTagName
                    } else {
                        State::InSpecialComment
                    };
                    self.section_start = self.index;
                }
            }
            State::InClosingTagName => self.in_closing_tag_name(c),
            State::AfterClosingTagName => {
                if c == b'>' {
                    self.state = State::Text;
                    self.section_start = self.index + 1;
                }
            }
            State::BeforeAttributeName => self.before_attribute_name(c),
            State::InAttributeName => {
                if c == b'=' || ends_tag_section(c) {
                    self.parser.attribute = self.span(self.section_start);
                    self.section_start = self.index;
                    self.state = State::AfterAttributeName;
                    self.after_attribute_name(c);
                }
            }
            State::AfterAttributeName => self.after_attribute_name(c),
            State::BeforeAttributeValue => {
                if c == b'"' || c == b'\'' {
                    self.state = State::InAttributeValue(c);
                    self.section_start = self.index + 1;
                } else if !is_space(c) {
                    self.section_start = self.index;
                    self.state = State::InAttributeValueUnquoted;
                    self.in_unquoted_value(c);
                }
            }
            State::InAttributeValue(quote) => {
                if c == quote {
                    self.parser.value = self.span(self.section_start);
                    self.parser.attribute_end(self.text);
                    self.state = State::BeforeAttributeName;
                }
            }
            State::InAttributeValueUnquoted => self.in_unquoted_value(c),
            State::BeforeDeclaration => {
                self.state = match c {
                    b'[' => {
                        self.sequence_index = 0;
                        State::CdataSequence
                    }
                    b'-' => State::BeforeComment,
                    _ => State::InDeclaration,
                };
            }
            State::InDeclaration | State::InProcessingInstruction => {
                if c == b'>' {
                    self.state = State::Text;
                    self.section_start = self.index + 1;
                }
            }
            State::BeforeComment => {
                if c == b'-' {
                    self.state = State::InCommentLike;
                    self.sequence = COMMENT_END;
                    // `<!-->` is a whole comment.
                    self.sequence_index = 2;
                    self.section_start = self.index + 1;
                } else {
                    self.state = State::InDeclaration;
                }
            }
            State::CdataSequence => {
                if c == CDATA[self.sequence_index] {
                    self.sequence_index += 1;
                    if self.sequence_index == CDATA.len() {
                        self.state = State::InCommentLike;
                        self.sequence = CDATA_END;
                        self.sequence_index = 0;
                        self.section_start = self.index + 1;
                    }
                } else {
                    self.sequence_index = 0;
                    self.state = State::InDeclaration;
                    if c == b'>' {
                        self.state = State::Text;
                        self.section_start = self.index + 1;
                    }
                }
            }
            State::InSpecialComment => {
                // `</` and a character that cannot start a name: a comment up to `>`.
                if c == b'>' {
                    self.parser.tree.comment(self.lt);
                    self.state = State::Text;
                    self.section_start = self.index + 1;
                }
            }
            State::InCommentLike => {
                if c == self.sequence[self.sequence_index] {
                    self.sequence_index += 1;
                    if self.sequence_index == self.sequence.len() {
                        if self.sequence == COMMENT_END {
                            self.parser.tree.comment(self.lt);
                        }
                        self.sequence_index = 0;
                        self.section_start = self.index + 1;
                        self.state = State::Text;
                    }
                } else if self.sequence_index > 0 && c != self.sequence[self.sequence_index - 1] {
                    // `--->` and `]]]>` still end it.
                    self.sequence_index = 0;
                }
            }
            State::BeforeSpecialS => match c | 0x20 {
                b'c' => self.start_special(SCRIPT_END),
                b't' => self.start_special(STYLE_END),
                _ => {
                    self.state = State::InTagName;
                    self.in_tag_name(c);
                }
            },
            State::BeforeSpecialT => match c | 0x20 {
                b'i' => self.start_special(TITLE_END),
                b'e' => self.start_special(TEXTAREA_END),
                _ => {
                    self.state = State::InTagName;
                    self.in_tag_name(c);
                }
            },
            State::SpecialStartSequence => {
                let at_end = self.sequence_index == self.sequence.len();
                let matches = if at_end {
                    ends_tag_section(c)
                } else {
                    c | 0x20 == self.sequence[self.sequence_index]
                };
                if !matches {
                    self.special = false;
                } else if !at_end {
                    self.sequence_index += 1;
                    return;
                }
                self.sequence_index = 0;
                self.state = State::InTagName;
                self.in_tag_name(c);
            }
            State::InSpecialTag => self.in_special_tag(c),
        }
    }

    fn text_char(&mut self, c: u8) {
        if c == b'<' {
            self.state = State::BeforeTagName;
            self.section_start = self.index;
            self.lt = self.index;
        }
    }

    fn before_tag_name(&mut self, c: u8) {
        if c == b'!' {
            self.state = State::BeforeDeclaration;
            self.section_start = self.index + 1;
        } else if c == b'?' {
            self.state = State::InProcessingInstruction;
            self.section_start = self.index + 1;
        } else if c.is_ascii_alphabetic() {
            self.section_start = self.index;
            self.state = match c | 0x20 {
                b's' => State::BeforeSpecialS,
                b't' => State::BeforeSpecialT,
                _ => State::InTagName,
            };
        } else if c == b'/' {
            self.state = State::BeforeClosingTagName;
        } else {
            self.state = State::Text;
            self.text_char(c);
        }
    }

    fn in_tag_name(&mut self, c: u8) {
        if ends_tag_section(c) {
            let name = lowercase(self.slice(self.section_start));
            self.parser.open_tag_name(name, self.lt);
            self.state = State::BeforeAttributeName;
            self.before_attribute_name(c);
        }
    }

    fn in_closing_tag_name(&mut self, c: u8) {
        if c == b'>' || is_space(c) {
            let name = lowercase(self.slice(self.section_start));
            self.parser.close_tag(name, self.lt);
            self.state = State::AfterClosingTagName;
            if c == b'>' {
                self.state = State::Text;
                self.section_start = self.index + 1;
            }
        }
    }

    fn before_attribute_name(&mut self, c: u8) {
        if c == b'>' {
            self.parser.end_open_tag();
            self.parser.tag = Cow::Borrowed("");
            if self.special {
                self.state = State::InSpecialTag;
                self.sequence_index = 0;
            } else {
                self.state = State::Text;
            }
            self.section_start = self.index + 1;
        } else if c == b'/' {
            self.state = State::InSelfClosingTag;
        } else if !is_space(c) {
            self.state = State::InAttributeName;
            self.section_start = self.index;
        }
    }

    fn after_attribute_name(&mut self, c: u8) {
        if c == b'=' {
            self.state = State::BeforeAttributeValue;
        } else if c == b'/' || c == b'>' {
            self.parser.attribute_end(self.text);
            self.state = State::BeforeAttributeName;
            self.before_attribute_name(c);
        } else if !is_space(c) {
            self.parser.attribute_end(self.text);
            self.state = State::InAttributeName;
            self.section_start = self.index;
        }
    }

    fn in_unquoted_value(&mut self, c: u8) {
        if is_space(c) || c == b'>' {
            self.parser.value = self.span(self.section_start);
            self.parser.attribute_end(self.text);
            self.state = State::BeforeAttributeName;
            self.before_attribute_name(c);
        }
    }

    fn start_special(&mut self, sequence: &'static [u8]) {
        self.special = true;
        self.sequence = sequence;
        self.sequence_index = 4;
        self.state = State::SpecialStartSequence;
    }

    /// Raw text up to the close tag of `<script>`, `<style>`, `<title>`, `<textarea>`.
    fn in_special_tag(&mut self, c: u8) {
        if self.sequence_index == self.sequence.len() {
            if c == b'>' || is_space(c) {
                let end_of_text = self.index - self.sequence.len();
                self.special = false;
                self.lt = end_of_text;
                self.section_start = end_of_text + 2;
                self.in_closing_tag_name(c);
                return;
            }
            self.sequence_index = 0;
        }
        if c | 0x20 == self.sequence[self.sequence_index] {
            self.sequence_index += 1;
        } else if self.sequence_index == 0 {
            if self.sequence != TITLE_END {
                // Straight to the next `<`.
                match self.src[self.index + 1..].iter().position(|&b| b == b'<') {
                    Some(p) => {
                        self.index += 1 + p;
                        self.sequence_index = 1;
                    }
                    None => self.index = self.src.len() - 1,
                }
            }
        } else {
            self.sequence_index = usize::from(c == b'<');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issues(source: &str) -> Vec<(usize, usize, String, String)> {
        validate(source)
            .into_iter()
            .map(|i| (i.line, i.column, i.tag, i.message))
            .collect()
    }

    fn messages(source: &str) -> Vec<String> {
        validate(source).into_iter().map(|i| i.message).collect()
    }

    /// One element in a column, checked.
    fn in_column(element: &str) -> Vec<String> {
        messages(&format!(
            "<mjml><mj-body><mj-section><mj-column>{element}</mj-column></mj-section></mj-body></mjml>"
        ))
    }

    #[test]
    fn levels_parse_and_print() {
        for (text, level) in [
            ("strict", Level::Strict),
            ("soft", Level::Soft),
            ("skip", Level::Skip),
        ] {
            assert_eq!(text.parse::<Level>(), Ok(level));
            assert_eq!(level.to_string(), text);
        }
        assert_eq!(Level::default(), Level::Soft);
        let err = "Strict".parse::<Level>().unwrap_err();
        assert_eq!(err, UnknownLevel("Strict".into()));
        assert!(err.to_string().contains("expected strict, soft or skip"));
    }

    #[test]
    fn a_valid_document_has_no_issues() {
        let doc = "<mjml>\n  <mj-head>\n    <mj-title>Hi</mj-title>\n    <mj-attributes>\n      <mj-all font-family=\"Arial\" />\n      <mj-class name=\"blue\" color=\"blue\" />\n    </mj-attributes>\n  </mj-head>\n  <mj-body background-color=\"#fff\">\n    <mj-section padding=\"0 10px\">\n      <mj-column width=\"50%\">\n        <mj-text mj-class=\"blue\" css-class=\"x\" color=\"rgba(0,0,0,0.5)\">Hi <b>there</b></mj-text>\n        <mj-image src=\"a.png\" fluid-on-mobile=\"true\" />\n      </mj-column>\n    </mj-section>\n  </mj-body>\n</mjml>";
        assert_eq!(issues(doc), vec![]);
    }

    #[test]
    fn unknown_elements() {
        let doc = "<mjml>\n<mj-body>\n  <mj-foo />\n  <mj-section><div>x</div></mj-section>\n</mj-body>\n</mjml>";
        assert_eq!(
            issues(doc),
            vec![
                (
                    3,
                    3,
                    "mj-foo".into(),
                    "Element mj-foo doesn't exist or is not registered".into()
                ),
                (
                    4,
                    15,
                    "div".into(),
                    "Element div doesn't exist or is not registered".into()
                ),
            ]
        );
        // Tags without a component that node knows.
        assert_eq!(
            messages(
                "<mjml><mj-body><mj-all/><mj-class/><mj-selector/><mj-html-attribute/></mj-body></mjml>"
            ),
            Vec::<String>::new()
        );
        // Tag names are lowercased.
        assert_eq!(
            messages("<mjml><mj-body><MJ-FOO/></mj-body></mjml>"),
            vec!["Element mj-foo doesn't exist or is not registered"]
        );
    }

    #[test]
    fn illegal_attributes() {
        assert_eq!(
            in_column("<mj-text foo=\"1\">x</mj-text>"),
            vec!["Attribute foo is illegal"]
        );
        assert_eq!(
            in_column("<mj-text foo=\"1\" bar baz='2' mj-class=\"a\" css-class=\"b\">x</mj-text>"),
            vec!["Attributes foo, bar, baz are illegal"]
        );
        // Components that declare no attributes accept only the global ones.
        assert_eq!(
            messages("<mjml><mj-head lang=\"fr\" mj-class=\"x\"></mj-head></mjml>"),
            vec!["Attribute lang is illegal"]
        );
        // JavaScript's key order: integer-like names first; the first of two same names wins.
        assert_eq!(
            in_column("<mj-text c=\"1\" 10=\"2\" b 2=\"3\" c=\"4\" 01=\"5\">x</mj-text>"),
            vec!["Attributes 2, 10, c, b, 01 are illegal"]
        );
        // The root `mjml` is not checked.
        assert_eq!(messages("<mjml foo=\"1\"></mjml>"), Vec::<String>::new());
    }

    #[test]
    fn children_in_the_wrong_parent() {
        assert_eq!(
            issues("<mjml>\n<mj-body>\n  <mj-column></mj-column>\n</mj-body>\n</mjml>"),
            vec![(
                3,
                3,
                "mj-column".into(),
                "mj-column cannot be used inside mj-body, only inside: mj-attributes, mj-group, mj-section"
                    .into()
            )]
        );
        // A comment is an mj-raw, which mj-carousel does not accept.
        assert_eq!(
            messages(
                "<mjml><mj-body><mj-section><mj-column><mj-carousel><!-- x --></mj-carousel></mj-column></mj-section></mj-body></mjml>"
            ),
            vec![
                "mj-raw cannot be used inside mj-carousel, only inside: mjml, mj-accordion, mj-accordion-element, mj-attributes, mj-body, mj-column, mj-group, mj-head, mj-hero, mj-navbar, mj-section, mj-social, mj-wrapper"
            ]
        );
        // Unknown children are not reported by the parent, only as unknown elements.
        assert_eq!(
            in_column("<mj-foo/>"),
            vec!["Element mj-foo doesn't exist or is not registered"]
        );
        // A component without a dependency entry accepts no child.
        assert_eq!(
            messages(
                "<mjml><mj-head><mj-font name=\"a\" href=\"b\"><mj-title>x</mj-title></mj-font></mj-head></mjml>"
            ),
            vec!["mj-title cannot be used inside mj-font, only inside: mj-attributes, mj-head"]
        );
    }

    #[test]
    fn mj_attributes_children() {
        // Any child is accepted; known components' attributes are still checked, as in node.
        let doc = "<mjml><mj-head><mj-attributes>\n<mj-text foo=\"1\" color=\"nope\" />\n<mj-all anything=\"1\" />\n<mj-class name=\"c\" whatever=\"2\"><mj-button zz=\"1\" /></mj-class>\n<!-- note -->\n<mj-foo />\n</mj-attributes></mj-head></mjml>";
        assert_eq!(
            issues(doc),
            vec![
                (2, 1, "mj-text".into(), "Attribute foo is illegal".into()),
                (
                    2,
                    1,
                    "mj-text".into(),
                    "Attribute color has invalid value: nope for type Color ".into()
                ),
                (4, 33, "mj-button".into(), "Attribute zz is illegal".into()),
                (
                    6,
                    1,
                    "mj-foo".into(),
                    "Element mj-foo doesn't exist or is not registered".into()
                ),
            ]
        );
    }

    #[test]
    fn mj_include_is_dropped() {
        assert_eq!(
            messages(
                "<mjml><mj-body><mj-include path=\"a.mjml\" /><mj-section><mj-include path=\"b\"><mj-column/></mj-include></mj-section></mj-body></mjml>"
            ),
            Vec::<String>::new()
        );
        // Its children belong to its parent.
        assert_eq!(
            messages(
                "<mjml><mj-body><mj-include path=\"x\"><mj-text>a</mj-text></mj-include></mj-body></mjml>"
            ),
            vec![
                "mj-text cannot be used inside mj-body, only inside: mj-attributes, mj-column, mj-hero"
            ]
        );
    }

    #[test]
    fn ending_tag_content_is_not_checked() {
        assert_eq!(
            in_column(
                "<mj-text><mj-foo bar=\"1\"/><!-- c --><mj-text>in</mj-text><p>x</p></mj-text><mj-raw><mj-column/></mj-raw>"
            ),
            Vec::<String>::new()
        );
        // An ending tag left open ends where its parent does.
        assert_eq!(
            messages(
                "<mjml><mj-body><mj-section><mj-column><mj-text>a</mj-column><mj-foo/></mj-section></mj-body></mjml>"
            ),
            vec!["Element mj-foo doesn't exist or is not registered"]
        );
    }

    #[test]
    fn markup_like_node_reads_it() {
        // An unquoted value takes the `/`: the image stays open and holds the text.
        assert_eq!(
            in_column("<mj-image src=a.png/><mj-text>x</mj-text>"),
            vec![
                "mj-text cannot be used inside mj-image, only inside: mj-attributes, mj-column, mj-hero"
            ]
        );
        // `</mj-text>` inside a <script> is script text.
        assert_eq!(
            in_column("<mj-text><script>var a = '</mj-text>';</script></mj-text><mj-foo/>"),
            vec!["Element mj-foo doesn't exist or is not registered"]
        );
        // Void HTML elements close themselves; a close tag that names nothing open is ignored.
        assert_eq!(
            in_column("<br><img></mj-section><mj-foo/>"),
            vec![
                "Element br doesn't exist or is not registered",
                "Element img doesn't exist or is not registered",
                "Element mj-foo doesn't exist or is not registered",
            ]
        );
        // CDATA, declarations, processing instructions and `<` that opens no tag are text.
        assert_eq!(
            in_column("<![CDATA[<mj-foo/>]]><!DOCTYPE x><?php x ?>a < b<mj-divider/>"),
            Vec::<String>::new()
        );
        // A stray `</p>` is `<p></p>`.
        assert_eq!(
            in_column("</p>"),
            vec!["Element p doesn't exist or is not registered"]
        );
        // `/ >` closes too.
        assert_eq!(
            in_column("<mj-divider / ><mj-spacer/>"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn the_last_top_level_element_is_the_document() {
        assert_eq!(
            messages("<mjml><mj-body><mj-foo/></mj-body></mjml><mj-bar/>"),
            vec!["Element mj-bar doesn't exist or is not registered"]
        );
        assert_eq!(messages(""), Vec::<String>::new());
        assert_eq!(messages("just text <!-- c -->"), Vec::<String>::new());
    }

    #[test]
    fn positions() {
        // `\r\n` and a lone `\r` are one line break (node counts `\n` only).
        let doc = "<mjml>\r\n<mj-body>\r\n  <mj-foo/>\r\t<mj-bar/>\n <mj-baz/></mj-body></mjml>";
        let found: Vec<_> = issues(doc)
            .into_iter()
            .map(|(l, c, t, _)| (l, c, t))
            .collect();
        assert_eq!(
            found,
            vec![
                (3, 3, "mj-foo".to_string()),
                (4, 2, "mj-bar".to_string()),
                (5, 2, "mj-baz".to_string())
            ]
        );
        // The `<`'s line, where node gives the close tag's line (1).
        let doc = "<mjml><mj-body><mj-section><mj-column><mj-text>a</mj-text \n><mj-foo/></mj-column></mj-section></mj-body></mjml>";
        assert_eq!(issues(doc)[0].0, 2);
        // Columns count characters.
        let doc = "<mjml><mj-body>éé<mj-foo/></mj-body></mjml>";
        assert_eq!(issues(doc)[0].1, 18);
        // A comment's position is its `<!--`.
        let doc = "<mjml><mj-body><mj-section><mj-column><mj-carousel>\n  <!-- x --></mj-carousel></mj-column></mj-section></mj-body></mjml>";
        assert_eq!(issues(doc)[0].0, 2);
        assert_eq!(issues(doc)[0].1, 3);
    }

    #[test]
    fn comments_and_unfinished_markup() {
        // `<!-->` and `<!--->` are whole comments; an open comment runs to the end.
        let carousel = |inner: &str| {
            messages(&format!(
                "<mjml><mj-body><mj-section><mj-column><mj-carousel>{inner}"
            ))
            .len()
        };
        assert_eq!(carousel("<!-->"), 1);
        assert_eq!(carousel("<!--->"), 1);
        assert_eq!(carousel("<!-- open"), 1);
        assert_eq!(carousel("</1>"), 1);
        assert_eq!(carousel("<!-x>"), 0);
        // A tag left unfinished at the end is dropped.
        assert_eq!(carousel("<mj-foo a=\"1"), 0);
    }

    #[test]
    fn type_unit() {
        let ok = |v: &str, t: &str| {
            let Some(Type::Unit {
                negative,
                units,
                count,
            }) = parse_type(t)
            else {
                panic!("{t}")
            };
            unit_matches(v, negative, units, count)
        };
        for v in [
            "10px",
            "10%",
            "0",
            "1.5px",
            ",px",
            "10px ",
            "1px 2px 3px 4px",
            "0 10px",
            "00",
        ] {
            assert!(ok(v, "unit(px,%){1,4}"), "{v}");
        }
        for v in [
            "",
            "px",
            "10",
            "10PX",
            " 10px",
            "10px  2px",
            "1px 2px 3px 4px 5px",
            "-1px",
            "auto",
        ] {
            assert!(!ok(v, "unit(px,%){1,4}"), "{v}");
        }
        assert!(!ok("0 0", "unit(px)"));
        assert!(ok("auto", "unit(px,auto)"));
        assert!(ok("-1.5em", "unitWithNegative(px,em)"));
        assert!(ok("1.5", "unit(px,%,)"));
        assert!(ok("1px2px", "unit(px){2}"));
        assert!(!ok("1px", "unit(px){2}"));
        assert_eq!(
            in_column("<mj-text padding=\"1px 2px 3px 4px 5px\" line-height=\"x\">a</mj-text>"),
            vec![
                "Attribute padding has invalid value: 1px 2px 3px 4px 5px for type Unit, only accepts (px, %) units and 1 to 4 value(s)",
                "Attribute line-height has invalid value: x for type Unit, only accepts (px, %, ) units and 1 value(s)",
            ]
        );
        assert_eq!(
            in_column("<mj-image height=\"big\" />"),
            vec![
                "Attribute height has invalid value: big for type Unit, only accepts (px, auto) units and 1 value(s)"
            ]
        );
    }

    #[test]
    fn type_color() {
        for v in [
            "#fff",
            "#A1B2C3",
            "red",
            "transparent",
            "inherit",
            "rgb(0,0,0)",
            "RGB(1, 2, 3)",
            "rgba(0,0,0,0.5)",
            "rgba(255, 255, 255, 1)",
            "x rgb(1,2,3) y",
            "rgba(1,\u{a0}2,3,0.125)",
        ] {
            assert!(is_color(v), "{v}");
        }
        for v in [
            "",
            "Red",
            "#ffff",
            "#ff",
            "#fffffff",
            "#ggg",
            "rgb(0,0)",
            "rgb(1000,0,0)",
            "rgb( 0,0,0)",
            "rgba(0,0,0,.5)",
            "rgba(0,0,0,0.1234)",
            "hsl(0, 0%, 0%)",
            "rgb(0,  0,0)",
        ] {
            assert!(!is_color(v), "{v}");
        }
        assert_eq!(
            in_column("<mj-text color=\"hsl(0,0%,0%)\">a</mj-text>"),
            vec!["Attribute color has invalid value: hsl(0,0%,0%) for type Color "]
        );
    }

    #[test]
    fn type_enum_boolean_integer_string() {
        assert_eq!(
            in_column("<mj-text align=\"middle\">a</mj-text>"),
            vec![
                "Attribute align has invalid value: middle for type Enum, only accepts left, right, center, justify"
            ]
        );
        assert_eq!(
            in_column("<mj-image fluid-on-mobile=\"yes\" />"),
            vec!["Attribute fluid-on-mobile has invalid value: yes for type Boolean "]
        );
        assert_eq!(
            in_column("<mj-image fluid-on-mobile=\"false\" />"),
            Vec::<String>::new()
        );
        assert_eq!(
            in_column("<mj-table cellpadding=\"none\" cellspacing=\"a1\" />"),
            vec!["Attribute cellpadding has invalid value: none for type NInteger "]
        );
        assert_eq!(in_column("<mj-image alt=\"\" src />"), Vec::<String>::new());
        // An empty enum value is accepted when declared (full-width="").
        assert_eq!(
            messages(
                "<mjml><mj-body><mj-section full-width=\"\"/><mj-section full-width=\"false\"/><mj-section full-width=\"no\"/></mj-body></mjml>"
            ),
            vec![
                "Attribute full-width has invalid value: no for type Enum, only accepts full-width, false, "
            ]
        );
    }

    #[test]
    fn dollar_patterns_in_values_are_replaced_as_javascript_does() {
        assert_eq!(
            replace_value("a $value b", "x$$y$&z$`w$'v$1$"),
            "a x$y$valueza w bv$1$ b"
        );
        // The value is inlined first for Color, Boolean and NInteger, then replaced again.
        assert_eq!(
            in_column("<mj-text color=\"x$valuey\" align=\"$&\">a</mj-text>"),
            vec![
                "Attribute color has invalid value: xx$valueyy for type Color ",
                "Attribute align has invalid value: $value for type Enum, only accepts left, right, center, justify",
            ]
        );
    }

    #[test]
    fn types_are_parsed_like_mjml_core() {
        assert_eq!(parse_type("boolean"), Some(Type::Boolean));
        assert_eq!(parse_type("enum(a,b,)"), Some(Type::Enum("a,b,")));
        assert_eq!(
            parse_type("unitWithNegative(px,em){1,4}"),
            Some(Type::Unit {
                negative: true,
                units: "px,em",
                count: "1,4"
            })
        );
        assert_eq!(parse_type("strange"), None);
        // Every type node declares is understood.
        for component in mjml_rules::COMPONENTS {
            for (name, declaration) in component.attributes {
                assert!(
                    parse_type(declaration).is_some(),
                    "{} {name}: {declaration}",
                    component.tag
                );
            }
        }
    }

    #[test]
    fn hostile_input_stays_linear() {
        // Deep nesting and many close tags that name nothing open.
        let n = 200_000;
        let doc = format!(
            "<mjml><mj-body>{}{}</mj-body></mjml>",
            "<mj-section>".repeat(n),
            "</x>".repeat(n)
        );
        let found = validate(&doc);
        assert_eq!(found.len(), n - 1);
        let value = "1".repeat(100_000);
        assert_eq!(
            in_column(&format!("<mj-text padding=\"{value}\">a</mj-text>")).len(),
            1
        );
        assert_eq!(
            in_column(&format!(
                "<mj-text color=\"{}\">a</mj-text>",
                "rgba(".repeat(20_000)
            ))
            .len(),
            1
        );
    }
}
