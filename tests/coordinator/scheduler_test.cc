// The scheduler without gRPC: workers register and poll, stages are handed
// out per schedule, routes decide where activations stream (or "self"),
// the pipelined schedule's early route, a lost worker's stage is released,
// and a job runs through FINALIZE to SUCCEEDED with its events recorded.
#include "coordinator/scheduler.h"

#include <gtest/gtest.h>

#include <thread>

#include "tests/coordinator/test_util.h"

namespace eqat {
namespace {

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = JobStore::Open(tmp_.path() + "/state");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    SchedulerOptions o;
    o.allowed_roots = {testing::SourceDir(), tmp_.path()};
    o.route_wait = absl::Seconds(1);
    o.worker_timeout = absl::Milliseconds(300);
    sched_ = std::make_unique<Scheduler>(o, store_.get(), &registry_);
  }

  std::string AddWorker(const std::string& data_address) {
    v1::RegisterRequest r;
    r.set_data_address(data_address);
    r.mutable_capacity()->set_device("cpu");
    return sched_->Register(r).worker_id();
  }
  v1::PollResponse Poll(const std::string& worker) {
    v1::PollRequest r;
    r.set_worker_id(worker);
    r.set_wait_ms(0);
    auto p = sched_->Poll(r);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *p : v1::PollResponse();
  }
  v1::RouteResponse Route(const v1::Assignment& a, const std::string& worker, bool early,
                          int wait_ms = 2000) {
    v1::RouteRequest r;
    r.set_worker_id(worker);
    r.set_assignment_id(a.assignment_id());
    r.set_wait_ms(wait_ms);
    r.set_early(early);
    auto resp = sched_->Route(r);
    EXPECT_TRUE(resp.ok()) << resp.status();
    return resp.ok() ? *resp : v1::RouteResponse();
  }
  void FinishOk(const v1::Assignment& a, const std::string& worker, double ppl = 0) {
    v1::StageFinished f;
    f.set_worker_id(worker);
    f.set_assignment_id(a.assignment_id());
    f.set_ok(true);
    if (a.kind() == v1::FINALIZE) f.mutable_result()->set_ppl(ppl);
    ASSERT_TRUE(sched_->Finish(f).ok());
  }
  std::string Messages(const std::string& job) {
    bool finished = false;
    auto ev = sched_->Events(job, 0, absl::ZeroDuration(), &finished);
    EXPECT_TRUE(ev.ok()) << ev.status();
    std::string all;
    if (ev.ok()) {
      for (const auto& e : *ev) all += e.message() + "\n";
    }
    return all;
  }
  v1::JobSpec Spec(v1::Schedule schedule) {
    v1::JobSpec s = testing::StoriesSpec(tmp_.path() + "/out-" + std::to_string(++jobs_));
    s.set_schedule(schedule);
    return s;
  }

  testing::TempDir tmp_;
  prometheus::Registry registry_;
  std::unique_ptr<JobStore> store_;
  std::unique_ptr<Scheduler> sched_;
  int jobs_ = 0;
};

TEST_F(SchedulerTest, PipelinedAssignsEveryStageAndRoutesEarly) {
  std::string a = AddWorker("127.0.0.1:1001"), b = AddWorker("127.0.0.1:1002");
  auto job = sched_->Submit(Spec(v1::PIPELINED));
  ASSERT_TRUE(job.ok()) << job.status();
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
  EXPECT_NE(Messages(job->id()).find("stage 0 streams to stage 1 while training"), std::string::npos);

  FinishOk(s0, a);
  FinishOk(s1, b);
  v1::Assignment fin = Poll(a).assignment();
  ASSERT_EQ(fin.kind(), v1::FINALIZE);
  FinishOk(fin, a, /*ppl=*/123.5);
  auto done = sched_->Get(job->id());
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state(), v1::SUCCEEDED);
  EXPECT_DOUBLE_EQ(done->result().ppl(), 123.5);
}

