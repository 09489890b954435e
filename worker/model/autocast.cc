#include "worker/model/autocast.h"

#include <ATen/autocast_mode.h>

namespace eqat {

TrainPrecision ParseTrainPrecision(const std::string& name) {
  if (name == "fp16") return TrainPrecision::kFp16;
  if (name == "bf16") return TrainPrecision::kBf16;
  return TrainPrecision::kFp32;
}

AutocastGuard::AutocastGuard(bool enabled, const torch::Device& device) {
  if (enabled) Enable(at::kBFloat16, device);
}

AutocastGuard::AutocastGuard(TrainPrecision precision, const torch::Device& device) {
  if (precision == TrainPrecision::kBf16) Enable(at::kBFloat16, device);
  if (precision == TrainPrecision::kFp16) Enable(at::kHalf, device);
}

void AutocastGuard::Enable(at::ScalarType dtype, const torch::Device& device) {
  if (!device.is_cuda()) return;
  active_ = true;
  prev_enabled_ = at::autocast::is_enabled();
  prev_dtype_ = at::autocast::get_autocast_gpu_dtype();
  at::autocast::set_enabled(true);
  at::autocast::set_autocast_gpu_dtype(dtype);
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  at::autocast::set_autocast_gpu_dtype(prev_dtype_);
  at::autocast::set_enabled(prev_enabled_);
  if (!prev_enabled_) at::autocast::clear_cache();
}

}  // namespace eqat
