//! CSS selectors for the passes over compiled HTML (`<mj-style inline="inline">` and
//! `<mj-html-attributes>`): parsed once, matched against the element being read and the stack
//! of its open ancestors, right to left, while the HTML streams by ([`crate::inline_css`]).
//!
//! Read: `*`, types, `#id`, `.class`, attributes (`[a]`, `[a=v]`, `~=`, `|=`, `^=`, `$=`,
//! `*=`, with the ` i` flag), `:first-child`, `:nth-child(an+b)`, `:first-of-type`,
//! `:nth-of-type(an+b)`, `:not(…)` of a compound selector, and the descendant and child
//! combinators. Sibling combinators and pseudo-classes that need what comes later in the page
//! (`:last-child`, `:only-child`…) or a state (`:hover`) are refused with a reason: a stream
//! read once cannot answer them.

use std::borrow::{Borrow, Cow};
use std::fmt;

/// A selector (one of a comma-separated list): compounds left to right, joined by combinators.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    compounds: Vec<Compound>,
    /// `combinators[i]` joins `compounds[i]` and `compounds[i + 1]`.
    combinators: Vec<Combinator>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Combinator {
    Descendant,
    Child,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct Compound {
    /// Lowercase; `None` for `*` or none written.
    tag: Option<String>,
    simple: Vec<Simple>,
}

#[derive(Debug, Clone, PartialEq)]
enum Simple {
    Id(String),
    Class(String),
    Attribute {
        /// Lowercase (HTML attribute names are not case-sensitive).
        name: String,
        op: AttrOp,
        value: String,
        ignore_case: bool,
    },
    /// `:nth-child(an+b)` (`:first-child` is `(0, 1)`).
    NthChild(i64, i64),
    NthOfType(i64, i64),
    Not(Box<Compound>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttrOp {
    Exists,
    Equals,
    /// `~=`: one of the whitespace-separated words.
    Includes,
    /// `|=`: equal, or starts with the value and `-`.
    Dash,
    Prefix,
    Suffix,
    Substring,
}

/// Why a selector is not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorError(pub String);

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SelectorError {}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b >= 0x80
}

struct Reader<'a> {
    s: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.at).copied()
    }

    fn ident(&mut self) -> &'a str {
        let start = self.at;
        while self.peek().is_some_and(is_ident_byte) {
            self.at += 1;
        }
        &self.s[start..self.at]
    }

    fn skip_spaces(&mut self) -> bool {
        let start = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
        self.at > start
    }

    fn error<T>(&self, what: &str) -> Result<T, SelectorError> {
        Err(SelectorError(format!(
            "{what} at character {}",
            self.at + 1
        )))
    }

    /// A compound selector: a type or `*`, then ids, classes, attributes and pseudo-classes.
    fn compound(&mut self) -> Result<Compound, SelectorError> {
        let mut compound = Compound::default();
        let start = self.at;
        if self.peek() == Some(b'*') {
            self.at += 1;
        } else if self.peek().is_some_and(is_ident_byte) {
            compound.tag = Some(self.ident().to_ascii_lowercase());
        }
        loop {
            match self.peek() {
                Some(b'#') => {
                    self.at += 1;
                    let id = self.ident();
                    if id.is_empty() {
                        return self.error("an id is expected after '#'");
                    }
                    compound.simple.push(Simple::Id(id.to_string()));
                }
                Some(b'.') => {
                    self.at += 1;
                    let class = self.ident();
                    if class.is_empty() {
                        return self.error("a class is expected after '.'");
                    }
                    compound.simple.push(Simple::Class(class.to_string()));
                }
                Some(b'[') => {
                    self.at += 1;
                    compound.simple.push(self.attribute()?);
                }
                Some(b':') => {
                    self.at += 1;
                    if self.peek() == Some(b':') {
                        return self.error("pseudo-elements cannot be inlined");
                    }
                    compound.simple.push(self.pseudo()?);
                }
                _ => break,
            }
        }
        if self.at == start {
            return self.error("a selector is expected");
        }
        Ok(compound)
    }

    fn attribute(&mut self) -> Result<Simple, SelectorError> {
        self.skip_spaces();
        let name = self.ident().to_ascii_lowercase();
        if name.is_empty() {
            return self.error("an attribute name is expected");
        }
        self.skip_spaces();
        let op = match self.peek() {
            Some(b']') => {
                self.at += 1;
                return Ok(Simple::Attribute {
                    name,
                    op: AttrOp::Exists,
                    value: String::new(),
                    ignore_case: false,
                });
            }
            Some(b'=') => AttrOp::Equals,
            Some(b'~') => AttrOp::Includes,
            Some(b'|') => AttrOp::Dash,
            Some(b'^') => AttrOp::Prefix,
            Some(b'$') => AttrOp::Suffix,
            Some(b'*') => AttrOp::Substring,
            _ => return self.error("an attribute operator is expected"),
        };
        self.at += if op == AttrOp::Equals { 1 } else { 2 };
        if op != AttrOp::Equals && self.s.as_bytes().get(self.at - 1) != Some(&b'=') {
            return self.error("'=' is expected");
        }
        self.skip_spaces();
        let value = match self.peek() {
            Some(q @ (b'"' | b'\'')) => {
                let rest = &self.s[self.at + 1..];
                let Some(end) = rest.find(q as char) else {
                    return self.error("the quoted value is not closed");
                };
                self.at += end + 2;
                rest[..end].to_string()
            }
            _ => {
                let v = self.ident();
                if v.is_empty() {
                    return self.error("an attribute value is expected");
                }
                v.to_string()
            }
        };
        self.skip_spaces();
        let mut ignore_case = false;
        if let Some(flag @ (b'i' | b'I' | b's' | b'S')) = self.peek() {
            ignore_case = flag | 0x20 == b'i';
            self.at += 1;
            self.skip_spaces();
        }
        if self.peek() != Some(b']') {
            return self.error("']' is expected");
        }
        self.at += 1;
        Ok(Simple::Attribute {
            name,
            op,
            value,
            ignore_case,
        })
    }

    fn pseudo(&mut self) -> Result<Simple, SelectorError> {
        let name = self.ident().to_ascii_lowercase();
        let argument = |r: &mut Self| -> Result<&'a str, SelectorError> {
            if r.peek() != Some(b'(') {
                return r.error("'(' is expected");
            }
            let rest = &r.s[r.at + 1..];
            let mut depth = 1;
            for (i, b) in rest.bytes().enumerate() {
                match b {
                    b'(' => depth += 1,
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            r.at += i + 2;
                            return Ok(&rest[..i]);
                        }
                    }
                    _ => {}
                }
            }
            r.error("')' is expected")
        };
        match name.as_str() {
            "first-child" => Ok(Simple::NthChild(0, 1)),
            "first-of-type" => Ok(Simple::NthOfType(0, 1)),
            "nth-child" => {
                let (a, b) = nth(argument(self)?)
                    .ok_or_else(|| SelectorError(format!(":nth-child() of {name:?}")))?;
                Ok(Simple::NthChild(a, b))
            }
            "nth-of-type" => {
                let (a, b) = nth(argument(self)?)
                    .ok_or_else(|| SelectorError(format!(":nth-of-type() of {name:?}")))?;
                Ok(Simple::NthOfType(a, b))
            }
            "not" => {
                let inner = argument(self)?.trim();
                let mut r = Reader { s: inner, at: 0 };
                let compound = r.compound()?;
                if r.at != inner.len() {
                    return Err(SelectorError(format!(
                        ":not({inner}) takes one compound selector"
                    )));
                }
                Ok(Simple::Not(Box::new(compound)))
            }
            "" => self.error("a pseudo-class is expected after ':'"),
            other => Err(SelectorError(format!(
                ":{other} cannot be inlined (it needs what comes later in the page, or a state)"
            ))),
        }
    }
}

