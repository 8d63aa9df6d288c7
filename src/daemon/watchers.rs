//! What the bar learns without a hook: a client that exited, an Esc in a
//! transcript, a dialog answered in the client's status file.
//!
//! One owner for the three watches the core asks for ([`Watch`]): the
//! clients' pidfds ([`Processes`]), the inotify descriptor on busy sessions'
//! transcripts ([`Transcripts`]) and the one on waiting sessions' status
//! files ([`Dialogs`]). It registers and deregisters every one of their
//! descriptors in the loop's poll itself, and turns what they say into the
//! core's [`Input`]s; the loop only routes this owner's tokens to it and
//! applies what comes back.

use super::dialogs::Dialogs;
use super::processes::Processes;
use super::tokens::{CLIENT_BASE, DIALOGS, TRANSCRIPTS};
use super::transcripts::Transcripts;
use llm_bridge_core::error::{Context, Result};
use llm_bridge_core::state::{Input, Watch};
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

pub struct Watchers {
    processes: Processes,
    transcripts: Transcripts,
    dialogs: Dialogs,
}

/// How many of each are watched, for `status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Watched {
    pub processes: usize,
    pub transcripts: usize,
    pub dialogs: usize,
    /// Transcripts that could not be watched.
    pub transcript_failures: u64,
}

impl Watchers {
    /// Creates the two inotify descriptors and registers them.
    pub fn new(registry: &Registry) -> Result<Watchers> {
        let transcripts = Transcripts::new().context("cannot create an inotify descriptor")?;
        let dialogs = Dialogs::new().context("cannot create an inotify descriptor")?;
        registry
            .register(
                &mut SourceFd(&transcripts.fd()),
                TRANSCRIPTS,
                Interest::READABLE,
            )
            .context("cannot poll the inotify descriptor")?;
        registry
            .register(&mut SourceFd(&dialogs.fd()), DIALOGS, Interest::READABLE)
            .context("cannot poll the inotify descriptor")?;
        Ok(Watchers {
            processes: Processes::default(),
            transcripts,
            dialogs,
        })
    }

    /// Whether `token` is one of this owner's.
    pub fn owns(token: Token) -> bool {
        token == TRANSCRIPTS || token == DIALOGS || token.0 >= CLIENT_BASE
    }

    /// Makes the watches of one session match what the core asks. A client
    /// that is gone already (a restored session whose client died while no
    /// daemon ran, or a very short-lived one) comes back as its input.
    pub fn set(&mut self, watch: Watch, registry: &Registry) -> Option<Input> {
        self.transcripts
            .set(&watch.session_id, watch.transcript.as_deref());
        self.dialogs
            .set(&watch.session_id, watch.client_status.as_deref());
        let process = self
            .processes
            .set(&watch.session_id, watch.process, registry)?;
        Some(Input::Exited {
            session_id: watch.session_id,
            process,
        })
    }

    /// One of this owner's descriptors is readable: what it says, as inputs.
    pub fn ready(&mut self, token: Token, registry: &Registry, inputs: &mut Vec<Input>) {
        match token {
            TRANSCRIPTS => inputs.extend(
                self.transcripts
                    .drain()
                    .into_iter()
                    .map(|session_id| Input::Interrupted { session_id }),
            ),
            DIALOGS => inputs.extend(self.dialogs.drain().into_iter().map(
                |(session_id, allowed)| Input::Answered {
                    session_id,
                    allowed,
                },
            )),
            Token(t) => {
                let key = t - CLIENT_BASE;
                if let Some((session_id, process)) = self.processes.exited(key) {
                    inputs.push(Input::Exited {
                        session_id,
                        process,
                    });
                }
                // Whatever the core does, this pidfd has nothing more to say.
                self.processes.forget(key, registry);
            }
        }
    }

    pub fn watched(&self) -> Watched {
        Watched {
            processes: self.processes.len(),
            transcripts: self.transcripts.len(),
            dialogs: self.dialogs.len(),
            transcript_failures: self.transcripts.failures,
        }
    }
}
