//! A small JSON parser into an owned value, for the statusline's input.
//!
//! The statusline needs nested objects and numbers, which the hook's
//! top-level scanner does not provide, and the hot-path crate takes no
//! serde (its derive macros would prevent static linking). The input is a
//! few kilobytes; this parser is a plain recursive descent with a depth
//! limit, so hostile input cannot overflow the stack.

use crate::json_scan::decode_string;

/// Deeper documents are rejected.
const MAX_DEPTH: usize = 128;

#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// Parses a whole document (surrounding whitespace allowed).
    pub fn parse(doc: &[u8]) -> Option<Json> {
        let mut p = Parser { doc, i: 0 };
        let v = p.value(0)?;
        p.ws();
        (p.i == doc.len()).then_some(v)
    }

    /// The member `key` of an object (the last one if repeated).
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(members) => members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Follows a path of object keys: `v.at(&["cost", "total_cost_usd"])`.
    pub fn at(&self, path: &[&str]) -> Option<&Json> {
        path.iter().try_fold(self, |v, k| v.get(k))
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A finite number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Num(n) if n.is_finite() => Some(*n),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

struct Parser<'a> {
    doc: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.doc.get(self.i) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        self.ws();
        (self.doc.get(self.i) == Some(&b)).then(|| self.i += 1)
    }

    fn value(&mut self, depth: usize) -> Option<Json> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        match *self.doc.get(self.i)? {
            b'{' => {
                self.i += 1;
                let mut members = Vec::new();
                if self.eat(b'}').is_some() {
                    return Some(Json::Obj(members));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.eat(b':')?;
                    members.push((key, self.value(depth + 1)?));
                    if self.eat(b',').is_some() {
                        continue;
                    }
                    self.eat(b'}')?;
                    return Some(Json::Obj(members));
                }
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                if self.eat(b']').is_some() {
                    return Some(Json::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.eat(b',').is_some() {
                        continue;
                    }
                    self.eat(b']')?;
                    return Some(Json::Arr(items));
                }
            }
            b'"' => self.string().map(Json::Str),
            b't' => self.literal(b"true", Json::Bool(true)),
            b'f' => self.literal(b"false", Json::Bool(false)),
            b'n' => self.literal(b"null", Json::Null),
            _ => self.number(),
        }
    }

    fn literal(&mut self, word: &[u8], v: Json) -> Option<Json> {
        self.doc[self.i..].starts_with(word).then(|| {
            self.i += word.len();
            v
        })
    }

    fn string(&mut self) -> Option<String> {
        if self.doc.get(self.i) != Some(&b'"') {
            return None;
        }
        let start = self.i + 1;
        let mut i = start;
        loop {
            let off = memchr::memchr2(b'"', b'\\', self.doc.get(i..)?)?;
            i += off;
            if self.doc[i] == b'"' {
                break;
            }
            i += 2;
        }
        let s = decode_string(&self.doc[start..i])?.into_owned();
        self.i = i + 1;
        Some(s)
    }

    fn number(&mut self) -> Option<Json> {
        let start = self.i;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.doc.get(self.i) {
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.doc[start..self.i]).ok()?;
        text.parse().ok().map(Json::Num)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_documents() {
        let v = Json::parse(br#" {"a":{"b":[1,2.5,-3e2,true,null,"x\n"]},"c":null} "#).unwrap();
        let b = v.at(&["a", "b"]).unwrap();
        let Json::Arr(items) = b else { panic!() };
        assert_eq!(items[1].as_f64(), Some(2.5));
        assert_eq!(items[2].as_f64(), Some(-300.0));
        assert_eq!(items[3].as_bool(), Some(true));
        assert_eq!(items[5].as_str(), Some("x\n"));
        assert_eq!(v.get("c"), Some(&Json::Null));
        assert_eq!(v.at(&["a", "missing"]), None);
    }

    #[test]
    fn rejects_bad_documents_and_deep_nesting() {
        for bad in [
            &b""[..],
            b"{",
            b"{\"a\":}",
            b"[1,]",
            b"{} x",
            b"nul",
            b"\"abc",
            b"{\"a\" 1}",
        ] {
            assert_eq!(Json::parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        let deep = "[".repeat(100_000);
        assert_eq!(Json::parse(deep.as_bytes()), None);
    }
}
