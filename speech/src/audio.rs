//! Playing samples on the default output device with rodio 0.23 (cpal,
//! ALSA). An [`Output`] owns the device stream: it is made on the speech
//! thread and stays there (`!Send`), plays sentences one after the other as
//! they are queued, can be cut short, and closes the stream when dropped.

use std::marker::PhantomData;
use std::num::NonZero;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rodio::buffer::SamplesBuffer;
use rodio::source::EmptyCallback;
use rodio::{DeviceSinkBuilder, MixerDeviceSink, Player};

/// [`Output::dry_since`] while samples are queued.
const QUEUED: u64 = u64::MAX;

/// How long after its queue ran dry an open stream is taken as holding
/// nothing but silence, so that opening it again loses nothing (what was
/// handed to the device, at most its buffer plus the sound server's, has
/// been heard by then).
const TAIL: Duration = Duration::from_millis(250);

/// The open output device and the queue of what it plays.
///
/// It stays on the thread that opened it:
///
/// ```compile_fail,E0277
/// fn send<T: Send>() {}
/// send::<llm_bridge_speech::audio::Output>();
/// ```
pub struct Output {
    player: Player,
    /// Counts [`Output::stop`] calls, so that notifications queued before a
    /// stop are dropped.
    stops: Arc<AtomicU64>,
    /// When the queue last ran dry, in ms since `opened` plus one; 0 while
    /// nothing was ever queued, [`QUEUED`] while samples wait.
    dry_since: Arc<AtomicU64>,
    opened: Instant,
    /// Dropped after the player: closing it stops the device stream.
    sink: MixerDeviceSink,
    _not_send: PhantomData<*const ()>,
}

impl Output {
    /// Opens the default output device, preferring a mono stream at
    /// `sample_rate` (the voice's) with a small buffer, so that nothing is
    /// resampled and speech starts at once; when the
    /// device refuses it, its default configuration, with rodio converting.
    /// No other device is tried (rodio's fallback probes every ALSA device,
    /// JACK's among them, each printing its failure), and ALSA's and
    /// JACK's own messages are silenced (`audio_noise.rs`): a device that
    /// cannot be opened is this one error, naming the device and the way
    /// around it.
    pub fn open(sample_rate: u32) -> Result<Output> {
        crate::audio_noise::silence();
        let opened = Output::open_default(sample_rate);
        crate::audio_noise::silence();
        opened.map_err(|e| {
            anyhow::anyhow!(
                "cannot open the audio device ALSA \"default\" ({e:#}): start the sound \
                 server, or write the speech to a file with `llm-bridge say -o FILE.wav TEXT`"
            )
        })
    }

    fn open_default(sample_rate: u32) -> Result<Output> {
        let rate = NonZero::new(sample_rate).context("a sample rate above 0 is needed")?;
        // About 23 ms of buffer at 22.05 kHz (a power of two, as devices
        // like): a phrase starts quickly, and rodio's default (50 ms at the
        // device's rate) would be twice that at the voice's lower rate.
        let quarter = (sample_rate / 40).max(1);
        let frames = (1u32 << (u32::BITS - 1 - quarter.leading_zeros())).clamp(256, 4096);
        let preferred = DeviceSinkBuilder::from_default_device().and_then(|b| {
            b.with_sample_rate(rate)
                .with_channels(NonZero::<u16>::MIN)
                .with_buffer_size(rodio::cpal::BufferSize::Fixed(frames))
                .open_stream()
        });
        let mut sink = match preferred {
            Ok(sink) => sink,
            Err(_) => {
                DeviceSinkBuilder::from_default_device().and_then(|b| b.open_sink_or_fallback())?
            }
        };
        sink.log_on_drop(false);
        let player = Player::connect_new(sink.mixer());
        Ok(Output {
            player,
            stops: Arc::new(AtomicU64::new(0)),
            dry_since: Arc::new(AtomicU64::new(0)),
            opened: Instant::now(),
            sink,
            _not_send: PhantomData,
        })
    }

    /// The device stream's sample rate and channel count.
    pub fn device_format(&self) -> (u32, u16) {
        let c = self.sink.config();
        (c.sample_rate().get(), c.channel_count().get())
    }

    /// Queues mono samples at `sample_rate`; they play after what is
    /// already queued. Returns at once.
    pub fn play(&self, samples: Vec<f32>, sample_rate: u32) -> Result<()> {
        self.play_until(samples, sample_rate, || false)
    }

    /// Like [`Output::play`], but the samples fall silent (within one
    /// sample) as soon as `stopped` says so. It is asked on the audio
    /// thread, before each sample, so it must be cheap (an atomic load):
    /// another thread can then silence them even while this one is busy
    /// elsewhere.
    pub fn play_until(
        &self,
        samples: Vec<f32>,
        sample_rate: u32,
        stopped: impl Fn() -> bool + Send + 'static,
    ) -> Result<()> {
        let Some(rate) = NonZero::new(sample_rate) else {
            bail!("a sample rate above 0 is needed");
        };
        if samples.is_empty() {
            return Ok(());
        }
        let source = SamplesBuffer::new(NonZero::<u16>::MIN, rate, samples);
        self.dry_since.store(QUEUED, Ordering::SeqCst);
        self.player.append(Cancellable {
            inner: source,
            stopped,
        });
        // When the mixer has taken these samples: dry, unless more came.
        let (dry_since, opened) = (self.dry_since.clone(), self.opened);
        self.player.append(EmptyCallback::new(Box::new(move || {
            dry_since.store(since(opened), Ordering::SeqCst);
        })));
        self.player.play();
        Ok(())
    }

