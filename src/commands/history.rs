//! `llm-bridge history [--today]`: finished sessions as a table.

use llm_bridge_core::error::{Error, Result};
use llm_bridge_core::history::{self, Record};
use llm_bridge_core::local_time::local_date_time;
use std::fmt::Write as _;

pub fn history(today: bool) -> Result<i32> {
    let path =
        history::path().ok_or_else(|| Error::msg("neither XDG_STATE_HOME nor HOME is set"))?;
    let (records, bad) = history::read(&path)?;
    if bad > 0 {
        eprintln!(
            "llm-bridge: skipped {bad} unreadable line(s) in {}",
            path.display()
        );
    }
    let now = llm_bridge_core::local_time::wall_clock_ms() / 1000;
    let today_date = local_date_time(now as i64).0;
    let shown: Vec<&Record> = records
        .iter()
        .filter(|r| !today || local_date_time((r.started / 1000) as i64).0 == today_date)
        .collect();
    print!("{}", table(&shown));
    Ok(0)
}

/// The table: project, start, duration, prompts, tool uses, cost; totals last.
pub fn table(records: &[&Record]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:<16} {:>9} {:>7} {:>6} {:>8}",
        "PROJECT", "START", "DURATION", "PROMPTS", "TOOLS", "COST"
    );
    let (mut prompts, mut tools, mut cost) = (0, 0, 0.0);
    for r in records {
        let start = (r.started / 1000) as i64;
        let (date, time) = local_date_time(start);
        let secs = r.ended.saturating_sub(r.started) / 1000;
        let _ = writeln!(
            out,
            "{:<24} {:<16} {:>9} {:>7} {:>6} {:>8}",
            truncate(&r.project, 24),
            format!("{date} {time}"),
            format!("{}m{:02}s", secs / 60, secs % 60),
            r.prompts,
            r.tool_uses,
            r.cost_usd.map_or("-".to_string(), |c| format!("${c:.2}"))
        );
        prompts += r.prompts;
        tools += r.tool_uses;
        cost += r.cost_usd.unwrap_or(0.0);
    }
    let _ = writeln!(
        out,
        "{:<24} {:<16} {:>9} {:>7} {:>6} {:>8}",
        format!("{} session(s)", records.len()),
        "",
        "",
        prompts,
        tools,
        format!("${cost:.2}")
    );
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_rows_and_totals() {
        let r = Record {
            agent: Default::default(),
            id: "a".into(),
            project: "app".into(),
            started: 0,
            ended: 125_000,
            prompts: 3,
            tool_uses: 7,
            cost_usd: Some(1.5),
            model: None,
            reason: None,
        };
        let text = table(&[&r, &r]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(
            lines[1].starts_with("app") && lines[1].contains("2m05s") && lines[1].contains("$1.50"),
            "{text}"
        );
        assert!(
            lines[3].starts_with("2 session(s)")
                && lines[3].contains("$3.00")
                && lines[3].contains(" 14 "),
            "{text}"
        );
    }
}
