// Sharding planner: contiguous block ranges over stages.
//   PlanStages: balanced (sizes differ by at most one; earlier stages get
//   the extra blocks).
//   PlanStagesByCapacity: as balanced as the workers' memory allows, each
//   stage at most the blocks its worker can hold (common/job/memory_plan.h,
//   MaxBlocksThatFit), on the workers that hold the most.
// Thread-safe: pure functions.
#ifndef EQAT_COORDINATOR_PLANNER_H_
#define EQAT_COORDINATOR_PLANNER_H_

#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace eqat {

// [first, last) ranges; min(num_stages, num_blocks) of them (at least 1).
std::vector<std::pair<int, int>> PlanStages(int num_blocks, int num_stages);

struct CapacityStage {
  int first = 0, last = 0;  // [first, last)
  int worker = 0;           // index into max_blocks
};

// `max_blocks[i]`: the most blocks worker i can hold in one stage (0: none).
// Uses at most `num_stages` workers (at least 1), those with the largest
// bounds, in their index order; when every bound admits the balanced split
// the result is PlanStages's. FailedPrecondition when the chosen workers
// hold fewer than `num_blocks` blocks together.
absl::StatusOr<std::vector<CapacityStage>> PlanStagesByCapacity(int num_blocks, int num_stages,
                                                                const std::vector<int>& max_blocks);

}  // namespace eqat

#endif  // EQAT_COORDINATOR_PLANNER_H_
