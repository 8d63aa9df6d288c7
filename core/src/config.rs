//! `config.toml`: every key optional, unknown keys rejected by name.
//!
//! Looked up at `$LLM_BRIDGE_CONFIG`, else `$XDG_CONFIG_HOME/llm-bridge/config.toml`,
//! else `~/.config/llm-bridge/config.toml`. No file means the defaults.

use crate::defaults::default_config;
use crate::error::{Context, Error, Result};
use llm_bridge_hooks::bounded_read::{self, Links};

/// The largest config.toml read.
pub const MAX_CONFIG: u64 = 1 << 20;
pub use crate::module::ModuleStyle;
use llm_bridge_hooks::statusline::template::Segment;
use llm_bridge_hooks::statusline::StatuslineConfig;
use llm_bridge_protocol::template::Template;
use serde::de::value::{Error as ValueError, StrDeserializer};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// The fully commented default config, printed by `llm-bridge config
/// --default`; README's reference is this text (a test keeps them equal).
/// It is the one source of the defaults: the `Default` impls below take
/// their values from it at build time (`core/src/defaults.rs`).
pub const DEFAULT_CONFIG_TOML: &str = llm_bridge_hooks::default_config::TEXT;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Waybar's module is signalled with SIGRTMIN+signal (its `"signal"`).
    pub signal: u8,
    /// With socket activation: exit after this many seconds with no session,
    /// no event and no subscriber (0: never). systemd starts it again.
    pub idle_exit_secs: u64,
    /// The cap on sessions held at once.
    pub max_sessions: usize,
    pub debounce: DebounceConfig,
    pub module: ModuleStyle,
    pub speech: SpeechConfig,
    /// Read by `llm-bridge-statusline` itself, with its own parser; the same
    /// parser fills this in `Config::parse`, so `llm-bridge daemon` and
    /// `reload` report a mistake in the section too.
    #[serde(skip)]
    pub statusline: StatuslineConfig,
    /// Lets serde accept the `[statusline]` table it does not read.
    #[serde(rename = "statusline")]
    statusline_table: serde::de::IgnoredAny,
}

/// The `[debounce] mode` of config.toml.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Leading,
    Trailing,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DebounceConfig {
    pub mode: Mode,
    pub window_ms: u64,
    pub cap_ms: u64,
}

/// The `[speech]` section.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpeechConfig {
    /// Load the voice at start and on reload, not at the first `say`.
    pub enabled: bool,
    /// The voice's `.onnx` file; empty: the default place.
    pub voice: String,
    /// A speaker's name or number; empty: the voice's first.
    pub speaker: String,
    pub volume: f32,
    /// Piper's three scales; `None` (the key left out): the voice's own.
    /// A noise of 0 is 0 (the same audio every time); a length scale must
    /// be above 0.
    pub length_scale: Option<f32>,
    pub noise_scale: Option<f32>,
    pub noise_w: Option<f32>,
    pub max_ids: usize,
    pub close_after_secs: u64,
    /// `HH:MM-HH:MM` in local time, or empty; checked by [`Config::parse`].
    pub quiet_hours: String,
    pub repeat_window_secs: u64,
    /// The phrase cache's bound on disk (0: no disk cache).
    pub cache_mib: f64,
    pub events: SpeechEvents,
}

/// `[speech.events]`: what each event that may be spoken says.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpeechEvents {
    pub permission: SpokenEvent,
    pub done: SpokenEvent,
    pub failed: SpokenEvent,
    pub idle: SpokenEvent,
}

/// One event's phrase.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpokenEvent {
    #[serde(default = "yes")]
    pub enabled: bool,
    pub say: String,
    /// Said only after a turn that lasted this long (done, failed).
    #[serde(default)]
    pub min_turn_secs: u64,
}

fn yes() -> bool {
    true
}

impl Default for SpeechEvents {
    fn default() -> Self {
        let event = |enabled, say: &str, min_turn_secs| SpokenEvent {
            enabled,
            say: say.to_string(),
            min_turn_secs,
        };
        // The permission and idle events have no min_turn_secs in the
        // text: 0, as when a user's table leaves it out.
        SpeechEvents {
            permission: event(
                default_config!(speech.events.permission.enabled),
                default_config!(speech.events.permission.say),
                0,
            ),
            done: event(
                default_config!(speech.events.done.enabled),
                default_config!(speech.events.done.say),
                default_config!(speech.events.done.min_turn_secs),
            ),
            failed: event(
                default_config!(speech.events.failed.enabled),
                default_config!(speech.events.failed.say),
                default_config!(speech.events.failed.min_turn_secs),
            ),
            idle: event(
                default_config!(speech.events.idle.enabled),
                default_config!(speech.events.idle.say),
                0,
            ),
        }
    }
}

