#!/usr/bin/env bash
# Tokenizer conformance, live: the Hugging Face `tokenizers` library (Rust, PyPI
# wheel) regenerates the fixtures of tests/data/tokenizers with
# make_tokenizer_fixtures.py into a temporary folder; they are compared with the
# committed ones (drift is a warning, see below); then `eqat tokenize` runs on
# case texts of every fixture (a chosen subset, or all with
# EQAT_TOKENIZERS_ALL=1), without and with --special, and its ids must equal
# the live library's. Prints one line per fixture and a JSON summary.
#
# Drift (the fresh fixtures differ from the committed ones) is a WARNING, not a
# failure: the venv takes any tokenizers in ">=0.20,<1", so a new release can
# train a different vocabulary or change a corner of its behaviour without any
# change in eqat; the live comparison below (eqat against the library that is
# installed now, on the freshly written tokenizer.json files) is what decides.
# The warning names both library versions, so that the committed fixtures
# (which the offline unit tests use) can be regenerated on purpose.
# EQAT_TOKENIZERS_STRICT=1 makes drift a failure.
#
# usage: tokenizers_test.sh EQAT SOURCE_DIR WORK_DIR
#   exit 77: no Python with `tokenizers`, or this eqat has no `tokenize` command
set -euo pipefail
EQAT=$(realpath "$1"); SRC=$(realpath "$2"); WORK=$(realpath "$3")
PY=$(bash "$SRC/scripts/install-test-venv.sh" "$WORK/venv-test" | tail -1) || {
  echo "SKIP: no Python for the reference tokenizer"; exit 77; }
if ! "$PY" -c "import tokenizers" 2>/dev/null; then
  echo "SKIP: the Hugging Face tokenizers library is not importable by $PY (PyPI unreachable?)"
  exit 77
fi
help=$("$EQAT" tokenize --help 2>&1) && grep -q -- "--text" <<<"$help" || {
  echo "SKIP: this eqat has no 'tokenize' command ($EQAT tokenize --help: $(head -1 <<<"$help"))"
  exit 77; }
LIB=$("$PY" -c 'import tokenizers; print("tokenizers " + tokenizers.__version__)')
COMMITTED="$SRC/tests/data/tokenizers"
OUT="$WORK/conformance-tokenizers"
rm -rf "$OUT"; mkdir -p "$OUT/eqat"
QWEN3="$COMMITTED/qwen3/tokenizer.json"
[ -f "$QWEN3" ] || QWEN3=""
"$PY" "$SRC/tests/conformance/make_tokenizer_fixtures.py" --out "$OUT/fixtures" \
  --qwen3 "$QWEN3" --cases-dir "$OUT/cases" 2> "$OUT/make.log" || {
  echo "FAIL: make_tokenizer_fixtures.py with $LIB:"; cat "$OUT/make.log"; exit 1; }
# qwen3_cases names its tokenizer as ../qwen3/tokenizer.json.
[ -n "$QWEN3" ] && ln -s "$COMMITTED/qwen3" "$OUT/fixtures/qwen3"

# Drift of the fresh fixtures from the committed ones.
drift=0
"$PY" - "$OUT/fixtures" "$COMMITTED" "$LIB" > "$OUT/drift.txt" <<'EOF' || drift=1
import json, os, sys
fresh, committed, lib = sys.argv[1:]
bad = 0
for name in sorted(os.listdir(fresh)):
    if name == "qwen3":
        continue
    for f in ("tokenizer.json", "expected.json"):
        a, b = os.path.join(fresh, name, f), os.path.join(committed, name, f)
        if not os.path.exists(a):
            continue
        if not os.path.exists(b):
            print(f"DRIFT {name}/{f}: not committed"); bad = 1; continue
        if open(a, "rb").read() == open(b, "rb").read():
            continue
        bad = 1
        if f == "tokenizer.json":
            print(f"DRIFT {name}/tokenizer.json: {lib} trains or writes it differently")
            continue
        ea, eb = json.load(open(a)), json.load(open(b))
        old = {c["name"]: c for c in eb["cases"]}
        diff = [c["name"] for c in ea["cases"] if old.get(c["name"]) != c]
        print(f"DRIFT {name}/expected.json: committed with {eb.get('library')}, live {lib}; "
              f"cases that differ: {', '.join(diff) or '(header only)'}")
sys.exit(bad)
EOF
if [ "$drift" = 1 ]; then
  cat "$OUT/drift.txt"
  echo "WARN: the committed tests/data/tokenizers differ from what $LIB writes now;" \
       "regenerate them with tests/conformance/make_tokenizer_fixtures.py if that is intended"
fi

