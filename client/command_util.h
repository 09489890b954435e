// Shared pieces of the CLI commands: exception-to-Status edge, validation of
// common flags, default sequence lengths. Internal to client/.
#ifndef EQAT_CLIENT_COMMAND_UTIL_H_
#define EQAT_CLIENT_COMMAND_UTIL_H_

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/byte_size.h"
#include "common/model_config.h"
#include "common/tokenizer.h"

namespace eqat {

// Runs fn, turning c10::Error / std::exception into InternalError.
absl::Status GuardTorch(const std::function<absl::Status()>& fn);

// Checks that `dir` is a readable model folder; error names `flag`.
absl::Status CheckModelDir(const std::string& flag, const std::string& dir);
// Checks that `path` is a readable regular file; error names `flag`.
absl::Status CheckInputFile(const std::string& flag, const std::string& path);

// Loads DIR/tokenizer.json, else DIR/tokenizer.model (Tokenizer::LoadFromDir).
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadModelTokenizer(const std::string& model_dir);

// requested > 0: validated (>= 2); else min(2048, max_position_embeddings).
absl::StatusOr<int64_t> ResolveSeqlen(const std::string& flag, int64_t requested,
                                      const ModelConfig& cfg);

// "cpu", "cuda", "cuda:N"; InvalidArgument when CUDA is asked for but absent.
absl::StatusOr<torch::Device> ParseDevice(const std::string& flag, const std::string& text);

}  // namespace eqat

#endif  // EQAT_CLIENT_COMMAND_UTIL_H_