/// What a spoken phrase's `{placeholder}` stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhraseValue {
    Project,
    Tool,
}

/// The placeholders a phrase may name.
pub const PHRASE_PLACEHOLDERS: [(PhraseValue, &str); 2] = [
    (PhraseValue::Project, "project"),
    (PhraseValue::Tool, "tool"),
];

impl SpokenEvent {
    /// The phrase, parsed (checked when the config was parsed).
    pub fn template(&self) -> Template<PhraseValue> {
        Template::parse(&self.say, &PHRASE_PLACEHOLDERS).unwrap_or(Template { pieces: Vec::new() })
    }
}

/// Quiet hours: minutes after local midnight, `start` included, `end` not;
/// `start > end` spans midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietHours {
    pub start: u16,
    pub end: u16,
}

impl QuietHours {
    /// `"22:00-07:30"`; `None` for an empty text.
    pub fn parse(text: &str) -> std::result::Result<Option<QuietHours>, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let minute = |t: &str| -> Option<u16> {
            let (h, m) = t.trim().split_once(':')?;
            let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
            (h < 24 && m < 60 && !t.contains('+')).then(|| h * 60 + m)
        };
        let bad = || {
            format!("speech.quiet_hours = {text:?}: expected HH:MM-HH:MM, such as \"22:00-07:30\"")
        };
        let (a, b) = text.split_once('-').ok_or_else(bad)?;
        let (start, end) = (minute(a).ok_or_else(bad)?, minute(b).ok_or_else(bad)?);
        if start == end {
            return Err(format!(
                "speech.quiet_hours = {text:?} is empty: start and end are equal"
            ));
        }
        Ok(Some(QuietHours { start, end }))
    }

    /// Whether `minute` (after local midnight) falls inside.
    pub fn contains(self, minute: u16) -> bool {
        if self.start < self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        }
    }
}

impl Default for SpeechConfig {
    fn default() -> Self {
        SpeechConfig {
            enabled: default_config!(speech.enabled),
            voice: default_config!(speech.voice).to_string(),
            speaker: default_config!(speech.speaker).to_string(),
            volume: default_config!(speech.volume),
            // Commented out in the default text: the voice's own.
            length_scale: None,
            noise_scale: None,
            noise_w: None,
            max_ids: default_config!(speech.max_ids),
            close_after_secs: default_config!(speech.close_after_secs),
            quiet_hours: default_config!(speech.quiet_hours).to_string(),
            repeat_window_secs: default_config!(speech.repeat_window_secs),
            // Written as a whole number in the text.
            cache_mib: f64::from(default_config!(speech.cache_mib)),
            events: SpeechEvents::default(),
        }
    }
}

impl SpeechConfig {
    /// The voice to load: `voice` (with `~/` expanded), else the first of
    /// [`crate::paths::default_voices`] that is a file.
    pub fn voice_path(&self) -> Option<PathBuf> {
        if !self.voice.is_empty() {
            return Some(match self.voice.strip_prefix("~/") {
                Some(rest) => std::env::var_os("HOME").map_or_else(
                    || PathBuf::from(&self.voice),
                    |h| PathBuf::from(h).join(rest),
                ),
                None => PathBuf::from(&self.voice),
            });
        }
        crate::paths::default_voices()
            .into_iter()
            .find(|p| p.is_file())
    }

    /// Why [`SpeechConfig::voice_path`] found no voice, as one line: the
    /// exact places looked at, and what to do.
    pub fn no_voice() -> String {
        let places: Vec<String> = crate::paths::default_voices()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let looked = if places.is_empty() {
            "neither XDG_DATA_HOME nor HOME is set".to_string()
        } else {
            format!(
                "[speech] voice is empty and none of {} exists",
                places.join(", ")
            )
        };
        format!(
            "no voice ({looked}): run `llm-bridge voice install en_US-joe-medium`, \
             or set [speech] voice in config.toml to a Piper .onnx file"
        )
    }

    pub fn close_after(&self) -> Duration {
        Duration::from_secs(self.close_after_secs.max(1))
    }

    /// Whether `other` needs no new speech worker: only what is read per
    /// notification (the phrases, quiet hours, the repeat window) differs.
    pub fn same_engine(&self, other: &SpeechConfig) -> bool {
        let policy_free = |c: &SpeechConfig| SpeechConfig {
            events: SpeechEvents::default(),
            quiet_hours: String::new(),
            repeat_window_secs: 0,
            ..c.clone()
        };
        policy_free(self) == policy_free(other)
    }

