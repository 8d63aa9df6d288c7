//! `llm-bridge say [-o FILE.wav] TEXT...` and `llm-bridge say --stop`.
//!
//! With a daemon, the text goes to its speech worker, where the voice is
//! already loaded: a request costs only synthesis, and audio starts after
//! the first sentence. The command waits for the outcome (played, written,
//! stopped, failed) and prints it. Without a daemon it does the same work
//! itself, inline: load the voice, synthesize, play or write.

use crate::client_socket::ClientSocket;
use crate::control::{request, RequestError, REPLY_TIMEOUT};
#[cfg(feature = "speech")]
use crate::voice_settings::{Sink, VoiceSettings};
#[cfg(feature = "speech")]
use llm_bridge_core::config::{Config, SpeechConfig};
use llm_bridge_core::error::{anyhow, bail, Context, Result};
use llm_bridge_core::paths::Paths;
use llm_bridge_protocol::reply::Reply;
use llm_bridge_protocol::wire::{Message, SayTuning, MAX_SAY_TEXT};
#[cfg(feature = "speech")]
use llm_bridge_speech::audio::Output;
#[cfg(feature = "speech")]
use llm_bridge_speech::{Synthesizer, Voice};
use std::io::{ErrorKind, Read};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
#[cfg(feature = "speech")]
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::Duration;

/// The longest text one `say` takes (through the daemon it goes in parts of
/// at most [`MAX_SAY_TEXT`], a few at a time; the audio streams through,
/// so memory stays bounded whatever the length).
const MAX_TEXT: usize = 4 << 20;

/// Parts of a long text the daemon holds at once: one plays while the next
/// is synthesized.
const IN_FLIGHT: usize = 2;

/// Blocks (a sentence's decoded parts, 2.6 s at most each) queued on the
/// audio device at once by `say` without a daemon.
#[cfg(feature = "speech")]
const IN_FLIGHT_BLOCKS: usize = 3;

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
            .take(MAX_TEXT as u64 + 1)
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
    if text.len() > MAX_TEXT {
        bail!("the text is over {} MiB: give it in parts", MAX_TEXT >> 20);
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
        Ok(Reply::Ok) => {
            println!("speech stopped");
            Ok(0)
        }
        Ok(r) => Err(anyhow!("unexpected reply to SAYSTOP: {r:?}")),
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
    let parts = parts(text, MAX_SAY_TEXT);
    let mut progress = Progress::default();
    let mut buf = vec![0u8; 4096];
    for (i, part) in parts.iter().enumerate() {
        // A long text: at most IN_FLIGHT parts wait in the daemon.
        while i - progress.done >= IN_FLIGHT {
            progress.take(receive(&sock, &mut buf, SPEECH_TIMEOUT)?)?;
            if progress.stopped {
                return Ok(Some(progress.describe()));
            }
        }
        let message = Message::Say {
            text: (*part).to_string(),
            out: None,
            tuning: options.tuning.clone(),
        };
        match sock.send(&message.encode()) {
            Ok(_) => {}
            Err(e) if i == 0 && e.raw_os_error() == Some(libc::ECONNREFUSED) => return Ok(None),
            Err(e) => return Err(e).context("cannot talk to the daemon"),
        }
        while progress.queued <= i {
            progress.take(receive(&sock, &mut buf, REPLY_TIMEOUT)?)?;
        }
    }
    // Speech plays on without us, once it has started: a device that
    // cannot be opened is this command's error, not only the log's.
    if !options.wait {
        while progress.speaking == 0 && progress.done == 0 {
            progress.take(receive(&sock, &mut buf, SPEECH_TIMEOUT)?)?;
        }
        return Ok(Some(
            "queued; speaking now (the daemon speaks it; --wait waits for the end)".into(),
        ));
    }
    while progress.done < parts.len() && !progress.stopped {
        progress.take(receive(&sock, &mut buf, SPEECH_TIMEOUT)?)?;
    }
    Ok(Some(progress.describe()))
}

/// The daemon's answers to the parts of one `say`, added up. Answers come
/// in order: `QUEUED` for each part as it is taken, `SPEAKING` as it
/// starts, then `SAID` (or `ERROR`) for each as it has played.
#[derive(Debug, Default)]
struct Progress {
    queued: usize,
    speaking: usize,
    done: usize,
    sentences: u64,
    seconds: f64,
    stopped: bool,
}

