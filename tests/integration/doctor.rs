//! `llm-bridge doctor`: a complete installation passes every check (exit
//! 0), and each way of breaking it gives its own ✗ line with the fix, and
//! exit 1. Warnings (`!`) are what llm-bridge works without, and never
//! fail the run.

use crate::support::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

const BINARIES: [&str; 5] = [
    "llm-bridge",
    "llm-bridge-hook",
    "llm-bridge-statusline",
    "llm-bridge-waybar",
    "llm-bridge-apply",
];

/// A complete installation in the environment's HOME: the binaries
/// (stand-ins, only checked for being there and executable), the settings
/// merged by `llm-bridge install --write`, Waybar's config with the
/// module, the systemd units and a voice.
struct Setup<'e> {
    env: &'e Env,
    bin: PathBuf,
}

impl<'e> Setup<'e> {
    fn new(env: &'e Env) -> Setup<'e> {
        let bin = env.runtime().join("prefix/bin");
        std::fs::create_dir_all(&bin).unwrap();
        for name in BINARIES {
            write(&bin.join(name), "#!/bin/sh\n", 0o755);
        }
        let setup = Setup { env, bin };
        let out = setup
            .doctor_command()
            .args(["install", "--write", "--bin-dir"])
            .arg(&setup.bin)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        setup.write_waybar_config(&setup.module(8, "interval\": \"once"));
        let service = format!(
            "[Unit]\nDescription=llm-bridge\n[Service]\nExecStart={} daemon\n",
            setup.bin.join("llm-bridge").display()
        );
        write(
            &setup.home(".config/systemd/user/llm-bridge.service"),
            &service,
            0o644,
        );
        write(
            &setup.home(".config/systemd/user/llm-bridge.socket"),
            "[Socket]\n",
            0o644,
        );
        write(
            &setup.home(".local/share/llm-bridge/voice.onnx"),
            "onnx",
            0o644,
        );
        write(
            &setup.home(".local/share/llm-bridge/voice.onnx.json"),
            "{}",
            0o644,
        );
        setup
    }

    fn home(&self, rel: &str) -> PathBuf {
        self.env.runtime().join("home").join(rel)
    }

    /// The module, with `extra` as one more `"key": value` pair's inside.
    fn module(&self, signal: u8, extra: &str) -> String {
        format!(
            "// Waybar's config, with comments and trailing commas (JSONC)\n{{\n  \
             \"modules-right\": [\"clock\", \"custom/llm\",],\n  \"custom/llm\": {{\n    \
             \"exec\": \"{}\",\n    \"return-type\": \"json\",\n    \"signal\": {signal},\n    \
             \"{extra}\", /* the README's */\n  }},\n}}\n",
            self.bin.join("llm-bridge-waybar").display()
        )
    }

    fn write_waybar_config(&self, text: &str) {
        write(&self.home(".config/waybar/config.jsonc"), text, 0o644);
    }

    /// `llm-bridge` with this installation's PATH and no XDG directory of
    /// the machine's (its Waybar config or units).
    fn doctor_command(&self) -> std::process::Command {
        let mut cmd = self.env.command(&bridge_bin());
        let path = format!("{}:/usr/bin:/bin", self.bin.display());
        // An audio device that opens: ALSA's null device.
        let alsa = self.env.runtime().join("asound-null.conf");
        std::fs::write(&alsa, "pcm.!default {\n type null\n}\n").unwrap();
        cmd.env("PATH", path)
            .env(
                "ALSA_CONFIG_PATH",
                format!("/usr/share/alsa/alsa.conf:{}", alsa.display()),
            )
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME")
            .env(
                "XDG_CONFIG_DIRS",
                self.env.runtime().join("no-system-config"),
            )
            .stdin(std::process::Stdio::null());
        cmd
    }

    fn doctor(&self) -> (i32, String) {
        let out: Output = self.doctor_command().arg("doctor").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap(), text)
    }

    /// Runs doctor expecting exactly one ✗ line, containing every one of
    /// `words`; returns it.
    #[track_caller]
    fn one_failure(&self, words: &[&str]) -> String {
        let (code, text) = self.doctor();
        let failures: Vec<&str> = text.lines().filter(|l| l.starts_with('✗')).collect();
        assert_eq!(failures.len(), 1, "{text}");
        for word in words {
            assert!(failures[0].contains(word), "{word:?} in:\n{text}");
        }
        assert_eq!(code, 1, "{text}");
        failures[0].to_string()
    }
}

