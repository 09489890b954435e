// The coordinator's waiting calls (Events, Poll) end when the state they
// wait for changes or when the clock passes their deadline: on the fake
// clock that is an Advance() (no real sleeping), on the real clock the
// wait's own duration.
#include <gtest/gtest.h>

#include <thread>

#include "coordinator/in_memory_job_store.h"
#include "coordinator/scheduler.h"
#include "tests/coordinator/scheduler_fixture.h"

namespace eqat {
namespace {

using WaitsTest = testing::SchedulerFixture;

TEST_F(WaitsTest, EventsWaitEndsWhenFakeTimePassesTheDeadline) {
  std::string job = SubmitOk(Spec(v1::SEQUENTIAL));
  bool finished = true;
  auto first = sched_->Events(job, 0, absl::ZeroDuration(), &finished);
  ASSERT_TRUE(first.ok());
  int64_t next = first->back().seq() + 1;
  absl::StatusOr<std::vector<v1::ProgressEvent>> got;
  std::thread watcher([&] { got = sched_->Events(job, next, absl::Seconds(30), &finished); });
  ASSERT_TRUE(clock_.AwaitBlockedWaits(1));
  clock_.Advance(absl::Seconds(29));
  clock_.Advance(absl::Seconds(1));
  watcher.join();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->empty());
  EXPECT_FALSE(finished);
}

TEST_F(WaitsTest, EventsWaitEndsWithTheNextEvent) {
  std::string job = SubmitOk(Spec(v1::SEQUENTIAL));
  bool finished = false;
  int64_t next = sched_->Events(job, 0, absl::ZeroDuration(), &finished)->back().seq() + 1;
  absl::StatusOr<std::vector<v1::ProgressEvent>> got;
  std::thread watcher([&] { got = sched_->Events(job, next, absl::Seconds(30), &finished); });
  ASSERT_TRUE(clock_.AwaitBlockedWaits(1));
  ASSERT_TRUE(sched_->Cancel(job).ok());
  watcher.join();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].seq(), next);
  EXPECT_TRUE((*got)[0].final());
  EXPECT_TRUE(finished);
}

TEST_F(WaitsTest, PollWaitsForAJobSubmittedMeanwhile) {
  std::string w = AddWorker("127.0.0.1:1001");
  v1::PollResponse got;
  std::thread poller([&] { got = Poll(w, /*wait_ms=*/30000); });
  ASSERT_TRUE(clock_.AwaitBlockedWaits(1));
  std::string job = SubmitOk(Spec(v1::SEQUENTIAL));
  poller.join();
  EXPECT_EQ(got.assignment().job_id(), job);
}

TEST_F(WaitsTest, PollWaitEndsEmptyWhenFakeTimePassesTheDeadline) {
  std::string w = AddWorker("127.0.0.1:1001");
  v1::PollResponse got;
  std::thread poller([&] { got = Poll(w, /*wait_ms=*/5000); });
  ASSERT_TRUE(clock_.AwaitBlockedWaits(1));
  clock_.Advance(absl::Seconds(5));
  poller.join();
  EXPECT_FALSE(got.has_assignment());
}

TEST(RealClockWaitsTest, WaitsLastTheirDurationOnTheRealClock) {
  testing::TempDir tmp;
  InMemoryJobStore store;
  prometheus::Registry reg;
  SchedulerOptions o;
  o.allowed_roots = {testing::SourceDir(), tmp.path()};
  Scheduler s(o, &store, &reg);  // RealClock()
  auto job = s.Submit(testing::StoriesSpec(tmp.path() + "/out"));
  ASSERT_TRUE(job.ok()) << job.status();
  bool finished = false;
  int64_t next = s.Events(job->id(), 0, absl::ZeroDuration(), &finished)->back().seq() + 1;
  absl::Time t0 = absl::Now();
  auto none = s.Events(job->id(), next, absl::Milliseconds(30), &finished);
  EXPECT_GE(absl::Now() - t0, absl::Milliseconds(30));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  v1::RegisterRequest r;
  r.set_data_address("127.0.0.1:1001");
  std::string w = s.Register(r).worker_id();
  // Already runnable: a long poll answers at once.
  v1::PollRequest pr;
  pr.set_worker_id(w);
  pr.set_wait_ms(30000);
  t0 = absl::Now();
  auto p = s.Poll(pr);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->assignment().job_id(), job->id());
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
}

}  // namespace
}  // namespace eqat
