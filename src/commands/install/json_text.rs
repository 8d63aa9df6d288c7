//! A JSON text with the byte range of every value in it, and edits that
//! replace a few ranges, so that a merge changes only what it must and every
//! other byte of the user's file stays as it was (key order, numbers as
//! written, spacing, escapes).
//!
//! The text is validated by serde_json before it gets here; this module only
//! locates values and never decides whether a text is JSON.

use llm_bridge_core::error::{Error, Result};
use serde::Serialize;
use std::ops::Range;

/// One value of the text and where it is.
pub struct Node {
    /// The byte range of the value, brackets or quotes included.
    pub span: Range<usize>,
    pub kind: Kind,
}

pub enum Kind {
    Object(Vec<Member>),
    Array(Vec<Node>),
    /// A string, number, `true`, `false` or `null`.
    Scalar,
}

/// A `"key": value` pair of an object.
pub struct Member {
    /// The decoded key.
    pub key: String,
    /// The byte range of the key, quotes included.
    pub key_span: Range<usize>,
    pub value: Node,
}

impl Node {
    /// The member named `key`; the last one if the key is repeated, as
    /// serde_json (and so Claude Code's reading of it) keeps the last.
    pub fn member(&self, key: &str) -> Option<&Member> {
        match &self.kind {
            Kind::Object(members) => members.iter().rev().find(|m| m.key == key),
            _ => None,
        }
    }

    /// The ranges of the items of an object (whole members) or an array.
    pub fn items(&self) -> Vec<Range<usize>> {
        match &self.kind {
            Kind::Object(members) => members
                .iter()
                .map(|m| m.key_span.start..m.value.span.end)
                .collect(),
            Kind::Array(items) => items.iter().map(|n| n.span.clone()).collect(),
            Kind::Scalar => Vec::new(),
        }
    }

    /// This value's text.
    pub fn text<'t>(&self, text: &'t str) -> &'t str {
        &text[self.span.clone()]
    }
}

/// Locates every value of `text`, which serde_json has accepted.
pub fn parse(text: &str) -> Result<Node> {
    let mut parser = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
    };
    let node = parser.value()?;
    parser.skip_space();
    if parser.pos != text.len() {
        return Err(parser.unexpected());
    }
    Ok(node)
}

struct Parser<'t> {
    text: &'t str,
    bytes: &'t [u8],
    pos: usize,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Result<u8> {
        self.bytes
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.unexpected())
    }

    fn unexpected(&self) -> Error {
        // Only reachable if serde_json accepted something this does not.
        Error::msg(format!(
            "cannot locate the values of the settings (byte {})",
            self.pos
        ))
    }

    fn value(&mut self) -> Result<Node> {
        self.skip_space();
        let start = self.pos;
        let kind = match self.peek()? {
            b'{' => Kind::Object(self.object()?),
            b'[' => Kind::Array(self.array()?),
            b'"' => {
                self.string()?;
                Kind::Scalar
            }
            _ => {
                while let Some(b) = self.bytes.get(self.pos) {
                    if matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.pos += 1;
                }
                if self.pos == start {
                    return Err(self.unexpected());
                }
                Kind::Scalar
            }
        };
        Ok(Node {
            span: start..self.pos,
            kind,
        })
    }

    fn string(&mut self) -> Result<()> {
        self.pos += 1;
        loop {
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Ok(());
                }
                b'\\' => self.pos += 2,
                _ => self.pos += 1,
            }
        }
    }

    /// Consumes `,` (true: another item follows) or `close` (false).
    fn next_or_close(&mut self, close: u8) -> Result<bool> {
        self.skip_space();
        let b = self.peek()?;
        self.pos += 1;
        match b {
            b',' => Ok(true),
            b if b == close => Ok(false),
            _ => Err(self.unexpected()),
        }
    }

    fn object(&mut self) -> Result<Vec<Member>> {
        self.pos += 1;
        let mut members = Vec::new();
        self.skip_space();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Ok(members);
        }
        loop {
            self.skip_space();
            let key_start = self.pos;
            if self.peek()? != b'"' {
                return Err(self.unexpected());
            }
            self.string()?;
            let key_span = key_start..self.pos;
            let key: String = serde_json::from_str(&self.text[key_span.clone()])
                .map_err(|_| self.unexpected())?;
            self.skip_space();
            if self.peek()? != b':' {
                return Err(self.unexpected());
            }
            self.pos += 1;
            let value = self.value()?;
            members.push(Member {
                key,
                key_span,
                value,
            });
            if !self.next_or_close(b'}')? {
                return Ok(members);
            }
        }
    }

    fn array(&mut self) -> Result<Vec<Node>> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_space();
        if self.peek()? == b']' {
            self.pos += 1;
            return Ok(items);
        }
        loop {
            items.push(self.value()?);
            if !self.next_or_close(b']')? {
                return Ok(items);
            }
        }
    }
}

