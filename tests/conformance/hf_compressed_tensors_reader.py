#!/usr/bin/env python3
"""Reads an eqat compressed-tensors folder with the real libraries.

1. `compressed_tensors.QuantizationConfig.model_validate` must accept the
   folder's quantization_config (the schema check vLLM and transformers use).
2. transformers' `AutoModelForCausalLM.from_pretrained` loads the folder with
   `CompressedTensorsConfig(dequantize=True)` (its compressed-tensors
   quantizer decompresses the pack-quantized weights); its state dict is
   written as a float32 folder for `eqat eval`. (The default, compressed
   load fails on CPU for any asymmetric pack-quantized checkpoint with
   transformers 5.x + compressed-tensors 0.20.1: the empty model it builds
   keeps weight_zero_point unpacked, [out, G], while compress() and vLLM pack
   it, [out*b/32, G].)
3. Independently, `PackedQuantizationCompressor.decompress` is applied to
   every linear's tensors read with the `safetensors` package; the weights
   must equal what transformers loaded.

Needs torch, transformers, compressed-tensors and safetensors from PyPI
(`make conformance` installs them into build/venv-ct; several GB).
usage: hf_compressed_tensors_reader.py CT_DIR OUT_DIR     (prints one JSON line)
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file
import compressed_tensors
from compressed_tensors.compressors.pack_quantized.base import PackedQuantizationCompressor
from compressed_tensors.quantization import QuantizationConfig
import transformers
from fp32_folder import write_fp32_folder
from transformers import AutoModelForCausalLM, CompressedTensorsConfig


def main():
    src, dst = sys.argv[1], sys.argv[2]
    cfg = json.load(open(os.path.join(src, "config.json")))
    qconf = QuantizationConfig.model_validate(cfg["quantization_config"])
    (scheme,) = qconf.config_groups.values()

    model = AutoModelForCausalLM.from_pretrained(
        src, dtype=torch.float32, quantization_config=CompressedTensorsConfig(dequantize=True))
    hf = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()}

    raw = load_file(os.path.join(src, "model.safetensors"))
    checked = 0
    for name in [k for k in raw if k.endswith(".weight_packed")]:
        prefix = name[: -len(".weight_packed")]
        state = {k: raw[prefix + "." + k] for k in
                 ("weight_packed", "weight_scale", "weight_zero_point", "weight_shape")}
        w = PackedQuantizationCompressor.decompress(state, scheme)["weight"].to(torch.float32)
        if not torch.equal(w, hf[prefix + ".weight"]):
            raise SystemExit(f"{prefix}: compressed-tensors decompress and transformers disagree")
        checked += 1
    if checked == 0:
        raise SystemExit("no pack-quantized linears found")

    write_fp32_folder(src, hf, dst)
    print(json.dumps({"linears": checked, "torch": torch.__version__,
                      "transformers": transformers.__version__,
                      "compressed_tensors": compressed_tensors.__version__}))


if __name__ == "__main__":
    main()
