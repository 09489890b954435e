// Dynamic loss scaling for fp16 training (what torch.cuda.amp.GradScaler
// does, which the official EfficientQAT code uses with fp16 autocast): the
// loss is multiplied by a scale before backward; after it the gradients are
// divided by the scale and checked. A step with a non-finite gradient is
// skipped and the scale halved; after `growth_interval` good steps in a row
// the scale doubles. Disabled, it is the identity and never skips.
// Thread-safety: one scaler per training loop.
#ifndef EQAT_WORKER_METHODS_LOSS_SCALER_H_
#define EQAT_WORKER_METHODS_LOSS_SCALER_H_

#include <torch/torch.h>

#include <cmath>
#include <vector>

namespace eqat {

class LossScaler {
 public:
  explicit LossScaler(bool enabled, double init_scale = 65536.0, int64_t growth_interval = 2000)
      : enabled_(enabled), scale_(init_scale), growth_interval_(growth_interval) {}

  bool enabled() const { return enabled_; }
  double scale() const { return enabled_ ? scale_ : 1.0; }
  int64_t skipped() const { return skipped_; }

  torch::Tensor Scale(const torch::Tensor& loss) const { return enabled_ ? loss * scale_ : loss; }

  // Divides the gradients of `params` by the scale. True: take the step.
  // False (a gradient is inf/NaN): skip it; the scale has been halved.
  bool Unscale(const std::vector<torch::Tensor>& params) {
    if (!enabled_) return true;
    torch::NoGradGuard ng;
    std::vector<torch::Tensor> sums;  // one device sync for all of them
    for (const torch::Tensor& p : params) {
      if (!p.grad().defined()) continue;
      p.grad().div_(scale_);
      sums.push_back(p.grad().abs().sum().to(torch::kFloat));
    }
    const bool finite = sums.empty() || std::isfinite(torch::stack(sums).sum().item<double>());
    if (!finite) {
      scale_ *= 0.5;
      good_steps_ = 0;
      ++skipped_;
      return false;
    }
    if (++good_steps_ >= growth_interval_) {
      scale_ *= 2.0;
      good_steps_ = 0;
    }
    return true;
  }

 private:
  bool enabled_;
  double scale_;
  int64_t growth_interval_;
  int64_t good_steps_ = 0;
  int64_t skipped_ = 0;
};

}  // namespace eqat

#endif  // EQAT_WORKER_METHODS_LOSS_SCALER_H_