fn write(path: &Path, text: &str, mode: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A daemon and a Waybar listening on the module's signal.
fn running(env: &Env) -> (Daemon, FakeWaybar) {
    (env.daemon(), env.fake_waybar(false))
}

#[test]
fn doctor_passes_a_complete_installation() {
    let env = Env::new();
    let setup = Setup::new(&env);
    let _running = running(&env);
    let (code, text) = setup.doctor();
    assert_eq!(code, 0, "{text}");
    assert!(text.ends_with("all checks passed\n"), "{text}");
    for line in [
        "✓ config: none (defaults)",
        &format!("✓ binaries: {}", setup.bin.display()),
        "✓ hooks: all 14 events in ",
        &format!(
            "✓ hooks run {}",
            setup.bin.join("llm-bridge-hook").display()
        ),
        &format!(
            "✓ statusLine runs {}",
            setup.bin.join("llm-bridge-statusline").display()
        ),
        "✓ daemon: running (pid ",
        ", listening on SIGRTMIN+8",
        "custom/llm runs ",
        "✓ systemd units: ",
        "✓ voice: ",
        "no md5 recorded: not put there by `llm-bridge voice install`",
        if cfg!(feature = "speech") {
            "✓ audio: ALSA \"default\" opens ("
        } else {
            "✓ audio: not checked (built without speech)"
        },
        &if cfg!(feature = "speech") {
            format!(
                "✓ phonemes: espeak-ng 1.52.0 (built in), its data unpacked into {}/espeak-ng-1.52.0-",
                setup.home(".cache/llm-bridge").display()
            )
        } else {
            "✓ phonemes: not checked (built without speech)".to_string()
        },
        "✓ quiet hours: none",
        "✓ mute: off",
    ] {
        assert!(text.contains(line), "{line:?} in:\n{text}");
    }
}

/// A cache directory that speech would refuse for espeak-ng's data: a
/// warning while speech is off, the one failure once it is on, with the fix
/// speech itself would give.
#[cfg(feature = "speech")]
#[test]
fn doctor_fails_a_cache_directory_speech_cannot_unpack_its_phonemes_into() {
    let env = Env::new();
    let setup = Setup::new(&env);
    let cache = setup.home(".cache/llm-bridge");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o755)).unwrap();
    let refusal = format!(
        "espeak-ng 1.52.0 (built in): refusing {0}: mode 0755 is not 0700",
        cache.display()
    );
    let fix = format!("chmod 700 {}", cache.display());
    let _running = running(&env);
    let (code, text) = setup.doctor();
    assert_eq!(code, 0, "speech off: a warning only\n{text}");
    assert!(
        text.contains(&format!("! phonemes: {refusal} (speech is off): {fix}\n")),
        "{text}"
    );
    drop(_running);
    let _waybar = env.fake_waybar(false);
    env.write_config("[speech]\nenabled = true\n");
    let line = setup.one_failure(&["✗ phonemes: "]);
    assert_eq!(line, format!("✗ phonemes: {refusal}: {fix}"));
}

