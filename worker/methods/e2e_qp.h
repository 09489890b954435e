// E2E-QP (EfficientQAT's second phase): with the packed integer weights and
// zero points frozen, train only the per-group step sizes of every quantized
// linear end to end with the causal language-model loss. Weights stay
// packed and are dequantised on the fly (kernels/packed_linear.h).
//
// Data: pretraining windows (every next-token prediction is a target) or
// Q-PEFT instruction examples whose prompt tokens are masked out of the
// loss. AdamW (weight decay 0), linear warm-up over `warmup_ratio` of the
// steps then cosine to 0, gradient-norm clipping, gradient accumulation,
// optional activation checkpointing (recompute each block in backward).
//
// LoRA fine-tuning (E2eOptions::train_lora, e.g. after ApiQ): the same loop
// (data, masking, accumulation, schedule, clipping) trains only the LoRA
// factors lora_a / lora_b of every linear that has them
// (Linear::has_lora()); everything else, packed step sizes included, is
// frozen and left bit-identical.
// Thread-safety: mutates the model.
#ifndef EQAT_WORKER_METHODS_E2E_QP_H_
#define EQAT_WORKER_METHODS_E2E_QP_H_

#include <torch/torch.h>

#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "common/job/job_defaults.h"
#include "worker/model/autocast.h"
#include "worker/model/llama_model.h"

namespace eqat {

struct TrainExample {
  std::vector<int32_t> ids;
  std::vector<uint8_t> loss_mask;  // empty: every token after the first is a target
};

struct E2eOptions {
  int64_t epochs = job_defaults::kE2eEpochs;
  int64_t batch_size = job_defaults::kE2eBatch;  // examples per micro-batch
  int64_t grad_accum = job_defaults::kE2eAccum;  // micro-batches per optimizer step
  double lr = 0;                // 0: DefaultE2eLearningRate(bits)
  double weight_decay = 0;
  double warmup_ratio = 0.03;
  double max_grad_norm = 0.3;
  bool checkpointing = false;
  uint64_t seed = 0;
  torch::Device device = torch::kCPU;
  // Arithmetic on CUDA (JobSpec.precision): fp16 autocast with dynamic loss
  // scaling, bf16 autocast, or fp32. The CPU always trains in fp32.
  TrainPrecision precision = TrainPrecision::kFp32;
  // false: train the packed step sizes (E2E-QP). true: train only the LoRA
  // factors (fp32) of the linears that have LoRA, in any mode; the step
  // sizes are not clamped or converted. lr = 0 still means
  // DefaultE2eLearningRate(bits); LoRA usually wants a larger one (1e-4).
  bool train_lora = false;
  // (optimizer step, total steps, loss of that step)
  std::function<void(int64_t, int64_t, double)> on_step;
};

struct E2eResult {
  double first_loss = 0;  // loss of the first optimizer step
  double last_loss = 0;
  int64_t steps = 0;
  int64_t skipped_steps = 0;  // fp16 steps skipped for overflowed gradients
};


// Masked causal-LM loss: mean cross-entropy of logits[:, t] against ids[:, t+1]
// over targets with mask[:, t+1] = 1. logits [B,T,V], ids/mask [B,T].
torch::Tensor MaskedLmLoss(const torch::Tensor& logits, const torch::Tensor& ids,
                           const torch::Tensor& mask);

// train_lora false: REQUIRES every linear of the model in Mode::kPacked
// (else FailedPrecondition); on return the trained step sizes are stored
// back (fp16) in each packed linear.
// train_lora true: REQUIRES at least one linear with LoRA (else
// FailedPrecondition); on return lora_a / lora_b are fp32, detached, on
// their device.
// InvalidArgument for empty data, examples of < 2 tokens, or epochs / batch /
// accumulation < 1; Aborted on a non-finite loss.
absl::StatusOr<E2eResult> TrainE2eQp(LlamaModel* model, const std::vector<TrainExample>& data,
                                     const E2eOptions& options);

}  // namespace eqat

#endif  // EQAT_WORKER_METHODS_E2E_QP_H_