/// `an+b` (`odd`, `even`, `3`, `n`, `-n+3`, `2n - 1`).
fn nth(argument: &str) -> Option<(i64, i64)> {
    let s: String = argument
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    match s.as_str() {
        "odd" => return Some((2, 1)),
        "even" => return Some((2, 0)),
        _ => {}
    }
    match s.split_once('n') {
        None => s.parse().ok().map(|b| (0, b)),
        Some((a, b)) => {
            let a = match a {
                "" | "+" => 1,
                "-" => -1,
                a => a.parse().ok()?,
            };
            let b = if b.is_empty() {
                0
            } else if let Some(digits) = b.strip_prefix('+') {
                digits.parse().ok()?
            } else {
                -b.strip_prefix('-')?.parse::<i64>().ok()?
            };
            Some((a, b))
        }
    }
}

impl std::str::FromStr for Selector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let mut r = Reader { s, at: 0 };
        let mut selector = Selector {
            compounds: vec![r.compound()?],
            combinators: Vec::new(),
        };
        while r.at < s.len() {
            let spaced = r.skip_spaces();
            let combinator = match r.peek() {
                None => break,
                Some(b'>') => {
                    r.at += 1;
                    r.skip_spaces();
                    Combinator::Child
                }
                Some(b'+' | b'~') => return r.error("sibling combinators cannot be inlined"),
                Some(b',') => return r.error("one selector is expected, not a list"),
                Some(_) if spaced => Combinator::Descendant,
                Some(_) => return r.error("unexpected character"),
            };
            selector.combinators.push(combinator);
            selector.compounds.push(r.compound()?);
        }
        Ok(selector)
    }
}