#[test]
fn doctor_warns_without_failing_for_what_llm_bridge_works_without() {
    let env = Env::new();
    let setup = Setup::new(&env);
    let _waybar = env.fake_waybar(false);
    // No daemon, no units, no voice, muted.
    std::fs::remove_dir_all(setup.home(".config/systemd")).unwrap();
    std::fs::remove_dir_all(setup.home(".local/share/llm-bridge")).unwrap();
    let out = setup
        .doctor_command()
        .args(["mute", "on"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let (code, text) = setup.doctor();
    assert_eq!(code, 0, "{text}");
    for line in [
        "! daemon: not running",
        "! systemd units: not in ",
        "! voice: none",
        "(speech is off)",
        "! mute: spoken notifications are muted: `llm-bridge mute off`",
        "no check failed (4 to look at, marked !)",
    ] {
        assert!(text.contains(line), "{line:?} in:\n{text}");
    }
    assert!(!text.contains('✗'), "{text}");
}

#[test]
fn doctor_fails_an_invalid_config() {
    let env = Env::new();
    let setup = Setup::new(&env);
    let _running = running(&env);
    env.write_config("signal = 99\n");
    setup.one_failure(&["config", "signal", "fix the file"]);
}

#[test]
fn doctor_fails_a_binary_that_cannot_run() {
    let env = Env::new();
    let setup = Setup::new(&env);
    let _running = running(&env);
    let apply = setup.bin.join("llm-bridge-apply");
    std::fs::set_permissions(&apply, std::fs::Permissions::from_mode(0o644)).unwrap();
    setup.one_failure(&[
        "binaries: llm-bridge-apply in ",
        "cannot be run",
        "chmod 755",
    ]);
}

#[test]
fn doctor_fails_missing_settings_and_missing_hooks() {
    let env = Env::new();
    let setup = Setup::new(&env);
    let _running = running(&env);
    let settings = setup.home(".claude/settings.json");
    std::fs::remove_file(&settings).unwrap();
    setup.one_failure(&["does not exist", "llm-bridge install --write"]);

    // Only some events wired.
    let hook = setup.bin.join("llm-bridge-hook");
    let entry = |event: &str| {
        format!(
            "\"{event}\": [{{\"hooks\": [{{\"type\": \"command\", \"command\": \"{}\"}}]}}]",
            hook.display()
        )
    };
    let statusline = setup.bin.join("llm-bridge-statusline");
    write(
        &settings,
        &format!(
            "{{\"hooks\": {{{}, {}}}, \"statusLine\": {{\"type\": \"command\", \"command\": \"{}\"}}}}",
            entry("SessionStart"),
            entry("Stop"),
            statusline.display()
        ),
        0o600,
    );
    let line = setup.one_failure(&["hooks: ", "lacks llm-bridge's for UserPromptSubmit"]);
    let listed = line
        .split("for ")
        .nth(1)
        .unwrap()
        .split(':')
        .next()
        .unwrap();
    let listed: Vec<&str> = listed.split(", ").collect();
    assert_eq!(listed.len(), 12, "{line}");
    assert!(
        !listed.contains(&"SessionStart") && !listed.contains(&"Stop"),
        "{line}"
    );

    write(&settings, "{\"hooks\": ", 0o600);
    setup.one_failure(&["is not valid JSON"]);
}

#[test]
fn doctor_checks_each_other_agent_whose_directory_exists() {
    let env = Env::new();
    let setup = Setup::new(&env);
    let _running = running(&env);
    // Gemini CLI is there (its directory, its settings with a comment),
    // without llm-bridge's hooks.
    let gemini = setup.home(".gemini/settings.json");
    write(
        &gemini,
        "{\n  // mine\n  \"theme\": \"Dracula\"\n}\n",
        0o600,
    );
    setup.one_failure(&[
        "Gemini CLI hooks: none of llm-bridge's in",
        "llm-bridge install --agent gemini --write",
    ]);
    let out = setup
        .doctor_command()
        .args(["install", "--agent", "gemini", "--write", "--bin-dir"])
        .arg(&setup.bin)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let (code, text) = setup.doctor();
    assert_eq!(code, 0, "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("✓ Gemini CLI hooks: all 8 events in")),
        "{text}"
    );
    // Its hook gone: the run says so.
    std::fs::remove_file(setup.bin.join("llm-bridge-hook")).unwrap();
    let (code, text) = setup.doctor();
    assert_eq!(code, 1, "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("✗ Gemini CLI hooks run") && l.contains("does not exist")),
        "{text}"
    );
}

#[test]
fn doctor_says_which_codex_hooks_codex_has_not_trusted() {
    let env = Env::new();
    let setup = Setup::new(&env);
    let _running = running(&env);
    std::fs::create_dir_all(setup.home(".codex")).unwrap();
    let out = setup
        .doctor_command()
        .args(["install", "--agent", "codex", "--write", "--bin-dir"])
        .arg(&setup.bin)
        .env_remove("CODEX_HOME")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // Merged, never trusted in Codex's /hooks: Codex would skip them all.
    let line = setup.one_failure(&[
        "Codex CLI skips 12 of llm-bridge's 12 hooks (not trusted yet: SessionStart, UserPromptSubmit,",
        "start `codex`, type `/hooks` and trust llm-bridge's hooks",
    ]);
    assert!(!line.contains("changed"), "{line}");
    // Trusted once, but for other commands (hashes that no longer match).
    let hooks = setup.home(".codex/hooks.json");
    let mut config = String::from("# mine\nmodel = \"o4\"\n");
    for event in ["session_start", "stop"] {
        config.push_str(&format!(
            "[hooks.state.\"{}:{event}:0:0\"]\ntrusted_hash = \"sha256:0123\"\n",
            hooks.display()
        ));
    }
    write(&setup.home(".codex/config.toml"), &config, 0o600);
    setup.one_failure(&[
        "Codex CLI skips 12 of llm-bridge's 12 hooks (not trusted yet: UserPromptSubmit,",
        "changed since trusted: SessionStart, Stop)",
    ]);
    // A config.toml Codex cannot read is said as such.
    write(&setup.home(".codex/config.toml"), "model = \n", 0o600);
    setup.one_failure(&["Codex CLI config:", "is not valid TOML"]);
}

#[test]
fn doctor_fails_hooks_pointing_at_a_missing_binary() {
    let env = Env::new();
    let setup = Setup::new(&env);
    let _running = running(&env);
    let settings = setup.home(".claude/settings.json");
    let text = std::fs::read_to_string(&settings).unwrap();
    let moved = env.runtime().join("gone/bin");
    let text = text.replace(
        &format!("{}/llm-bridge-hook", setup.bin.display()),
        &format!("{}/llm-bridge-hook", moved.display()),
    );
    std::fs::write(&settings, text).unwrap();
    setup.one_failure(&[
        &format!(
            "hooks run {}/llm-bridge-hook, which does not exist",
            moved.display()
        ),
        "llm-bridge install --write",
    ]);
}

#[test]
fn doctor_fails_without_a_running_waybar() {
    let env = Env::new();
    let setup = Setup::new(&env);
    let _daemon = env.daemon();
    setup.one_failure(&["Waybar: not running", "start Waybar"]);
}

#[test]
fn doctor_fails_a_waybar_that_does_not_listen_on_the_signal() {
    let env = Env::new();
    let setup = Setup::new(&env);
    let _daemon = env.daemon();
    // A Waybar whose config has no module with this signal has no handler.
    let _waybar = env.fake_waybar(true);
    setup.one_failure(&["has no handler for SIGRTMIN+8", "reload Waybar"]);
}

#[test]
fn doctor_fails_a_waybar_config_without_the_module_or_with_the_wrong_signal_or_exec() {
    let env = Env::new();
    let setup = Setup::new(&env);
    let _running = running(&env);

    setup.write_waybar_config("{\"modules-right\": [\"clock\"]}");
    setup.one_failure(&[
        "no \"custom/llm\" module in a modules-* list",
        "llm-bridge install",
    ]);

    setup.write_waybar_config(&setup.module(9, "interval\": \"once"));
    setup.one_failure(&["\"signal\": 9, but llm-bridge sends 8", "set \"signal\": 8"]);

    let moved = setup.module(8, "interval\": \"once").replace(
        &setup.bin.display().to_string(),
        &env.runtime().join("gone").display().to_string(),
    );
    setup.write_waybar_config(&moved);
    setup.one_failure(&["which does not exist", "set \"exec\": "]);

    setup.write_waybar_config(
        "{\"modules-right\": [\"custom/llm\"], \"custom/llm\": {\"exec\": \"date\"}}",
    );
    setup.one_failure(&["runs `date`, not llm-bridge-waybar"]);

    setup.write_waybar_config("{ not json");
    setup.one_failure(&["not valid JSON(C)"]);

    std::fs::remove_file(setup.home(".config/waybar/config.jsonc")).unwrap();
    setup.one_failure(&["Waybar config: none found"]);

    // Continuous mode needs no signal.
    setup.write_waybar_config(&format!(
        "[{{\"modules-left\": [\"custom/llm\"], \"custom/llm\": {{\"exec\": \"{} waybar --follow\"}}}}]",
        setup.bin.join("llm-bridge").display()
    ));
    let (code, text) = setup.doctor();
    assert_eq!(code, 0, "{text}");
}

#[test]
fn doctor_fails_units_that_run_a_missing_binary_or_are_half_there() {
    let env = Env::new();
    let setup = Setup::new(&env);
    let _running = running(&env);
    let service = setup.home(".config/systemd/user/llm-bridge.service");
    write(
        &service,
        "[Service]\nExecStart=%h/nowhere/llm-bridge daemon\n",
        0o644,
    );
    setup.one_failure(&[
        "/nowhere/llm-bridge, which does not exist",
        "set ExecStart=",
    ]);
    std::fs::remove_file(&service).unwrap();
    setup.one_failure(&["llm-bridge.service is missing"]);
}

#[test]
fn doctor_fails_a_missing_voice_when_speech_is_on() {
    let env = Env::new();
    let setup = Setup::new(&env);
    env.write_config("[speech]\nvoice = \"/nonexistent/voice.onnx\"\n");
    let _running = running(&env);
    let (code, text) = setup.doctor();
    assert_eq!(code, 0, "speech off: a warning only\n{text}");
    assert!(
        text.contains("! voice: /nonexistent/voice.onnx does not exist (speech is off)"),
        "{text}"
    );
    // With speech on, the daemon would not start without its voice: doctor
    // runs without one.
    drop(_running);
    let _waybar = env.fake_waybar(false);
    env.write_config("[speech]\nenabled = true\nvoice = \"/nonexistent/voice.onnx\"\n");
    let (code, text) = setup.doctor();
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("✗ voice: /nonexistent/voice.onnx does not exist: fix [speech] voice"),
        "{text}"
    );
}

#[test]
fn doctor_shows_a_control_character_in_a_path_as_a_question_mark() {
    let env = Env::new();
    let setup = Setup::new(&env);
    // An escape sequence (red text) in the configured voice's path.
    env.write_config("[speech]\nvoice = \"/nonexistent/\\u001b[31mred.onnx\"\n");
    let _running = running(&env);
    let (_, text) = setup.doctor();
    assert!(
        text.contains("! voice: /nonexistent/?[31mred.onnx does not exist"),
        "{text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "a raw escape reached the terminal: {text:?}"
    );
}

#[test]
fn doctor_checks_the_voice_against_its_md5_and_opens_the_audio_device() {
    let env = Env::new();
    let setup = Setup::new(&env);
    let _running = running(&env);
    // A voice installed with `voice install --from`: its md5 list is kept.
    let source = env.runtime().join("source");
    write(&source.join("tiny.onnx"), "model bytes", 0o644);
    write(
        &source.join("tiny.onnx.json"),
        r#"{"phoneme_id_map": {}}"#,
        0o644,
    );
    let out = setup
        .doctor_command()
        .args(["voice", "install", "--from"])
        .arg(source.join("tiny.onnx"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let voices = setup.home(".local/share/llm-bridge/voices");
    let sums = std::fs::read_to_string(voices.join("tiny.md5")).unwrap();
    assert!(sums.ends_with("  tiny.onnx\n"), "{sums}");
    let model = voices.join("tiny.onnx");
    env.write_config(&format!(
        "[speech]\nenabled = true\nvoice = \"{}\"\n",
        model.display()
    ));
    let (code, text) = setup.doctor();
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("the md5 of its 2 files as installed)"),
        "{text}"
    );
    // The daemon started before this voice was chosen (and a stand-in
    // model would not load): doctor does not say it is loaded.
    assert!(!text.contains("loaded by the daemon"), "{text}");
    // A changed model is named, with the fix.
    std::fs::write(&model, "model bytes, damaged").unwrap();
    setup.one_failure(&[
        "✗ voice: ",
        "tiny.onnx is not the file installed",
        "llm-bridge voice install",
    ]);
    std::fs::write(&model, "model bytes").unwrap();
    // No audio device that opens: one ✗ naming the device and the fix,
    // and none of ALSA's own messages. (Built without speech, there is no
    // device to check: `setup.doctor` above saw it say so and pass.)
    if cfg!(feature = "speech") {
        assert_no_device_fails(&env, &setup);
    }
    // `voice remove` takes the md5 list too.
    let out = setup
        .doctor_command()
        .args(["voice", "remove", "tiny"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(!voices.join("tiny.md5").exists());
}

/// doctor with an ALSA default device that does not exist.
fn assert_no_device_fails(env: &Env, setup: &Setup<'_>) {
    let none = env.runtime().join("asound-none.conf");
    std::fs::write(&none, "pcm.!default {\n type hw\n card 29\n}\n").unwrap();
    let out = setup
        .doctor_command()
        .arg("doctor")
        .env(
            "ALSA_CONFIG_PATH",
            format!("/usr/share/alsa/alsa.conf:{}", none.display()),
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let failures: Vec<&str> = text.lines().filter(|l| l.starts_with('✗')).collect();
    assert_eq!(failures.len(), 1, "{text}");
    assert!(
        failures[0].starts_with("✗ audio: cannot open the audio device ALSA \"default\"")
            && failures[0].ends_with("llm-bridge say -o FILE.wav TEXT`"),
        "{text}"
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
