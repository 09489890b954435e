#!/usr/bin/env bash
# runtime-packages.sh ELF...: prints, one per line and sorted, the Debian /
# Ubuntu packages that own the shared libraries the given binaries need
# directly (DT_NEEDED, resolved with ldd). apt-get install of that list in a
# fresh image of the same release gives the runtime closure (apt adds the
# transitive dependencies). Used by docker/*.Dockerfile to keep the runtime
# stage free of -dev packages without hard-coding versioned library package
# names (libgrpc++1.51, libabsl20220623, libtorch1.13, ...).
# Libraries under a prefix in $SKIP_LIB_PREFIXES (colon-separated, e.g. a
# pip-installed PyTorch or /usr/local/cuda) are skipped: the image brings them.
# So are sonames matching $SKIP_SONAME_REGEX (default: the NVIDIA driver's
# libcuda / libnvidia-ml, which the container toolkit injects at run time).
# Fails, naming it, on a library that ldd cannot resolve or no package owns.
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: $0 ELF..." >&2; exit 2; }
IFS=: read -r -a skip <<<"${SKIP_LIB_PREFIXES:-}"
skip_re=${SKIP_SONAME_REGEX:-'^(libcuda|libnvidia-ml)\.so'}

owner() {  # owner PATH: the package(s) owning PATH, trying the usrmerge aliases
  local p=$1 c out pkg
  for c in "$p" "$(realpath "$p")" "${p#/usr}" "/usr$p"; do
    if out=$(dpkg -S "$c" 2>/dev/null); then
      # "pkg1:amd64, pkg2: /path" -> pkg1 pkg2
      out=${out%%: /*}
      out=${out//,/ }
      for pkg in $out; do echo "${pkg%%:*}"; done
      return 0
    fi
  done
  return 1
}

for f in "$@"; do
  map=$(ldd "$f")
  while read -r so; do
    [[ -n "$so" ]] || continue
    [[ "$so" == ld-linux* || "$so" == ld64.so* ]] && continue   # the loader: libc6
    [[ "$so" =~ $skip_re ]] && continue
    path=$(awk -v so="$so" '$1 == so && $2 == "=>" { print $3; exit }' <<<"$map")
    if [[ -z "$path" || "$path" == not ]]; then
      echo "runtime-packages: $f needs $so, which ldd cannot resolve" >&2
      exit 1
    fi
    skipped=0
    for pre in "${skip[@]}"; do
      [[ -n "$pre" && "$path" == "$pre"* ]] && skipped=1
    done
    (( skipped )) && continue
    owner "$path" || { echo "runtime-packages: no package owns $path (needed by $f)" >&2; exit 1; }
  done < <(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
done | sort -u