/// How the document is written, for the values a merge adds: the indent
/// of one level, what separates a key from its value, its line ending, and
/// whether it is written on one line.
pub struct Style {
    pub unit: String,
    pub colon: String,
    pub newline: &'static str,
    pub one_line: bool,
}

impl Style {
    /// The style of `text`, whose values are `root`. A document with
    /// nothing in it gets the style Claude Code writes: two spaces.
    pub fn of(text: &str, root: &Node) -> Style {
        let mut style = Style {
            unit: "  ".into(),
            colon: ": ".into(),
            newline: if text.contains("\r\n") { "\r\n" } else { "\n" },
            one_line: false,
        };
        let Kind::Object(members) = &root.kind else {
            return style;
        };
        let Some(first) = members.first() else {
            return style;
        };
        style.one_line = !text.trim().contains('\n');
        let leading = &text[root.span.start + 1..first.key_span.start];
        if let Some((_, indent)) = leading.rsplit_once('\n') {
            if !indent.is_empty() {
                style.unit = indent.into();
            }
        }
        let colon = &text[first.key_span.end..first.value.span.start];
        if !colon.contains('\n') {
            style.colon = colon.into();
        }
        style
    }

    /// `value` as text at a position whose line is indented by `indent`;
    /// `None` writes it on one line.
    pub fn render(&self, value: &impl Serialize, indent: Option<&str>) -> String {
        let mut out = Vec::new();
        match indent {
            Some(indent) => {
                let formatter = serde_json::ser::PrettyFormatter::with_indent(self.unit.as_bytes());
                let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
                value.serialize(&mut ser).expect("serializing to memory");
                let text = String::from_utf8(out).expect("serde_json writes UTF-8");
                text.replace('\n', &format!("{}{indent}", self.newline))
            }
            None => {
                let formatter = OneLine {
                    spaced: self.colon.ends_with(' '),
                };
                let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
                value.serialize(&mut ser).expect("serializing to memory");
                String::from_utf8(out).expect("serde_json writes UTF-8")
            }
        }
    }

    /// A new `"key": value` member at a position indented by `indent`.
    pub fn render_member(&self, key: &str, value: &impl Serialize, indent: Option<&str>) -> String {
        let key = serde_json::to_string(key).expect("a string serializes");
        format!("{key}{}{}", self.colon, self.render(value, indent))
    }
}

/// serde_json's compact output, with a space after `:` and `,` when the
/// document has them.
struct OneLine {
    spaced: bool,
}

impl serde_json::ser::Formatter for OneLine {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        match (first, self.spaced) {
            (true, _) => Ok(()),
            (false, true) => writer.write_all(b", "),
            (false, false) => writer.write_all(b","),
        }
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.begin_array_value(writer, first)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(if self.spaced { b": " } else { b":" })
    }
}

/// How the items of a list (an object's members or an array's values) are
/// laid out: what comes after the opening bracket, between two items and
/// before the closing bracket.
pub struct Layout {
    pub leading: String,
    pub separator: String,
    pub trailing: String,
}

