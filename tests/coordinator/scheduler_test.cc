// The scheduler without gRPC, on a fake clock (no sleeps): workers register
// and poll, stages are handed out per schedule, routes decide where
// activations stream (or "self"), the pipelined schedule's early route, a
// lost worker's stage is released and resumed elsewhere, a job runs
// through FINALIZE to SUCCEEDED with its events recorded, reports from a
// worker that does not hold the assignment are refused, ListJobs takes
// only the page tokens it issued, and every stage assignment carries a fresh
// stream secret that routes to it hand to its sender (and nobody else sees).
#include "coordinator/scheduler.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "tests/coordinator/scheduler_fixture.h"

namespace eqat {
namespace {

using SchedulerTest = testing::SchedulerFixture;

TEST_F(SchedulerTest, PipelinedAssignsEveryStageAndRoutesEarly) {
  std::string a = AddWorker("127.0.0.1:1001"), b = AddWorker("127.0.0.1:1002");
  std::string job = SubmitOk(Spec(v1::PIPELINED));
  v1::Assignment s0 = Poll(a).assignment();
  v1::Assignment s1 = Poll(b).assignment();
  ASSERT_EQ(s0.kind(), v1::BLOCK_AP);
  ASSERT_EQ(s1.kind(), v1::BLOCK_AP);
  EXPECT_EQ(s0.stage_index(), 0);
  EXPECT_EQ(s1.stage_index(), 1);
  EXPECT_EQ(s0.first_block(), 0);
  EXPECT_EQ(s0.last_block(), 3);  // 5 blocks over 2 workers: 3 + 2
  EXPECT_EQ(s1.first_block(), 3);
  EXPECT_TRUE(s0.pipelined() && s1.pipelined());
  EXPECT_FALSE(s0.receive_inputs());
  EXPECT_TRUE(s1.receive_inputs());
  EXPECT_DOUBLE_EQ(s0.spec().anneal_fraction(), 0.5);

  // Before training, stage 0 learns where stage 1 listens; nothing changes.
  v1::RouteResponse r = Route(s0, a, /*early=*/true, /*wait_ms=*/0);
  EXPECT_TRUE(r.ready());
  EXPECT_FALSE(r.self());
  EXPECT_EQ(r.data_address(), "127.0.0.1:1002");
  EXPECT_NE(Messages(job).find("stage 0 streams to stage 1 while training"), std::string::npos);

  FinishOk(s0, a);
  FinishOk(s1, b);
  v1::Assignment fin = Poll(a).assignment();
  ASSERT_EQ(fin.kind(), v1::FINALIZE);
  FinishOk(fin, a, /*ppl=*/123.5);
  v1::Job done = GetJob(job);
  EXPECT_EQ(done.state(), v1::SUCCEEDED);
  EXPECT_DOUBLE_EQ(done.result().ppl(), 123.5);
  bool finished = false;
  auto ev = sched_->Events(job, 0, absl::ZeroDuration(), &finished);
  ASSERT_TRUE(ev.ok());
  EXPECT_TRUE(finished);
  EXPECT_TRUE(ev->back().final());
}

TEST_F(SchedulerTest, SequentialHandsOverToTheWorkerThatTakesTheNextStage) {
  std::string a = AddWorker("127.0.0.1:1001"), b = AddWorker("127.0.0.1:1002");
  SubmitOk(Spec(v1::SEQUENTIAL));
  v1::Assignment s0 = Poll(a).assignment();
  EXPECT_EQ(s0.stage_index(), 0);
  EXPECT_FALSE(Poll(b).has_assignment()) << "stage 1 waits for stage 0";
  // An early route is never ready in the sequential schedule's hand-over.
  EXPECT_FALSE(Route(s0, a, /*early=*/true, /*wait_ms=*/0).ready());
  // Stage 0 trained and asks where to stream: that makes stage 1 runnable,
  // b's long poll takes it, and the route answers with b's address. The
  // fake time never moves, so neither wait can time out whatever the order.
  v1::RouteResponse r;
  std::thread router([&] { r = Route(s0, a, /*early=*/false, /*wait_ms=*/2000); });
  v1::Assignment s1 = Poll(b, /*wait_ms=*/30000).assignment();
  router.join();
  EXPECT_EQ(s1.stage_index(), 1);
  EXPECT_TRUE(s1.receive_inputs());
  EXPECT_TRUE(r.ready());
  EXPECT_FALSE(r.self());
  EXPECT_EQ(r.data_address(), "127.0.0.1:1002");
}

TEST_F(SchedulerTest, EveryStageAssignmentCarriesSixteenFreshSecretBytes) {
  std::string a = AddWorker("127.0.0.1:1001"), b = AddWorker("127.0.0.1:1002");
  std::string job = SubmitOk(Spec(v1::PIPELINED));
  v1::Assignment s0 = Poll(a).assignment();
  v1::Assignment s1 = Poll(b).assignment();
  ASSERT_EQ(s1.stage_index(), 1);
  EXPECT_EQ(s0.stream_secret().size(), 16u);
  EXPECT_EQ(s1.stream_secret().size(), 16u);
  EXPECT_NE(s0.stream_secret(), s1.stream_secret());
  EXPECT_NE(s1.stream_secret(), std::string(16, '\0'));

  // The early route hands stage 1's secret to stage 0, its sender.
  v1::RouteResponse r = Route(s0, a, /*early=*/true, /*wait_ms=*/0);
  ASSERT_TRUE(r.ready());
  EXPECT_EQ(r.data_address(), "127.0.0.1:1002");
  EXPECT_EQ(r.data_secret(), s1.stream_secret());

  // Clients never see a secret: not in the job, its events, or the store.
  for (const std::string& secret : {s0.stream_secret(), s1.stream_secret()}) {
    EXPECT_EQ(GetJob(job).SerializeAsString().find(secret), std::string::npos);
    EXPECT_EQ(Messages(job).find(secret), std::string::npos);
    auto stored = base_.GetJob(job);
    ASSERT_TRUE(stored.ok());
    EXPECT_EQ(stored->SerializeAsString().find(secret), std::string::npos);
  }
  FinishOk(s0, a);
  FinishOk(s1, b);
  v1::Assignment fin = Poll(a).assignment();
  ASSERT_EQ(fin.kind(), v1::FINALIZE);
  EXPECT_TRUE(fin.stream_secret().empty()) << "finalize takes no stream";
}

TEST_F(SchedulerTest, HandOverRouteCarriesTheReceivingStagesSecret) {
  std::string a = AddWorker("127.0.0.1:1001"), b = AddWorker("127.0.0.1:1002");
  SubmitOk(Spec(v1::SEQUENTIAL));
  v1::Assignment s0 = Poll(a).assignment();
  v1::RouteResponse r;
  std::thread router([&] { r = Route(s0, a, /*early=*/false, /*wait_ms=*/2000); });
  v1::Assignment s1 = Poll(b, /*wait_ms=*/30000).assignment();
  router.join();
  ASSERT_TRUE(r.ready());
  ASSERT_FALSE(r.self());
  ASSERT_EQ(s1.stream_secret().size(), 16u);
  EXPECT_EQ(r.data_secret(), s1.stream_secret());
  EXPECT_NE(r.data_secret(), s0.stream_secret());
  // Asked again, the route still names the same (current) secret.
  EXPECT_EQ(Route(s0, a, /*early=*/false, /*wait_ms=*/0).data_secret(), s1.stream_secret());
}

TEST_F(SchedulerTest, SelfContinuationCarriesItsOwnFreshSecret) {
  std::string a = AddWorker("127.0.0.1:1001");
  AddWorker("127.0.0.1:1002");
  SubmitOk(Spec(v1::SEQUENTIAL, /*max_stages=*/2));
  v1::Assignment s0 = Poll(a).assignment();
  v1::RouteResponse r = Route(s0, a, /*early=*/false, /*wait_ms=*/0);
  ASSERT_TRUE(r.ready() && r.self());
  EXPECT_TRUE(r.data_secret().empty()) << "nothing is streamed";
  EXPECT_EQ(r.next().stream_secret().size(), 16u);
  EXPECT_NE(r.next().stream_secret(), s0.stream_secret());
}

TEST_F(SchedulerTest, SelfContinuationWhenTheRouteWaitPasses) {
  std::string a = AddWorker("127.0.0.1:1001");
  std::string b = AddWorker("127.0.0.1:1002");  // registered, but never polls
  std::string job = SubmitOk(Spec(v1::SEQUENTIAL, /*max_stages=*/2));
  v1::Assignment s0 = Poll(a).assignment();
  v1::RouteResponse r;
  std::thread router([&] { r = Route(s0, a, /*early=*/false, /*wait_ms=*/5000); });
  // Advance only once the route is waiting; route_wait (1 s) < wait_ms.
  ASSERT_TRUE(clock_.AwaitBlockedWaits(1));
  EXPECT_EQ(GetJob(job).stages(0).state(), "streaming");
  clock_.Advance(kRouteWait);
  router.join();
  ASSERT_TRUE(r.ready());
  EXPECT_TRUE(r.self());
  EXPECT_EQ(r.next().stage_index(), 1);
  EXPECT_EQ(r.next().first_block(), s0.last_block());
  v1::Job j = GetJob(job);
  ASSERT_EQ(j.stages_size(), 2);
  EXPECT_EQ(j.stages(0).state(), "done");
  EXPECT_EQ(j.stages(1).worker_id(), a);
}

TEST_F(SchedulerTest, RouteWithZeroWaitContinuesInProcessAtOnce) {
  std::string a = AddWorker("127.0.0.1:1001");
  AddWorker("127.0.0.1:1002");
  SubmitOk(Spec(v1::SEQUENTIAL, /*max_stages=*/2));
  v1::Assignment s0 = Poll(a).assignment();
  v1::RouteResponse r = Route(s0, a, /*early=*/false, /*wait_ms=*/0);
  EXPECT_TRUE(r.ready() && r.self());
  EXPECT_EQ(clock_.blocked_waits(), 0);
}

TEST_F(SchedulerTest, LostWorkerReleasesItsStageWithAnEvent) {
  std::string a = AddWorker("127.0.0.1:1001");
  std::string job = SubmitOk(Spec(v1::SEQUENTIAL));
  v1::Assignment s0 = Poll(a).assignment();
  ASSERT_EQ(s0.kind(), v1::BLOCK_AP);
  clock_.Advance(kWorkerTimeout - absl::Milliseconds(1));
  sched_->Tick();
  EXPECT_EQ(GetJob(job).stages(0).state(), "running") << "not silent long enough";
  clock_.Advance(absl::Milliseconds(1));
  sched_->Tick();
  std::string msgs = Messages(job);
  EXPECT_NE(msgs.find("worker " + a + " lost (no heartbeat for 15s)"), std::string::npos) << msgs;
  EXPECT_NE(msgs.find("stage 0 reassigned"), std::string::npos) << msgs;
  v1::Job j = GetJob(job);
  EXPECT_EQ(j.state(), v1::RUNNING);
  EXPECT_EQ(j.stages(0).state(), "pending");
  EXPECT_EQ(j.stages(0).worker_id(), "");
  // The lost worker must register again; a new one picks the stage up.
  EXPECT_TRUE(Heartbeat(a).reregister());
  v1::PollRequest pr;
  pr.set_worker_id(a);
  EXPECT_EQ(sched_->Poll(pr).status().code(), absl::StatusCode::kFailedPrecondition);
  std::string c = AddWorker("127.0.0.1:1003");
  v1::Assignment again = Poll(c).assignment();
  EXPECT_EQ(again.kind(), v1::BLOCK_AP);
  EXPECT_EQ(again.stage_index(), 0);
}

TEST_F(SchedulerTest, ReassignedStageResumesFromTheBlocksAlreadyReported) {
  std::string a = AddWorker("127.0.0.1:1001"), b = AddWorker("127.0.0.1:1002");
  std::string job = SubmitOk(Spec(v1::SEQUENTIAL, /*max_stages=*/1));
  v1::Assignment s0 = Poll(a).assignment();
  ASSERT_EQ(s0.last_block(), 5);
  ASSERT_TRUE(ReportBlock(s0, a, 0).ok());
  ASSERT_TRUE(ReportBlock(s0, a, 1).ok());
  EXPECT_FALSE(Poll(b).has_assignment());  // b is heard from now
  clock_.Advance(absl::Seconds(10));
  EXPECT_FALSE(Heartbeat(b).reregister());
  clock_.Advance(absl::Seconds(6));  // a: 16 s silent, b: 6 s
  sched_->Tick();
  EXPECT_NE(Messages(job).find("stage 0 reassigned: worker " + a + " lost"), std::string::npos);
  EXPECT_NE(Messages(job).find("resuming at block 2"), std::string::npos);

  v1::Assignment again = Poll(b).assignment();
  ASSERT_EQ(again.kind(), v1::BLOCK_AP);
  EXPECT_NE(again.assignment_id(), s0.assignment_id());
  EXPECT_EQ(again.first_block(), 0);
  EXPECT_EQ(again.resume_from_block(), 2);
  EXPECT_EQ(GetJob(job).blocks_done(), 2);
  // The lost worker's late reports are refused; b's count.
  EXPECT_EQ(ReportBlock(s0, a, 2).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(ReportBlock(again, b, 2).ok());
  EXPECT_EQ(GetJob(job).blocks_done(), 3);
  EXPECT_EQ(GetJob(job).stages(0).worker_id(), b);
}

TEST_F(SchedulerTest, LostFinalizeWorkerHandsFinalizeToAnother) {
  std::string a = AddWorker("127.0.0.1:1001");
  std::string job = SubmitOk(Spec(v1::SEQUENTIAL, /*max_stages=*/1));
  v1::Assignment s0 = Poll(a).assignment();
  FinishOk(s0, a);
  v1::Assignment fin = Poll(a).assignment();
  ASSERT_EQ(fin.kind(), v1::FINALIZE);
  clock_.Advance(kWorkerTimeout);
  sched_->Tick();
  EXPECT_NE(Messages(job).find("finalize reassigned"), std::string::npos);
  std::string c = AddWorker("127.0.0.1:1003");
  EXPECT_EQ(Poll(c).assignment().kind(), v1::FINALIZE);
}

TEST_F(SchedulerTest, FailedStageFailsTheJobWithTheWorkersMessage) {
  std::string a = AddWorker("127.0.0.1:1001");
  std::string job = SubmitOk(Spec(v1::SEQUENTIAL));
  v1::Assignment s0 = Poll(a).assignment();
  v1::StageFinished f;
  f.set_worker_id(a);
  f.set_assignment_id(s0.assignment_id());
  f.set_ok(false);
  f.set_error("block 0: the loss became non-finite twice");
  ASSERT_TRUE(sched_->Finish(f).ok());
  v1::Job j = GetJob(job);
  EXPECT_EQ(j.state(), v1::FAILED);
  EXPECT_NE(j.error().find("non-finite"), std::string::npos);
  EXPECT_FALSE(Poll(a).has_assignment());
}

TEST_F(SchedulerTest, CancelAbortsRunningAssignmentsThroughTheHeartbeat) {
  std::string a = AddWorker("127.0.0.1:1001"), b = AddWorker("127.0.0.1:1002");
  std::string job = SubmitOk(Spec(v1::PIPELINED));
  v1::Assignment s0 = Poll(a).assignment();
  ASSERT_TRUE(Poll(b).has_assignment());
  ASSERT_TRUE(sched_->Cancel(job).ok());
  EXPECT_EQ(GetJob(job).state(), v1::CANCELLED);
  v1::HeartbeatResponse hb = Heartbeat(a);
  ASSERT_EQ(hb.abort_assignments_size(), 1);
  EXPECT_EQ(hb.abort_assignments(0), s0.assignment_id());
  EXPECT_EQ(Heartbeat(a).abort_assignments_size(), 0) << "delivered once";
  EXPECT_TRUE(Route(s0, a, /*early=*/true, /*wait_ms=*/0).aborted());
  EXPECT_EQ(sched_->Cancel(job).status().code(), absl::StatusCode::kFailedPrecondition);
}

// Assignment ids end in 128 random bits: two assignments of the same job
// share nothing a client could extrapolate from.
TEST_F(SchedulerTest, AssignmentIdsAreUnguessable) {
  std::string a = AddWorker("127.0.0.1:1001"), b = AddWorker("127.0.0.1:1002");
  SubmitOk(Spec(v1::PIPELINED));
  std::string ia = Poll(a).assignment().assignment_id();
  std::string ib = Poll(b).assignment().assignment_id();
  for (const std::string& id : {ia, ib}) {
    ASSERT_GE(id.size(), 33u) << id;
    std::string tail = id.substr(id.size() - 32);
    EXPECT_EQ(tail.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
    EXPECT_EQ(id[id.size() - 33], '-') << id;
  }
  EXPECT_NE(ia.substr(ia.size() - 32), ib.substr(ib.size() - 32));
}

// Only the worker holding an assignment is believed: FinishStage,
// BlockReport, ProgressReport and GetRoute from another registered worker
// are refused, change nothing and do not use the assignment up; the holder
// then finishes as usual.
TEST_F(SchedulerTest, ReportsFromAWorkerThatDoesNotHoldTheAssignmentAreRefused) {
  std::string a = AddWorker("127.0.0.1:1001"), b = AddWorker("127.0.0.1:1002");
  std::string job = SubmitOk(Spec(v1::SEQUENTIAL));
  v1::Assignment s0 = Poll(a).assignment();
  ASSERT_EQ(s0.stage_index(), 0);
  ASSERT_EQ(GetJob(job).stages_size(), 2);
  auto expect_refused = [&](const absl::Status& st, const char* what) {
    EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << what << ": " << st;
    EXPECT_NE(st.message().find(s0.assignment_id()), absl::string_view::npos) << what << ": " << st;
    EXPECT_EQ(st.message().find(a), absl::string_view::npos) << what << " names the holder: " << st;
  };
  v1::StageFinished forged;
  forged.set_worker_id(b);
  forged.set_assignment_id(s0.assignment_id());
  forged.set_ok(false);
  forged.set_error("forged failure");
  expect_refused(sched_->Finish(forged), "failed FinishStage");
  forged.set_ok(true);
  expect_refused(sched_->Finish(forged), "FinishStage");
  expect_refused(ReportBlock(s0, b, 0), "BlockReport");
  v1::ProgressReport progress;
  progress.set_worker_id(b);
  progress.set_assignment_id(s0.assignment_id());
  progress.set_stage("forged-stage");
  expect_refused(sched_->Progress(progress), "ProgressReport");
  v1::RouteRequest route;  // would hand stage 1 to b ("self") if believed
  route.set_worker_id(b);
  route.set_assignment_id(s0.assignment_id());
  expect_refused(sched_->Route(route).status(), "GetRoute");
  forged.set_assignment_id(s0.assignment_id() + "0");
  EXPECT_EQ(sched_->Finish(forged).code(), absl::StatusCode::kNotFound) << "unknown stays unknown";

  v1::Job j = GetJob(job);
  EXPECT_EQ(j.state(), v1::RUNNING);
  EXPECT_EQ(j.stage(), "block-ap");
  EXPECT_EQ(j.stages(0).state(), "running");
  EXPECT_EQ(j.stages(0).worker_id(), a);
  EXPECT_EQ(j.stages(1).state(), "pending");
  EXPECT_EQ(j.blocks_done(), 0);
  EXPECT_TRUE(base_.GetBlocks(job)->empty());
  EXPECT_EQ(Messages(job).find("forged"), std::string::npos) << Messages(job);
  EXPECT_FALSE(Poll(b).has_assignment()) << "stage 1 still waits for stage 0";

  ASSERT_TRUE(ReportBlock(s0, a, 0).ok());
  EXPECT_EQ(GetJob(job).blocks_done(), 1);
  FinishOk(s0, a);
  EXPECT_EQ(GetJob(job).stages(0).state(), "done");
  EXPECT_EQ(Poll(b).assignment().stage_index(), 1);
}

TEST_F(SchedulerTest, ListJobsAcceptsOnlyThePageTokensItIssued) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(SubmitOk(Spec(v1::SEQUENTIAL)));
  v1::ListJobsRequest req;
  req.set_page_size(2);
  absl::StatusOr<v1::ListJobsResponse> page = sched_->List(req);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->jobs_size(), 2);
  EXPECT_EQ(page->jobs(0).id(), ids[0]);
  EXPECT_EQ(page->jobs(1).id(), ids[1]);
  ASSERT_FALSE(page->next_page_token().empty());
  req.set_page_token(page->next_page_token());
  page = sched_->List(req);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->jobs_size(), 1);
  EXPECT_EQ(page->jobs(0).id(), ids[2]);
  EXPECT_TRUE(page->next_page_token().empty());
  req.set_page_token("3");  // just past the last job: an empty page
  page = sched_->List(req);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->jobs_size(), 0);

