// ApiQ (Liao et al. 2024, block-wise variant): per transformer block the
// weights W stay frozen; the quantizer (step sizes s, zero points z,
// min/max initialised) and LoRA factors A [r, in], B [out, r] train
// together, so that the quantized block plus its LoRA path,
//   y = Q(W; s, z) x + (alpha / r) B A x,
// reproduces the full-precision block's output from the quantized chain's
// inputs (the same targets and loop as Block-AP, worker/methods/block_ap.h).
// A starts as PEFT does (Kaiming-uniform, bound 1/sqrt(in), drawn from the
// LibTorch generator, seeded by the stage), B at zero, so training starts
// at the RTN point. s and z take quant_lr, A and B weight_lr. After
// training W is packed with the trained (s, z); A and B stay on the linear
// (Linear::lora_a / lora_b) for the next blocks' inputs, the PEFT adapter
// (worker/model/peft_adapter.h) and --e2e-lora.
// Thread-safety: the method object is immutable.
#ifndef EQAT_WORKER_METHODS_APIQ_H_
#define EQAT_WORKER_METHODS_APIQ_H_

#include "worker/methods/block_ap.h"

namespace eqat {

class ApiqMethod final : public BlockTrainingMethod {
 public:
  ApiqMethod(int rank, double alpha) : rank_(rank), alpha_(alpha) {}
  const char* name() const override { return "apiq"; }
  void Prepare(Block* block, const kernels::QuantSpec& spec, std::vector<torch::Tensor>* quant,
               std::vector<torch::Tensor>* other) const override;
  void Finish(Block* block, const kernels::QuantSpec& spec) const override;

 private:
  int rank_;
  double alpha_;
};

}  // namespace eqat

#endif  // EQAT_WORKER_METHODS_APIQ_H_
