// Block-wise training of one transformer block (Block-AP of EfficientQAT,
// Chen et al. 2024, and the methods that share its loop: LR-QAT, ApiQ):
// the fake-quantized block, fed the outputs of the already-quantized
// blocks, learns to reproduce the full-precision block's outputs (MSE).
// Then it is folded and packed.
//
// What trains is the method's (BlockTrainingMethod). Block-AP: every linear
// weight, both RMSNorm weights, every group's step size s and zero point z;
// biases frozen. AdamW with two groups (quant params at quant_lr / the rest
// at weight_lr), weight decay 0 by default, cosine decay to lr/20 over all
// steps, fp32 master weights. On CUDA the forward runs under autocast
// (fp16 with dynamic loss scaling by default, as the official code; or
// bf16); CPUs train in fp32.
//
// Samples: the first n - val_count rows are the training windows, visited
// in one fixed order every epoch (official behaviour; shuffle_each_epoch
// reshuffles them), the last val_count rows are validation windows that
// are never trained on. A non-finite loss stops training, restores the
// block and retries once at half the learning rates; a second failure
// returns Aborted and leaves the block as it was.
// Thread-safety: mutates the given block only.
#ifndef EQAT_WORKER_METHODS_BLOCK_AP_H_
#define EQAT_WORKER_METHODS_BLOCK_AP_H_

#include <torch/torch.h>

#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "common/job/job_defaults.h"
#include "kernels/quantizer.h"
#include "worker/methods/activation_store.h"
#include "worker/model/autocast.h"
#include "worker/model/llama_model.h"

namespace eqat {

// How a method parametrises a block for training and packs it afterwards.
class BlockTrainingMethod {
 public:
  virtual ~BlockTrainingMethod() = default;
  virtual const char* name() const = 0;
  // Puts the training copy `block` (on the training device) into its
  // training form and marks what trains: tensors in `quant` get quant_lr,
  // those in `other` weight_lr.
  virtual void Prepare(Block* block, const kernels::QuantSpec& spec,
                       std::vector<torch::Tensor>* quant,
                       std::vector<torch::Tensor>* other) const = 0;
  // Before every forward pass of training and validation, with gradients
  // on during training: lets a method recompute tensors the linears read
  // (e.g. a weight built from trainable factors). Default: nothing.
  virtual void BeforeForward(Block* block) const {}
  // After each optimizer step, under NoGradGuard. Default: clamp every
  // linear's step sizes to [1e-4, 1e4].
  virtual void AfterStep(Block* block) const;
  // Turns the trained block (moved to the CPU, still holding its training
  // tensors) into its final form: every linear in Mode::kPacked, nothing
  // requiring gradients.
  virtual void Finish(Block* block, const kernels::QuantSpec& spec) const = 0;
};

// EfficientQAT's Block-AP.
const BlockTrainingMethod& BlockApMethod();

struct BlockApOptions {
  kernels::QuantSpec spec;
  int64_t epochs = job_defaults::kEpochs;
  int64_t batch_size = job_defaults::kApBatch;
  double quant_lr = job_defaults::kQuantLr;  // s and z
  double weight_lr = 0;        // 0: DefaultWeightLearningRate(bits)
  double weight_decay = 0;
  double min_lr_ratio = 1.0 / 20;  // cosine floor, as a fraction of each lr
  int64_t val_count = 0;           // last rows: validation windows
  bool shuffle_each_epoch = false;  // else one fixed order (the rows' order)
  uint64_t seed = 0;               // for shuffle_each_epoch
  torch::Device device = torch::kCPU;
  TrainPrecision precision = TrainPrecision::kFp32;  // autocast (CUDA only)
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
  int64_t skipped_steps = 0;  // fp16: steps skipped for non-finite gradients
};


// Trains `block` (every linear in Mode::kFloat) on inputs -> targets, each
// holding the same number of samples [L, hidden]. On success every linear
// is in Mode::kPacked (on the CPU).
absl::StatusOr<BlockApResult> TrainBlock(Block* block, const ModelConfig& config,
                                         const ActivationStore& inputs,
                                         const ActivationStore& targets,
                                         const BlockApOptions& options,
                                         const BlockTrainingMethod& method);

// TrainBlock with BlockApMethod().
absl::StatusOr<BlockApResult> TrainBlockAp(Block* block, const ModelConfig& config,
                                           const ActivationStore& inputs,
                                           const ActivationStore& targets,
                                           const BlockApOptions& options);

}  // namespace eqat

#endif  // EQAT_WORKER_METHODS_BLOCK_AP_H_
