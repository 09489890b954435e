// The coordinator's single lock and what goes with it: the mutex that
// guards the worker registry, the job table and the router together (their
// operations span all three and must be atomic), the condition every
// waiting call (Events, Poll, Route) sleeps on, the clock those waits and
// all timestamps use, and the id sequence for jobs, workers and
// assignments (one sequence, as ids must not repeat within a process and
// Recover() moves it past every stored job id).
//
// Wait pattern:  deadline = Now() + wait;
//                for (;;) { if (ready) return ...; if (!Wait(deadline)) return timeout; }
// Thread-safety: `mu` is the lock; members say what needs it.
#ifndef EQAT_COORDINATOR_MONITOR_H_
#define EQAT_COORDINATOR_MONITOR_H_

#include <algorithm>
#include <cstdint>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/clock.h"

namespace eqat {

class Monitor {
 public:
  explicit Monitor(Clock* clock) : clock_(clock) {}
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  absl::Mutex mu;

  absl::Time Now() { return clock_->Now(); }

  // Wakes every waiter (they re-check their condition).
  void NotifyAll() { changed_.SignalAll(); }

  // One step of a wait loop. Returns false, without waiting, once the
  // deadline has passed; otherwise waits for NotifyAll() or the deadline
  // (or a spurious wake-up) and returns true.
  bool Wait(absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (clock_->Now() >= deadline) return false;
    clock_->WaitUntil(&mu, &changed_, deadline);
    return true;
  }

  int64_t NextId() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return ++next_id_; }
  // Ids issued later are greater than `n`.
  void ReserveIdsUpTo(int64_t n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    next_id_ = std::max(next_id_, n);
  }

 private:
  Clock* const clock_;
  absl::CondVar changed_;
  int64_t next_id_ ABSL_GUARDED_BY(mu) = 0;
};

}  // namespace eqat

#endif  // EQAT_COORDINATOR_MONITOR_H_
