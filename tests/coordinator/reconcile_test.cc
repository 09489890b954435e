// Heartbeat reconciliation on a fake clock: a worker whose heartbeats stop
// naming the assignment it holds (its Poll reply or its FinishStage was
// lost) loses it once UnreportedGrace() has passed since it was handed out:
// the stage (or finalize) is released as for a lost worker, another worker
// takes it, and the worker may poll again. Within the grace, or while its
// heartbeats name what it holds, nothing changes. A stage handed out again
// gets a new stream secret, and routes to it carry the new one.
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "coordinator/scheduler.h"
#include "tests/coordinator/scheduler_fixture.h"

namespace eqat {
namespace {

class ReconcileTest : public testing::SchedulerFixture {
 protected:
  // The grace the fixture's scheduler runs with.
  static absl::Duration Grace() {
    SchedulerOptions o;
    o.worker_timeout = kWorkerTimeout;
    return UnreportedGrace(o);
  }
  v1::HeartbeatResponse Beat(const std::string& worker, const std::string& assignment) {
    v1::HeartbeatRequest r;
    r.set_worker_id(worker);
    r.set_assignment_id(assignment);
    return sched_->Heartbeat(r);
  }
};

TEST_F(ReconcileTest, GraceIsAFewHeartbeatsAndAThirdOfTheTimeout) {
  SchedulerOptions o;  // 1 s heartbeats, 15 s timeout
  EXPECT_EQ(UnreportedGrace(o), absl::Seconds(5));
  o.worker_timeout = absl::Seconds(3);
  EXPECT_EQ(UnreportedGrace(o), absl::Seconds(3)) << "never under 3 heartbeat intervals";
  o.unreported_grace = absl::Seconds(7);
  EXPECT_EQ(UnreportedGrace(o), absl::Seconds(7));
  EXPECT_LT(Grace(), kWorkerTimeout);
}

TEST_F(ReconcileTest, UnreportedStageIsRequeuedAfterTheGraceForAnotherWorker) {
  std::string a = AddWorker("127.0.0.1:1001"), b = AddWorker("127.0.0.1:1002");
  std::string job = SubmitOk(Spec(v1::SEQUENTIAL, /*max_stages=*/1));
  v1::Assignment s0 = Poll(a).assignment();  // the reply is lost: a never starts it
  ASSERT_EQ(s0.kind(), v1::BLOCK_AP);

  // Within the grace a may not have started it yet.
  EXPECT_FALSE(Beat(a, "").reregister());
  clock_.Advance(Grace() - absl::Milliseconds(1));
  EXPECT_FALSE(Beat(a, "").reregister());
  v1::Job j = GetJob(job);
  EXPECT_EQ(j.stages(0).state(), "running");
  EXPECT_EQ(j.stages(0).worker_id(), a);
  EXPECT_FALSE(Poll(b).has_assignment());

  clock_.Advance(absl::Milliseconds(1));
  EXPECT_FALSE(Beat(a, "").reregister());
  std::string msgs = Messages(job);
  EXPECT_NE(msgs.find("stage 0 reassigned: worker " + a + " no longer reports it"),
            std::string::npos)
      << msgs;
  j = GetJob(job);
  EXPECT_EQ(j.state(), v1::RUNNING);
  EXPECT_EQ(j.stages(0).state(), "pending");
  EXPECT_EQ(j.stages(0).worker_id(), "");
  EXPECT_EQ(ReportBlock(s0, a, 0).code(), absl::StatusCode::kNotFound) << "released for good";

  v1::Assignment again = Poll(b).assignment();
  ASSERT_EQ(again.kind(), v1::BLOCK_AP);
  EXPECT_EQ(again.stage_index(), 0);
  EXPECT_NE(again.assignment_id(), s0.assignment_id());
  EXPECT_EQ(GetJob(job).stages(0).worker_id(), b);
  // a holds nothing any more, so it is given new work.
  std::string next_job = SubmitOk(Spec(v1::SEQUENTIAL, /*max_stages=*/1));
  EXPECT_EQ(Poll(a).assignment().job_id(), next_job);
}

TEST_F(ReconcileTest, HeartbeatsNamingTheHeldAssignmentKeepIt) {
  std::string a = AddWorker("127.0.0.1:1001"), b = AddWorker("127.0.0.1:1002");
  std::string job = SubmitOk(Spec(v1::SEQUENTIAL, /*max_stages=*/1));
  v1::Assignment s0 = Poll(a).assignment();
  for (int i = 0; i < 4; ++i) {  // twice the grace, within the worker timeout
    clock_.Advance(Grace() / 2);
    EXPECT_FALSE(Beat(a, s0.assignment_id()).reregister());
  }
  v1::Job j = GetJob(job);
  EXPECT_EQ(j.stages(0).state(), "running");
  EXPECT_EQ(j.stages(0).worker_id(), a);
  EXPECT_EQ(Messages(job).find("reassigned"), std::string::npos);
  EXPECT_FALSE(Poll(b).has_assignment());
  ASSERT_TRUE(ReportBlock(s0, a, 0).ok());
  FinishOk(s0, a);
  EXPECT_EQ(GetJob(job).stages(0).state(), "done");
}

// After a "self" hand-over the worker holds the next stage; a heartbeat
// sent before the route reply arrived still names the previous one.
TEST_F(ReconcileTest, SelfContinuationIsKeptWhileTheWorkerCatchesUp) {
  std::string a = AddWorker("127.0.0.1:1001");
  AddWorker("127.0.0.1:1002");
  std::string job = SubmitOk(Spec(v1::SEQUENTIAL, /*max_stages=*/2));
  v1::Assignment s0 = Poll(a).assignment();
  clock_.Advance(Grace());
  ASSERT_FALSE(Beat(a, s0.assignment_id()).reregister());
  v1::RouteResponse r = Route(s0, a, /*early=*/false, /*wait_ms=*/0);
  ASSERT_TRUE(r.ready() && r.self());
  const v1::Assignment& s1 = r.next();
  Beat(a, s0.assignment_id());
  clock_.Advance(Grace());
  Beat(a, s1.assignment_id());
  v1::Job j = GetJob(job);
  EXPECT_EQ(j.stages(1).state(), "running");
  EXPECT_EQ(j.stages(1).worker_id(), a);
  EXPECT_TRUE(ReportBlock(s1, a, s1.first_block()).ok());
}

TEST_F(ReconcileTest, ReassignedStageGetsANewSecretThatRoutesCarry) {
  std::string a = AddWorker("127.0.0.1:1001"), b = AddWorker("127.0.0.1:1002"),
              c = AddWorker("127.0.0.1:1003");
  std::string job = SubmitOk(Spec(v1::SEQUENTIAL, /*max_stages=*/2));
  v1::Assignment s0 = Poll(a).assignment();
  v1::RouteResponse r;
  std::thread router([&] { r = Route(s0, a, /*early=*/false, /*wait_ms=*/2000); });
  v1::Assignment s1 = Poll(b, /*wait_ms=*/30000).assignment();
  router.join();
  ASSERT_EQ(s1.stage_index(), 1);
  ASSERT_TRUE(r.ready());
  EXPECT_EQ(r.data_secret(), s1.stream_secret());

  // b never reports stage 1 (its poll reply was lost): after the grace it is
  // handed to c, with a new secret, while a still waits to stream.
  clock_.Advance(Grace());
  Beat(a, s0.assignment_id());
  Beat(c, "");
  Beat(b, "");
  ASSERT_NE(Messages(job).find("stage 1 reassigned"), std::string::npos) << Messages(job);
  v1::Assignment again = Poll(c).assignment();
  ASSERT_EQ(again.stage_index(), 1);
  EXPECT_TRUE(again.receive_inputs()) << "stage 0 still holds its outputs";
  EXPECT_EQ(again.stream_secret().size(), 16u);
  EXPECT_NE(again.stream_secret(), s1.stream_secret());

  // Stage 0 asks again: the route names c and c's secret, not b's old one.
  v1::RouteResponse r2 = Route(s0, a, /*early=*/false, /*wait_ms=*/0);
  ASSERT_TRUE(r2.ready());
  EXPECT_EQ(r2.data_address(), "127.0.0.1:1003");
  EXPECT_EQ(r2.data_secret(), again.stream_secret());
}

// A heartbeat naming another assignment (here the stage the worker has
// finished) does not keep the one it holds.
TEST_F(ReconcileTest, UnreportedFinalizeGoesToAnotherWorker) {
  std::string a = AddWorker("127.0.0.1:1001"), b = AddWorker("127.0.0.1:1002");
  std::string job = SubmitOk(Spec(v1::SEQUENTIAL, /*max_stages=*/1));
  v1::Assignment s0 = Poll(a).assignment();
  FinishOk(s0, a);
  v1::Assignment fin = Poll(a).assignment();
  ASSERT_EQ(fin.kind(), v1::FINALIZE);
  clock_.Advance(Grace());
  Beat(a, s0.assignment_id());
  EXPECT_NE(Messages(job).find("finalize reassigned: worker " + a + " no longer reports it"),
            std::string::npos)
      << Messages(job);
  v1::Assignment again = Poll(b).assignment();
  EXPECT_EQ(again.kind(), v1::FINALIZE);
  EXPECT_NE(again.assignment_id(), fin.assignment_id());
}

// A cancelled job's worker whose FinishStage was lost is not left holding
// the aborted assignment: it polls new work after the grace.
TEST_F(ReconcileTest, AbortedAssignmentWhoseFinishWasLostFreesTheWorker) {
  std::string a = AddWorker("127.0.0.1:1001");
  std::string job = SubmitOk(Spec(v1::SEQUENTIAL, /*max_stages=*/1));
  v1::Assignment s0 = Poll(a).assignment();
  ASSERT_TRUE(sched_->Cancel(job).ok());
  ASSERT_EQ(Beat(a, s0.assignment_id()).abort_assignments_size(), 1);
  std::string next_job = SubmitOk(Spec(v1::SEQUENTIAL, /*max_stages=*/1));
  EXPECT_FALSE(Poll(a).has_assignment()) << "still holds the aborted one";
  clock_.Advance(Grace());
  Beat(a, "");
  EXPECT_EQ(Poll(a).assignment().job_id(), next_job);
  EXPECT_EQ(GetJob(job).state(), v1::CANCELLED);
}

}  // namespace
}  // namespace eqat
