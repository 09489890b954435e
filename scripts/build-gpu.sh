#!/usr/bin/env bash
# Builds eqat on a GPU machine against the CUDA LibTorch of that machine's
# PyTorch (the Debian libtorch-dev of the dev/CI machines is CPU-only), for
# Hopper by default (sm_90a). See docs/gpu.md.
#
#   scripts/build-gpu.sh [options] [-- extra cmake arguments]
#
#   --build DIR        build directory (default: build-gpu)
#   --arch LIST        CMAKE_CUDA_ARCHITECTURES (default: 90a; 90 runs on any
#                      sm_90 part and on later GPUs through PTX)
#   --jobs N           parallel build jobs (default: nproc)
#   --targets "A B"    build only these targets (default: all), e.g.
#                      "eqat_cuda_tests gemv_bench"
#   --no-service       -DEQAT_BUILD_SERVICE=OFF (no gRPC/protobuf needed)
#   --python PY        the Python whose torch to use (default: python3)
#   --debs DIR         use the Debian 12 libraries carried as .deb files in
#                      DIR (gRPC, Abseil, protobuf, prometheus-cpp, sentencepiece,
#                      GTest, SQLite): they are unpacked with `dpkg -x` into
#                      DIR/root and put on CMAKE_PREFIX_PATH, PKG_CONFIG_PATH,
#                      PATH and LD_LIBRARY_PATH. For machines without them.
#   --fetch-debs DIR   on a Debian 12 machine with apt (no root needed):
#                      download those .deb files into DIR, then exit. Carry DIR
#                      to the GPU machine and pass it to --debs there.
#   --test             after building, run the GPU tests (eqat_cuda_tests)
#   --bench            after building, run bench/gemv_bench
#
# Prints, last, the environment a shell needs to run the built binaries.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build-gpu"
ARCH="90a"
JOBS="$(nproc)"
TARGETS=""
SERVICE="ON"
PYTHON="${PYTHON:-python3}"
DEBS=""
FETCH=""
RUN_TESTS=0
RUN_BENCH=0
EXTRA=()

# Debian 12 (bookworm) packages the build needs beyond a base system with a
# compiler, CMake and the CUDA toolkit. Shared-library packages are listed
# with their -dev packages; glibc, libstdc++, zlib and OpenSSL runtimes are
# taken from the machine.
DEB_PKGS=(
  libgrpc++-dev libgrpc++1.51 libgrpc-dev libgrpc29 protobuf-compiler-grpc
  libprotobuf-dev libprotobuf32 libprotobuf-lite32 libprotoc32 protobuf-compiler
  libabsl-dev libabsl20220623 libre2-dev libre2-9 libc-ares-dev libc-ares2
  libssl-dev zlib1g-dev
  prometheus-cpp-dev libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libprometheus-cpp-push1.0
  libcivetweb-dev libcivetweb1 civetweb libcurl4-openssl-dev libcurl4
  libsentencepiece-dev libsentencepiece0
  libgtest-dev libgmock-dev googletest
  libsqlite3-dev libsqlite3-0
)

die() { echo "build-gpu: $*" >&2; exit 1; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD="$(realpath -m "$2")"; shift 2 ;;
    --arch) ARCH="$2"; shift 2 ;;
    --jobs) JOBS="$2"; shift 2 ;;
    --targets) TARGETS="$2"; shift 2 ;;
    --no-service) SERVICE="OFF"; shift ;;
    --python) PYTHON="$2"; shift 2 ;;
    --debs) DEBS="$(realpath -m "$2")"; shift 2 ;;
    --fetch-debs) FETCH="$(realpath -m "$2")"; shift 2 ;;
    --test) RUN_TESTS=1; shift ;;
    --bench) RUN_BENCH=1; shift ;;
    -h|--help) usage 0 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "build-gpu: unknown argument '$1'" >&2; usage 2 ;;
  esac
done

# ---- --fetch-debs: download only ----
if [ -n "$FETCH" ]; then
  command -v apt-get >/dev/null || die "--fetch-debs needs apt-get (a Debian 12 machine)"
  mkdir -p "$FETCH"
  (cd "$FETCH" && apt-get download "${DEB_PKGS[@]}")
  echo "build-gpu: $(find "$FETCH" -maxdepth 1 -name '*.deb' | wc -l) packages in $FETCH ($(du -sh "$FETCH" | cut -f1))"
  exit 0
fi

