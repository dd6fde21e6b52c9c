//! Source → syntax tree. The scanner splits text from tags (`{{ }}`, `{% %}`, `[[ ]]`), the
//! tokenizer and a precedence-climbing parser read each tag, and a stack nests blocks.

use serde_json::Value;

use crate::TemplateError;
use crate::limits::{MAX_BLOCK_NESTING, MAX_EXPRESSION_NESTING};

#[derive(Debug, Clone, PartialEq)]
pub enum Namespace {
    Var,
    Data,
    Mj,
    Segment,
    /// Loop and `set` variables, with the slot of the name (see [`Names`]).
    Local(u32),
}

/// The loop and `set` variable names of a template, numbered as they are met: rendering keeps
/// one binding stack per number instead of searching the bindings by name.
#[derive(Debug, Default)]
pub struct Names(std::collections::HashMap<String, u32>);

impl Names {
    pub fn slot(&mut self, name: &str) -> u32 {
        if let Some(&slot) = self.0.get(name) {
            return slot;
        }
        let slot = self.0.len() as u32;
        self.0.insert(name.to_string(), slot);
        slot
    }

    pub fn count(&self) -> usize {
        self.0.len()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Value),
    Path {
        ns: Namespace,
        path: Vec<String>,
        default: Option<Value>,
        /// Offset of the reference in the source, for error messages.
        at: usize,
    },
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Call {
        func: Func,
        name: String,
        args: Vec<Expr>,
        at: usize,
    },
}

/// The functions of the language, resolved when the template is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Upper,
    Lower,
    Capitalize,
    Round,
    Int,
    UrlEncode,
    Escape,
    HasOpenedSince,
    HasClickedSince,
    FormatNumberLocale,
}

