// WorkerRegistry on a fake clock: liveness at the timeout boundary, a down
// worker stays down, held assignments, aborts delivered once.
#include "coordinator/worker_registry.h"

#include <gtest/gtest.h>

#include "tests/coordinator/fake_clock.h"

namespace eqat {
namespace {

class WorkerRegistryTest : public ::testing::Test {
 protected:
  testing::FakeClock clock_;
  Monitor m_{&clock_};
  WorkerRegistry reg_{&m_, absl::Seconds(15)};
};

TEST_F(WorkerRegistryTest, SilentForTheTimeoutMeansDownAndStaysDown) {
  absl::MutexLock l(&m_.mu);
  v1::RegisterRequest info;
  info.set_data_address("127.0.0.1:1001");
  std::string a = reg_.Register(info), b = reg_.Register(info);
  EXPECT_NE(a, b);
  reg_.Hold(a, "job-1-stage-0-3");
  clock_.Advance(absl::Seconds(10));
  ASSERT_NE(reg_.Touch(b), nullptr);
  clock_.Advance(absl::Seconds(5) - absl::Milliseconds(1));
  EXPECT_TRUE(reg_.MarkSilentDown().empty());
  EXPECT_EQ(reg_.AliveCount(), 2);
  clock_.Advance(absl::Milliseconds(1));
  std::vector<WorkerRegistry::Lost> lost = reg_.MarkSilentDown();
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].worker_id, a);
  EXPECT_EQ(lost[0].assignment_id, "job-1-stage-0-3");
  EXPECT_EQ(lost[0].silent, absl::Seconds(15));
  EXPECT_EQ(reg_.AliveCount(), 1);
  EXPECT_EQ(reg_.Touch(a), nullptr) << "a down worker must register again";
  EXPECT_TRUE(reg_.Find(a)->assignment_id.empty());
  EXPECT_TRUE(reg_.MarkSilentDown().empty()) << "reported once";
  EXPECT_EQ(reg_.DataAddress(b), "127.0.0.1:1001");
  EXPECT_EQ(reg_.DataAddress("worker-999"), "");
}

TEST_F(WorkerRegistryTest, ReleaseOnlyClearsTheHeldAssignmentAndAbortsAreTakenOnce) {
  absl::MutexLock l(&m_.mu);
  std::string a = reg_.Register(v1::RegisterRequest());
  reg_.Hold(a, "x-2");
  reg_.Release(a, "x-1");  // stale: a holds x-2 now
  EXPECT_EQ(reg_.Find(a)->assignment_id, "x-2");
  reg_.Release(a, "x-2");
  EXPECT_TRUE(reg_.Find(a)->assignment_id.empty());
  reg_.QueueAbort(a, "x-1");
  reg_.QueueAbort(a, "x-2");
  reg_.QueueAbort(a, "x-1");
  EXPECT_EQ(reg_.TakeAborts(a), (std::vector<std::string>{"x-1", "x-2"}));
  EXPECT_TRUE(reg_.TakeAborts(a).empty());
}

}  // namespace
}  // namespace eqat
