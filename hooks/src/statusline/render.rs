//! Renders the template with the input's figures: ANSI colours (unless
//! disabled), absent segments removed with their surrounding space, and
//! rows narrowed to `COLUMNS` by dropping the least important segments
//! first. Escapes are added last, around whole spans, so a cut can never
//! land inside one.

use super::input::StatusInput;
use super::template::{Piece, Segment, Template};
use std::fmt::Write as _;

/// What the environment and the config decide about presentation.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderOptions {
    pub color: bool,
    /// Maximum visible width of a row (`COLUMNS`); `None` for no limit.
    pub columns: Option<usize>,
    /// Context % from which the figure is yellow, then red.
    pub context_warn: f64,
    pub context_critical: f64,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            color: true,
            columns: None,
            context_warn: 50.0,
            context_critical: 80.0,
        }
    }
}

const BOLD_CYAN: &str = "1;36";
const BOLD_BLUE: &str = "1;34";
const MAGENTA: &str = "35";
const GREEN: &str = "32";
const YELLOW: &str = "33";
const RED: &str = "31";
const DIM: &str = "2";

/// A run of text with one style, belonging to a segment or not.
#[derive(Clone, Debug)]
struct Span {
    text: String,
    sgr: Option<&'static str>,
    segment: Option<Segment>,
}

/// Renders every row, joined with newlines (no trailing newline).
pub fn render(
    template: &Template,
    input: &StatusInput,
    branch: Option<&str>,
    opts: &RenderOptions,
) -> String {
    let mut rows: Vec<Vec<Span>> = vec![Vec::new()];
    for piece in &template.pieces {
        let row = rows.last_mut().expect("at least one row");
        match piece {
            Piece::Text(t) => row.push(Span {
                text: t.clone(),
                sgr: None,
                segment: None,
            }),
            Piece::Placeholder(s) => row.extend(segment_spans(*s, input, branch, opts)),
            Piece::Newline => rows.push(Vec::new()),
        }
    }
    let mut out = String::new();
    for (i, mut row) in rows.into_iter().enumerate() {
        tidy(&mut row);
        if let Some(columns) = opts.columns {
            fit(&mut row, columns);
        }
        if i > 0 {
            out.push('\n');
        }
        for mut span in row {
            // What Claude Code sent (model, paths, style) goes to its
            // terminal: no control character of it gets there raw. The
            // user's own format text is the user's.
            if span.segment.is_some() && span.text.chars().any(char::is_control) {
                span.text = span
                    .text
                    .chars()
                    .map(|c| if c.is_control() { '?' } else { c })
                    .collect();
            }
            match span.sgr {
                Some(sgr) if opts.color => {
                    let _ = write!(out, "\x1b[{sgr}m{}\x1b[0m", span.text);
                }
                _ => out.push_str(&span.text),
            }
        }
    }
    out
}

/// The spans of one segment; empty when its figure is unknown.
fn segment_spans(
    segment: Segment,
    input: &StatusInput,
    branch: Option<&str>,
    opts: &RenderOptions,
) -> Vec<Span> {
    let span = |text: String, sgr: &'static str| Span {
        text,
        sgr: Some(sgr),
        segment: Some(segment),
    };
    let level = |pct: f64| {
        if pct >= opts.context_critical {
            RED
        } else if pct >= opts.context_warn {
            YELLOW
        } else {
            GREEN
        }
    };
    match segment {
        Segment::Model => input
            .model
            .iter()
            .map(|m| span(m.clone(), BOLD_CYAN))
            .collect(),
        Segment::Project => input
            .project_dir
            .as_deref()
            .map(basename)
            .filter(|p| !p.is_empty())
            .map(|p| span(p.to_string(), BOLD_BLUE))
            .into_iter()
            .collect(),
        Segment::Branch => branch
            .map(|b| span(format!("⎇ {b}"), MAGENTA))
            .into_iter()
            .collect(),
        Segment::Context => vec![match input.context_pct {
            Some(p) => span(format!("ctx {p:.0}%"), level(p)),
            // Before the first response: a placeholder, not a missing segment.
            None => span("ctx --".to_string(), DIM),
        }],
        Segment::Tokens => input
            .total_tokens
            .map(|t| span(format!("{} tok", si(t)), DIM))
            .into_iter()
            .collect(),
        Segment::Cost => input
            .cost_usd
            .map(|c| span(format!("${c:.2}"), YELLOW))
            .into_iter()
            .collect(),
        Segment::Duration => input
            .duration_ms
            .map(|d| span(duration(d), DIM))
            .into_iter()
            .collect(),
        Segment::Lines => match (input.lines_added, input.lines_removed) {
            (None, None) => Vec::new(),
            (a, r) => vec![
                span(format!("+{}", a.unwrap_or(0)), GREEN),
                Span {
                    text: " ".into(),
                    sgr: None,
                    segment: Some(segment),
                },
                span(format!("-{}", r.unwrap_or(0)), RED),
            ],
        },
        Segment::RateLimit => input
            .rate_limit_5h_pct
            .map(|p| span(format!("5h {p:.0}%"), level(p)))
            .into_iter()
            .collect(),
        Segment::Style => input
            .output_style
            .as_deref()
            .filter(|s| *s != "default")
            .map(|s| span(s.to_string(), DIM))
            .into_iter()
            .collect(),
        Segment::Effort => input
            .effort
            .iter()
            .map(|e| span(format!("{e} effort"), DIM))
            .collect(),
    }
}

