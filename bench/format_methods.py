#!/usr/bin/env python3
"""Formats bench/results/methods-*.jsonl (bench/methods_quality.sh) as markdown.

One row per method and config: perplexity on the whole WikiText-2 test, the
gap to fp closed relative to RTN, (RTN - method) / (RTN - fp), quantize wall
time and peak RSS. The Block-AP row comes from the efficientqat run's
evaluation after Block-AP (its block stage's time and peak); the Block-AP +
E2E-QP row's time is block stage + E2E-QP (the job's three evaluations left
out) and its peak is the whole job's.
"""
import json
import sys

ORDER = ["rtn", "gptq", "blockap", "efficientqat", "lrqat", "apiq"]
NAMES = {"rtn": "RTN", "gptq": "GPTQ", "blockap": "Block-AP",
         "efficientqat": "Block-AP + E2E-QP", "lrqat": "LR-QAT", "apiq": "ApiQ"}


def rows_of(run):
    """(method, ppl, windows, wall s, peak MiB) rows of one result line."""
    q = run["quant"]
    if run["method"] == "efficientqat":
        yield ("blockap", q["block_ap_ppl"], q["eval_windows"], q["block_stage_seconds"],
               q["block_stage_peak_rss_mib"])
        yield ("efficientqat", q["ppl"], q["eval_windows"],
               q["block_stage_seconds"] + q.get("e2e_seconds", 0.0), run["peak_rss_kb"] / 1024)
    else:
        e = run["eval"]
        yield (run["method"], e["ppl"], e["windows"], q["wall_seconds"], run["peak_rss_kb"] / 1024)


def main(paths):
    for path in paths:
        runs = [json.loads(l) for l in open(path) if l.strip()]
        configs = {}
        fp = None
        for run in runs:
            cfg = f"W{run['bits']}g{run['group']}"
            for row in rows_of(run):
                configs.setdefault(cfg, {})[row[0]] = row
            if run["method"] == "efficientqat":
                fp = run["quant"]["fp_ppl"]
        print(f"\n#### {runs[0]['model']} ({runs[0]['samples']} windows of {runs[0]['seqlen']} "
              "tokens, whole WikiText-2 test)\n")
        print("| config | method | ppl | gap closed | windows | quantize wall (s) | peak RSS (MiB) |")
        print("|---|---|---:|---:|---:|---:|---:|")
        if fp is not None:
            print(f"| - | fp | {fp:.3f} | - | - | - | - |")
        for cfg, rows in configs.items():
            rtn = rows.get("rtn")
            for m in ORDER:
                if m not in rows:
                    continue
                _, ppl, windows, wall, rss = rows[m]
                gap = "-"
                if rtn is not None and fp is not None and m != "rtn" and rtn[1] != fp:
                    gap = f"{100 * (rtn[1] - ppl) / (rtn[1] - fp):.1f}%"
                print(f"| {cfg} | {NAMES[m]} | {ppl:.3f} | {gap} | {windows} | {wall:.1f} | "
                      f"{rss:.0f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
