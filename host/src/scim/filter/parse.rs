//! The filter grammar (RFC 7644 §3.4.2.2): a tokenizer and a bounded recursive-descent
//! parser.
//!
//! Bounds keep hostile input cheap: the input length is checked first, recursion only
//! happens for `(`, `not (` and `[` (at most [`MAX_DEPTH`] levels), and `and`/`or` chains
//! are built in a loop. Every step consumes a token, so parsing is linear in the input.

use crate::scim::error::{ScimError, ScimResult};
use crate::scim::path::{is_valid_name, AttrPath};

use super::{CompValue, CompareOp, Filter};

/// Longer filters are refused before tokenizing.
pub const MAX_LEN: usize = 8 * 1024;
/// Deepest nesting of `(`, `not (` and `[`.
pub const MAX_DEPTH: usize = 32;
/// Most attribute expressions (`pr` and comparisons) in one filter.
pub const MAX_COMPARISONS: usize = 256;

#[derive(Debug)]
enum Tok<'a> {
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// A run of characters that are not whitespace, brackets or `"`: an attribute path, an
    /// operator, a keyword, or an unquoted value.
    Word(&'a str),
    /// A JSON string literal, unescaped.
    Str(String),
}

#[derive(Debug)]
struct Token<'a> {
    tok: Tok<'a>,
    start: usize,
    end: usize,
}

impl Tok<'_> {
    fn describe(&self) -> String {
        match self {
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::LBracket => "'['".into(),
            Tok::RBracket => "']'".into(),
            Tok::Word(w) => format!("{w:?}"),
            Tok::Str(_) => "a string".into(),
        }
    }

    fn is_keyword(&self, kw: &str) -> bool {
        matches!(self, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }
}

fn error_at(at: usize, msg: &str) -> ScimError {
    ScimError::invalid_filter(format!("{msg} (at offset {at})"))
}

fn tokenize(input: &str) -> ScimResult<Vec<Token<'_>>> {
    let bytes = input.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let single = match bytes[i] {
            b if b.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'(' => Some(Tok::LParen),
            b')' => Some(Tok::RParen),
            b'[' => Some(Tok::LBracket),
            b']' => Some(Tok::RBracket),
            _ => None,
        };
        let tok = if let Some(tok) = single {
            i += 1;
            tok
        } else if bytes[i] == b'"' {
            i = string_end(bytes, i).ok_or_else(|| error_at(start, "unterminated string"))?;
            let literal = &input[start..i];
            let s: String = serde_json::from_str(literal)
                .map_err(|_| error_at(start, "malformed string (JSON escapes only, no raw control characters)"))?;
            Tok::Str(s)
        } else {
            while i < bytes.len() && !is_word_end(bytes[i]) {
                i += 1;
            }
            Tok::Word(&input[start..i])
        };
        tokens.push(Token { tok, start, end: i });
    }
    Ok(tokens)
}

fn is_word_end(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'(' | b')' | b'[' | b']' | b'"')
}

