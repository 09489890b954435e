#include "kernels/awq_layout.h"

#include "absl/strings/str_cat.h"
#include "kernels/pack.h"

namespace eqat::kernels {
namespace {

// int64 words holding 32-bit patterns -> int32 with the same bits.
torch::Tensor WrapToInt32(const torch::Tensor& words) {
  auto w = words.bitwise_and(static_cast<int64_t>(0xFFFFFFFFLL));
  w = torch::where(w.ge(int64_t{1} << 31), w - (int64_t{1} << 32), w);
  return w.to(torch::kInt);
}

}  // namespace

absl::Status CheckAwqFits(int bits, int64_t out_features, const std::string& what) {
  if (bits != 4) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": AWQ holds only 4-bit weights, not ", bits, "-bit"));
  }
  if (out_features % 8 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": AWQ packs 8 output features per word; out_features ", out_features,
        " is not a multiple of 8"));
  }
  return absl::OkStatus();
}

torch::Tensor PackAwqInt4(const torch::Tensor& codes) {
  auto v = codes.to(torch::kLong).contiguous();
  int64_t rows = v.size(0), cols = v.size(1);
  auto grouped = v.reshape({rows, cols / 8, 8});
  auto acc = torch::zeros({rows, cols / 8}, torch::kLong);
  for (int i = 0; i < 8; ++i) {
    acc = acc.bitwise_or(grouped.select(2, kAwqOrder[i]).bitwise_left_shift(4 * i));
  }
  return WrapToInt32(acc);
}

torch::Tensor UnpackAwqInt4(const torch::Tensor& packed, int64_t cols) {
  auto w = packed.to(torch::kLong).bitwise_and(static_cast<int64_t>(0xFFFFFFFFLL));
  int64_t rows = w.size(0);
  auto out = torch::empty({rows, cols / 8, 8}, torch::kLong);
  for (int i = 0; i < 8; ++i) {
    out.select(2, kAwqOrder[i]).copy_(w.bitwise_right_shift(4 * i).bitwise_and(15));
  }
  return out.reshape({rows, cols}).to(torch::kUInt8);
}

AwqTensors ToAwq(const PackedLinear& p) {
  UnpackedCodes c = UnpackCodes(p);  // q [out, in], zero [out, G]
  AwqTensors t;
  t.qweight = PackAwqInt4(c.q.t().contiguous());
  t.qzeros = PackAwqInt4(c.zero.t().contiguous());
  t.scales = p.scales.detach().to(torch::kHalf).contiguous();
  return t;
}

absl::StatusOr<PackedLinear> FromAwq(const AwqTensors& t, int group_size, int64_t in_features,
                                     int64_t out_features, const std::string& what) {
  absl::Status st = CheckAwqFits(4, out_features, what);
  if (!st.ok()) return st;
  if (group_size > 0 && in_features % group_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": group_size ", group_size,
                                                   " does not divide in_features ", in_features));
  }
  const int64_t G = group_size > 0 ? in_features / group_size : 1;
  st = CheckTensor(t.qweight, what, "qweight", {in_features, out_features / 8}, {torch::kInt});
  if (st.ok()) st = CheckTensor(t.qzeros, what, "qzeros", {G, out_features / 8}, {torch::kInt});
  if (st.ok()) {
    st = CheckTensor(t.scales, what, "scales", {G, out_features}, {torch::kHalf, torch::kFloat});
  }
  if (!st.ok()) return st;
  auto q = UnpackAwqInt4(t.qweight, out_features).t().contiguous();  // [out, in]
  auto z = UnpackAwqInt4(t.qzeros, out_features).t().contiguous();   // [out, G]
  PackedLinear p = PackLinear(q, z, t.scales.to(torch::kFloat).t(), QuantSpec{4, group_size});
  return p;
}

}  // namespace eqat::kernels
