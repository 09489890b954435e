// The `eqat` CLI commands in local mode (no cluster): eval, quantize,
// generate, inspect, convert, tokenize. Each takes an options struct (filled from flags by
// main.cc), writes human output and, with `json`, a one-line JSON summary as
// the last line of `out`. Errors come back as Status; ExitCodeFor maps them
// (2 for bad input: InvalidArgument, NotFound, PermissionDenied,
// FailedPrecondition, OutOfRange, AlreadyExists; 1 otherwise). LibTorch
// exceptions are caught here and turned into Status.
// Thread-safety: one command per process.
#ifndef EQAT_CLIENT_COMMANDS_H_
#define EQAT_CLIENT_COMMANDS_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/json.h"
#include "eqat/v1/quantization_service.pb.h"

namespace eqat {

struct EvalOptions {
  std::string model;           // model folder (fp or quantized)
  std::string text;            // evaluation text / .jsonl / .bin
  int64_t seqlen = 0;          // 0: min(2048, max_position_embeddings)
  int64_t max_windows = 0;     // 0: all
  int64_t batch_size = 4;
  bool json = false;
  // A PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors,
  // worker/model/peft_adapter.h) applied to the model before evaluating;
  // empty: none.
  std::string adapter;
};

// `eqat quantize`: the job itself is a JobSpec (built from the job flags,
// common/job/job_flags.h; unset fields take ValidateJobSpec's defaults);
// the rest is this process's resources and output.
struct QuantizeOptions {
  v1::JobSpec spec;
  std::string device = "cpu";        // cpu | cuda | cuda:N
  std::string cache_budget = "4G";   // RAM for each cached activation set
  std::string spill_dir = "/tmp";    // beyond it, a memory-mapped spill file here
  bool json = false;
  bool progress = true;
};

struct GenerateOptions {
  std::string model;
  std::string prompt;
  int64_t max_new_tokens = 60;
  bool bos = true;
  bool json = false;
};

// `eqat convert`: a quantized folder rewritten in another format.
struct ConvertOptions {
  std::string model;             // quantized folder (any format eqat reads)
  std::string out;
  std::string format = "gptq";   // gptq | awq | compressed-tensors
  std::string zeros = "v2";      // gptq only: v2 | v1
  bool overwrite = false;
  bool json = false;
};

struct InspectOptions {
  std::string model;
  bool json = false;
  // --plan: the job's estimated peak memory per stage (common/job/memory_plan.h)
  // for `spec` (the job flags; model_dir is `model`) split over `workers`.
  bool plan = false;
  int workers = 1;
  v1::JobSpec spec;
  std::string device = "cpu";
  std::string cache_budget = "4G";
};

// `eqat tokenize`: the ids of a text file. The folder needs only
// tokenizer.json (+ tokenizer_config.json) or tokenizer.model.
struct TokenizeOptions {
  std::string model;
  std::string text;       // a text file, read as bytes
  bool special = false;   // add the tokenizer's BOS/EOS (post-processor)
  bool json = false;      // last line {"ids": [...], "n": N}
};

absl::Status RunEval(const EvalOptions& o, std::ostream& out);
absl::Status RunQuantize(const QuantizeOptions& o, std::ostream& out);
absl::Status RunGenerate(const GenerateOptions& o, std::ostream& out);
absl::Status RunInspect(const InspectOptions& o, std::ostream& out);
absl::Status RunConvert(const ConvertOptions& o, std::ostream& out);
absl::Status RunTokenize(const TokenizeOptions& o, std::ostream& out, std::ostream& err);

int ExitCodeFor(const absl::Status& s);

// `inspect --plan`: validates o.spec (placeholders for the paths a plan does
// not read), prints the memory plan to `out` and returns it as JSON.
absl::StatusOr<Json> PrintMemoryPlan(const InspectOptions& o, std::ostream& out);

}  // namespace eqat

#endif  // EQAT_CLIENT_COMMANDS_H_
