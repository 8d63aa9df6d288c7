//! A top-level JSON object scanner for the hook's hot path.
//!
//! Claude Code hands a hook one JSON object on stdin, and a `Write` or
//! `PostToolUse` payload can be megabytes, almost all of it inside strings.
//! The hook needs a handful of top-level string fields, so instead of building
//! a document it walks the top-level object once: strings are skipped with
//! `memchr2` (looking only for `"` and `\`), nested objects and arrays are
//! skipped by counting brackets outside strings, and only the values of the
//! requested keys are decoded. A key such as `session_id` nested inside
//! `tool_input` is never matched. It is fed in pieces as stdin arrives
//! ([`Scanner`]) and keeps only the requested values, so a payload of any
//! size is scanned in bounded memory (and read to its end: closing the pipe
//! early would give Claude Code an EPIPE).
//!
//! The scanner validates structure (an object, properly terminated, nothing
//! after it) but is lenient about details serde_json would reject (raw control
//! characters in strings, invalid UTF-8 outside the extracted values): the
//! hook would rather forward an event than drop it over a detail.

use std::borrow::Cow;

/// Why a document was not scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanError {
    /// The input ended before the top-level object did.
    Truncated,
    /// The input is not a JSON object (or has something after it).
    NotAnObject,
    /// A byte that JSON does not allow at this position.
    Syntax(usize),
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanError::Truncated => f.write_str("input ends inside the JSON object"),
            ScanError::NotAnObject => f.write_str("input is not a JSON object"),
            ScanError::Syntax(at) => write!(f, "JSON syntax error at byte {at}"),
        }
    }
}

/// Scans the top-level object in `doc` and returns, for each of `keys`, the
/// decoded value if that key is present at top level with a string value.
///
/// As with serde_json, a key given twice yields its last value; a value that
/// is not a string (number, null, object...) yields `None`, and so does one
/// longer than [`VALUE_CAP`].
pub fn scan_top_level<const N: usize>(
    doc: &[u8],
    keys: &[&str; N],
) -> Result<[Option<String>; N], ScanError> {
    let mut scanner = Scanner::new(keys);
    scanner.feed(doc);
    scanner.finish()
}

/// The longest value of a requested key that is kept (a session id, a path,
/// a tool name are far shorter); a longer one counts as absent.
pub const VALUE_CAP: usize = 64 * 1024;

/// The longest key compared with the requested ones; a longer key is none
/// of them.
const KEY_CAP: usize = 256;

/// The top-level scanner fed in pieces, as stdin arrives: its memory is
/// bounded by the requested values ([`VALUE_CAP`] each), whatever the size
/// of the document (a `Write` payload of a gigabyte costs no more).
pub struct Scanner<'k, const N: usize> {
    keys: &'k [&'k str; N],
    state: State,
    /// Bytes fed so far (error positions).
    pos: usize,
    /// Whether anything but whitespace was fed.
    content: bool,
    error: Option<ScanError>,
    /// The raw (still escaped) value of each requested key, and where it
    /// began.
    raw: [Option<(Vec<u8>, usize)>; N],
    key: Vec<u8>,
    key_overlong: bool,
    /// The requested key whose value is being read.
    slot: Option<usize>,
    value: Vec<u8>,
    value_start: usize,
    value_overlong: bool,
    escape: bool,
    in_string: bool,
    depth: usize,
    scalar: Vec<u8>,
    scalar_start: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Start,
    /// After `{` (`first`) or `,`: a key, or `}` after `{`.
    Member {
        first: bool,
    },
    Key,
    AfterKey,
    Value,
    /// Inside a string value; `capture` when its key was requested.
    Str {
        capture: bool,
    },
    Nested,
    Scalar,
    AfterValue,
    End,
}

