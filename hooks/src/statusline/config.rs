//! The `[statusline]` section of config.toml, read without a TOML library.
//!
//! The hot-path crate takes no serde, and the statusline needs four scalar
//! keys, so this reads the subset of TOML they use: `[section]` headers,
//! `key = value` with basic or literal strings, integers, floats and
//! booleans, and `#` comments. Other sections are skipped (the daemon reads
//! and validates the whole file with a real TOML parser). Anything else in
//! `[statusline]` is an error naming the line.

use super::template::DEFAULT_FORMAT;

#[derive(Clone, Debug, PartialEq)]
pub struct StatuslineConfig {
    pub format: String,
    pub color: bool,
    pub context_warn: f64,
    pub context_critical: f64,
}

impl Default for StatuslineConfig {
    fn default() -> Self {
        StatuslineConfig {
            format: DEFAULT_FORMAT.to_string(),
            color: true,
            context_warn: 50.0,
            context_critical: 80.0,
        }
    }
}

#[derive(Debug, PartialEq)]
enum Value {
    Str(String),
    Num(f64),
    Bool(bool),
}

impl StatuslineConfig {
    /// Reads the config file; a missing file is the defaults. On error the
    /// defaults are returned with the message.
    pub fn load() -> (StatuslineConfig, Option<String>) {
        let Some(path) = crate::runtime_path::config_path() else {
            return (StatuslineConfig::default(), None);
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => match StatuslineConfig::parse(&text) {
                Ok(c) => (c, None),
                Err(e) => (
                    StatuslineConfig::default(),
                    Some(format!("{}: {e}; using the defaults", path.display())),
                ),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                (StatuslineConfig::default(), None)
            }
            Err(e) => (
                StatuslineConfig::default(),
                Some(format!("cannot read {}: {e}", path.display())),
            ),
        }
    }

    pub fn parse(text: &str) -> Result<StatuslineConfig, String> {
        let mut config = StatuslineConfig::default();
        let mut in_section = false;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with('[') {
                let header = strip_comment(line).trim();
                in_section = header == "[statusline]";
                continue;
            }
            if !in_section {
                continue;
            }
            let at = |e: String| format!("line {}: {e}", n + 1);
            let (key, rest) = line
                .split_once('=')
                .ok_or_else(|| at("expected key = value".into()))?;
            let key = key.trim().trim_matches('"');
            let value = parse_value(rest.trim()).map_err(at)?;
            match (key, value) {
                ("format", Value::Str(s)) => config.format = s,
                ("color", Value::Bool(b)) => config.color = b,
                ("context_warn", Value::Num(x)) => config.context_warn = x,
                ("context_critical", Value::Num(x)) => config.context_critical = x,
                ("format" | "color" | "context_warn" | "context_critical", v) => {
                    return Err(at(format!("wrong type for {key}: {v:?}")));
                }
                _ => return Err(at(format!("unknown key '{key}' in [statusline]"))),
            }
        }
        Ok(config)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_section_and_skips_others() {
        let c = StatuslineConfig::parse(
            "signal = 9\n[debounce]\nmode = \"trailing\"\n\n[statusline] # mine\nformat = \"{model}\\n{cost} # not a comment\" # a comment\ncolor = false\ncontext_warn = 60\ncontext_critical = 90.5\n",
        )
        .unwrap();
        assert_eq!(c.format, "{model}\n{cost} # not a comment");
        assert!(!c.color);
        assert_eq!((c.context_warn, c.context_critical), (60.0, 90.5));
    }

    #[test]
    fn literal_strings_and_defaults() {
        let c = StatuslineConfig::parse("[statusline]\nformat = '{model} \\ {cost}'\n").unwrap();
        assert_eq!(c.format, "{model} \\ {cost}");
        assert_eq!(
            StatuslineConfig::parse("").unwrap(),
            StatuslineConfig::default()
        );
    }

    #[test]
    fn errors_name_the_line_and_key() {
        let e = StatuslineConfig::parse("[statusline]\ncolour = true\n").unwrap_err();
        assert_eq!(e, "line 2: unknown key 'colour' in [statusline]");
        let e = StatuslineConfig::parse("[statusline]\ncolor = \"yes\"\n").unwrap_err();
        assert!(e.starts_with("line 2: wrong type for color"), "{e}");
        assert!(StatuslineConfig::parse("[statusline]\nformat = \"abc\n")
            .unwrap_err()
            .contains("unterminated"));
        assert!(
            StatuslineConfig::parse("[statusline]\nformat = \"\"\"x\"\"\"\n")
                .unwrap_err()
                .contains("multi-line")
        );
    }
}
