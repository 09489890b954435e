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

std::vector<std::pair<int, int>> Ranges(const std::vector<CapacityStage>& p) {
  std::vector<std::pair<int, int>> out;
  for (const CapacityStage& s : p) out.emplace_back(s.first, s.last);
  return out;
}

TEST(PlanStagesByCapacityTest, RoomyWorkersGetTheBalancedSplit) {
  auto plan = PlanStagesByCapacity(32, 4, {32, 32, 32, 32});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(Ranges(*plan), PlanStages(32, 4));
  auto five = PlanStagesByCapacity(5, 2, {100, 100});
  ASSERT_TRUE(five.ok());
  EXPECT_EQ(Ranges(*five), (std::vector<std::pair<int, int>>{{0, 3}, {3, 5}}));
}

TEST(PlanStagesByCapacityTest, SmallWorkersTakeWhatTheyHold) {
  // Worker 1 holds 4 blocks, the others 20: it takes 4, the rest share 28.
  auto plan = PlanStagesByCapacity(32, 3, {20, 4, 20});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(Ranges(*plan), (std::vector<std::pair<int, int>>{{0, 14}, {14, 18}, {18, 32}}));
  EXPECT_EQ((*plan)[1].worker, 1);
  for (const CapacityStage& s : *plan) {
    EXPECT_LE(s.last - s.first, std::vector<int>({20, 4, 20})[s.worker]);
  }
}

TEST(PlanStagesByCapacityTest, PrefersTheLargestWorkersAndSkipsEmptyOnes) {
  // Two stages wanted of four workers: the two that hold the most, in order.
  auto plan = PlanStagesByCapacity(10, 2, {3, 8, 0, 6});
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->size(), 2u);
  EXPECT_EQ((*plan)[0].worker, 1);
  EXPECT_EQ((*plan)[1].worker, 3);
  EXPECT_EQ(Ranges(*plan), (std::vector<std::pair<int, int>>{{0, 5}, {5, 10}}));
  // A worker that cannot hold one block is never used.
  auto skip = PlanStagesByCapacity(4, 3, {0, 4, 0});
  ASSERT_TRUE(skip.ok());
  ASSERT_EQ(skip->size(), 1u);
  EXPECT_EQ((*skip)[0].worker, 1);
}

TEST(PlanStagesByCapacityTest, RefusesWhenTheWorkersHoldTooLittle) {
  auto plan = PlanStagesByCapacity(32, 2, {10, 12, 30});
  ASSERT_TRUE(plan.ok());  // 30 + 12 >= 32
  auto no = PlanStagesByCapacity(32, 2, {10, 12, 9});
  EXPECT_EQ(no.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(no.status().message().find("hold at most 22 of the 32 blocks"), std::string::npos)
      << no.status();
  EXPECT_FALSE(PlanStagesByCapacity(3, 2, {0, 0}).ok());
}

}  // namespace
}  // namespace eqat
