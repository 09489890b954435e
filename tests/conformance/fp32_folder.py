"""Writes a float32 Hugging Face folder that `eqat eval` reads: the source
folder's config.json without its quantization_config, the given state dict
as model.safetensors (lm_head dropped when the embeddings are tied), and the
source's tokenizer files. Shared by the conformance readers."""
import json
import os
import shutil

from safetensors.torch import save_file


def write_fp32_folder(src, state, dst):
    cfg = json.load(open(os.path.join(src, "config.json")))
    cfg.pop("quantization_config", None)
    cfg["torch_dtype"] = "float32"
    os.makedirs(dst, exist_ok=True)
    json.dump(cfg, open(os.path.join(dst, "config.json"), "w"), indent=2)
    if cfg.get("tie_word_embeddings"):
        state.pop("lm_head.weight", None)
    save_file(state, os.path.join(dst, "model.safetensors"), metadata={"format": "pt"})
    for extra in ("tokenizer.model", "tokenizer.json", "tokenizer_config.json"):
        if os.path.exists(os.path.join(src, extra)):
            shutil.copy(os.path.join(src, extra), dst)
