//! The statusline's segments: the placeholders its format may name, and
//! their priorities when the line is too wide. The format itself is read by
//! the one template reader, [`llm_bridge_protocol::template`]; a newline in it starts a
//! second row, and a format that does not parse falls back to the default.

/// The default: the most useful figures first; absent ones disappear (the
/// commented default config's `[statusline] format`).
pub const DEFAULT_FORMAT: &str = crate::default_config::statusline::FORMAT;

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

/// The statusline's parsed format.
pub type Template = llm_bridge_protocol::template::Template<Segment>;
/// One part of the statusline's format.
pub type Piece = llm_bridge_protocol::template::Piece<Segment>;
pub use llm_bridge_protocol::template::TemplateError;

impl Segment {
    /// Parses a statusline format (the one template syntax, see
    /// [`llm_bridge_protocol::template`]).
    pub fn parse_format(format: &str) -> Result<Template, TemplateError> {
        Template::parse(format, &NAMES)
    }

    /// The default format, parsed.
    pub fn default_format() -> Template {
        Segment::parse_format(DEFAULT_FORMAT).expect("the default format parses")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_format_names_known_segments() {
        let t = Segment::default_format();
        assert_eq!(t.pieces[0], Piece::Placeholder(Segment::Model));
        let e = Segment::parse_format("{modle}").unwrap_err().to_string();
        assert!(e.contains("unknown placeholder {modle}"), "{e}");
    }
}
