# syntax=docker/dockerfile:1
# eqat coordinator image: Debian 12, CPU-only build (-DEQAT_CUDA=OFF).
#
#   docker build -f docker/coordinator.Dockerfile -t eqat-coordinator .   # from the repo root
#   docker run --rm -p 50051:50051 -p 9090:9090 \
#     -v eqat-state:/var/lib/eqat -v /srv/eqat:/data eqat-coordinator
#
# Contents: /opt/eqat/bin/{eqat-coordinator,eqat,eqat-worker}, /opt/eqat/lib/libeqat_spm.so
# (EQAT_SPM_SHIM points at it), /opt/eqat/bin/eqat-healthcheck. The CLI and a
# CPU worker come along (docker run --entrypoint eqat ...); trim them with
# --build-arg EQAT_BINARIES="coordinator/eqat-coordinator" for a smaller image
# (the CLI and worker pull in LibTorch's runtime; eqat-coordinator does not link
# LibTorch, so such an image carries none of it).
# Defaults: gRPC 0.0.0.0:50051, metrics + /healthz 0.0.0.0:9090, state in
# /var/lib/eqat (mount a volume), allowed root /data (mount the shared model /
# output folder there, at the same path as on the workers).
# Runs as uid/gid 10001 (eqat). Package list: scripts/install-deps.sh.

ARG DEBIAN_IMAGE=debian:12

# ---- build -------------------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS build
ARG DEBIAN_FRONTEND=noninteractive
# scripts/install-deps.sh's build + runtime packages, minus what only tests and
# local tooling need (gtest/gmock, ccache, prometheus, procps, time): tests and
# benchmarks are off in this build. binutils (readelf) is in build-essential.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libtorch-dev libopenblas0-pthread \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libabsl-dev \
      prometheus-cpp-dev \
      libsqlite3-dev \
      libsentencepiece-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# What is sent is trimmed by docker/coordinator.Dockerfile.dockerignore.
COPY . .
RUN cmake -S . -B /build -G Ninja \
      -DCMAKE_BUILD_TYPE=Release \
      -DEQAT_CUDA=OFF \
      -DEQAT_BUILD_SERVICE=ON \
      -DEQAT_BUILD_TESTS=OFF \
      -DEQAT_BUILD_BENCH=OFF \
 && cmake --build /build -j "$(nproc)"

# Binaries (relative to the build folder) to ship; the coordinator is required,
# the others are copied when the build produced them.
ARG EQAT_BINARIES="coordinator/eqat-coordinator client/eqat worker/eqat-worker"
RUN set -eu; \
    mkdir -p /opt/eqat/bin /opt/eqat/lib; \
    test -x /build/coordinator/eqat-coordinator; \
    for b in ${EQAT_BINARIES}; do \
      if [ -x "/build/$b" ]; then install -m 0755 "/build/$b" /opt/eqat/bin/; \
      else echo "note: /build/$b was not built; skipped"; fi; \
    done; \
    install -m 0644 /build/common/libeqat_spm.so /opt/eqat/lib/; \
    bash docker/runtime-packages.sh /opt/eqat/bin/* /opt/eqat/lib/libeqat_spm.so \
      > /opt/eqat/runtime-packages.txt; \
    echo "runtime packages:"; cat /opt/eqat/runtime-packages.txt; \
    install -m 0755 docker/healthcheck.sh /opt/eqat/bin/eqat-healthcheck

# ---- runtime -----------------------------------------------------------------
FROM ${DEBIAN_IMAGE}
ARG DEBIAN_FRONTEND=noninteractive
COPY --from=build /opt/eqat /opt/eqat
# The library packages the binaries link against (computed in the build stage
# with docker/runtime-packages.sh), plus OpenBLAS: Debian's LibTorch reaches
# BLAS through the libblas.so.3 alternative, which install-deps.sh points at
# the pthread OpenBLAS.
RUN apt-get update \
 && xargs -a /opt/eqat/runtime-packages.txt \
      apt-get install -y --no-install-recommends libopenblas0-pthread \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 eqat \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/eqat --shell /usr/sbin/nologin eqat \
 && install -d -o 10001 -g 10001 /var/lib/eqat /data \
 && for f in /opt/eqat/bin/eqat-* /opt/eqat/bin/eqat /opt/eqat/lib/libeqat_spm.so; do \
      [ "$f" = /opt/eqat/bin/eqat-healthcheck ] || [ ! -e "$f" ] && continue; \
      if ldd "$f" | grep -F 'not found'; then echo "unresolved libraries in $f" >&2; exit 1; fi; \
    done

ENV PATH=/opt/eqat/bin:$PATH \
    EQAT_SPM_SHIM=/opt/eqat/lib/libeqat_spm.so \
    EQAT_HEALTH_ADDR=127.0.0.1:9090
USER 10001:10001
WORKDIR /var/lib/eqat
# 50051: QuantizationService + Cluster (gRPC); 9090: /metrics and /healthz.
EXPOSE 50051 9090
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/opt/eqat/bin/eqat-healthcheck"]
ENTRYPOINT ["/opt/eqat/bin/eqat-coordinator"]
# TLS material and tokens: mount deploy/make-certs.sh's folder at /etc/eqat/tls.
CMD ["--listen", "0.0.0.0:50051", \
     "--metrics-listen", "0.0.0.0:9090", \
     "--state-dir", "/var/lib/eqat", \
     "--allowed-root", "/data", \
     "--tls-cert", "/etc/eqat/tls/coordinator.pem", \
     "--tls-key", "/etc/eqat/tls/coordinator.key", \
     "--tls-ca", "/etc/eqat/tls/ca.pem", \
     "--token-file", "/etc/eqat/tls/tokens.csv"]