impl Func {
    fn from_name(name: &str) -> Option<Func> {
        const ALL: [(&str, Func); 10] = [
            ("upper", Func::Upper),
            ("lower", Func::Lower),
            ("capitalize", Func::Capitalize),
            ("round", Func::Round),
            ("int", Func::Int),
            ("urlencode", Func::UrlEncode),
            ("escape", Func::Escape),
            ("hasopenedsince", Func::HasOpenedSince),
            ("hasclickedsince", Func::HasClickedSince),
            ("formatnumberlocale", Func::FormatNumberLocale),
        ];
        ALL.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, f)| *f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BinOp {
    Or,
    Xor,
    And,
    Eq,
    StrictEq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    IntDiv,
    Mod,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Text and the offset where it starts.
    Text(String, usize),
    /// `{{ expr }}` or `[[var:x]]` (the latter never fails: missing prints nothing).
    Print {
        expr: Expr,
        lenient: bool,
        /// Offset of the tag.
        at: usize,
    },
    If {
        branches: Vec<(Expr, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    For {
        slot: u32,
        iter: Expr,
        body: Vec<Node>,
        at: usize,
    },
    Set {
        slot: u32,
        expr: Expr,
        at: usize,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    /// An identifier, possibly namespaced (`var:order.total`), raw.
    Ident(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    Colon,
    Dot,
}

/// Where a tag or token starts in the source.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
}

/// The syntax tree and the number of local variable names.
pub fn parse(src: &str) -> Result<(Vec<Node>, usize), TemplateError> {
    let mut names = Names::default();
    let mut stack: Vec<Frame> = vec![Frame::Root(Vec::new())];
    let mut pos = 0;
    while pos < src.len() {
        let next = find_tag(src, pos);
        let Some((tag_start, kind)) = next else {
            push(&mut stack, Node::Text(src[pos..].to_string(), pos));
            break;
        };
        if tag_start > pos {
            push(&mut stack, Node::Text(src[pos..tag_start].to_string(), pos));
        }
        let (open, close) = match kind {
            TagKind::Print => ("{{", "}}"),
            TagKind::Stmt => ("{%", "%}"),
            TagKind::Simple => ("[[", "]]"),
        };
        let body_start = tag_start + open.len();
        let Some(body_end) = find_close(src, body_start, close) else {
            return Err(TemplateError::not_valid(src, tag_start));
        };
        let body = &src[body_start..body_end];
        let span = Span { start: tag_start };
        match kind {
            TagKind::Print => {
                let expr = parse_expr_all(src, body, body_start, span, &mut names)?;
                push(
                    &mut stack,
                    Node::Print {
                        expr,
                        lenient: false,
                        at: tag_start,
                    },
                );
            }
            TagKind::Simple => {
                let expr = parse_expr_all(src, body, body_start, span, &mut names)?;
                push(
                    &mut stack,
                    Node::Print {
                        expr,
                        lenient: true,
                        at: tag_start,
                    },
                );
            }
            TagKind::Stmt => statement(src, body, body_start, span, &mut stack, &mut names)?,
        }
        pos = body_end + close.len();
    }
    match stack.pop() {
        Some(Frame::Root(nodes)) if stack.is_empty() => Ok((nodes, names.count())),
        _ => Err(TemplateError::not_valid(src, src.len().saturating_sub(1))),
    }
}

enum Frame {
    Root(Vec<Node>),
    If {
        branches: Vec<(Expr, Vec<Node>)>,
        otherwise: Option<Vec<Node>>,
    },
    For {
        slot: u32,
        iter: Expr,
        body: Vec<Node>,
        at: usize,
    },
}

fn push(stack: &mut [Frame], node: Node) {
    match stack.last_mut().expect("root frame") {
        Frame::Root(nodes) => nodes.push(node),
        Frame::If {
            branches,
            otherwise,
            ..
        } => match otherwise {
            Some(nodes) => nodes.push(node),
            None => branches.last_mut().expect("if branch").1.push(node),
        },
        Frame::For { body, .. } => body.push(node),
    }
}

#[derive(Clone, Copy)]
enum TagKind {
    Print,
    Stmt,
    Simple,
}

fn find_tag(src: &str, from: usize) -> Option<(usize, TagKind)> {
    let bytes = src.as_bytes();
    let mut i = from;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'{', b'{') => return Some((i, TagKind::Print)),
            (b'{', b'%') => return Some((i, TagKind::Stmt)),
            (b'[', b'[')
                if src[i + 2..].starts_with("var:") || src[i + 2..].starts_with("data:") =>
            {
                return Some((i, TagKind::Simple));
            }
            _ => i += 1,
        }
    }
    None
}

/// The closing delimiter, skipping string literals.
fn find_close(src: &str, from: usize, close: &str) -> Option<usize> {
    let bytes = src.as_bytes();
    let mut i = from;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(_) if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if bytes[i..].starts_with(close.as_bytes()) => return Some(i),
            None => {}
        }
        i += 1;
    }
    None
}

