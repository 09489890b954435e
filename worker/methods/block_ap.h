// Block-AP (EfficientQAT, Chen et al. 2024): train one transformer block's
// weights and quantization parameters so that the fake-quantized block, fed
// the outputs of the already-quantized blocks, reproduces the full-precision
// block's outputs (MSE). Then fold and pack it.
//
// Trainable: every linear weight, both RMSNorm weights, every group's step
// size s and zero point z. Frozen: biases. AdamW with two groups (quant
// params / weights), weight decay 0 by default, cosine decay to lr/20 over
// all steps, fp32 master weights (bf16 autocast on CUDA when asked). The
// last `val_fraction` of the samples are held out for the validation loss.
// A non-finite loss stops training, restores the block and retries once at
// half the learning rates; a second failure returns Aborted and leaves the
// block as it was.
// Thread-safety: mutates the given block only.
#ifndef EQAT_WORKER_METHODS_BLOCK_AP_H_
#define EQAT_WORKER_METHODS_BLOCK_AP_H_

#include <torch/torch.h>

#include <functional>

#include "absl/status/statusor.h"
#include "common/job/job_defaults.h"
#include "kernels/quantizer.h"
#include "worker/methods/activation_store.h"
#include "worker/model/llama_model.h"

namespace eqat {

struct BlockApOptions {
  kernels::QuantSpec spec;
  int64_t epochs = job_defaults::kEpochs;
  int64_t batch_size = job_defaults::kApBatch;
  double quant_lr = job_defaults::kQuantLr;  // s and z
  double weight_lr = 0;        // 0: DefaultWeightLearningRate(bits)
  double weight_decay = 0;
  double min_lr_ratio = 1.0 / 20;  // cosine floor, as a fraction of each lr
  double val_fraction = 0.1;
  uint64_t seed = 0;
  torch::Device device = torch::kCPU;
  bool autocast = false;       // bf16 autocast (CUDA only)
  // Called after every optimizer step: (step, total steps, batch loss).
  std::function<void(int64_t, int64_t, double)> on_step;
  // Test hook: makes the loss at this step non-finite (-1: never).
  int64_t inject_nan_at_step = -1;
  // MREM-P (pipelined schedule, worker/stage/stream_input_feed.h); both optional.
  // mixed_inputs(idx, step, total): the inputs of samples `idx` at optimizer
  // step `step` (0-based) of `total`. When set it replaces inputs.Gather for
  // the training batches and, with step == total, for the final validation
  // loss; the initial validation loss still reads `inputs`.
  std::function<torch::Tensor(const std::vector<int64_t>&, int64_t, int64_t)> mixed_inputs;
  // on_batch_output(idx, out): the block's fake-quantized output on each
  // training batch ([idx.size(), L, hidden], fp32, CPU), as computed by that
  // step's forward pass (before the optimizer step).
  std::function<void(const std::vector<int64_t>&, const torch::Tensor&)> on_batch_output;
};

struct BlockApResult {
  double init_val_loss = 0;  // validation MSE of the min/max-initialised block
  double train_loss = 0;     // mean batch loss of the last epoch
  double val_loss = 0;       // validation MSE after training (before packing)
  int attempts = 1;
  int64_t steps = 0;
};


// Trains `block` (every linear in Mode::kFloat) on inputs -> targets, each
// holding the same number of samples [L, hidden]. On success every linear
// is in Mode::kPacked (on the CPU).
absl::StatusOr<BlockApResult> TrainBlockAp(Block* block, const ModelConfig& config,
                                           const ActivationStore& inputs,
                                           const ActivationStore& targets,
                                           const BlockApOptions& options);

}  // namespace eqat

#endif  // EQAT_WORKER_METHODS_BLOCK_AP_H_
