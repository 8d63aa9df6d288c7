//! Spoken notifications, as the loop carries them out: the core's
//! announcements go through the policy ([`Announcer`]) to the speech
//! worker, its prepare effects become jobs that render phrases ahead, and
//! its hushes drop phrases that are no longer true. What happened to each
//! is counted for `status`.

use super::announcer::{prepared_texts, Announcer, Silent};
use super::handle::Handle;
use super::types::{Refused, Spoken};
use crate::voice_settings::VoiceSettings;
use llm_bridge_core::config::SpeechConfig;
use llm_bridge_core::error::{one_line, Error};
use llm_bridge_core::local_time::utc_offset_secs;
use llm_bridge_core::log::log;
use llm_bridge_core::state::{Effects, Millis};
use serde::{Deserialize, Serialize};

/// What happened to the moments the core named, for `status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotificationCounters {
    /// Queued for the speech worker, and of those: played (from the phrase
    /// cache, or synthesized first), failed.
    pub queued: u64,
    pub played: u64,
    pub from_cache: u64,
    pub failed: u64,
    /// Not said: muted, in quiet hours, said within the repeat window, a
    /// turn shorter than its threshold.
    pub muted: u64,
    pub quiet_hours: u64,
    pub repeated: u64,
    pub short_turn: u64,
    /// Cut or dropped for a more urgent phrase, dropped because no longer
    /// true (the dialog was answered, the session ended or came back),
    /// refused because enough phrases wait.
    pub preempted: u64,
    pub hushed: u64,
    pub dropped: u64,
    /// Phrases handed to the worker to render ahead.
    pub prepared: u64,
    /// The time from a notification's queueing to its first audio, last one.
    pub last_first_audio_ms: Option<u64>,
}

#[derive(Debug, Default)]
pub struct Notifications {
    announcer: Announcer,
    next_id: u64,
    pub counters: NotificationCounters,
}

impl Notifications {
    /// Carries out the speech part of `effects`. Without a worker nothing
    /// is said; in a build without the engine, a voice is configured but
    /// each notification fails with one line (`why`). Returns the session
    /// the last phrase queued names, which `llm-bridge focus` goes to.
    pub fn carry_out(
        &mut self,
        effects: &Effects,
        worker: Result<&mut Handle, Refused>,
        config: &SpeechConfig,
        muted: bool,
        now: Millis,
    ) -> Option<String> {
        for ended in &effects.ended {
            self.announcer.forget(&ended.session.id);
        }
        let mut worker = match worker {
            Ok(worker) => Some(worker),
            Err(Refused::NotBuilt) => None,
            Err(_) => return None,
        };
        let mut named = None;
        if let Some(worker) = &mut worker {
            if effects.hush_all {
                self.counters.muted += worker.hush_all() as u64;
            }
            for hush in &effects.hush {
                self.counters.hushed += worker.hush(hush) as u64;
            }
        }
        let settings = VoiceSettings::from_config(config);
        let secs = (now / 1000) as i64;
        let local_minute = ((secs + utc_offset_secs(secs)).rem_euclid(86_400) / 60) as u16;
        for a in &effects.announce {
            let phrase = match self.announcer.decide(a, config, muted, local_minute, now) {
                Ok(phrase) => phrase,
                Err(silent) => {
                    let counter = match silent {
                        Silent::Disabled => continue,
                        Silent::Muted => &mut self.counters.muted,
                        Silent::QuietHours => &mut self.counters.quiet_hours,
                        Silent::Repeated => &mut self.counters.repeated,
                        Silent::ShortTurn => &mut self.counters.short_turn,
                    };
                    *counter += 1;
                    continue;
                }
            };
            self.next_id += 1;
            let queued = match &mut worker {
                Some(worker) => worker.notify(self.next_id, phrase, settings.clone()),
                None => Err(Refused::NotBuilt),
            };
            match queued {
                Ok(queuing) => {
                    self.counters.queued += 1;
                    self.counters.preempted += queuing.preempted as u64;
                    named = Some(a.session_id.clone());
                }
                Err(Refused::Busy) => self.counters.dropped += 1,
                Err(why) => {
                    self.counters.failed += 1;
                    log(format_args!("speech: a notification was not said: {why}"));
                }
            }
        }
        let Some(worker) = worker else {
            return named;
        };
        if config.enabled && !muted {
            for a in &effects.prepare {
                for text in prepared_texts(a, config) {
                    self.counters.prepared += 1;
                    worker.prepare(text, settings.clone());
                }
            }
        }
        named
    }

    /// The worker finished notification `id`.
    pub fn done(&mut self, id: u64, outcome: &Result<Spoken, Error>, worker: Option<&mut Handle>) {
        if let Some(worker) = worker {
            worker.phrase_done(id);
        }
        match outcome {
            Ok(s) if s.stopped => {}
            Ok(s) => {
                self.counters.played += 1;
                if s.cached {
                    self.counters.from_cache += 1;
                }
                self.counters.last_first_audio_ms = s.first_audio_ms;
            }
            Err(why) => {
                self.counters.failed += 1;
                log(format_args!(
                    "speech: a notification failed: {}",
                    one_line(why)
                ));
            }
        }
    }
}
