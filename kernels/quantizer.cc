#include "kernels/quantizer.h"

#include "absl/strings/str_cat.h"
#include "kernels/pack.h"

namespace eqat::kernels {
namespace {

torch::Tensor RoundSte(const torch::Tensor& x) { return (x.round() - x).detach() + x; }

// [out, in] -> [out, G, g]
torch::Tensor Grouped(const torch::Tensor& w, int64_t g) {
  return w.reshape({w.size(0), w.size(1) / g, g});
}

}  // namespace

int64_t GroupSize(const QuantSpec& spec, int64_t in_features) {
  return spec.group_size > 0 ? spec.group_size : in_features;
}

int64_t NumGroups(const QuantSpec& spec, int64_t in_features) {
  return in_features / GroupSize(spec, in_features);
}

QuantParams InitMinMax(const torch::Tensor& w, const QuantSpec& spec) {
  torch::NoGradGuard ng;
  int64_t g = GroupSize(spec, w.size(1));
  auto wg = Grouped(w.to(torch::kFloat), g);
  auto mn = std::get<0>(wg.min(-1));
  auto mx = std::get<0>(wg.max(-1));
  auto scale = ((mx - mn) / static_cast<double>(QMax(spec.bits))).clamp(1e-4, 1e4);
  auto zero = (-mn / scale).clamp(-1e4, 1e4).round();
  return {scale.contiguous(), zero.contiguous()};
}

torch::Tensor FakeQuantize(const torch::Tensor& w, const torch::Tensor& scale,
                           const torch::Tensor& zero, const QuantSpec& spec) {
  int64_t g = GroupSize(spec, w.size(1));
  double qmax = QMax(spec.bits);
  auto zr = RoundSte(zero);
  zr = (zr.clamp(0, qmax) - zr).detach() + zr;  // clamp_ste
  auto s = scale.unsqueeze(-1);
  auto z = zr.unsqueeze(-1);
  auto q = (RoundSte(Grouped(w, g) / s) + z).clamp(0, qmax);
  return ((q - z) * s).reshape(w.sizes());
}

IntCodes QuantizeToInt(const torch::Tensor& w, const torch::Tensor& scale,
                       const torch::Tensor& zero, const QuantSpec& spec) {
  torch::NoGradGuard ng;
  int64_t g = GroupSize(spec, w.size(1));
  double qmax = QMax(spec.bits);
  auto z = zero.detach().to(torch::kFloat).round().clamp(0, qmax);
  auto q = ((Grouped(w.detach().to(torch::kFloat), g) / scale.detach().unsqueeze(-1)).round() +
            z.unsqueeze(-1))
               .clamp(0, qmax);
  return {q.reshape(w.sizes()).to(torch::kUInt8), z.to(torch::kUInt8)};
}

torch::Tensor DequantizeInt(const torch::Tensor& q, const torch::Tensor& zero,
                            const torch::Tensor& scale, int64_t group_size) {
  auto qg = Grouped(q.to(torch::kFloat), group_size);
  auto w = (qg - zero.to(torch::kFloat).unsqueeze(-1)) * scale.unsqueeze(-1);
  return w.reshape(q.sizes());
}

}  // namespace eqat::kernels
