// One local quantization job: sample calibration windows, run the chosen
// method block by block (with a progress bar), collect per-block reports.
// Used by `eqat quantize`; the distributed service reuses the same steps.
// Thread-safety: mutates the given model only.
#ifndef EQAT_CLIENT_QUANTIZE_JOB_H_
#define EQAT_CLIENT_QUANTIZE_JOB_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/json.h"
#include "kernels/quantizer.h"
#include "worker/blockwise.h"
#include "worker/llama_model.h"

namespace eqat {

struct QuantizeJob {
  QuantMethod method = QuantMethod::kRtn;
  kernels::QuantSpec spec;
  std::vector<int32_t> calib_tokens;  // may be empty for RTN
  int64_t samples = 128;
  int64_t seqlen = 2048;
  uint64_t seed = 0;
  int64_t batch_size = 4;
  bool progress = true;
};

struct QuantizeJobResult {
  json::Value blocks_json;  // [{"block", "seconds", "output_mse", ...}]
};

absl::StatusOr<QuantizeJobResult> RunQuantizeJob(LlamaModel* model, const QuantizeJob& job);

}  // namespace eqat

#endif  // EQAT_CLIENT_QUANTIZE_JOB_H_
