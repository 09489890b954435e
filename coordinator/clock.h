// Time source of the coordinator. Every reading of the time and every timed
// wait in coordinator/ goes through a Clock, so tests can run on a fake one
// (tests/coordinator/fake_clock.h) and never sleep.
//
// Contract of WaitUntil: called with *mu held; blocks until *cv is
// signalled, the clock reaches `deadline`, or spuriously, and returns with
// *mu held again. Callers loop: re-check their condition, then the
// deadline against Now(). An implementation must return promptly once
// Now() >= deadline, and must not hold *mu while blocked.
// Thread-safety: implementations are thread-safe; RealClock() is a
// process-wide singleton.
#ifndef EQAT_COORDINATOR_CLOCK_H_
#define EQAT_COORDINATOR_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace eqat {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
  virtual void WaitUntil(absl::Mutex* mu, absl::CondVar* cv, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(*mu) = 0;
};

// Wall-clock time (absl::Now) and CondVar::WaitWithDeadline.
Clock* RealClock();

}  // namespace eqat

#endif  // EQAT_COORDINATOR_CLOCK_H_
