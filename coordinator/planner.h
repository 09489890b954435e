// Sharding planner: contiguous block ranges balanced over stages (sizes
// differ by at most one; earlier stages get the extra blocks).
// Thread-safe: pure function.
#ifndef EQAT_COORDINATOR_PLANNER_H_
#define EQAT_COORDINATOR_PLANNER_H_

#include <utility>
#include <vector>

namespace eqat {

// [first, last) ranges; min(num_stages, num_blocks) of them (at least 1).
std::vector<std::pair<int, int>> PlanStages(int num_blocks, int num_stages);

}  // namespace eqat

#endif  // EQAT_COORDINATOR_PLANNER_H_
