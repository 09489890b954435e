#include "kernels/packed_linear.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/pack.h"

namespace eqat::kernels {
namespace {

std::string ShapeStr(const torch::Tensor& t) {
  return absl::StrCat("[", absl::StrJoin(t.sizes(), ","), "]");
}

// Vectorised bitstream read along dim 0 of `packed` int32 [R, C]: returns
// int64 [n, C] values of `bits` bits.
torch::Tensor UnpackAlongDim0(const torch::Tensor& packed, int64_t n, int bits) {
  auto words = packed.to(torch::kLong).bitwise_and(static_cast<int64_t>(0xFFFFFFFFLL));  // unsigned
  int64_t rows = words.size(0);
  auto k = torch::arange(n, torch::kLong);
  auto pos = k * bits;
  auto w = pos.floor_divide(32);
  auto off = (pos - w * 32).unsqueeze(1);
  auto w_next = (w + 1).clamp_max(rows - 1);
  auto lo = words.index_select(0, w);
  auto hi = words.index_select(0, w_next);
  auto combined = lo.bitwise_or(hi.bitwise_left_shift(32));
  return combined.bitwise_right_shift(off).bitwise_and(static_cast<int64_t>((1LL << bits) - 1));
}

}  // namespace

absl::Status CheckTensor(const torch::Tensor& t, const std::string& what, const char* name,
                         const std::vector<int64_t>& want,
                         const std::vector<torch::ScalarType>& dtypes) {
  if (!t.defined()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ".", name, ": missing tensor"));
  }
  if (t.sizes() != torch::IntArrayRef(want)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ".", name, ": shape ", ShapeStr(t),
                                                   ", expected [", absl::StrJoin(want, ","),
                                                   "]"));
  }
  for (auto d : dtypes) {
    if (t.scalar_type() == d) return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat(what, ".", name, ": dtype ", std::string(c10::toString(t.scalar_type())),
                   " is not accepted"));
}

int64_t PackedLinear::num_groups() const { return in_features / group(); }

PackedLinear PackLinear(const torch::Tensor& q, const torch::Tensor& zero,
                        const torch::Tensor& scale, const QuantSpec& spec) {
  PackedLinear p;
  p.bits = spec.bits;
  p.group_size = spec.group_size;
  p.out_features = q.size(0);
  p.in_features = q.size(1);
  int64_t G = NumGroups(spec, p.in_features);
  // qweight: values along `in` for each output column -> transpose to [in, out].
  auto qt = q.to(torch::kUInt8).t().contiguous();
  p.qweight = torch::empty({PackedLength(p.in_features, spec.bits), p.out_features}, torch::kInt);
  PackRows(qt.data_ptr<uint8_t>(), p.in_features, p.out_features, spec.bits,
           p.qweight.data_ptr<int32_t>());
  auto zt = zero.to(torch::kUInt8).t().contiguous();  // [G, out]
  p.qzeros = torch::empty({G, PackedLength(p.out_features, spec.bits)}, torch::kInt);
  PackCols(zt.data_ptr<uint8_t>(), G, p.out_features, spec.bits, p.qzeros.data_ptr<int32_t>());
  p.scales = scale.detach().to(torch::kFloat).t().contiguous().to(torch::kHalf);
  p.g_idx = torch::arange(p.in_features, torch::kInt).floor_divide(p.group()).to(torch::kInt);
  return p;
}

