#!/usr/bin/env python3
"""Plain PyTorch eager peer of bench/blockap_step_bench.cc.

The same Block-AP step on the same random-weight Llama block: RMSNorm,
attention with RoPE (grouped KV heads repeated), SwiGLU MLP; every linear
fake-quantized per group of the input dimension with
  q = clamp(round_ste(W / s) + clamp_ste(round_ste(z), 0, qmax), 0, qmax),
  W_q = (q - z_r) * s,
s and z initialised from each group's min / max; W, s, z and both norms
train; MSE against random targets; AdamW with two groups (s, z at 1e-4,
the rest at the 2-bit weight lr 2e-5); step sizes clamped to [1e-4, 1e4]
after the step. Prints one JSON line in the C++ bench's fields.

usage: blockap_step_peer.py [--preset ref7m|llama2-7b] [--bits 2] [--group 64]
       [--batch 2] [--seqlen 256] [--steps 8] [--warmup 1] [--threads 2]
       [--device cpu|cuda] [--precision fp32|bf16|fp16]
torch from PyPI (build/venv-ct, `make conformance`) or Debian's python3-torch.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

PRESETS = {"ref7m": (256, 768, 8, 4), "llama2-7b": (4096, 11008, 32, 32)}


def round_ste(x):
    return (x.round() - x).detach() + x


class FakeQuantLinear(torch.nn.Module):
    def __init__(self, out_f, in_f, bits, group):
        super().__init__()
        self.g = in_f if group < 0 else group
        self.qmax = 2 ** bits - 1
        w = torch.randn(out_f, in_f) * 0.02
        wg = w.view(out_f, in_f // self.g, self.g)
        mn, mx = wg.amin(-1), wg.amax(-1)
        s = ((mx - mn) / self.qmax).clamp(1e-4, 1e4)
        self.weight = torch.nn.Parameter(w)
        self.scale = torch.nn.Parameter(s)
        self.zero = torch.nn.Parameter((-mn / s).clamp(-1e4, 1e4).round())

    def forward(self, x):
        out_f, in_f = self.weight.shape
        zr = round_ste(self.zero)
        zr = (zr.clamp(0, self.qmax) - zr).detach() + zr
        s, z = self.scale.unsqueeze(-1), zr.unsqueeze(-1)
        wg = self.weight.view(out_f, in_f // self.g, self.g)
        q = (round_ste(wg / s) + z).clamp(0, self.qmax)
        return F.linear(x, ((q - z) * s).reshape(out_f, in_f))


def rms_norm(x, w, eps=1e-5):
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype) * w


def rotate_half(x):
    a, b = x.chunk(2, -1)
    return torch.cat((-b, a), -1)


class Block(torch.nn.Module):
    def __init__(self, hidden, inter, heads, kv_heads, bits, group):
        super().__init__()
        self.h, self.nh, self.nkv, self.hd = hidden, heads, kv_heads, hidden // heads
        lin = lambda o, i: FakeQuantLinear(o, i, bits, group)
        self.q_proj = lin(heads * self.hd, hidden)
        self.k_proj = lin(kv_heads * self.hd, hidden)
        self.v_proj = lin(kv_heads * self.hd, hidden)
        self.o_proj = lin(hidden, heads * self.hd)
        self.gate_proj = lin(inter, hidden)
        self.up_proj = lin(inter, hidden)
        self.down_proj = lin(hidden, inter)
        self.input_norm = torch.nn.Parameter(torch.ones(hidden))
        self.post_norm = torch.nn.Parameter(torch.ones(hidden))

    def forward(self, x):
        B, T, _ = x.shape
        xn = rms_norm(x, self.input_norm)
        q = self.q_proj(xn).view(B, T, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(xn).view(B, T, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(xn).view(B, T, self.nkv, self.hd).transpose(1, 2)
        inv = 1.0 / (10000.0 ** (torch.arange(0, self.hd, 2, dtype=torch.float64) / self.hd))
        freqs = torch.outer(torch.arange(T, dtype=torch.float32), inv.float())
        emb = torch.cat((freqs, freqs), -1).to(x.device)
        cos, sin = emb.cos().to(q.dtype), emb.sin().to(q.dtype)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if self.nkv != self.nh:
            k = k.repeat_interleave(self.nh // self.nkv, 1)
            v = v.repeat_interleave(self.nh // self.nkv, 1)
        scores = (q @ k.transpose(-2, -1)) / self.hd ** 0.5
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        scores = scores.masked_fill(~mask, float("-inf"))
        p = torch.softmax(scores.float(), -1).to(q.dtype)
        attn = (p @ v).transpose(1, 2).reshape(B, T, self.nh * self.hd)
        h = x + self.o_proj(attn)
        n = rms_norm(h, self.post_norm)
        return h + self.down_proj(F.silu(self.gate_proj(n)) * self.up_proj(n))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="ref7m", choices=sorted(PRESETS))
    ap.add_argument("--bits", type=int, default=2)
    ap.add_argument("--group", type=int, default=64)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seqlen", type=int, default=256)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    hidden, inter, heads, kv = PRESETS[a.preset]
    torch.manual_seed(7)
    dev = torch.device(a.device)
    block = Block(hidden, inter, heads, kv, a.bits, a.group).to(dev)
    quant = [p for n, p in block.named_parameters() if n.endswith(("scale", "zero"))]
    other = [p for n, p in block.named_parameters() if not n.endswith(("scale", "zero"))]
    wlr = 2e-5 if a.bits <= 2 else 1e-5
    opt = torch.optim.AdamW([{"params": quant, "lr": 1e-4}, {"params": other, "lr": wlr}],
                            weight_decay=0.0)
    amp = a.device == "cuda" and a.precision != "fp32"
    dtype = torch.float16 if a.precision == "fp16" else torch.bfloat16
    scaler = torch.amp.GradScaler("cuda", enabled=amp and a.precision == "fp16")
    n = a.batch * (a.steps + a.warmup)
    xs = torch.randn(n, a.seqlen, hidden)
    ys = torch.randn(n, a.seqlen, hidden)
    ms = []
    for i in range(a.steps + a.warmup):
        t0 = time.perf_counter()
        x = xs[i * a.batch:(i + 1) * a.batch].to(dev)
        y = ys[i * a.batch:(i + 1) * a.batch].to(dev)
        with torch.autocast(a.device, dtype=dtype, enabled=amp):
            loss = F.mse_loss(block(x).float(), y)
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        with torch.no_grad():
            for s in quant[0::2]:  # the scales (named_parameters order: scale, zero)
                s.clamp_(1e-4, 1e4)
        loss.item()  # sync, as the C++ loop's on_step does
        if i >= a.warmup:
            ms.append(1000 * (time.perf_counter() - t0))
    med = statistics.median(ms)
    print(json.dumps({"impl": "pytorch-eager", "torch": torch.__version__, "hidden": hidden,
                      "intermediate": inter, "heads": heads, "kv_heads": kv, "bits": a.bits,
                      "group": a.group, "batch": a.batch, "seqlen": a.seqlen,
                      "threads": torch.get_num_threads(), "device": a.device,
                      "precision": a.precision if amp else "fp32", "steps": a.steps,
                      "ms_per_step": round(med, 3),
                      "mean_ms_per_step": round(statistics.mean(ms), 3),
                      "tokens_per_s": round(a.batch * a.seqlen / (med / 1000), 1)}))


if __name__ == "__main__":
    main()