    /// The quiet hours (checked when the config was parsed).
    pub fn quiet(&self) -> Option<QuietHours> {
        QuietHours::parse(&self.quiet_hours).ok().flatten()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            signal: default_config!(signal),
            idle_exit_secs: default_config!(idle_exit_secs),
            max_sessions: crate::state::DEFAULT_MAX_SESSIONS,
            debounce: DebounceConfig::default(),
            module: ModuleStyle::default(),
            speech: SpeechConfig::default(),
            statusline: StatuslineConfig::default(),
            statusline_table: serde::de::IgnoredAny,
        }
    }
}

impl Default for DebounceConfig {
    fn default() -> Self {
        DebounceConfig {
            mode: named(default_config!(debounce.mode)),
            window_ms: default_config!(debounce.window_ms),
            cap_ms: default_config!(debounce.cap_ms),
        }
    }
}

/// The variant of `T` that a default names (`mode = "leading"`), read by
/// serde as it reads the same word from the file: no second table of names.
pub(crate) fn named<T: for<'de> Deserialize<'de>>(name: &'static str) -> T {
    T::deserialize(StrDeserializer::<ValueError>::new(name))
        .unwrap_or_else(|e| panic!("the default config's {name:?}: {e}"))
}

impl DebounceConfig {
    pub fn window(&self) -> Duration {
        Duration::from_millis(self.window_ms)
    }

    pub fn cap(&self) -> Duration {
        Duration::from_millis(self.cap_ms)
    }
}

impl Config {
    /// Where the config file is looked up (the hook binaries use the same rule).
    pub fn path() -> Option<PathBuf> {
        llm_bridge_hooks::runtime_path::config_path()
    }