/// Collapses the space left by absent segments: runs of whitespace-only
/// text become one, and none is left at either end of the row.
fn tidy(row: &mut Vec<Span>) {
    let blank = |s: &Span| s.segment.is_none() && s.text.trim().is_empty();
    let mut out: Vec<Span> = Vec::with_capacity(row.len());
    for span in row.drain(..) {
        if span.text.is_empty() {
            continue;
        }
        if blank(&span) && (out.is_empty() || out.last().is_some_and(blank)) {
            continue;
        }
        out.push(span);
    }
    while out.last().is_some_and(blank) {
        out.pop();
    }
    *row = out;
}

fn width(row: &[Span]) -> usize {
    row.iter().map(|s| s.text.chars().count()).sum()
}

/// Drops the least important segments until the row fits; if a single
/// segment is still too wide, cuts its text.
fn fit(row: &mut Vec<Span>, columns: usize) {
    while width(row) > columns {
        let lowest = row
            .iter()
            .filter_map(|s| s.segment)
            .min_by_key(|s| s.priority());
        let present = row
            .iter()
            .filter_map(|s| s.segment)
            .collect::<std::collections::HashSet<_>>();
        match lowest {
            Some(seg) if present.len() > 1 => {
                row.retain(|s| s.segment != Some(seg));
                tidy(row);
            }
            _ => break,
        }
    }
    let mut left = columns;
    for span in row.iter_mut() {
        let n = span.text.chars().count();
        if n > left {
            span.text = span.text.chars().take(left).collect();
        }
        left -= span.text.chars().count();
    }
    row.retain(|s| !s.text.is_empty());
}