impl<'k, const N: usize> Scanner<'k, N> {
    pub fn new(keys: &'k [&'k str; N]) -> Self {
        Scanner {
            keys,
            state: State::Start,
            pos: 0,
            content: false,
            error: None,
            raw: std::array::from_fn(|_| None),
            key: Vec::new(),
            key_overlong: false,
            slot: None,
            value: Vec::new(),
            value_start: 0,
            value_overlong: false,
            escape: false,
            in_string: false,
            depth: 0,
            scalar: Vec::new(),
            scalar_start: 0,
        }
    }

    /// Whether anything but whitespace has been fed.
    pub fn saw_content(&self) -> bool {
        self.content
    }

    /// Scans the next piece of the document.
    pub fn feed(&mut self, chunk: &[u8]) {
        let mut i = 0;
        while i < chunk.len() && self.error.is_none() {
            // Inside strings, jump to the next quote or backslash.
            let in_text = matches!(self.state, State::Key | State::Str { .. })
                || (self.state == State::Nested && self.in_string);
            if in_text && !self.escape {
                let rest = &chunk[i..];
                let run = memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
                if run > 0 {
                    self.take(&rest[..run]);
                    self.pos += run;
                    i += run;
                    continue;
                }
            }
            let b = chunk[i];
            if !b.is_ascii_whitespace() {
                self.content = true;
            }
            if self.byte(b) {
                self.pos += 1;
                i += 1;
            }
        }
    }

    /// Keeps string bytes: a key's, or a requested value's (up to its cap).
    fn take(&mut self, bytes: &[u8]) {
        match self.state {
            State::Key => {
                if self.key.len() + bytes.len() <= KEY_CAP {
                    self.key.extend_from_slice(bytes);
                } else {
                    self.key_overlong = true;
                }
            }
            State::Str { capture: true } => {
                if self.value.len() + bytes.len() <= VALUE_CAP {
                    self.value.extend_from_slice(bytes);
                } else {
                    self.value_overlong = true;
                }
            }
            _ => {}
        }
    }

    /// One byte outside a run of string text; false when the byte must be
    /// looked at again in the new state (the end of a number).
    fn byte(&mut self, b: u8) -> bool {
        let ws = matches!(b, b' ' | b'\n' | b'\r' | b'\t');
        match self.state {
            State::Start => match b {
                _ if ws => {}
                b'{' => self.state = State::Member { first: true },
                _ => self.error = Some(ScanError::NotAnObject),
            },
            State::Member { first } => match b {
                _ if ws => {}
                b'"' => {
                    self.key.clear();
                    self.key_overlong = false;
                    self.state = State::Key;
                }
                b'}' if first => self.state = State::End,
                _ => self.error = Some(ScanError::Syntax(self.pos)),
            },
            State::Key | State::Str { .. } => {
                if self.escape {
                    self.escape = false;
                    self.take(&[b]);
                } else if b == b'\\' {
                    self.escape = true;
                    self.take(&[b]);
                } else if b == b'"' {
                    self.end_string();
                } else {
                    self.take(&[b]);
                }
            }
            State::AfterKey => match b {
                _ if ws => {}
                b':' => {
                    self.slot = (!self.key_overlong)
                        .then(|| match_key(&self.key, self.keys))
                        .flatten();
                    self.state = State::Value;
                }
                _ => self.error = Some(ScanError::Syntax(self.pos)),
            },
            State::Value => match b {
                _ if ws => {}
                b'"' => {
                    self.value.clear();
                    self.value_overlong = false;
                    self.value_start = self.pos;
                    self.state = State::Str {
                        capture: self.slot.is_some(),
                    };
                }
                b'{' | b'[' => {
                    self.clear_slot();
                    self.depth = 1;
                    self.in_string = false;
                    self.state = State::Nested;
                }
                b'0'..=b'9' | b'-' | b'a'..=b'z' => {
                    self.clear_slot();
                    self.scalar.clear();
                    self.scalar.push(b);
                    self.scalar_start = self.pos;
                    self.state = State::Scalar;
                }
                _ => self.error = Some(ScanError::Syntax(self.pos)),
            },
            State::Nested => {
                if self.in_string {
                    if self.escape {
                        self.escape = false;
                    } else if b == b'\\' {
                        self.escape = true;
                    } else if b == b'"' {
                        self.in_string = false;
                    }
                } else {
                    match b {
                        b'"' => self.in_string = true,
                        b'{' | b'[' => self.depth += 1,
                        b'}' | b']' => {
                            self.depth -= 1;
                            if self.depth == 0 {
                                self.state = State::AfterValue;
                            }
                        }
                        _ => {}
                    }
                }
            }
            State::Scalar => match b {
                b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E' | b'a'..=b'z' => {
                    // Long numbers are checked by their first bytes only.
                    if self.scalar.len() < 64 {
                        self.scalar.push(b);
                    }
                }
                _ => {
                    if !valid_scalar(&self.scalar) {
                        self.error = Some(ScanError::Syntax(self.scalar_start));
                        return true;
                    }
                    self.state = State::AfterValue;
                    return false;
                }
            },
            State::AfterValue => match b {
                _ if ws => {}
                b',' => self.state = State::Member { first: false },
                b'}' => self.state = State::End,
                _ => self.error = Some(ScanError::Syntax(self.pos)),
            },
            State::End => {
                if !ws {
                    self.error = Some(ScanError::NotAnObject);
                }
            }
        }
        true
    }

    fn end_string(&mut self) {
        match self.state {
            State::Key => self.state = State::AfterKey,
            State::Str { capture } => {
                if capture {
                    if let Some(slot) = self.slot {
                        self.raw[slot] = (!self.value_overlong)
                            .then(|| (std::mem::take(&mut self.value), self.value_start));
                    }
                }
                self.state = State::AfterValue;
            }
            _ => {}
        }
    }

    fn clear_slot(&mut self) {
        if let Some(slot) = self.slot {
            self.raw[slot] = None;
        }
    }

    /// The values found, once the whole document was fed.
    pub fn finish(self) -> Result<[Option<String>; N], ScanError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.state != State::End {
            return Err(ScanError::Truncated);
        }
        let mut out: [Option<String>; N] = std::array::from_fn(|_| None);
        for (slot, raw) in out.iter_mut().zip(self.raw) {
            if let Some((raw, at)) = raw {
                *slot = Some(
                    decode_string(&raw)
                        .ok_or(ScanError::Syntax(at))?
                        .into_owned(),
                );
            }
        }
        Ok(out)
    }
}

