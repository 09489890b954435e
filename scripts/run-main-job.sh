#!/usr/bin/env bash
# The main job on the bundled model: EfficientQAT W2 (Block-AP + E2E-QP) of
# stories260K in one process, then fp vs quantized perplexity on WikiText-2.
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
OUT=${EQAT_OUT:-out/stories260K-w2g-1}
mkdir -p "$(dirname "$OUT")"
exec "$BUILD/client/eqat" quantize \
  --model models/stories260K --out "$OUT" --overwrite \
  --method efficientqat --bits 2 --group -1 \
  --calib data/calib_en.txt --samples 512 --seqlen 256 \
  --e2e-samples 512 --e2e-seqlen 256 --e2e-batch 2 --e2e-accum 1 \
  --eval-text data/wikitext2_test.raw --eval-seqlen 512 --eval-max-windows 200 \
  --json
