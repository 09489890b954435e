#!/usr/bin/env bash
# Installs every Debian 12 package eqat needs to build, run and test.
# Idempotent: packages already present are skipped by apt-get. apt-get only.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libopenblas0-pthread
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev
  nlohmann-json3-dev
  libgtest-dev libgmock-dev googletest
  prometheus-cpp-dev
  libsqlite3-dev
  libsentencepiece-dev
  libpcre2-dev libutf8proc-dev
  prometheus
  procps time
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# prometheus pulls a daemon; we never start the system service, only run the binary.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