  const std::vector<std::string> bad = {"abc", "-1", " 5", "5 ", "+3", "4", "0x1", "1.0",
                                        std::string("1\0", 2), "18446744073709551615",
                                        "18446744073709551616", "99999999999999999999999999"};
  for (const std::string& token : bad) {
    req.set_page_token(token);
    absl::Status st = sched_->List(req).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << "'" << token << "': " << st;
    EXPECT_EQ(st.message(), "page_token: not a token this coordinator issued") << st;
  }
}

}  // namespace
}  // namespace eqat

namespace eqat::testing {
namespace {

class OutputCheckTest : public SchedulerFixture {
 protected:
  // Runs one job through its block stage; returns its finalize assignment.
  v1::Assignment ToFinalize(const std::string& w, std::string* job) {
    *job = SubmitOk(Spec(v1::SEQUENTIAL, /*max_stages=*/1));
    v1::Assignment s0 = Poll(w).assignment();
    for (int b = s0.first_block(); b < s0.last_block(); ++b) EXPECT_TRUE(ReportBlock(s0, w, b).ok());
    FinishOk(s0, w);
    v1::Assignment fin = Poll(w).assignment();
    EXPECT_EQ(fin.kind(), v1::FINALIZE);
    return fin;
  }
  absl::Status Report(const v1::Assignment& fin, const std::string& w,
                      const google::protobuf::Map<std::string, uint64_t>& sums) {
    v1::StageFinished f;
    f.set_worker_id(w);
    f.set_assignment_id(fin.assignment_id());
    f.set_ok(true);
    f.mutable_result()->set_ppl(1.0);
    f.mutable_result()->set_output_dir("/somewhere/else");  // never trusted
    *f.mutable_result()->mutable_output_checksums() = sums;
    return sched_->Finish(f);
  }
};

TEST_F(OutputCheckTest, AVerifiedOutputSucceedsUnderTheSpecsPath) {
  std::string w = AddWorker("127.0.0.1:1001"), job;
  v1::Assignment fin = ToFinalize(w, &job);
  ASSERT_TRUE(Report(fin, w, WriteOutput(fin.spec().output_dir())).ok());
  v1::Job j = GetJob(job);
  EXPECT_EQ(j.state(), v1::SUCCEEDED);
  EXPECT_EQ(j.result().output_dir(), fin.spec().output_dir());
  EXPECT_EQ(j.result().output_checksums().size(), 1u);
}

TEST_F(OutputCheckTest, AForgedFinalizeWithoutAnOutputFolderFailsTheJob) {
  std::string w = AddWorker("127.0.0.1:1001"), job;
  v1::Assignment fin = ToFinalize(w, &job);
  google::protobuf::Map<std::string, uint64_t> sums;
  sums["model.safetensors"] = 1234;
  ASSERT_TRUE(Report(fin, w, sums).ok());
  v1::Job j = GetJob(job);
  EXPECT_EQ(j.state(), v1::FAILED);
  EXPECT_NE(j.error().find("output check failed"), std::string::npos) << j.error();
  EXPECT_EQ(j.result().ppl(), 0) << "the forged result is not recorded";
}

TEST_F(OutputCheckTest, AChangedMissingOrUnlistedFileFailsTheJob) {
  for (int mode = 0; mode < 4; ++mode) {
    std::string w = AddWorker("127.0.0.1:" + std::to_string(1100 + mode)), job;
    v1::Assignment fin = ToFinalize(w, &job);
    auto sums = WriteOutput(fin.spec().output_dir());
    const std::string dir = fin.spec().output_dir();
    std::string want;
    if (mode == 0) {
      ASSERT_TRUE(WriteFileAtomic(JoinPath(dir, "config.json"), "{\"flipped\": 1}").ok());
      want = "'config.json' changed";
    } else if (mode == 1) {
      sums["model.safetensors"] = 99;
      want = "'model.safetensors' is missing";
    } else if (mode == 2) {
      ASSERT_TRUE(WriteFileAtomic(JoinPath(dir, "planted.py"), "import os").ok());
      want = "'planted.py' was not reported";
    } else {
      sums.clear();
      want = "lists no output files";
    }
    ASSERT_TRUE(Report(fin, w, sums).ok());
    v1::Job j = GetJob(job);
    EXPECT_EQ(j.state(), v1::FAILED) << mode;
    EXPECT_NE(j.error().find(want), std::string::npos) << mode << ": " << j.error();
  }
}

}  // namespace
}  // namespace eqat::testing

