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
    /// Live clients not watched yet: no descriptor was free.
    pub unwatched_processes: usize,
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
            processes: Processes::within_limit(),
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
    /// daemon ran, or a very short-lived one) comes back as its input; so
    /// does one that waited for a descriptor and exited meanwhile.
    pub fn set(&mut self, watch: Watch, registry: &Registry) -> Vec<Input> {
        self.transcripts
            .set(&watch.session_id, watch.transcript.as_deref());
        self.dialogs
            .set(&watch.session_id, watch.client_status.as_deref());
        let unwatching = watch.process.is_none();
        let mut inputs = Vec::new();
        if let Some(process) = self
            .processes
            .set(&watch.session_id, watch.process, registry)
        {
            inputs.push(Input::Exited {
                session_id: watch.session_id,
                process,
            });
        }
        if unwatching {
            self.retry(registry, &mut inputs);
        }
        inputs
    }

    /// A session's event asked for no new watch (the core asks only when
    /// one changes): a transcript or status file that could not be watched
    /// is tried again, as each event of the session does. A client waiting
    /// for a descriptor is not: it gets one when a pidfd is closed.
    pub fn retry_failed(&mut self, session_id: &str) {
        self.transcripts.retry(session_id);
        self.dialogs.retry(session_id);
    }

    /// A pidfd was closed: sessions waiting for a descriptor get it.
    fn retry(&mut self, registry: &Registry, inputs: &mut Vec<Input>) {
        if self.processes.unwatched() == 0 {
            return;
        }
        for (session_id, process) in self.processes.retry(registry) {
            inputs.push(Input::Exited {
                session_id,
                process,
            });
        }
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
                self.retry(registry, inputs);
            }
        }
    }

    pub fn watched(&self) -> Watched {
        Watched {
            processes: self.processes.len(),
            transcripts: self.transcripts.len(),
            dialogs: self.dialogs.len(),
            transcript_failures: self.transcripts.failures,
            unwatched_processes: self.processes.unwatched(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llm_bridge_core::state::Process;
    use llm_bridge_hooks::proc_stat;
    use mio::{Events, Poll};
    use std::process::Command;
    use std::time::Duration;

    fn watch(process: Option<Process>) -> Watch {
        Watch {
            session_id: "s".into(),
            process,
            transcript: None,
            client_status: None,
        }
    }

    #[test]
    fn a_client_that_exits_comes_back_as_exited_and_is_unwatched() {
        let mut poll = Poll::new().unwrap();
        let mut watchers = Watchers::new(poll.registry()).unwrap();
        let mut child = Command::new("sleep").arg("60").spawn().unwrap();
        let process = Process {
            pid: child.id(),
            start: proc_stat::read(child.id()).unwrap().start_time,
        };
        assert_eq!(watchers.set(watch(Some(process)), poll.registry()), []);
        assert_eq!(watchers.watched().processes, 1);
        child.kill().unwrap();
        let mut events = Events::with_capacity(4);
        // Blocks until the pidfd is readable; the timeout only bounds a failure.
        poll.poll(&mut events, Some(Duration::from_secs(10)))
            .unwrap();
        let token = events.iter().next().expect("woken").token();
        assert!(Watchers::owns(token));
        let mut inputs = Vec::new();
        watchers.ready(token, poll.registry(), &mut inputs);
        assert_eq!(
            inputs,
            [Input::Exited {
                session_id: "s".into(),
                process
            }]
        );
        assert_eq!(watchers.watched().processes, 0);
        child.wait().unwrap();
        // A client that is gone when it is to be watched comes back at once.
        assert_eq!(
            watchers.set(watch(Some(process)), poll.registry()),
            [Input::Exited {
                session_id: "s".into(),
                process
            }]
        );
    }

    #[test]
    fn tokens_of_other_owners_are_not_ours() {
        assert!(Watchers::owns(TRANSCRIPTS) && Watchers::owns(DIALOGS));
        assert!(!Watchers::owns(super::super::tokens::SOCKET));
        assert!(!Watchers::owns(Token(
            super::super::tokens::WAYBAR_BASE + 7
        )));
        assert!(Watchers::owns(Token(CLIENT_BASE)));
    }
}
