#!/usr/bin/env bash
# Format conformance: eqat-ref-7m quantized at W2g64, W3g128 and W4g128 and
# written in every format eqat writes (gptq v2, gptq v1, compressed-tensors,
# and awq for W4); an independent numpy reader (dequantize_reference.py)
# dequantizes each folder, and the perplexity `eqat eval` gives the
# dequantized float32 folder must equal that of the quantized folder within
# 1e-6 relative. Also checks eqat inspect on each folder and the size of the
# W2g64 folder. Prints one line per case and a JSON summary.
# usage: formats_test.sh EQAT SOURCE_DIR WORK_DIR     (exit 77: no numpy)
set -euo pipefail
EQAT=$(realpath "$1"); SRC=$(realpath "$2"); WORK=$(realpath "$3")
PY=$(bash "$SRC/scripts/install-test-venv.sh" "$WORK/venv-test" | tail -1) || {
  echo "SKIP: no Python with numpy for the reference reader"; exit 77; }
READER="$SRC/tests/conformance/dequantize_reference.py"
MODEL="$SRC/models/eqat-ref-7m"
TEXT="$SRC/data/wikitext2_test.raw"
EVAL=(--text "$TEXT" --seqlen 256 --max-windows 8 --json --threads 2)
rm -rf "$WORK/conformance"; mkdir -p "$WORK/conformance"; cd "$WORK/conformance"

ppl() { "$EQAT" eval --model "$1" "${EVAL[@]}" | tail -1 | "$PY" -c 'import json,sys; print(repr(json.load(sys.stdin)["ppl"]))'; }
fail=0; cases=0; rows=()
check() {  # folder label
  local q=$1 label=$2
  "$EQAT" inspect --model "$q" --json > "$q.inspect" || { echo "FAIL $label: inspect"; fail=1; return; }
  local info; info=$("$PY" "$READER" "$q" "$q.deq") || { echo "FAIL $label: reader: $info"; fail=1; return; }
  local a b; a=$(ppl "$q"); b=$(ppl "$q.deq")
  local rel; rel=$("$PY" -c "a,b=$a,$b; print(abs(a-b)/b)")
  cases=$((cases+1))
  if "$PY" -c "import sys; sys.exit(0 if $rel <= 1e-6 else 1)"; then
    echo "ok   $label: eqat eval $a, reference reader $b (rel diff $rel) $info"
  else
    echo "FAIL $label: eqat eval $a, reference reader $b (rel diff $rel)"; fail=1
  fi
  rows+=("{\"case\":\"$label\",\"eqat_ppl\":$a,\"reader_ppl\":$b,\"rel\":$rel}")
}

for spec in "2 64" "3 128" "4 128"; do
  set -- $spec; b=$1; g=$2; base="w${b}g${g}"
  "$EQAT" quantize --model "$MODEL" --out "$base-gptq-v2" --method rtn --bits "$b" --group "$g" \
    --progress=false --threads 2 > /dev/null
  check "$base-gptq-v2" "$base gptq v2"
  "$EQAT" convert --model "$base-gptq-v2" --out "$base-gptq-v1" --format gptq --zeros v1 > /dev/null
  check "$base-gptq-v1" "$base gptq v1"
  "$EQAT" convert --model "$base-gptq-v2" --out "$base-ct" --format compressed-tensors > /dev/null
  check "$base-ct" "$base compressed-tensors"
  if [ "$b" = 4 ]; then
    "$EQAT" convert --model "$base-gptq-v2" --out "$base-awq" --format awq > /dev/null
    check "$base-awq" "$base awq"
  fi
done
# A checkpoint built to have zero points of 0 (8 groups per linear, half of
# them using the top code): v1 export must re-fit them (the reader refuses a
# stored all-ones v1 field) and report how many in eqat.json.
for base in w2g64 w3g128; do
  built=$("$PY" "$SRC/tests/conformance/make_zero_groups.py" "$base-gptq-v2" "$base-zero0-v2" 8)
  check "$base-zero0-v2" "$base zero-point-0 gptq v2"
  "$EQAT" convert --model "$base-zero0-v2" --out "$base-zero0-v1" --zeros v1 > /dev/null
  check "$base-zero0-v1" "$base zero-point-0 gptq v1 (re-fitted)"
  refit=$("$PY" -c "import json; print(json.dumps(json.load(open('$base-zero0-v1/eqat.json'))['export']['v1_zero_refit']['groups']))")
  want=$("$PY" -c "import json; print(json.loads('$built')['zeroed_groups'])")
  if [ "$refit" = "$want" ]; then echo "ok   $base: eqat.json reports $refit re-fitted groups ($built)"
  else echo "FAIL $base: eqat.json reports $refit re-fitted groups, built $want"; fail=1; fi
done
size=$(du -sb w2g64-gptq-v2/model.safetensors | cut -f1)
echo "size: w2g64 gptq model.safetensors $size bytes"
echo "{\"cases\":$cases,\"failed\":$fail,\"w2g64_bytes\":$size,\"rows\":[$(IFS=,; echo "${rows[*]}")]}"
exit $fail
