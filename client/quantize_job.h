// One local quantization job: sample calibration windows, run the chosen
// method block by block (Block-AP for EfficientQAT), then E2E-QP when
// training data is given, with progress bars and per-stage reports.
// `eqat quantize` drives it; the distributed service reuses the stages.
// Thread-safety: mutates the given model only.
#ifndef EQAT_CLIENT_QUANTIZE_JOB_H_
#define EQAT_CLIENT_QUANTIZE_JOB_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "common/json.h"
#include "kernels/quantizer.h"
#include "worker/blockwise.h"
#include "worker/e2e_qp.h"
#include "worker/llama_model.h"

namespace eqat {

struct QuantizeJob {
  QuantMethod method = QuantMethod::kRtn;
  kernels::QuantSpec spec;
  std::vector<int32_t> calib_tokens;  // may be empty for RTN
  int64_t samples = 128;
  int64_t seqlen = 2048;
  uint64_t seed = 0;
  int64_t batch_size = 4;             // forward passes
  BlockApOptions block_ap;            // spec/seed filled in by the job
  ActivationStoreOptions cache;
  // E2E-QP (EfficientQAT only; skipped when e2e_data is empty).
  std::vector<TrainExample> e2e_data;
  E2eOptions e2e;
  // Called between Block-AP and E2E-QP with the Block-AP-only model.
  std::function<absl::Status(const LlamaModel&)> after_block_ap;
  bool progress = true;
};

struct QuantizeJobResult {
  Json blocks_json;  // [{"block", "seconds", "output_mse", ...}]
  Json e2e_json;     // {"steps", "first_loss", "last_loss", "seconds"} or null
  double block_stage_seconds = 0;
  double e2e_seconds = 0;
};

// Samples `samples` windows of `seqlen` from tokens (fixed seed) as long [N, L].
absl::StatusOr<torch::Tensor> SampleCalibration(const std::vector<int32_t>& tokens,
                                                int64_t samples, int64_t seqlen, uint64_t seed);

absl::StatusOr<QuantizeJobResult> RunQuantizeJob(LlamaModel* model, const QuantizeJob& job);

}  // namespace eqat

#endif  // EQAT_CLIENT_QUANTIZE_JOB_H_