/// The index just past the `"` closing the string that opens at `open`.
fn string_end(bytes: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Parses a filter. With `value_filter`, the input is the inside of `attr[...]` (a
/// `valFilter`), where value paths may not nest.
pub fn parse(input: &str, value_filter: bool) -> ScimResult<Filter> {
    if input.len() > MAX_LEN {
        return Err(ScimError::invalid_filter(format!("filter longer than {MAX_LEN} bytes")));
    }
    let tokens = tokenize(input)?;
    if tokens.is_empty() {
        return Err(ScimError::invalid_filter("empty filter"));
    }
    let mut p = Parser { tokens, pos: 0, comparisons: 0, end: input.len() };
    let filter = p.or(0, value_filter)?;
    match p.tokens.get(p.pos) {
        None => Ok(filter),
        Some(t) if matches!(t.tok, Tok::RParen) => Err(error_at(t.start, "unbalanced ')'")),
        Some(t) => Err(error_at(t.start, &format!("unexpected {} after a complete expression", t.tok.describe()))),
    }
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    pos: usize,
    comparisons: usize,
    end: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&Token<'a>> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> ScimResult<&Token<'a>> {
        let end = self.end;
        let t = self.tokens.get(self.pos).ok_or_else(|| error_at(end, "unexpected end of filter"))?;
        self.pos += 1;
        Ok(t)
    }

    fn enter(depth: usize, at: usize) -> ScimResult<usize> {
        if depth >= MAX_DEPTH {
            return Err(error_at(at, &format!("nested deeper than {MAX_DEPTH} levels")));
        }
        Ok(depth + 1)
    }

    fn expect_close(&mut self, open_at: usize, close: &str) -> ScimResult<()> {
        let ok = match self.peek() {
            Some(Token { tok: Tok::RParen, .. }) => close == ")",
            Some(Token { tok: Tok::RBracket, .. }) => close == "]",
            _ => false,
        };
        if !ok {
            let at = self.peek().map_or(self.end, |t| t.start);
            return Err(error_at(at, &format!("expected '{close}' to close the group opened at offset {open_at}")));
        }
        self.pos += 1;
        Ok(())
    }

    /// `and-expr *("or" and-expr)`, left-associative.
    fn or(&mut self, depth: usize, in_value: bool) -> ScimResult<Filter> {
        let mut left = self.and(depth, in_value)?;
        while self.peek().is_some_and(|t| t.tok.is_keyword("or")) {
            self.pos += 1;
            let right = self.and(depth, in_value)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// `unary *("and" unary)`, left-associative.
    fn and(&mut self, depth: usize, in_value: bool) -> ScimResult<Filter> {
        let mut left = self.unary(depth, in_value)?;
        while self.peek().is_some_and(|t| t.tok.is_keyword("and")) {
            self.pos += 1;
            let right = self.unary(depth, in_value)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// `"(" filter ")"`, `"not" "(" filter ")"`, or an attribute expression. `not` is a
    /// keyword only before `(`, so an attribute called `not` still works.
    fn unary(&mut self, depth: usize, in_value: bool) -> ScimResult<Filter> {
        let t = self.next()?;
        let start = t.start;
        let word = match &t.tok {
            Tok::LParen => None,
            Tok::Word(w) => Some(*w),
            other => {
                return Err(error_at(
                    start,
                    &format!("expected an attribute path, '(' or 'not', found {}", other.describe()),
                ))
            }
        };
        let Some(word) = word else {
            let inner = self.or(Self::enter(depth, start)?, in_value)?;
            self.expect_close(start, ")")?;
            return Ok(inner);
        };
        if word.eq_ignore_ascii_case("not") && matches!(self.peek(), Some(Token { tok: Tok::LParen, .. })) {
            self.pos += 1;
            let inner = self.or(Self::enter(depth, start)?, in_value)?;
            self.expect_close(start, ")")?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        self.attr_expr(word, start, depth, in_value)
    }

    /// `attrPath "pr"`, `attrPath op value`, or a value path `attrPath "[" valFilter "]"`,
    /// optionally followed (as Microsoft Entra sends) by `.sub op value`.
    fn attr_expr(&mut self, word: &str, start: usize, depth: usize, in_value: bool) -> ScimResult<Filter> {
        let path = AttrPath::parse(word).map_err(|e| error_at(start, &e.detail))?;
        let Some(Token { tok: Tok::LBracket, start: open, .. }) = self.peek() else {
            return self.comparison(path);
        };
        let open = *open;
        if in_value {
            return Err(error_at(open, "value filters do not nest"));
        }
        if path.sub.is_some() {
            return Err(error_at(open, "a value filter applies to an attribute, not a sub-attribute"));
        }
        self.pos += 1;
        let mut inner = self.or(Self::enter(depth, open)?, true)?;
        let close_end = self.peek().map(|t| t.end);
        self.expect_close(open, "]")?;
        // `emails[type eq "work"].value eq "x"` ≡ `emails[type eq "work" and value eq "x"]`.
        if let Some(Token { tok: Tok::Word(w), start: sub_at, .. }) = self.peek() {
            if let (Some(sub), true) = (w.strip_prefix('.'), Some(*sub_at) == close_end) {
                if !is_valid_name(sub) {
                    return Err(error_at(*sub_at, "invalid sub-attribute name after ']'"));
                }
                let sub = AttrPath::simple(sub);
                self.pos += 1;
                let comparison = self.comparison(sub)?;
                inner = Filter::And(Box::new(inner), Box::new(comparison));
            }
        }
        Ok(Filter::ValuePath(path, Box::new(inner)))
    }

    /// The operator and value after an attribute path.
    fn comparison(&mut self, path: AttrPath) -> ScimResult<Filter> {
        let t = self.next()?;
        let at = t.start;
        let Tok::Word(op) = &t.tok else {
            return Err(error_at(at, &format!("expected an operator after {path}, found {}", t.tok.describe())));
        };
        let op: &'a str = op;
        self.comparisons += 1;
        if self.comparisons > MAX_COMPARISONS {
            return Err(error_at(at, &format!("more than {MAX_COMPARISONS} comparisons")));
        }
        if op.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let op = CompareOp::parse(op).ok_or_else(|| error_at(at, &format!("unknown operator {op:?}")))?;
        let t = self.next()?;
        let value = match &t.tok {
            Tok::Str(s) => CompValue::Str(s.clone()),
            Tok::Word(w) => bare_value(w),
            other => {
                return Err(error_at(t.start, &format!("expected a value after '{op}', found {}", other.describe())))
            }
        };
        Ok(Filter::Compare(path, op, value))
    }
}

/// An unquoted value: `true`, `false`, `null` (any case), a JSON number, or otherwise a
/// string (Microsoft Entra sends `externalId eq jyoung`).
fn bare_value(w: &str) -> CompValue {
    if w.eq_ignore_ascii_case("true") {
        CompValue::Bool(true)
    } else if w.eq_ignore_ascii_case("false") {
        CompValue::Bool(false)
    } else if w.eq_ignore_ascii_case("null") {
        CompValue::Null
    } else if let Some(n) = json_number(w) {
        CompValue::Number(n)
    } else {
        CompValue::Str(w.to_owned())
    }
}

/// A JSON number (RFC 8259 syntax, checked by serde_json). Non-integers are converted with
/// the standard library's correctly rounded parser, so that printing a number and parsing it
/// again gives the same value (serde_json's own fast path may be off by an ulp).
fn json_number(w: &str) -> Option<serde_json::Number> {
    if !w.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return None;
    }
    let n: serde_json::Number = w.parse().ok()?;
    if n.is_f64() {
        return serde_json::Number::from_f64(w.parse::<f64>().ok()?);
    }
    Some(n)
}
