//! Rendering: variables, truthiness, operators and functions. Values borrow from the context
//! whenever they can (`Cow::Borrowed`): a loop over the message's Variables copies nothing.
//!
//! A render stays within its [`Limits`]: the output and every string it builds are at most
//! `max_output_bytes`, loops run at most `max_iterations` times in all, and the clock is read
//! every few thousand nodes or few dozen kilobytes of strings to stop at `max_duration`.

use std::borrow::Cow;
use std::cell::Cell;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::limits::{Limits, millis};
use crate::syntax::{BinOp, Expr, Func, Namespace, Node, number};
use crate::{Context, Mode, TemplateError, escape_html, escape_into, escaped_len};

/// Work units between two looks at the clock: a unit is a byte of string copied or compared,
/// a node or an expression counts [`NODE_COST`].
const CHECK_EVERY: u64 = 1 << 16;
const NODE_COST: u64 = 16;
const EXPR_COST: u64 = 4;

struct Renderer<'a> {
    src: &'a str,
    ctx: Context<'a>,
    mode: Mode,
    /// The bindings of each loop and `set` variable name (by slot), innermost last.
    slots: Vec<Vec<Cow<'a, Value>>>,
    /// Slots bound in the current scopes, in order.
    bound: Vec<u32>,
    iterations: usize,
    max_output: usize,
    max_iterations: usize,
    started: Instant,
    max_duration: Option<Duration>,
    /// Work units left before the next look at the clock.
    budget: Cell<u64>,
}

/// The tree, the source and the context share one lifetime (a caller's longer-lived context
/// shrinks to it), so names and literals are borrowed, not copied, per render.
pub fn render<'a>(
    nodes: &'a [Node],
    locals: usize,
    src: &'a str,
    ctx: &Context<'a>,
    mode: Mode,
    limits: &Limits,
) -> Result<String, TemplateError> {
    let mut r = Renderer {
        src,
        ctx: *ctx,
        mode,
        slots: vec![Vec::new(); locals],
        bound: Vec::new(),
        iterations: 0,
        max_output: limits.max_output_bytes,
        max_iterations: limits.max_iterations,
        started: Instant::now(),
        max_duration: limits.max_duration,
        budget: Cell::new(CHECK_EVERY),
    };
    let capacity = src.len() + src.len() / 4;
    let mut out = String::with_capacity(capacity.min(limits.max_output_bytes));
    r.nodes(nodes, &mut out)?;
    Ok(out)
}

impl<'a> Renderer<'a> {
    /// Counts work and, every [`CHECK_EVERY`] units, checks the time budget.
    #[inline(always)]
    fn charge(&self, units: u64, at: usize) -> Result<(), TemplateError> {
        self.charge_at(units, || at)
    }

    /// [`Self::charge`], with the position computed only when the clock is read.
    #[inline(always)]
    fn charge_at(&self, units: u64, at: impl FnOnce() -> usize) -> Result<(), TemplateError> {
        let left = self.budget.get();
        if units < left {
            self.budget.set(left - units);
            return Ok(());
        }
        self.check_time(at())
    }

    #[cold]
    #[inline(never)]
    fn check_time(&self, at: usize) -> Result<(), TemplateError> {
        self.budget.set(CHECK_EVERY);
        if let Some(max) = self.max_duration
            && self.started.elapsed() > max
        {
            let message = format!("template took longer than {} to render", millis(max));
            return Err(TemplateError::limit_hit(
                self.src,
                at,
                &message,
                "max_duration",
            ));
        }
        Ok(())
    }

    /// A string value of `len` bytes is about to be built.
    #[inline]
    fn value_len(&self, len: usize, at: usize) -> Result<(), TemplateError> {
        if len > self.max_output {
            let message = format!(
                "value too large: a string would exceed {} bytes",
                self.max_output
            );
            return Err(TemplateError::limit_hit(
                self.src,
                at,
                &message,
                "max_output_bytes",
            ));
        }
        self.charge(len as u64, at)
    }

    /// `len` more bytes are about to be written to the output.
    #[inline]
    fn output_len(&self, out: &str, len: usize, at: usize) -> Result<(), TemplateError> {
        if out.len().saturating_add(len) > self.max_output {
            let message = format!(
                "output too large: the rendered template would exceed {} bytes",
                self.max_output
            );
            return Err(TemplateError::limit_hit(
                self.src,
                at,
                &message,
                "max_output_bytes",
            ));
        }
        self.charge(len as u64 + NODE_COST, at)
    }

