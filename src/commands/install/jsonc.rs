//! Comments in a settings file (JSONC: Gemini CLI's and Qwen Code's
//! settings.json may hold `//` and `/* */` comments), made invisible to the
//! JSON readers without moving a byte.
//!
//! [`blank_comments`] gives a text of the same length with every comment
//! replaced by spaces (line breaks kept): serde_json and `json_text` read
//! that, and the edits they locate apply to the user's text at the same
//! offsets, so the merge keeps every comment of the user's. One editor
//! serves plain JSON and JSONC alike: a file without comments is its own
//! blanked text.

/// `text` with each comment outside strings replaced by spaces of the same
/// byte length (line breaks inside a block comment kept).
pub fn blank_comments(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    out[i] = b' ';
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = text[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |e| i + 2 + e + 2);
                for b in &mut out[i..end] {
                    if *b != b'\n' {
                        *b = b' ';
                    }
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    // Only ASCII comment bytes (whole UTF-8 sequences inside comments) were
    // replaced, by ASCII spaces: still UTF-8.
    String::from_utf8(out).expect("comments replaced by spaces whole")
}

/// `text` as serde_json reads it and Waybar writes it: comments (as
/// [`blank_comments`]) and trailing commas (a `,` with only space before
/// the `]` or `}` that follows) replaced by spaces of the same length.
pub fn blank_jsonc(text: &str) -> String {
    let mut out = blank_comments(text).into_bytes();
    let mut i = 0;
    while i < out.len() {
        match out[i] {
            b'"' => {
                i += 1;
                while i < out.len() && out[i] != b'"' {
                    i += if out[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b',' => {
                let next = out[i + 1..].iter().find(|b| !b.is_ascii_whitespace());
                if matches!(next, Some(b']' | b'}')) {
                    out[i] = b' ';
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    String::from_utf8(out).expect("ASCII commas replaced by ASCII spaces")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_commas_become_spaces_and_others_stay() {
        let text = "{\"a\": [1, 2,], \"b\": \",]\", // c\n}";
        let plain = blank_jsonc(text);
        assert_eq!(plain.len(), text.len());
        assert_eq!(plain, "{\"a\": [1, 2 ], \"b\": \",]\"      \n}");
        let text = "[{\"x\": 1,\n  /* gone */\n},\n]";
        let v: serde_json::Value = serde_json::from_str(&blank_jsonc(text)).unwrap();
        assert_eq!(v[0]["x"], 1);
    }

    #[test]
    fn comments_become_spaces_and_strings_stay() {
        let text = "{\n  // a comment é\n  \"a\": \"// not one\", /* two\nlines */ \"b\": 1\n}";
        let plain = blank_comments(text);
        assert_eq!(plain.len(), text.len());
        assert_eq!(plain.lines().count(), text.lines().count());
        let v: serde_json::Value = serde_json::from_str(&plain).unwrap();
        assert_eq!(v["a"], "// not one");
        assert_eq!(v["b"], 1);
        assert!(!plain.contains("comment") && !plain.contains("two"));
    }

    #[test]
    fn an_escaped_quote_does_not_end_a_string_and_plain_json_is_unchanged() {
        let text = r#"{"a": "x\" // y", "b": "\\"} // end"#;
        let plain = blank_comments(text);
        assert!(plain.starts_with(r#"{"a": "x\" // y", "b": "\\"}"#));
        assert!(plain.ends_with("}       "));
        let json = r#"{"a": [1, 2.50, "/"]}"#;
        assert_eq!(blank_comments(json), json);
    }
}