    /// Loads the config file; a missing file gives the defaults.
    pub fn load() -> Result<Config> {
        let Some(path) = Config::path() else {
            return Ok(Config::default());
        };
        // The user's file: a link (Home Manager's, into the Nix store) is
        // followed; a FIFO, a device or anything huge is refused.
        match bounded_read::read_string(&path, MAX_CONFIG, Links::Follow) {
            Ok(text) => {
                Config::parse(&text).with_context(|| format!("invalid config {}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read config {}", path.display())),
        }
    }

    pub fn parse(text: &str) -> Result<Config> {
        let mut config: Config =
            toml::from_str(text).map_err(|e| Error::msg(toml_error(text, &e)))?;
        if !(1..=30).contains(&config.signal) {
            return Err(Error::msg(format!(
                "signal = {} is out of range: Waybar accepts 1 to 30",
                config.signal
            )));
        }
        if !(64..=512).contains(&config.speech.max_ids) {
            return Err(Error::msg(format!(
                "speech.max_ids = {} is out of range: 64 to 512",
                config.speech.max_ids
            )));
        }
        let s = &config.speech;
        for (name, value, max) in [
            ("volume", Some(s.volume), 2.0),
            ("noise_scale", s.noise_scale, 2.0),
            ("noise_w", s.noise_w, 2.0),
        ] {
            if let Some(value) = value.filter(|v| !(0.0..=max).contains(v)) {
                return Err(Error::msg(format!(
                    "speech.{name} = {value} is out of range: 0 to {max}"
                )));
            }
        }
        if let Some(value) = s.length_scale.filter(|v| !(*v > 0.0 && *v <= 10.0)) {
            return Err(Error::msg(format!(
                "speech.length_scale = {value} is out of range: above 0, at most 10 \
                 (leave it out for the voice's own)"
            )));
        }
        QuietHours::parse(&s.quiet_hours).map_err(Error::msg)?;
        if !(0.0..=65536.0).contains(&s.cache_mib) {
            return Err(Error::msg(format!(
                "speech.cache_mib = {} is out of range: 0 to 65536",
                s.cache_mib
            )));
        }
        let events = &s.events;
        for (name, event) in [
            ("permission", &events.permission),
            ("done", &events.done),
            ("failed", &events.failed),
            ("idle", &events.idle),
        ] {
            Template::parse(&event.say, &PHRASE_PLACEHOLDERS)
                .map_err(|e| Error::msg(format!("speech.events.{name}.say: {e}")))?;
        }
        if config.debounce.window_ms == 0 || config.debounce.cap_ms < config.debounce.window_ms {
            return Err(Error::msg("debounce needs 0 < window_ms <= cap_ms"));
        }
        config.statusline =
            StatuslineConfig::parse(text).map_err(|e| Error::msg(format!("[statusline] {e}")))?;
        Segment::parse_format(&config.statusline.format)
            .map_err(|e| Error::msg(format!("statusline.format: {e}")))?;
        Ok(config)
    }
}

/// A TOML error as one line that says where: `line 3, column 9: ...`.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().replace('\n', " ");
    let Some(span) = e.span() else {
        return message;
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("line {line}, column {column}: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
        let c = Config::parse("signal = 9\n[debounce]\nmode = \"trailing\"\n").unwrap();
        assert_eq!((c.signal, c.debounce.mode), (9, Mode::Trailing));
        assert_eq!(c.debounce.window_ms, 16);
    }

    #[test]
    fn errors_name_the_problem() {
        let e = Config::parse("sginal = 9").unwrap_err().to_string();
        assert!(e.contains("sginal"), "{e}");
        assert!(Config::parse("signal = 31")
            .unwrap_err()
            .to_string()
            .contains("1 to 30"));
        assert!(Config::parse("[debounce]\nmode = \"later\"").is_err());
        let e = Config::parse("[statusline]\nformat = \"{modle}\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown placeholder {modle}"), "{e}");
        let e = Config::parse("[module]\ntooltip = \"{project} {nope}\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown placeholder {nope}"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
        let e = Config::parse("[speech]\nvolume = 2.5")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "speech.volume = 2.5 is out of range: 0 to 2");
        let e = Config::parse("[speech]\nquiet_hours = \"22-7\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected HH:MM-HH:MM"), "{e}");
        let e = Config::parse("[speech.events.done]\nsay = \"{project} is {state}\"")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("speech.events.done.say") && e.contains("{state}"),
            "{e}"
        );
        let e = Config::parse("[speech.events.done]\nloud = true")
            .unwrap_err()
            .to_string();
        assert!(e.contains("loud"), "{e}");
        let c = Config::parse("[speech]\nenabled = true\nlength_scale = 1.2").unwrap();
        assert!(c.speech.enabled);
        assert_eq!(c.speech.length_scale, Some(1.2));
    }

    #[test]
    fn a_noise_of_zero_is_zero_and_a_left_out_scale_the_voices_own() {
        let c = Config::parse("[speech]\nnoise_scale = 0\nnoise_w = 0.0").unwrap();
        assert_eq!(c.speech.noise_scale, Some(0.0));
        assert_eq!(c.speech.noise_w, Some(0.0));
        assert_eq!(c.speech.length_scale, None, "left out");
        assert_eq!(Config::default().speech.noise_scale, None);
        let e = Config::parse("[speech]\nlength_scale = 0")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("speech.length_scale = 0 is out of range") && !e.contains('\n'),
            "{e}"
        );
    }

    #[test]
    fn quiet_hours_span_midnight_or_not() {
        let night = QuietHours::parse("22:00-07:30").unwrap().unwrap();
        assert!(night.contains(23 * 60) && night.contains(0) && night.contains(7 * 60 + 29));
        assert!(!night.contains(7 * 60 + 30) && !night.contains(12 * 60));
        let lunch = QuietHours::parse("12:00-13:00").unwrap().unwrap();
        assert!(lunch.contains(12 * 60 + 30) && !lunch.contains(13 * 60));
        assert_eq!(QuietHours::parse(" ").unwrap(), None);
        assert!(QuietHours::parse("25:00-07:00").is_err());
        assert!(QuietHours::parse("07:00-07:00").is_err());
    }

    #[test]
    fn an_event_can_be_changed_alone() {
        let c = Config::parse("[speech.events.done]\nsay = \"{project} finished\"\n").unwrap();
        assert_eq!(c.speech.events.done.say, "{project} finished");
        assert!(c.speech.events.done.enabled);
        // The other events keep their defaults.
        assert_eq!(
            c.speech.events.permission,
            SpeechEvents::default().permission
        );
    }

    #[test]
    fn a_syntax_error_says_where() {
        let e = Config::parse("signal = 8\n[debounce]\nwindow_ms = = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("line 3, column "), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }

    #[test]
    fn the_commented_default_is_the_default() {
        assert_eq!(
            Config::parse(DEFAULT_CONFIG_TOML).unwrap(),
            Config::default()
        );
        assert_eq!(
            StatuslineConfig::parse(DEFAULT_CONFIG_TOML).unwrap(),
            StatuslineConfig::default()
        );
    }

    #[test]
    fn the_statusline_section_reads_the_same_in_both_parsers() {
        let text =
            "[statusline]\nformat = \"{model}\\n{cost}\"\ncolor = false\ncontext_warn = 60\n";
        let daemon = Config::parse(text).unwrap().statusline;
        let hook = StatuslineConfig::parse(text).unwrap();
        assert_eq!(
            (daemon.format, daemon.color, daemon.context_warn),
            (hook.format, hook.color, hook.context_warn)
        );
    }
}