/// A number or a literal (`true`, `false`, `null`).
fn valid_scalar(token: &[u8]) -> bool {
    match token[0] {
        b't' => token == b"true",
        b'f' => token == b"false",
        b'n' => token == b"null",
        _ => token
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')),
    }
}

fn match_key<const N: usize>(raw: &[u8], keys: &[&str; N]) -> Option<usize> {
    if memchr::memchr(b'\\', raw).is_none() {
        return keys.iter().position(|k| k.as_bytes() == raw);
    }
    // A key spelled with escapes (`"session\u005fid"`) is still that key.
    let decoded = decode_string(raw)?;
    keys.iter().position(|k| *k == decoded)
}

/// Decodes the raw contents of a JSON string. Returns `None` when the bytes
/// are not UTF-8 or an escape is malformed. A lone surrogate becomes U+FFFD.
pub fn decode_string(raw: &[u8]) -> Option<Cow<'_, str>> {
    if memchr::memchr(b'\\', raw).is_none() {
        return std::str::from_utf8(raw).ok().map(Cow::Borrowed);
    }
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let Some(off) = memchr::memchr(b'\\', &raw[i..]) else {
            out.push_str(std::str::from_utf8(&raw[i..]).ok()?);
            break;
        };
        out.push_str(std::str::from_utf8(&raw[i..i + off]).ok()?);
        i += off;
        let esc = *raw.get(i + 1)?;
        i += 2;
        match esc {
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let hi = hex4(raw.get(i..i + 4)?)?;
                i += 4;
                let c = if (0xD800..0xDC00).contains(&hi) {
                    // A high surrogate must be followed by `\u` and a low one.
                    match raw.get(i..i + 6) {
                        Some([b'\\', b'u', rest @ ..]) => match hex4(rest) {
                            Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                                i += 6;
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                            }
                            _ => None,
                        },
                        _ => None,
                    }
                } else {
                    char::from_u32(hi)
                };
                out.push(c.unwrap_or('\u{FFFD}'));
            }
            _ => return None,
        }
    }
    Some(Cow::Owned(out))
}

