//! The subset of TOML that the `[statusline]` section uses, read without a
//! TOML library: `[section]` headers, `key = value` with basic or literal
//! strings, numbers and booleans, and `#` comments.
//!
//! The hot-path crate takes no serde, and the statusline needs four scalar
//! keys. This one reader serves the statusline at run time
//! ([`super::config`]) and the build scripts of this crate and of core,
//! which take every default from the commented default config with it (it
//! uses nothing beyond this subset); so it names nothing outside this file.

/// A scalar value.
#[derive(Debug, PartialEq)]
pub enum Value {
    Str(String),
    Num(f64),
    Bool(bool),
}

/// Calls `each` with every `key = value` of `[section]` in `text`, in
/// order; other sections are skipped unread (they may use any TOML). An
/// error, from the reader or from `each`, names its line: `line 3: ...`.
pub fn read_section(
    text: &str,
    section: &str,
    mut each: impl FnMut(&str, Value) -> Result<(), String>,
) -> Result<(), String> {
    read(
        text,
        |name| name == section,
        |_, key, value, _| each(key, value),
    )
}

/// Calls `each` with every `key = value` of the sections `wanted` takes
/// (by name: `""` before the first header, `speech.events.done` under
/// `[speech.events.done]`): the section, the key, the value, and, for a
/// number or a boolean, its own token as written (`1_000`, `0.5`). Other
/// sections are skipped unread. An error names its line.
pub fn read(
    text: &str,
    mut wanted: impl FnMut(&str) -> bool,
    mut each: impl FnMut(&str, &str, Value, &str) -> Result<(), String>,
) -> Result<(), String> {
    let mut section = "";
    let mut reading = wanted(section);
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            let header = strip_comment(line).trim();
            // An array of tables (`[[x]]`) keeps a bracket: no section.
            section = header
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(header);
            reading = wanted(section);
            continue;
        }
        if !reading {
            continue;
        }
        let at = |e: String| format!("line {}: {e}", n + 1);
        let (key, rest) = line
            .split_once('=')
            .ok_or_else(|| at("expected key = value".into()))?;
        let key = key.trim().trim_matches('"');
        let written = rest.trim();
        let value = parse_value(written).map_err(at)?;
        each(section, key, value, strip_comment(written).trim()).map_err(at)?;
    }
    Ok(())
}

fn strip_comment(s: &str) -> &str {
    s.split_once('#').map_or(s, |(a, _)| a)
}

/// A scalar value and nothing after it but a comment.
fn parse_value(s: &str) -> Result<Value, String> {
    if s.starts_with("\"\"\"") || s.starts_with("'''") {
        return Err("multi-line strings are not supported in [statusline]; use \\n".into());
    }
    let (value, rest) = if let Some(body) = s.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = body.char_indices();
        let end = loop {
            let Some((i, c)) = chars.next() else {
                return Err("unterminated string".into());
            };
            match c {
                '"' => break i + 1,
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('r') => out.push('\r'),
                    Some('"') => out.push('"'),
                    Some('\\') => out.push('\\'),
                    Some(u @ ('u' | 'U')) => {
                        let len = if u == 'u' { 4 } else { 8 };
                        let hex: String = (0..len)
                            .filter_map(|_| chars.next().map(|(_, c)| c))
                            .collect();
                        let c = u32::from_str_radix(&hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or("bad \\u escape")?;
                        out.push(c);
                    }
                    _ => return Err("unknown escape in string".into()),
                },
                c => out.push(c),
            }
        };
        (Value::Str(out), &body[end..])
    } else if let Some(body) = s.strip_prefix('\'') {
        let end = body.find('\'').ok_or("unterminated string")?;
        (Value::Str(body[..end].to_string()), &body[end + 1..])
    } else {
        let token = strip_comment(s).trim();
        let v = match token {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            t => Value::Num(
                t.replace('_', "")
                    .parse()
                    .map_err(|_| format!("cannot read value '{t}'"))?,
            ),
        };
        (v, "")
    };
    if !strip_comment(rest).trim().is_empty() {
        return Err(format!(
            "unexpected text after the value: '{}'",
            rest.trim()
        ));
    }
    Ok(value)
}
