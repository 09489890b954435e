// The last stage of a job, on one worker or in `eqat quantize`: assemble the
// packed model from the job's block files (plus the source model's
// embeddings, final norm and head), run E2E-QP when asked, write the output
// folder atomically with eqat.json (the request's summary, every block's
// report and E2E-QP's losses; no timings, so equal jobs write equal bytes),
// and evaluate fp and quantized perplexity when an evaluation text is given.
// Thread-safety: one call at a time per job.
#ifndef EQAT_WORKER_STAGE_FINALIZE_STAGE_H_
#define EQAT_WORKER_STAGE_FINALIZE_STAGE_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/job/job_defaults.h"
#include "common/json.h"
#include "common/output_format.h"
#include "kernels/packed_linear.h"
#include "worker/methods/blockwise.h"
#include "worker/methods/e2e_qp.h"
#include "worker/methods/train_data.h"

namespace eqat {

// apiq writes its LoRA adapter (PEFT layout) into this folder of the output.
inline constexpr char kAdapterSubdir[] = "adapter";

struct FinalizeRequest {
  std::string model_dir;
  std::string job_dir;
  // Recorded checksums of the block files (block -> FNV-1a 64): each block
  // read must match; a block absent here is read unchecked.
  std::map<int, uint64_t> block_checksums;
  std::string output_dir;
  // The coordinator's allowed roots: output_dir is checked against them
  // again right before the write (job_spec.h CheckStillInRoots); empty: unchecked.
  std::vector<std::string> allowed_roots;
  kernels::QuantSpec spec;
  QuantMethod method = QuantMethod::kEfficientQat;
  // End-to-end training after the blocks: E2E-QP of the step sizes
  // (efficientqat, `e2e`) or of apiq's LoRA factors (`e2e_lora`).
  bool e2e = true;
  bool e2e_lora = false;
  std::string e2e_data;          // empty: no end-to-end training
  // Built by FinalizeRequestFor (stage_requests.h) from a validated spec.
  int64_t e2e_samples = job_defaults::kE2eSamples;
  int64_t e2e_seqlen = job_defaults::kE2eMaxSeqlen;
  // The calibration text: when e2e_data is calib.path and calib.e2e_samples
  // > 0, the E2E windows are its E2E region (train_data.h).
  CalibrationSource calib;
  uint64_t seed = 0;
  E2eOptions e2e_options;
  std::string eval_text;
  int64_t eval_seqlen = 0;
  int64_t eval_max_windows = 0;
  int64_t batch_size = job_defaults::kBatch;
  OutputFormat format = OutputFormat::kGptq;
  kernels::ZerosFormat zeros = kernels::ZerosFormat::kV2;  // gptq only
  bool overwrite = false;
  // The job's id in the cluster: recorded in job_dir/commit before the
  // output is replaced, so that a retried finalize may replace its own
  // earlier commit (model_writer.h "Idempotent commit"); empty for local runs.
  std::string commit_id;
  Json summary;                  // written as eqat.json
  std::function<void(const std::string& stage)> on_stage;  // "e2e-qp", "write", "eval"
};

struct FinalizeResult {
  double fp_ppl = 0;
  double ppl = 0;
  double block_ap_ppl = 0;
  int64_t eval_windows = 0;
  bool evaluated = false;
  int64_t e2e_steps = 0;      // 0: E2E-QP did not run
  double e2e_seconds = 0;
  // FNV-1a 64 of every file of the written output folder (relative paths),
  // read back right after the write (common/folder_checksums.h).
  std::map<std::string, uint64_t> output_checksums;
};

absl::StatusOr<FinalizeResult> RunFinalize(const FinalizeRequest& r);

}  // namespace eqat

#endif  // EQAT_WORKER_STAGE_FINALIZE_STAGE_H_
