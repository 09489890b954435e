#!/usr/bin/env python3
"""Independent reader of the quantized folders eqat writes.

Reads a GPTQ (v1 or v2), AWQ (gemm) or compressed-tensors (pack-quantized)
folder with numpy alone and writes the dequantized model as a plain float32
Hugging Face folder, which `eqat eval` then scores. If its perplexity equals
that of the quantized folder, the loaders' view of the bits is eqat's.

Written from the public descriptions of the layouts, not from eqat's code:
  - GPTQ: AutoGPTQ / GPTQModel `dequantize_weight` (qweight packed along
    in_features, qzeros along out_features, v1 adds 1 to the stored zero;
    here the +1 is done WITHOUT a mask, as vLLM's gptq_gemm does, and a
    stored all-ones field is reported as an error, since loaders disagree on it);
  - AWQ: AutoAWQ `unpack_awq` + `reverse_awq_order` (nibble i of a word
    holds column order [0, 2, 4, 6, 1, 3, 5, 7][i] of its group of eight);
  - compressed-tensors 0.20 `unpack_from_int32` (dense bitstream, values
    offset by 2^(b-1)) and `PackedQuantizationCompressor.decompress`;
  - safetensors: the file format (8-byte little-endian header length, JSON
    header, raw little-endian data). When the `safetensors` package is
    installed, every tensor numpy can hold is cross-checked against it.

usage: dequantize_reference.py QUANTIZED_DIR OUT_DIR   (prints one JSON line)
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F16": np.float16, "I32": np.int32, "I64": np.int64,
          "I16": np.int16, "I8": np.int8, "U8": np.uint8, "F64": np.float64}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        buf = data[a:b]
        if info["dtype"] == "BF16":
            bits = np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        else:
            arr = np.frombuffer(buf, dtype=np.dtype(DTYPES[info["dtype"]]).newbyteorder("<"))
        out[name] = (info["dtype"], arr.reshape(info["shape"]).copy())
    try:
        from safetensors import safe_open
    except ImportError:
        return out, False
    with safe_open(path, framework="np") as f:
        for name, (dt, arr) in out.items():
            if dt == "BF16":  # not a numpy dtype; the package cannot hand it to numpy
                continue
            if not np.array_equal(f.get_tensor(name), arr):
                raise SystemExit(f"{name}: own reader and the safetensors package disagree")
    return out, True


NP_NAMES = {np.dtype(v).name: k for k, v in DTYPES.items()}


def write_safetensors(path, tensors):
    """tensors: name -> (dtype name, array); BF16 arrays are float32 holding bf16 values."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        dt, arr = tensors[name]
        if dt == "BF16":
            b = (np.ascontiguousarray(arr, dtype=np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
        else:
            b = np.ascontiguousarray(arr).astype(np.dtype(DTYPES[dt]).newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def unpack_stream(words, n, bits, axis):
    """Values of `bits` bits along `axis` of an int32 array: value k at bit b*k."""
    w = np.moveaxis(words.astype(np.int64) & 0xFFFFFFFF, axis, 0)
    pos = np.arange(n, dtype=np.int64) * bits
    lo_idx = pos // 32
    off = (pos % 32)[:, None]
    hi_idx = np.minimum(lo_idx + 1, w.shape[0] - 1)
    both = w[lo_idx] | (w[hi_idx] << 32)
    vals = (both >> off) & ((1 << bits) - 1)
    return np.moveaxis(vals, 0, axis)


def gptq(t, prefix, qc, in_f, out_f):
    bits, group = qc["bits"], qc["group_size"]
    g = in_f if group == -1 else group
    qmax = (1 << bits) - 1
    q = unpack_stream(t[prefix + ".qweight"][1], in_f, bits, 0)           # [in, out]
    z = unpack_stream(t[prefix + ".qzeros"][1], out_f, bits, 1)           # [G, out]
    if qc.get("checkpoint_format", "gptq") == "gptq":
        if (z == qmax).any():
            raise SystemExit(f"{prefix}.qzeros: v1 field 2^b-1 stored "
                             f"({int((z == qmax).sum())} groups): loaders disagree on it")
        z = z + 1
    s = t[prefix + ".scales"][1].astype(np.float32)                       # [G, out]
    g_idx = t[prefix + ".g_idx"][1].astype(np.int64)
    assert (g_idx == np.arange(in_f) // g).all(), prefix + ".g_idx"
    w = (q - z[g_idx]).astype(np.float32) * s[g_idx]
    return w.T


AWQ_REVERSE = [0, 4, 1, 5, 2, 6, 3, 7]


def awq_unpack(packed, cols):
    w = packed.astype(np.int64) & 0xFFFFFFFF
    nib = np.stack([(w >> (4 * i)) & 15 for i in range(8)], axis=-1)     # [rows, cols/8, 8]
    nib = nib.reshape(w.shape[0], cols)
    order = np.arange(cols).reshape(-1, 8)[:, AWQ_REVERSE].reshape(-1)
    return nib[:, order]


def awq(t, prefix, qc, in_f, out_f):
    group = qc["group_size"]
    g = in_f if group == -1 else group
    q = awq_unpack(t[prefix + ".qweight"][1], out_f)                      # [in, out]
    z = awq_unpack(t[prefix + ".qzeros"][1], out_f)                       # [G, out]
    s = t[prefix + ".scales"][1].astype(np.float32)
    gi = np.arange(in_f) // g
    return ((q - z[gi]).astype(np.float32) * s[gi]).T


def compressed(t, prefix, qc, in_f, out_f):
    (grp,) = qc["config_groups"].values()
    wq = grp["weights"]
    bits = wq["num_bits"]
    assert wq["symmetric"] is False and wq["type"] == "int"
    shape = t[prefix + ".weight_shape"][1]
    assert list(shape) == [out_f, in_f], prefix + ".weight_shape"
    offset = 1 << (bits - 1)
    q = unpack_stream(t[prefix + ".weight_packed"][1], in_f, bits, 1) - offset   # signed, [out, in]
    scale = t[prefix + ".weight_scale"][1].astype(np.float32)                  # [out, G]
    G = scale.shape[1]
    zp = unpack_stream(t[prefix + ".weight_zero_point"][1], out_f, bits, 0) - offset  # [out, G]
    g = in_f // G
    gi = np.arange(in_f) // g
    return (q - zp[:, gi]).astype(np.float32) * scale[:, gi]


def main():
    src, dst = sys.argv[1], sys.argv[2]
    cfg = json.load(open(os.path.join(src, "config.json")))
    qc = cfg.pop("quantization_config")
    method = qc["quant_method"]
    reader = {"gptq": gptq, "awq": awq, "compressed-tensors": compressed}[method]
    tensors, cross_checked = read_safetensors(os.path.join(src, "model.safetensors"))
    H, I = cfg["hidden_size"], cfg["intermediate_size"]
    heads, kv = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    hd = cfg.get("head_dim") or H // heads
    shapes = {"self_attn.q_proj": (heads * hd, H), "self_attn.k_proj": (kv * hd, H),
              "self_attn.v_proj": (kv * hd, H), "self_attn.o_proj": (H, heads * hd),
              "mlp.gate_proj": (I, H), "mlp.up_proj": (I, H), "mlp.down_proj": (H, I)}
    out = {}
    linears = 0
    for name, (dt, arr) in tensors.items():
        if dt in ("F32", "F16", "BF16") and not name.endswith((".scales", ".weight_scale")):
            out[name] = arr.astype(np.float32)
    for layer in range(cfg["num_hidden_layers"]):
        for lin, (o, i) in shapes.items():
            prefix = f"model.layers.{layer}.{lin}"
            out[prefix + ".weight"] = np.ascontiguousarray(reader(tensors, prefix, qc, i, o),
                                                           dtype=np.float32)
            linears += 1
    os.makedirs(dst, exist_ok=True)
    cfg["torch_dtype"] = "float32"
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(dst, "model.safetensors"),
                      {name: ("F32", arr) for name, arr in out.items()})
    for extra in ("tokenizer.model", "tokenizer.json", "tokenizer_config.json"):
        if os.path.exists(os.path.join(src, extra)):
            shutil.copy(os.path.join(src, extra), dst)
    print(json.dumps({"format": method, "checkpoint_format": qc.get("checkpoint_format",
                      qc.get("format")), "linears": linears,
                      "safetensors_cross_checked": cross_checked}))


if __name__ == "__main__":
    main()
