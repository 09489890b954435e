// A manual Clock for coordinator tests: time moves only by Advance().
//
// Waits: WaitUntil returns at once when the deadline has passed; otherwise
// it waits on the condition for at most kPollSlice of real time, so a
// waiter notices an Advance() from another thread within that slice (the
// caller's loop re-checks Now()). It never blocks for good: if nothing
// happens for hang_guard of real time (no Advance, no wake-up), the waiter
// jumps the fake time to its own deadline and guard_trips() counts it, so a
// broken test fails on its assertions instead of hanging. Tests assert
// guard_trips() == 0.
// Thread-safety: all methods are thread-safe.
#ifndef EQAT_TESTS_COORDINATOR_FAKE_CLOCK_H_
#define EQAT_TESTS_COORDINATOR_FAKE_CLOCK_H_

#include <cstdint>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/clock.h"

namespace eqat::testing {

class FakeClock final : public Clock {
 public:
  static constexpr absl::Duration kPollSlice = absl::Milliseconds(1);

  explicit FakeClock(absl::Duration hang_guard = absl::Seconds(10))
      : hang_guard_(hang_guard), last_progress_(absl::Now()) {}

  absl::Time Now() override {
    absl::MutexLock l(&mu_);
    return now_;
  }

  void Advance(absl::Duration d) {
    absl::MutexLock l(&mu_);
    now_ += d;
    last_progress_ = absl::Now();
  }

  void WaitUntil(absl::Mutex* mu, absl::CondVar* cv, absl::Time deadline) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(*mu) {
    {
      absl::MutexLock l(&mu_);
      if (now_ >= deadline) return;
      ++blocked_waits_;
    }
    bool timed_out = cv->WaitWithTimeout(mu, kPollSlice);
    absl::MutexLock l(&mu_);
    absl::Time real = absl::Now();
    if (!timed_out) {
      last_progress_ = real;
    } else if (real - last_progress_ > hang_guard_ && now_ < deadline) {
      now_ = deadline;
      last_progress_ = real;
      ++guard_trips_;
    }
  }

  // Times any thread entered a wait with a future deadline.
  int64_t blocked_waits() {
    absl::MutexLock l(&mu_);
    return blocked_waits_;
  }
  // Blocks (real time, at most `limit`) until blocked_waits() >= n: lets a
  // test advance time only once another thread is really waiting.
  bool AwaitBlockedWaits(int64_t n, absl::Duration limit = absl::Seconds(10)) {
    absl::MutexLock l(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return blocked_waits_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), limit);
  }
  int guard_trips() {
    absl::MutexLock l(&mu_);
    return guard_trips_;
  }

 private:
  const absl::Duration hang_guard_;
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_) = absl::FromUnixSeconds(1700000000);
  absl::Time last_progress_ ABSL_GUARDED_BY(mu_);
  int64_t blocked_waits_ ABSL_GUARDED_BY(mu_) = 0;
  int guard_trips_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace eqat::testing

#endif  // EQAT_TESTS_COORDINATOR_FAKE_CLOCK_H_
