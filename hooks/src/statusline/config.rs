//! The `[statusline]` section of config.toml, read without a TOML library
//! (the subset reader, [`super::toml_subset`]).
//!
//! Other sections are skipped (the daemon reads and validates the whole file
//! with a real TOML parser). Anything else in `[statusline]` is an error
//! naming the line. The defaults are the commented default config's
//! section, taken from it at build time
//! ([`crate::default_config::statusline`]).

use super::toml_subset::{read_section, Value};
use crate::default_config::statusline as default;

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
            format: default::FORMAT.to_string(),
            color: default::COLOR,
            context_warn: default::CONTEXT_WARN,
            context_critical: default::CONTEXT_CRITICAL,
        }
    }
}

impl StatuslineConfig {
    /// Reads the config file; a missing file is the defaults. On error the
    /// defaults are returned with the message.
    pub fn load() -> (StatuslineConfig, Option<String>) {
        let Some(path) = crate::runtime_path::config_path() else {
            return (StatuslineConfig::default(), None);
        };
        // The user's file: followed if a link; a FIFO or device refused.
        match crate::bounded_read::read_string(&path, 1 << 20, crate::bounded_read::Links::Follow) {
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
        read_section(text, "statusline", |key, value| config.set(key, value))?;
        Ok(config)
    }

    /// One `key = value` of the section.
    fn set(&mut self, key: &str, value: Value) -> Result<(), String> {
        match (key, value) {
            ("format", Value::Str(s)) => self.format = s,
            ("color", Value::Bool(b)) => self.color = b,
            ("context_warn", Value::Num(x)) => self.context_warn = x,
            ("context_critical", Value::Num(x)) => self.context_critical = x,
            ("format" | "color" | "context_warn" | "context_critical", v) => {
                return Err(format!("wrong type for {key}: {v:?}"));
            }
            _ => return Err(format!("unknown key '{key}' in [statusline]")),
        }
        Ok(())
    }
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
