// The block-wise quantization pipeline shared by every method: blocks are
// processed in order; block i is quantized on the outputs of the already
// quantized blocks 0..i-1 ("quant inputs"), and its fp counterpart on the fp
// inputs gives the reference output used for the reported MSE.
// Thread-safety: mutates the model; one pipeline per model at a time.
#ifndef EQAT_WORKER_BLOCKWISE_H_
#define EQAT_WORKER_BLOCKWISE_H_

#include <torch/torch.h>

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "kernels/quantizer.h"
#include "worker/gptq.h"
#include "worker/llama_model.h"

namespace eqat {

enum class QuantMethod { kRtn, kGptq, kEfficientQat };
absl::StatusOr<QuantMethod> ParseQuantMethod(const std::string& name);
std::string QuantMethodName(QuantMethod m);

struct BlockReport {
  int block = 0;
  int num_blocks = 0;
  double seconds = 0;
  // Mean squared error between the quantized block's output on the quant
  // inputs and the fp block's output on the fp inputs (NaN without data).
  double output_mse = 0;
  double train_loss = 0;  // method-specific (Block-AP); NaN otherwise
  double val_loss = 0;
};

struct BlockwiseOptions {
  QuantMethod method = QuantMethod::kRtn;
  kernels::QuantSpec spec;
  int64_t batch_size = 4;  // windows per forward pass
  GptqOptions gptq;
  std::function<void(const BlockReport&)> on_block_done;
};

// Embeds calib ids (long [N, L]; may be empty for RTN) and runs the pipeline
// over every block; afterwards every linear is in Mode::kPacked and the
// model's config carries the quantization settings.
absl::Status QuantizeBlockwise(LlamaModel* model, const torch::Tensor& calib_ids,
                               const BlockwiseOptions& options);

// Applies `fn` to x in batches along dim 0 and concatenates.
torch::Tensor MapBatches(const torch::Tensor& x, int64_t batch,
                         const std::function<torch::Tensor(const torch::Tensor&)>& fn);

}  // namespace eqat

#endif  // EQAT_WORKER_BLOCKWISE_H_
