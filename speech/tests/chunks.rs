//! The flow and the decoder in fixed windows (issue 21) against one-shot
//! runs of the same graphs, with the real PyPI test voice at zero noise: the
//! same samples, no step where one window hands over to the next, and audio
//! that starts before the sentence is done.

mod support;

use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use llm_bridge_speech::{
    decoder_windows, windows, Scales, Synthesizer, Voice, FLOW_MARGIN, FLOW_WINDOW,
};

/// libespeak-ng has one owner per process: the tests take turns.
fn turn() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

fn synthesizer() -> Synthesizer {
    let voice = Voice::load(support::voice_path()).expect("loading the test voice");
    let mut synth = Synthesizer::new(voice).expect("making a synthesizer");
    synth.set_scales(Scales::DETERMINISTIC);
    synth
}

/// A sentence of 67 words (809 ids: two pieces of at most 512 ids).
const LONG: &str = "The daemon read the hook's datagram, applied it to the state of every \
    session it knows, rendered the module, wrote the status file atomically, signalled the \
    bar through its process file descriptor, and then went back to waiting on its socket, \
    its timer and its signal pipe, with nothing periodic armed at all, while the speech \
    thread said the notification aloud in the voice the user chose.";

/// Short and long sentences of the voice tests and measure example, one
/// piece each (at most 512 ids): some shorter than one window (padded), some
/// of several windows.
const TEXTS: [&str; 6] = [
    "Hello world.",
    "Claude finished the task.",
    "The build failed: three tests did not pass, and one timed out.",
    "Waiting for your permission to run a shell command.",
    "All changes were committed on the speech branch, and the tests pass on this machine with the real voice.",
    "The daemon read the hook's datagram, applied it to the state of every session it knows, \
     rendered the module, wrote the status file atomically and signalled the bar through its \
     process file descriptor before it went back to waiting.",
];

#[test]
fn windows_decode_what_the_one_shot_decoder_does() {
    let _turn = turn();
    let mut synth = synthesizer();
    let mut cases = Vec::new();
    for text in TEXTS {
        for sentence in synth.sentences(text) {
            let ids = synth.sentence_ids(&sentence).unwrap();
            let latents = synth.encode(&ids).unwrap();
            // Before the window plans exist (they drop the graphs).
            let one_shot = synth.decode_one_shot(&latents).unwrap();
            cases.push((sentence, latents, one_shot));
        }
    }
    let mut several = 0;
    for (sentence, latents, one_shot) in &cases {
        let frames = latents.frames();
        let mut chunks = Vec::new();
        synth
            .decode(latents, &mut |c| {
                chunks.push(c.to_vec());
                Ok(())
            })
            .unwrap();
        let chunked: Vec<f32> = chunks.concat();
        assert_eq!(chunked.len(), one_shot.len(), "{sentence:?}");
        let hop = one_shot.len() / frames;
        assert_eq!(hop * frames, one_shot.len());
        let plan: Vec<_> = decoder_windows(frames)
            .into_iter()
            .map(|(start, _, keep)| (start, keep))
            .collect();
        let flow_plan = windows(frames, FLOW_WINDOW, FLOW_MARGIN);
        assert_eq!(chunks.len(), plan.len());
        if plan.len() > 1 && flow_plan.len() > 1 {
            several += 1;
        }
        let r = support::correlation(&chunked, one_shot);
        let diff = support::max_abs_diff(&chunked, one_shot);
        // Each handover of the decoder's windows and of the flow's, ±1
        // frame of samples around it, against the rest.
        let boundaries: Vec<usize> = plan[1..]
            .iter()
            .chain(&flow_plan[1..])
            .map(|(_, k)| k.start * hop)
            .collect();
        let near = |i: usize| boundaries.iter().any(|&b| i + hop >= b && i < b + hop);
        let (mut at, mut elsewhere) = (0.0f32, 0.0f32);
        for (i, (x, y)) in chunked.iter().zip(one_shot).enumerate() {
            let d = (x - y).abs();
            if near(i) {
                at = at.max(d);
            } else {
                elsewhere = elsewhere.max(d);
            }
        }
        eprintln!(
            "{frames} frames, {} + {} windows: correlation {r:.7}, max difference {diff:.2e} \
             ({at:.2e} at handovers, {elsewhere:.2e} elsewhere)  {sentence:.40?}",
            plan.len(),
            flow_plan.len()
        );
        assert!(r > 0.999, "{sentence:?}: correlation {r}");
        // A margin one frame too small gives differences of 1e-2 and more.
        assert!(diff < 1e-3, "{sentence:?}: max difference {diff:e}");
        // Rounding may differ a little between plans of other lengths on
        // other CPUs; a margin too small gives differences of 1e-2 and more.
        assert!(
            at <= 2.0 * elsewhere + 1e-5,
            "{sentence:?}: {at:e} at a handover, {elsewhere:e} elsewhere"
        );
        // No step: the jump between the samples either side of a handover
        // is the one-shot decoder's jump.
        for &b in &boundaries {
            let step = (chunked[b] - chunked[b - 1]) - (one_shot[b] - one_shot[b - 1]);
            assert!(step.abs() < 1e-4, "{sentence:?}: step {step} at sample {b}");
        }
    }
    assert!(
        several >= 2,
        "too few sentences span several windows of both"
    );
}

#[test]
fn a_long_sentence_starts_playing_before_it_is_synthesized() {
    let _turn = turn();
    let mut synth = synthesizer();
    synth.warm_up(512).unwrap();
    assert!(synth.set_stream_gain(0.0).is_err());
    let sentences = synth.sentences(LONG);
    assert_eq!(sentences.len(), 1);
    let start = Instant::now();
    let mut first = None;
    let (mut blocks, mut samples) = (0, 0);
    synth
        .synthesize_sentence_chunks(&sentences[0], |block| {
            first.get_or_insert_with(|| start.elapsed());
            blocks += 1;
            samples += block.len();
            Ok(())
        })
        .unwrap();
    let total = start.elapsed();
    let first = first.expect("no block");
    eprintln!(
        "{:.2} s of audio in {blocks} blocks: first after {first:.2?}, all after {total:.2?}",
        samples as f64 / 22050.0
    );
    assert!(blocks >= 3, "{blocks} blocks");
    assert!(
        first < total / 2,
        "first block after {first:?} of {total:?}"
    );
    let whole = synth.synthesize_sentence(&sentences[0]).unwrap();
    assert_eq!(whole.len(), samples);
    // Zero noise is no noise: the same samples again.
    assert_eq!(synth.synthesize_sentence(&sentences[0]).unwrap(), whole);
}