    /// Whether samples queued now would wait behind silence: a running
    /// stream keeps its buffer (two periods, about 46 ms here) full of the
    /// silence it plays while idle, and new samples queue after it. True
    /// when nothing was played since it opened, or when its queue has been
    /// dry for a while (250 ms); opening it again (a few milliseconds)
    /// is then heard sooner, and loses nothing.
    pub fn lags(&self) -> bool {
        lags(
            self.player.empty(),
            self.dry_since.load(Ordering::SeqCst),
            since(self.opened),
        )
    }

    /// Calls `done` (on the audio thread) when everything queued so far has
    /// played, for an owner that waits on something else (a mio `Waker`).
    /// If [`Output::stop`] cuts the queue first, `done` is never called.
    pub fn notify_when_played(&self, done: impl FnOnce() + Send + 'static) {
        let done = Mutex::new(Some(done));
        let stops = self.stops.clone();
        let queued_at = stops.load(Ordering::SeqCst);
        self.player.append(EmptyCallback::new(Box::new(move || {
            if stops.load(Ordering::SeqCst) != queued_at {
                return;
            }
            if let Some(f) = done.lock().ok().and_then(|mut d| d.take()) {
                f();
            }
        })));
    }

    /// Cuts what is playing and drops what is queued (within about 5 ms).
    pub fn stop(&self) {
        self.stops.fetch_add(1, Ordering::SeqCst);
        self.player.stop();
        self.dry_since.store(since(self.opened), Ordering::SeqCst);
    }

    /// Whether nothing is playing or queued.
    pub fn is_idle(&self) -> bool {
        self.player.empty()
    }

    /// Blocks until everything queued has played (or was stopped).
    pub fn wait_until_idle(&self) {
        self.player.sleep_until_end();
    }
}

/// The output in `slot` to queue samples on now: opened with `open` when
/// there is none, or again when the one open would make them wait behind
/// the silence it buffered ([`Output::lags`]: about 46 ms at a voice's
/// rate, against a few ms to open the device).
pub fn fresh(
    slot: &mut Option<Output>,
    open: impl FnOnce() -> Result<Output>,
) -> Result<&mut Output> {
    if slot.as_ref().is_some_and(Output::lags) {
        // Closed before the new one opens: one stream at a time.
        *slot = None;
    }
    if slot.is_none() {
        *slot = Some(open()?);
    }
    Ok(slot.as_mut().expect("opened above"))
}

/// [`Output::lags`] for a queue that is `empty` or not, dry since
/// `dry_since` ([`Output::dry_since`]'s encoding), at `now` (the same clock).
fn lags(empty: bool, dry_since: u64, now: u64) -> bool {
    if !empty {
        return false;
    }
    match dry_since {
        0 => true,
        QUEUED => false,
        dry => now.saturating_sub(dry) >= TAIL.as_millis() as u64,
    }
}

/// Milliseconds since `opened`, plus one (never 0).
fn since(opened: Instant) -> u64 {
    opened.elapsed().as_millis() as u64 + 1
}

/// A source that ends early once `stopped` says so.
struct Cancellable<S, F> {
    inner: S,
    stopped: F,
}

impl<S: Iterator<Item = f32>, F: Fn() -> bool> Iterator for Cancellable<S, F> {
    type Item = f32;

    fn next(&mut self) -> Option<f32> {
        if (self.stopped)() {
            return None;
        }
        self.inner.next()
    }
}

impl<S: rodio::Source, F: Fn() -> bool> rodio::Source for Cancellable<S, F> {
    fn current_span_len(&self) -> Option<usize> {
        self.inner.current_span_len()
    }

    fn channels(&self) -> rodio::ChannelCount {
        self.inner.channels()
    }

    fn sample_rate(&self) -> rodio::SampleRate {
        self.inner.sample_rate()
    }

    fn total_duration(&self) -> Option<Duration> {
        self.inner.total_duration()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_lags_when_idle_since_it_opened_or_dry_for_a_while() {
        // Opened, nothing played: its buffer is all silence.
        assert!(lags(true, 0, 1));
        // Samples queued or playing: never opened again under them.
        assert!(!lags(false, 0, 1));
        assert!(!lags(true, QUEUED, 10_000));
        assert!(!lags(false, 100, 10_000));
        // Dry: its last samples may still be in the device until the tail
        // has passed.
        assert!(!lags(true, 100, 100));
        assert!(!lags(true, 100, 100 + TAIL.as_millis() as u64 - 1));
        assert!(lags(true, 100, 100 + TAIL.as_millis() as u64));
    }
}
