"""Multiply-adds of a Piper voice's HiFi-GAN decoder over one window of N
latent frames, from the ONNX graph's convolution weights (BENCHMARKS.md,
speech): the work tract's matrix products do per window.

Usage: python decoder_macs.py VOICE.onnx [FRAMES]   (needs the `onnx` package)
"""

import sys

import onnx


def main() -> None:
    model = onnx.load(sys.argv[1])
    frames = int(sys.argv[2]) if len(sys.argv) > 2 else 128
    shapes = {t.name: tuple(t.dims) for t in model.graph.initializer}
    length, total = frames, 0
    for node in model.graph.node:
        if node.op_type not in ("Conv", "ConvTranspose") or "dec" not in node.name:
            continue
        weight = shapes.get(node.input[1])
        if weight is None:
            continue
        if node.op_type == "ConvTranspose":
            # Each input sample meets every output channel's kernel once.
            stride = next(a.ints[0] for a in node.attribute if a.name == "strides")
            c_in, c_out, kernel = weight
            total += c_in * c_out * kernel * length
            length *= stride
        else:
            c_out, c_in, kernel = weight
            total += c_out * c_in * kernel * length
    print(f"{frames} frames -> {length} samples: {total / 1e9:.3f} G multiply-adds")


if __name__ == "__main__":
    main()
