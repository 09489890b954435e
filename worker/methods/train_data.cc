#include "worker/methods/train_data.h"

#include <fstream>
#include <numeric>
#include <random>

#include "common/job/job_defaults.h"
#include "absl/strings/str_cat.h"
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
  ASSIGN_OR_RETURN(std::vector<int32_t> tokens, LoadDocumentTokens(path, tok, cfg.vocab_size));
  ASSIGN_OR_RETURN(std::vector<int64_t> starts,
                   ShuffledChunkStarts(static_cast<int64_t>(tokens.size()), samples, seqlen, seed,
                                       "--e2e-samples"));
  for (auto& w : CutWindows(tokens, starts, seqlen)) out.push_back({std::move(w), {}});
  return out;
}

CalibLayoutRequest CalibrationSource::LayoutRequest(int64_t tokens) const {
  CalibLayoutRequest r;
  r.tokens = tokens;
  r.ap_train = samples;
  r.ap_val = val_samples;
  r.ap_len = seqlen;
  r.random_windows = random_windows;
  r.e2e_count = e2e_samples;
  r.e2e_len = e2e_seqlen;
  r.seed = seed;
  return r;
}

namespace {

absl::StatusOr<CalibLayout> Layout(const CalibrationSource& src, const Tokenizer& tok,
                                   const ModelConfig& cfg, std::vector<int32_t>* tokens) {
  ASSIGN_OR_RETURN(*tokens, LoadTokens(src.path, tok, cfg.vocab_size));
  absl::StatusOr<CalibLayout> l =
      PlanCalibLayout(src.LayoutRequest(static_cast<int64_t>(tokens->size())));
  if (!l.ok()) return absl::InvalidArgumentError(absl::StrCat(l.status().message(), " (", src.path, ")"));
  return l;
}

}  // namespace

absl::StatusOr<std::vector<std::vector<int32_t>>> BlockApWindows(const CalibrationSource& src,
                                                                 const Tokenizer& tok,
                                                                 const ModelConfig& cfg) {
  std::vector<int32_t> tokens;
  ASSIGN_OR_RETURN(CalibLayout l, Layout(src, tok, cfg, &tokens));
  return CutWindows(tokens, l.ap_starts, src.seqlen);
}

absl::StatusOr<std::vector<TrainExample>> SharedE2eWindows(const CalibrationSource& src,
                                                           const Tokenizer& tok,
                                                           const ModelConfig& cfg) {
  std::vector<int32_t> tokens;
  ASSIGN_OR_RETURN(CalibLayout l, Layout(src, tok, cfg, &tokens));
  std::vector<TrainExample> out;
  for (auto& w : CutWindows(tokens, l.e2e_starts, src.e2e_seqlen)) out.push_back({std::move(w), {}});
  return out;
}

}  // namespace eqat
