// Training data of the block-wise methods and E2E-QP.
//   Block-AP (and the other block-trained methods): windows of the
//     calibration text, laid out by common/calib_layout.h (training windows,
//     then validation windows, disjoint from each other and from E2E's).
//   E2E-QP: an instruction JSONL (Q-PEFT, prompt masked), the calibration
//     text's E2E region (the default), or pretraining windows of another
//     file: documents tokenized with BOS, concatenated, cut into
//     non-overlapping windows, shuffled with the job seed (official recipe).
// Thread-safety: pure functions.
#ifndef EQAT_WORKER_METHODS_TRAIN_DATA_H_
#define EQAT_WORKER_METHODS_TRAIN_DATA_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/calib_layout.h"
#include "common/model_config.h"
#include "common/tokenizer.h"
#include "worker/methods/e2e_qp.h"

namespace eqat {

// A job's calibration text and how its windows are cut.
struct CalibrationSource {
  std::string path;
  int64_t samples = 0;      // Block-AP training windows
  int64_t val_samples = 0;  // Block-AP validation windows
  int64_t seqlen = 0;
  bool random_windows = false;
  uint64_t seed = 0;
  // E2E windows cut from this same text (0: E2E reads another file or none).
  int64_t e2e_samples = 0;
  int64_t e2e_seqlen = 0;

  CalibLayoutRequest LayoutRequest(int64_t tokens) const;
};

// The Block-AP windows: samples training windows, then val_samples
// validation windows, each seqlen tokens. Checks the E2E share too, so a
// text too short for E2E-QP fails here, before any training.
absl::StatusOr<std::vector<std::vector<int32_t>>> BlockApWindows(const CalibrationSource& src,
                                                                 const Tokenizer& tok,
                                                                 const ModelConfig& cfg);

// The E2E windows of `src` (REQUIRES: src.e2e_samples > 0).
absl::StatusOr<std::vector<TrainExample>> SharedE2eWindows(const CalibrationSource& src,
                                                           const Tokenizer& tok,
                                                           const ModelConfig& cfg);

// True when the first JSON line of a .jsonl file has an "instruction" key.
bool IsInstructionJsonl(const std::string& path);

// E2E data from a file of its own. `kind` is set to "instruction" or
// "text". Instruction examples are shuffled with `seed` before the first
// `samples` are taken, and cut as the official Q-PEFT scripts do (prompt
// 384, response 128 tokens, whole example `seqlen`). Text: `samples`
// windows of `seqlen` tokens as described at the top; InvalidArgument
// naming --e2e-samples when the file holds fewer.
absl::StatusOr<std::vector<TrainExample>> LoadE2eExamples(const std::string& path,
                                                          const Tokenizer& tok,
                                                          const ModelConfig& cfg, int64_t samples,
                                                          int64_t seqlen, uint64_t seed,
                                                          std::string* kind);

}  // namespace eqat

#endif  // EQAT_WORKER_METHODS_TRAIN_DATA_H_
