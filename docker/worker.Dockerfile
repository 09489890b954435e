# syntax=docker/dockerfile:1
# eqat worker image: CUDA build against the CUDA LibTorch of a pip-installed
# PyTorch, the same recipe as scripts/build-gpu.sh (that script is the source of
# truth for the GPU build: when its flags change, change the cmake line here).
#
#   docker build -f docker/worker.Dockerfile -t eqat-worker .             # from the repo root
#   docker run --rm --network eqat --ip 172.28.0.10 --gpus '"device=0"' -v /srv/eqat:/data \
#     eqat-worker --coordinator eqat-coordinator:50051 --listen 172.28.0.10:7070 \
#                 --metrics-listen 0.0.0.0:9090 --device cuda:0     (see docker/README.md)
#
# Assumptions (check them when bumping versions):
#  - Base: nvidia/cuda:${CUDA_VERSION}-devel-ubuntu24.04 to build (nvcc for the
#    eqat kernels and for Torch's CMake config), -runtime- of the same version
#    to run. Ubuntu 24.04 ships the same library set as Debian 12's
#    install-deps.sh list (gRPC, protobuf, Abseil, prometheus-cpp, SQLite,
#    sentencepiece), in newer versions.
#  - Debian/Ubuntu's libtorch-dev is CPU-only, so LibTorch comes from the
#    PyTorch wheel (torch/share/cmake, found through torch.utils.cmake_prefix_path).
#    TORCH_VERSION must have a wheel for TORCH_INDEX_URL's CUDA (cu130: torch
#    >= 2.9) and must be built with the C++11 ABI (all wheels since torch 2.7),
#    because Ubuntu's gRPC/Abseil/protobuf are; the build stage asserts it.
#  - The wheel's CUDA libraries (cuBLAS, cuDNN, NCCL, ...) are the nvidia-*
#    wheels it depends on; LibTorch finds them through its $ORIGIN RPATHs, so
#    the runtime stage keeps site-packages/{torch/lib,nvidia} at the same path
#    (the eqat binaries' build RPATH points there too).
#  - CMake from PyPI (3.31.x; 4.x drops compatibility that older package
#    config files may rely on) instead of Ubuntu's 3.28, which predates CUDA 13.
#  - kernels/ links CUDA::cudart and CUDA::cublas from /usr/local/cuda (the
#    -runtime image has both); the torch wheel brings its own copies of the
#    same sonames, so keep CUDA_VERSION's major equal to the wheel's (cu130).
#  - CUDA_ARCHITECTURES defaults to 90 (H100/H200); "80;90" adds A100.
#  - The host has the NVIDIA driver + container toolkit (libcuda.so.1 is
#    injected at run time, so it may be missing at build time).
# Network: the build downloads the wheels (PyPI and download.pytorch.org).

ARG CUDA_VERSION=13.0.0
ARG UBUNTU_VERSION=ubuntu24.04

# ---- build -------------------------------------------------------------------
FROM nvidia/cuda:${CUDA_VERSION}-devel-${UBUNTU_VERSION} AS build
ARG DEBIAN_FRONTEND=noninteractive
ARG TORCH_VERSION=2.9.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu130
ARG CUDA_ARCHITECTURES=90
# Torch's CMake config reads this instead of probing a GPU (none at build time).
ARG TORCH_CUDA_ARCH_LIST=9.0

RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential ninja-build pkg-config \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libabsl-dev \
      prometheus-cpp-dev \
      libsqlite3-dev \
      libsentencepiece-dev \
      python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*

RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir "cmake>=3.31,<4" \
 && /opt/venv/bin/pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}" \
 && /opt/venv/bin/python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cxx11abi', torch.compiled_with_cxx11_abi()); assert torch.version.cuda, 'CPU-only wheel'; assert torch.compiled_with_cxx11_abi(), 'wheel built without the C++11 ABI'"

