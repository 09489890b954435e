#include "worker/model/evaluate.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace eqat {

absl::StatusOr<PerplexityResult> EvaluatePerplexity(const LlamaModel& model,
                                                    const std::vector<int32_t>& tokens,
                                                    const PerplexityOptions& o) {
  if (o.seqlen < 2) {
    return absl::InvalidArgumentError(absl::StrCat("seqlen: ", o.seqlen, " must be >= 2"));
  }
  int64_t total = static_cast<int64_t>(tokens.size()) / o.seqlen;
  if (o.max_windows > 0) total = std::min(total, o.max_windows);
  if (total == 0) {
    return absl::InvalidArgumentError(absl::StrCat("text: ", tokens.size(),
                                                   " tokens hold no full window of seqlen ",
                                                   o.seqlen));
  }
  torch::NoGradGuard no_grad;
  int64_t bs = std::max<int64_t>(1, o.batch_size);
  double sum = 0;
  for (int64_t w = 0; w < total; w += bs) {
    int64_t n = std::min(bs, total - w);
    auto ids = torch::from_blob(const_cast<int32_t*>(tokens.data()) + w * o.seqlen,
                                {n, o.seqlen}, torch::kInt)
                   .to(torch::kLong);
    auto logits = model.Forward(ids);  // [n, T, V]
    auto pred = logits.narrow(1, 0, o.seqlen - 1).to(torch::kFloat);
    auto target = ids.narrow(1, 1, o.seqlen - 1);
    auto nll = torch::nn::functional::cross_entropy(
        pred.reshape({-1, pred.size(-1)}), target.reshape({-1}),
        torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
    auto per_window = nll.view({n, o.seqlen - 1}).to(torch::kDouble).mean(1);
    sum += per_window.sum().item<double>();
    if (o.progress) o.progress(w + n, total);
  }
  PerplexityResult r;
  r.windows = total;
  r.tokens = static_cast<int64_t>(tokens.size());
  r.mean_nll = sum / static_cast<double>(total);
  r.ppl = std::exp(r.mean_nll);
  return r;
}

std::vector<int32_t> GreedyGenerate(const LlamaModel& model, const std::vector<int32_t>& prompt,
                                    int64_t new_tokens, bool stop_at_eos) {
  torch::NoGradGuard no_grad;
  std::vector<int32_t> ids = prompt;
  for (int64_t i = 0; i < new_tokens; ++i) {
    auto t = torch::tensor(std::vector<int64_t>(ids.begin(), ids.end()), torch::kLong)
                 .unsqueeze(0);
    auto logits = model.Forward(t);
    int32_t next = static_cast<int32_t>(logits[0][-1].argmax().item<int64_t>());
    ids.push_back(next);
    if (stop_at_eos && next == model.config().eos_token_id) break;
  }
  return ids;
}

}  // namespace eqat
