//! The journal: every event the daemon takes, written before it is applied,
//! so that a daemon killed at any instant loses nothing it read.
//!
//! state.json is written at most every 100 ms, so the events applied since
//! the last snapshot live only in memory. Each batch of events the daemon
//! reads in one wake is appended here first, in one `write` (on the runtime
//! tmpfs, about as cheap as a system call gets); a restarted daemon, or the
//! fallback, loads the snapshot and applies again the journaled events it
//! does not hold. Records are numbered: the snapshot says the number of the
//! last one it holds ([`State::journal_seq`](crate::state::State)), so a
//! crash between writing the snapshot and emptying the journal applies
//! nothing twice. Once a snapshot holds every record, the journal is
//! emptied.
//!
//! A record: `LLMJ`, its number (u64), the event's arrival in wall-clock
//! milliseconds (u64), the datagram's length (u32), all little-endian, then
//! the datagram as it came. A record is appended whole or not at all (a
//! short write, a full disk, is cut back), and reading stops at the first
//! record that is not whole, so a torn tail is never applied.
//!
//! The file is `RUNTIME/llm-bridge/journal`: private directory, 0600, never
//! opened through a link, read with a cap.

use crate::state::State;
use llm_bridge_hooks::bounded_read::{self, Links};
use llm_bridge_protocol::wire::{Event, Message};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

const MAGIC: &[u8; 4] = b"LLMJ";
const HEADER: usize = 4 + 8 + 8 + 4;

/// The largest journal read: thousands of events between two snapshots are
/// far below it; a larger file is not ours.
pub const MAX_JOURNAL: u64 = 64 << 20;

/// One journaled event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub arrived_ms: u64,
    pub datagram: Vec<u8>,
}

impl Record {
    /// The event it holds, as the hook sent it (a record that is not an
    /// event, or not one any more, is skipped by the caller).
    pub fn event(&self) -> Option<Event> {
        match Message::decode(&self.datagram) {
            Ok(Message::Event(event)) => Some(event),
            _ => None,
        }
    }
}

/// The journal, open for appending.
#[derive(Debug)]
pub struct Journal {
    file: File,
    /// The file's length: where a short write is cut back to.
    len: u64,
    /// The number of the last record written (or held by the snapshot).
    last_seq: u64,
    /// Records are gathered here and written at once.
    batch: Vec<u8>,
}

impl Journal {
    /// Opens (creating) the journal at `path` and reads what it holds: the
    /// records `state` does not hold, in the order the hooks sent them (as
    /// the daemon applies a batch), to be applied again.
    pub fn open(path: &Path, state: &State) -> io::Result<(Journal, Vec<Record>)> {
        let snapshot_seq = state.journal_seq();
        let records = read(path)?;
        let file = File::options()
            .create(true)
            .append(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a regular file", path.display()),
            ));
        }
        let whole: u64 = records
            .iter()
            .map(|r| (HEADER + r.datagram.len()) as u64)
            .sum();
        let last_seq = records
            .last()
            .map_or(0, |r| r.seq)
            .max(state.journal_last());
        let mut journal = Journal {
            file,
            len: meta.len(),
            last_seq,
            batch: Vec::new(),
        };
        // A torn tail (a crash or a full disk mid-record) goes, so that the
        // next record is not glued to it.
        if whole < journal.len {
            journal.truncate_to(whole)?;
        }
        let mut pending: Vec<Record> = records
            .into_iter()
            .filter(|r| r.seq > snapshot_seq && !state.journal_holds(r.seq))
            .collect();
        // Stable: records of equal times (or none) stay in journal order.
        pending.sort_by_cached_key(|r| {
            r.event()
                .and_then(|e| e.sent_at_ns)
                .unwrap_or(r.arrived_ms.saturating_mul(1_000_000))
        });
        Ok((journal, pending))
    }

    /// Adds an event to the batch; returns its number.
    pub fn add(&mut self, arrived_ms: u64, datagram: &[u8]) -> u64 {
        self.last_seq += 1;
        self.batch.extend_from_slice(MAGIC);
        self.batch.extend_from_slice(&self.last_seq.to_le_bytes());
        self.batch.extend_from_slice(&arrived_ms.to_le_bytes());
        self.batch
            .extend_from_slice(&(datagram.len() as u32).to_le_bytes());
        self.batch.extend_from_slice(datagram);
        self.last_seq
    }

    /// Writes the batch in one `write`, whole or not at all. On failure
    /// the batch is dropped (the caller applies the events anyway: the
    /// journal protects against a crash, not against a full tmpfs).
    pub fn commit(&mut self) -> io::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let result = self.write_batch();
        self.batch.clear();
        result
    }

    fn write_batch(&mut self) -> io::Result<()> {
        // SAFETY: write from a valid buffer of its length to our descriptor.
        let n = unsafe {
            libc::write(
                self.file.as_raw_fd(),
                self.batch.as_ptr().cast(),
                self.batch.len(),
            )
        };
        if n >= 0 && n as usize == self.batch.len() {
            self.len += n as u64;
            return Ok(());
        }
        let error = if n < 0 {
            io::Error::last_os_error()
        } else {
            io::Error::new(io::ErrorKind::StorageFull, "a short write")
        };
        let _ = self.truncate_to(self.len);
        Err(error)
    }

    /// The number of the last record.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// A snapshot now holds every record up to `seq`: if that is all of
    /// them, the journal is emptied.
    pub fn held_up_to(&mut self, seq: u64) -> io::Result<()> {
        if seq >= self.last_seq && self.len > 0 {
            self.truncate_to(0)?;
        }
        Ok(())
    }

    fn truncate_to(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)?;
        self.len = len;
        Ok(())
    }
}

