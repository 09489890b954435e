// Coordinator crashes and store faults: a second Scheduler over the same
// store resumes unfinished jobs at their first unreported block and leaves
// finished ones alone (in memory, through a crash that drops writes, and
// through SQLite on disk); failed writes surface as errors and leave the
// job consistent with what the store holds.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "coordinator/sqlite_job_store.h"
#include "tests/coordinator/scheduler_fixture.h"

namespace eqat {
namespace {

using RecoveryTest = testing::SchedulerFixture;

TEST_F(RecoveryTest, RestartResumesUnfinishedJobsWithoutRetrainingReportedBlocks) {
  std::string w = AddWorker("127.0.0.1:1001");
  // done: runs to SUCCEEDED; cancelled; partial: 3 of 5 blocks reported;
  // queued: never started.
  std::string done = SubmitOk(Spec(v1::SEQUENTIAL, 1));
  v1::Assignment d0 = Poll(w).assignment();
  FinishOk(d0, w);
  v1::Assignment fin = Poll(w).assignment();
  ASSERT_EQ(fin.kind(), v1::FINALIZE);
  FinishOk(fin, w, /*ppl=*/42.0);
  std::string cancelled = SubmitOk(Spec(v1::SEQUENTIAL, 1));
  ASSERT_TRUE(sched_->Cancel(cancelled).ok());
  std::string partial = SubmitOk(Spec(v1::SEQUENTIAL, 1));
  v1::Assignment p0 = Poll(w).assignment();
  ASSERT_EQ(p0.job_id(), partial);
  for (int b = 0; b < 3; ++b) ASSERT_TRUE(ReportBlock(p0, w, b).ok());
  std::string queued = SubmitOk(Spec(v1::SEQUENTIAL, 1));

  Restart();
  ASSERT_TRUE(sched_->Recover().ok());
  EXPECT_EQ(GetJob(done).state(), v1::SUCCEEDED);
  EXPECT_DOUBLE_EQ(GetJob(done).result().ppl(), 42.0);
  EXPECT_EQ(GetJob(cancelled).state(), v1::CANCELLED);
  EXPECT_EQ(GetJob(queued).state(), v1::QUEUED);
  v1::Job p = GetJob(partial);
  EXPECT_EQ(p.state(), v1::RUNNING);
  EXPECT_EQ(p.blocks_done(), 3);
  ASSERT_EQ(p.stages_size(), 1);
  EXPECT_EQ(p.stages(0).state(), "pending");
  EXPECT_NE(Messages(partial).find("coordinator restarted: resuming"), std::string::npos);
  EXPECT_EQ(Messages(done).find("coordinator restarted"), std::string::npos);

  // The old assignment died with the old coordinator; so did the worker id.
  EXPECT_EQ(ReportBlock(p0, w, 3).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Heartbeat(w).reregister());
  std::string w2 = AddWorker("127.0.0.1:1002");
  EXPECT_NE(w2, w);
  v1::Assignment again = Poll(w2).assignment();
  EXPECT_EQ(again.job_id(), partial);
  EXPECT_EQ(again.first_block(), 0);
  EXPECT_EQ(again.resume_from_block(), 3);
  EXPECT_FALSE(again.receive_inputs());
  std::string w3 = AddWorker("127.0.0.1:1003");
  EXPECT_EQ(Poll(w3).assignment().job_id(), queued) << "finished jobs get no work";
  // New ids do not collide with recovered ones.
  std::string next = SubmitOk(Spec(v1::SEQUENTIAL, 1));
  EXPECT_GT(next, queued);
}

TEST_F(RecoveryTest, SecondStageResumesFromDiskAfterARestart) {
  std::string a = AddWorker("127.0.0.1:1001"), b = AddWorker("127.0.0.1:1002");
  std::string job = SubmitOk(Spec(v1::PIPELINED));
  v1::Assignment s0 = Poll(a).assignment();
  v1::Assignment s1 = Poll(b).assignment();
  ASSERT_EQ(s1.first_block(), 3);
  for (int blk = 0; blk < 3; ++blk) ASSERT_TRUE(ReportBlock(s0, a, blk).ok());
  FinishOk(s0, a);
  ASSERT_TRUE(ReportBlock(s1, b, 3).ok());

  Restart();
  ASSERT_TRUE(sched_->Recover().ok());
  v1::Job j = GetJob(job);
  ASSERT_EQ(j.stages_size(), 2);
  EXPECT_EQ(j.stages(0).state(), "done");
  EXPECT_EQ(j.stages(1).state(), "pending");
  EXPECT_EQ(j.blocks_done(), 4);
  std::string c = AddWorker("127.0.0.1:1003");
  v1::Assignment again = Poll(c).assignment();
  EXPECT_EQ(again.stage_index(), 1);
  EXPECT_EQ(again.resume_from_block(), 4);
  EXPECT_FALSE(again.receive_inputs()) << "stage 0 is gone: rebuild inputs from packed blocks";
}

// Stream secrets are not persisted: no assignment survives a restart, and
// the stage's next assignment gets a fresh secret.
TEST_F(RecoveryTest, RestartIssuesAFreshSecretWithTheStagesNextAssignment) {
  std::string a = AddWorker("127.0.0.1:1001");
  std::string job = SubmitOk(Spec(v1::SEQUENTIAL, 1));
  v1::Assignment s0 = Poll(a).assignment();
  ASSERT_EQ(s0.stream_secret().size(), 16u);
  ASSERT_TRUE(ReportBlock(s0, a, 0).ok());
  auto stored = base_.GetJob(job);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->SerializeAsString().find(s0.stream_secret()), std::string::npos)
      << "the secret is never written to the store";

