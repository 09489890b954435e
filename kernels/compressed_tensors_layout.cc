#include "kernels/compressed_tensors_layout.h"

#include "absl/strings/str_cat.h"
#include "kernels/pack.h"

namespace eqat::kernels {

CompressedTensors ToCompressedTensors(const PackedLinear& p, torch::ScalarType scale_dtype) {
  // GPTQ's qweight is the same bitstream packed along dim 0 of [in, out];
  // compressed-tensors packs along dim 1 of [out, in]: a transpose. The same
  // holds for the zero points with the roles of the dimensions swapped.
  CompressedTensors t;
  t.weight_packed = p.qweight.t().contiguous();
  t.weight_zero_point = p.qzeros.t().contiguous();
  t.weight_scale = p.scales.detach().to(torch::kFloat).t().contiguous().to(scale_dtype);
  t.weight_shape = torch::tensor({p.out_features, p.in_features}, torch::kLong);
  return t;
}

absl::StatusOr<PackedLinear> FromCompressedTensors(const CompressedTensors& t, int bits,
                                                   int group_size, int64_t in_features,
                                                   int64_t out_features,
                                                   const std::string& what) {
  if (!IsSupportedBits(bits)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": num_bits ", bits, " not supported"));
  }
  if (group_size > 0 && in_features % group_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": group_size ", group_size,
                                                   " does not divide in_features ", in_features));
  }
  const int64_t G = group_size > 0 ? in_features / group_size : 1;
  absl::Status st = CheckTensor(t.weight_shape, what, "weight_shape", {2}, {torch::kLong, torch::kInt});
  if (st.ok()) {
    auto shape = t.weight_shape.to(torch::kLong);
    if (shape[0].item<int64_t>() != out_features || shape[1].item<int64_t>() != in_features) {
      st = absl::InvalidArgumentError(absl::StrCat(
          what, ".weight_shape: [", shape[0].item<int64_t>(), ",", shape[1].item<int64_t>(),
          "], expected [", out_features, ",", in_features, "]"));
    }
  }
  if (st.ok()) {
    st = CheckTensor(t.weight_packed, what, "weight_packed", {out_features, PackedLength(in_features, bits)},
               {torch::kInt});
  }
  if (st.ok()) {
    st = CheckTensor(t.weight_zero_point, what, "weight_zero_point",
               {PackedLength(out_features, bits), G}, {torch::kInt});
  }
  if (st.ok()) {
    st = CheckTensor(t.weight_scale, what, "weight_scale", {out_features, G},
               {torch::kHalf, torch::kBFloat16, torch::kFloat});
  }
  if (!st.ok()) return st;
  PackedLinear p;
  p.bits = bits;
  p.group_size = group_size;
  p.in_features = in_features;
  p.out_features = out_features;
  p.qweight = t.weight_packed.t().contiguous();
  p.qzeros = t.weight_zero_point.t().contiguous();
  // Kept in float32: a bfloat16 scale is exact there, not in float16.
  p.scales = t.weight_scale.to(torch::kFloat).t().contiguous();
  p.g_idx = torch::arange(in_features, torch::kInt).floor_divide(p.group()).to(torch::kInt);
  return p;
}

}  // namespace eqat::kernels