absl::Status ValidatePacked(const PackedLinear& p, const std::string& what) {
  if (!IsSupportedBits(p.bits)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": bits ", p.bits, " not supported"));
  }
  if (p.in_features <= 0 || p.out_features <= 0 ||
      (p.group_size > 0 && p.in_features % p.group_size != 0)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": group_size ", p.group_size,
                                                   " does not divide in_features ",
                                                   p.in_features));
  }
  int64_t G = p.num_groups();
  auto check = [&](const torch::Tensor& t, const char* name, std::vector<int64_t> want,
                   std::vector<torch::ScalarType> dtypes) {
    return CheckTensor(t, what, name, want, dtypes);
  };
  absl::Status st = check(p.qweight, "qweight", {PackedLength(p.in_features, p.bits), p.out_features},
                          {torch::kInt});
  if (st.ok()) st = check(p.qzeros, "qzeros", {G, PackedLength(p.out_features, p.bits)}, {torch::kInt});
  if (st.ok()) st = check(p.scales, "scales", {G, p.out_features}, {torch::kHalf, torch::kFloat});
  if (st.ok()) st = check(p.g_idx, "g_idx", {p.in_features}, {torch::kInt});
  if (st.ok()) {
    auto expect = torch::arange(p.in_features, torch::kInt).floor_divide(p.group());
    if (!torch::equal(p.g_idx.to(torch::kInt), expect.to(torch::kInt))) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ".g_idx: not the identity grouping k/group (act-order models are not supported)"));
    }
  }
  if (st.ok() && p.bias.defined() && p.bias.numel() != p.out_features) {
    return absl::InvalidArgumentError(absl::StrCat(what, ".bias: shape ", ShapeStr(p.bias)));
  }
  return st;
}

UnpackedCodes UnpackCodes(const PackedLinear& p) {
  auto qw = p.qweight.contiguous();
  auto qt = torch::empty({p.in_features, p.out_features}, torch::kUInt8);
  UnpackRows(qw.data_ptr<int32_t>(), p.in_features, p.out_features, p.bits, qt.data_ptr<uint8_t>());
  auto qz = p.qzeros.contiguous();
  int64_t G = p.num_groups();
  auto zt = torch::empty({G, p.out_features}, torch::kUInt8);
  UnpackCols(qz.data_ptr<int32_t>(), G, p.out_features, p.bits, zt.data_ptr<uint8_t>());
  return {qt.t().contiguous(), zt.t().contiguous()};
}

torch::Tensor UnpackQWeight(const PackedLinear& p) {
  return UnpackAlongDim0(p.qweight, p.in_features, p.bits).t().to(torch::kShort);
}

torch::Tensor UnpackQZeros(const PackedLinear& p) {
  return UnpackAlongDim0(p.qzeros.t().contiguous(), p.out_features, p.bits).t().to(torch::kFloat);
}

torch::Tensor DequantizeWeight(const PackedLinear& p) {
  auto q = UnpackQWeight(p).to(torch::kFloat);              // [out, in]
  auto z = UnpackQZeros(p).t();                              // [out, G]
  auto s = p.scales.to(torch::kFloat).t();                   // [out, G]
  int64_t g = p.group();
  auto w = (q.reshape({p.out_features, p.num_groups(), g}) - z.unsqueeze(-1)) * s.unsqueeze(-1);
  return w.reshape({p.out_features, p.in_features});
}

torch::Tensor DequantMatmul(const torch::Tensor& x, const PackedLinear& p) {
  auto w = DequantizeWeight(p);
  return p.bias.defined() ? torch::nn::functional::linear(x, w, p.bias)
                          : torch::nn::functional::linear(x, w);
}

torch::Tensor QZerosToV1(const PackedLinear& p) {
  auto z = UnpackCodes(p).zero;  // [out, G]
  int mask = (1 << p.bits) - 1;
  auto v1 = (z.to(torch::kInt) - 1).bitwise_and(mask).to(torch::kUInt8).t().contiguous();
  int64_t G = p.num_groups();
  auto out = torch::empty({G, PackedLength(p.out_features, p.bits)}, torch::kInt);
  PackCols(v1.data_ptr<uint8_t>(), G, p.out_features, p.bits, out.data_ptr<int32_t>());
  return out;
}

torch::Tensor QZerosFromV1(const torch::Tensor& qzeros_v1, int bits, int64_t groups,
                           int64_t out_features) {
  auto src = qzeros_v1.to(torch::kInt).contiguous();
  auto z = torch::empty({groups, out_features}, torch::kUInt8);
  UnpackCols(src.data_ptr<int32_t>(), groups, out_features, bits, z.data_ptr<uint8_t>());
  int mask = (1 << bits) - 1;
  auto v2 = (z.to(torch::kInt) + 1).bitwise_and(mask).to(torch::kUInt8).contiguous();
  auto out = torch::empty({groups, PackedLength(out_features, bits)}, torch::kInt);
  PackCols(v2.data_ptr<uint8_t>(), groups, out_features, bits, out.data_ptr<int32_t>());
  return out;
}

}  // namespace eqat::kernels
