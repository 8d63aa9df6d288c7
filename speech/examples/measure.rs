//! Measures what speech/README.md and BENCHMARKS.md report: voice load time
//! and RSS, the decoder and encoder plans' build time and RSS, the real-time
//! factor of a few sentences, and for each sentence the two parts of a
//! model run (issue 21): the encoder's time and peak RSS, each decoder
//! window's time, the first block's delay and the sentence's peak RSS.
//!
//! `cargo run --release -p llm-bridge-speech --example measure -- VOICE.onnx [OUT.wav] [--max-ids N]`
//! (`--texts` prints the sentences as JSON for `tests/reference.py rtf`).

use std::time::Instant;

use anyhow::{Context, Result};
use llm_bridge_speech::{wav, Synthesizer, Voice, BUCKETS, WINDOW};

/// Also fed to the reference (`tests/reference.py rtf`) for its side of the
/// comparison: `measure --texts` prints them as JSON. The last is the
/// 60-word sentence of issue 21.
const SENTENCES: [&str; 7] = [
    "Claude finished the task.",
    "The build failed: three tests did not pass, and one timed out.",
    "Waiting for your permission to run a shell command in the project directory.",
    "All changes were committed on the speech branch, and the tests pass on this machine with the real voice.",
    "The daemon read the hook's datagram, applied it to the state of every session it knows, rendered the module, wrote the status file atomically and signalled the bar through its process file descriptor before it went back to waiting.",
    "The daemon read the hook's datagram, applied it to the state of every session it knows, rendered the module, wrote the status file atomically, signalled the bar through its process file descriptor, and then went back to waiting on its socket, its timer and its signal pipe, with nothing periodic armed at all.",
    "The daemon read the hook's datagram, applied it to the state of every session it knows, rendered the module, wrote the status file atomically, signalled the bar through its process file descriptor, and then went back to waiting on its socket, its timer and its signal pipe, with nothing periodic armed at all, while the speech thread said the notification aloud in the voice the user chose.",
];

/// Resident set size in MiB, from /proc/self/status.
fn rss() -> f64 {
    status_mib("VmRSS:")
}

/// The peak resident set size since the last [`reset_peak`], in MiB.
fn peak() -> f64 {
    status_mib("VmHWM:")
}

/// Resets the peak RSS (VmHWM) to the current RSS.
fn reset_peak() -> Result<()> {
    std::fs::write("/proc/self/clear_refs", "5").context("resetting VmHWM")
}

/// A size field of /proc/self/status in MiB.
fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// What one sentence cost.
#[derive(Default)]
struct Sentence {
    ids: Vec<usize>,
    encode_secs: f64,
    encode_peak: f64,
    windows: Vec<f64>,
    first_block: f64,
    total: f64,
    peak: f64,
    raw_peak: f32,
    samples: Vec<f32>,
}

