//! Every answer the daemon sends: what a [`crate::wire::Message`] (the
//! request) gets back, and the module updates pushed to subscribers.
//!
//! One type, encoded by the daemon and decoded by the commands, here and
//! nowhere else: no reply is built as text in one file and picked apart
//! with a pattern in another. Like requests, a reply is text (a header line
//! `LLMB/1 VERB`, sometimes a body after the first newline), so it can be
//! read in `strace` and typed by hand with `socat`; docs/protocol.md has
//! the grammar.

use crate::wire::MAGIC;
use std::fmt;

/// One datagram from the daemon.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// A module update pushed to a subscriber: the module JSON.
    Module(String),
    /// The answer to `PING`.
    Pong,
    /// The answer to `QUERY`: the daemon's status as JSON (its shape is the
    /// daemon's `StatusReport`, serialized by serde on both ends).
    Status(String),
    /// A request was carried out.
    Ok,
    /// A request was refused or failed: the one-line reason.
    Error(String),
    /// A `SAY` was taken; its outcome follows in a second reply.
    Queued,
    /// A `SAY` has started: the audio device is open (or the file made).
    /// `say` without `--wait` returns on it, so a device that cannot be
    /// opened is its error, not the log's.
    Speaking,
    /// A `SAY` ended: how much was said, and whether a stop cut it short.
    Said {
        sentences: u64,
        /// Seconds of audio produced.
        seconds: f64,
        stopped: bool,
    },
    /// The mute after a `MUTE` request: off (`None`), on until unmuted
    /// (`Some(None)`), or on until a wall-clock time in ms.
    Mute(Option<Option<u64>>),
    /// The session a `FOCUS` chose.
    Focus(FocusTarget),
    /// A `FOCUS` found nothing to go to: the one-line reason.
    Nothing(String),
}

/// The session `llm-bridge focus` goes to: what it needs to find its window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FocusTarget {
    pub session_id: String,
    /// The basename of its working directory (the core's printable text).
    pub project: String,
    /// Its client process (PID and start time), when the hook named it.
    pub process: Option<(u32, u64)>,
}

const MODULE: &str = "MODULE";
const PONG: &str = "PONG";
const STATUS: &str = "STATUS-REPLY";
const OK: &str = "OK";
const ERROR: &str = "ERROR";
const QUEUED: &str = "QUEUED";
const SPEAKING: &str = "SPEAKING";
const SAID: &str = "SAID";
const MUTED: &str = "MUTED";
const UNMUTED: &str = "UNMUTED";
const FOCUS: &str = "FOCUS";
const NOTHING: &str = "NOTHING";

/// A datagram that is not a reply this version knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadReply(String);

impl fmt::Display for BadReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the daemon answered something this version cannot read: {}",
            self.0
        )
    }
}

impl std::error::Error for BadReply {}

impl Reply {
    /// The datagram: `LLMB/1 VERB[ ARGS]`, then a body after a newline for
    /// the replies that carry text.
    pub fn encode(&self) -> Vec<u8> {
        let text = match self {
            Reply::Module(json) => format!("{MAGIC} {MODULE}\n{json}"),
            Reply::Pong => format!("{MAGIC} {PONG}"),
            Reply::Status(json) => format!("{MAGIC} {STATUS}\n{json}"),
            Reply::Ok => format!("{MAGIC} {OK}"),
            // A reason is one line: a newline in it would start a body of
            // its own in a reader that splits lines.
            Reply::Error(why) => format!("{MAGIC} {ERROR}\n{}", why.replace('\n', " ")),
            Reply::Queued => format!("{MAGIC} {QUEUED}"),
            Reply::Speaking => format!("{MAGIC} {SPEAKING}"),
            Reply::Said {
                sentences,
                seconds,
                stopped,
            } => format!(
                "{MAGIC} {SAID} {sentences} {seconds:.3} {}",
                if *stopped { "stopped" } else { "done" }
            ),
            Reply::Mute(None) => format!("{MAGIC} {UNMUTED}"),
            Reply::Mute(Some(None)) => format!("{MAGIC} {MUTED}"),
            Reply::Mute(Some(Some(until))) => format!("{MAGIC} {MUTED} {until}"),
            // The id and the project are the body's two lines: neither holds
            // a newline (the core replaces control characters).
            Reply::Focus(t) => {
                let process = match t.process {
                    Some((pid, start)) => format!(" {pid} {start}"),
                    None => String::new(),
                };
                format!(
                    "{MAGIC} {FOCUS}{process}\n{}\n{}",
                    t.session_id.replace('\n', " "),
                    t.project.replace('\n', " ")
                )
            }
            Reply::Nothing(why) => format!("{MAGIC} {NOTHING}\n{}", why.replace('\n', " ")),
        };
        text.into_bytes()
    }