fn statement(
    src: &str,
    body: &str,
    body_start: usize,
    span: Span,
    stack: &mut Vec<Frame>,
    names: &mut Names,
) -> Result<(), TemplateError> {
    let trimmed = body.trim_start();
    let lead = body.len() - trimmed.len();
    let keyword_len = trimmed
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(trimmed.len());
    let keyword = trimmed[..keyword_len].to_ascii_lowercase();
    let rest_offset = body_start + lead + keyword_len;
    let rest = &trimmed[keyword_len..];
    // Rendering recurses once per block level: at most MAX_BLOCK_NESTING blocks are open (the
    // root frame is not a block).
    if matches!(keyword.as_str(), "if" | "for") && stack.len() > MAX_BLOCK_NESTING {
        return Err(TemplateError::syntax(
            src,
            span.start,
            &format!("blocks nested too deeply (more than {MAX_BLOCK_NESTING})"),
        ));
    }
    match keyword.as_str() {
        "if" => {
            let cond = parse_expr_all(src, rest, rest_offset, span, names)?;
            stack.push(Frame::If {
                branches: vec![(cond, Vec::new())],
                otherwise: None,
            });
        }
        "elseif" | "elif" => {
            let cond = parse_expr_all(src, rest, rest_offset, span, names)?;
            match stack.last_mut() {
                Some(Frame::If {
                    branches,
                    otherwise: None,
                    ..
                }) => branches.push((cond, Vec::new())),
                _ => return Err(TemplateError::not_valid(src, span.start)),
            }
        }
        "else" => match stack.last_mut() {
            Some(Frame::If {
                otherwise: otherwise @ None,
                ..
            }) if rest.trim().is_empty() => *otherwise = Some(Vec::new()),
            _ => return Err(TemplateError::not_valid(src, span.start)),
        },
        "endif" => match stack.pop() {
            Some(Frame::If {
                branches,
                otherwise,
                ..
            }) if rest.trim().is_empty() => push(
                stack,
                Node::If {
                    branches,
                    otherwise: otherwise.unwrap_or_default(),
                },
            ),
            _ => return Err(TemplateError::not_valid(src, span.start)),
        },
        "for" => {
            let rest_trim = rest.trim_start();
            let var_len = rest_trim
                .find(|c: char| c.is_whitespace())
                .unwrap_or(rest_trim.len());
            let var = &rest_trim[..var_len];
            let after = rest_trim[var_len..].trim_start();
            if var.is_empty() || !is_name(var) || !after.starts_with("in ") {
                return Err(TemplateError::syntax(
                    src,
                    span.start,
                    "for statement: expected {% for name in list %}",
                ));
            }
            let iter_src = &after[3..];
            let iter_offset = rest_offset + (rest.len() - iter_src.len());
            let iter = parse_expr_all(src, iter_src, iter_offset, span, names)?;
            stack.push(Frame::For {
                slot: names.slot(var),
                iter,
                body: Vec::new(),
                at: span.start,
            });
        }
        "endfor" => match stack.pop() {
            Some(Frame::For {
                slot,
                iter,
                body,
                at,
            }) if rest.trim().is_empty() => push(
                stack,
                Node::For {
                    slot,
                    iter,
                    body,
                    at,
                },
            ),
            _ => return Err(TemplateError::not_valid(src, span.start)),
        },
        "set" => {
            let Some((name, value)) = rest.split_once('=') else {
                return Err(TemplateError::syntax(
                    src,
                    span.start,
                    "set statement: expected {% set name = value %}",
                ));
            };
            let name = name.trim();
            if !is_name(name) {
                return Err(TemplateError::syntax(
                    src,
                    span.start,
                    "set statement: invalid variable name",
                ));
            }
            let value_offset =
                rest_offset + name.len() + 1 + (rest.len() - rest.trim_start().len());
            let expr = parse_expr_all(src, value, value_offset, span, names)?;
            push(
                stack,
                Node::Set {
                    slot: names.slot(name),
                    expr,
                    at: span.start,
                },
            );
        }
        _ => {
            return Err(TemplateError::syntax(
                src,
                span.start,
                &format!("unknown statement \"{keyword}\""),
            ));
        }
    }
    Ok(())
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn tokenize(
    src: &str,
    text: &str,
    offset: usize,
    span: Span,
) -> Result<Vec<(Tok, usize)>, TemplateError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let at = offset + i;
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'0'..=b'9' => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_digit()
                        || (bytes[i] == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)))
                {
                    i += 1;
                }
                let n: f64 = text[start..i]
                    .parse()
                    .map_err(|_| TemplateError::syntax(src, span.start, "invalid number"))?;
                out.push((Tok::Num(n), at));
            }
            b'"' | b'\'' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&b) = bytes.get(i) else {
                        return Err(TemplateError::not_valid(src, span.start));
                    };
                    if b == b'\\' && i + 1 < bytes.len() {
                        let ch = text[i + 1..].chars().next().unwrap_or('\\');
                        s.push(ch);
                        i += 1 + ch.len_utf8();
                        continue;
                    }
                    if b == quote {
                        i += 1;
                        break;
                    }
                    let ch = text[i..].chars().next().unwrap_or('?');
                    s.push(ch);
                    i += ch.len_utf8();
                }
                out.push((Tok::Str(s), at));
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let start = i;
                while i < bytes.len() {
                    let b = bytes[i];
                    let dash_word = b == b'-'
                        && bytes
                            .get(i + 1)
                            .is_some_and(|n| n.is_ascii_alphabetic() || *n == b'_');
                    if b.is_ascii_alphanumeric() || b == b'_' || dash_word {
                        i += 1;
                    } else {
                        break;
                    }
                }
                out.push((Tok::Ident(text[start..i].to_string()), at));
            }
            b'(' => {
                out.push((Tok::LParen, at));
                i += 1;
            }
            b')' => {
                out.push((Tok::RParen, at));
                i += 1;
            }
            b',' => {
                out.push((Tok::Comma, at));
                i += 1;
            }
            b':' => {
                out.push((Tok::Colon, at));
                i += 1;
            }
            b'.' => {
                out.push((Tok::Dot, at));
                i += 1;
            }
            _ => {
                let rest = &text[i..];
                let op = [
                    "===", "==", "!=", "<>", ">=", "<=", "=", "<", ">", "+", "-", "*", "/", "!",
                ]
                .into_iter()
                .find(|op| rest.starts_with(op))
                .ok_or_else(|| {
                    TemplateError::syntax(
                        src,
                        at,
                        &format!(
                            "unexpected character '{}'",
                            rest.chars().next().unwrap_or('?')
                        ),
                    )
                })?;
                out.push((Tok::Op(op), at));
                i += op.len();
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    src: &'a str,
    names: &'a mut Names,
    toks: Vec<(Tok, usize)>,
    pos: usize,
    span: Span,
    /// Current nesting of sub-expressions (parentheses, function arguments, unary operators);
    /// bounded so no input can exhaust the stack.
    depth: usize,
}

