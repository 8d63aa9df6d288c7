//! Property test: on generated JSON documents, the hot-path scanner extracts
//! exactly the top-level string fields serde_json finds.

use llm_bridge_protocol::json_scan::{scan_top_level, Scanner};
use proptest::prelude::*;
use serde_json::{Map, Value};

const KEYS: [&str; 4] = ["session_id", "hook_event_name", "tool_use_id", "cwd"];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KEYS.to_vec()).prop_map(str::to_string),
        1 => "[a-z_]{0,12}",
        1 => any::<String>(),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 /._-]{0,40}",
        any::<String>(),
        // Characters that stress the scanner: quotes, backslashes, brackets, controls.
        prop::collection::vec(
            prop::sample::select(vec![
                '"', '\\', '{', '}', '[', ']', '\n', '\u{1}', 'é', '😀', 'a', ':', ','
            ]),
            0..30
        )
        .prop_map(|v| v.into_iter().collect()),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn document() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((key(), value()), 0..12).prop_map(|kv| kv.into_iter().collect())
}

fn check(doc: &[u8], parsed: &Map<String, Value>) {
    let got = scan_top_level(doc, &KEYS).expect("valid JSON must scan");
    for (k, got) in KEYS.iter().zip(got) {
        let want = parsed.get(*k).and_then(Value::as_str);
        assert_eq!(
            got.as_deref(),
            want,
            "key {k} in {}",
            String::from_utf8_lossy(doc)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn scanner_agrees_with_serde_json(doc in document()) {
        let compact = serde_json::to_vec(&doc).unwrap();
        check(&compact, &doc);
        let pretty = serde_json::to_vec_pretty(&doc).unwrap();
        check(&pretty, &doc);
    }

    #[test]
    fn fed_in_any_pieces_it_scans_the_same(doc in document(), sizes in prop::collection::vec(1usize..64, 1..16)) {
        let bytes = serde_json::to_vec_pretty(&doc).unwrap();
        let mut scanner = Scanner::new(&KEYS);
        let mut at = 0;
        for size in sizes.iter().cycle() {
            if at >= bytes.len() {
                break;
            }
            let end = (at + size).min(bytes.len());
            scanner.feed(&bytes[at..end]);
            at = end;
        }
        prop_assert_eq!(scanner.finish(), scan_top_level(&bytes, &KEYS));
    }

    #[test]
    fn truncated_documents_never_scan(doc in document(), cut in 0.0f64..1.0) {
        let bytes = serde_json::to_vec(&doc).unwrap();
        let at = ((bytes.len() as f64) * cut) as usize;
        if at < bytes.len() {
            prop_assert!(scan_top_level(&bytes[..at], &KEYS).is_err());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = scan_top_level(&bytes, &KEYS);
    }
}

/// serde_json's value in the statusline parser's terms.
fn to_json(v: &Value) -> llm_bridge_protocol::json_value::Json {
    use llm_bridge_protocol::json_value::Json;
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => Json::Num(n.as_f64().unwrap()),
        Value::String(s) => Json::Str(s.clone()),
        Value::Array(a) => Json::Arr(a.iter().map(to_json).collect()),
        Value::Object(o) => Json::Obj(o.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn value_parser_agrees_with_serde_json(doc in document()) {
        let value = Value::Object(doc);
        for bytes in [serde_json::to_vec(&value).unwrap(), serde_json::to_vec_pretty(&value).unwrap()] {
            let parsed = llm_bridge_protocol::json_value::Json::parse(&bytes).expect("valid JSON must parse");
            prop_assert_eq!(parsed, to_json(&value));
        }
    }
}
