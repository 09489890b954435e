#include "worker/methods/train_data.h"

#include <fstream>
#include <numeric>
#include <random>

#include "common/job/job_defaults.h"
#include "common/json.h"
#include "common/status_macros.h"
#include "common/text_data.h"

namespace eqat {

bool IsInstructionJsonl(const std::string& path) {
  if (path.size() < 6 || path.substr(path.size() - 6) != ".jsonl") return false;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto v = ParseJson(line);
    return v.ok() && v->contains("instruction");
  }
  return false;
}

absl::StatusOr<std::vector<TrainExample>> LoadE2eExamples(const std::string& path,
                                                          const Tokenizer& tok,
                                                          const ModelConfig& cfg, int64_t samples,
                                                          int64_t seqlen, uint64_t seed,
                                                          std::string* kind) {
  std::vector<TrainExample> out;
  if (IsInstructionJsonl(path)) {
    *kind = "instruction";
    ASSIGN_OR_RETURN(auto ex, LoadInstructionJsonl(path, tok, seqlen,
                                                   job_defaults::kQpeftSourceMaxLen,
                                                   job_defaults::kQpeftTargetMaxLen));
    // As the official scripts: shuffle with a fixed seed (here the job's),
    // then take the first `samples`, so a subset is not the file's head.
    std::vector<size_t> order(ex.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::mt19937_64 rng(seed);
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
    for (size_t i : order) {
      if (static_cast<int64_t>(out.size()) >= samples) break;
      out.push_back({std::move(ex[i].ids), std::move(ex[i].loss_mask)});
    }
    return out;
  }
  *kind = "text";
  ASSIGN_OR_RETURN(std::vector<int32_t> tokens, LoadTokens(path, tok, cfg.vocab_size));
  ASSIGN_OR_RETURN(auto windows, SampleWindows(tokens, samples, seqlen, seed));
  for (auto& w : windows) out.push_back({std::move(w), {}});
  return out;
}

}  // namespace eqat
