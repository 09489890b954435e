// Training data for E2E-QP: an instruction JSONL (Q-PEFT, prompt masked) or
// pretraining windows sampled from any text/.jsonl/.bin source.
// Thread-safety: pure functions.
#ifndef EQAT_WORKER_METHODS_TRAIN_DATA_H_
#define EQAT_WORKER_METHODS_TRAIN_DATA_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model_config.h"
#include "common/tokenizer.h"
#include "worker/methods/e2e_qp.h"

namespace eqat {

// True when the first JSON line of a .jsonl file has an "instruction" key.
bool IsInstructionJsonl(const std::string& path);

// `kind` is set to "instruction" or "text". At most `samples` examples of at
// most `seqlen` tokens; text windows are drawn with `seed`. Instruction
// examples are shuffled with `seed` before the first `samples` are taken, and
// cut as the official Q-PEFT scripts do (prompt 384, response 128 tokens).
absl::StatusOr<std::vector<TrainExample>> LoadE2eExamples(const std::string& path,
                                                          const Tokenizer& tok,
                                                          const ModelConfig& cfg, int64_t samples,
                                                          int64_t seqlen, uint64_t seed,
                                                          std::string* kind);

}  // namespace eqat

#endif  // EQAT_WORKER_METHODS_TRAIN_DATA_H_