TEST_F(SchedulerTest, SequentialWaitsThenContinuesInProcessWhenNobodyTakesTheNextStage) {
  std::string a = AddWorker("127.0.0.1:1001"), b = AddWorker("127.0.0.1:1002");
  auto job = sched_->Submit(Spec(v1::SEQUENTIAL));
  ASSERT_TRUE(job.ok()) << job.status();
  v1::Assignment s0 = Poll(a).assignment();
  EXPECT_EQ(s0.stage_index(), 0);
  EXPECT_FALSE(Poll(b).has_assignment()) << "stage 1 waits for stage 0";
  // An early route is never ready in the sequential schedule's hand-over.
  EXPECT_FALSE(Route(s0, a, /*early=*/true, /*wait_ms=*/0).ready());
  // Stage 0 trained and asks where to stream: stage 1 becomes runnable, b
  // takes it within the route wait, and the answer is b's data address.
  std::thread poller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    v1::Assignment s1 = Poll(b).assignment();
    EXPECT_EQ(s1.stage_index(), 1);
    EXPECT_TRUE(s1.receive_inputs());
  });
  v1::RouteResponse r = Route(s0, a, /*early=*/false);
  poller.join();
  EXPECT_TRUE(r.ready());
  EXPECT_FALSE(r.self());
  EXPECT_EQ(r.data_address(), "127.0.0.1:1002");
}

TEST_F(SchedulerTest, SelfContinuationWhenOnlyOneWorkerIsFree) {
  std::string a = AddWorker("127.0.0.1:1001");
  v1::JobSpec spec = Spec(v1::SEQUENTIAL);
  spec.set_max_stages(2);
  std::string b = AddWorker("127.0.0.1:1002");  // registered, but never polls
  auto job = sched_->Submit(spec);
  ASSERT_TRUE(job.ok());
  v1::Assignment s0 = Poll(a).assignment();
  v1::RouteResponse r = Route(s0, a, false);
  ASSERT_TRUE(r.ready());
  EXPECT_TRUE(r.self());
  EXPECT_EQ(r.next().stage_index(), 1);
  EXPECT_EQ(r.next().first_block(), s0.last_block());
}

TEST_F(SchedulerTest, LostWorkerReleasesItsStageWithAnEvent) {
  std::string a = AddWorker("127.0.0.1:1001");
  auto job = sched_->Submit(Spec(v1::SEQUENTIAL));
  ASSERT_TRUE(job.ok());
  v1::Assignment s0 = Poll(a).assignment();
  ASSERT_EQ(s0.kind(), v1::BLOCK_AP);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  sched_->Tick();
  std::string msgs = Messages(job->id());
  EXPECT_NE(msgs.find("lost (no heartbeat"), std::string::npos) << msgs;
  EXPECT_NE(msgs.find("stage 0 reassigned"), std::string::npos) << msgs;
  // A new worker picks the stage up again.
  std::string c = AddWorker("127.0.0.1:1003");
  v1::Assignment again = Poll(c).assignment();
  EXPECT_EQ(again.kind(), v1::BLOCK_AP);
  EXPECT_EQ(again.stage_index(), 0);
}

TEST_F(SchedulerTest, FailedStageFailsTheJobWithTheWorkersMessage) {
  std::string a = AddWorker("127.0.0.1:1001");
  auto job = sched_->Submit(Spec(v1::SEQUENTIAL));
  ASSERT_TRUE(job.ok());
  v1::Assignment s0 = Poll(a).assignment();
  v1::StageFinished f;
  f.set_worker_id(a);
  f.set_assignment_id(s0.assignment_id());
  f.set_ok(false);
  f.set_error("block 0: the loss became non-finite twice");
  ASSERT_TRUE(sched_->Finish(f).ok());
  auto j = sched_->Get(job->id());
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j->state(), v1::FAILED);
  EXPECT_NE(j->error().find("non-finite"), std::string::npos);
  EXPECT_FALSE(Poll(a).has_assignment());
}

}  // namespace
}  // namespace eqat
