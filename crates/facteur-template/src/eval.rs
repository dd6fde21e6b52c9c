//! Rendering: scopes, truthiness, operators and functions.

use std::collections::HashMap;

use serde_json::Value;

use crate::syntax::{BinOp, Expr, Namespace, Node, number};
use crate::{Context, Mode, TemplateError, escape_html};

/// Deepest loop nesting and most loop iterations per render: a template cannot run away.
const MAX_DEPTH: usize = 64;
const MAX_ITERATIONS: usize = 1_000_000;

struct Renderer<'a> {
    src: &'a str,
    ctx: &'a Context<'a>,
    mode: Mode,
    scopes: Vec<HashMap<String, Value>>,
    iterations: usize,
}

pub fn render(
    nodes: &[Node],
    src: &str,
    ctx: &Context<'_>,
    mode: Mode,
) -> Result<String, TemplateError> {
    let mut r = Renderer {
        src,
        ctx,
        mode,
        scopes: vec![HashMap::new()],
        iterations: 0,
    };
    let mut out = String::with_capacity(src.len() + src.len() / 4);
    r.nodes(nodes, &mut out)?;
    Ok(out)
}

impl Renderer<'_> {
    fn nodes(&mut self, nodes: &[Node], out: &mut String) -> Result<(), TemplateError> {
        for node in nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Print { expr, lenient } => {
                    let value = match self.eval(expr) {
                        Ok(v) => v,
                        Err(_) if *lenient => Value::Null,
                        Err(e) => return Err(e),
                    };
                    let text = display(&value);
                    match self.mode {
                        Mode::Html => out.push_str(&escape_html(&text)),
                        Mode::Text => out.push_str(&text),
                    }
                }
                Node::If {
                    branches,
                    otherwise,
                } => {
                    let mut taken = false;
                    for (cond, body) in branches {
                        if truthy(&self.eval(cond)?) {
                            self.nodes(body, out)?;
                            taken = true;
                            break;
                        }
                    }
                    if !taken {
                        self.nodes(otherwise, out)?;
                    }
                }
                Node::For { var, iter, body } => {
                    let items = match self.eval(iter)? {
                        Value::Array(items) => items,
                        Value::Object(map) => map.into_iter().map(|(_, v)| v).collect(),
                        _ => {
                            let at = expr_at(iter);
                            return Err(TemplateError::runtime(
                                self.src,
                                at,
                                format!("\"{}\" is not an array value", expr_name(iter)),
                            ));
                        }
                    };
                    if self.scopes.len() > MAX_DEPTH {
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
                        self.scopes.push(HashMap::from([(var.clone(), item)]));
                        let r = self.nodes(body, out);
                        self.scopes.pop();
                        r?;
                    }
                }
                Node::Set { name, expr } => {
                    let value = self.eval(expr)?;
                    // Reassigning updates the variable where it lives; a new one goes in the
                    // innermost scope.
                    match self.scopes.iter_mut().rev().find(|s| s.contains_key(name)) {
                        Some(scope) => {
                            scope.insert(name.clone(), value);
                        }
                        None => {
                            self.scopes
                                .last_mut()
                                .expect("scope")
                                .insert(name.clone(), value);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn eval(&self, e: &Expr) -> Result<Value, TemplateError> {
        match e {
            Expr::Literal(v) => Ok(v.clone()),
            Expr::Path {
                ns,
                path,
                default,
                at,
            } => self.lookup(ns, path, default.as_ref(), *at),
            Expr::Not(inner) => Ok(Value::Bool(!truthy(&self.eval(inner)?))),
            Expr::Neg(inner) => {
                let v = self.eval(inner)?;
                let n = self.num(&v, expr_at(inner))?;
                Ok(number(-n))
            }
            Expr::Binary(op, l, r) => self.binary(*op, l, r),
            Expr::Call { name, args, at } => self.call(name, args, *at),
        }
    }

    fn lookup(
        &self,
        ns: &Namespace,
        path: &[String],
        default: Option<&Value>,
        at: usize,
    ) -> Result<Value, TemplateError> {
        let root = match ns {
            Namespace::Var => Some(self.ctx.vars),
            Namespace::Data => Some(self.ctx.data),
            Namespace::Mj => Some(self.ctx.mj),
            Namespace::Segment => {
                let name = path.join(".");
                return Ok(Value::Bool(
                    self.ctx
                        .segments
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(&name)),
                ));
            }
            Namespace::Local => None,
        };
        let found = match root {
            Some(root) => walk(root, path),
            None => self
                .scopes
                .iter()
                .rev()
                .find_map(|s| s.get(&path[0]))
                .and_then(|v| walk(v, &path[1..])),
        };
        match (found, default) {
            (Some(v), _) if !v.is_null() || default.is_none() => Ok(v.clone()),
            (_, Some(d)) => Ok(d.clone()),
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

    fn binary(&self, op: BinOp, l: &Expr, r: &Expr) -> Result<Value, TemplateError> {
        // Logical operators short-circuit.
        match op {
            BinOp::And => {
                return Ok(Value::Bool(
                    truthy(&self.eval(l)?) && truthy(&self.eval(r)?),
                ));
            }
            BinOp::Or => {
                return Ok(Value::Bool(
                    truthy(&self.eval(l)?) || truthy(&self.eval(r)?),
                ));
            }
            _ => {}
        }
        let (a, b) = (self.eval(l)?, self.eval(r)?);
        let at = expr_at(l);
        Ok(match op {
            BinOp::Xor => Value::Bool(truthy(&a) != truthy(&b)),
            BinOp::Eq => Value::Bool(loose_eq(&a, &b)),
            BinOp::Ne => Value::Bool(!loose_eq(&a, &b)),
            BinOp::StrictEq => {
                Value::Bool(a == b || (a.is_number() && b.is_number() && a.as_f64() == b.as_f64()))
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let ord = compare(&a, &b);
                Value::Bool(match op {
                    BinOp::Lt => ord.is_lt(),
                    BinOp::Le => ord.is_le(),
                    BinOp::Gt => ord.is_gt(),
                    _ => ord.is_ge(),
                })
            }
            BinOp::Add => match (as_number(&a), as_number(&b)) {
                (Some(x), Some(y)) if !(a.is_string() && b.is_string()) => number(x + y),
                _ => Value::String(format!("{}{}", display(&a), display(&b))),
            },
            BinOp::Sub => number(self.num(&a, at)? - self.num(&b, expr_at(r))?),
            BinOp::Mul => number(self.num(&a, at)? * self.num(&b, expr_at(r))?),
            BinOp::Div | BinOp::IntDiv | BinOp::Mod => {
                let (x, y) = (self.num(&a, at)?, self.num(&b, expr_at(r))?);
                if y == 0.0 {
                    return Err(TemplateError::syntax(
                        self.src,
                        expr_at(r),
                        "division by zero",
                    ));
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

    fn call(&self, name: &str, args: &[Expr], at: usize) -> Result<Value, TemplateError> {
        let values = args
            .iter()
            .map(|a| self.eval(a))
            .collect::<Result<Vec<_>, _>>()?;
        let arg = |i: usize| values.get(i).cloned().unwrap_or(Value::Null);
        let text = |i: usize| display(&arg(i));
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
        Ok(match name.to_ascii_lowercase().as_str() {
            "upper" => Value::String(text(0).to_uppercase()),
            "lower" => Value::String(text(0).to_lowercase()),
            "capitalize" => {
                let s = text(0);
                let mut chars = s.chars();
                Value::String(match chars.next() {
                    Some(first) => first.to_uppercase().chain(chars).collect(),
                    None => String::new(),
                })
            }
            "round" => {
                want(1)?;
                let x = self.num(&arg(0), at)?;
                let digits = values
                    .get(1)
                    .map(|p| self.num(p, at))
                    .transpose()?
                    .unwrap_or(0.0)
                    .clamp(0.0, 10.0) as i32;
                let factor = 10f64.powi(digits);
                number((x * factor).round() / factor)
            }
            "int" => {
                want(1)?;
                number(self.num(&arg(0), at)?.trunc())
            }
            "urlencode" => Value::String(url_encode(&text(0))),
            "escape" => Value::String(escape_html(&text(0))),
            "hasopenedsince" => {
                want(1)?;
                let days = self.num(&arg(0), at)?;
                Value::Bool(
                    self.ctx
                        .activity
                        .opened_days_ago
                        .is_some_and(|d| (d as f64) <= days),
                )
            }
            "hasclickedsince" => {
                want(1)?;
                let days = self.num(&arg(0), at)?;
                Value::Bool(
                    self.ctx
                        .activity
                        .clicked_days_ago
                        .is_some_and(|d| (d as f64) <= days),
                )
            }
            "formatnumberlocale" => {
                want(1)?;
                let x = self.num(&arg(0), at)?;
                let locale = values.get(1).map(display).unwrap_or_else(|| "en".into());
                let decimals = values
                    .get(2)
                    .map(|d| self.num(d, at))
                    .transpose()?
                    .unwrap_or(2.0)
                    .clamp(0.0, 10.0) as usize;
                Value::String(format_number_locale(x, &locale, decimals))
            }
            _ => {
                return Err(TemplateError::syntax(
                    self.src,
                    at,
                    &format!("Unknown function: {name}"),
                ));
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
    let lang = locale
        .split(['-', '_'])
        .next()
        .unwrap_or("en")
        .to_ascii_lowercase();
    let (group, point) = match lang.as_str() {
        "fr" => ('\u{202f}', ','),
        "de" | "es" | "it" | "nl" | "pt" | "da" | "id" | "tr" => ('.', ','),
        "ch" => ('\'', '.'),
        _ => (',', '.'),
    };
    let fixed = format!("{:.*}", decimals, x.abs());
    let (int, frac) = fixed.split_once('.').unwrap_or((&fixed, ""));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(group);
        }
        grouped.push(c);
    }
    let sign = if x < 0.0 && fixed.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "-"
    } else {
        ""
    };
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}{point}{frac}")
    }
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