impl Layout {
    /// The layout of `list`, copied from its own items where it has any.
    pub fn of(text: &str, list: &Node, style: &Style) -> Layout {
        let items = list.items();
        let inner = list.span.start + 1..list.span.end - 1;
        match items.as_slice() {
            [] => {
                if style.one_line {
                    return Layout {
                        leading: String::new(),
                        separator: ",".into(),
                        trailing: String::new(),
                    };
                }
                let indent = line_indent(text, list.span.start);
                let newline = style.newline;
                Layout {
                    leading: format!("{newline}{indent}{}", style.unit),
                    separator: format!(",{newline}{indent}{}", style.unit),
                    trailing: format!("{newline}{indent}"),
                }
            }
            [only] => {
                let leading = text[inner.start..only.start].to_string();
                // On its own line: the line break and the item's indent
                // (not the lines before it, which may hold a blanked comment).
                let separator = if let Some((_, indent)) = leading.rsplit_once('\n') {
                    format!(",{}{indent}", style.newline)
                } else if leading.is_empty() && !style.colon.ends_with(' ') {
                    ",".to_string()
                } else {
                    ", ".to_string()
                };
                Layout {
                    leading,
                    separator,
                    trailing: text[only.end..inner.end].to_string(),
                }
            }
            [first, second, ..] => Layout {
                leading: text[inner.start..first.start].to_string(),
                separator: tidy(&text[first.end..second.start]),
                trailing: text[items[items.len() - 1].end..inner.end].to_string(),
            },
        }
    }

    /// The indent of an item on its own line; `None` when items share a line.
    pub fn item_indent(&self) -> Option<&str> {
        self.leading.rsplit_once('\n').map(|(_, indent)| indent)
    }
}

/// A separator copied from the text without the spaces that end its first
/// line: where a comment was blanked (`"a": 1, // why`), new items get
/// `,` and the line break, not the comment's width in spaces.
fn tidy(separator: &str) -> String {
    match separator.find('\n') {
        Some(at) => format!("{}{}", separator[..at].trim_end(), &separator[at..]),
        None => separator.to_string(),
    }
}

/// The whitespace at the start of the line holding byte `at`.
pub fn line_indent(text: &str, at: usize) -> &str {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[line_start..at];
    let end = line
        .find(|c: char| c != ' ' && c != '\t')
        .unwrap_or(line.len());
    &line[..end]
}

/// Replacements of ranges of one text, which must not overlap.
#[derive(Default)]
pub struct Edits {
    list: Vec<(Range<usize>, String)>,
}

