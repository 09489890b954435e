#include "kernels/v1_zero_refit.h"

#include <limits>

namespace eqat::kernels {

V1Refit RefitZeroPointsForV1(PackedLinear* p) {
  V1Refit r;
  UnpackedCodes c = UnpackCodes(*p);  // q [out, in], zero [out, G]
  const int64_t out = p->out_features, G = p->num_groups(), g = p->group();
  const int qmax = (1 << p->bits) - 1;
  auto zero = c.zero.to(torch::kLong);                                        // [out, G]
  auto zero_groups = zero.eq(0);
  if (!zero_groups.any().item<bool>()) return r;
  auto q = c.q.to(torch::kLong).reshape({out, G, g});                         // [out, G, g]
  auto scale = p->scales.detach().to(torch::kHalf).to(torch::kFloat).t().contiguous();  // [out, G]
  auto top = q.amax(2).eq(qmax);
  auto shift = zero_groups.logical_and(top.logical_not());
  auto rescale = zero_groups.logical_and(top);
  r.shifted = shift.sum().item<int64_t>();
  r.rescaled = rescale.sum().item<int64_t>();

  // Shift: (q + 1) - 1 == q with the same scale.
  q = torch::where(shift.unsqueeze(2), q + 1, q);
  if (r.rescaled > 0) {
    auto w = q.index({rescale}).to(torch::kFloat) * scale.index({rescale}).unsqueeze(1);  // [n, g]
    auto s0 = scale.index({rescale}).unsqueeze(1);                                        // [n, 1]
    auto best_err = torch::full({r.rescaled}, std::numeric_limits<float>::infinity());
    auto best_q = torch::zeros_like(w, torch::kLong);
    auto best_s = s0.squeeze(1).clone();
    const int kCandidates = 21;
    const double widest = static_cast<double>(qmax) / (qmax - 1);
    for (int k = 0; k < kCandidates; ++k) {
      double t = 1.0 + (widest - 1.0) * k / (kCandidates - 1);
      auto s = (s0 * t).to(torch::kHalf).to(torch::kFloat);
      auto qn = (w / s).round().add(1).clamp(0, qmax);
      auto err = ((qn - 1) * s - w).square().sum(1);
      auto better = err.lt(best_err);
      best_err = torch::where(better, err, best_err);
      best_q = torch::where(better.unsqueeze(1), qn.to(torch::kLong), best_q);
      best_s = torch::where(better, s.squeeze(1), best_s);
    }
    r.squared_error = best_err.sum().item<double>();
    q.index_put_({rescale}, best_q);
    scale.index_put_({rescale}, best_s);
  }
  zero = torch::where(zero_groups, torch::ones_like(zero), zero);
  torch::Tensor bias = p->bias;
  *p = PackLinear(q.reshape({out, p->in_features}).to(torch::kUInt8), zero.to(torch::kUInt8),
                  scale, QuantSpec{p->bits, p->group_size});
  p->bias = bias;
  return r;
}

}  // namespace eqat::kernels
