//! Micro-benchmarks of the hot path's pieces: `cargo bench`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use llm_bridge_core::module::render;
use llm_bridge_core::state::{Input, State};
use llm_bridge_hooks::hook_input::event_from_hook_json;
use llm_bridge_protocol::wire::{Event, EventKind, Message};
use std::hint::black_box;

/// A PostToolUse payload whose `tool_response` is `size` bytes of output.
fn post_tool_use(size: usize) -> Vec<u8> {
    let output =
        "test result: ok. 42 passed; \\\"quoted\\\" {braces} [brackets]\\n".repeat(size / 60 + 1);
    format!(
        r#"{{"session_id":"8f3c2a4e-5b1d-4c7e-9a2f-1e6d0b7c3a91","transcript_path":"/home/u/.claude/projects/x/8f3c.jsonl","cwd":"/home/u/src/waybar-llm","hook_event_name":"PostToolUse","tool_name":"Bash","tool_input":{{"command":"cargo test","description":"Run"}},"tool_response":{{"stdout":"{output}","stderr":"","interrupted":false,"isImage":false}},"tool_use_id":"toolu_01ABCDEF0123456789abcdef","duration_ms":4187}}"#
    )
    .into_bytes()
}

fn scan(c: &mut Criterion) {
    let mut group = c.benchmark_group("scan");
    for size in [600, 1 << 20] {
        let doc = post_tool_use(size);
        group.throughput(Throughput::Bytes(doc.len() as u64));
        group.bench_with_input(BenchmarkId::new("post_tool_use", size), &doc, |b, doc| {
            b.iter(|| event_from_hook_json(black_box(doc), Some(1), Some(2)).unwrap());
        });
    }
    group.finish();
}

fn sample_event() -> Event {
    let doc = post_tool_use(600);
    event_from_hook_json(&doc, Some(4242), Some(1_700_000_000_000_000_000)).unwrap()
}

fn wire(c: &mut Criterion) {
    let message = Message::Event(sample_event());
    let bytes = message.encode();
    c.bench_function("wire/encode", |b| b.iter(|| black_box(&message).encode()));
    c.bench_function("wire/decode", |b| {
        b.iter(|| Message::decode(black_box(&bytes)).unwrap());
    });
}

/// A state with `n` sessions, one running a tool.
fn state_with(n: usize) -> State {
    let mut st = State::new();
    for i in 0..n {
        let mut e = Event::new(EventKind::ToolStart, format!("session-{i}"));
        e.cwd = Some(format!("/home/u/src/project-{i}"));
        e.tool_name = Some("Read".into());
        e.tool_use_id = Some(format!("t{i}"));
        st.apply(&Input::Event(e), 1_700_000_000_000);
    }
    st
}

/// The sizes the cost of an event is measured at: it must not grow with them.
const SESSIONS: [usize; 4] = [1, 10, 100, 1000];

fn apply(c: &mut Criterion) {
    let mut start = Event::new(EventKind::ToolStart, "session-0");
    start.tool_name = Some("Bash".into());
    start.tool_use_id = Some("x".into());
    let mut end = start.clone();
    end.kind = EventKind::ToolEnd;
    let (start, end) = (Input::Event(start), Input::Event(end));
    let mut group = c.benchmark_group("state/apply_tool_start_end");
    for n in SESSIONS {
        let mut st = state_with(n);
        let mut now = 1_700_000_000_000;
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                now += 1;
                st.apply(black_box(&start), now);
                st.apply(black_box(&end), now)
            });
        });
    }
    group.finish();
}

fn module(c: &mut Criterion) {
    let mut group = c.benchmark_group("module/render");
    for n in SESSIONS {
        let st = state_with(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| render(black_box(&st), 3600));
        });
    }
    group.finish();
}

fn snapshot(c: &mut Criterion) {
    // state.json is written at most every 100 ms while sessions change: its
    // cost grows with the sessions, linearly.
    let mut group = c.benchmark_group("snapshot/serialize");
    for n in SESSIONS {
        let st = state_with(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| serde_json::to_vec(black_box(&st)).unwrap());
        });
    }
    group.finish();
}

fn statusline(c: &mut Criterion) {
    use llm_bridge_hooks::statusline::render::{render, RenderOptions};
    use llm_bridge_hooks::statusline::template::Segment;
    use llm_bridge_hooks::statusline::StatusInput;
    use llm_bridge_protocol::json_value::Json;
    let raw = include_bytes!("../tests/samples/statusline.json");
    let template = Segment::default_format();
    let options = RenderOptions::default();
    c.bench_function("statusline/parse_and_render", |b| {
        b.iter(|| {
            let json = Json::parse(black_box(raw)).unwrap();
            let input = StatusInput::from_json(&json);
            render(&template, &input, Some("main"), &options)
        });
    });
}

criterion_group!(benches, scan, wire, apply, module, snapshot, statusline);
criterion_main!(benches);
