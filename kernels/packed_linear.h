// A quantized linear layer in the GPTQ tensor layout, and its CPU dequant +
// matmul. Names and shapes as stored on disk (design.md "Formats"):
//   qweight int32   [PackedLength(in, bits), out]  in_features packed
//   qzeros  int32   [G, PackedLength(out, bits)]   out_features packed
//   scales  float16 [G, out]
//   g_idx   int32   [in]                            g_idx[k] = k / group
// Zero points are stored as is ("GPTQ v2", EfficientQAT's convention);
// ZerosFormat::kV1 stores (zero - 1) mod 2^bits as older GPTQ loaders expect.
// In memory the scales may be float32 and trainable (E2E-QP).
// Thread-safe: value type; functions do not mutate their inputs.
#ifndef EQAT_KERNELS_PACKED_LINEAR_H_
#define EQAT_KERNELS_PACKED_LINEAR_H_

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "kernels/quantizer.h"

namespace eqat::kernels {

enum class ZerosFormat { kV2, kV1 };

struct PackedLinear {
  int bits = 4;
  int group_size = 128;  // -1: per output channel
  int64_t in_features = 0;
  int64_t out_features = 0;
  torch::Tensor qweight;  // int32
  torch::Tensor qzeros;   // int32 (v2 convention in memory)
  torch::Tensor scales;   // float16 on disk; float32 [G, out] while training
  torch::Tensor g_idx;    // int32 [in]
  torch::Tensor bias;     // float32 [out] or undefined

  int64_t num_groups() const;
  int64_t group() const { return group_size > 0 ? group_size : in_features; }
};

// Packs integer codes. q uint8 [out, in]; zero uint8 [out, G]; scale float
// [out, G] (the quantizer's layout, transposed here to the file layout).
PackedLinear PackLinear(const torch::Tensor& q, const torch::Tensor& zero,
                        const torch::Tensor& scale, const QuantSpec& spec);

// InvalidArgument "<what>.<name>: ..." unless `t` is defined, has shape
// `want` and one of `dtypes`. Shared by every layout's reader.
absl::Status CheckTensor(const torch::Tensor& t, const std::string& what, const char* name,
                         const std::vector<int64_t>& want,
                         const std::vector<torch::ScalarType>& dtypes);

// Checks shapes/dtypes of the four tensors against bits/group/in/out;
// InvalidArgument naming `what` and the offending tensor otherwise.
absl::Status ValidatePacked(const PackedLinear& p, const std::string& what);

// Integer codes back: q uint8 [out, in], zero uint8 [out, G] (CPU reference,
// kernels/pack.h).
struct UnpackedCodes {
  torch::Tensor q;
  torch::Tensor zero;
};
UnpackedCodes UnpackCodes(const PackedLinear& p);

// Vectorised LibTorch unpack of qweight to int codes [out, in] (int16) and
// of qzeros to [G, out] float; used on the hot path of packed models.
torch::Tensor UnpackQWeight(const PackedLinear& p);
torch::Tensor UnpackQZeros(const PackedLinear& p);

// Dequantised weight W [out, in] float32, differentiable w.r.t. p.scales
// (when it requires grad). Reads the packed integers on every call.
torch::Tensor DequantizeWeight(const PackedLinear& p);

// y = x W^T + bias for x [..., in], W dequantised from the packed form.
torch::Tensor DequantMatmul(const torch::Tensor& x, const PackedLinear& p);

// Zero-point conversion between the in-memory v2 words and v1 words.
torch::Tensor QZerosToV1(const PackedLinear& p);
torch::Tensor QZerosFromV1(const torch::Tensor& qzeros_v1, int bits, int64_t groups,
                           int64_t out_features);

}  // namespace eqat::kernels

#endif  // EQAT_KERNELS_PACKED_LINEAR_H_