/// A name, an id or a class an element can carry (see [`Selector::ancestor_keys`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Tag(String),
    Id(String),
    Class(String),
}

impl Key {
    /// Which of `keys` (the first 64) `element` carries, as bits.
    pub fn bits(keys: &[Key], element: &Element<'_>) -> u64 {
        let mut bits = 0;
        let id = element.attribute("id");
        let class = element.attribute("class");
        for (i, key) in keys.iter().take(64).enumerate() {
            let on = match key {
                Key::Tag(tag) => *tag == element.name,
                Key::Id(want) => id == Some(want.as_str()),
                Key::Class(want) => {
                    class.is_some_and(|c| c.split_ascii_whitespace().any(|w| w == want))
                }
            };
            if on {
                bits |= 1 << i;
            }
        }
        bits
    }
}

/// Which elements can concern a set of selectors at all, as subject or as ancestor: those
/// that carry the name, ids and classes of one of their compounds (the other conditions are
/// left to [`Selector::matches`]). An element that concerns none can be matched by no
/// compound: the pass need not read its other attributes.
#[derive(Debug, Default)]
pub struct Prefilter {
    /// Per compound: its name (if any), ids and classes.
    compounds: Vec<(Option<String>, Vec<String>, Vec<String>)>,
    /// A compound requires no name, id nor class (`*`, `[href]`, `:first-child`): every
    /// element concerns it.
    every: bool,
}

impl Prefilter {
    pub fn new<'s>(selectors: impl IntoIterator<Item = &'s Selector>) -> Prefilter {
        let mut filter = Prefilter::default();
        for compound in selectors.into_iter().flat_map(|s| &s.compounds) {
            let mut ids = Vec::new();
            let mut classes = Vec::new();
            for simple in &compound.simple {
                match simple {
                    Simple::Id(id) => ids.push(id.clone()),
                    Simple::Class(class) => classes.push(class.clone()),
                    _ => {}
                }
            }
            if compound.tag.is_none() && ids.is_empty() && classes.is_empty() {
                filter.every = true;
            }
            let entry = (compound.tag.clone(), ids, classes);
            if !filter.compounds.contains(&entry) {
                filter.compounds.push(entry);
            }
        }
        filter
    }

    /// Whether an element named `name` (lowercase) with this `id` and `class` attribute can be
    /// matched by one of the compounds.
    pub fn concerns(&self, name: &str, id: Option<&str>, class: Option<&str>) -> bool {
        self.every
            || self.compounds.iter().any(|(tag, ids, classes)| {
                tag.as_ref().is_none_or(|t| t == name)
                    && ids.iter().all(|want| id == Some(want.as_str()))
                    && classes.iter().all(|want| {
                        class.is_some_and(|c| c.split_ascii_whitespace().any(|w| w == want))
                    })
            })
    }
}

