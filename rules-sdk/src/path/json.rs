//! Just enough JSON to read a multi-valued complex attribute (`addresses`, `roles` …) out of
//! the person's `raw_json`, for the paths that ask for one: no dependency, no tree. The
//! reader walks the resource once, skipping every other member without building anything,
//! and borrows what it returns from the JSON text.
//!
//! A string with escapes (`\n` in an address's `formatted`, `\"`) is decoded into a string
//! that lives for the rest of the program, interned so that asking again costs nothing
//! more. In a module that is the life of one decision: each decision runs in a fresh
//! instance, whose memory is dropped whole.
//!
//! Malformed JSON yields what was read before the fault; the host always sends valid JSON.

use std::cell::RefCell;

/// A scalar member of an element: a string (its raw text between the quotes, escapes not
/// yet decoded) or a number or boolean (as written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scalar<'a> {
    Str(&'a str),
    Literal(&'a str),
}

impl<'a> Scalar<'a> {
    /// The value as text: strings decoded, numbers and booleans as written.
    pub(super) fn text(self) -> &'a str {
        match self {
            Scalar::Literal(s) => s,
            Scalar::Str(s) if !s.contains('\\') => s,
            Scalar::Str(s) => intern(unescape(s)),
        }
    }
}

/// One element of a multi-valued attribute: its scalar members, keys as written. A string
/// element (a multi-valued simple attribute) is one member, `value`.
pub(super) type Element<'a> = Vec<(&'a str, Scalar<'a>)>;

/// The elements of the top-level member `name` (ASCII case-insensitive) of the JSON object
/// `json`; empty when there is no such member or it is not an array.
pub(super) fn elements<'a>(json: &'a str, name: &str) -> Vec<Element<'a>> {
    let mut reader = Reader { text: json, at: 0 };
    let mut out = Vec::new();
    if reader.find_member(name).is_some() {
        // A fault part-way keeps the elements read before it.
        let _ = reader.array(&mut out);
    }
    out
}

struct Reader<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    /// Consumes `byte` (after whitespace), or fails.
    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        (self.peek() == Some(byte)).then(|| self.at += 1)
    }

    /// Consumes `byte` (after whitespace) if it is next.
    fn eat(&mut self, byte: u8) -> bool {
        self.expect(byte).is_some()
    }

    /// A string's raw text, the reader just past its closing quote.
    fn string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.at;
        let bytes = self.text.as_bytes();
        while let Some(&b) = bytes.get(self.at) {
            match b {
                b'\\' => self.at += 2,
                b'"' => {
                    let raw = self.text.get(start..self.at)?;
                    self.at += 1;
                    return Some(raw);
                }
                _ => self.at += 1,
            }
        }
        None
    }

    /// A number, `true`, `false` or `null`, as written.
    fn literal(&mut self) -> Option<&'a str> {
        self.skip_whitespace();
        let start = self.at;
        while self.peek().is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace()) {
            self.at += 1;
        }
        (self.at > start).then(|| self.text.get(start..self.at)).flatten()
    }

    /// Skips one value of any kind, without recursion (nesting depth costs nothing).
    fn skip_value(&mut self) -> Option<()> {
        self.skip_whitespace();
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'[' | b'{' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'[' | b'{' => depth += 1,
                        b']' | b'}' => depth -= 1,
                        _ => {}
                    }
                    self.at += 1;
                    if depth == 0 {
                        return Some(());
                    }
                }
            }
            _ => self.literal().map(drop),
        }
    }

    /// Positions the reader at the value of the top-level member `name`.
    fn find_member(&mut self, name: &str) -> Option<()> {
        self.expect(b'{')?;
        loop {
            if self.eat(b'}') {
                return None;
            }
            let key = self.string()?;
            self.expect(b':')?;
            if key.eq_ignore_ascii_case(name) {
                return Some(());
            }
            self.skip_value()?;
            self.eat(b',');
        }
    }

    /// Reads an array of objects (or strings) into `out`.
    fn array(&mut self, out: &mut Vec<Element<'a>>) -> Option<()> {
        self.expect(b'[')?;
        loop {
            self.skip_whitespace();
            match self.peek()? {
                b']' => {
                    self.at += 1;
                    return Some(());
                }
                b'{' => out.push(self.object()?),
                b'"' => out.push(vec![("value", Scalar::Str(self.string()?))]),
                _ => self.skip_value()?,
            }
            self.eat(b',');
        }
    }

    /// An object's scalar members; `null` and nested values are left out.
    fn object(&mut self) -> Option<Element<'a>> {
        self.expect(b'{')?;
        let mut members = Vec::new();
        loop {
            if self.eat(b'}') {
                return Some(members);
            }
            let key = self.string()?;
            self.expect(b':')?;
            self.skip_whitespace();
            match self.peek()? {
                b'"' => members.push((key, Scalar::Str(self.string()?))),
                b'[' | b'{' => self.skip_value()?,
                _ => match self.literal()? {
                    "null" => {}
                    literal => members.push((key, Scalar::Literal(literal))),
                },
            }
            self.eat(b',');
        }
    }
}

