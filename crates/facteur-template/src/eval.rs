//! Rendering: variables, truthiness, operators and functions. Values borrow from the context
//! whenever they can (`Cow::Borrowed`): a loop over the message's Variables copies nothing.

use std::borrow::Cow;

use serde_json::Value;

use crate::syntax::{BinOp, Expr, Func, Namespace, Node, number};
use crate::{Context, Mode, TemplateError, escape_html};

/// Deepest loop nesting and most loop iterations per render: a template cannot run away.
const MAX_DEPTH: usize = 64;
const MAX_ITERATIONS: usize = 1_000_000;

struct Renderer<'a> {
    src: &'a str,
    ctx: Context<'a>,
    mode: Mode,
    /// Loop and `set` variables, innermost last; `frames` marks where each loop's begin.
    vars: Vec<(&'a str, Cow<'a, Value>)>,
    frames: Vec<usize>,
    iterations: usize,
}

/// The tree, the source and the context share one lifetime (a caller's longer-lived context
/// shrinks to it), so names and literals are borrowed, not copied, per render.
pub fn render<'a>(
    nodes: &'a [Node],
    src: &'a str,
    ctx: &Context<'a>,
    mode: Mode,
) -> Result<String, TemplateError> {
    let mut r = Renderer {
        src,
        ctx: *ctx,
        mode,
        vars: Vec::new(),
        frames: Vec::new(),
        iterations: 0,
    };
    let mut out = String::with_capacity(src.len() + src.len() / 4);
    r.nodes(nodes, &mut out)?;
    Ok(out)
}

