//! `llm-bridge voice`: the catalogue and the voices served by a local HTTP
//! server in the format of rhasspy/piper-voices, with the real test voice:
//! a download cut short and resumed, a wrong checksum refused, `--from`,
//! `list` and `remove`.

use crate::http_server::{Cut, Server};
use crate::support::Env;
use md5::{Digest, Md5};
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

const MODEL: &str = "en/en_US/joe/medium/en_US-joe-medium.onnx";
const CONFIG: &str = "en/en_US/joe/medium/en_US-joe-medium.onnx.json";

/// The test voice's model and config.
pub(crate) fn voice_files() -> (Vec<u8>, Vec<u8>) {
    let model_path = llm_bridge::test_voice::test_voice();
    let model = std::fs::read(&model_path).unwrap();
    let config = std::fs::read(format!("{}.json", model_path.display())).unwrap();
    (model, config)
}

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A voices.json with the test voice, as the real one lists a voice.
fn catalogue(model: &[u8], config: &[u8], model_md5: &str) -> Vec<u8> {
    serde_json::json!({
        "en_US-joe-medium": {
            "key": "en_US-joe-medium",
            "name": "joe",
            "language": {
                "code": "en_US", "family": "en", "region": "US",
                "name_native": "English", "name_english": "English",
                "country_english": "United States"
            },
            "quality": "medium",
            "num_speakers": 1,
            "speaker_id_map": {},
            "files": {
                MODEL: {"size_bytes": model.len(), "md5_digest": model_md5},
                CONFIG: {"size_bytes": config.len(), "md5_digest": md5_hex(config)},
                "en/en_US/joe/medium/MODEL_CARD": {"size_bytes": 5, "md5_digest": md5_hex(b"card\n")}
            },
            "aliases": []
        }
    })
    .to_string()
    .into_bytes()
}

/// A server of the catalogue and the test voice's files.
fn server(model_md5: Option<&str>, cut: Option<Cut>) -> (Server, Vec<u8>, Vec<u8>) {
    let (model, config) = voice_files();
    let md5 = model_md5.map_or_else(|| md5_hex(&model), str::to_string);
    let files = HashMap::from([
        ("voices.json".to_string(), catalogue(&model, &config, &md5)),
        (MODEL.to_string(), model.clone()),
        (CONFIG.to_string(), config.clone()),
    ]);
    (Server::start(files, cut), model, config)
}

/// `~/.local/share/llm-bridge/voices` of the test's HOME.
pub(crate) fn voices_dir(env: &Env) -> PathBuf {
    env.runtime().join("home/.local/share/llm-bridge/voices")
}

/// `llm-bridge voice ARGS` against `server`.
fn voice(env: &Env, server: &Server, args: &[&str]) -> Output {
    env.command(&crate::support::bridge_bin())
        .arg("voice")
        .args(args)
        .env("LLM_BRIDGE_VOICES_URL", server.base())
        .output()
        .unwrap()
}

