//! `llm-bridge say [-o FILE.wav] TEXT...` and `llm-bridge say --stop`.
//!
//! With a daemon, the text goes to its speech worker, where the voice is
//! already loaded: a request costs only synthesis, and audio starts after
//! the first sentence. The command waits for the outcome (played, written,
//! stopped, failed) and prints it. Without a daemon it does the same work
//! itself, inline: load the voice, synthesize, play or write.

use crate::client_socket::ClientSocket;
#[cfg(feature = "speech")]
use crate::config::Config;
use crate::control::{request, RequestError, REPLY_TIMEOUT};
use crate::error::{anyhow, bail, Context, Result};
use crate::paths::Paths;
#[cfg(feature = "speech")]
use crate::voice_settings::VoiceSettings;
use llm_bridge_hooks::wire::{reply, Message, SayTuning, MAX_SAY_TEXT};
#[cfg(feature = "speech")]
use llm_bridge_speech::audio::Output;
#[cfg(feature = "speech")]
use llm_bridge_speech::{Synthesizer, Voice};
use std::io::{ErrorKind, Read};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long `say` waits for speech to finish (a full request is a few
/// minutes of speech at most).
const SPEECH_TIMEOUT: Duration = Duration::from_secs(600);

/// What a `say` asks beyond its text.
#[derive(Debug, Default)]
pub struct SayOptions {
    /// Return only when the speech has played (with `out`: always).
    pub wait: bool,
    /// Another voice than `[speech]`'s: loaded by this process.
    pub voice: Option<PathBuf>,
    pub tuning: SayTuning,
}

/// Speaks `words` (or stdin when there are none), or writes it to `out`.
pub fn say(
    paths: &Paths,
    words: &[String],
    out: Option<&Path>,
    options: &SayOptions,
) -> Result<i32> {
    let text = if words.is_empty() {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the text from stdin")?;
        text
    } else {
        words.join(" ")
    };
    let text = text.trim();
    if text.is_empty() {
        bail!("nothing to say: give the text as arguments or on stdin");
    }
    if text.len() > MAX_SAY_TEXT {
        bail!(
            "the text is {} bytes; one request takes at most {MAX_SAY_TEXT}: split it",
            text.len()
        );
    }
    let out = match out {
        Some(p) if p.is_absolute() => Some(p.to_path_buf()),
        Some(p) => Some(
            std::env::current_dir()
                .context("cannot find the current directory")?
                .join(p),
        ),
        None => None,
    };
    // A file is written by this process (a sandboxed daemon cannot write
    // the user's directories), and another voice than the daemon's is this
    // process's own business too.
    let daemon = match (&options.voice, &out) {
        (None, None) => through_daemon(paths, text, options)?,
        _ => None,
    };
    let said = match daemon {
        Some(said) => said,
        None => inline(text, out.as_deref(), options)?,
    };
    println!("{said}");
    Ok(0)
}

/// Cuts the daemon's speech.
pub fn stop(paths: &Paths) -> Result<i32> {
    match request(paths, &Message::SayStop) {
        Ok(r) if r == reply::OK.as_bytes() => {
            println!("speech stopped");
            Ok(0)
        }
        Ok(r) => Err(anyhow!("unexpected reply: {}", String::from_utf8_lossy(&r))),
        Err(RequestError::NotRunning) => {
            eprintln!("llm-bridge: the daemon is not running: nothing speaks");
            Ok(1)
        }
        Err(e) => Err(e.into()),
    }
}

/// Asks the daemon; `None` if no daemon runs.
fn through_daemon(paths: &Paths, text: &str, options: &SayOptions) -> Result<Option<String>> {
    let sock = ClientSocket::bind(paths)?;
    if let Err(e) = sock.connect(&paths.socket) {
        return match e.raw_os_error() {
            Some(libc::ENOENT | libc::ECONNREFUSED | libc::ENOTDIR) => Ok(None),
            _ => Err(e).context("cannot reach the daemon"),
        };
    }
    let message = Message::Say {
        text: text.to_string(),
        out: None,
        tuning: options.tuning.clone(),
    };
    match sock.send(&message.encode()) {
        Ok(_) => {}
        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => return Ok(None),
        Err(e) => return Err(e).context("cannot talk to the daemon"),
    }
    let mut buf = vec![0u8; 4096];
    let first = receive(&sock, &mut buf, REPLY_TIMEOUT)?;
    if first != reply::QUEUED {
        return Err(refusal(&first));
    }
    // Speech plays on without us.
    if !options.wait {
        return Ok(Some(
            "queued (the daemon speaks it; --wait waits for the end)".into(),
        ));
    }
    let outcome = receive(&sock, &mut buf, SPEECH_TIMEOUT)?;
    match outcome.strip_prefix(reply::OK) {
        Some(said) => Ok(Some(describe(said.trim(), None))),
        None => Err(refusal(&outcome)),
    }
}

fn receive(sock: &UnixDatagram, buf: &mut [u8], timeout: Duration) -> Result<String> {
    sock.set_read_timeout(Some(timeout))
        .context("cannot set a timeout")?;
    match sock.recv(buf) {
        Ok(n) => Ok(String::from_utf8_lossy(&buf[..n]).into_owned()),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Err(anyhow!(
            "the daemon did not answer within {} s",
            timeout.as_secs()
        )),
        Err(e) => Err(e).context("cannot hear from the daemon"),
    }
}

fn refusal(reply_text: &str) -> crate::error::Error {
    match reply_text.strip_prefix(reply::ERROR) {
        Some(why) => anyhow!("{why}"),
        None => anyhow!(
            "unexpected reply: {}",
            reply_text.lines().next().unwrap_or("")
        ),
    }
}

fn describe(said: &str, out: Option<&Path>) -> String {
    match out {
        Some(path) => format!("wrote {} ({said})", path.display()),
        None => format!("said {said}"),
    }
}

/// Without the speech engine there is nothing to speak with.
#[cfg(not(feature = "speech"))]
fn inline(_text: &str, _out: Option<&Path>, _options: &SayOptions) -> Result<String> {
    Err(anyhow!(
        "speech is not built into this llm-bridge (built without the `speech` feature)"
    ))
}

/// No daemon (or another voice): load the voice here, speak or write,
/// wait for the end.
#[cfg(feature = "speech")]
fn inline(text: &str, out: Option<&Path>, options: &SayOptions) -> Result<String> {
    let config = Config::load()?;
    let settings = VoiceSettings::from_config(&config.speech).with(&options.tuning)?;
    let path: PathBuf = match &options.voice {
        Some(voice) => voice.clone(),
        None => config.speech.voice_path().ok_or_else(|| {
            anyhow!(
                "no voice: set [speech] voice in config.toml to a Piper .onnx file \
                 (or put one at ~/.local/share/llm-bridge/voice.onnx)"
            )
        })?,
    };
    let voice = Voice::load(&path)?;
    let voice_config = voice.config().clone();
    let mut synth = Synthesizer::new(voice)?;
    synth.set_max_ids(config.speech.max_ids)?;
    settings.apply(&mut synth, &voice_config)?;
    let rate = synth.sample_rate();
    let mut output = None;
    let mut all = Vec::new();
    let mut seconds = 0.0f32;
    let sentences = synth.sentences(text);
    for sentence in &sentences {
        let mut samples = synth.synthesize_sentence(sentence)?;
        settings.louden(&mut samples);
        seconds += samples.len() as f32 / rate as f32;
        if out.is_some() {
            all.extend(samples);
        } else {
            let output = match &mut output {
                Some(o) => o,
                None => output.insert(Output::open(rate)?),
            };
            output.play(samples, rate)?;
        }
    }
    if let Some(path) = out {
        llm_bridge_speech::wav::write(path, rate, &all)?;
    }
    if let Some(output) = output {
        output.wait_until_idle();
    }
    let said = format!("{} sentence(s), {seconds:.1} s", sentences.len());
    Ok(describe(&said, out))
}