/// An element as the matcher sees it: its name (lowercase), its attributes (names lowercase,
/// values decoded) and its place among its parent's children (1-based).
#[derive(Debug, Clone)]
pub struct Element<'h> {
    pub name: Cow<'h, str>,
    pub attributes: Vec<(Cow<'h, str>, Cow<'h, str>)>,
    pub index: u32,
    pub type_index: u32,
}

impl Element<'_> {
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_ref())
    }
}

fn nth_matches((a, b): (i64, i64), index: u32) -> bool {
    // In i128: any a and b a selector can write stay exact.
    let (a, b, i) = (i128::from(a), i128::from(b), i128::from(index));
    if a == 0 {
        return i == b;
    }
    let diff = i - b;
    diff % a == 0 && diff / a >= 0
}

impl Compound {
    fn matches(&self, el: &Element<'_>) -> bool {
        if let Some(tag) = &self.tag
            && *tag != el.name
        {
            return false;
        }
        self.simple.iter().all(|s| match s {
            Simple::Id(id) => el.attribute("id") == Some(id.as_str()),
            Simple::Class(class) => el
                .attribute("class")
                .is_some_and(|c| c.split_ascii_whitespace().any(|w| w == class)),
            Simple::Attribute {
                name,
                op,
                value,
                ignore_case,
            } => el.attribute(name).is_some_and(|have| {
                let (have, want): (Cow<'_, str>, Cow<'_, str>) = if *ignore_case {
                    (
                        have.to_ascii_lowercase().into(),
                        value.to_ascii_lowercase().into(),
                    )
                } else {
                    (have.into(), value.as_str().into())
                };
                match op {
                    AttrOp::Exists => true,
                    AttrOp::Equals => have == want,
                    AttrOp::Includes => have.split_ascii_whitespace().any(|w| w == want),
                    AttrOp::Dash => {
                        have == want
                            || have
                                .strip_prefix(want.as_ref())
                                .is_some_and(|r| r.starts_with('-'))
                    }
                    AttrOp::Prefix => !want.is_empty() && have.starts_with(want.as_ref()),
                    AttrOp::Suffix => !want.is_empty() && have.ends_with(want.as_ref()),
                    AttrOp::Substring => !want.is_empty() && have.contains(want.as_ref()),
                }
            }),
            Simple::NthChild(a, b) => nth_matches((*a, *b), el.index),
            Simple::NthOfType(a, b) => nth_matches((*a, *b), el.type_index),
            Simple::Not(inner) => !inner.matches(el),
        })
    }
}

impl Selector {
    /// Whether the selector matches `element`, whose open ancestors are `ancestors` (the root
    /// first, its parent last).
    pub fn matches<'h, A: Borrow<Element<'h>>>(
        &self,
        ancestors: &[A],
        element: &Element<'_>,
    ) -> bool {
        self.may_match(element) && self.ancestors_match(ancestors)
    }

    /// Whether the compounds left of the last one match among `ancestors` (the root first, the
    /// parent of an element [`Selector::may_match`] accepted last).
    pub fn ancestors_match<'h, A: Borrow<Element<'h>>>(&self, ancestors: &[A]) -> bool {
        let last = self.compounds.len() - 1;
        // With two combinators or more, a descendant combinator tries every ancestor, and the
        // compounds left of it again for each: answers are remembered (one per compound and
        // depth), so that a long selector on a deep page stays polynomial, not exponential.
        let width = ancestors.len() + 1;
        let mut memo = if self.combinators.len() >= 2 {
            vec![None; last * width]
        } else {
            Vec::new()
        };
        self.matches_from(last, ancestors, width, &mut memo)
    }

