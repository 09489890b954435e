#!/usr/bin/env bash
# The venv of `make conformance`: torch, transformers, compressed-tensors,
# safetensors and peft from PyPI in VENV (build/venv-ct). Prints the interpreter on
# its last line; idempotent (a venv that imports all four is used as is).
#
# PyPI's torch is the CUDA build; with every nvidia-* wheel it pulls it is
# ~5.6 GB. The CPU forward needs none of that at run time, but libtorch_cuda
# is linked against the CUDA libraries, so `import torch` needs them present.
# On a machine with the CUDA 13 toolkit installed (ldconfig finds libcudart,
# cuBLAS, cuDNN...), torch goes in without dependencies, plus its pure-Python
# ones and the four libraries the toolkit lacks or has too old for it
# (cuSPARSELt, NVSHMEM, cuFile, NCCL, versions from torch's metadata):
# ~2.3 GB, ~4 minutes. If that torch does not import, the venv is remade with
# plain `pip install torch` (all dependencies).
# usage: hf_venv.sh VENV
set -euo pipefail
VENV=$1
PY="$VENV/bin/python"
PIP=("$VENV/bin/pip" install -q --disable-pip-version-check)
CHECK="import torch, transformers, compressed_tensors, safetensors, peft; torch.ones(2) @ torch.ones(2)"
if "$PY" -c "$CHECK" 2>/dev/null; then echo "$PY"; exit 0; fi

# Pure-Python dependencies and the pinned nvidia wheels torch's metadata names.
torch_reqs() {
  "$PY" - "$@" <<'EOF'
import re, sys
from importlib.metadata import requires
want = set(sys.argv[1:])
for r in requires("torch") or []:
    if "extra ==" in r:
        continue
    name = re.split(r"[ ;<>=!~\[]", r, maxsplit=1)[0].lower()
    if (name in want) or (not want and not name.startswith(("nvidia-", "cuda-", "triton"))):
        print(r.split(";")[0].strip())
EOF
}

small_install() {
  echo "hf_venv: torch without its CUDA wheels; pip's conflict warnings about nvidia-*," \
       "cuda-toolkit and triton are expected"
  python3 -m venv "$VENV" &&
    "${PIP[@]}" --no-deps torch &&
    mapfile -t pure < <(torch_reqs) &&
    mapfile -t cuda < <(torch_reqs nvidia-cusparselt-cu13 nvidia-nvshmem-cu13 nvidia-nccl-cu13) &&
    "${PIP[@]}" "${pure[@]}" numpy &&
    "${PIP[@]}" --no-deps "${cuda[@]}" nvidia-cufile &&
    "$PY" -c "import torch; torch.ones(2) @ torch.ones(2)" &&
    # compressed-tensors requires torch: --no-deps keeps pip from pulling
    # the nvidia wheels in for it.
    "${PIP[@]}" transformers safetensors "pydantic>=2.0" loguru psutil &&
    # peft requires torch too (and accelerate): --no-deps for both.
    "${PIP[@]}" --no-deps peft accelerate &&
    "${PIP[@]}" --no-deps compressed-tensors
}

start=$(date +%s)
# (grep without -q: under pipefail, -q's early exit can fail ldconfig with SIGPIPE)
if ldconfig -p 2>/dev/null | grep 'libcudart.so.13' >/dev/null && small_install >&2 &&
   "$PY" -c "$CHECK" 2>/dev/null; then
  how="torch without dependencies + the CUDA libraries the system lacks"
else
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "${PIP[@]}" torch transformers compressed-tensors safetensors numpy peft >&2
  how="torch with all its dependencies"
fi
echo "hf_venv: $how in $VENV ($(du -sh "$VENV" | cut -f1), $(( $(date +%s) - start )) s)" >&2
echo "$PY"