    /// A value as text, borrowed when it is a string; the work is counted.
    fn text<'v>(&self, v: &'v Value, at: usize) -> Result<Cow<'v, str>, TemplateError> {
        let text = text(v);
        self.charge(text.len() as u64, at)?;
        Ok(text)
    }

    fn nodes(&mut self, nodes: &'a [Node], out: &mut String) -> Result<(), TemplateError> {
        for node in nodes {
            match node {
                Node::Text(t, at) => {
                    self.output_len(out, t.len(), *at)?;
                    out.push_str(t);
                }
                Node::Print { expr, lenient, at } => {
                    self.charge(NODE_COST, *at)?;
                    match self.eval(expr) {
                        Ok(v) => self.write_value(out, &v, *at)?,
                        Err(e) if *lenient && e.limit().is_none() => {}
                        Err(e) => return Err(e),
                    }
                }
                Node::If {
                    branches,
                    otherwise,
                } => {
                    let mut taken = false;
                    for (cond, body) in branches {
                        self.charge(NODE_COST, expr_at(cond))?;
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
                Node::For {
                    slot,
                    iter,
                    body,
                    at,
                } => self.for_loop(*slot, iter, body, *at, out)?,
                Node::Set { slot, expr, at } => {
                    self.charge(NODE_COST, *at)?;
                    let value = self.eval(expr)?;
                    // Reassigning updates the variable where it lives; a new one belongs to the
                    // innermost loop (or to the whole template).
                    let bindings = &mut self.slots[*slot as usize];
                    match bindings.last_mut() {
                        Some(current) => *current = value,
                        None => {
                            bindings.push(value);
                            self.bound.push(*slot);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Prints a value, escaped for HTML in [`Mode::Html`], without a temporary string for the
    /// common cases.
    fn write_value(&self, out: &mut String, v: &Value, at: usize) -> Result<(), TemplateError> {
        use std::fmt::Write;
        let html = self.mode == Mode::Html;
        match v {
            Value::String(s) => {
                let len = if html { escaped_len(s) } else { s.len() };
                self.output_len(out, len, at)?;
                if len == s.len() {
                    out.push_str(s);
                } else {
                    escape_into(out, s);
                }
            }
            Value::Number(n) if n.as_i64().is_some() => {
                let i = n.as_i64().unwrap_or_default();
                let digits = i.unsigned_abs().checked_ilog10().unwrap_or(0) as usize + 1;
                self.output_len(out, digits + usize::from(i < 0), at)?;
                let _ = write!(out, "{i}");
            }
            Value::Bool(b) => {
                self.output_len(out, 5, at)?;
                out.push_str(if *b { "true" } else { "false" });
            }
            Value::Null => {}
            other => {
                let text = display(other);
                self.charge(text.len() as u64, at)?;
                let len = if html { escaped_len(&text) } else { text.len() };
                self.output_len(out, len, at)?;
                if len == text.len() {
                    out.push_str(&text);
                } else {
                    escape_into(out, &text);
                }
            }
        }
        Ok(())
    }

    fn for_loop(
        &mut self,
        slot: u32,
        iter: &'a Expr,
        body: &'a [Node],
        at: usize,
        out: &mut String,
    ) -> Result<(), TemplateError> {
        let items = self.eval(iter)?;
        if !matches!(items.as_ref(), Value::Array(_) | Value::Object(_)) {
            let message = format!("\"{}\" is not an array value", expr_name(iter));
            return Err(TemplateError::runtime(self.src, expr_at(iter), message));
        }
        // Items are taken one at a time: a loop that stops early copies nothing more.
        match items {
            Cow::Borrowed(Value::Array(items)) => {
                for item in items {
                    self.iteration(slot, Cow::Borrowed(item), body, at, out)?;
                }
            }
            Cow::Borrowed(Value::Object(map)) => {
                for item in map.values() {
                    self.iteration(slot, Cow::Borrowed(item), body, at, out)?;
                }
            }
            Cow::Owned(Value::Array(items)) => {
                for item in items {
                    self.iteration(slot, Cow::Owned(item), body, at, out)?;
                }
            }
            Cow::Owned(Value::Object(map)) => {
                for (_, item) in map {
                    self.iteration(slot, Cow::Owned(item), body, at, out)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn iteration(
        &mut self,
        slot: u32,
        item: Cow<'a, Value>,
        body: &'a [Node],
        at: usize,
        out: &mut String,
    ) -> Result<(), TemplateError> {
        self.iterations += 1;
        if self.iterations > self.max_iterations {
            let message = format!(
                "too many loop iterations: more than {} in one render",
                self.max_iterations
            );
            return Err(TemplateError::limit_hit(
                self.src,
                at,
                &message,
                "max_iterations",
            ));
        }
        self.charge(NODE_COST, at)?;
        // Where this iteration's bindings begin: the loop variable and its `set`s.
        let frame = self.bound.len();
        self.slots[slot as usize].push(item);
        self.bound.push(slot);
        let r = self.nodes(body, out);
        while self.bound.len() > frame {
            if let Some(slot) = self.bound.pop() {
                self.slots[slot as usize].pop();
            }
        }
        r
    }

    fn eval(&self, e: &'a Expr) -> Result<Cow<'a, Value>, TemplateError> {
        // Every expression counts: a call with thousands of arguments is work too.
        self.charge_at(EXPR_COST, || expr_at(e))?;
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
            Namespace::Local(_) => None,
        };
        let found: Option<Cow<'a, Value>> = match (root, ns) {
            (Some(root), _) => walk(root, path).map(Cow::Borrowed),
            (None, Namespace::Local(slot)) => match self.slots[*slot as usize].last() {
                Some(Cow::Borrowed(v)) => walk(v, &path[1..]).map(Cow::Borrowed),
                Some(Cow::Owned(v)) => match walk(v, &path[1..]) {
                    Some(v) => {
                        // Values built by the template are strings and scalars: copying one
                        // costs its length.
                        if let Value::String(s) = v {
                            self.charge(s.len() as u64, at)?;
                        }
                        Some(Cow::Owned(v.clone()))
                    }
                    None => None,
                },
                None => None,
            },
            (None, _) => None,
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
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                // Comparing texts costs their length.
                let weight = |v: &Value| match v {
                    Value::String(s) => s.len() as u64,
                    Value::Array(_) | Value::Object(_) => NODE_COST * 4,
                    _ => 0,
                };
                self.charge(weight(a) + weight(b), at)?;
                match op {
                    BinOp::Eq => Value::Bool(loose_eq(a, b)),
                    BinOp::Ne => Value::Bool(!loose_eq(a, b)),
                    _ => {
                        let ord = compare(a, b);
                        Value::Bool(match op {
                            BinOp::Lt => ord.is_lt(),
                            BinOp::Le => ord.is_le(),
                            BinOp::Gt => ord.is_gt(),
                            _ => ord.is_ge(),
                        })
                    }
                }
            }
            BinOp::StrictEq => {
                Value::Bool(a == b || (a.is_number() && b.is_number() && a.as_f64() == b.as_f64()))
            }
            BinOp::Add => match (as_number(a), as_number(b)) {
                (Some(x), Some(y)) if !(a.is_string() && b.is_string()) => number(x + y),
                _ => {
                    let (x, y) = (self.text(a, at)?, self.text(b, rat)?);
                    self.value_len(x.len() + y.len(), at)?;
                    let mut joined = String::with_capacity(x.len() + y.len());
                    joined.push_str(&x);
                    joined.push_str(&y);
                    Value::String(joined)
                }
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
        // Functions take at most three arguments: no allocation for those.
        static NULL: Value = Value::Null;
        let mut inline: [Cow<'a, Value>; 3] = [
            Cow::Borrowed(&NULL),
            Cow::Borrowed(&NULL),
            Cow::Borrowed(&NULL),
        ];
        let heap: Vec<Cow<'a, Value>>;
        let values: &[Cow<'a, Value>] = if args.len() <= inline.len() {
            for (slot, a) in inline.iter_mut().zip(args) {
                *slot = self.eval(a)?;
            }
            &inline[..args.len()]
        } else {
            heap = args
                .iter()
                .map(|a| self.eval(a))
                .collect::<Result<_, _>>()?;
            &heap
        };
        let arg = |i: usize| values.get(i).map_or(&Value::Null, |v| v.as_ref());
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
        // A string built from the first argument, within the size limit.
        let string = |f: &dyn Fn(&str) -> String| -> Result<Value, TemplateError> {
            let s = f(&self.text(arg(0), at)?);
            self.value_len(s.len(), at)?;
            Ok(Value::String(s))
        };
        Ok(match func {
            Func::Upper => string(&|s| s.to_uppercase())?,
            Func::Lower => string(&|s| s.to_lowercase())?,
            Func::Capitalize => string(&|s| {
                let mut chars = s.chars();
                match chars.next() {
                    Some(first) => first.to_uppercase().chain(chars).collect(),
                    None => String::new(),
                }
            })?,
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
            Func::UrlEncode => string(&url_encode)?,
            Func::Escape => string(&escape_html)?,
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
                Namespace::Local(_) => "",
            };
            format!("{prefix}{}", path.join("."))
        }
        Expr::Call { name, .. } => name.clone(),
        _ => "expression".into(),
    }
}

/// How a value prints, borrowed when it is a string.
fn text(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(display(other)),
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
            _ => text(a) == text(b),
        },
        _ => text(a) == text(b),
    }
}

fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (as_number(a), as_number(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => text(a).cmp(&text(b)),
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
