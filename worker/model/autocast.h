// RAII bf16 autocast for CUDA devices; a no-op on the CPU or when disabled
// (CPU bf16 matmuls are slower than fp32 on most CPUs).
// Thread-safety: autocast state is thread-local in LibTorch.
#ifndef EQAT_WORKER_MODEL_AUTOCAST_H_
#define EQAT_WORKER_MODEL_AUTOCAST_H_

#include <torch/torch.h>

namespace eqat {

class AutocastGuard {
 public:
  AutocastGuard(bool enabled, const torch::Device& device);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false;
  bool prev_enabled_ = false;
};

}  // namespace eqat

#endif  // EQAT_WORKER_MODEL_AUTOCAST_H_
