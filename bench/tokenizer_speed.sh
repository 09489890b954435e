#!/usr/bin/env bash
# Tokenizer speed on ONE core: the Hugging Face `tokenizers` library (Rust,
# PyPI wheel, RAYON_RS_NUM_CPUS=1 TOKENIZERS_PARALLELISM=false, taskset -c 0)
# against `taskset -c 0 eqat tokenize --model DIR --text FILE --json`, on the
# whole WikiText-2 test text (data/wikitext2_test.raw, 1.29 MB, CRLF lines).
# The library is timed encoding the text as one string and line by line (each
# line with its CRLF, one encode() call a line); eqat is timed as the whole
# command (process start, loading tokenizer.json, encoding, writing the JSON).
# Best of 3 runs each. Prints tokens/s, seconds and the ratios, and checks that
# eqat's ids equal the library's.
#
# Tokenizer: Llama 3's, rebuilt in BUILD_DIR/llama3-tokenizer from Meta's
# `llama-models` PyPI wheel (llama_models/llama3/tokenizer.model, tiktoken
# format) by bench/make_llama3_tokenizer.py (needs PyPI once; the result is
# checked against the sha256 below). Where that fails it falls back to the
# Qwen3 tokenizer (tests/data/tokenizers/qwen3, same byte-level BPE family,
# 151k vocab) and says so. TOKENIZER_DIR overrides both.
#
# usage: bench/tokenizer_speed.sh [BUILD_DIR] [TOKENIZER_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
TOKDIR=${2:-}
EQAT="$BUILD/client/eqat"
TEXT=data/wikitext2_test.raw
LLAMA_MODELS="llama-models==0.3.0"
L3_MODEL_SHA=82e9d31979e92ab929cd544440f129d9ecd797b69e327f80f17e1c50d5551b55
L3_JSON_SHA=05fbbdd800e40a46afb015213f1d3abef027a845de2492770ea26ad58044178d
export RAYON_RS_NUM_CPUS=1 TOKENIZERS_PARALLELISM=false

PY=$(bash scripts/install-test-venv.sh "$BUILD/venv-test" | tail -1)
"$PY" -c "import tokenizers" 2>/dev/null || {
  echo "tokenizer_speed: the tokenizers library is not importable by $PY" >&2; exit 1; }

if [ -z "$TOKDIR" ]; then
  L3="$BUILD/llama3-tokenizer"
  if [ "$(sha256sum "$L3/tokenizer.json" 2>/dev/null | cut -d' ' -f1)" != "$L3_JSON_SHA" ]; then
    tmp=$(mktemp -d /tmp/eqat-l3.XXXXXX)
    if timeout 300 "$PY" -m pip download -q --disable-pip-version-check --no-deps \
         "$LLAMA_MODELS" -d "$tmp" >&2 &&
       unzip -q -o "$tmp"/llama_models-*.whl llama_models/llama3/tokenizer.model -d "$tmp" &&
       [ "$(sha256sum "$tmp/llama_models/llama3/tokenizer.model" | cut -d' ' -f1)" = "$L3_MODEL_SHA" ]; then
      "$PY" bench/make_llama3_tokenizer.py "$tmp/llama_models/llama3/tokenizer.model" "$L3" >&2
    fi
    rm -rf "$tmp"
  fi
  if [ "$(sha256sum "$L3/tokenizer.json" 2>/dev/null | cut -d' ' -f1)" = "$L3_JSON_SHA" ]; then
    TOKDIR=$L3; NAME="Llama 3 (tokenizer.json built from $LLAMA_MODELS tokenizer.model)"
  else
    TOKDIR=tests/data/tokenizers/qwen3
    [ -f "$TOKDIR/tokenizer.json" ] || TOKDIR=../shared/tokenizers/qwen3
    NAME="Qwen3 (no Llama 3 tokenizer could be built: llama-models not downloadable)"
    echo "tokenizer_speed: Llama 3's tokenizer could not be built; using Qwen3's" >&2
  fi
