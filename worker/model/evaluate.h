// Model evaluation: perplexity (design.md protocol) and greedy decoding.
// Perplexity: non-overlapping windows of `seqlen` tokens (no BOS), mean
// cross-entropy of the seqlen-1 next-token predictions per window,
// ppl = exp(mean over windows).
// Thread-safety: reads the model only; safe to run concurrently on one model.
#ifndef EQAT_WORKER_MODEL_EVALUATE_H_
#define EQAT_WORKER_MODEL_EVALUATE_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/model/llama_model.h"

namespace eqat {

struct PerplexityOptions {
  int64_t seqlen = 2048;      // tokens per window
  int64_t max_windows = 0;    // <= 0: every full window of the stream
  int64_t batch_size = 4;     // windows per forward pass
  // Called after each batch with (windows done, windows total).
  std::function<void(int64_t, int64_t)> progress;
};

struct PerplexityResult {
  double ppl = 0;
  double mean_nll = 0;   // mean over windows of the per-window mean CE
  int64_t tokens = 0;    // tokens in the whole stream
  int64_t windows = 0;   // windows evaluated
};

// InvalidArgument when seqlen < 2 or the stream holds no full window.
absl::StatusOr<PerplexityResult> EvaluatePerplexity(const LlamaModel& model,
                                                    const std::vector<int32_t>& tokens,
                                                    const PerplexityOptions& options);

// Greedy (argmax) continuation of `prompt` by `new_tokens` tokens; returns
// prompt + generated ids. Stops early at EOS when stop_at_eos.
std::vector<int32_t> GreedyGenerate(const LlamaModel& model, const std::vector<int32_t>& prompt,
                                    int64_t new_tokens, bool stop_at_eos = false);

}  // namespace eqat

#endif  // EQAT_WORKER_MODEL_EVALUATE_H_
