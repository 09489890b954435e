// compressed-tensors' "pack-quantized" layout for integer weight-only
// quantization with zero points (W{2,3,4,8}A16, strategy group or channel),
// converted to and from eqat's GPTQ layout (kernels/packed_linear.h):
//   weight_packed      int32 [out, ceil(in*b/32)]  codes along in_features
//   weight_scale       float [out, G] (eqat writes float32)
//   weight_zero_point  int32 [ceil(out*b/32), G]   zero points along out
//   weight_shape       int64 [2] = {out, in}
// Packing is a dense little-endian bitstream (value k at bits [b*k, b*k+b)),
// the same stream as GPTQ's; values are stored offset by 2^(b-1) from the
// signed codes compressed-tensors computes, so the stored field is the
// unsigned code q and the unsigned zero point z, and W = (q - z) * s.
// Written from the layout compressed-tensors' pack_to_int32/unpack_from_int32
// define (0.20); no code of theirs is used.
// Thread-safe: pure functions.
#ifndef EQAT_KERNELS_COMPRESSED_TENSORS_LAYOUT_H_
#define EQAT_KERNELS_COMPRESSED_TENSORS_LAYOUT_H_

#include <torch/torch.h>

#include <string>

#include "absl/status/statusor.h"
#include "kernels/packed_linear.h"

namespace eqat::kernels {

struct CompressedTensors {
  torch::Tensor weight_packed;
  torch::Tensor weight_scale;
  torch::Tensor weight_zero_point;
  torch::Tensor weight_shape;
};

// `scale_dtype`: float32 (what eqat writes), float16 or bfloat16.
CompressedTensors ToCompressedTensors(const PackedLinear& p, torch::ScalarType scale_dtype);

// The four tensors of one linear, checked against bits/group/in/out.
absl::StatusOr<PackedLinear> FromCompressedTensors(const CompressedTensors& t, int bits,
                                                   int group_size, int64_t in_features,
                                                   int64_t out_features,
                                                   const std::string& what);

}  // namespace eqat::kernels

#endif  // EQAT_KERNELS_COMPRESSED_TENSORS_LAYOUT_H_
