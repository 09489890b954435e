#include "worker/model/autocast.h"

#include <ATen/autocast_mode.h>

namespace eqat {

AutocastGuard::AutocastGuard(bool enabled, const torch::Device& device) {
  if (!enabled || !device.is_cuda()) return;
  active_ = true;
  prev_enabled_ = at::autocast::is_enabled();
  at::autocast::set_enabled(true);
  at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  at::autocast::set_enabled(prev_enabled_);
  if (!prev_enabled_) at::autocast::clear_cache();
}

}  // namespace eqat
