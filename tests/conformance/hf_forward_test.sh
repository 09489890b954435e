#!/usr/bin/env bash
# `make conformance` (and ctest conformance.hf_forward when the venv exists):
# eqat's full-precision logits of tiny random checkpoints of every accepted
# architecture (make_tiny_models.py: llama untied and tied, llama3
# rope_scaling, mistral with a sliding window, qwen2 with q/k/v bias, qwen3
# untied and tied, qwen3 in bf16 over several shards) must match
# transformers' forward within each model's tolerance (1e-4 max abs).
# With --eqat, eqat also quantizes the tiny Qwen3 (RTN W4g32,
# compressed-tensors) and its logits of that folder must match transformers'
# reading of it. Writes the table to WORK/conformance-forward/forward.txt;
# with --record also to SOURCE_DIR/tests/conformance/results/forward.txt.
# usage: hf_forward_test.sh FORWARD_DUMP SOURCE_DIR WORK_DIR [--if-venv] [--record] [--eqat EQAT]
#   --if-venv: exit 77 (skipped) unless WORK/venv-ct already imports torch
#              and transformers, instead of installing it (several GB).
set -euo pipefail
DUMP=$(realpath "$1"); SRC=$(realpath "$2"); WORK=$(realpath "$3"); shift 3
IF_VENV=0; RECORD=0; EQAT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --if-venv) IF_VENV=1 ;;
    --record) RECORD=1 ;;
    --eqat) EQAT=$(realpath "$2"); shift ;;
    *) echo "hf_forward_test: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
VENV="$WORK/venv-ct"
if [ "$IF_VENV" = 1 ]; then
  if ! "$VENV/bin/python" -c "import torch, transformers, safetensors" 2>/dev/null; then
    echo "hf_forward_test: no $VENV with torch + transformers (make conformance installs it); skipped"
    exit 77
  fi
  PY="$VENV/bin/python"
else
  PY=$(bash "$SRC/tests/conformance/hf_venv.sh" "$VENV" | tail -1)
fi
OUT="$WORK/conformance-forward"
rm -rf "$OUT"; mkdir -p "$OUT"
"$PY" "$SRC/tests/conformance/make_tiny_models.py" "$OUT/models" >&2
fail=0
if [ -n "$EQAT" ]; then
  # eqat quantize wants a tokenizer in the folder; any will do for RTN.
  cp "$SRC/models/stories260K/tokenizer.model" "$OUT/models/qwen3/"
  if "$EQAT" quantize --model "$OUT/models/qwen3" --out "$OUT/qwen3_w4g32_ct" --method rtn \
       --bits 4 --group 32 --format compressed-tensors --progress=false --threads 2 \
       > "$OUT/quantize.log" 2>&1; then
    "$PY" "$SRC/tests/conformance/make_tiny_models.py" --quantized "$OUT/models" \
      qwen3_w4g32_ct "$OUT/qwen3_w4g32_ct" "$OUT/models/qwen3.ids" >&2 ||
      { echo "FAIL qwen3_w4g32_ct: transformers could not read eqat's folder"; fail=1; }
    cp "$OUT/models/qwen3.ids" "$OUT/models/qwen3_w4g32_ct.ids"
  else
    echo "FAIL qwen3_w4g32_ct: eqat quantize: $(tail -1 "$OUT/quantize.log")"; fail=1
  fi
fi
for name in $("$PY" -c 'import json,sys; print(" ".join(m["name"] for m in json.load(open(sys.argv[1]))["models"]))' "$OUT/models/manifest.json"); do
  dir=$("$PY" -c 'import json,sys; print(next(m["dir"] for m in json.load(open(sys.argv[1]))["models"] if m["name"] == sys.argv[2]))' "$OUT/models/manifest.json" "$name")
  if ! "$DUMP" "$dir" "$OUT/models/$name.ids" "$OUT/models/$name.eqat.f32" \
       > "$OUT/$name.log" 2>&1; then
    echo "FAIL $name: eqat_forward_dump: $(tail -1 "$OUT/$name.log")"; fail=1
  fi
done
"$PY" - "$OUT/models/manifest.json" "$OUT/forward.txt" <<'EOF' || fail=1
import datetime, json, os, sys
import numpy as np
man = json.load(open(sys.argv[1]))
root = os.path.dirname(sys.argv[1])
lines = [f"# eqat fp32 forward vs transformers {man['transformers']} (torch {man['torch']}), "
         f"{datetime.date.today().isoformat()}",
         "# model  max_abs_diff  tolerance  max_abs_logit  note"]
bad = 0
for m in man["models"]:
    got_path = os.path.join(root, m["name"] + ".eqat.f32")
    ref = np.fromfile(os.path.join(root, m["name"] + ".ref.f32"), "<f4").reshape(m["T"], m["vocab"])
    if not os.path.exists(got_path) or os.path.getsize(got_path) != ref.nbytes:
        lines.append(f"{m['name']}  missing  {m['tolerance']:g}  -  {m['note']}")
        bad = 1
        continue
    got = np.fromfile(got_path, "<f4").reshape(ref.shape)
    d = float(np.abs(got.astype(np.float64) - ref).max())
    ok = np.isfinite(d) and d <= m["tolerance"]
    bad |= not ok
    extra = "".join(f"; {k} {v:.3g}" for k, v in m.items() if k.startswith("without_"))
    lines.append(f"{m['name']}  {d:.3e}  {m['tolerance']:g}  {m['max_abs_logit']:.3g}  "
                 f"{m['note']}{extra}{'' if ok else '  FAIL'}")
text = "\n".join(lines) + "\n"
open(sys.argv[2], "w").write(text)
print(text, end="")
sys.exit(1 if bad else 0)
EOF
if [ "$RECORD" = 1 ]; then
  mkdir -p "$SRC/tests/conformance/results"
  cp "$OUT/forward.txt" "$SRC/tests/conformance/results/forward.txt"
fi
if [ "$fail" = 0 ]; then echo "hf_forward: ok"; else echo "hf_forward: FAIL"; fi
exit $fail
