// Memory-aware planning in the scheduler: workers that report their RAM get
// stages they can hold (common/job/memory_plan.h), a stage is never handed
// to a worker too small for it, and a job no registered worker can hold is
// refused at submission with the numbers.
#include "coordinator/memory_fit.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/job/job_spec.h"
#include "tests/coordinator/scheduler_fixture.h"

namespace eqat {
namespace {

class MemoryFitTest : public testing::SchedulerFixture {
 protected:
  std::string AddWorkerWithRam(const std::string& address, int64_t ram) {
    v1::RegisterRequest r;
    r.set_data_address(address);
    r.mutable_capacity()->set_device("cpu");
    r.mutable_capacity()->set_memory_bytes(ram);
    return sched_->Register(r).worker_id();
  }
  // The spec as the coordinator validates it, and the model's config.
  ValidatedJob Validated(const v1::JobSpec& spec) {
    absl::StatusOr<ValidatedJob> v = ValidateJobSpec(spec, JobSpecRules{});
    EXPECT_TRUE(v.ok()) << v.status();
    return *v;
  }
  // A job whose activation cache (2 x 512 MiB) outweighs the tokenizer, so
  // that each block more needs more memory.
  v1::JobSpec BigSpec(v1::Schedule schedule) {
    v1::JobSpec s = Spec(schedule);
    s.set_samples(4096);
    s.set_seqlen(512);
    return s;
  }
  // What one block needs as the first (tokenizing) or a fed stage of two.
  static int64_t OneBlock(const ValidatedJob& v) {
    return std::max(EstimateBlockStage(v.config, v.spec, 0, 1, 0, 2, MemoryResources{}).ram_bytes,
                    EstimateBlockStage(v.config, v.spec, 0, 1, 1, 2, MemoryResources{}).ram_bytes);
  }
};

TEST_F(MemoryFitTest, SplitsBlocksByWorkerMemory) {
  v1::JobSpec spec = BigSpec(v1::PIPELINED);
  ValidatedJob v = Validated(spec);
  // Worker a holds exactly one block as either stage; b holds all.
  const int64_t one = OneBlock(v);
  std::string a = AddWorkerWithRam("127.0.0.1:1001", one);
  std::string b = AddWorkerWithRam("127.0.0.1:1002", int64_t{1} << 40);
  SubmitOk(spec);
  v1::Assignment s0 = Poll(a).assignment();
  v1::Assignment s1 = Poll(b).assignment();
  ASSERT_EQ(s0.kind(), v1::BLOCK_AP);
  ASSERT_EQ(s1.kind(), v1::BLOCK_AP);
  EXPECT_EQ(s0.first_block(), 0);
  EXPECT_EQ(s0.last_block(), 1);  // not the even 3 + 2
  EXPECT_EQ(s1.first_block(), 1);
  EXPECT_EQ(s1.last_block(), 5);
}

TEST_F(MemoryFitTest, NeverHandsAStageToAWorkerTooSmallForIt) {
  v1::JobSpec spec = BigSpec(v1::PIPELINED);
  ValidatedJob v = Validated(spec);
  const int64_t one = OneBlock(v);
  std::string a = AddWorkerWithRam("127.0.0.1:1001", one);
  std::string b = AddWorkerWithRam("127.0.0.1:1002", int64_t{1} << 40);
  SubmitOk(spec);
  v1::Assignment s0 = Poll(b).assignment();  // b polls first and takes stage 0
  ASSERT_EQ(s0.kind(), v1::BLOCK_AP);
  EXPECT_EQ(s0.last_block(), 1);
  // Stage 1 (4 blocks) does not fit a: a gets nothing.
  EXPECT_FALSE(Poll(a).has_assignment());
}

TEST_F(MemoryFitTest, RefusesAJobNoWorkerCanHold) {
  AddWorkerWithRam("127.0.0.1:1001", int64_t{1} << 20);
  auto job = sched_->Submit(Spec(v1::SEQUENTIAL));
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string msg(job.status().message());
  EXPECT_NE(msg.find("does not fit the registered workers"), std::string::npos) << msg;
  EXPECT_NE(msg.find("needs ~"), std::string::npos) << msg;
  EXPECT_NE(msg.find("has 1.0 MiB RAM"), std::string::npos) << msg;
}

TEST_F(MemoryFitTest, WorkersWithoutMemoryReportsAreNotChecked) {
  std::string a = AddWorker("127.0.0.1:1001");
  SubmitOk(Spec(v1::SEQUENTIAL));
  v1::Assignment s0 = Poll(a).assignment();
  EXPECT_EQ(s0.kind(), v1::BLOCK_AP);
  EXPECT_EQ(s0.last_block(), 5);
}

}  // namespace
}  // namespace eqat