fn basename(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

/// 950, 8.4k, 86k, 1.2M.
fn si(n: u64) -> String {
    match n {
        0..=999 => n.to_string(),
        1_000..=9_999 => format!("{:.1}k", n as f64 / 1e3),
        10_000..=999_999 => format!("{}k", (n + 500) / 1000),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// 45s, 37m, 1h02m.
fn duration(ms: f64) -> String {
    let secs = (ms.max(0.0) / 1000.0) as u64;
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m", secs / 60),
        _ => format!("{}h{:02}m", secs / 3600, secs / 60 % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StatusInput {
        StatusInput {
            session_id: Some("s".into()),
            model: Some("Sonnet 4.5".into()),
            project_dir: Some("/home/u/src/waybar-llm".into()),
            current_dir: None,
            cost_usd: Some(1.8734),
            duration_ms: Some(2_257_641.0),
            lines_added: Some(412),
            lines_removed: Some(57),
            context_pct: Some(42.0),
            total_tokens: Some(86_050),
            rate_limit_5h_pct: Some(23.5),
            output_style: Some("Explanatory".into()),
            effort: Some("high".into()),
        }
    }

    fn plain() -> RenderOptions {
        RenderOptions {
            color: false,
            ..RenderOptions::default()
        }
    }

    fn one(segment: &str, input: &StatusInput) -> String {
        render(
            &Segment::parse_format(&format!("{{{segment}}}")).unwrap(),
            input,
            Some("main"),
            &plain(),
        )
    }

    #[test]
    fn control_characters_from_outside_never_reach_the_terminal() {
        let mut input = sample();
        input.model = Some("Opus\x1b]0;pwned\x07\u{9b}31m".into());
        input.project_dir = Some("/home/u/a\nb".into());
        input.output_style = Some("x\x00y".into());
        for segment in ["model", "project", "style"] {
            let line = one(segment, &input);
            assert!(!line.chars().any(char::is_control), "{segment}: {line:?}");
        }
        assert_eq!(one("model", &input), "Opus?]0;pwned??31m");
    }

    #[test]
    fn every_segment() {
        let i = sample();
        assert_eq!(one("model", &i), "Sonnet 4.5");
        assert_eq!(one("project", &i), "waybar-llm");
        assert_eq!(one("branch", &i), "⎇ main");
        assert_eq!(one("context", &i), "ctx 42%");
        assert_eq!(one("tokens", &i), "86k tok");
        assert_eq!(one("cost", &i), "$1.87");
        assert_eq!(one("duration", &i), "37m");
        assert_eq!(one("lines", &i), "+412 -57");
        assert_eq!(one("rate5h", &i), "5h 24%");
        assert_eq!(one("style", &i), "Explanatory");
        assert_eq!(one("effort", &i), "high effort");
    }

    #[test]
    fn the_default_line() {
        let line = render(
            &Segment::default_format(),
            &sample(),
            Some("main"),
            &plain(),
        );
        assert_eq!(
            line,
            "Sonnet 4.5 waybar-llm ⎇ main ctx 42% $1.87 37m +412 -57 5h 24%"
        );
    }

    #[test]
    fn first_render_shows_a_context_placeholder_and_drops_absent_segments() {
        let input = StatusInput {
            model: Some("Sonnet 4.5".into()),
            project_dir: Some("/p/app".into()),
            cost_usd: Some(0.0),
            ..StatusInput::default()
        };
        let line = render(&Segment::default_format(), &input, None, &plain());
        assert_eq!(line, "Sonnet 4.5 app ctx -- $0.00");
    }

    #[test]
    fn colours_follow_context_thresholds() {
        let mut i = sample();
        let opts = RenderOptions::default();
        let ctx =
            |i: &StatusInput| render(&Segment::parse_format("{context}").unwrap(), i, None, &opts);
        assert_eq!(ctx(&i), "\x1b[32mctx 42%\x1b[0m");
        i.context_pct = Some(65.0);
        assert_eq!(ctx(&i), "\x1b[33mctx 65%\x1b[0m");
        i.context_pct = Some(91.0);
        assert_eq!(ctx(&i), "\x1b[31mctx 91%\x1b[0m");
        assert!(
            !render(&Segment::default_format(), &i, None, &plain()).contains('\x1b'),
            "no colour means no escape"
        );
    }

    #[test]
    fn narrow_columns_drop_low_priority_segments_first() {
        let mut opts = plain();
        opts.columns = Some(30);
        let line = render(&Segment::default_format(), &sample(), Some("main"), &opts);
        assert!(line.chars().count() <= 30, "{line:?}");
        assert!(
            line.contains("ctx 42%") && line.contains("Sonnet 4.5"),
            "{line:?}"
        );
        assert!(!line.contains("37m"), "{line:?}");
        opts.columns = Some(5);
        let line = render(&Segment::default_format(), &sample(), Some("main"), &opts);
        assert_eq!(line, "ctx 4");
    }

    #[test]
    fn narrowing_never_cuts_an_escape() {
        let opts = RenderOptions {
            columns: Some(12),
            ..RenderOptions::default()
        };
        let line = render(&Segment::default_format(), &sample(), Some("main"), &opts);
        // Every escape that opens is closed, and the visible text fits.
        assert_eq!(line.matches("\x1b[").count() % 2, 0, "{line:?}");
        assert!(line.ends_with("\x1b[0m"), "{line:?}");
        let visible: String = strip_ansi(&line);
        assert!(visible.chars().count() <= 12, "{visible:?}");
    }

    #[test]
    fn a_second_row() {
        let t = Segment::parse_format("{model}\n{cost} {lines}").unwrap();
        assert_eq!(
            render(&t, &sample(), None, &plain()),
            "Sonnet 4.5\n$1.87 +412 -57"
        );
    }

    #[test]
    fn durations_and_counts() {
        assert_eq!(duration(45_000.0), "45s");
        assert_eq!(duration(3_720_000.0), "1h02m");
        assert_eq!(si(950), "950");
        assert_eq!(si(8_449), "8.4k");
        assert_eq!(si(1_234_567), "1.2M");
    }

    fn strip_ansi(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }
}