namespace eqat::testing {
namespace {

class CorruptBlockTest : public SchedulerFixture {
 protected:
  void Corrupt(const v1::Assignment& a, const std::string& w, int block) {
    v1::StageFinished f;
    f.set_worker_id(w);
    f.set_assignment_id(a.assignment_id());
    f.set_ok(false);
    f.set_error("block file checksum mismatch");
    f.set_corrupt_block(block);
    ASSERT_TRUE(sched_->Finish(f).ok());
  }
  void TrainAll(const v1::Assignment& s, const std::string& w) {
    for (int b = s.resume_from_block(); b < s.last_block(); ++b) {
      ASSERT_TRUE(ReportBlock(s, w, b).ok());
    }
    FinishOk(s, w);
  }
};

TEST_F(CorruptBlockTest, ACorruptBlockFoundByFinalizeIsRecomputedNotTrusted) {
  std::string w = AddWorker("127.0.0.1:1001");
  std::string job = SubmitOk(Spec(v1::SEQUENTIAL, /*max_stages=*/1));
  v1::Assignment s0 = Poll(w).assignment();
  TrainAll(s0, w);
  v1::Assignment fin = Poll(w).assignment();
  ASSERT_EQ(fin.kind(), v1::FINALIZE);
  EXPECT_EQ(fin.block_checksums_size(), 0) << "the fixture reports no checksums";
  Corrupt(fin, w, 2);
  EXPECT_EQ(GetJob(job).state(), v1::RUNNING);
  v1::Assignment again = Poll(w).assignment();
  ASSERT_EQ(again.kind(), v1::BLOCK_AP);
  EXPECT_EQ(again.resume_from_block(), 2) << "blocks 0-1 are kept";
  EXPECT_FALSE(again.receive_inputs()) << "inputs are rebuilt from the blocks on disk";
  EXPECT_EQ(GetJob(job).stages(0).blocks_done(), 2);
  EXPECT_NE(Messages(job).find("block 2 is recomputed"), std::string::npos) << Messages(job);
  TrainAll(again, w);
  v1::Assignment fin2 = Poll(w).assignment();
  ASSERT_EQ(fin2.kind(), v1::FINALIZE);
  FinishOk(fin2, w, 10.0);
  EXPECT_EQ(GetJob(job).state(), v1::SUCCEEDED);
}

TEST_F(CorruptBlockTest, ARecomputedStageSurvivesARestartAtTheSameBlock) {
  std::string w = AddWorker("127.0.0.1:1001");
  std::string job = SubmitOk(Spec(v1::SEQUENTIAL, /*max_stages=*/1));
  v1::Assignment s0 = Poll(w).assignment();
  TrainAll(s0, w);
  v1::Assignment fin = Poll(w).assignment();
  Corrupt(fin, w, 3);
  Restart();
  ASSERT_TRUE(sched_->Recover().ok());
  std::string w2 = AddWorker("127.0.0.1:1002");
  v1::Assignment again = Poll(w2).assignment();
  ASSERT_EQ(again.kind(), v1::BLOCK_AP);
  EXPECT_EQ(again.resume_from_block(), 3);
}

TEST_F(CorruptBlockTest, ABlockThatKeepsFailingFailsTheJobAfterTheCap) {
  std::string w = AddWorker("127.0.0.1:1001");
  std::string job = SubmitOk(Spec(v1::SEQUENTIAL, /*max_stages=*/1));
  v1::Assignment s = Poll(w).assignment();
  TrainAll(s, w);
  for (int i = 0; i < Scheduler::kMaxBlockRecomputes; ++i) {
    v1::Assignment fin = Poll(w).assignment();
    ASSERT_EQ(fin.kind(), v1::FINALIZE) << i;
    Corrupt(fin, w, 1);
    ASSERT_EQ(GetJob(job).state(), v1::RUNNING) << i;
    TrainAll(Poll(w).assignment(), w);
  }
  v1::Assignment fin = Poll(w).assignment();
  Corrupt(fin, w, 1);
  v1::Job j = GetJob(job);
  EXPECT_EQ(j.state(), v1::FAILED);
  EXPECT_NE(j.error().find("checksum mismatch"), std::string::npos) << j.error();
}

}  // namespace
}  // namespace eqat::testing

