// A worker's Block-AP stage: quantize blocks [first_block, last_block) of a
// model and write each packed block to the job folder (worker/stage/block_files.h).
//
// Inputs of the stage's first block come either from the previous stage's
// stream (fp + quant activation sets) or, when none are given, are computed
// from the calibration text: embed, then run blocks [0, start) — the source
// model's fp blocks for the fp path and the already packed blocks from the
// job folder for the quant path. Blocks whose files exist from an earlier
// run (resume_from_block) are not retrained. Beside each block file the
// stage writes the block's report (block_files.h). The stage seeds LibTorch
// with the job's seed, so its result does not depend on what the process
// ran before.
// Thread-safety: one stage per call; no shared state.
#ifndef EQAT_WORKER_STAGE_BLOCK_STAGE_H_
#define EQAT_WORKER_STAGE_BLOCK_STAGE_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/job/job_defaults.h"
#include "common/json.h"
#include "worker/methods/activation_store.h"
#include "worker/methods/blockwise.h"
#include "worker/methods/train_data.h"

namespace eqat {

struct BlockStageRequest {
  std::string model_dir;
  std::string job_dir;
  int first_block = 0;
  int last_block = 0;            // exclusive
  int resume_from_block = 0;     // blocks before it are packed on disk
  // The coordinator's allowed roots: job_dir is checked against them again
  // before every block write (job_spec.h CheckStillInRoots); empty: unchecked.
  std::vector<std::string> allowed_roots;
  BlockwiseOptions options;      // method, spec, Block-AP, cache, callbacks
  // The calibration windows (used when inputs are computed here); built by
  // BlockStageRequestFor (stage_requests.h) from a validated spec. Rows of
  // the activation sets: calib.samples training then calib.val_samples
  // validation windows.
  CalibrationSource calib;
  uint64_t seed = 0;
  // Called after each block file is written (path, FNV-1a 64 checksum).
  std::function<void(int, const std::string&, uint64_t)> on_block_written;
  // Recorded checksums of packed blocks on disk (block -> FNV-1a 64); a
  // block read for its outputs must match (absent: not checked).
  std::map<int, uint64_t> block_checksums;
  // Pipelined schedule: when set, the stage first runs its fp blocks over
  // the fp inputs and hands the fp outputs (the next stage's fp inputs) here,
  // before any training; an error stops the stage.
  std::function<absl::Status(const ActivationStore&)> on_fp_outputs;
};

struct StageActivations {
  std::unique_ptr<ActivationStore> fp;  // fp outputs of the last block
  std::unique_ptr<ActivationStore> q;   // quantized outputs of the last block
};

// A block's report as stored beside its file (block_files.h): losses and
// attempts, no timings.
Json BlockReportJson(const BlockReport& r);

// Computes the inputs of block `upto` from the calibration text.
absl::StatusOr<StageActivations> ComputeInputsFromCalibration(const BlockStageRequest& r, int upto);

// Runs the stage. `inputs` may be empty (fp/q null): then they are computed.
// Returns the stage's outputs (the next stage's inputs).
absl::StatusOr<StageActivations> RunBlockStage(const BlockStageRequest& r, StageActivations inputs);

}  // namespace eqat

#endif  // EQAT_WORKER_STAGE_BLOCK_STAGE_H_
