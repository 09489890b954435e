#!/usr/bin/env bash
# `make conformance`: eqat's compressed-tensors output of eqat-ref-7m at
# W2g64, W3g128 and W4g128 read by the real libraries (transformers +
# compressed-tensors + safetensors, from PyPI into WORK/venv-ct: torch alone
# is several GB, which is why CI does not run this); perplexity of what they
# read must equal `eqat eval` of the folder within 1e-6 relative. Then an
# ApiQ W2g64 folder's LoRA adapter is loaded with PEFT on that base.
# usage: hf_conformance.sh EQAT SOURCE_DIR WORK_DIR
set -euo pipefail
EQAT=$(realpath "$1"); SRC=$(realpath "$2"); WORK=$(realpath "$3")
PY=$(bash "$SRC/tests/conformance/hf_venv.sh" "$WORK/venv-ct" | tail -1)
MODEL="$SRC/models/eqat-ref-7m"
EVAL=(--text "$SRC/data/wikitext2_test.raw" --seqlen 256 --max-windows 8 --json --threads 2)
rm -rf "$WORK/conformance-hf"; mkdir -p "$WORK/conformance-hf"; cd "$WORK/conformance-hf"
ppl() { "$EQAT" eval --model "$1" "${EVAL[@]}" | tail -1 | "$PY" -c 'import json,sys; print(repr(json.load(sys.stdin)["ppl"]))'; }
fail=0
for spec in "2 64" "3 128" "4 128"; do
  set -- $spec; base="w$1g$2"
  "$EQAT" quantize --model "$MODEL" --out "$base" --method rtn --bits "$1" --group "$2" \
    --format compressed-tensors --progress=false --threads 2 > /dev/null
  info=$("$PY" "$SRC/tests/conformance/hf_compressed_tensors_reader.py" "$base" "$base.hf" | tail -1)
  a=$(ppl "$base"); b=$(ppl "$base.hf")
  rel=$("$PY" -c "a,b=$a,$b; print(abs(a-b)/b)")
  if "$PY" -c "import sys; sys.exit(0 if $rel <= 1e-6 else 1)"; then
    echo "ok   $base compressed-tensors: eqat eval $a, transformers-loaded $b (rel $rel) $info"
  else
    echo "FAIL $base compressed-tensors: eqat eval $a, transformers-loaded $b (rel $rel) $info"; fail=1
  fi
done
# ApiQ's adapter (PEFT layout) loaded by PEFT on the packed base, merged, and
# evaluated: must equal `eqat eval --adapter` within 1e-5 relative (merging
# changes the order of the float sums).
"$EQAT" quantize --model "$MODEL" --out apiq --method apiq --bits 2 --group 64 \
  --calib "$SRC/data/calib_en.txt" --samples 32 --seqlen 128 --val-samples 8 --epochs 1 \
  --format compressed-tensors --progress=false --threads 2 > /dev/null
info=$("$PY" "$SRC/tests/conformance/hf_peft_reader.py" apiq apiq/adapter apiq.peft | tail -1)
a=$("$EQAT" eval --model apiq --adapter apiq/adapter "${EVAL[@]}" | tail -1 |
  "$PY" -c 'import json,sys; print(repr(json.load(sys.stdin)["ppl"]))')
b=$(ppl apiq.peft)
rel=$("$PY" -c "a,b=$a,$b; print(abs(a-b)/b)")
if "$PY" -c "import sys; sys.exit(0 if $rel <= 1e-5 else 1)"; then
  echo "ok   apiq W2g64 adapter: eqat eval --adapter $a, PEFT-loaded and merged $b (rel $rel) $info"
else
  echo "FAIL apiq W2g64 adapter: eqat eval --adapter $a, PEFT-loaded and merged $b (rel $rel) $info"; fail=1
fi
exit $fail
