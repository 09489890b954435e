// The `eqat` CLI commands in local mode (no cluster): eval, quantize,
// generate, inspect. Each takes an options struct (filled from flags by
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

namespace eqat {

struct EvalOptions {
  std::string model;           // model folder (fp or quantized)
  std::string text;            // evaluation text / .jsonl / .bin
  int64_t seqlen = 0;          // 0: min(2048, max_position_embeddings)
  int64_t max_windows = 0;     // 0: all
  int64_t batch_size = 4;
  bool json = false;
};

struct QuantizeOptions {
  std::string model;
  std::string out;
  std::string method = "efficientqat";  // efficientqat | gptq | rtn
  int bits = 4;
  int group = 128;
  std::string calib;            // calibration text (required except rtn)
  int64_t samples = 4096;       // calibration windows
  int64_t seqlen = 0;           // calibration window length; 0: min(2048, max_pos)
  uint64_t seed = 0;
  int64_t batch_size = 4;
  std::string eval_text;        // evaluate fp and output on this text
  int64_t eval_seqlen = 0;      // 0: as eval's default
  int64_t eval_max_windows = 0;
  std::string zeros = "v2";     // v2 (native) | v1 (GPTQ zero-1 export)
  bool overwrite = false;
  bool json = false;
  bool progress = true;
  std::string device = "cpu";   // cpu | cuda | cuda:N
  // Block-AP (efficientqat)
  int64_t epochs = 2;
  int64_t ap_batch = 2;
  double quant_lr = 1e-4;
  double weight_lr = 0;         // 0: 2e-5 for 2-bit, 1e-5 otherwise
  std::string cache_budget = "4G";  // RAM for cached activations (per set)
  std::string spill_dir = "/tmp";
  // E2E-QP (efficientqat)
  bool e2e = true;
  std::string e2e_data;         // text/.jsonl/.bin, or instruction .jsonl (Q-PEFT); default --calib
  int64_t e2e_samples = 0;      // 0: --samples
  int64_t e2e_seqlen = 0;       // 0: --seqlen
  int64_t e2e_epochs = 1;
  double e2e_lr = 0;            // 0: 2e-5 for 2-bit, 1e-5 otherwise
  int64_t e2e_batch = 2;
  int64_t e2e_accum = 1;
  bool e2e_checkpointing = false;
};

struct GenerateOptions {
  std::string model;
  std::string prompt;
  int64_t max_new_tokens = 60;
  bool bos = true;
  bool json = false;
};

struct InspectOptions {
  std::string model;
  bool json = false;
};

absl::Status RunEval(const EvalOptions& o, std::ostream& out);
absl::Status RunQuantize(const QuantizeOptions& o, std::ostream& out);
absl::Status RunGenerate(const GenerateOptions& o, std::ostream& out);
absl::Status RunInspect(const InspectOptions& o, std::ostream& out);

int ExitCodeFor(const absl::Status& s);

}  // namespace eqat

#endif  // EQAT_CLIENT_COMMANDS_H_
