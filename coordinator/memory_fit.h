// The coordinator's use of the memory plan (common/job/memory_plan.h): what
// each registered worker can hold, the capacity-aware stage split of a job,
// and the fit checks the router applies before it hands a stage out.
// A worker that reports no memory (memory_bytes 0) is never refused.
// Thread-safety: pure functions (they read no files).
#ifndef EQAT_COORDINATOR_MEMORY_FIT_H_
#define EQAT_COORDINATOR_MEMORY_FIT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/job/memory_plan.h"
#include "common/model_config.h"
#include "eqat/v1/cluster.pb.h"

namespace eqat {

// A worker's process resources and capacity, as it registered them.
MemoryResources ResourcesOf(const v1::WorkerCapacity& c);
WorkerMemory MemoryOf(const v1::WorkerCapacity& c);

struct NamedCapacity {
  std::string worker_id;
  v1::WorkerCapacity capacity;
};

// Block ranges of a job over `workers` (alive, registration order) with at
// most `num_stages` stages: PlanStages when no worker reports memory, else
// PlanStagesByCapacity over MaxBlocksThatFit of each. FailedPrecondition
// naming the numbers when the blocks cannot be split over the workers, or
// when no worker can hold the finalize stage.
// REQUIRES: `spec` validated; num_blocks == config.num_hidden_layers.
absl::StatusOr<std::vector<std::pair<int, int>>> PlanJobByMemory(
    const ModelConfig& config, const v1::JobSpec& spec, int num_blocks, int num_stages,
    const std::vector<NamedCapacity>& workers);

// Whether `c` can hold block stage `index` of `num_stages` ([first, last)),
// or the finalize stage.
bool BlockStageFits(const ModelConfig& config, const v1::JobSpec& spec, int first, int last,
                    int index, int num_stages, const v1::WorkerCapacity& c);
bool FinalizeFits(const ModelConfig& config, const v1::JobSpec& spec, const v1::WorkerCapacity& c);

}  // namespace eqat

#endif  // EQAT_COORDINATOR_MEMORY_FIT_H_
