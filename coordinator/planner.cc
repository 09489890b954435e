#include "coordinator/planner.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_format.h"

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

absl::StatusOr<std::vector<CapacityStage>> PlanStagesByCapacity(int num_blocks, int num_stages,
                                                                const std::vector<int>& max_blocks) {
  std::vector<int> order;
  for (int i = 0; i < static_cast<int>(max_blocks.size()); ++i) {
    if (max_blocks[i] > 0) order.push_back(i);
  }
  // The workers that hold the most (ties: registration order).
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return max_blocks[a] > max_blocks[b]; });
  const int n = std::min({std::max(1, num_stages), static_cast<int>(order.size()),
                          std::max(1, num_blocks)});
  order.resize(std::max(0, n));
  int64_t total = 0;
  for (int w : order) total += max_blocks[w];
  if (num_blocks <= 0 || order.empty() || total < num_blocks) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "the %d worker(s) used hold at most %d of the %d blocks", static_cast<int>(order.size()),
        static_cast<int>(total), num_blocks));
  }
  std::sort(order.begin(), order.end());  // stages follow worker order
  std::vector<int> size(n);
  std::vector<std::pair<int, int>> balanced = PlanStages(num_blocks, n);
  bool fits = true;
  for (int i = 0; i < n; ++i) {
    size[i] = balanced[i].second - balanced[i].first;
    fits &= size[i] <= max_blocks[order[i]];
  }
  if (!fits) {
    // Water-filling: the tightest workers first, each taking its bound or
    // an even share of what is left, whichever is smaller.
    std::vector<int> by_cap(n);
    std::iota(by_cap.begin(), by_cap.end(), 0);
    std::stable_sort(by_cap.begin(), by_cap.end(),
                     [&](int a, int b) { return max_blocks[order[a]] < max_blocks[order[b]]; });
    int left = num_blocks;
    for (int j = 0; j < n; ++j) {
      int m = n - j, i = by_cap[j];
      size[i] = std::min(max_blocks[order[i]], (left + m - 1) / m);
      left -= size[i];
    }
  }
  std::vector<CapacityStage> out;
  int first = 0;
  for (int i = 0; i < n; ++i) {
    if (size[i] == 0) continue;
    out.push_back({first, first + size[i], order[i]});
    first += size[i];
  }
  return out;
}

}  // namespace eqat