#[track_caller]
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn install_resumes_a_cut_download_checks_it_and_makes_it_the_voice() {
    let env = Env::new();
    let cut_at = 20 << 20;
    let (server, model, config) = server(
        None,
        Some(Cut {
            path: MODEL.into(),
            after: cut_at,
            times: 1,
        }),
    );
    let run = voice(&env, &server, &["install", "en_US-joe-medium"]);
    assert!(run.status.success(), "{run:?}");
    let stdout = text(&run.stdout);
    // Not a terminal: plain lines, no bar.
    assert!(
        stdout.contains("downloading en_US-joe-medium.onnx (60.3 MiB)"),
        "{stdout}"
    );
    assert!(stdout.contains("resuming at 20.0 MiB"), "{stdout}");
    assert!(!stdout.contains('\r'), "{stdout}");
    // The second request for the model asked for the rest only.
    let ranges: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path == MODEL)
        .map(|r| r.from)
        .collect();
    assert_eq!(ranges, [None, Some(cut_at)]);

    let dir = voices_dir(&env);
    assert_eq!(
        std::fs::read(dir.join("en_US-joe-medium.onnx")).unwrap(),
        model
    );
    assert_eq!(
        std::fs::read(dir.join("en_US-joe-medium.onnx.json")).unwrap(),
        config
    );
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    assert_eq!(
        std::fs::read_link(dir.join("voice.onnx")).unwrap(),
        Path::new("en_US-joe-medium.onnx")
    );
    assert_eq!(
        std::fs::read_link(dir.join("voice.onnx.json")).unwrap(),
        Path::new("en_US-joe-medium.onnx.json")
    );
    assert!(stdout.contains("en_US-joe-medium speaks now"), "{stdout}");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".part") || n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let list = voice(&env, &server, &["list"]);
    assert!(list.status.success(), "{list:?}");
    let listed = text(&list.stdout);
    assert!(listed.starts_with("en_US-joe-medium"), "{listed}");
    assert!(listed.contains("English (United States)"), "{listed}");
    assert!(
        listed.trim_end().ends_with("installed, speaking"),
        "{listed}"
    );

    // Installed already: checked, not downloaded again.
    let before = server.requests().len();
    let again = voice(&env, &server, &["install", "en_US-joe-medium"]);
    assert!(again.status.success(), "{again:?}");
    assert!(text(&again.stdout).contains("there already (md5 checked)"));
    assert_eq!(server.requests().len(), before + 1, "the catalogue only");

    let removed = voice(&env, &server, &["remove", "en_US-joe-medium"]);
    assert!(removed.status.success(), "{removed:?}");
    assert!(text(&removed.stdout).contains("it was the voice"));
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert!(left.is_empty(), "{left:?}");
    let twice = voice(&env, &server, &["remove", "en_US-joe-medium"]);
    assert_eq!(twice.status.code(), Some(2));
    assert!(text(&twice.stderr).contains("is not installed"));
}

#[test]
fn a_wrong_checksum_is_refused_and_nothing_is_installed() {
    let env = Env::new();
    let (server, _, _) = server(Some("0123456789abcdef0123456789abcdef"), None);
    let run = voice(&env, &server, &["install", "en_US-joe-medium"]);
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    let stderr = text(&run.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("en_US-joe-medium.onnx: its md5 is")
            && stderr.contains("the catalogue says 0123456789abcdef0123456789abcdef")
            && stderr.contains("nothing was installed"),
        "{stderr}"
    );
    let dir = voices_dir(&env);
    for name in [
        "en_US-joe-medium.onnx",
        "en_US-joe-medium.onnx.json",
        "en_US-joe-medium.onnx.part",
        "voice.onnx",
        "voice.onnx.json",
    ] {
        assert!(
            std::fs::symlink_metadata(dir.join(name)).is_err(),
            "{name} is there"
        );
    }
    // An unknown voice is one line too.
    let unknown = voice(&env, &server, &["install", "en_US-nobody-low"]);
    assert_eq!(unknown.status.code(), Some(2));
    let stderr = text(&unknown.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no voice \"en_US-nobody-low\" in the catalogue"),
        "{stderr}"
    );
}

#[test]
fn install_from_a_file_keeps_the_voice_chosen_in_the_config() {
    let env = Env::new();
    env.write_config("[speech]\nvoice = \"/somewhere/mine.onnx\"\n");
    let model_path = llm_bridge::test_voice::test_voice();
    let run = env
        .command(&crate::support::bridge_bin())
        .args(["voice", "install", "--from"])
        .arg(&model_path)
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    let stdout = text(&run.stdout);
    assert!(
        stdout.contains("the voice stays /somewhere/mine.onnx ([speech] voice in config.toml)"),
        "{stdout}"
    );
    let dir = voices_dir(&env);
    let (model, _) = voice_files();
    assert_eq!(
        std::fs::read(dir.join("en_US-joe-medium.onnx")).unwrap(),
        model
    );
    assert!(std::fs::symlink_metadata(dir.join("voice.onnx")).is_err());
}
