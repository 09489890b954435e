// Sharding planner: contiguous, covering, balanced (sizes differ by at most
// one, earlier stages larger), never more stages than blocks.
#include "coordinator/planner.h"

#include <gtest/gtest.h>

namespace eqat {
namespace {

TEST(PlanStagesTest, ContiguousBalancedAndCovering) {
  for (int blocks = 1; blocks <= 40; ++blocks) {
    for (int stages = 1; stages <= 9; ++stages) {
      auto plan = PlanStages(blocks, stages);
      ASSERT_EQ(static_cast<int>(plan.size()), std::min(blocks, stages)) << blocks << "/" << stages;
      int next = 0, biggest = 0, smallest = blocks;
      for (size_t i = 0; i < plan.size(); ++i) {
        EXPECT_EQ(plan[i].first, next);
        EXPECT_GT(plan[i].second, plan[i].first);
        int size = plan[i].second - plan[i].first;
        if (i > 0) EXPECT_LE(size, plan[i - 1].second - plan[i - 1].first);
        biggest = std::max(biggest, size);
        smallest = std::min(smallest, size);
        next = plan[i].second;
      }
      EXPECT_EQ(next, blocks);
      EXPECT_LE(biggest - smallest, 1);
    }
  }
  EXPECT_EQ(PlanStages(5, 2), (std::vector<std::pair<int, int>>{{0, 3}, {3, 5}}));
}

TEST(PlanStagesTest, AtLeastOneStage) {
  EXPECT_EQ(PlanStages(7, 0), (std::vector<std::pair<int, int>>{{0, 7}}));
}

}  // namespace
}  // namespace eqat