  Restart();
  ASSERT_TRUE(sched_->Recover().ok());
  std::string b = AddWorker("127.0.0.1:1002");
  v1::Assignment again = Poll(b).assignment();
  ASSERT_EQ(again.job_id(), job);
  EXPECT_EQ(again.resume_from_block(), 1);
  EXPECT_EQ(again.stream_secret().size(), 16u);
  EXPECT_NE(again.stream_secret(), s0.stream_secret());
}

TEST_F(RecoveryTest, CrashLosesOnlyTheWritesAfterIt) {
  std::string a = AddWorker("127.0.0.1:1001");
  std::string job = SubmitOk(Spec(v1::SEQUENTIAL, 1));
  v1::Assignment s0 = Poll(a).assignment();
  ASSERT_TRUE(ReportBlock(s0, a, 0).ok());
  ASSERT_TRUE(ReportBlock(s0, a, 1).ok());
  faulty_.CrashAfterWrites(0);
  ASSERT_TRUE(ReportBlock(s0, a, 2).ok());  // acknowledged, never stored
  EXPECT_EQ(GetJob(job).blocks_done(), 3);
  EXPECT_GT(faulty_.dropped(), 0);

  Restart();
  faulty_.Heal();
  ASSERT_TRUE(sched_->Recover().ok());
  EXPECT_EQ(GetJob(job).blocks_done(), 2);
  std::string b = AddWorker("127.0.0.1:1002");
  EXPECT_EQ(Poll(b).assignment().resume_from_block(), 2) << "block 2 never reached the store";
}

TEST_F(RecoveryTest, RecoverFailsWhenTheStoreCannotBeRead) {
  SubmitOk(Spec(v1::SEQUENTIAL));
  Restart();
  faulty_.FailReads(true);
  EXPECT_EQ(sched_->Recover().code(), absl::StatusCode::kUnavailable);
  faulty_.FailReads(false);
  ASSERT_TRUE(sched_->Recover().ok());
  v1::ListJobsRequest req;
  EXPECT_EQ(sched_->List(req)->jobs_size(), 1);
}

TEST_F(RecoveryTest, SqliteStoreSurvivesAClosedDatabase) {
  std::string state = tmp_.path() + "/state";
  std::string job, w = "";
  v1::Assignment s0;
  SchedulerOptions o;
  o.allowed_roots = {testing::SourceDir(), tmp_.path()};
  o.clock = &clock_;
  {
    auto store = SqliteJobStore::Open(state);
    ASSERT_TRUE(store.ok()) << store.status();
    prometheus::Registry reg;
    Scheduler s(o, store->get(), &reg);
    v1::RegisterRequest r;
    r.set_data_address("127.0.0.1:1001");
    w = s.Register(r).worker_id();
    auto j = s.Submit(Spec(v1::SEQUENTIAL, 1));
    ASSERT_TRUE(j.ok()) << j.status();
    job = j->id();
    v1::PollRequest pr;
    pr.set_worker_id(w);
    s0 = s.Poll(pr)->assignment();
    v1::BlockReport b;
    b.set_worker_id(w);
    b.set_assignment_id(s0.assignment_id());
    b.set_block(0);
    ASSERT_TRUE(s.Block(b).ok());
  }
  auto store = SqliteJobStore::Open(state);
  ASSERT_TRUE(store.ok()) << store.status();
  prometheus::Registry reg;
  Scheduler s(o, store->get(), &reg);
  ASSERT_TRUE(s.Recover().ok());
  EXPECT_EQ(s.Get(job)->blocks_done(), 1);
  v1::RegisterRequest r;
  r.set_data_address("127.0.0.1:1002");
  v1::PollRequest pr;
  pr.set_worker_id(s.Register(r).worker_id());
  EXPECT_EQ(s.Poll(pr)->assignment().resume_from_block(), 1);
}

using StoreFaultTest = testing::SchedulerFixture;

TEST_F(StoreFaultTest, SubmitIsRefusedWhenTheJobCannotBePersisted) {
  faulty_.FailWrite(1);
  auto job = sched_->Submit(Spec(v1::SEQUENTIAL));
  EXPECT_EQ(job.status().code(), absl::StatusCode::kUnavailable) << job.status();
  v1::ListJobsRequest req;
  EXPECT_EQ(sched_->List(req)->jobs_size(), 0);
  EXPECT_EQ(base_.ListJobs()->size(), 0u);
  std::string id = SubmitOk(Spec(v1::SEQUENTIAL));
  EXPECT_EQ(base_.ListJobs()->size(), 1u);
  EXPECT_EQ(base_.GetJob(id)->state(), v1::QUEUED);
}

TEST_F(StoreFaultTest, FailedBlockWriteIsAnErrorAndTheStageDoesNotAdvance) {
  std::string a = AddWorker("127.0.0.1:1001");
  std::string job = SubmitOk(Spec(v1::SEQUENTIAL, 1));
  v1::Assignment s0 = Poll(a).assignment();
  faulty_.FailWrite(1);
  EXPECT_EQ(ReportBlock(s0, a, 0).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(GetJob(job).blocks_done(), 0);
  EXPECT_TRUE(base_.GetBlocks(job)->empty());
  ASSERT_TRUE(ReportBlock(s0, a, 0).ok());  // the worker retries
  EXPECT_EQ(GetJob(job).blocks_done(), 1);
  EXPECT_EQ(base_.GetBlocks(job)->count(0), 1u);
  EXPECT_EQ(base_.GetJob(job)->blocks_done(), 1);
}

TEST_F(StoreFaultTest, FailedSnapshotWriteWarnsAndIsRetriedOnTick) {
  std::string a = AddWorker("127.0.0.1:1001");
  std::string job = SubmitOk(Spec(v1::SEQUENTIAL, 1));
  v1::Assignment s0 = Poll(a).assignment();
  faulty_.FailAllWrites(true);
  FinishOk(s0, a);
  EXPECT_EQ(GetJob(job).stages(0).state(), "done");
  EXPECT_EQ(base_.GetJob(job)->stages(0).state(), "running") << "the store is behind";
  EXPECT_NE(Messages(job).find("warning: job state not persisted"), std::string::npos);
  sched_->Tick();  // still failing: nothing changes
  EXPECT_EQ(base_.GetJob(job)->stages(0).state(), "running");
  faulty_.FailAllWrites(false);
  sched_->Tick();
  EXPECT_EQ(base_.GetJob(job)->stages(0).state(), "done");
}

}  // namespace
}  // namespace eqat

namespace eqat::testing {
namespace {

using WorkerIdentityTest = SchedulerFixture;

TEST_F(WorkerIdentityTest, AnIdFromBeforeARestartIsNeverIssuedAgain) {
  std::set<std::string> seen;
  std::string before = AddWorker("127.0.0.1:1001");
  seen.insert(before);
  for (int restart = 0; restart < 3; ++restart) {
    Restart();
    ASSERT_TRUE(sched_->Recover().ok());
    for (int i = 0; i < 3; ++i) {
      std::string id = AddWorker("127.0.0.1:" + std::to_string(2000 + 10 * restart + i));
      EXPECT_TRUE(seen.insert(id).second) << id << " was issued twice";
    }
  }
  // The old process's heartbeats do not land on any new worker: it must
  // register again under a fresh id.
  EXPECT_TRUE(Heartbeat(before).reregister());
}

}  // namespace
}  // namespace eqat::testing
