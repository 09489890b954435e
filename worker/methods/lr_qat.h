// LR-QAT (Bondarenko et al. 2024, "Low-Rank Quantization-Aware Training for
// LLMs") as a block-wise method (the loop of worker/methods/block_ap.h).
// Per linear, with min/max-initialised step size s0 and zero point z
// (kernels/quantizer.h) and c = alpha / r:
//   Phi0 = phi(W0 / s0)                         frozen, int8 fixed point (below)
//   W^   = s * (clamp(round_ste(Phi0 + c A B) + z, 0, 2^b - 1) - z)
// A [out, r] starts at zero, B [r, in] Kaiming-uniform as PEFT (bound
// 1/sqrt(in), LibTorch generator). s trains (quant_lr), A and B train
// (weight_lr); z = clamp(round(z0), 0, 2^b - 1), the norms and biases are
// frozen; W0 itself is dropped once Phi0 is made. The low-rank term lives in
// the integer domain, so Finish folds it into the codes,
//   q = clamp(round(Phi0 + c A B) + z, 0, 2^b - 1),
// and packs (q, z, s) in the GPTQ layout: no inference overhead.
//
// The downcast phi (the paper's fixed-point option). Phi0 is kept as m, a
// signed T-bit integer (T = 8, int8, for bits <= 6; T = 16, int16, for 8-bit
// weights, whose integer part alone needs 9 bits), with f = T - 1 - bits
// fractional bits (bits 2/3/4 -> f = 5/4/3; bits 8 -> f = 7), on the grid
// offset by half a step:
//   Phi0 = (m + 1/2) * 2^-f,  m = clamp(floor(x * 2^f), -2^(T-1), 2^(T-1) - 1)
// with x = W0 / s0 (computed exactly as the quantizer does). Range:
// |Phi0| <= 2^bits - 2^(bits-T), which covers the whole min/max
// range [-z0, 2^b - 1 - z0] of every group whose z0 lies in [0, 2^b - 1].
// Rounding error: |Phi0 - x| <= 2^-(f+1) (1/16 at 4 bits) inside the range.
// Why offset: every half-integer k + 1/2 is a multiple of 2^-f, so it is
// never a grid point and lies on a cell boundary; round(Phi0) therefore
// equals round(x) for every x in the range. The one exception, x exactly a
// half-integer that round-half-even sends down, is moved one cell down
// (m - 1). Values beyond the range saturate, and their clamped codes are
// still RTN's (saturated Phi0 rounds to +-2^b, beyond the code range for
// any z in [0, 2^b - 1]). So at A B = 0 the codes are exactly RTN's.
//
// Checkpointing (constructor flag): the weight W^ of each linear is built by
// a custom autograd function that keeps only its inputs (int8 Phi0, A, B, s,
// z) and recomputes Phi0 + c A B, the rounding and the clamp mask in the
// backward pass, instead of autograd keeping about two fp32 [out, in]
// intermediates per linear. The gradients are the same.
//
// Thread-safety: NOT thread-safe. The method keeps the per-linear state of
// the block being trained (Phi0, A, B; keyed by the linear's name in
// Block::Linears()) between Prepare, BeforeForward and Finish, so one
// object serves one TrainBlock call at a time (blocks in sequence are fine:
// Prepare replaces the state). After Finish the state stays readable (on
// the CPU, detached, s included) until the next Prepare or ClearState().
#ifndef EQAT_WORKER_METHODS_LR_QAT_H_
#define EQAT_WORKER_METHODS_LR_QAT_H_

#include <torch/torch.h>

#include <map>
#include <string>

#include "absl/status/status.h"
#include "common/model_config.h"
#include "worker/methods/block_ap.h"