fn parse_expr_all(
    src: &str,
    text: &str,
    offset: usize,
    span: Span,
    names: &mut Names,
) -> Result<Expr, TemplateError> {
    let toks = tokenize(src, text, offset, span)?;
    if toks.is_empty() {
        return Err(TemplateError::syntax(src, span.start, "empty expression"));
    }
    let mut p = Parser {
        src,
        names,
        toks,
        pos: 0,
        span,
        depth: 0,
    };
    let e = p.expr(0)?;
    if p.pos != p.toks.len() {
        return Err(p.error("unexpected token"));
    }
    Ok(e)
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.span.start, |(_, a)| *a)
    }

    fn error(&self, what: &str) -> TemplateError {
        TemplateError::syntax(self.src, self.at(), what)
    }

    fn binop(&self) -> Option<(BinOp, u8)> {
        let op = match self.peek()? {
            Tok::Ident(w) => match w.to_ascii_lowercase().as_str() {
                "or" => BinOp::Or,
                "xor" => BinOp::Xor,
                "and" => BinOp::And,
                "div" => BinOp::IntDiv,
                "mod" => BinOp::Mod,
                _ => return None,
            },
            Tok::Op(o) => match *o {
                "=" | "==" => BinOp::Eq,
                "===" => BinOp::StrictEq,
                "!=" | "<>" => BinOp::Ne,
                "<" => BinOp::Lt,
                "<=" => BinOp::Le,
                ">" => BinOp::Gt,
                ">=" => BinOp::Ge,
                "+" => BinOp::Add,
                "-" => BinOp::Sub,
                "*" => BinOp::Mul,
                "/" => BinOp::Div,
                _ => return None,
            },
            _ => return None,
        };
        let prec = match op {
            BinOp::Or | BinOp::Xor => 1,
            BinOp::And => 2,
            BinOp::Eq
            | BinOp::StrictEq
            | BinOp::Ne
            | BinOp::Lt
            | BinOp::Le
            | BinOp::Gt
            | BinOp::Ge => 4,
            BinOp::Add | BinOp::Sub => 5,
            BinOp::Mul | BinOp::Div | BinOp::IntDiv | BinOp::Mod => 6,
        };
        Some((op, prec))
    }

    /// Parses one nested sub-expression with `f`: the only places the parser recurses without
    /// a bound of its own (the precedence levels of binary operators are a fixed few).
    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, TemplateError>,
    ) -> Result<T, TemplateError> {
        self.deeper()?;
        let result = f(self);
        self.depth -= 1;
        result
    }

    /// One more level of expression nesting, within [`MAX_EXPRESSION_NESTING`].
    fn deeper(&mut self) -> Result<(), TemplateError> {
        if self.depth >= MAX_EXPRESSION_NESTING {
            return Err(self.error(&format!(
                "expression nested too deeply (more than {MAX_EXPRESSION_NESTING})"
            )));
        }
        self.depth += 1;
        Ok(())
    }

    /// Precedence climbing; `not` binds looser than comparisons (level 3). Each operator of a
    /// chain nests the tree one level deeper (`a + b + c` is `(a + b) + c`), and rendering
    /// recurses once per level: the chain counts as nesting too.
    fn expr(&mut self, min: u8) -> Result<Expr, TemplateError> {
        let base = self.depth;
        let result = self.chain(min);
        self.depth = base;
        result
    }

    fn chain(&mut self, min: u8) -> Result<Expr, TemplateError> {
        let mut lhs = self.unary(min)?;
        while let Some((op, prec)) = self.binop() {
            if prec < min.max(1) {
                break;
            }
            self.deeper()?;
            self.pos += 1;
            let rhs = self.expr(prec + 1)?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn unary(&mut self, min: u8) -> Result<Expr, TemplateError> {
        match self.peek() {
            Some(Tok::Op("!")) => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.nested(|p| p.unary(7))?)))
            }
            Some(Tok::Ident(w))
                if w.eq_ignore_ascii_case("not")
                    && self.toks.get(self.pos + 1).map(|t| &t.0) != Some(&Tok::Colon) =>
            {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.nested(|p| p.expr(min.max(3)))?)))
            }
            Some(Tok::Op("-")) => {
                self.pos += 1;
                Ok(Expr::Neg(Box::new(self.nested(|p| p.unary(7))?)))
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Expr, TemplateError> {
        let at = self.at();
        let Some((tok, _)) = self.toks.get(self.pos).cloned() else {
            return Err(self.error("expression expected"));
        };
        self.pos += 1;
        match tok {
            Tok::Num(n) => Ok(Expr::Literal(number(n))),
            Tok::Str(s) => Ok(Expr::Literal(Value::String(s))),
            Tok::LParen => {
                let e = self.nested(|p| p.expr(0))?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(self.error("')' expected"));
                }
                self.pos += 1;
                Ok(e)
            }
            Tok::Ident(name) => {
                let lower = name.to_ascii_lowercase();
                match lower.as_str() {
                    "true" => return Ok(Expr::Literal(Value::Bool(true))),
                    "false" => return Ok(Expr::Literal(Value::Bool(false))),
                    "null" => return Ok(Expr::Literal(Value::Null)),
                    _ => {}
                }
                if self.peek() == Some(&Tok::LParen) {
                    self.pos += 1;
                    let args = self.nested(|p| {
                        let mut args = Vec::new();
                        if p.peek() != Some(&Tok::RParen) {
                            loop {
                                args.push(p.expr(0)?);
                                match p.peek() {
                                    Some(Tok::Comma) => p.pos += 1,
                                    Some(Tok::RParen) => break,
                                    _ => return Err(p.error("',' or ')' expected")),
                                }
                            }
                        }
                        Ok(args)
                    })?;
                    self.pos += 1;
                    let func = Func::from_name(&name).ok_or_else(|| {
                        TemplateError::syntax(self.src, at, &format!("Unknown function: {name}"))
                    })?;
                    return Ok(Expr::Call {
                        func,
                        name,
                        args,
                        at,
                    });
                }
                let ns = if self.peek() == Some(&Tok::Colon) {
                    let ns = match lower.as_str() {
                        "var" => Namespace::Var,
                        "data" => Namespace::Data,
                        "mj" => Namespace::Mj,
                        "segment" => Namespace::Segment,
                        _ => {
                            return Err(TemplateError::syntax(
                                self.src,
                                at,
                                &format!("unknown namespace \"{name}\""),
                            ));
                        }
                    };
                    self.pos += 1;
                    ns
                } else {
                    Namespace::Local(self.names.slot(&name))
                };
                let mut path = Vec::new();
                if matches!(ns, Namespace::Local(_)) {
                    path.push(name);
                } else {
                    path.push(self.name_part()?);
                }
                while self.peek() == Some(&Tok::Dot) {
                    self.pos += 1;
                    path.push(self.name_part()?);
                }
                // Defaults on loop variables too (`item.discount:0`): list items often lack a key.
                let default = if self.peek() == Some(&Tok::Colon) {
                    self.pos += 1;
                    Some(self.default_literal()?)
                } else {
                    None
                };
                Ok(Expr::Path {
                    ns,
                    path,
                    default,
                    at,
                })
            }
            _ => Err(TemplateError::syntax(self.src, at, "unexpected token")),
        }
    }

    fn name_part(&mut self) -> Result<String, TemplateError> {
        match self.toks.get(self.pos).cloned() {
            Some((Tok::Ident(s), _)) => {
                self.pos += 1;
                Ok(s)
            }
            Some((Tok::Num(n), _)) if n.fract() == 0.0 => {
                self.pos += 1;
                Ok(format!("{}", n as i64))
            }
            _ => Err(self.error("name expected")),
        }
    }

    /// `:"text"`, `:true`, `:12`, or a bare word.
    fn default_literal(&mut self) -> Result<Value, TemplateError> {
        let Some((tok, _)) = self.toks.get(self.pos).cloned() else {
            return Ok(Value::String(String::new()));
        };
        self.pos += 1;
        Ok(match tok {
            Tok::Str(s) => Value::String(s),
            Tok::Num(n) => number(n),
            Tok::Op("-") => match self.toks.get(self.pos).cloned() {
                Some((Tok::Num(n), _)) => {
                    self.pos += 1;
                    number(-n)
                }
                _ => return Err(self.error("number expected")),
            },
            Tok::Ident(w) => match w.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => Value::String(w),
            },
            _ => return Err(self.error("default value expected")),
        })
    }
}

