// AutoAWQ's "gemm" tensor layout for 4-bit asymmetric linears, converted to
// and from eqat's in-memory GPTQ layout (kernels/packed_linear.h):
//   qweight int32   [in, out/8]  eight 4-bit codes per word along out_features
//   qzeros  int32   [G,  out/8]  the zero points, packed the same way
//   scales  float16 [G,  out]
// Within a word, nibble i (bits 4i..4i+3) holds column 8c + kAwqOrder[i] of
// its group of eight columns; dequantisation is W = (q - z) * s, zero points
// stored as is. Written from the layout AutoAWQ's pack and unpack code (and
// vLLM's awq_marlin repack) read; no code of theirs is used.
// Only 4 bits and out_features divisible by 8 can be held.
// Thread-safe: pure functions.
#ifndef EQAT_KERNELS_AWQ_LAYOUT_H_
#define EQAT_KERNELS_AWQ_LAYOUT_H_

#include <torch/torch.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/packed_linear.h"

namespace eqat::kernels {

inline constexpr int kAwqOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};

struct AwqTensors {
  torch::Tensor qweight;  // int32 [in, out/8]
  torch::Tensor qzeros;   // int32 [G, out/8]
  torch::Tensor scales;   // float16 [G, out]
};

// InvalidArgument naming `what` unless bits == 4 and out % 8 == 0.
absl::Status CheckAwqFits(int bits, int64_t out_features, const std::string& what);

// Codes [rows, cols] (values < 16, cols % 8 == 0) to int32 [rows, cols/8] in
// AWQ's interleaved order, and back.
torch::Tensor PackAwqInt4(const torch::Tensor& codes);
torch::Tensor UnpackAwqInt4(const torch::Tensor& packed, int64_t cols);

// REQUIRES: CheckAwqFits(p.bits, p.out_features, ...) is OK.
AwqTensors ToAwq(const PackedLinear& p);

// The three AWQ tensors of one linear, checked against `in`/`out`/group.
absl::StatusOr<PackedLinear> FromAwq(const AwqTensors& t, int group_size, int64_t in_features,
                                     int64_t out_features, const std::string& what);

}  // namespace eqat::kernels

#endif  // EQAT_KERNELS_AWQ_LAYOUT_H_
