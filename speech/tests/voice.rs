//! The engine with the real PyPI test voice (en_US-joe-medium), checked
//! against Piper 1.8.0 with onnxruntime (tests/reference.py, run by the venv
//! of scripts/fetch-test-voice).

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};

use llm_bridge_speech::{wav, Patched, Scales, Synthesizer, Voice, BUCKETS, MAX_IDS};

/// libespeak-ng has one owner per process: the tests take turns.
fn turn() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

fn synthesizer() -> Synthesizer {
    Synthesizer::new(Voice::load(support::voice_path()).expect("loading the test voice"))
        .expect("making a synthesizer")
}

/// The venv's python with piper-tts 1.8.0.
fn reference_python() -> PathBuf {
    let python = std::env::var_os("LLM_BRIDGE_TEST_PIPER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| support::cache_dir().join("piper-venv/bin/python"));
    assert!(
        python.is_file(),
        "piper-tts's venv is missing at {}: run scripts/fetch-test-voice",
        python.display()
    );
    python
}

/// Runs tests/reference.py with `stdin`; returns its stdout.
fn reference(args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference.py");
    let mut child = Command::new(reference_python())
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting tests/reference.py");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "tests/reference.py {args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

fn voice_arg() -> String {
    support::voice_path().to_str().unwrap().to_string()
}

/// The committed sentences (tests/data/corpus.txt): notifications, developer
/// talk and everyday English, one per line.
fn corpus() -> Vec<&'static str> {
    include_str!("data/corpus.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

/// The sentences where the pinned espeak-ng 1.52.0 and Piper's later snapshot
/// differ: Piper's inserts the linking glide `ʲ` after a final `i`/`iː`/`aɪ`
/// before a vowel ("the API" → `ðɪʲ`), and reads "has been" weakly. Every
/// other sentence must give Piper's ids exactly; Debian 12's system library
/// (1.51) fails 29 of them, the pinned build 13, all listed here.
const DIFFERING: [&str; 13] = [
    "Session started in the llm-bridge directory.",
    "Three files changed, forty insertions.",
    "Your session has been idle for five minutes.",
    "Before you continue, check the output on the API.",
    "I updated the README and the changelog.",
    "It is 4:30 in the afternoon.",
    "The tests are flaky on the continuous integration server.",
    "Your battery is running low.",
    "Call me at 555 1234.",
    "The operation completed successfully.",
    "The file already exists. Overwrite it?",
    "I object to that object.",
    "The HTTP server listens on port 8080.",
];

fn our_ids(synth: &mut Synthesizer, texts: &[&str]) -> Vec<Vec<Vec<i64>>> {
    texts
        .iter()
        .map(|text| {
            synth
                .sentences(text)
                .iter()
                .map(|s| synth.sentence_ids(s).unwrap())
                .collect()
        })
        .collect()
}

fn piper_ids(texts: &[&str]) -> Vec<Vec<Vec<i64>>> {
    let json = serde_json::to_string(texts).unwrap();
    serde_json::from_str(&reference(&["ids", &voice_arg()], &json)).unwrap()
}

#[test]
fn sentence_ids_match_piper() {
    let _turn = turn();
    let mut synth = synthesizer();
    let texts = corpus();
    assert!(
        texts.len() >= 100,
        "the corpus has {} sentences",
        texts.len()
    );
    let ours = our_ids(&mut synth, &texts);
    let theirs = piper_ids(&texts);
    let mut differing = Vec::new();
    for ((text, o), t) in texts.iter().zip(&ours).zip(&theirs) {
        if DIFFERING.contains(text) {
            // The same sentences, each within a few phonemes of Piper's
            // (a phoneme is two ids: itself and a pad).
            assert_eq!(o.len(), t.len(), "sentences of {text:?}");
            for (o, t) in o.iter().zip(t) {
                assert!(o.len().abs_diff(t.len()) <= 8, "{text:?}: {o:?} vs {t:?}");
            }
            if o != t {
                differing.push(*text);
            }
        } else {
            assert_eq!(o, t, "ids for {text:?}: ours, then Piper's");
        }
    }
    // A sentence that now agrees leaves the list.
    assert_eq!(
        differing, DIFFERING,
        "the sentences that differ from Piper's"
    );
    assert_eq!(synth.stats().unknown_phonemes, 0);
}

fn onnxruntime_audio(ids: &[i64]) -> Vec<f32> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("audio.f32");
    let json = serde_json::to_string(ids).unwrap();
    reference(&["audio", &voice_arg(), out.to_str().unwrap()], &json);
    std::fs::read(&out)
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn tract_audio_matches_onnxruntime_without_noise() {
    let _turn = turn();
    let voice = Voice::load(support::voice_path()).unwrap();
    // Workarounds 2 and 4 applied: two int64 "slice to the end" constants
    // clamped, the float frame Range rewritten; and the six attention
    // layers rewritten for one encoder plan over any id length.
    assert_eq!(
        voice.patched(),
        Patched {
            clamped: 2,
            range_rewritten: true,
            any_length_layers: 6,
        }
    );
    assert!(!voice.has_speaker_input());
    let mut synth = Synthesizer::new(voice).unwrap();
    synth.set_scales(Scales::DETERMINISTIC);
    // Piper's own ids, so that only the runtimes differ: 31 ids (the 64-id
    // plan, padded) and 135 ids (the 256-id plan, padded).
    let texts = [
        "Hello world.",
        "The build failed: three tests did not pass, and one timed out.",
    ];
    let ids: Vec<Vec<i64>> = piper_ids(&texts)
        .into_iter()
        .map(|t| t[0].clone())
        .collect();
    assert_eq!(ids.iter().map(Vec::len).collect::<Vec<_>>(), [31, 135]);
    for ids in &ids {
        let ours = synth.infer(ids).unwrap();
        let theirs = onnxruntime_audio(ids);
        assert!(
            ours.len().abs_diff(theirs.len()) <= 4,
            "{} samples from tract, {} from onnxruntime",
            ours.len(),
            theirs.len()
        );
        let r = support::correlation(&ours, &theirs);
        let max_diff = support::max_abs_diff(&ours, &theirs);
        eprintln!(
            "{} ids: {} samples, correlation {r:.6}, max difference {max_diff:.2e}",
            ids.len(),
            ours.len()
        );
        assert!(r > 0.99, "correlation {r} with onnxruntime");
    }
    assert!(synth.one_plan_for_any_length());
    assert_eq!(synth.built_plans(), [true; 4]);
}

/// The plan over any id length against the graph as exported, padded to
/// buckets: the same samples at zero noise, for sentences below, at and
/// across a bucket's length.
#[test]
fn one_plan_for_any_length_speaks_as_the_padded_plans_do() {
    let _turn = turn();
    let texts = [
        "Yes.",
        "Hello world.",
        "The build failed: three tests did not pass, and one timed out.",
        "All changes were committed on the speech branch, and the tests pass on this machine with the real voice.",
    ];
    let mut any = synthesizer();
    any.set_scales(Scales::DETERMINISTIC);
    assert!(any.one_plan_for_any_length());
    any.warm_up(0).unwrap();
    // The test voice's encoder is cut in two (text encoder, then the
    // rest), so this compares the halves with the padded whole.
    assert!(any.encoder_in_halves());
    let ours: Vec<(usize, Vec<f32>)> = texts
        .iter()
        .map(|t| {
            let ids = any.sentence_ids(t).unwrap().len();
            (ids, any.synthesize_sentence(t).unwrap())
        })
        .collect();
    drop(any);
    let mut padded =
        Synthesizer::new(Voice::load_padded_to_buckets(support::voice_path()).unwrap()).unwrap();
    padded.set_scales(Scales::DETERMINISTIC);
    assert!(!padded.one_plan_for_any_length());
    for (text, (ids, ours)) in texts.iter().zip(ours) {
        let theirs = padded.synthesize_sentence(text).unwrap();
        assert_eq!(ours.len(), theirs.len(), "{text:?}: lengths differ");
        let r = support::correlation(&ours, &theirs);
        let max_diff = support::max_abs_diff(&ours, &theirs);
        eprintln!("{ids} ids: correlation {r:.7}, max difference {max_diff:.2e}");
        assert!(r > 0.9999, "{text:?}: correlation {r}");
    }
}

/// Seconds of audio from samples at the voice's rate.
fn seconds(samples: &[f32]) -> f64 {
    samples.len() as f64 / 22050.0
}

#[test]
fn speaks_text_sentence_by_sentence() {
    let _turn = turn();
    let mut synth = synthesizer();
    assert_eq!(synth.sample_rate(), 22050);
    let e = synth.set_speaker(0).unwrap_err().to_string();
    assert!(e.contains("single speaker"), "{e}");
    let text = "Claude finished the task. Three tests failed: see the log!\nReady?";
    let sentences = synth.sentences(text);
    assert_eq!(
        sentences,
        [
            "Claude finished the task.",
            "Three tests failed: see the log!",
            "Ready?"
        ]
    );
    for s in &sentences {
        let samples = synth.synthesize_sentence(s).unwrap();
        let ids = synth.sentence_ids(s).unwrap().len();
        // Speech runs at roughly 10 to 20 phonemes (20 to 40 ids) a second.
        let secs = seconds(&samples);
        assert!(
            (ids as f64 / 80.0..ids as f64 / 10.0).contains(&secs),
            "{s:?}: {ids} ids gave {secs:.2} s"
        );
        let peak = samples.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!(samples.iter().all(|x| x.is_finite()));
        assert!((peak - 1.0).abs() < 1e-6, "peak {peak}");
    }
    let stats = synth.stats();
    assert_eq!((stats.sentences, stats.inferences), (3, 3));

    // Nothing to say: no sentence, no sample, no error. (espeak-ng reads a
    // lone ":" as "colon", so it is not in this list.)
    for quiet in ["", "   ", "...", "?!", ", ;", "\0"] {
        assert!(synth.sentences(quiet).is_empty(), "{quiet:?}");
        assert!(
            synth.synthesize_sentence(quiet).unwrap().is_empty(),
            "{quiet:?}"
        );
    }
    assert_eq!(synth.stats().sentences, 3);

    // A WAV file of the first sentence.
    let samples = synth.synthesize_sentence(&sentences[0]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("first.wav");
    wav::write(&path, synth.sample_rate(), &samples).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 44 + 2 * samples.len());
    assert_eq!(u32::from_le_bytes(bytes[24..28].try_into().unwrap()), 22050);
}

#[test]
fn a_sentence_longer_than_the_longest_plan_is_split_and_spoken() {
    let _turn = turn();
    let mut synth = synthesizer();
    let clause = "the daemon wrote the status file, signalled the bar, and waited";
    let sentence = format!("{}.", [clause; 5].join(", then "));
    assert_eq!(synth.sentences(&sentence).len(), 1);
    let ids = synth.sentence_ids(&sentence).unwrap().len();
    assert!(ids > MAX_IDS, "{ids} ids");
    let samples = synth.synthesize_sentence(&sentence).unwrap();
    let stats = synth.stats();
    assert_eq!(stats.sentences, 1);
    assert!(stats.inferences >= 2, "{stats:?}");
    let secs = seconds(&samples);
    assert!(
        (ids as f64 / 80.0..ids as f64 / 10.0).contains(&secs),
        "{ids} ids gave {secs:.2} s"
    );
    assert!(synth.one_plan_for_any_length());
    assert!(synth.built_plans()[BUCKETS.len() - 1]);

    // With a cap of 256 ids, more pieces (and still the one plan: a cap no
    // longer decides which plans exist).
    let mut capped = synthesizer_after(synth);
    capped.set_max_ids(256).unwrap();
    assert!(capped.set_max_ids(1000).is_err());
    assert!(capped.set_max_ids(10).is_err());
    let samples = capped.synthesize_sentence(&sentence).unwrap();
    assert!(capped.stats().inferences >= 3, "{:?}", capped.stats());
    assert!(capped.one_plan_for_any_length());
    let capped_secs = seconds(&samples);
    assert!(
        (capped_secs / secs - 1.0).abs() < 0.1,
        "{capped_secs:.2} s in pieces of 256 ids, {secs:.2} s in pieces of 512"
    );
}

/// A new synthesizer, once `previous` has given libespeak-ng back.
fn synthesizer_after(previous: Synthesizer) -> Synthesizer {
    drop(previous);
    synthesizer()
}

#[test]
fn libespeak_ng_has_one_owner_at_a_time() {
    let _turn = turn();
    let first = synthesizer();
    let second = Synthesizer::new(Voice::load(support::voice_path()).unwrap());
    let e = format!("{:#}", second.err().expect("a second owner is refused"));
    assert!(e.contains("already in use"), "{e}");
    drop(first);
    let mut again = synthesizer();
    assert_eq!(again.sentences("Yes. No."), ["Yes.", "No."]);
}

#[test]
fn a_missing_or_broken_voice_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.onnx");
    let e = format!("{:#}", Voice::load(&missing).err().unwrap());
    assert!(e.contains("none.onnx.json"), "{e}");
    assert!(!e.contains('\n'), "{e}");

    // A valid config beside a file that is not ONNX.
    let bad = dir.path().join("bad.onnx");
    std::fs::write(&bad, b"not a model").unwrap();
    let mut json = support::voice_path().into_os_string();
    json.push(".json");
    std::fs::copy(&json, dir.path().join("bad.onnx.json")).unwrap();
    let e = format!("{:#}", Voice::load(&bad).err().unwrap());
    assert!(e.contains("bad.onnx"), "{e}");
    assert!(!e.contains('\n'), "{e}");

    // The real model with a config that declares three speakers: the model
    // has no sid input, so the pair is refused.
    let multi = dir.path().join("multi.onnx");
    std::os::unix::fs::symlink(support::voice_path(), &multi).unwrap();
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    config["num_speakers"] = 3.into();
    std::fs::write(dir.path().join("multi.onnx.json"), config.to_string()).unwrap();
    let e = format!("{:#}", Voice::load(&multi).err().unwrap());
    assert!(
        e.contains("3 speakers but the model has no sid input"),
        "{e}"
    );
}
