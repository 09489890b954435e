// The inputs of a pipelined (MREM-P) Block-AP range's first block, as the
// block-wise methods see them: a mix of the previous stage's fp and latest
// quantized activations per sample. The streaming implementation is
// worker/stage/stream_input_feed.h; methods/ knows nothing of transports.
// Thread-safety: implementations say; StreamInputFeed is thread-safe.
#ifndef EQAT_WORKER_METHODS_INPUT_FEED_H_
#define EQAT_WORKER_METHODS_INPUT_FEED_H_

#include <torch/torch.h>

#include <vector>

#include "absl/status/status.h"
#include "worker/methods/activation_store.h"

namespace eqat {

class StageInputFeed {
 public:
  virtual ~StageInputFeed() = default;
  // lambda * fp + (1 - lambda) * latest quant for each sample of `idx` (fp
  // where no quantized activation has arrived), fp32 [idx.size(), L, H].
  // With lambda <= 0 it first waits until each of them has one (or the
  // stream has ended).
  virtual torch::Tensor Mixed(const std::vector<int64_t>& idx, double lambda) = 0;
  // Writes every sample's latest quantized activation (fp where none) to `q`.
  virtual void Snapshot(ActivationStore* q) = 0;
  // Waits until the previous stage's final quantized outputs are all in and
  // writes them to `q`. Errors: the stream's (Unavailable for a dead peer,
  // DataLoss for a bad frame, ...).
  virtual absl::Status WaitFinal(ActivationStore* q) = 0;
};

}  // namespace eqat

#endif  // EQAT_WORKER_METHODS_INPUT_FEED_H_