fn hex4(digits: &[u8]) -> Option<u32> {
    if digits.len() != 4 {
        return None;
    }
    digits.iter().try_fold(0u32, |acc, &d| {
        let v = (d as char).to_digit(16)?;
        Some(acc * 16 + v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: [&str; 3] = ["session_id", "hook_event_name", "tool_use_id"];

    fn scan(doc: &str) -> Result<[Option<String>; 3], ScanError> {
        let whole = scan_top_level(doc.as_bytes(), &KEYS);
        // The same document fed a byte at a time scans the same.
        let mut scanner = Scanner::new(&KEYS);
        for b in doc.as_bytes() {
            scanner.feed(std::slice::from_ref(b));
        }
        assert_eq!(scanner.finish(), whole, "fed byte by byte: {doc}");
        whole
    }

    #[test]
    fn extracts_top_level_strings_only() {
        let doc = r#"{"tool_input":{"session_id":"inner","x":[1,{"session_id":"deep"}]},
            "session_id":"outer","hook_event_name":"PreToolUse"}"#;
        let [sid, name, tuid] = scan(doc).unwrap();
        assert_eq!(sid.as_deref(), Some("outer"));
        assert_eq!(name.as_deref(), Some("PreToolUse"));
        assert_eq!(tuid, None);
    }

    #[test]
    fn quotes_and_brackets_inside_strings_do_not_confuse_nesting() {
        let doc = r#"{"tool_input":{"content":"}\"{[\\\"\\"},"session_id":"s1"}"#;
        assert_eq!(scan(doc).unwrap()[0].as_deref(), Some("s1"));
    }

    #[test]
    fn decodes_escapes_and_surrogate_pairs() {
        let doc = r#"{"session_id":"a\nb\u00e9\ud83d\ude00\/\"","hook_event_name":"\ud800x"}"#;
        let [sid, name, _] = scan(doc).unwrap();
        assert_eq!(sid.as_deref(), Some("a\nbé😀/\""));
        assert_eq!(name.as_deref(), Some("\u{FFFD}x"));
    }

    #[test]
    fn escaped_key_matches() {
        let doc = r#"{"session\u005fid":"s"}"#;
        assert_eq!(scan(doc).unwrap()[0].as_deref(), Some("s"));
    }

    #[test]
    fn last_duplicate_wins_and_non_strings_are_none() {
        let doc = r#"{"session_id":"a","session_id":"b","tool_use_id":"t","tool_use_id":null}"#;
        let [sid, _, tuid] = scan(doc).unwrap();
        assert_eq!(sid.as_deref(), Some("b"));
        assert_eq!(tuid, None);
    }

    #[test]
    fn rejects_bad_documents() {
        assert_eq!(scan(""), Err(ScanError::Truncated));
        assert_eq!(scan("   "), Err(ScanError::Truncated));
        assert_eq!(scan("[1]"), Err(ScanError::NotAnObject));
        assert_eq!(scan("not json"), Err(ScanError::NotAnObject));
        assert_eq!(scan(r#"{"session_id":"abc"#), Err(ScanError::Truncated));
        assert_eq!(scan(r#"{"a":{"b":[1,2]"#), Err(ScanError::Truncated));
        assert_eq!(scan(r#"{"a":1} x"#), Err(ScanError::NotAnObject));
        assert!(matches!(scan(r#"{"a" 1}"#), Err(ScanError::Syntax(_))));
        assert!(matches!(scan(r#"{"a":tru}"#), Err(ScanError::Syntax(_))));
        assert!(matches!(scan(r#"{"a":1,}"#), Err(ScanError::Syntax(_))));
        assert_eq!(scan(r#"{"a":"\"#), Err(ScanError::Truncated));
    }

    #[test]
    fn empty_object_and_whitespace() {
        assert_eq!(scan(" {\n} \n").unwrap(), [None, None, None]);
    }
}
