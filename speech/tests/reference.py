"""The reference side of the speech tests: Piper 1.8.0 (piper-tts on PyPI)
with onnxruntime, run by the venv that scripts/fetch-test-voice makes.

    reference.py ids VOICE.onnx            stdin: a JSON list of texts
        stdout: a JSON list, per text, of its sentences' phoneme id lists
    reference.py audio VOICE.onnx OUT.f32  stdin: a JSON list of phoneme ids
        writes the raw model output (float32, little-endian) for those ids
        with zero noise scales, so that it depends on the ids only
    reference.py rtf VOICE.onnx            stdin: a JSON list of texts
        synthesizes each on one thread (after one warm-up run) and prints
        the seconds of audio, the seconds it took and the real-time factor
        of each, then of all (for BENCHMARKS.md, next to the speech crate's
        `measure` example)
"""

import json
import sys
import time

import numpy as np
from piper import PiperVoice
from piper.config import SynthesisConfig


def main() -> None:
    command, voice_path = sys.argv[1], sys.argv[2]
    voice = PiperVoice.load(voice_path)
    if command == "ids":
        texts = json.load(sys.stdin)
        out = [
            [voice.phonemes_to_ids(p) for p in voice.phonemize(text) if p]
            for text in texts
        ]
        json.dump(out, sys.stdout)
    elif command == "audio":
        ids = json.load(sys.stdin)
        config = SynthesisConfig(noise_scale=0.0, length_scale=1.0, noise_w_scale=0.0)
        audio = voice.phoneme_ids_to_audio(ids, config)
        np.asarray(audio, dtype="<f4").reshape(-1).tofile(sys.argv[3])
    elif command == "rtf":
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        voice.session = onnxruntime.InferenceSession(
            voice_path, sess_options=options, providers=["CPUExecutionProvider"]
        )
        texts = json.load(sys.stdin)
        rate = voice.config.sample_rate
        list(voice.synthesize(texts[0]))
        total_audio = total_took = 0.0
        for text in texts:
            start = time.perf_counter()
            samples = sum(len(chunk.audio_float_array) for chunk in voice.synthesize(text))
            took = time.perf_counter() - start
            audio = samples / rate
            total_audio += audio
            total_took += took
            print(f"{audio:6.2f} s audio in {took:5.2f} s: RTF {took / audio:.3f}  {text[:40]!r}")
        print(f"all: {total_audio:.2f} s audio in {total_took:.2f} s: RTF {total_took / total_audio:.3f}")
    else:
        sys.exit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()
