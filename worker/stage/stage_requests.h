// The block and finalize stage requests of a job, derived from its validated
// JobSpec (common/job/job_spec.h) by one function each. `eqat quantize` and
// the worker daemon both call these, so a local run and a cluster run of
// the same spec do the same work; only the process's resources (device,
// activation cache) and the progress callbacks differ.
// Thread-safety: pure functions.
#ifndef EQAT_WORKER_STAGE_STAGE_REQUESTS_H_
#define EQAT_WORKER_STAGE_STAGE_REQUESTS_H_

#include <torch/torch.h>

#include <string>

#include "eqat/v1/quantization_service.pb.h"
#include "worker/methods/activation_store.h"
#include "worker/stage/block_stage.h"
#include "worker/stage/finalize_stage.h"

namespace eqat {

// What the process running a stage brings; not part of the job.
struct StageResources {
  torch::Device device = torch::kCPU;
  ActivationStoreOptions cache;
};

// The blocks a stage quantizes: [first_block, last_block), of which those
// before resume_from_block are already packed in job_dir.
struct StageRange {
  std::string job_dir;
  int first_block = 0;
  int last_block = 0;
  int resume_from_block = 0;
};

// REQUIRES: `spec` passed ValidateJobSpec (every field set). The
// calibration windows of the job; E2E's share of the text is set when
// e2e_data is the calibration text itself.
CalibrationSource CalibrationSourceFor(const v1::JobSpec& spec);

// REQUIRES: as above.
BlockStageRequest BlockStageRequestFor(const v1::JobSpec& spec, const StageRange& range,
                                       const StageResources& resources);

// REQUIRES: as above. The request's summary (eqat.json) holds the job's
// settings; finalize adds the per-block and E2E-QP results.
FinalizeRequest FinalizeRequestFor(const v1::JobSpec& spec, const std::string& job_dir,
                                   const StageResources& resources);

// A job's scratch folder for its packed blocks: `<output_dir>.eqat-work`.
std::string JobWorkDir(const v1::JobSpec& spec);

}  // namespace eqat

#endif  // EQAT_WORKER_STAGE_STAGE_REQUESTS_H_
