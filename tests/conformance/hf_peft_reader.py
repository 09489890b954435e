#!/usr/bin/env python3
"""Loads an eqat ApiQ adapter with PEFT on the packed base, as a user would.

1. transformers loads the packed base (compressed-tensors, dequantized on
   load, as hf_compressed_tensors_reader.py does).
2. `peft.PeftModel.from_pretrained` reads ADAPTER_DIR onto it. PEFT only warns
   about adapter tensors it could not place, so every lora_A / lora_B of the
   file must equal the tensor PEFT holds for it, and every LoRA module PEFT
   built must have been filled from the file.
3. The adapter is merged (`merge_and_unload`) and the merged model is written
   as a float32 folder for `eqat eval`, whose perplexity the caller compares
   with `eqat eval --adapter` of the eqat folder.

Needs torch, transformers, compressed-tensors, safetensors and peft from PyPI
(`make conformance` installs them into build/venv-ct).
usage: hf_peft_reader.py CT_DIR ADAPTER_DIR OUT_DIR     (prints one JSON line)
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file
import peft
from peft import PeftModel
import transformers
from fp32_folder import write_fp32_folder
from transformers import AutoModelForCausalLM, CompressedTensorsConfig


def main():
    src, adapter, dst = sys.argv[1], sys.argv[2], sys.argv[3]
    base = AutoModelForCausalLM.from_pretrained(
        src, dtype=torch.float32, quantization_config=CompressedTensorsConfig(dequantize=True))
    model = PeftModel.from_pretrained(base, adapter)

    held = {}
    for name, t in model.state_dict().items():
        if ".lora_A." in name or ".lora_B." in name:
            # "...q_proj.lora_A.default.weight" -> "...q_proj.lora_A.weight"
            held[name.replace(".default.", ".")] = t.detach().to(torch.float32)
    raw = load_file(os.path.join(adapter, "adapter_model.safetensors"))
    if not raw:
        raise SystemExit("adapter holds no tensors")
    for name, t in raw.items():
        if name not in held:
            raise SystemExit(f"{name}: PEFT built no module for this adapter tensor")
        if not torch.equal(held[name], t.to(torch.float32)):
            raise SystemExit(f"{name}: PEFT's tensor differs from the file's")
    missing = sorted(set(held) - set(raw))
    if missing:
        raise SystemExit(f"PEFT LoRA modules not in the file: {missing[:4]}")

    merged = model.merge_and_unload()
    state = {k: v.detach().to(torch.float32).contiguous() for k, v in merged.state_dict().items()}
    write_fp32_folder(src, state, dst)
    print(json.dumps({"lora_tensors": len(raw), "peft": peft.__version__,
                      "transformers": transformers.__version__}))


if __name__ == "__main__":
    main()
