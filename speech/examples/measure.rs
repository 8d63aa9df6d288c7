//! Measures what speech/README.md reports: voice load time, plan build time
//! and RSS per bucket, and the real-time factor of a few sentences.
//!
//! `cargo run --release -p llm-bridge-speech --example measure -- VOICE.onnx [OUT.wav]`

use std::time::Instant;

use anyhow::{Context, Result};
use llm_bridge_speech::{wav, Synthesizer, Voice, BUCKETS};

/// Also fed to the reference (`tests/reference.py rtf`) for its side of the
/// comparison: `measure --texts` prints them as JSON.
const SENTENCES: [&str; 6] = [
    "Claude finished the task.",
    "The build failed: three tests did not pass, and one timed out.",
    "Waiting for your permission to run a shell command in the project directory.",
    "All changes were committed on the speech branch, and the tests pass on this machine with the real voice.",
    "The daemon read the hook's datagram, applied it to the state of every session it knows, rendered the module, wrote the status file atomically and signalled the bar through its process file descriptor before it went back to waiting.",
    "The daemon read the hook's datagram, applied it to the state of every session it knows, rendered the module, wrote the status file atomically, signalled the bar through its process file descriptor, and then went back to waiting on its socket, its timer and its signal pipe, with nothing periodic armed at all.",
];

/// Resident set size in MB, from /proc/self/status.
fn rss_mb() -> f64 {
    status_mb("VmRSS:")
}

/// A size field of /proc/self/status in MB.
fn status_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .context("usage: measure VOICE.onnx [OUT.wav] | --texts")?;
    if path == "--texts" {
        let quoted: Vec<String> = SENTENCES.iter().map(|s| format!("{s:?}")).collect();
        println!("[{}]", quoted.join(", "));
        return Ok(());
    }
    let out = args.next();
    println!("RSS at start: {:.0} MB", rss_mb());

    let t = Instant::now();
    let voice = Voice::load(&path)?;
    println!(
        "voice loaded in {:.2} s ({:?}); RSS {:.0} MB",
        t.elapsed().as_secs_f64(),
        voice.patched(),
        rss_mb()
    );
    let rate = voice.sample_rate();
    let mut synth = Synthesizer::new(voice)?;

    for &bucket in &BUCKETS {
        let t = Instant::now();
        synth.warm_up(bucket)?;
        println!(
            "plan {bucket:>3} ids built in {:.2} s; RSS {:.0} MB",
            t.elapsed().as_secs_f64(),
            rss_mb()
        );
    }

    let mut all = Vec::new();
    let (mut total_audio, mut total_took) = (0.0, 0.0);
    for text in SENTENCES {
        for sentence in synth.sentences(text) {
            let ids = synth.sentence_ids(&sentence)?.len();
            // Resets the peak RSS (VmHWM), to see each sentence's own peak.
            std::fs::write("/proc/self/clear_refs", "5")?;
            let t = Instant::now();
            let samples = synth.synthesize_sentence(&sentence)?;
            let took = t.elapsed().as_secs_f64();
            let audio = samples.len() as f64 / f64::from(rate);
            total_audio += audio;
            total_took += took;
            println!(
                "{ids:>3} ids, {audio:5.2} s audio in {took:5.2} s: RTF {:.3}, RSS {:.0} MB, peak {:.0} MB  {sentence:?}",
                took / audio,
                rss_mb(),
                status_mb("VmHWM:")
            );
            all.extend(samples);
        }
    }
    println!(
        "all: {total_audio:.2} s audio in {total_took:.2} s: RTF {:.3}",
        total_took / total_audio
    );
    println!(
        "RSS after synthesis: {:.0} MB; {:?}",
        rss_mb(),
        synth.stats()
    );
    if let Some(out) = out {
        wav::write(&out, rate, &all)?;
        println!("wrote {out}");
    }
    Ok(())
}