/// Every whole record of the journal at `path` (none if it does not exist).
pub fn read(path: &Path) -> io::Result<Vec<Record>> {
    let bytes = match bounded_read::read(path, MAX_JOURNAL, Links::Refuse) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut records = Vec::new();
    let mut rest = &bytes[..];
    while let Some((record, after)) = parse(rest) {
        records.push(record);
        rest = after;
    }
    Ok(records)
}

fn parse(bytes: &[u8]) -> Option<(Record, &[u8])> {
    let header = bytes.get(..HEADER)?;
    if &header[..4] != MAGIC {
        return None;
    }
    let u64_at = |i: usize| u64::from_le_bytes(header[i..i + 8].try_into().expect("8 bytes"));
    let len = u32::from_le_bytes(header[20..24].try_into().expect("4 bytes")) as usize;
    let datagram = bytes.get(HEADER..HEADER.checked_add(len)?)?;
    Some((
        Record {
            seq: u64_at(4),
            arrived_ms: u64_at(12),
            datagram: datagram.to_vec(),
        },
        &bytes[HEADER + len..],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state that holds every journaled event up to `seq`.
    fn held(seq: u64) -> State {
        let mut state = State::new();
        state.set_journal_seq(seq);
        state
    }

    #[test]
    fn records_come_back_in_order_after_the_snapshots_and_a_torn_tail_goes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let (mut j, pending) = Journal::open(&path, &held(0)).unwrap();
        assert!(pending.is_empty());
        assert_eq!(j.add(10, b"one"), 1);
        assert_eq!(j.add(11, b"two"), 2);
        j.commit().unwrap();
        assert_eq!(j.add(12, b"three"), 3);
        j.commit().unwrap();
        drop(j);
        // A crash mid-record: half a header at the end.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"LLMJ\x04\x00");
        std::fs::write(&path, &bytes).unwrap();

        // The snapshot holds the first record.
        let (mut j, pending) = Journal::open(&path, &held(1)).unwrap();
        let seqs: Vec<u64> = pending.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [2, 3]);
        assert_eq!(pending[1].datagram, b"three");
        assert_eq!(pending[1].arrived_ms, 12);
        assert_eq!(j.last_seq(), 3);
        // The torn tail was cut: the next record follows the last whole one.
        assert_eq!(j.add(13, b"four"), 4);
        j.commit().unwrap();
        let all: Vec<u64> = read(&path).unwrap().iter().map(|r| r.seq).collect();
        assert_eq!(all, [1, 2, 3, 4]);

        // A snapshot that holds everything empties it; numbers go on.
        j.held_up_to(4).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        assert_eq!(j.add(14, b"five"), 5);
        j.commit().unwrap();
        drop(j);
        let (_, pending) = Journal::open(&path, &held(4)).unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].seq, 5);
    }

    #[test]
    fn a_snapshot_newer_than_the_journal_sets_the_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let (mut j, pending) = Journal::open(&path, &held(41)).unwrap();
        assert!(pending.is_empty());
        assert_eq!(j.add(1, b"x"), 42);
    }

    #[test]
    fn a_link_or_a_fifo_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &path).unwrap();
        assert!(Journal::open(&path, &held(0)).is_err());
        std::fs::remove_file(&path).unwrap();
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string; mkfifo only creates the node.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(Journal::open(&path, &held(0)).is_err(), "no block, no read");
    }
}
