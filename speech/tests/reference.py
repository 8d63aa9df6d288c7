"""The reference side of the speech tests: Piper 1.8.0 (piper-tts on PyPI)
with onnxruntime, run by the venv that scripts/fetch-test-voice makes.

    reference.py ids VOICE.onnx            stdin: a JSON list of texts
        stdout: a JSON list, per text, of its sentences' phoneme id lists
    reference.py audio VOICE.onnx OUT.f32  stdin: a JSON list of phoneme ids
        writes the raw model output (float32, little-endian) for those ids
        with zero noise scales, so that it depends on the ids only
"""

import json
import sys

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
    else:
        sys.exit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()