WORKDIR /src
# What is sent is trimmed by docker/worker.Dockerfile.dockerignore.
COPY . .
ENV PATH=/opt/venv/bin:/usr/local/cuda/bin:$PATH \
    TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST}
RUN TORCH_PREFIX="$(python -c 'import torch; print(torch.utils.cmake_prefix_path)')" \
 && cmake -S . -B /build -G Ninja \
      -DCMAKE_BUILD_TYPE=Release \
      -DEQAT_CUDA=ON \
      -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc \
      -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHITECTURES}" \
      -DCMAKE_PREFIX_PATH="${TORCH_PREFIX}" \
      -DEQAT_BUILD_SERVICE=ON \
      -DEQAT_BUILD_TESTS=OFF \
      -DEQAT_BUILD_BENCH=OFF \
 && cmake --build /build -j "$(nproc)"

# Stage what runs: the binaries, the sentencepiece shim, the runtime library
# list, and the wheel's shared libraries at their original absolute paths.
ARG EQAT_BINARIES="worker/eqat-worker client/eqat"
RUN set -eu; \
    mkdir -p /opt/eqat/bin /opt/eqat/lib /staging; \
    test -x /build/worker/eqat-worker; \
    for b in ${EQAT_BINARIES}; do \
      if [ -x "/build/$b" ]; then install -m 0755 "/build/$b" /opt/eqat/bin/; \
      else echo "note: /build/$b was not built; skipped"; fi; \
    done; \
    install -m 0644 /build/common/libeqat_spm.so /opt/eqat/lib/; \
    SITE="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"; \
    cp -a --parents "$SITE/torch/lib" /staging/; \
    if [ -d "$SITE/nvidia" ]; then cp -a --parents "$SITE/nvidia" /staging/; fi; \
    SKIP_LIB_PREFIXES="/opt/venv:/usr/local/cuda" \
      bash docker/runtime-packages.sh /opt/eqat/bin/* /opt/eqat/lib/libeqat_spm.so \
      > /opt/eqat/runtime-packages.txt; \
    echo "runtime packages:"; cat /opt/eqat/runtime-packages.txt; \
    install -m 0755 docker/healthcheck.sh /opt/eqat/bin/eqat-healthcheck

# ---- runtime -----------------------------------------------------------------
FROM nvidia/cuda:${CUDA_VERSION}-runtime-${UBUNTU_VERSION}
ARG DEBIAN_FRONTEND=noninteractive
COPY --from=build /staging/ /
COPY --from=build /opt/eqat /opt/eqat
# The nvidia/cuda images already have a "ubuntu" user with uid 1000; eqat gets
# 10001 like the coordinator image, so shared volumes see one owner.
RUN apt-get update \
 && xargs -a /opt/eqat/runtime-packages.txt apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 eqat \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/eqat --shell /usr/sbin/nologin eqat \
 && install -d -o 10001 -g 10001 /var/lib/eqat /data /scratch \
 && for f in /opt/eqat/bin/eqat-worker /opt/eqat/bin/eqat /opt/eqat/lib/libeqat_spm.so; do \
      [ -e "$f" ] || continue; \
      if ldd "$f" | grep -F 'not found' | grep -v -E 'libcuda\.so|libnvidia-ml\.so'; then \
        echo "unresolved libraries in $f" >&2; exit 1; \
      fi; \
    done

ENV PATH=/opt/eqat/bin:$PATH \
    EQAT_SPM_SHIM=/opt/eqat/lib/libeqat_spm.so \
    EQAT_HEALTH_ADDR=127.0.0.1:9090 \
    TMPDIR=/scratch \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER 10001:10001
WORKDIR /var/lib/eqat
# 7070: activation data port (--listen); 9090: /metrics and /healthz.
EXPOSE 7070 9090
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/opt/eqat/bin/eqat-healthcheck"]
# No default arguments: --listen must be an address the other workers can
# reach (the worker registers it with the coordinator), so it is per container.
ENTRYPOINT ["/opt/eqat/bin/eqat-worker"]
