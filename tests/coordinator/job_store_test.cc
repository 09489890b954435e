// The JobStore contract, run against SqliteJobStore and InMemoryJobStore;
// SQLite durability across reopening; the fault-injecting wrapper's faults.
#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "coordinator/in_memory_job_store.h"
#include "coordinator/sqlite_job_store.h"
#include "tests/coordinator/fault_injecting_job_store.h"
#include "tests/coordinator/test_util.h"

namespace eqat {
namespace {

v1::Job MakeJob(const std::string& id, v1::JobState state) {
  v1::Job j;
  j.set_id(id);
  j.set_state(state);
  return j;
}

v1::BlockReport MakeBlock(int block, double loss) {
  v1::BlockReport b;
  b.set_block(block);
  b.set_train_loss(loss);
  return b;
}

struct StoreKind {
  const char* name;
  std::function<std::unique_ptr<JobStore>(const std::string& dir)> open;
};

class JobStoreContractTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    store_ = GetParam().open(tmp_.path() + "/state");
    ASSERT_NE(store_, nullptr);
  }
  testing::TempDir tmp_;
  std::unique_ptr<JobStore> store_;
};

TEST_P(JobStoreContractTest, JobsKeepTheirFirstInsertionOrderAcrossUpdates) {
  ASSERT_TRUE(store_->PutJob(MakeJob("job-000002", v1::QUEUED)).ok());
  ASSERT_TRUE(store_->PutJob(MakeJob("job-000001", v1::QUEUED)).ok());
  ASSERT_TRUE(store_->PutJob(MakeJob("job-000002", v1::RUNNING)).ok());
  auto jobs = store_->ListJobs();
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->size(), 2u);
  EXPECT_EQ((*jobs)[0].id(), "job-000002");
  EXPECT_EQ((*jobs)[0].state(), v1::RUNNING);
  EXPECT_EQ((*jobs)[1].id(), "job-000001");
  auto one = store_->GetJob("job-000002");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->state(), v1::RUNNING);
  EXPECT_EQ(store_->GetJob("job-999999").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(JobStoreContractTest, BlocksAreKeyedByJobAndIndex) {
  ASSERT_TRUE(store_->PutBlock("job-a", MakeBlock(1, 0.5)).ok());
  ASSERT_TRUE(store_->PutBlock("job-a", MakeBlock(0, 0.25)).ok());
  ASSERT_TRUE(store_->PutBlock("job-a", MakeBlock(1, 0.125)).ok());  // replaces
  ASSERT_TRUE(store_->PutBlock("job-b", MakeBlock(7, 1.0)).ok());
  auto a = store_->GetBlocks("job-a");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->size(), 2u);
  EXPECT_DOUBLE_EQ(a->at(0).train_loss(), 0.25);
  EXPECT_DOUBLE_EQ(a->at(1).train_loss(), 0.125);
  EXPECT_EQ(store_->GetBlocks("job-b")->size(), 1u);
  auto none = store_->GetBlocks("job-c");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_P(JobStoreContractTest, DeleteBlocksForgetsOnlyThatRangeOfThatJob) {
  for (int b = 0; b < 5; ++b) ASSERT_TRUE(store_->PutBlock("job-a", MakeBlock(b, 0.5)).ok());
  ASSERT_TRUE(store_->PutBlock("job-b", MakeBlock(2, 1.0)).ok());
  ASSERT_TRUE(store_->DeleteBlocks("job-a", 2, 4).ok());
  auto a = store_->GetBlocks("job-a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->size(), 3u);
  EXPECT_EQ(a->count(1), 1u);
  EXPECT_EQ(a->count(2), 0u);
  EXPECT_EQ(a->count(3), 0u);
  EXPECT_EQ(a->count(4), 1u);
  EXPECT_EQ(store_->GetBlocks("job-b")->count(2), 1u);
  EXPECT_TRUE(store_->DeleteBlocks("job-none", 0, 10).ok());
}

INSTANTIATE_TEST_SUITE_P(
    Stores, JobStoreContractTest,
    ::testing::Values(StoreKind{"sqlite",
                                [](const std::string& dir) -> std::unique_ptr<JobStore> {
                                  auto s = SqliteJobStore::Open(dir);
                                  return s.ok() ? std::move(*s) : nullptr;
                                }},
                      StoreKind{"memory",
                                [](const std::string&) -> std::unique_ptr<JobStore> {
                                  return std::make_unique<InMemoryJobStore>();
                                }}),
    [](const ::testing::TestParamInfo<StoreKind>& info) { return std::string(info.param.name); });

TEST(SqliteJobStoreTest, ContentSurvivesReopening) {
  testing::TempDir tmp;
  {
    auto s = SqliteJobStore::Open(tmp.path() + "/state");
    ASSERT_TRUE(s.ok()) << s.status();
    ASSERT_TRUE((*s)->PutJob(MakeJob("job-000001", v1::RUNNING)).ok());
    ASSERT_TRUE((*s)->PutBlock("job-000001", MakeBlock(0, 0.5)).ok());
  }
  auto s = SqliteJobStore::Open(tmp.path() + "/state");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->GetJob("job-000001")->state(), v1::RUNNING);
  EXPECT_EQ((*s)->GetBlocks("job-000001")->count(0), 1u);
}

TEST(FaultInjectingJobStoreTest, FailsExactlyTheNthWriteAndChangesNothing) {
  InMemoryJobStore base;
  testing::FaultInjectingJobStore store(&base);
  store.FailWrite(2);
  EXPECT_TRUE(store.PutJob(MakeJob("j1", v1::QUEUED)).ok());
  EXPECT_EQ(store.PutBlock("j1", MakeBlock(0, 1)).code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(store.PutBlock("j1", MakeBlock(1, 1)).ok());
  EXPECT_EQ(store.writes(), 3);
  auto blocks = base.GetBlocks("j1");
  ASSERT_EQ(blocks->size(), 1u);
  EXPECT_EQ(blocks->count(1), 1u);
}

TEST(FaultInjectingJobStoreTest, CrashAcknowledgesButDropsLaterWrites) {
  InMemoryJobStore base;
  testing::FaultInjectingJobStore store(&base);
  store.CrashAfterWrites(1);
  EXPECT_TRUE(store.PutJob(MakeJob("j1", v1::QUEUED)).ok());
  EXPECT_TRUE(store.PutJob(MakeJob("j1", v1::RUNNING)).ok());
  EXPECT_TRUE(store.PutJob(MakeJob("j2", v1::QUEUED)).ok());
  EXPECT_EQ(store.dropped(), 2);
  auto jobs = base.ListJobs();
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].state(), v1::QUEUED);
  store.FailReads(true);
  EXPECT_EQ(store.ListJobs().status().code(), absl::StatusCode::kUnavailable);
  store.Heal();
  EXPECT_TRUE(store.PutJob(MakeJob("j2", v1::QUEUED)).ok());
  EXPECT_EQ(store.ListJobs()->size(), 2u);
}

}  // namespace
}  // namespace eqat