fn measure(synth: &mut Synthesizer, sentence: &str) -> Result<Sentence> {
    let mut m = Sentence::default();
    let pieces = synth.piece_ids(sentence)?;
    m.ids = pieces.iter().map(Vec::len).collect();
    reset_peak()?;
    let start = Instant::now();
    for ids in &pieces {
        let t = Instant::now();
        let latents = synth.encode(ids)?;
        m.encode_secs += t.elapsed().as_secs_f64();
        m.encode_peak = m.encode_peak.max(peak());
        let mut last = Instant::now();
        synth.decode(&latents, &mut |block| {
            let now = Instant::now();
            m.windows.push((now - last).as_secs_f64());
            last = now;
            if m.samples.is_empty() {
                m.first_block = start.elapsed().as_secs_f64();
            }
            m.samples.extend_from_slice(block);
            Ok(())
        })?;
    }
    m.total = start.elapsed().as_secs_f64();
    m.peak = peak();
    m.raw_peak = m.samples.iter().fold(0.0, |p, s| p.max(s.abs()));
    Ok(m)
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .context("usage: measure VOICE.onnx [OUT.wav] [--max-ids N] | --texts")?;
    if path == "--texts" {
        let quoted: Vec<String> = SENTENCES.iter().map(|s| format!("{s:?}")).collect();
        println!("[{}]", quoted.join(", "));
        return Ok(());
    }
    let (mut out, mut max_ids) = (None, llm_bridge_speech::MAX_IDS);
    let (mut after_idle, mut padded) = (false, false);
    while let Some(arg) = args.next() {
        if arg == "--after-idle" {
            after_idle = true;
        } else if arg == "--padded" {
            padded = true;
        } else if arg == "--max-ids" {
            max_ids = args.next().context("--max-ids N")?.parse()?;
        } else {
            out = Some(arg);
        }
    }
    println!("RSS at start: {:.0} MiB", rss());

    let t = Instant::now();
    let voice = if padded {
        Voice::load_padded_to_buckets(&path)?
    } else {
        Voice::load(&path)?
    };
    println!(
        "voice loaded and cut in {:.2} s ({:?}); RSS {:.0} MiB",
        t.elapsed().as_secs_f64(),
        voice.patched(),
        rss()
    );
    let rate = voice.sample_rate();
    let mut synth = Synthesizer::new(voice)?;
    synth.set_max_ids(max_ids)?;

    let t = Instant::now();
    synth.warm_up(0)?;
    let encoder = match (synth.one_plan_for_any_length(), synth.encoder_in_halves()) {
        (true, true) => "the encoder plan for any length (in two halves)".to_string(),
        (true, false) => "the encoder plan for any length".to_string(),
        (false, _) => format!("the {}-id encoder plan", BUCKETS[0]),
    };
    println!(
        "decoder plan ({WINDOW} frames) and {encoder} built in {:.2} s; RSS {:.0} MiB",
        t.elapsed().as_secs_f64(),
        rss()
    );
    for &bucket in &BUCKETS[1..] {
        if bucket > max_ids.next_power_of_two() {
            break;
        }
        let t = Instant::now();
        synth.warm_up(bucket)?;
        println!(
            "encoder plan {bucket:>3} ids built in {:.2} s; RSS {:.0} MiB",
            t.elapsed().as_secs_f64(),
            rss()
        );
    }
    println!(
        "RSS with the voice ready: {:.0} MiB (max_ids {max_ids}); peak so far {:.0} MiB",
        rss(),
        peak()
    );

    if after_idle {
        // As the daemon's worker between jobs: freed memory given back,
        // then a pause, then a short phrase that was not rendered ahead.
        for _ in 0..5 {
            llm_bridge_speech::release_freed_memory();
            std::thread::sleep(std::time::Duration::from_secs(1));
            let m = measure(&mut synth, "llm-bridge needs permission for Bash")?;
            println!(
                "after 1 s idle: encoder {:.3} s, first block after {:.3} s, whole {:.3} s",
                m.encode_secs, m.first_block, m.total
            );
        }
        return Ok(());
    }
    let mut all = Vec::new();
    let (mut total_audio, mut total_took, mut max_peak) = (0.0, 0.0, 0.0f64);
    let mut window_times = Vec::new();
    for text in SENTENCES {
        for sentence in synth.sentences(text) {
            let m = measure(&mut synth, &sentence)?;
            let audio = m.samples.len() as f64 / f64::from(rate);
            total_audio += audio;
            total_took += m.total;
            max_peak = max_peak.max(m.peak);
            let words = sentence.split_whitespace().count();
            let mean_window = m.windows.iter().sum::<f64>() / m.windows.len() as f64;
            window_times.extend(m.windows.iter().copied());
            println!(
                "{words:>2} words, ids {:?}, {audio:5.2} s audio in {:5.2} s: RTF {:.3}; \
                 encoder {:.3} s (peak {:.0} MiB); {} windows, mean {:.3} s; first block after \
                 {:.3} s; peak {:.0} MiB, RSS after {:.0} MiB; raw peak {:.2}",
                m.ids,
                m.total,
                m.total / audio,
                m.encode_secs,
                m.encode_peak,
                m.windows.len(),
                mean_window,
                m.first_block,
                m.peak,
                rss(),
                m.raw_peak,
            );
            let mut samples = m.samples;
            llm_bridge_speech::normalize_peak(&mut samples);
            all.extend(samples);
        }
    }
    window_times.sort_by(f64::total_cmp);
    let pick = |q: f64| window_times[((window_times.len() - 1) as f64 * q) as usize];
    println!(
        "all: {total_audio:.2} s audio in {total_took:.2} s: RTF {:.3}; decoder window \
         ({WINDOW} frames) p50 {:.3} s, min {:.3} s, max {:.3} s; highest peak {max_peak:.0} MiB",
        total_took / total_audio,
        pick(0.5),
        pick(0.0),
        pick(1.0),
    );
    println!("RSS after synthesis: {:.0} MiB; {:?}", rss(), synth.stats());
    llm_bridge_speech::release_freed_memory();
    println!(
        "RSS once freed memory is given back (the daemon's worker does so once its device is closed): {:.0} MiB",
        rss()
    );
    let sentence = &synth.sentences(SENTENCES[4])[0];
    let ids = synth.sentence_ids(sentence)?;
    for (part, times) in ["encoder", "flow window", "decoder window"]
        .iter()
        .zip(synth.profile(&ids)?)
    {
        let total: f64 = times.iter().map(|t| t.1).sum();
        println!("profile, {part} ({} ids): {total:.3} s", ids.len());
        for (op, secs) in times.iter().take(8) {
            println!("  {op:<24} {secs:.3} s  {:4.1}%", 100.0 * secs / total);
        }
    }
    if let Some(out) = out {
        wav::write(&out, rate, &all)?;
        println!("wrote {out}");
    }
    Ok(())
}