/// Integral numbers stay integers (so they print without `.0`).
pub fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

/// Calls `f(name, has_default, offset)` for every namespaced reference (`var:`, `data:`,
/// `mj:`), depth first, in source order.
pub fn visit_paths(nodes: &[Node], f: &mut impl FnMut(String, bool, usize)) {
    fn expr(e: &Expr, f: &mut impl FnMut(String, bool, usize)) {
        match e {
            Expr::Path {
                ns,
                path,
                default,
                at,
            } => {
                let prefix = match ns {
                    Namespace::Var => "var:",
                    Namespace::Data => "data:",
                    Namespace::Mj => "mj:",
                    Namespace::Segment | Namespace::Local(_) => return,
                };
                f(
                    format!("{prefix}{}", path.join(".")),
                    default.is_some(),
                    *at,
                );
            }
            Expr::Not(inner) | Expr::Neg(inner) => expr(inner, f),
            Expr::Binary(_, l, r) => {
                expr(l, f);
                expr(r, f);
            }
            Expr::Call { args, .. } => args.iter().for_each(|a| expr(a, f)),
            Expr::Literal(_) => {}
        }
    }
    for node in nodes {
        match node {
            Node::Text(..) => {}
            Node::Print { expr: e, .. } | Node::Set { expr: e, .. } => expr(e, f),
            Node::If {
                branches,
                otherwise,
            } => {
                for (cond, body) in branches {
                    expr(cond, f);
                    visit_paths(body, f);
                }
                visit_paths(otherwise, f);
            }
            Node::For { iter, body, .. } => {
                expr(iter, f);
                visit_paths(body, f);
            }
        }
    }
}
