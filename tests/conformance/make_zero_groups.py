#!/usr/bin/env python3
"""Builds a GPTQ v2 checkpoint that has zero points of 0.

Copies a gptq_v2 folder and sets the zero point of the first N groups
(along out_features, in group row 0) of every quantized linear to 0, leaving
codes and scales as they are. Half of those columns also get their codes
capped at 2^b - 2, so both kinds of v1 re-fit (an exact shift, and a
re-scaled group) occur. The result is a valid, if worse, model: the test of
`eqat convert --zeros v1` on a checkpoint built to have such groups.

usage: make_zero_groups.py SRC_V2_DIR DST_DIR N     (prints one JSON line)
"""
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dequantize_reference import read_safetensors, unpack_stream, write_safetensors  # noqa: E402


def pack_stream(vals, bits, axis):
    v = np.moveaxis(vals.astype(np.int64), axis, 0)
    n = v.shape[0]
    words = np.zeros(((n * bits + 31) // 32 + 1,) + v.shape[1:], dtype=np.int64)
    for k in range(n):
        pos = k * bits
        w, off = pos // 32, pos % 32
        words[w] |= (v[k] << off) & 0xFFFFFFFF
        words[w + 1] |= v[k] >> (32 - off) if off + bits > 32 else 0
    words = words[:(n * bits + 31) // 32]
    words = np.where(words >= 1 << 31, words - (1 << 32), words).astype(np.int32)
    return np.moveaxis(words, 0, axis)


def main():
    src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cfg = json.load(open(os.path.join(src, "config.json")))
    qc = cfg["quantization_config"]
    assert qc["quant_method"] == "gptq" and qc["checkpoint_format"] == "gptq_v2"
    bits = qc["bits"]
    qmax = (1 << bits) - 1
    t, _ = read_safetensors(os.path.join(src, "model.safetensors"))
    shutil.copytree(src, dst)
    zeroed = capped = 0
    for name in [k for k in t if k.endswith(".qzeros")]:
        prefix = name[:-len(".qzeros")]
        qz = t[name][1]
        out_f = t[prefix + ".scales"][1].shape[1]
        in_f = t[prefix + ".g_idx"][1].shape[0]
        z = unpack_stream(qz, out_f, bits, 1)                      # [G, out]
        q = unpack_stream(t[prefix + ".qweight"][1], in_f, bits, 0)  # [in, out]
        g = in_f // z.shape[0]
        for col in range(n):
            z[0, col] = 0
            zeroed += 1
            if col % 2 == 0:
                q[:g, col] = np.minimum(q[:g, col], qmax - 1)
                capped += 1
            else:
                q[0, col] = qmax
        t[name] = ("I32", pack_stream(z, bits, 1))
        t[prefix + ".qweight"] = ("I32", pack_stream(q, bits, 0))
    write_safetensors(os.path.join(dst, "model.safetensors"), t)
    print(json.dumps({"zeroed_groups": zeroed, "shift_only": capped, "rescale": zeroed - capped}))


if __name__ == "__main__":
    main()