impl<'a> Renderer<'a> {
    fn nodes(&mut self, nodes: &'a [Node], out: &mut String) -> Result<(), TemplateError> {
        for node in nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Print { expr, lenient } => match self.eval(expr) {
                    Ok(v) => write_value(out, &v, self.mode),
                    Err(_) if *lenient => {}
                    Err(e) => return Err(e),
                },
                Node::If {
                    branches,
                    otherwise,
                } => {
                    let mut taken = false;
                    for (cond, body) in branches {
                        if truthy(self.eval(cond)?.as_ref()) {
                            self.nodes(body, out)?;
                            taken = true;
                            break;
                        }
                    }
                    if !taken {
                        self.nodes(otherwise, out)?;
                    }
                }
                Node::For { var, iter, body } => self.for_loop(var, iter, body, out)?,
                Node::Set { name, expr } => {
                    let value = self.eval(expr)?;
                    // Reassigning updates the variable where it lives; a new one belongs to the
                    // innermost loop (or to the whole template).
                    match self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
                        Some(slot) => slot.1 = value,
                        None => self.vars.push((name.as_str(), value)),
                    }
                }
            }
        }
        Ok(())
    }

    fn for_loop(
        &mut self,
        var: &'a str,
        iter: &'a Expr,
        body: &'a [Node],
        out: &mut String,
    ) -> Result<(), TemplateError> {
        let items: Vec<Cow<'a, Value>> = match self.eval(iter)? {
            Cow::Borrowed(Value::Array(items)) => items.iter().map(Cow::Borrowed).collect(),
            Cow::Borrowed(Value::Object(map)) => map.values().map(Cow::Borrowed).collect(),
            Cow::Owned(Value::Array(items)) => items.into_iter().map(Cow::Owned).collect(),
            Cow::Owned(Value::Object(map)) => map.into_iter().map(|(_, v)| Cow::Owned(v)).collect(),
            _ => {
                let message = format!("\"{}\" is not an array value", expr_name(iter));
                return Err(TemplateError::runtime(self.src, expr_at(iter), message));
            }
        };
        if self.frames.len() >= MAX_DEPTH {
            return Err(TemplateError::runtime(
                self.src,
                expr_at(iter),
                "loops nested too deeply".into(),
            ));
        }
        for item in items {
            self.iterations += 1;
            if self.iterations > MAX_ITERATIONS {
                return Err(TemplateError::runtime(
                    self.src,
                    expr_at(iter),
                    "too many loop iterations".into(),
                ));
            }
            self.frames.push(self.vars.len());
            self.vars.push((var, item));
            let r = self.nodes(body, out);
            let frame = self.frames.pop().unwrap_or(0);
            self.vars.truncate(frame);
            r?;
        }
        Ok(())
    }

    fn eval(&self, e: &'a Expr) -> Result<Cow<'a, Value>, TemplateError> {
        Ok(Cow::Owned(match e {
            Expr::Literal(v) => return Ok(Cow::Borrowed(v)),
            Expr::Path {
                ns,
                path,
                default,
                at,
            } => return self.lookup(ns, path, default.as_ref(), *at),
            Expr::Not(inner) => Value::Bool(!truthy(self.eval(inner)?.as_ref())),
            Expr::Neg(inner) => {
                let v = self.eval(inner)?;
                number(-self.num(&v, expr_at(inner))?)
            }
            Expr::Binary(op, l, r) => self.binary(*op, l, r)?,
            Expr::Call {
                func,
                name,
                args,
                at,
            } => self.call(*func, name, args, *at)?,
        }))
    }

    fn lookup(
        &self,
        ns: &Namespace,
        path: &'a [String],
        default: Option<&'a Value>,
        at: usize,
    ) -> Result<Cow<'a, Value>, TemplateError> {
        let root: Option<&'a Value> = match ns {
            Namespace::Var => Some(self.ctx.vars),
            Namespace::Data => Some(self.ctx.data),
            Namespace::Mj => Some(self.ctx.mj),
            Namespace::Segment => {
                let name = path.join(".");
                let member = self
                    .ctx
                    .segments
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(&name));
                return Ok(Cow::Owned(Value::Bool(member)));
            }
            Namespace::Local => None,
        };
        let found: Option<Cow<'a, Value>> = match root {
            Some(root) => walk(root, path).map(Cow::Borrowed),
            None => match self
                .vars
                .iter()
                .rev()
                .find(|(n, _)| *n == path[0])
                .map(|(_, v)| v)
            {
                Some(Cow::Borrowed(v)) => walk(v, &path[1..]).map(Cow::Borrowed),
                Some(Cow::Owned(v)) => walk(v, &path[1..]).cloned().map(Cow::Owned),
                None => None,
            },
        };
        match (found, default) {
            (Some(v), _) if !v.is_null() || default.is_none() => Ok(v),
            (_, Some(d)) => Ok(Cow::Borrowed(d)),
            (_, None) => {
                let prefix = match ns {
                    Namespace::Var => "var:",
                    Namespace::Data => "data:",
                    Namespace::Mj => "mj:",
                    _ => "",
                };
                let name = format!("{prefix}{}", path.join("."));
                Err(TemplateError::unknown(self.src, at, &name))
            }
        }
    }

    fn num(&self, v: &Value, at: usize) -> Result<f64, TemplateError> {
        as_number(v).ok_or_else(|| {
            TemplateError::syntax(self.src, at, &format!("\"{}\" is not a number", display(v)))
        })
    }

    fn binary(&self, op: BinOp, l: &'a Expr, r: &'a Expr) -> Result<Value, TemplateError> {
        // Logical operators short-circuit.
        match op {
            BinOp::And => {
                return Ok(Value::Bool(
                    truthy(self.eval(l)?.as_ref()) && truthy(self.eval(r)?.as_ref()),
                ));
            }
            BinOp::Or => {
                return Ok(Value::Bool(
                    truthy(self.eval(l)?.as_ref()) || truthy(self.eval(r)?.as_ref()),
                ));
            }
            _ => {}
        }
        let (a, b) = (self.eval(l)?, self.eval(r)?);
        let (a, b) = (a.as_ref(), b.as_ref());
        let (at, rat) = (expr_at(l), expr_at(r));
        Ok(match op {
            BinOp::Xor => Value::Bool(truthy(a) != truthy(b)),
            BinOp::Eq => Value::Bool(loose_eq(a, b)),
            BinOp::Ne => Value::Bool(!loose_eq(a, b)),
            BinOp::StrictEq => {
                Value::Bool(a == b || (a.is_number() && b.is_number() && a.as_f64() == b.as_f64()))
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let ord = compare(a, b);
                Value::Bool(match op {
                    BinOp::Lt => ord.is_lt(),
                    BinOp::Le => ord.is_le(),
                    BinOp::Gt => ord.is_gt(),
                    _ => ord.is_ge(),
                })
            }
            BinOp::Add => match (as_number(a), as_number(b)) {
                (Some(x), Some(y)) if !(a.is_string() && b.is_string()) => number(x + y),
                _ => Value::String(format!("{}{}", display(a), display(b))),
            },
            BinOp::Sub => number(self.num(a, at)? - self.num(b, rat)?),
            BinOp::Mul => number(self.num(a, at)? * self.num(b, rat)?),
            BinOp::Div | BinOp::IntDiv | BinOp::Mod => {
                let (x, y) = (self.num(a, at)?, self.num(b, rat)?);
                if y == 0.0 {
                    return Err(TemplateError::syntax(self.src, rat, "division by zero"));
                }
                match op {
                    BinOp::Div => number(x / y),
                    BinOp::IntDiv => number((x / y).trunc()),
                    _ => number(x % y),
                }
            }
            BinOp::And | BinOp::Or => unreachable!("handled above"),
        })
    }

    fn call(
        &self,
        func: Func,
        name: &str,
        args: &'a [Expr],
        at: usize,
    ) -> Result<Value, TemplateError> {
        let values = args
            .iter()
            .map(|a| self.eval(a))
            .collect::<Result<Vec<Cow<'a, Value>>, _>>()?;
        let arg = |i: usize| values.get(i).map_or(&Value::Null, |v| v.as_ref());
        let text = |i: usize| display(arg(i));
        let want = |n: usize| -> Result<(), TemplateError> {
            if values.len() < n {
                Err(TemplateError::syntax(
                    self.src,
                    at,
                    &format!("{name} expects {n} argument(s)"),
                ))
            } else {
                Ok(())
            }
        };
        Ok(match func {
            Func::Upper => Value::String(text(0).to_uppercase()),
            Func::Lower => Value::String(text(0).to_lowercase()),
            Func::Capitalize => {
                let s = text(0);
                let mut chars = s.chars();
                Value::String(match chars.next() {
                    Some(first) => first.to_uppercase().chain(chars).collect(),
                    None => String::new(),
                })
            }
            Func::Round => {
                want(1)?;
                let x = self.num(arg(0), at)?;
                let digits = values
                    .get(1)
                    .map(|p| self.num(p, at))
                    .transpose()?
                    .unwrap_or(0.0)
                    .clamp(0.0, 10.0) as i32;
                let factor = 10f64.powi(digits);
                number((x * factor).round() / factor)
            }
            Func::Int => {
                want(1)?;
                number(self.num(arg(0), at)?.trunc())
            }
            Func::UrlEncode => Value::String(url_encode(&text(0))),
            Func::Escape => Value::String(escape_html(&text(0))),
            Func::HasOpenedSince => {
                want(1)?;
                let days = self.num(arg(0), at)?;
                Value::Bool(
                    self.ctx
                        .activity
                        .opened_days_ago
                        .is_some_and(|d| (d as f64) <= days),
                )
            }
            Func::HasClickedSince => {
                want(1)?;
                let days = self.num(arg(0), at)?;
                Value::Bool(
                    self.ctx
                        .activity
                        .clicked_days_ago
                        .is_some_and(|d| (d as f64) <= days),
                )
            }
            Func::FormatNumberLocale => {
                want(1)?;
                let x = self.num(arg(0), at)?;
                let locale = match values.get(1).map(|v| v.as_ref()) {
                    Some(Value::String(s)) => s.as_str(),
                    _ => "en",
                };
                let decimals = values
                    .get(2)
                    .map(|d| self.num(d, at))
                    .transpose()?
                    .unwrap_or(2.0)
                    .clamp(0.0, 10.0) as usize;
                Value::String(format_number_locale(x, locale, decimals))
            }
        })
    }
}

