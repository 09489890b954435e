#!/usr/bin/env bash
# Python for the reference readers in tests/conformance: a venv in
# $1 (default .venv-test) with numpy, safetensors and tokenizers (the Rust
# Hugging Face library, for tests/conformance/tokenizers_test.sh) from PyPI.
# Where PyPI is not reachable it falls back to Debian's python3-numpy (no
# safetensors or tokenizers package: the readers then use their own
# safetensors parser only, and the tokenizer tests skip) and says so.
# Prints the interpreter to use on its last line. Idempotent.
set -euo pipefail
VENV=${1:-.venv-test}
TOKENIZERS="tokenizers>=0.20,<1"
# Tests running in parallel (ctest -j) share one venv: one installs at a time.
mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9 2>/dev/null || true
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import numpy, safetensors" 2>/dev/null; then
  # An older venv without tokenizers: one short try to add it, then use it as is.
  "$VENV/bin/python" -c "import tokenizers" 2>/dev/null ||
    timeout 120 "$VENV/bin/pip" install -q --disable-pip-version-check --retries 1 --timeout 15 \
      "$TOKENIZERS" >&2 || echo "install-test-venv: tokenizers not installed in $VENV" >&2
  echo "$VENV/bin/python"; exit 0
fi
if python3 -m venv "$VENV" >/dev/null 2>&1 || { rm -rf "$VENV"; false; }; then
  if timeout 300 "$VENV/bin/pip" install -q --disable-pip-version-check \
       "numpy>=1.24" "safetensors>=0.4" >&2; then
    echo "install-test-venv: numpy and safetensors from PyPI in $VENV" >&2
    timeout 300 "$VENV/bin/pip" install -q --disable-pip-version-check "$TOKENIZERS" >&2 ||
      echo "install-test-venv: tokenizers not installed (the tokenizer tests will skip)" >&2
    echo "$VENV/bin/python"; exit 0
  fi
fi
echo "install-test-venv: PyPI not reachable; falling back to Debian's python3-numpy" >&2
if ! /usr/bin/python3 -c "import numpy" 2>/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y -qq --no-install-recommends python3-numpy >&2 || true
fi
/usr/bin/python3 -c "import numpy" 2>/dev/null && { echo /usr/bin/python3; exit 0; }
echo "install-test-venv: no numpy available" >&2
exit 1
