// Test fixture for the Scheduler: a FakeClock, an InMemoryJobStore behind
// a FaultInjectingJobStore, and helpers that play the workers' side
// (register, poll, route, report blocks, finish). Restart() drops the
// scheduler (a coordinator crash: in-memory state and assignments lost)
// and builds a new one over the same store, without recovering.
#ifndef EQAT_TESTS_COORDINATOR_SCHEDULER_FIXTURE_H_
#define EQAT_TESTS_COORDINATOR_SCHEDULER_FIXTURE_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/file_util.h"
#include "common/folder_checksums.h"
#include "coordinator/in_memory_job_store.h"
#include "coordinator/scheduler.h"
#include "tests/coordinator/fake_clock.h"
#include "tests/coordinator/fault_injecting_job_store.h"
#include "tests/coordinator/test_util.h"

namespace eqat::testing {

class SchedulerFixture : public ::testing::Test {
 protected:
  static constexpr absl::Duration kWorkerTimeout = absl::Seconds(15);
  static constexpr absl::Duration kRouteWait = absl::Seconds(1);

  SchedulerFixture() : faulty_(&base_) { Restart(); }
  void TearDown() override { EXPECT_EQ(clock_.guard_trips(), 0) << "a wait relied on the hang guard"; }

  void Restart() {
    sched_.reset();
    registry_ = std::make_unique<prometheus::Registry>();
    SchedulerOptions o;
    o.allowed_roots = {SourceDir(), tmp_.path()};
    o.route_wait = kRouteWait;
    o.worker_timeout = kWorkerTimeout;
    o.clock = &clock_;
    sched_ = std::make_unique<Scheduler>(o, &faulty_, registry_.get());
  }

  std::string AddWorker(const std::string& data_address) {
    v1::RegisterRequest r;
    r.set_data_address(data_address);
    r.mutable_capacity()->set_device("cpu");
    return sched_->Register(r).worker_id();
  }
  v1::HeartbeatResponse Heartbeat(const std::string& worker) {
    v1::HeartbeatRequest r;
    r.set_worker_id(worker);
    return sched_->Heartbeat(r);
  }
  v1::PollResponse Poll(const std::string& worker, int wait_ms = 0) {
    v1::PollRequest r;
    r.set_worker_id(worker);
    r.set_wait_ms(wait_ms);
    auto p = sched_->Poll(r);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *p : v1::PollResponse();
  }
  v1::RouteResponse Route(const v1::Assignment& a, const std::string& worker, bool early,
                          int wait_ms) {
    v1::RouteRequest r;
    r.set_worker_id(worker);
    r.set_assignment_id(a.assignment_id());
    r.set_wait_ms(wait_ms);
    r.set_early(early);
    auto resp = sched_->Route(r);
    EXPECT_TRUE(resp.ok()) << resp.status();
    return resp.ok() ? *resp : v1::RouteResponse();
  }
  absl::Status ReportBlock(const v1::Assignment& a, const std::string& worker, int block) {
    v1::BlockReport b;
    b.set_worker_id(worker);
    b.set_assignment_id(a.assignment_id());
    b.set_block(block);
    b.set_train_loss(0.5);
    b.set_val_loss(0.6);
    return sched_->Block(b);
  }
  void FinishOk(const v1::Assignment& a, const std::string& worker, double ppl = 0) {
    v1::StageFinished f;
    f.set_worker_id(worker);
    f.set_assignment_id(a.assignment_id());
    f.set_ok(true);
    if (a.kind() == v1::FINALIZE) {
      f.mutable_result()->set_ppl(ppl);
      *f.mutable_result()->mutable_output_checksums() = WriteOutput(a.spec().output_dir());
    }
    ASSERT_TRUE(sched_->Finish(f).ok());
  }
  // Plays a finalize's write: a small output folder, and its checksums as
  // the worker reports them (the coordinator checks them before SUCCEEDED).
  google::protobuf::Map<std::string, uint64_t> WriteOutput(const std::string& dir) {
    google::protobuf::Map<std::string, uint64_t> sums;
    EXPECT_TRUE(MakeDirs(dir).ok());
    EXPECT_TRUE(WriteFileAtomic(JoinPath(dir, "config.json"), "{\"model_type\": \"llama\"}").ok());
    auto got = FolderChecksums(dir);
    EXPECT_TRUE(got.ok()) << got.status();
    if (got.ok()) sums.insert(got->begin(), got->end());
    return sums;
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
  v1::Job GetJob(const std::string& id) {
    auto j = sched_->Get(id);
    EXPECT_TRUE(j.ok()) << j.status();
    return j.ok() ? *j : v1::Job();
  }
  v1::JobSpec Spec(v1::Schedule schedule, int max_stages = 0) {
    v1::JobSpec s = StoriesSpec(tmp_.path() + "/out-" + std::to_string(++jobs_));
    s.set_schedule(schedule);
    s.set_max_stages(max_stages);
    return s;
  }
  std::string SubmitOk(const v1::JobSpec& spec) {
    auto job = sched_->Submit(spec);
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? job->id() : std::string();
  }

  TempDir tmp_;
  FakeClock clock_;
  InMemoryJobStore base_;
  FaultInjectingJobStore faulty_;
  std::unique_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Scheduler> sched_;
  int jobs_ = 0;
};

}  // namespace eqat::testing

#endif  // EQAT_TESTS_COORDINATOR_SCHEDULER_FIXTURE_H_
