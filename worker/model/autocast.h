// RAII autocast for CUDA devices (bf16 or fp16); a no-op on the CPU or when
// disabled (CPU bf16 matmuls are slower than fp32 on most CPUs).
// Thread-safety: autocast state is thread-local in LibTorch.
#ifndef EQAT_WORKER_MODEL_AUTOCAST_H_
#define EQAT_WORKER_MODEL_AUTOCAST_H_

#include <torch/torch.h>

#include <string>

namespace eqat {

// The arithmetic of training passes (JobSpec.precision). kFp16 also needs
// loss scaling (worker/methods/loss_scaler.h).
enum class TrainPrecision { kFp32, kBf16, kFp16 };
// "fp16" | "bf16" | anything else -> kFp32 (specs are validated first).
TrainPrecision ParseTrainPrecision(const std::string& name);

class AutocastGuard {
 public:
  // bf16 autocast when `enabled`.
  AutocastGuard(bool enabled, const torch::Device& device);
  AutocastGuard(TrainPrecision precision, const torch::Device& device);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  void Enable(at::ScalarType dtype, const torch::Device& device);
  bool active_ = false;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

}  // namespace eqat

#endif  // EQAT_WORKER_MODEL_AUTOCAST_H_
