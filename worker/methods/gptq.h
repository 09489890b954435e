// GPTQ baseline (Frantar et al., 2022): second-order weight rounding with
// error compensation, asymmetric groups, no act-order.
//   H = 2/N * sum x x^T over calibration inputs of the linear
//   H += damp * mean(diag H) * I; dead inputs (diag 0) get H_ii = 1, W_:i = 0
//   U = chol(H^-1) (upper); columns quantized left to right in blocks of
//   `block_size`, each column's error (w - q)/U_ii spread over the columns to
//   its right through U; group parameters (min/max) taken from the
//   error-updated weights when a group starts.
// Thread-safety: pure functions / per-object state.
#ifndef EQAT_WORKER_METHODS_GPTQ_H_
#define EQAT_WORKER_METHODS_GPTQ_H_

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "kernels/quantizer.h"
#include "worker/methods/activation_store.h"
#include "worker/model/llama_model.h"

namespace eqat {

struct GptqOptions {
  double damp = 0.01;       // fraction of mean(diag H) added to the diagonal
  int64_t block_size = 128; // columns per lazy-update block
};

// Running mean of 2 x x^T over rows of x [..., in] (fp32 accumulation).
class HessianAccumulator {
 public:
  explicit HessianAccumulator(int64_t in_features);
  void Add(const torch::Tensor& x);
  torch::Tensor hessian() const { return h_; }
  int64_t samples() const { return n_; }

 private:
  torch::Tensor h_;
  int64_t n_ = 0;
};

struct GptqResult {
  torch::Tensor weight_q;  // fp32 [out, in], dequantised result (for checks)
  torch::Tensor scale;     // fp32 [out, G]
  torch::Tensor zero;      // fp32 [out, G] (integer valued, within range)
};

// Quantizes w [out, in] given Hessian h [in, in]. Internal if the Hessian
// stays not positive definite after raising damping 5 times.
absl::StatusOr<GptqResult> GptqQuantize(const torch::Tensor& w, const torch::Tensor& h,
                                        const kernels::QuantSpec& spec,
                                        const GptqOptions& options);

// True-sequential GPTQ of one block on calibration inputs [N, T, hidden]:
// q/k/v, then o, then gate/up, then down, re-running the partially quantized
// block before each stage. Every linear ends in Mode::kPacked.
absl::Status QuantizeBlockGptq(Block* block, const ModelConfig& config, const ActivationStore& x,
                               const kernels::QuantSpec& spec, const GptqOptions& options,
                               int64_t batch_size);

}  // namespace eqat

#endif  // EQAT_WORKER_METHODS_GPTQ_H_
