//! A top-level JSON object scanner for the hook's hot path.
//!
//! Claude Code hands a hook one JSON object on stdin, and a `Write` or
//! `PostToolUse` payload can be megabytes, almost all of it inside strings.
//! The hook needs a handful of top-level string fields, so instead of building
//! a document it walks the top-level object once: strings are skipped with
//! `memchr2` (looking only for `"` and `\`), nested objects and arrays are
//! skipped by counting brackets outside strings, and only the values of the
//! requested keys are decoded. A key such as `session_id` nested inside
//! `tool_input` is never matched.
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
/// is not a string (number, null, object...) yields `None`.
pub fn scan_top_level<'a, const N: usize>(
    doc: &'a [u8],
    keys: &[&str; N],
) -> Result<[Option<Cow<'a, str>>; N], ScanError> {
    let mut out: [Option<Cow<'a, str>>; N] = std::array::from_fn(|_| None);
    let mut i = skip_ws(doc, 0);
    match doc.get(i) {
        Some(b'{') => i += 1,
        Some(_) => return Err(ScanError::NotAnObject),
        None => return Err(ScanError::Truncated),
    }
    i = skip_ws(doc, i);
    if doc.get(i) == Some(&b'}') {
        return finish(doc, i + 1).map(|()| out);
    }
    loop {
        // Key.
        match doc.get(i) {
            Some(b'"') => {}
            Some(_) => return Err(ScanError::Syntax(i)),
            None => return Err(ScanError::Truncated),
        }
        let (key_raw, after_key) = string_end(doc, i + 1)?;
        let slot = match_key(key_raw, keys);
        i = skip_ws(doc, after_key);
        match doc.get(i) {
            Some(b':') => i = skip_ws(doc, i + 1),
            Some(_) => return Err(ScanError::Syntax(i)),
            None => return Err(ScanError::Truncated),
        }
        // Value.
        match doc.get(i) {
            Some(b'"') => {
                let (raw, after) = string_end(doc, i + 1)?;
                if let Some(slot) = slot {
                    out[slot] = Some(decode_string(raw).ok_or(ScanError::Syntax(i))?);
                }
                i = after;
            }
            Some(b'{') | Some(b'[') => {
                if let Some(slot) = slot {
                    out[slot] = None;
                }
                i = skip_nested(doc, i)?;
            }
            Some(_) => {
                if let Some(slot) = slot {
                    out[slot] = None;
                }
                i = skip_scalar(doc, i)?;
            }
            None => return Err(ScanError::Truncated),
        }
        i = skip_ws(doc, i);
        match doc.get(i) {
            Some(b',') => i = skip_ws(doc, i + 1),
            Some(b'}') => return finish(doc, i + 1).map(|()| out),
            Some(_) => return Err(ScanError::Syntax(i)),
            None => return Err(ScanError::Truncated),
        }
    }
}

/// Only whitespace may follow the top-level object.
fn finish(doc: &[u8], i: usize) -> Result<(), ScanError> {
    if skip_ws(doc, i) == doc.len() {
        Ok(())
    } else {
        Err(ScanError::NotAnObject)
    }
}

fn skip_ws(doc: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = doc.get(i) {
        i += 1;
    }
    i
}

/// Given the index just after an opening quote, returns the raw (still
/// escaped) contents and the index just after the closing quote.
fn string_end(doc: &[u8], start: usize) -> Result<(&[u8], usize), ScanError> {
    let mut i = start;
    loop {
        match memchr::memchr2(b'"', b'\\', &doc[i.min(doc.len())..]) {
            Some(off) => {
                let at = i + off;
                if doc[at] == b'"' {
                    return Ok((&doc[start..at], at + 1));
                }
                // A backslash escapes the next byte; `\uXXXX` digits contain
                // neither quote nor backslash, so skipping two bytes is enough.
                i = at + 2;
                if i > doc.len() {
                    return Err(ScanError::Truncated);
                }
            }
            None => return Err(ScanError::Truncated),
        }
    }
}

/// Skips an object or array starting at `start`, returning the index after it.
fn skip_nested(doc: &[u8], start: usize) -> Result<usize, ScanError> {
    let mut depth = 0usize;
    let mut i = start;
    while i < doc.len() {
        match doc[i] {
            b'"' => {
                let (_, after) = string_end(doc, i + 1)?;
                i = after;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    Err(ScanError::Truncated)
}

/// Skips a number or a literal (`true`, `false`, `null`).
fn skip_scalar(doc: &[u8], start: usize) -> Result<usize, ScanError> {
    let mut i = start;
    while let Some(&b) = doc.get(i) {
        match b {
            b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E' | b'a'..=b'z' => i += 1,
            _ => break,
        }
    }
    if i == start {
        return Err(ScanError::Syntax(start));
    }
    let token = &doc[start..i];
    let valid = match token[0] {
        b't' => token == b"true",
        b'f' => token == b"false",
        b'n' => token == b"null",
        _ => token
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')),
    };
    if !valid {
        return Err(ScanError::Syntax(start));
    }
    Ok(i)
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
        scan_top_level(doc.as_bytes(), &KEYS).map(|a| a.map(|v| v.map(Cow::into_owned)))
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