impl Edits {
    pub fn replace(&mut self, range: Range<usize>, with: String) {
        self.list.push((range, with));
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Keeps the items of `list` for which `keep` is true, in their order and
    /// with their text, and adds `added` (rendered for the list's layout)
    /// after them. A removed item goes with the separator before it (after
    /// it, for items before the first kept one).
    pub fn edit_list(
        &mut self,
        text: &str,
        list: &Node,
        keep: &[bool],
        added: &[String],
        style: &Style,
    ) {
        let items = list.items();
        debug_assert_eq!(items.len(), keep.len());
        let inner = list.span.start + 1..list.span.end - 1;
        let Some(first_kept) = keep.iter().position(|&k| k) else {
            if items.is_empty() && added.is_empty() {
                return;
            }
            let layout = Layout::of(text, list, style);
            let with = if added.is_empty() {
                String::new()
            } else {
                format!(
                    "{}{}{}",
                    layout.leading,
                    added.join(&layout.separator),
                    layout.trailing
                )
            };
            self.replace(inner, with);
            return;
        };
        if first_kept > 0 {
            self.replace(items[0].start..items[first_kept].start, String::new());
        }
        for i in first_kept + 1..items.len() {
            if !keep[i] {
                self.replace(items[i - 1].end..items[i].end, String::new());
            }
        }
        if !added.is_empty() {
            let layout = Layout::of(text, list, style);
            let end = items[items.len() - 1].end;
            self.replace(
                end..end,
                format!("{}{}", layout.separator, added.join(&layout.separator)),
            );
        }
    }

    /// `text` with every replacement made.
    pub fn apply(mut self, text: &str) -> String {
        self.list.sort_by_key(|(range, _)| (range.start, range.end));
        let mut out = String::with_capacity(text.len() + 4096);
        let mut at = 0;
        for (range, with) in &self.list {
            assert!(range.start >= at, "overlapping edits");
            out.push_str(&text[at..range.start]);
            out.push_str(with);
            at = range.end;
        }
        out.push_str(&text[at..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(node: &Node) -> Vec<&str> {
        match &node.kind {
            Kind::Object(m) => m.iter().map(|m| m.key.as_str()).collect(),
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn locates_values_with_escapes_unicode_and_numbers_as_written() {
        let text =
            r#" {"b\"q": [1.50, {"\u0061": "}]\\"}], "a": 12345678901234567890123, "é": null } "#;
        let root = parse(text).unwrap();
        assert_eq!(keys(&root), ["b\"q", "a", "é"]);
        assert_eq!(
            root.member("a").unwrap().value.text(text),
            "12345678901234567890123"
        );
        let Kind::Array(items) = &root.member("b\"q").unwrap().value.kind else {
            panic!()
        };
        assert_eq!(items[0].text(text), "1.50");
        assert_eq!(items[1].text(text), r#"{"\u0061": "}]\\"}"#);
        assert_eq!(keys(&items[1]), ["a"]);
        assert_eq!(root.member("é").unwrap().value.text(text), "null");
    }

    #[test]
    fn the_last_of_repeated_keys_is_the_member() {
        let text = r#"{"k": 1, "k": 2}"#;
        assert_eq!(
            parse(text).unwrap().member("k").unwrap().value.text(text),
            "2"
        );
    }

    #[test]
    fn style_follows_the_document() {
        let tabs = "{\n\t\"a\":1\n}\n";
        let style = Style::of(tabs, &parse(tabs).unwrap());
        assert_eq!((style.unit.as_str(), style.colon.as_str()), ("\t", ":"));
        assert!(!style.one_line);
        let flat = r#"{"a": 1}"#;
        let style = Style::of(flat, &parse(flat).unwrap());
        assert!(style.one_line);
        assert_eq!(
            style.render(&serde_json::json!({"x": [1, 2]}), None),
            r#"{"x": [1, 2]}"#
        );
        let empty = "{}\n";
        let style = Style::of(empty, &parse(empty).unwrap());
        assert!(!style.one_line);
        assert_eq!(style.unit, "  ");
    }

    fn edit(text: &str, keep: &[bool], added: &[&str]) -> String {
        let root = parse(text).unwrap();
        let style = Style::of(text, &root);
        let list = &root.member("l").unwrap().value;
        let added: Vec<String> = added.iter().map(|s| s.to_string()).collect();
        let mut edits = Edits::default();
        edits.edit_list(text, list, keep, &added, &style);
        edits.apply(text)
    }

    #[test]
    fn list_edits_keep_the_layout() {
        let text = "{\n  \"l\": [\n    1,\n    2,\n    3\n  ]\n}\n";
        assert_eq!(
            edit(text, &[false, true, false], &["4"]),
            "{\n  \"l\": [\n    2,\n    4\n  ]\n}\n"
        );
        assert_eq!(
            edit(text, &[true, false, false], &[]),
            "{\n  \"l\": [\n    1\n  ]\n}\n"
        );
        assert_eq!(
            edit(text, &[false, false, true], &[]),
            "{\n  \"l\": [\n    3\n  ]\n}\n"
        );
        assert_eq!(
            edit(text, &[false, false, false], &[]),
            "{\n  \"l\": []\n}\n"
        );
        assert_eq!(
            edit(text, &[false, false, false], &["9"]),
            "{\n  \"l\": [\n    9\n  ]\n}\n"
        );
        let crlf = "{\r\n  \"l\": []\r\n}\r\n";
        assert_eq!(
            edit(crlf, &[], &["1"]),
            "{\r\n  \"l\": [\r\n    1\r\n  ]\r\n}\r\n"
        );
        let flat = r#"{"l": [1, 2]}"#;
        assert_eq!(edit(flat, &[true, true], &["3"]), r#"{"l": [1, 2, 3]}"#);
        let one = "{\"a\": 0,\n  \"l\": []\n}";
        assert_eq!(
            edit(one, &[], &["7"]),
            "{\"a\": 0,\n  \"l\": [\n    7\n  ]\n}"
        );
    }

    #[test]
    fn line_indent_is_the_lines_leading_whitespace() {
        assert_eq!(line_indent("{\n    \"a\": [", 11), "    ");
        assert_eq!(line_indent("x", 1), "");
    }
}