fn walk<'v>(root: &'v Value, path: &[String]) -> Option<&'v Value> {
    let mut v = root;
    for key in path {
        v = match v {
            Value::Object(map) => map.get(key)?,
            Value::Array(items) => items.get(key.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

fn expr_at(e: &Expr) -> usize {
    match e {
        Expr::Path { at, .. } | Expr::Call { at, .. } => *at,
        Expr::Not(inner) | Expr::Neg(inner) => expr_at(inner),
        Expr::Binary(_, l, _) => expr_at(l),
        Expr::Literal(_) => 0,
    }
}

fn expr_name(e: &Expr) -> String {
    match e {
        Expr::Path { ns, path, .. } => {
            let prefix = match ns {
                Namespace::Var => "var:",
                Namespace::Data => "data:",
                Namespace::Mj => "mj:",
                Namespace::Segment => "segment:",
                Namespace::Local => "",
            };
            format!("{prefix}{}", path.join("."))
        }
        Expr::Call { name, .. } => name.clone(),
        _ => "expression".into(),
    }
}

/// Prints a value into `out`, escaped for HTML in [`Mode::Html`], without a temporary string
/// for the common cases.
fn write_value(out: &mut String, v: &Value, mode: Mode) {
    use std::fmt::Write;
    match v {
        Value::String(s) if mode == Mode::Html => escape_into(out, s),
        Value::String(s) => out.push_str(s),
        Value::Number(n) if n.as_i64().is_some() => {
            let _ = write!(out, "{}", n.as_i64().unwrap_or_default());
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => {}
        other => {
            let text = display(other);
            if mode == Mode::Html {
                escape_into(out, &text)
            } else {
                out.push_str(&text)
            }
        }
    }
}

fn escape_into(out: &mut String, s: &str) {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        out.push_str(s);
    } else {
        out.push_str(&escape_html(s));
    }
}

/// How a value prints: strings as they are, integral numbers without `.0`, booleans as
/// `true`/`false`, null as nothing, arrays and objects as JSON.
pub fn display(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => (f as i64).to_string(),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty() && s != "false" && s != "0",
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), _) | (_, Value::Number(_)) => match (as_number(a), as_number(b)) {
            (Some(x), Some(y)) => x == y,
            _ => display(a) == display(b),
        },
        _ => display(a) == display(b),
    }
}

fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (as_number(a), as_number(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => display(a).cmp(&display(b)),
    }
}

fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `1234567.891` → `1,234,567.89` (en), `1 234 567,89` (fr), `1.234.567,89` (de, es, it, nl, pt).
fn format_number_locale(x: f64, locale: &str, decimals: usize) -> String {
    use std::fmt::Write;
    let lang = locale.split(['-', '_']).next().unwrap_or("en");
    let (group, point) = if lang.eq_ignore_ascii_case("fr") {
        ('\u{202f}', ',')
    } else if ["de", "es", "it", "nl", "pt", "da", "id", "tr"]
        .iter()
        .any(|l| lang.eq_ignore_ascii_case(l))
    {
        ('.', ',')
    } else if lang.eq_ignore_ascii_case("ch") {
        ('\'', '.')
    } else {
        (',', '.')
    };
    // One buffer: the fixed-point digits first, then the grouped result after them.
    let mut buf = String::with_capacity(48);
    let _ = write!(buf, "{:.*}", decimals, x.abs());
    let digits_end = buf.len();
    let int_len = buf.find('.').unwrap_or(digits_end);
    let negative = x < 0.0 && buf.bytes().any(|b| b.is_ascii_digit() && b != b'0');
    let mut out = String::with_capacity(digits_end + digits_end / 3 + 4);
    if negative {
        out.push('-');
    }
    for (i, c) in buf[..int_len].chars().enumerate() {
        if i > 0 && (int_len - i).is_multiple_of(3) {
            out.push(group);
        }
        out.push(c);
    }
    if int_len < digits_end {
        out.push(point);
        out.push_str(&buf[int_len + 1..digits_end]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(
            format_number_locale(1234567.891, "en-US", 2),
            "1,234,567.89"
        );
        assert_eq!(
            format_number_locale(1234567.891, "fr_FR", 2),
            "1\u{202f}234\u{202f}567,89"
        );
        assert_eq!(format_number_locale(-1234.5, "de", 1), "-1.234,5");
        assert_eq!(format_number_locale(999.0, "en", 0), "999");
        assert_eq!(format_number_locale(-0.001, "en", 2), "0.00");
    }

    #[test]
    fn display_and_truth() {
        assert_eq!(display(&serde_json::json!(3.0)), "3");
        assert_eq!(display(&serde_json::json!(2.5)), "2.5");
        assert_eq!(display(&serde_json::json!(null)), "");
        assert!(!truthy(&serde_json::json!("")));
        assert!(truthy(&serde_json::json!([0])));
        assert_eq!(url_encode("a b&c=é"), "a%20b%26c%3D%C3%A9");
    }
}
