//! How long samples take from `Output::play` to a listener, at a paced
//! sink: the benchmark behind `Output::lags` and `audio::fresh`
//! (BENCHMARKS.md, issue 21). Needs a PulseAudio server with a null sink
//! named `paced` at 22050 Hz (the latency bench's `speech-paced` scenario
//! starts one the same way), ALSA's default device pointed at it
//! (`ALSA_CONFIG_PATH`), and `parec`, which records the sink's monitor.
//!
//! Usage: device_latency SERVER [ROUNDS]   (SERVER: `unix:/path/to/socket`)
//!
//! Each round queues a 0.2 s tone three ways and prints the time to the
//! first loud sample heard: on a stream left open and idle for a second
//! (what a daemon that kept its device open did), on a stream opened just
//! before (the open included), and through `audio::fresh` after a second
//! of idle (which opens it again).

use llm_bridge_speech::audio::{fresh, Output};
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

const RATE: u32 = 22050;

fn main() {
    let mut args = std::env::args().skip(1);
    let server = args.next().expect("usage: device_latency SERVER [ROUNDS]");
    let rounds: usize = args.next().map_or(5, |r| r.parse().expect("ROUNDS"));
    let mut parec = Command::new("parec")
        .args(["--server", &server, "-d", "paced.monitor", "--raw"])
        .args(["--format=s16le", "--rate=22050", "--channels=1"])
        .arg("--latency-msec=5")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("parec runs");
    let heard = listen(parec.stdout.take().expect("piped"));
    let tone: Vec<f32> = (0..RATE / 5)
        .map(|i| 0.5 * (i as f32 * 440.0 * std::f32::consts::TAU / RATE as f32).sin())
        .collect();
    let first_heard = |t0: Instant| loop {
        let at = heard
            .recv_timeout(Duration::from_secs(5))
            .expect("the tone was heard");
        if at >= t0 {
            return at - t0;
        }
    };
    let quiet = || while heard.recv_timeout(Duration::from_millis(300)).is_ok() {};
    let mut rows = Vec::new();
    for _ in 0..rounds {
        let idle = Output::open(RATE).expect("the device opens");
        std::thread::sleep(Duration::from_secs(1));
        quiet();
        let t0 = Instant::now();
        idle.play(tone.clone(), RATE).unwrap();
        let kept_open = first_heard(t0);
        idle.wait_until_idle();
        drop(idle);
        quiet();

        let t0 = Instant::now();
        let opened = Output::open(RATE).expect("the device opens");
        let open = t0.elapsed();
        opened.play(tone.clone(), RATE).unwrap();
        let just_opened = first_heard(t0);
        opened.wait_until_idle();
        std::thread::sleep(Duration::from_secs(1));
        quiet();

        let mut slot = Some(opened);
        let t0 = Instant::now();
        let output = fresh(&mut slot, || Output::open(RATE)).expect("the device opens");
        output.play(tone.clone(), RATE).unwrap();
        let through_fresh = first_heard(t0);
        output.wait_until_idle();
        drop(slot);
        quiet();
        rows.push((kept_open, open, just_opened, through_fresh));
        println!(
            "kept open and idle {kept_open:.1?} · opened just before {just_opened:.1?} \
             (the open {open:.1?}) · audio::fresh after 1 s idle {through_fresh:.1?}"
        );
    }
    let median = |f: fn(&(Duration, Duration, Duration, Duration)) -> Duration| {
        let mut v: Vec<Duration> = rows.iter().map(f).collect();
        v.sort();
        v[v.len() / 2]
    };
    println!(
        "median of {rounds}: kept open {:.1?} · opened just before {:.1?} (open {:.1?}) · fresh {:.1?}",
        median(|r| r.0),
        median(|r| r.2),
        median(|r| r.1),
        median(|r| r.3)
    );
    let _ = parec.kill();
    let _ = parec.wait();
}

/// The instant of each loud chunk (about 5 ms) parec reads.
fn listen(mut out: impl Read + Send + 'static) -> Receiver<Instant> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 220];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            let loud = buf[..n & !1]
                .chunks_exact(2)
                .any(|b| i16::from_le_bytes([b[0], b[1]]).unsigned_abs() > 1000);
            if loud && tx.send(Instant::now()).is_err() {
                break;
            }
        }
    });
    rx
}