    /// Whether compounds `..k` match among `ancestors`, compound `k` having matched the element
    /// just below them.
    fn matches_from<'h, A: Borrow<Element<'h>>>(
        &self,
        k: usize,
        ancestors: &[A],
        width: usize,
        memo: &mut [Option<bool>],
    ) -> bool {
        if k == 0 {
            return true;
        }
        let key = (k - 1) * width + ancestors.len();
        if let Some(Some(known)) = memo.get(key) {
            return *known;
        }
        let compound = &self.compounds[k - 1];
        let answer = match self.combinators[k - 1] {
            Combinator::Child => match ancestors.split_last() {
                Some((parent, above)) => {
                    compound.matches(parent.borrow())
                        && self.matches_from(k - 1, above, width, memo)
                }
                None => false,
            },
            Combinator::Descendant => (0..ancestors.len()).rev().any(|j| {
                compound.matches(ancestors[j].borrow())
                    && self.matches_from(k - 1, &ancestors[..j], width, memo)
            }),
        };
        if let Some(slot) = memo.get_mut(key) {
            *slot = Some(answer);
        }
        answer
    }

    /// The names, ids and classes the compounds left of the last one require (outside
    /// `:not()`): for the selector to match an element, each is on one of its ancestors.
    pub fn ancestor_keys(&self) -> Vec<Key> {
        let mut keys = Vec::new();
        for compound in &self.compounds[..self.compounds.len() - 1] {
            if let Some(tag) = &compound.tag {
                keys.push(Key::Tag(tag.clone()));
            }
            for simple in &compound.simple {
                match simple {
                    Simple::Id(id) => keys.push(Key::Id(id.clone())),
                    Simple::Class(class) => keys.push(Key::Class(class.clone())),
                    _ => {}
                }
            }
        }
        keys
    }

    /// Whether a compound of the selector counts its element among its siblings of the same
    /// name (`:first-of-type`, `:nth-of-type()`, also inside `:not()`).
    pub fn counts_of_type(&self) -> bool {
        fn compound(c: &Compound) -> bool {
            c.simple.iter().any(|s| match s {
                Simple::NthOfType(..) => true,
                Simple::Not(inner) => compound(inner),
                _ => false,
            })
        }
        self.compounds.iter().any(compound)
    }