    /// Reads one datagram from the daemon.
    pub fn decode(datagram: &[u8]) -> Result<Reply, BadReply> {
        let bad = || {
            let head = String::from_utf8_lossy(datagram);
            BadReply(head.lines().next().unwrap_or("").chars().take(80).collect())
        };
        let text = std::str::from_utf8(datagram).map_err(|_| bad())?;
        let (head, body) = match text.split_once('\n') {
            Some((head, body)) => (head, Some(body)),
            None => (text, None),
        };
        let rest = head
            .strip_prefix(MAGIC)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or_else(bad)?;
        let mut words = rest.split(' ');
        let verb = words.next().unwrap_or("");
        let args: Vec<&str> = words.collect();
        let reply = match (verb, args.as_slice(), body) {
            (MODULE, [], Some(json)) => Reply::Module(json.to_string()),
            (PONG, [], None) => Reply::Pong,
            (STATUS, [], Some(json)) => Reply::Status(json.to_string()),
            (OK, [], None) => Reply::Ok,
            (ERROR, [], Some(why)) => Reply::Error(why.to_string()),
            (QUEUED, [], None) => Reply::Queued,
            (SPEAKING, [], None) => Reply::Speaking,
            (SAID, [sentences, seconds, how], None) => Reply::Said {
                sentences: sentences.parse().map_err(|_| bad())?,
                seconds: seconds.parse().map_err(|_| bad())?,
                stopped: match *how {
                    "stopped" => true,
                    "done" => false,
                    _ => return Err(bad()),
                },
            },
            (MUTED, [], None) => Reply::Mute(Some(None)),
            (MUTED, [until], None) => Reply::Mute(Some(Some(until.parse().map_err(|_| bad())?))),
            (UNMUTED, [], None) => Reply::Mute(None),
            (FOCUS, process, Some(body)) => {
                let process = match process {
                    [] => None,
                    [pid, start] => Some((
                        pid.parse().map_err(|_| bad())?,
                        start.parse().map_err(|_| bad())?,
                    )),
                    _ => return Err(bad()),
                };
                let (session_id, project) = body.split_once('\n').ok_or_else(bad)?;
                Reply::Focus(FocusTarget {
                    session_id: session_id.to_string(),
                    project: project.to_string(),
                    process,
                })
            }
            (NOTHING, [], Some(why)) => Reply::Nothing(why.to_string()),
            _ => return Err(bad()),
        };
        Ok(reply)
    }

    /// A refusal as an error, anything else as itself: for a command that
    /// only wants to know whether its request was carried out.
    pub fn refused(self) -> Result<Reply, String> {
        match self {
            Reply::Error(why) => Err(why),
            other => Ok(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reply_reads_back_as_itself() {
        let all = [
            Reply::Module("{\"text\":\"a\\nb\"}\n".into()),
            Reply::Pong,
            Reply::Status("{\"pid\":1}".into()),
            Reply::Ok,
            Reply::Error("no voice: set [speech] voice".into()),
            Reply::Queued,
            Reply::Speaking,
            Reply::Said {
                sentences: 3,
                seconds: 4.25,
                stopped: false,
            },
            Reply::Said {
                sentences: 1,
                seconds: 0.5,
                stopped: true,
            },
            Reply::Mute(None),
            Reply::Mute(Some(None)),
            Reply::Mute(Some(Some(1_765_000_000_000))),
            Reply::Focus(FocusTarget {
                session_id: "4f2a".into(),
                project: "my project".into(),
                process: Some((4242, 987_654)),
            }),
            Reply::Focus(FocusTarget {
                session_id: "4f2a".into(),
                project: String::new(),
                process: None,
            }),
            Reply::Nothing("nothing to focus: no session".into()),
        ];
        for reply in all {
            assert_eq!(
                Reply::decode(&reply.encode()),
                Ok(reply.clone()),
                "{reply:?}"
            );
        }
    }

    #[test]
    fn a_reason_stays_one_line() {
        let encoded = Reply::Error("first\nsecond".into()).encode();
        assert_eq!(
            Reply::decode(&encoded),
            Ok(Reply::Error("first second".into()))
        );
    }

    #[test]
    fn what_is_not_a_reply_is_refused_with_its_first_line() {
        for bad in [
            &b""[..],
            b"LLMB/1",
            b"LLMB/2 OK",
            b"LLMB/1 OK extra",
            b"LLMB/1 SAID 1 x done",
            b"LLMB/1 SAID 1 1.0 maybe",
            b"LLMB/1 MUTED soon",
            b"LLMB/1 FOCUS 12\nid\nproject",
            b"LLMB/1 FOCUS x 1\nid\nproject",
            b"LLMB/1 FOCUS\nid only",
            b"LLMB/1 ERROR",
            b"LLMB/1 NEVER\nheard of",
            b"\xff\xfe",
        ] {
            let err = Reply::decode(bad).unwrap_err();
            assert!(!err.to_string().contains('\n'), "{err}");
        }
        assert!(Reply::decode(b"LLMB/1 NEVER\nheard of")
            .unwrap_err()
            .to_string()
            .ends_with("LLMB/1 NEVER"));
    }
}
