#!/usr/bin/env python3
"""Formats bench/results/quality-*.jsonl (from bench/quality.sh) as markdown."""
import json
import sys

NAMES = {"fp": "fp16/fp32", "rtn": "RTN", "gptq": "GPTQ", "blockap": "Block-AP",
         "efficientqat": "Block-AP + E2E-QP"}

for path in sys.argv[1:]:
    rows = [json.loads(l) for l in open(path) if l.strip()]
    if not rows:
        continue
    title = rows[0]["model"]
    print(f"\n#### {title}\n")
    print("| config | method | ppl | windows | quantize wall (s) | peak RSS (MiB) |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        cfg = "-" if r["variant"] == "fp" else f"W{r['bits']}g{r['group']}"
        q = r.get("quant", {})
        wall = f"{q['wall_seconds']:.1f}" if q else "-"
        rss = f"{r['peak_rss_kb'] / 1024:.0f}" if "peak_rss_kb" in r else "-"
        print(f"| {cfg} | {NAMES[r['variant']]} | {r['eval']['ppl']:.3f} | "
              f"{r['eval']['windows']} | {wall} | {rss} |")