else
  NAME="$TOKDIR"
fi
WORK=$(mktemp -d /tmp/eqat-tokspeed.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

echo "tokenizer: $NAME"
echo "text: $TEXT ($(stat -c %s "$TEXT") bytes), one core (taskset -c 0), best of 3"
taskset -c 0 "$PY" - "$TOKDIR/tokenizer.json" "$TEXT" "$WORK/ids.json" <<'EOF' | tee "$WORK/rust.txt"
import json, sys, time
import tokenizers
from tokenizers import Tokenizer
path, text_path, ids_out = sys.argv[1:]
t0 = time.perf_counter(); tk = Tokenizer.from_file(path); load = time.perf_counter() - t0
text = open(text_path, "rb").read().decode("utf-8", errors="replace")
lines = text.splitlines(keepends=True)
def best(f):
    b, r = None, None
    for _ in range(3):
        t = time.perf_counter(); r = f(); t = time.perf_counter() - t
        b = t if b is None or t < b else b
    return b, r
whole, enc = best(lambda: tk.encode(text, add_special_tokens=False).ids)
per_line, n_lines = best(lambda: sum(len(tk.encode(l, add_special_tokens=False).ids) for l in lines))
n = len(enc)
json.dump(enc, open(ids_out, "w"))
print(f"rust tokenizers {tokenizers.__version__}: load tokenizer.json {load:.3f} s")
print(f"rust whole text:   {n} tokens in {whole:.3f} s = {n / whole:,.0f} tokens/s")
print(f"rust line by line: {n_lines} tokens in {per_line:.3f} s = {n_lines / per_line:,.0f} tokens/s"
      f" ({len(lines)} encode() calls)")
print(json.dumps({"rust_version": tokenizers.__version__, "rust_load_s": load, "rust_whole_s": whole,
                  "rust_lines_s": per_line, "tokens": n, "tokens_lines": n_lines}))
EOF
rust=$(tail -1 "$WORK/rust.txt")

if ! { "$EQAT" tokenize --help 2>&1 | grep -q -- "--text"; }; then
  echo "eqat tokenize: not available in $EQAT; library numbers only"
  echo "{\"tokenizer\":\"$TOKDIR\",\"rust\":$rust,\"eqat\":null}"
  exit 0
fi
best=""
for i in 1 2 3; do
  t0=$(date +%s.%N)
  taskset -c 0 "$EQAT" tokenize --model "$TOKDIR" --text "$TEXT" --json > "$WORK/eqat.out"
  t1=$(date +%s.%N)
  best=$("$PY" -c "a=$t1-$t0; b='$best'; print(a if not b or a < float(b) else b)")
done
"$PY" - "$WORK/eqat.out" "$WORK/ids.json" "$best" "$rust" "$TOKDIR" <<'EOF'
import json, sys
out, ids_path, best, rust, tokdir = sys.argv[1], sys.argv[2], float(sys.argv[3]), json.loads(sys.argv[4]), sys.argv[5]
got = json.loads([l for l in open(out).read().splitlines() if l.strip()][-1])["ids"]
want = json.load(open(ids_path))
same = got == want
n = len(got)
print(f"eqat tokenize (whole command): {n} tokens in {best:.3f} s = {n / best:,.0f} tokens/s;"
      f" ids {'equal to' if same else 'DIFFERENT from'} the library's")
print(f"ratio eqat / rust whole-text encode: {best / rust['rust_whole_s']:.2f}x the time;"
      f" eqat / rust load+encode: {best / (rust['rust_load_s'] + rust['rust_whole_s']):.2f}x")
print(json.dumps({"tokenizer": tokdir, "rust": rust, "eqat": {"s": best, "tokens": n, "ids_equal": same}}))
sys.exit(0 if same else 1)
EOF
