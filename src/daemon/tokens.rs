//! Every token of the loop's poll, in one place, so that no two owners
//! share one. Each owner registers its own descriptors under these; the
//! loop only routes a ready token to its owner.

use mio::Token;

/// The daemon's datagram socket (`ipc.rs`).
pub const SOCKET: Token = Token(0);
/// The one timerfd (`timer.rs`).
pub const TIMER: Token = Token(1);
/// The signal pipe (`life.rs`).
pub const SIGNALS: Token = Token(2);
/// The workers' one waker (`reports.rs`).
pub const WAKER: Token = Token(3);
/// The inotify descriptor on busy sessions' transcripts (`watchers.rs`).
pub const TRANSCRIPTS: Token = Token(4);
/// The inotify descriptor on waiting sessions' status files (`watchers.rs`).
pub const DIALOGS: Token = Token(5);
/// The inotify descriptor on the socket file itself (`ipc.rs`).
pub const SOCKET_PATH: Token = Token(6);
/// The inotify descriptor on the spool directory (`spool.rs`, via `ipc.rs`).
pub const SPOOL: Token = Token(7);
/// The inotify descriptor on the voices directory (`speech/voice_dir.rs`,
/// via the speech service).
pub const VOICES: Token = Token(8);
/// The pidfd of Waybar process P is `Token(WAYBAR_BASE + P)` (`bar.rs`);
/// PIDs stay below 2^22, far below [`CLIENT_BASE`] - [`WAYBAR_BASE`].
pub const WAYBAR_BASE: usize = 1 << 32;
/// The pidfd of a session's client, under key K, is `Token(CLIENT_BASE + K)`
/// (`processes.rs`).
pub const CLIENT_BASE: usize = 1 << 40;
