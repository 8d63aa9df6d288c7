//! The statusline's format template: literal text and `{segment}`s.
//!
//! `{{` and `}}` stand for literal braces; a newline in the template starts
//! a second row. An unknown segment or an unbalanced brace is an error that
//! names the problem (the caller then falls back to the default).

use std::fmt;

/// The default: the most useful figures first; absent ones disappear.
pub const DEFAULT_FORMAT: &str =
    "{model} {project} {branch} {context} {cost} {duration} {lines} {rate5h}";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Segment {
    Model,
    Project,
    Branch,
    Context,
    Tokens,
    Cost,
    Duration,
    Lines,
    RateLimit,
    Style,
    Effort,
}

const NAMES: [(Segment, &str); 11] = [
    (Segment::Model, "model"),
    (Segment::Project, "project"),
    (Segment::Branch, "branch"),
    (Segment::Context, "context"),
    (Segment::Tokens, "tokens"),
    (Segment::Cost, "cost"),
    (Segment::Duration, "duration"),
    (Segment::Lines, "lines"),
    (Segment::RateLimit, "rate5h"),
    (Segment::Style, "style"),
    (Segment::Effort, "effort"),
];

impl Segment {
    pub fn name(self) -> &'static str {
        NAMES.iter().find(|(s, _)| *s == self).map_or("?", |e| e.1)
    }

    /// Segments with a lower priority are dropped first when the line is
    /// too wide.
    pub fn priority(self) -> u8 {
        match self {
            Segment::Context => 10,
            Segment::Model => 9,
            Segment::Project => 8,
            Segment::Cost => 7,
            Segment::Branch => 6,
            Segment::RateLimit => 5,
            Segment::Lines => 4,
            Segment::Duration => 3,
            Segment::Tokens => 2,
            Segment::Effort => 1,
            Segment::Style => 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Segment(Segment),
    Newline,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub pieces: Vec<Piece>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateError {
    UnknownSegment(String),
    Unclosed,
    StrayBrace,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::UnknownSegment(name) => {
                let known: Vec<&str> = NAMES.iter().map(|e| e.1).collect();
                write!(
                    f,
                    "unknown segment {{{name}}} (known: {})",
                    known.join(", ")
                )
            }
            TemplateError::Unclosed => f.write_str("a '{' is never closed"),
            TemplateError::StrayBrace => {
                f.write_str("a '}' closes nothing (write '}}' for a literal brace)")
            }
        }
    }
}

impl Default for Template {
    fn default() -> Self {
        Template::parse(DEFAULT_FORMAT).expect("the default format parses")
    }
}

impl Template {
    pub fn parse(format: &str) -> Result<Template, TemplateError> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = format.chars().peekable();
        let flush = |text: &mut String, pieces: &mut Vec<Piece>| {
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(text)));
            }
        };
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '}' => return Err(TemplateError::StrayBrace),
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => return Err(TemplateError::Unclosed),
                        }
                    }
                    let name = name.trim();
                    let segment = NAMES
                        .iter()
                        .find(|(_, n)| *n == name)
                        .map(|(s, _)| *s)
                        .ok_or_else(|| TemplateError::UnknownSegment(name.to_string()))?;
                    flush(&mut text, &mut pieces);
                    pieces.push(Piece::Segment(segment));
                }
                '\n' => {
                    flush(&mut text, &mut pieces);
                    pieces.push(Piece::Newline);
                }
                c => text.push(c),
            }
        }
        flush(&mut text, &mut pieces);
        Ok(Template { pieces })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_segments_text_braces_and_rows() {
        let t = Template::parse("[{model}] {{x}}\n{ context }").unwrap();
        assert_eq!(
            t.pieces,
            vec![
                Piece::Text("[".into()),
                Piece::Segment(Segment::Model),
                Piece::Text("] {x}".into()),
                Piece::Newline,
                Piece::Segment(Segment::Context),
            ]
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let e = Template::parse("{modle}").unwrap_err();
        assert!(e.to_string().contains("unknown segment {modle}"), "{e}");
        assert_eq!(Template::parse("{model"), Err(TemplateError::Unclosed));
        assert_eq!(Template::parse("a}b"), Err(TemplateError::StrayBrace));
    }
}
