//! What the daemon does for each request a client sends: the hooks' and
//! the statusline's datagrams go to the core; the commands' requests
//! (`status`, `reload`, `stop`, `say`, `mute`, `focus`, subscribing) are answered
//! here, each with one typed [`Reply`]. Signals that ask the same as a
//! request (SIGHUP: reload) are handled here too.

use super::life::Asked;
use super::Daemon;
use crate::datagram::PeerAddr;
use llm_bridge_core::config::Config;
use llm_bridge_core::error::{one_line, Result};
use llm_bridge_core::focus;
use llm_bridge_core::local_time::wall_clock_ms;
use llm_bridge_core::log::log;
use llm_bridge_core::state::Input;
use llm_bridge_protocol::reply::Reply;
use llm_bridge_protocol::wire::{FocusPick, Message, MuteAction};

/// The longest timed mute (a year); longer is "until unmuted" in all but name.
const MAX_MUTE_SECS: u64 = 366 * 86_400;

impl Daemon {
    pub(super) fn handle(&mut self, message: Message, peer: PeerAddr, arrived_ns: u64) {
        match message {
            Message::Event(event) => self.event(event, arrived_ns),
            Message::Status(_) => {
                if let Some(input) = Input::from_message(message) {
                    self.apply(input, arrived_ns, None);
                }
            }
            Message::Subscribe => {
                let module = self.bar.current(&self.state);
                self.ipc.subscribe(peer, &module);
            }
            Message::Unsubscribe => self.ipc.unsubscribe(&peer),
            Message::Ping => self.ipc.reply(&peer, &Reply::Pong),
            Message::Query => {
                let json = serde_json::to_string(&self.status_report()).expect("status serializes");
                self.ipc.reply(&peer, &Reply::Status(json));
            }
            Message::Reload => match self.reload() {
                Ok(()) => self.ipc.reply(&peer, &Reply::Ok),
                Err(e) => self.ipc.reply(&peer, &Reply::Error(one_line(&e))),
            },
            Message::Shutdown => {
                self.ipc.reply(&peer, &Reply::Ok);
                self.life.request_shutdown();
            }
            Message::Say { text, out, tuning } => {
                self.speech.say(&self.ipc, peer, text, out, &tuning);
            }
            Message::SayStop => self.speech.stop(&self.ipc, peer),
            Message::Mute { action, secs } => self.mute(peer, action, secs, arrived_ns),
            Message::Waybar { pid, shown } => self.bar.adopt(pid, shown, self.poll.registry()),
            Message::Focus(pick) => self.focus(peer, &pick, arrived_ns),
        }
    }

    /// A `FOCUS` request: the core chooses the session (remembered for
    /// `--next`); the command finds and focuses its window itself, so no
    /// compositor's socket is ever waited on in the loop.
    fn focus(&mut self, peer: PeerAddr, pick: &FocusPick, arrived_ns: u64) {
        let target = focus::choose(&self.state, pick).map(focus::target);
        match target {
            Ok(target) => {
                let session_id = target.session_id.clone();
                self.apply(Input::Focused { session_id }, arrived_ns, None);
                self.ipc.reply(&peer, &Reply::Focus(target));
            }
            Err(why) => self.ipc.reply(&peer, &Reply::Nothing(why.to_string())),
        }
    }

    /// A `MUTE` request: the core decides (its effects cut the phrase
    /// playing); the reply is the mute now in force.
    fn mute(&mut self, peer: PeerAddr, action: MuteAction, secs: Option<u64>, arrived_ns: u64) {
        let now_ms = wall_clock_ms();
        let until = secs.map(|s| now_ms.saturating_add(s.min(MAX_MUTE_SECS).saturating_mul(1000)));
        self.apply(Input::Mute { action, until }, arrived_ns, None);
        let mute = self.state.mute(now_ms).map(|m| m.until);
        self.ipc.reply(&peer, &Reply::Mute(mute));
    }

    /// Rereads the config; on error the running one is kept.
    fn reload(&mut self) -> Result<()> {
        let config = Config::load()?;
        // A new voice that cannot be read keeps the running config.
        self.speech.check(&config.speech)?;
        self.bar.reconfigure(&config);
        self.state.set_limit(config.max_sessions);
        self.life.reconfigure(config.idle_exit_secs);
        self.speech.reload(config.speech);
        log(format_args!("config reloaded"));
        Ok(())
    }

    pub(super) fn drain_signals(&mut self) {
        for asked in self.life.drain_signals() {
            if asked == Asked::Reload {
                if let Err(e) = self.reload() {
                    log(format_args!(
                        "reload on SIGHUP failed, keeping the running config: {}",
                        one_line(&e)
                    ));
                }
            }
        }
    }
}