impl Progress {
    fn take(&mut self, answer: Reply) -> Result<()> {
        match answer {
            Reply::Queued => self.queued += 1,
            Reply::Speaking => self.speaking += 1,
            Reply::Said {
                sentences,
                seconds,
                stopped,
            } => {
                self.sentences += sentences;
                self.seconds += seconds;
                self.stopped |= stopped;
                self.done += 1;
            }
            Reply::Error(why) => bail!("{why}"),
            other => bail!("unexpected reply to SAY: {other:?}"),
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let figures = format!("{} sentence(s), {:.1} s", self.sentences, self.seconds);
        if self.stopped {
            format!("stopped after {figures}")
        } else {
            describe(&figures, None)
        }
    }
}

/// `text` in parts of at most `max` bytes, cut after a sentence where one
/// ends in the window, else at a space, else at a character boundary.
fn parts(text: &str, max: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text.trim();
    while rest.len() > max {
        let mut cut = max;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let window = &rest[..cut];
        let at = window
            .rfind(['.', '!', '?', '\n'])
            .map(|i| i + 1)
            .filter(|i| *i > max / 4)
            .or_else(|| window.rfind(char::is_whitespace).filter(|i| *i > 0))
            .unwrap_or(cut);
        parts.push(rest[..at].trim());
        rest = rest[at..].trim_start();
    }
    if !rest.is_empty() {
        parts.push(rest);
    }
    parts.retain(|p| !p.is_empty());
    parts
}

fn receive(sock: &UnixDatagram, buf: &mut [u8], timeout: Duration) -> Result<Reply> {
    sock.set_read_timeout(Some(timeout))
        .context("cannot set a timeout")?;
    match sock.recv(buf) {
        Ok(n) => Ok(Reply::decode(&buf[..n])?),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Err(anyhow!(
            "the daemon did not answer within {} s",
            timeout.as_secs()
        )),
        Err(e) => Err(e).context("cannot hear from the daemon"),
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
/// wait for the end. The device opens before anything is synthesized: one
/// that cannot be opened is the error at once.
#[cfg(feature = "speech")]
fn inline(text: &str, out: Option<&Path>, options: &SayOptions) -> Result<String> {
    let config = Config::load()?;
    let settings = VoiceSettings::from_config(&config.speech).with(&options.tuning)?;
    let path: PathBuf = match &options.voice {
        Some(voice) => voice.clone(),
        None => config
            .speech
            .voice_path()
            .ok_or_else(|| anyhow!(SpeechConfig::no_voice()))?,
    };
    let voice = Voice::load(&path)?;
    let voice_config = voice.config().clone();
    let mut synth = Synthesizer::new(voice)?;
    synth.set_max_ids(config.speech.max_ids)?;
    settings.apply(&mut synth, &voice_config)?;
    // The audio streams through, block by block: into the file as it
    // comes, or to the device with at most a few queued (a long text's
    // speech never sits in memory whole).
    let said = match out {
        Some(path) => {
            let mut file = llm_bridge_speech::wav::Writer::create(path, synth.sample_rate())?;
            let said = settings.speak(&mut synth, text, &mut file, || false)?;
            file.finish()?;
            said
        }
        None => {
            let mut device = Paced {
                output: Some(Output::open(synth.sample_rate())?),
                ..Paced::default()
            };
            let said = settings.speak(&mut synth, text, &mut device, || false)?;
            if let Some(output) = device.output {
                output.wait_until_idle();
            }
            said
        }
    };
    let said = format!("{} sentence(s), {:.1} s", said.sentences, said.seconds);
    Ok(describe(&said, out))
}

/// The audio device, as `say` without a daemon plays on it: opened at the
/// first block, each block played as soon as it is decoded, with at most
/// [`IN_FLIGHT_BLOCKS`] queued (a block waits for room, so a long text is
/// never held whole).
#[cfg(feature = "speech")]
#[derive(Default)]
struct Paced {
    output: Option<Output>,
    /// Queued and not yet played.
    queued: usize,
    /// One message per sentence played.
    played: Option<(Sender<()>, Receiver<()>)>,
}

#[cfg(feature = "speech")]
impl Sink for Paced {
    fn take(&mut self, samples: Vec<f32>, rate: u32) -> Result<()> {
        // The first block is heard sooner on a stream opened for it (the
        // one opened before the voice loaded has buffered silence since);
        // later ones follow what plays.
        let open = || Output::open(rate);
        let output = if self.played.is_none() {
            llm_bridge_speech::audio::fresh(&mut self.output, open)?
        } else if let Some(output) = &mut self.output {
            output
        } else {
            self.output.insert(open()?)
        };
        output.play(samples, rate)?;
        let (tx, played) = self.played.get_or_insert_with(channel);
        let tx = tx.clone();
        output.notify_when_played(move || {
            let _ = tx.send(());
        });
        self.queued += 1;
        while self.queued > IN_FLIGHT_BLOCKS {
            if played.recv().is_err() {
                break;
            }
            self.queued -= 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_text_goes_in_parts_cut_after_sentences() {
        let text = "One two three. Four five six! Seven eight nine? Ten";
        assert_eq!(parts(text, 100), [text]);
        assert_eq!(
            parts(text, 32),
            ["One two three. Four five six!", "Seven eight nine? Ten"]
        );
        // No sentence end in the window: at a space; no space: anywhere,
        // on a character boundary.
        assert_eq!(parts("aaaa bbbb cccc", 9), ["aaaa", "bbbb cccc"]);
        assert_eq!(parts("ééééé", 4), ["éé", "éé", "é"]);
        let long = "This is a sentence of the long text. ".repeat(30_000);
        let cut = parts(&long, MAX_SAY_TEXT);
        assert!(cut
            .iter()
            .all(|p| p.len() <= MAX_SAY_TEXT && p.ends_with('.')));
        assert_eq!(cut.concat().len() + cut.len() - 1, long.trim().len());
    }

    #[test]
    fn answers_add_up_in_order() {
        let mut p = Progress::default();
        p.take(Reply::Queued).unwrap();
        p.take(Reply::Said {
            sentences: 3,
            seconds: 4.2,
            stopped: false,
        })
        .unwrap();
        p.take(Reply::Said {
            sentences: 1,
            seconds: 1.3,
            stopped: true,
        })
        .unwrap();
        assert_eq!((p.queued, p.done, p.sentences, p.stopped), (1, 2, 4, true));
        assert_eq!(p.describe(), "stopped after 4 sentence(s), 5.5 s");
        assert!(p.take(Reply::Error("busy".into())).is_err());
    }

    #[test]
    fn speaking_counts_apart_from_queued_and_done() {
        let mut p = Progress::default();
        p.take(Reply::Queued).unwrap();
        p.take(Reply::Speaking).unwrap();
        assert_eq!((p.queued, p.speaking, p.done), (1, 1, 0));
        assert!(p.take(Reply::Pong).is_err());
    }
}