    /// A cheap test on the element alone: `false` when the rightmost compound cannot match it.
    pub fn may_match(&self, element: &Element<'_>) -> bool {
        self.compounds[self.compounds.len() - 1].matches(element)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el<'a>(name: &'a str, attrs: &[(&'a str, &'a str)], index: u32) -> Element<'a> {
        Element {
            name: name.into(),
            attributes: attrs
                .iter()
                .map(|(n, v)| ((*n).into(), (*v).into()))
                .collect(),
            index,
            type_index: index,
        }
    }

    fn sel(s: &str) -> Selector {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn reads_what_email_style_sheets_use_and_refuses_the_rest() {
        for ok in [
            "*",
            "p",
            "div.a > p#x[href]",
            "a:not(.b)",
            "li:nth-child(2n+1)",
            "td:first-child",
            "[data-x|=en]",
            "a[href^='https' i]",
            "table   td .k",
            "p:nth-of-type(odd)",
        ] {
            sel(ok);
        }
        for bad in [
            "a + b",
            "a ~ b",
            "p::before",
            "li:last-child",
            "a:hover",
            "",
            "a,b",
            "[x",
            ".",
        ] {
            assert!(bad.parse::<Selector>().is_err(), "{bad} was read");
        }
    }

    #[test]
    fn matches_right_to_left_with_combinators() {
        let html = el("html", &[], 1);
        let table = el("table", &[("class", "outer wide")], 1);
        let td = el("td", &[("id", "x")], 2);
        let p = el("p", &[("class", "k"), ("lang", "en-GB")], 1);
        let chain = [&html, &table, &td];
        assert!(sel("table p").matches(&chain, &p));
        assert!(sel(".outer .k").matches(&chain, &p));
        assert!(sel("td > p.k").matches(&chain, &p));
        assert!(!sel("table > p").matches(&chain, &p));
        assert!(sel("table > td > p").matches(&chain, &p));
        assert!(sel("#x p:first-child").matches(&chain, &p));
        assert!(!sel("td:first-child p").matches(&chain, &p));
        assert!(sel("td:nth-child(2n) p").matches(&chain, &p));
        assert!(sel("p[lang|=en]").matches(&chain, &p));
        assert!(sel("p[class~=k]:not(.z)").matches(&chain, &p));
        assert!(!sel("p:not(.k)").matches(&chain, &p));
        assert!(sel("[CLASS$=IDE i]").matches(&chain[..1], &table));
        assert!(!sel("[class$=IDE]").matches(&chain[..1], &table));
    }

    #[test]
    fn hostile_selectors_neither_panic_nor_take_exponential_time() {
        assert!("li:nth-child(2né)".parse::<Selector>().is_err());
        assert!("li:nth-child(n+é)".parse::<Selector>().is_err());
        let extreme = sel("li:nth-child(-9223372036854775807n-9223372036854775807)");
        assert!(!extreme.matches::<Element<'_>>(&[], &el("li", &[], 1)));
        // 30 descendant compounds against 200 nested elements, none matching the leftmost: a
        // search without memory would try every way to place them (C(200, 29)).
        let long: String = std::iter::once("b".to_string())
            .chain(std::iter::repeat_n("div".to_string(), 29))
            .collect::<Vec<_>>()
            .join(" ");
        let deep: Vec<Element<'_>> = (0..200).map(|_| el("div", &[], 1)).collect();
        assert!(!sel(&long).matches(&deep, &el("div", &[], 1)));
        let mixed = "b div > div div > div div > div div > div div > div div";
        assert!(!sel(mixed).matches(&deep, &el("div", &[], 1)));
        assert!(sel("div div > div div").matches(&deep, &el("div", &[], 1)));
    }

    #[test]
    fn the_prefilter_keeps_what_a_compound_could_match() {
        let selectors = [sel(".card td"), sel("a.cta#go"), sel("div:not(.x) > p")];
        let filter = Prefilter::new(&selectors);
        // Subjects and ancestors alike.
        assert!(filter.concerns("td", None, None));
        assert!(filter.concerns("table", None, Some("wide card")));
        assert!(filter.concerns("div", None, Some("x")));
        assert!(filter.concerns("a", Some("go"), Some("cta big")));
        // Names, ids and classes no compound has.
        assert!(!filter.concerns("table", None, Some("cards")));
        assert!(!filter.concerns("a", Some("go"), None));
        assert!(!filter.concerns("a", None, Some("cta")));
        assert!(!filter.concerns("span", Some("card"), None));
        // A compound that needs no name, id or class concerns every element.
        let every = [sel("td"), sel("[data-role=note]")];
        assert!(Prefilter::new(&every).concerns("span", None, None));
        assert!(Prefilter::new(&[sel(":first-child")]).concerns("b", None, None));
    }

    #[test]
    fn ancestor_keys_are_what_the_left_compounds_require() {
        let keys = sel("table.a > td#x:not(.z) p.k").ancestor_keys();
        assert_eq!(
            keys,
            vec![
                Key::Tag("table".into()),
                Key::Class("a".into()),
                Key::Tag("td".into()),
                Key::Id("x".into()),
            ]
        );
        let td = el("td", &[("id", "x"), ("class", "b a")], 1);
        assert_eq!(Key::bits(&keys, &td), 0b1110);
    }

    #[test]
    fn nth_formulas() {
        assert_eq!(nth("odd"), Some((2, 1)));
        assert_eq!(nth(" 2n - 1 "), Some((2, -1)));
        assert_eq!(nth("-n+3"), Some((-1, 3)));
        assert_eq!(nth("5"), Some((0, 5)));
        assert!(nth_matches((-1, 3), 3) && nth_matches((-1, 3), 1) && !nth_matches((-1, 3), 4));
        assert!(nth_matches((2, -1), 1) && nth_matches((2, -1), 3) && !nth_matches((2, -1), 2));
    }
}
