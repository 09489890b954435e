#include "coordinator/memory_fit.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "coordinator/planner.h"

namespace eqat {

MemoryResources ResourcesOf(const v1::WorkerCapacity& c) {
  MemoryResources r;
  if (c.cache_budget_bytes() > 0) r.cache_budget_bytes = c.cache_budget_bytes();
  r.cuda = c.device().rfind("cuda", 0) == 0;
  return r;
}

WorkerMemory MemoryOf(const v1::WorkerCapacity& c) {
  return WorkerMemory{c.memory_bytes(), c.device_memory_bytes()};
}

bool BlockStageFits(const ModelConfig& config, const v1::JobSpec& spec, int first, int last,
                    int index, int num_stages, const v1::WorkerCapacity& c) {
  return StageFits(EstimateBlockStage(config, spec, first, last, index, num_stages, ResourcesOf(c)),
                   MemoryOf(c));
}

bool FinalizeFits(const ModelConfig& config, const v1::JobSpec& spec, const v1::WorkerCapacity& c) {
  return StageFits(EstimateFinalize(config, spec, ResourcesOf(c)), MemoryOf(c));
}

absl::StatusOr<std::vector<std::pair<int, int>>> PlanJobByMemory(
    const ModelConfig& config, const v1::JobSpec& spec, int num_blocks, int num_stages,
    const std::vector<NamedCapacity>& workers) {
  const int n = std::max(1, std::min<int>(num_stages, std::max<size_t>(1, workers.size())));
  bool known = false;
  for (const NamedCapacity& w : workers) known |= w.capacity.memory_bytes() > 0;
  if (!known) return PlanStages(num_blocks, n);
  // The finalize stage needs one worker holding the whole packed model.
  const NamedCapacity* biggest = nullptr;
  bool finalize_fits = false;
  for (const NamedCapacity& w : workers) {
    finalize_fits |= FinalizeFits(config, spec, w.capacity);
    if (biggest == nullptr || w.capacity.memory_bytes() > biggest->capacity.memory_bytes()) {
      biggest = &w;
    }
  }
  if (!finalize_fits) {
    StageMemory f = EstimateFinalize(config, spec, ResourcesOf(biggest->capacity));
    absl::Status st = CheckStageFits(f, MemoryOf(biggest->capacity), biggest->worker_id);
    return absl::FailedPreconditionError(
        absl::StrCat(st.message(), " (the largest of ", workers.size(), " worker(s))"));
  }
  std::vector<int> max_blocks;
  for (const NamedCapacity& w : workers) {
    max_blocks.push_back(MaxBlocksThatFit(config, spec, n, ResourcesOf(w.capacity),
                                          MemoryOf(w.capacity), num_blocks));
  }
  absl::StatusOr<std::vector<CapacityStage>> plan = PlanStagesByCapacity(num_blocks, n, max_blocks);
  if (!plan.ok()) {
    // Name the numbers: the balanced split's first stage on the biggest worker.
    std::vector<std::pair<int, int>> even = PlanStages(num_blocks, n);
    StageMemory s = EstimateBlockStage(config, spec, even[0].first, even[0].second, 0,
                                       static_cast<int>(even.size()), ResourcesOf(biggest->capacity));
    absl::Status st = CheckStageFits(s, MemoryOf(biggest->capacity), biggest->worker_id);
    return absl::FailedPreconditionError(absl::StrCat(
        st.ok() ? "" : absl::StrCat(st.message(), "; "), plan.status().message()));
  }
  std::vector<std::pair<int, int>> out;
  for (const CapacityStage& s : *plan) out.emplace_back(s.first, s.last);
  return out;
}

}  // namespace eqat