/// A JSON string's raw text decoded. Invalid escapes are kept as written.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let rest = chars.as_str();
                match unicode_escape(rest) {
                    Some((decoded, used)) => {
                        out.push(decoded);
                        chars = rest[used..].chars();
                    }
                    None => out.push_str("\\u"),
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// `XXXX` (after `\u`), or a surrogate pair `XXXX\uXXXX`: the character and the bytes used.
fn unicode_escape(rest: &str) -> Option<(char, usize)> {
    let hex = |s: &str| s.get(..4).and_then(|h| u32::from_str_radix(h, 16).ok());
    let first = hex(rest)?;
    if (0xD800..0xDC00).contains(&first) {
        let low = rest.get(4..6).filter(|s| *s == "\\u").and_then(|_| hex(&rest[6..]))?;
        let c = char::from_u32(0x10000 + ((first - 0xD800) << 10) + (low.checked_sub(0xDC00)? & 0x3FF))?;
        return Some((c, 10));
    }
    Some((char::from_u32(first)?, 4))
}

/// `text` kept for the rest of the program (see the module's header), once per distinct
/// value.
fn intern(text: String) -> &'static str {
    thread_local! {
        static INTERNED: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
    }
    INTERNED.with(|interned| {
        let mut interned = interned.borrow_mut();
        if let Some(known) = interned.iter().find(|s| **s == text) {
            return *known;
        }
        let kept: &'static str = Box::leak(text.into_boxed_str());
        interned.push(kept);
        kept
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts<'a>(elements: &[Element<'a>], member: &str) -> Vec<&'a str> {
        elements.iter().filter_map(|e| e.iter().find(|(k, _)| *k == member).map(|(_, v)| v.text())).collect()
    }

    #[test]
    fn reads_one_member_and_skips_the_rest() {
        let json = r#"{"id":"1","name":{"a":[1,{"b":"]}"}]},"emails":[{"value":"x"}],
            "Addresses" : [ {"type":"work","locality":"London","primary":true,"n":12,"gone":null,"sub":{"x":1}},
                            {"type":"home","formatted":"1 Main St\nSpringfield \"North\" \u00e9\ud83d\ude00"},
                            "plain", 7 ],
            "after":"x"}"#;
        let read = elements(json, "addresses");
        assert_eq!(read.len(), 3);
        assert_eq!(texts(&read, "type"), ["work", "home"]);
        assert_eq!(texts(&read, "locality"), ["London"]);
        assert_eq!(texts(&read, "primary"), ["true"]);
        assert_eq!(texts(&read, "n"), ["12"]);
        assert_eq!(texts(&read, "gone"), Vec::<&str>::new());
        assert_eq!(texts(&read, "sub"), Vec::<&str>::new());
        assert_eq!(texts(&read, "formatted"), ["1 Main St\nSpringfield \"North\" é😀"]);
        assert_eq!(texts(&read, "value"), ["plain"]);
        // Interned: the same decoded text is the same allocation.
        let again = elements(json, "addresses");
        assert!(std::ptr::eq(texts(&read, "formatted")[0], texts(&again, "formatted")[0]));
    }

    #[test]
    fn absent_wrong_shaped_or_malformed_yield_nothing_more() {
        for json in ["", "{}", "[]", "nonsense", r#"{"roles":"admin"}"#, r#"{"roles":{"value":"a"}}"#, r#"{"roles":["#]
        {
            assert!(elements(json, "roles").is_empty(), "{json}");
        }
        let cut = r#"{"roles":[{"value":"a"},{"value":"b"#;
        assert_eq!(texts(&elements(cut, "roles"), "value"), ["a"]);
        // A member of that name inside another member is not the top-level one.
        assert!(elements(r#"{"x":{"roles":[{"value":"a"}]}}"#, "roles").is_empty());
        // Odd escapes are kept rather than lost.
        assert_eq!(unescape(r"a\u12zz\q\"), "a\\u12zzq\\");
        assert_eq!(unescape(r"\ud83d"), "\\ud83d");
    }
}
