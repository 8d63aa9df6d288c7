//! The one reader of `{placeholder}` templates: the statusline's format and
//! the Waybar tooltip both use it, so both accept the same syntax.
//!
//! Text is literal; `{name}` is a placeholder from the caller's table (space
//! inside the braces is ignored); `{{` and `}}` stand for literal braces; a
//! newline is kept as its own piece (the statusline starts a second row
//! there). An unknown placeholder or an unbalanced brace is an error that
//! names the problem and the known names.

use std::fmt;

/// One part of a parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece<P> {
    Text(String),
    Placeholder(P),
    Newline,
}

/// A parsed template over the placeholder type `P`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template<P> {
    pub pieces: Vec<Piece<P>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateError {
    /// `{name}` is not in the table; `known` lists the names that are.
    Unknown {
        name: String,
        known: String,
    },
    Unclosed,
    StrayBrace,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Unknown { name, known } => {
                write!(f, "unknown placeholder {{{name}}} (known: {known})")
            }
            TemplateError::Unclosed => {
                f.write_str("a '{' is never closed (write '{{' for a literal brace)")
            }
            TemplateError::StrayBrace => {
                f.write_str("a '}' closes nothing (write '}}' for a literal brace)")
            }
        }
    }
}

impl<P: Copy> Template<P> {
    /// Parses `format` with the placeholders named in `names`.
    pub fn parse(format: &str, names: &[(P, &str)]) -> Result<Template<P>, TemplateError> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = format.chars().peekable();
        let flush = |text: &mut String, pieces: &mut Vec<Piece<P>>| {
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
                    let placeholder = names
                        .iter()
                        .find(|(_, n)| *n == name)
                        .map(|(p, _)| *p)
                        .ok_or_else(|| TemplateError::Unknown {
                            name: name.to_string(),
                            known: names.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(", "),
                        })?;
                    flush(&mut text, &mut pieces);
                    pieces.push(Piece::Placeholder(placeholder));
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

    const NAMES: [(u8, &str); 2] = [(1, "model"), (2, "context")];

    #[test]
    fn parses_placeholders_text_braces_and_rows() {
        let t = Template::parse("[{model}] {{x}}\n{ context }", &NAMES).unwrap();
        assert_eq!(
            t.pieces,
            vec![
                Piece::Text("[".into()),
                Piece::Placeholder(1),
                Piece::Text("] {x}".into()),
                Piece::Newline,
                Piece::Placeholder(2),
            ]
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let e = Template::parse("{modle}", &NAMES).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown placeholder {modle} (known: model, context)"
        );
        assert_eq!(
            Template::parse("{model", &NAMES),
            Err(TemplateError::Unclosed)
        );
        assert_eq!(
            Template::parse("a}b", &NAMES),
            Err(TemplateError::StrayBrace)
        );
    }
}