# eqat tokenize on the fresh files. Each run starts the whole eqat binary
# (LibTorch is linked: ~0.5 s), so by default only these cases go through the
# CLI for every fixture; the offline gtest (tests/common/hf_tokenizer,
# fixtures_test) checks every case of the committed fixtures in-process.
# EQAT_TOKENIZERS_ALL=1 runs every case (~1,100 runs, ~15 minutes on 2 cores).
CLI_CASES="whitespace_runs digits emoji invalid_truncated_3byte empty special_llama3 special_llama2 wikitext_paragraph"
fixtures=()
for exp in "$OUT"/fixtures/*/expected.json; do
  fx=$(basename "$(dirname "$exp")")
  model="$OUT/fixtures/$fx"
  rel=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("tokenizer_path", ""))' "$exp")
  [ -n "$rel" ] && model=$(dirname "$OUT/fixtures/$fx/$rel")
  fixtures+=("$fx")
  mkdir -p "$OUT/eqat/$fx"
  for case in "$OUT"/cases/*.txt; do
    c=$(basename "$case" .txt)
    if [ "${EQAT_TOKENIZERS_ALL:-0}" != 1 ] && ! grep -qw -- "$c" <<<"$CLI_CASES"; then
      continue
    fi
    "$EQAT" tokenize --model "$model" --text "$case" --json \
      > "$OUT/eqat/$fx/$c.out" 2> "$OUT/eqat/$fx/$c.err" || echo $? > "$OUT/eqat/$fx/$c.rc"
    "$EQAT" tokenize --model "$model" --text "$case" --json --special \
      > "$OUT/eqat/$fx/$c.special.out" 2> "$OUT/eqat/$fx/$c.special.err" ||
      echo $? > "$OUT/eqat/$fx/$c.special.rc"
  done
done

"$PY" - "$OUT" "$LIB" "$drift" "${EQAT_TOKENIZERS_STRICT:-0}" "${fixtures[@]}" <<'EOF'
import json, os, sys
from tokenizers import Tokenizer
out, lib, drift, strict, fixtures = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5:]

def eqat_ids(base):
    if os.path.exists(base + ".rc"):
        err = open(base + ".err", errors="replace").read().strip().splitlines()
        return None, f"exit {open(base + '.rc').read().strip()}: {err[-1] if err else ''}"
    lines = [l for l in open(base + ".out", errors="replace").read().splitlines() if l.strip()]
    try:
        return json.loads(lines[-1])["ids"], None
    except Exception as e:  # noqa: BLE001
        return None, f"no {{\"ids\": ...}} last line ({e})"

rows, failed, cases = [], 0, 0
for fx in fixtures:
    exp = json.load(open(os.path.join(out, "fixtures", fx, "expected.json")))
    tk_path = os.path.join(out, "fixtures", fx, exp.get("tokenizer_path", "tokenizer.json"))
    tk = Tokenizer.from_file(tk_path)
    bad = []
    for c in exp["cases"]:
        for key, suffix in (("ids", ""), ("ids_special", ".special")):
            base = os.path.join(out, "eqat", fx, c["name"] + suffix)
            if not os.path.exists(base + ".out"):
                continue  # not among the CLI cases of this run
            cases += 1
            got, err = eqat_ids(base)
            want = c[key]
            if err is None and got == want:
                continue
            if err is None:
                i = next((k for k in range(min(len(got), len(want))) if got[k] != want[k]),
                         min(len(got), len(want)))
                show = lambda ids: [tk.id_to_token(t) for t in ids[max(0, i - 2):i + 3]]
                err = (f"{len(got)} ids, library {len(want)}; first difference at {i}: "
                       f"eqat {show(got)} library {show(want)}")
            bad.append(f"{c['name']}{' --special' if suffix else ''}: {err}")
    failed += len(bad)
    n = sum(os.path.exists(os.path.join(out, "eqat", fx, c["name"] + sfx + ".out"))
            for c in exp["cases"] for sfx in ("", ".special"))
    if bad:
        print(f"FAIL {fx}: {len(bad)} of {n} differ from {lib}")
        for b in bad[:8]:
            print(f"       {b}")
        if len(bad) > 8:
            print(f"       ... and {len(bad) - 8} more (see {out}/eqat/{fx})")
    else:
        print(f"ok   {fx}: {n} of {n} equal to {lib}")
    rows.append({"fixture": fx, "cases": n, "failed": len(bad)})
fail = 1 if failed or (drift and strict) else 0
print(json.dumps({"library": lib, "cases": cases, "failed": failed, "drift": bool(drift),
                  "rows": rows}))
sys.exit(fail)
EOF
