#!/usr/bin/env python3
"""Tiny random checkpoints of every architecture eqat accepts, with
transformers' logits for a fixed token sequence (hf_forward_test.sh).

usage: make_tiny_models.py OUT_DIR
       make_tiny_models.py --quantized OUT_DIR NAME QDIR IDS
  The second form reads QDIR, an eqat compressed-tensors folder (of one of
  the tiny models), with transformers (CompressedTensorsConfig(dequantize=
  True)), writes its logits for the ids in IDS as OUT_DIR/NAME.ref.f32 and
  adds NAME to OUT_DIR/manifest.json: eqat's writer (packed linears, norms,
  Qwen3's q/k norms) checked against transformers' reading of it.

For each model NAME it writes OUT_DIR/NAME/ (save_pretrained: config.json +
safetensors), OUT_DIR/NAME.ids (the token ids, whitespace-separated) and
OUT_DIR/NAME.ref.f32 (transformers' logits [T, vocab], raw float32), and
OUT_DIR/manifest.json listing them with T, vocab, the tolerance and notes.

Tiny = hidden 64, 2 layers, 4 heads, 2 kv heads, intermediate 128, vocab 300
(Qwen3: head_dim 32, not 64 / 4). Weights are re-drawn at unit scale (linear
weights N(0, 1/in), embeddings N(0, 1), norms 1 + N(0, 0.2^2), biases
N(0, 0.1^2)) so that the logits are O(1-10): at transformers' default init
(std 0.02) the logits are so small that a wrong forward could still pass a
1e-4 bound. Everything runs in fp32 with eager attention on the CPU.
"""
import json
import math
import os
import sys
import warnings

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, vocab_size=300,
            rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2)
LLAMA3_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}

# name, config class, extra config fields, sequence length, notes
SPECS = [
    ("llama", transformers.LlamaConfig, {}, 64, "untied"),
    ("llama_tied", transformers.LlamaConfig, {"tie_word_embeddings": True}, 64,
     "tied embeddings (no lm_head.weight)"),
    # rope_theta 10000 with head_dim 16 puts the frequency bands in all three
    # llama3 regimes (kept, smoothed, divided by 8); 256 positions make the
    # divided band's phase visible.
    ("llama3_rope", transformers.LlamaConfig,
     {"rope_theta": 10000.0, "rope_scaling": LLAMA3_ROPE, "max_position_embeddings": 131072},
     256, "rope_scaling llama3, factor 8, low 1, high 4, original 8192"),
    ("mistral", transformers.MistralConfig, {"sliding_window": 16}, 64,
     "sliding_window 16 over 64 tokens"),
    ("qwen2", transformers.Qwen2Config, {"use_sliding_window": False}, 64, "q/k/v bias"),
    ("qwen3", transformers.Qwen3Config, {"head_dim": 32, "use_sliding_window": False}, 64,
     "q_norm/k_norm, head_dim 32, untied"),
    ("qwen3_tied", transformers.Qwen3Config,
     {"head_dim": 32, "use_sliding_window": False, "tie_word_embeddings": True}, 64,
     "q_norm/k_norm, head_dim 32, tied"),
]


def config_of(cls, extra):
    kw = dict(TINY)
    kw.update(extra)
    cfg = cls(**kw)
    cfg._attn_implementation = "eager"
    return cfg


def build(cls, extra, seed):
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config_of(cls, extra), dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            elif "embed_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=gen))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[1]))
    return model.eval()


def logits_of(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def save_case(out, name, model_dir, ids, ref, note, tol, extra_info=None):
    with open(os.path.join(out, name + ".ids"), "w") as f:
        f.write(" ".join(str(i) for i in ids) + "\n")
    ref.astype("<f4").tofile(os.path.join(out, name + ".ref.f32"))
    entry = {"name": name, "dir": model_dir, "T": len(ids), "vocab": int(ref.shape[1]),
             "tolerance": tol, "note": note, "max_abs_logit": float(np.abs(ref).max())}
    entry.update(extra_info or {})
    return entry


def add_quantized(out, name, qdir, ids_path):
    from transformers import CompressedTensorsConfig
    ids = [int(i) for i in open(ids_path).read().split()]
    with warnings.catch_warnings():  # "the model already has a quantization_config"
        warnings.simplefilter("ignore", UserWarning)
        model = AutoModelForCausalLM.from_pretrained(
            qdir, dtype=torch.float32, attn_implementation="eager",
            quantization_config=CompressedTensorsConfig(dequantize=True)).eval()
    qc = json.load(open(os.path.join(qdir, "config.json")))["quantization_config"]
    (group,) = qc["config_groups"].values()
    w = group["weights"]
    path = os.path.join(out, "manifest.json")
    man = json.load(open(path))
    man["models"].append(save_case(
        out, name, qdir, ids, logits_of(model, ids),
        f"eqat compressed-tensors W{w['num_bits']}g{w.get('group_size')} read by transformers",
        1e-4))
    json.dump(man, open(path, "w"), indent=2)


def main():
    if sys.argv[1] == "--quantized":
        add_quantized(*(os.path.abspath(a) if i != 1 else a for i, a in enumerate(sys.argv[2:6])))
        return
    out = os.path.abspath(sys.argv[1])
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(2)
    rng = np.random.RandomState(0)
    manifest = []
    for seed, (name, cls, extra, T, note) in enumerate(SPECS):
        model = build(cls, extra, 1000 + seed)
        ids = [int(i) for i in rng.randint(0, TINY["vocab_size"], size=T)]
        model_dir = os.path.join(out, name)
        model.save_pretrained(model_dir)
        info = {}
        for key in ("rope_scaling", "sliding_window"):
            if key not in extra:
                continue
            # How much the feature moves the logits: what a forward that
            # ignored it would be off by.
            plain = {k: v for k, v in extra.items() if k != key}
            if key == "sliding_window":
                plain[key] = None
            without = AutoModelForCausalLM.from_config(config_of(cls, plain), dtype=torch.float32)
            without.load_state_dict(model.state_dict())
            info[f"without_{key}_max_abs_diff"] = float(
                np.abs(logits_of(without.eval(), ids) - logits_of(model, ids)).max())
        manifest.append(save_case(out, name, model_dir, ids, logits_of(model, ids), note, 1e-4,
                                  info))

    # bf16 weights in several shards, read by transformers in fp32: both sides
    # compute in fp32 from the same bf16 values, so 1e-4 still holds.
    name = "qwen3_bf16_sharded"
    model = build(transformers.Qwen3Config, {"head_dim": 32, "use_sliding_window": False}, 2000)
    model_dir = os.path.join(out, name)
    model.to(torch.bfloat16).save_pretrained(model_dir, max_shard_size="100KB")
    shards = sorted(f for f in os.listdir(model_dir) if f.endswith(".safetensors"))
    if len(shards) < 2 or not os.path.exists(
            os.path.join(model_dir, "model.safetensors.index.json")):
        sys.exit(f"{name}: expected several shards and an index, got {shards}")
    reloaded = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32,
                                                    attn_implementation="eager").eval()
    ids = [int(i) for i in rng.randint(0, TINY["vocab_size"], size=64)]
    manifest.append(save_case(out, name, model_dir, ids, logits_of(reloaded, ids),
                              f"qwen3 bf16 weights in {len(shards)} shards, reference in fp32",
                              1e-4, {"shards": len(shards)}))

    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"torch": torch.__version__, "transformers": transformers.__version__,
                   "models": manifest}, f, indent=2)
    print(f"{len(manifest)} models in {out} (torch {torch.__version__}, "
          f"transformers {transformers.__version__})")


if __name__ == "__main__":
    main()