# ---- --debs: unpack into DIR/root and point the build at it ----
if [ -n "$DEBS" ]; then
  command -v dpkg-deb >/dev/null || die "--debs needs dpkg-deb (dpkg -x)"
  compgen -G "$DEBS/*.deb" >/dev/null || die "no .deb files in $DEBS"
  PREFIX_ROOT="$DEBS/root"
  STAMP="$PREFIX_ROOT/.unpacked"
  LISTING="$(cd "$DEBS" && ls -1 ./*.deb)"
  if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$LISTING" ]; then
    rm -rf "$PREFIX_ROOT"
    mkdir -p "$PREFIX_ROOT"
    for deb in "$DEBS"/*.deb; do dpkg -x "$deb" "$PREFIX_ROOT"; done
    # .pc files name /usr absolutely: point them at the unpacked tree.
    find "$PREFIX_ROOT" -name '*.pc' -path '*pkgconfig*' -print0 |
      xargs -0 -r sed -i -E "s#=/usr(/|\$)#=$PREFIX_ROOT/usr\\1#"
    echo "$LISTING" > "$STAMP"
    echo "build-gpu: unpacked $(echo "$LISTING" | wc -l) packages into $PREFIX_ROOT"
  fi
  U="$PREFIX_ROOT/usr"
  LIBDIR="$U/lib/$(uname -m)-linux-gnu"
  export PATH="$U/bin:$PATH"
  export LD_LIBRARY_PATH="$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PKG_CONFIG_PATH="$LIBDIR/pkgconfig:$U/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  DEB_PREFIXES="$U;$LIBDIR/cmake"
fi

# ---- the CUDA LibTorch of this machine's PyTorch ----
command -v "$PYTHON" >/dev/null || die "no $PYTHON (use --python)"
TORCH_INFO="$("$PYTHON" - <<'EOF'
import os, torch, torch.utils
print(torch.utils.cmake_prefix_path)
print(os.path.join(os.path.dirname(torch.__file__), "lib"))
print(torch.__version__)
print(torch.version.cuda or "")
print(int(torch._C._GLIBCXX_USE_CXX11_ABI))
EOF
)" || die "$PYTHON cannot import torch"
{ read -r TORCH_PREFIX; read -r TORCH_LIB; read -r TORCH_VERSION; read -r TORCH_CUDA; read -r TORCH_ABI; } <<< "$TORCH_INFO"
[ -n "$TORCH_CUDA" ] || die "torch $TORCH_VERSION is a CPU build; install a CUDA build of PyTorch"
# The Debian libraries (gRPC, Abseil, ...) use the C++11 std::string ABI;
# PyTorch wheels before 2.7 were built with the old one and cannot be mixed.
[ "$TORCH_ABI" = "1" ] || die "torch $TORCH_VERSION uses the pre-C++11 ABI (_GLIBCXX_USE_CXX11_ABI=0); use torch >= 2.7"
echo "build-gpu: torch $TORCH_VERSION (CUDA $TORCH_CUDA) from $TORCH_PREFIX"

# ---- nvcc ----
NVCC="${CUDACXX:-}"
if [ -z "$NVCC" ]; then
  if command -v nvcc >/dev/null; then NVCC="$(command -v nvcc)";
  elif [ -x /usr/local/cuda/bin/nvcc ]; then NVCC=/usr/local/cuda/bin/nvcc;
  else die "no nvcc: install the CUDA toolkit or set CUDACXX"; fi
fi
echo "build-gpu: $("$NVCC" --version | tail -1)"

GENERATOR=()
if command -v ninja >/dev/null; then GENERATOR=(-G Ninja); fi
PREFIX_PATH="${DEB_PREFIXES:+$DEB_PREFIXES;}$TORCH_PREFIX"
# Torch's CMake reads the architecture list for its own CUDA flags: keep it
# consistent with ours ("90a" -> "9.0a").
TORCH_ARCHS="$(echo "$ARCH" | sed -E 's/([0-9])([0-9a-z]+)/\1.\2/g; s/[;,]/;/g')"

set -x
cmake -S "$ROOT" -B "$BUILD" "${GENERATOR[@]}" \
  -DCMAKE_PREFIX_PATH="$PREFIX_PATH" \
  -DCMAKE_CUDA_COMPILER="$NVCC" \
  -DCMAKE_CUDA_ARCHITECTURES="$ARCH" \
  -DTORCH_CUDA_ARCH_LIST="$TORCH_ARCHS" \
  -DEQAT_CUDA=ON \
  -DEQAT_BUILD_SERVICE="$SERVICE" \
  "${EXTRA[@]}"
if [ -n "$TARGETS" ]; then
  # shellcheck disable=SC2086  # a list of target names
  cmake --build "$BUILD" -j "$JOBS" --target $TARGETS
else
  cmake --build "$BUILD" -j "$JOBS"
fi
set +x

RUNTIME_LD="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ "$RUN_TESTS" = 1 ]; then
  LD_LIBRARY_PATH="$RUNTIME_LD" "$BUILD/tests/eqat_cuda_tests"
fi
if [ "$RUN_BENCH" = 1 ]; then
  LD_LIBRARY_PATH="$RUNTIME_LD" "$BUILD/bench/gemv_bench"
fi

echo "build-gpu: built in $BUILD. To run its binaries from a shell:"
echo "  export LD_LIBRARY_PATH=$RUNTIME_LD"
if [ -n "$DEBS" ]; then echo "  export PATH=$U/bin:\$PATH"; fi