namespace eqat {

// The fixed-point downcast of Phi0 (see the top of this file).
struct LrQatFixedPoint {
  int storage_bits = 8;  // T: 8 (int8) or 16 (int16)
  int frac_bits = 3;     // f = T - 1 - bits
};
// InvalidArgument unless IsSupportedBits(bits).
absl::StatusOr<LrQatFixedPoint> LrQatFixedPointFor(int bits);
// x float [out, in] -> m (int8 / int16 [out, in]). REQUIRES: fp from LrQatFixedPointFor.
torch::Tensor LrQatEncodePhi(const torch::Tensor& x, const LrQatFixedPoint& fp);
// m -> Phi0 float32 (exact: (m + 1/2) * 2^-f).
torch::Tensor LrQatDecodePhi(const torch::Tensor& m, const LrQatFixedPoint& fp);

// One linear's LR-QAT state (all on the training device until Finish).
struct LrQatLinearState {
  torch::Tensor phi;    // int8 / int16 [out, in]: m, frozen
  LrQatFixedPoint fp;
  torch::Tensor a;      // fp32 [out, r], trainable
  torch::Tensor b;      // fp32 [r, in], trainable
  torch::Tensor scale;  // after Finish only: the trained s, fp32 [out, G]
  torch::Tensor zero;   // fp32 [out, G], integer-valued in [0, 2^b - 1], frozen
};

// The training-form weight W^ (top of file) from a state's tensors, with
// `scale` [out, G] (differentiable w.r.t. a, b, scale). `checkpointed`
// selects the recomputing autograd function; the values are identical.
torch::Tensor LrQatWeight(const LrQatLinearState& st, const torch::Tensor& scale, double c,
                          const kernels::QuantSpec& spec, bool checkpointed);
// The folded integer codes q (uint8 [out, in], on the state's device).
torch::Tensor LrQatCodes(const LrQatLinearState& st, double c, const kernels::QuantSpec& spec);

class LrQatMethod final : public BlockTrainingMethod {
 public:
  // REQUIRES: rank >= 1.
  LrQatMethod(int rank, double alpha, bool checkpointing = false)
      : rank_(rank), alpha_(alpha), checkpointing_(checkpointing) {}
  const char* name() const override { return "lrqat"; }
  // Every linear must be in Mode::kFloat. Leaves each linear in
  // Mode::kFloat with `weight` = W^ (recomputed by BeforeForward), `scale`
  // = s (trainable) and `zero` = z; A and B go to `other`, s to `quant`.
  // REQUIRES: IsSupportedBits(spec.bits) (throws c10::Error otherwise).
  void Prepare(Block* block, const kernels::QuantSpec& spec, std::vector<torch::Tensor>* quant,
               std::vector<torch::Tensor>* other) const override;
  // Recomputes every linear's `weight` = W^ from s, A, B (autograd on when
  // gradients are enabled).
  void BeforeForward(Block* block) const override;
  // Folds A B into the codes and packs every linear (Mode::kPacked).
  void Finish(Block* block, const kernels::QuantSpec& spec) const override;

  int rank() const { return rank_; }
  double alpha() const { return alpha_; }
  double lora_scale() const { return alpha_ / static_cast<double>(rank_); }
  bool checkpointing() const { return checkpointing_; }
  // The state of linear `name` ("self_attn.q_proj", ...), or null.
  const LrQatLinearState* State(const std::string& name) const;
  void ClearState() const { state_.clear(); }

 private:
  int rank_;
  double alpha_;
  bool checkpointing_;
  mutable std::map<std::string, LrQatLinearState> state_;
};

// Trainable parameters of one block and their AdamW state (two fp32 moments
// per trained element: optimizer_bytes = 8 * params). Shapes come from the
// config (q/k/v/o, gate/up/down; head_dim, GQA and Qwen3 q/k norms honoured).
struct TrainableCount {
  int64_t params = 0;
  int64_t optimizer_bytes = 0;
};
// Block-AP: every weight element, s and z of every group, the RMSNorm weights.
TrainableCount BlockApTrainableCount(const ModelConfig& config, const kernels::QuantSpec& spec);
// LR-QAT: s of every group and A, B (rank * (out + in)) per linear.
TrainableCount LrQatTrainableCount(const ModelConfig& config, const kernels::QuantSpec& spec,
                                   int rank);

}  // namespace eqat

#endif  // EQAT_WORKER_METHODS_LR_QAT_H_
