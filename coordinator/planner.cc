#include "coordinator/planner.h"

#include <algorithm>

namespace eqat {

std::vector<std::pair<int, int>> PlanStages(int num_blocks, int num_stages) {
  std::vector<std::pair<int, int>> out;
  if (num_blocks <= 0) return out;
  int n = std::max(1, std::min(num_stages, num_blocks));
  int base = num_blocks / n, extra = num_blocks % n, first = 0;
  for (int i = 0; i < n; ++i) {
    int size = base + (i < extra ? 1 : 0);
    out.emplace_back(first, first + size);
    first += size;
  }
  return out;
}

}  // namespace eqat
