//! The figures the statusline shows, taken from Claude Code's statusLine JSON.

use llm_bridge_protocol::agent::Agent;
use llm_bridge_protocol::json_value::Json;
use llm_bridge_protocol::wire::Status;

/// Everything the segments need; every field is optional because Claude
/// Code sends nulls before the first response and omits what it lacks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatusInput {
    pub session_id: Option<String>,
    pub model: Option<String>,
    /// `workspace.project_dir`, else `workspace.current_dir`, else `cwd`.
    pub project_dir: Option<String>,
    /// Where to look for the git repository: `workspace.current_dir`, else `cwd`.
    pub current_dir: Option<String>,
    pub cost_usd: Option<f64>,
    pub duration_ms: Option<f64>,
    pub lines_added: Option<u64>,
    pub lines_removed: Option<u64>,
    /// Context window use in percent, when known.
    pub context_pct: Option<f64>,
    pub total_tokens: Option<u64>,
    pub rate_limit_5h_pct: Option<f64>,
    pub output_style: Option<String>,
    pub effort: Option<String>,
}

impl StatusInput {
    pub fn from_json(v: &Json) -> StatusInput {
        let s = |path: &[&str]| {
            v.at(path)
                .and_then(Json::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let n = |path: &[&str]| v.at(path).and_then(Json::as_f64);
        let count = |path: &[&str]| n(path).filter(|x| *x >= 0.0).map(|x| x as u64);
        let current_dir = s(&["workspace", "current_dir"]).or_else(|| s(&["cwd"]));
        StatusInput {
            session_id: s(&["session_id"]),
            model: s(&["model", "display_name"]).or_else(|| s(&["model", "id"])),
            project_dir: s(&["workspace", "project_dir"]).or_else(|| current_dir.clone()),
            current_dir,
            cost_usd: n(&["cost", "total_cost_usd"]),
            duration_ms: n(&["cost", "total_duration_ms"]),
            lines_added: count(&["cost", "total_lines_added"]),
            lines_removed: count(&["cost", "total_lines_removed"]),
            context_pct: context_pct(v),
            total_tokens: match (
                count(&["context_window", "total_input_tokens"]),
                count(&["context_window", "total_output_tokens"]),
            ) {
                (None, None) => None,
                // Counts beyond u64 saturate instead of overflowing.
                (i, o) => Some(i.unwrap_or(0).saturating_add(o.unwrap_or(0))),
            },
            rate_limit_5h_pct: n(&["rate_limits", "five_hour", "used_percentage"]),
            output_style: s(&["output_style", "name"]),
            effort: s(&["effort", "level"]),
        }
    }

    /// The STATUS message for the daemon about `agent`'s session, if the
    /// input names one.
    pub fn to_status(&self, agent: Agent) -> Option<Status> {
        Some(Status {
            session_id: self.session_id.clone()?,
            agent,
            model: self.model.clone(),
            cost_usd: self.cost_usd,
            context_pct: self.context_pct,
        })
    }
}

/// `used_percentage` when given; else computed from `current_usage` (the
/// tokens in the context: input plus cache creation plus cache reads) and
/// `context_window_size`; else unknown (before the first response). A
/// window of size 0 is one the client does not know (Qwen Code with a model
/// it has no figures for sends `used_percentage` 0 then): unknown too, not 0%.
fn context_pct(v: &Json) -> Option<f64> {
    let cw = v.get("context_window")?;
    let size = cw.get("context_window_size").and_then(Json::as_f64);
    if size.is_some_and(|s| s <= 0.0) {
        return None;
    }
    if let Some(p) = cw.get("used_percentage").and_then(Json::as_f64) {
        return Some(p.clamp(0.0, 100.0));
    }
    let usage = cw
        .get("current_usage")
        .filter(|u| matches!(u, Json::Obj(_)))?;
    let size = size?;
    let tokens: f64 = [
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ]
    .iter()
    .filter_map(|k| usage.get(k).and_then(Json::as_f64))
    .sum();
    Some((tokens / size * 100.0).clamp(0.0, 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(doc: &str) -> StatusInput {
        StatusInput::from_json(&Json::parse(doc.as_bytes()).unwrap())
    }

    #[test]
    fn a_window_of_size_0_is_unknown_not_empty() {
        let i = input(
            r#"{"context_window":{"context_window_size":0,"used_percentage":0,"current_usage":0}}"#,
        );
        assert_eq!(i.context_pct, None);
        let i = input(r#"{"context_window":{"context_window_size":1000,"used_percentage":0}}"#);
        assert_eq!(i.context_pct, Some(0.0));
    }

    #[test]
    fn the_mid_session_sample() {
        let i = input(include_str!("../../../tests/samples/statusline.json"));
        assert_eq!(i.model.as_deref(), Some("Sonnet 4.5"));
        assert_eq!(i.project_dir.as_deref(), Some("/home/user/src/waybar-llm"));
        assert_eq!(i.cost_usd, Some(1.8734));
        assert_eq!(i.context_pct, Some(42.0));
        assert_eq!(i.total_tokens, Some(86_050));
        assert_eq!((i.lines_added, i.lines_removed), (Some(412), Some(57)));
        assert_eq!(i.rate_limit_5h_pct, Some(23.5));
        assert_eq!(i.effort.as_deref(), Some("high"));
        let status = i.to_status(Agent::Claude).unwrap();
        assert_eq!(status.session_id, "8f3c2a4e-5b1d-4c7e-9a2f-1e6d0b7c3a91");
    }

    #[test]
    fn token_counts_beyond_u64_saturate() {
        // Found by the json_value fuzz target: the sum overflowed.
        let i = input(
            r#"{"context_window":{"total_input_tokens":842101111111111111111111111111,"total_output_tokens":1840}}"#,
        );
        assert_eq!(i.total_tokens, Some(u64::MAX));
    }

    #[test]
    fn the_first_render_has_no_context_figure() {
        let i = input(include_str!(
            "../../../tests/samples/statusline-first-render.json"
        ));
        assert_eq!(i.context_pct, None);
        assert_eq!(i.rate_limit_5h_pct, None);
        assert_eq!(i.effort, None);
    }

    #[test]
    fn context_is_computed_from_current_usage_without_used_percentage() {
        let i = input(
            r#"{"context_window":{"context_window_size":200000,"used_percentage":null,
                "current_usage":{"input_tokens":1000,"output_tokens":500,"cache_creation_input_tokens":9000,"cache_read_input_tokens":40000}}}"#,
        );
        assert_eq!(i.context_pct, Some(25.0));
    }

    #[test]
    fn nulls_and_wrong_types_are_absent() {
        let i =
            input(r#"{"model":null,"cost":{"total_cost_usd":"lots"},"workspace":7,"cwd":"/a/b"}"#);
        assert_eq!(i.model, None);
        assert_eq!(i.cost_usd, None);
        assert_eq!(i.project_dir.as_deref(), Some("/a/b"));
        assert_eq!(i.to_status(Agent::Claude), None);
    }
}