namespace eqat::testing {
namespace {

using RetryTest = SchedulerFixture;

TEST_F(RetryTest, ADiskFullFinalizeIsRetriedThenTheJobFailsAfterTheCap) {
  std::string w = AddWorker("127.0.0.1:1001");
  std::string job = SubmitOk(Spec(v1::SEQUENTIAL, /*max_stages=*/1));
  v1::Assignment s0 = Poll(w).assignment();
  for (int b = 0; b < s0.last_block(); ++b) ASSERT_TRUE(ReportBlock(s0, w, b).ok());
  FinishOk(s0, w);
  auto disk_full = [&](const v1::Assignment& a) {
    v1::StageFinished f;
    f.set_worker_id(w);
    f.set_assignment_id(a.assignment_id());
    f.set_ok(false);
    f.set_error("out/model.safetensors: write failed: No space left on device (disk full)");
    f.set_retryable(true);
    ASSERT_TRUE(sched_->Finish(f).ok());
  };
  for (int i = 1; i <= Scheduler::kMaxRetries; ++i) {
    v1::Assignment fin = Poll(w).assignment();
    ASSERT_EQ(fin.kind(), v1::FINALIZE) << i;
    disk_full(fin);
    ASSERT_EQ(GetJob(job).state(), v1::RUNNING) << i;
    EXPECT_NE(Messages(job).find(absl::StrFormat("retrying (%d of %d)", i, Scheduler::kMaxRetries)),
              std::string::npos);
  }
  disk_full(Poll(w).assignment());
  v1::Job j = GetJob(job);
  EXPECT_EQ(j.state(), v1::FAILED);
  EXPECT_NE(j.error().find("disk full"), std::string::npos) << j.error();
}

TEST_F(RetryTest, ADiskFullStageIsRequeuedAtItsFirstUnreportedBlock) {
  std::string w = AddWorker("127.0.0.1:1001");
  std::string job = SubmitOk(Spec(v1::SEQUENTIAL, /*max_stages=*/1));
  v1::Assignment s0 = Poll(w).assignment();
  ASSERT_TRUE(ReportBlock(s0, w, 0).ok());
  ASSERT_TRUE(ReportBlock(s0, w, 1).ok());
  v1::StageFinished f;
  f.set_worker_id(w);
  f.set_assignment_id(s0.assignment_id());
  f.set_ok(false);
  f.set_error("block 2: No space left on device");
  f.set_retryable(true);
  ASSERT_TRUE(sched_->Finish(f).ok());
  v1::Assignment again = Poll(w).assignment();
  ASSERT_EQ(again.kind(), v1::BLOCK_AP);
  EXPECT_EQ(again.resume_from_block(), 2);
  EXPECT_EQ(GetJob(job).state(), v1::RUNNING);
}

}  // namespace
}  // namespace eqat::testing
