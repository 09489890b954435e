// The block-wise quantization pipeline shared by every method (RTN, GPTQ,
// EfficientQAT Block-AP, LR-QAT, ApiQ). Two cached activation sets flow through the
// blocks (worker/methods/activation_store.h):
//   fp  - outputs of the full-precision blocks so far (fp inputs); updated in
//         place to fp block i's outputs, which are block i's targets
//   q   - outputs of the already-quantized blocks (quant inputs); block i is
//         quantized/trained on these, then they are replaced by the
//         quantized block i's outputs
// The reported output MSE compares quantized block i on q with its target.
// Thread-safety: mutates the model; one pipeline per model at a time.
#ifndef EQAT_WORKER_METHODS_BLOCKWISE_H_
#define EQAT_WORKER_METHODS_BLOCKWISE_H_

#include <torch/torch.h>

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "common/job/job_defaults.h"
#include "kernels/quantizer.h"
#include "worker/methods/activation_store.h"
#include "worker/methods/block_ap.h"
#include "worker/methods/gptq.h"
#include "worker/model/llama_model.h"
#include "worker/methods/input_feed.h"

namespace eqat {

// kEfficientQat, kLrQat and kApiq train each block (worker/methods/block_ap.h).
enum class QuantMethod { kRtn, kGptq, kEfficientQat, kLrQat, kApiq };
bool IsTrainedMethod(QuantMethod m);
absl::StatusOr<QuantMethod> ParseQuantMethod(const std::string& name);
std::string QuantMethodName(QuantMethod m);

struct BlockReport {
  int block = 0;
  int num_blocks = 0;
  double seconds = 0;
  // MSE between the quantized block's output on the quant inputs and the fp
  // block's output on the fp inputs (NaN without data).
  double output_mse = 0;
  double init_val_loss = 0;  // Block-AP only; NaN otherwise
  double train_loss = 0;
  double val_loss = 0;
  int attempts = 1;
};

struct BlockwiseOptions {
  QuantMethod method = QuantMethod::kRtn;
  kernels::QuantSpec spec;
  int64_t batch_size = job_defaults::kBatch;  // windows per forward pass (fp/quant passes, GPTQ)
  GptqOptions gptq;
  BlockApOptions block_ap;  // spec is taken from `spec`
  int rank = 0;             // kLrQat / kApiq
  double alpha = 0;
  bool lrqat_checkpointing = false;  // kLrQat: recompute the low-rank weight in backward
  ActivationStoreOptions cache;
  // Block-AP progress: (block, step, total steps, loss).
  std::function<void(int, int64_t, int64_t, double)> on_step;
  std::function<void(const BlockReport&)> on_block_done;
  // Called with each packed block and its index in the full model (workers
  // write it to the job folder here); an error stops the pipeline.
  std::function<absl::Status(int, const Block&)> on_block_packed;
  // MREM-P (pipelined schedule; worker/stage/stream_input_feed.h). With a feed, the
  // first block trains on lambda*fp + (1-lambda)*quant inputs from the feed,
  // lambda annealed 1 -> 0 over `anneal_fraction` of its steps; later blocks
  // train on the outputs of the stage's trained blocks on the latest inputs
  // (fp where no quantized one has arrived). At the end the feed's final
  // quantized inputs are run through the packed blocks, so `q` ends as the
  // exact quantized outputs. RTN/GPTQ wait for the final inputs first.
  StageInputFeed* feed = nullptr;
  double anneal_fraction = 0.5;
  // Block-AP of the range's last block: its output on every training batch
  // (the pipelined schedule streams these to the next stage).
  std::function<void(const std::vector<int64_t>&, const torch::Tensor&)> on_last_block_output;
};

// Checks that the model's held blocks are fp and the spec fits every linear.
absl::Status CheckQuantizable(const LlamaModel& model, const kernels::QuantSpec& spec);

// Creates the two activation sets and fills both with the embeddings of the
// calibration ids (long [N, L]).
absl::Status EmbedCalibration(const LlamaModel& model, const torch::Tensor& calib_ids,
                              const BlockwiseOptions& options,
                              std::unique_ptr<ActivationStore>* fp,
                              std::unique_ptr<ActivationStore>* q);

// Runs the pipeline over the blocks the model holds (indices from
// model->first_block()), in place on `fp` / `q` (both null for data-free RTN).
// Afterwards fp holds the fp outputs and q the quantized outputs of the last
// block: the inputs of the next stage.
absl::Status QuantizeBlockRange(LlamaModel* model, ActivationStore* fp, ActivationStore* q,
                                const BlockwiseOptions& options);

// Marks the model's config as quantized with `spec` (GPTQ v2 layout).
void SetQuantizedConfig(LlamaModel* model, const kernels::QuantSpec& spec);

// Embeds calib ids (long [N, L]; may be undefined for RTN) and runs the
// pipeline over every block; afterwards every linear is in Mode::kPacked
// and the model's config carries the quantization settings.
absl::Status QuantizeBlockwise(LlamaModel* model, const torch::Tensor& calib_ids,
                               const BlockwiseOptions& options);

}  // namespace eqat

#endif  // EQAT_WORKER_METHODS_BLOCKWISE_H_
