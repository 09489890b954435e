// Worker registry: who registered (capacity, data address), when each
// worker was last heard from, liveness against `timeout`, the one
// assignment a worker holds (and since when), and the assignment aborts
// waiting to be sent with its next heartbeat. Knows nothing of jobs or
// stages.
//
// A worker is alive from Register() until MarkSilentDown() finds it silent
// for `timeout` or longer; a down worker stays listed (its gauges read 0)
// and must register again under a new id.
// Thread-safety: none of its own; every method requires the Monitor's
// mutex (the Scheduler holds it).
#ifndef EQAT_COORDINATOR_WORKER_REGISTRY_H_
#define EQAT_COORDINATOR_WORKER_REGISTRY_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "coordinator/memory_fit.h"
#include "coordinator/monitor.h"
#include "eqat/v1/cluster.pb.h"

namespace eqat {

class WorkerRegistry {
 public:
  struct Worker {
    v1::RegisterRequest info;
    absl::Time last_seen;
    std::string assignment_id;  // empty when idle
    // When assignment_id was handed out (InfinitePast when idle).
    absl::Time held_since = absl::InfinitePast();
    bool alive = true;
  };
  // A worker MarkSilentDown() just marked down.
  struct Lost {
    std::string worker_id;
    std::string assignment_id;  // what it held (may be empty)
    absl::Duration silent;
  };

  WorkerRegistry(Monitor* monitor, absl::Duration timeout) : m_(monitor), timeout_(timeout) {}

  // Adds a live worker, seen now; returns its new id ("worker-NNN-<16 hex>",
  // random, so never issued twice, restarts included).
  std::string Register(const v1::RegisterRequest& info) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  // Records that a live worker was heard from now. nullptr when the id is
  // unknown or marked down (the worker must register again).
  Worker* Touch(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  // nullptr when unknown.
  const Worker* Find(const std::string& id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  int AliveCount() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  // Id and registered capacity of every live worker, in id order.
  std::vector<NamedCapacity> AliveCapacities() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  // Empty when unknown.
  std::string DataAddress(const std::string& id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  // Whether the worker's data listener takes NCCL streams; false when unknown.
  bool AcceptsNccl(const std::string& id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);

  // The assignment a worker holds, handed out now. Unknown ids are ignored;
  // Release only clears when the worker still holds `assignment_id`.
  void Hold(const std::string& id, const std::string& assignment_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  void Release(const std::string& id, const std::string& assignment_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);

  // Heartbeat reconciliation: when live worker `id` holds an assignment
  // other than `reported` (the one its heartbeat names; empty for none) and
  // was handed it `grace` or longer ago, clears it and returns its id.
  // Otherwise (it reports what it holds, is within the grace, idle, down or
  // unknown) changes nothing and returns empty.
  std::string TakeUnreported(const std::string& id, const std::string& reported,
                             absl::Duration grace) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);

  // Aborts are delivered once, by TakeAborts (the heartbeat reply).
  void QueueAbort(const std::string& id, const std::string& assignment_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  std::vector<std::string> TakeAborts(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);

  // Marks every live worker silent for >= timeout down and clears what it
  // held; returns them in id order.
  std::vector<Lost> MarkSilentDown() ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);

  // For the gauges.
  const std::map<std::string, Worker>& workers() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu) {
    return workers_;
  }

 private:
  Monitor* const m_;
  const absl::Duration timeout_;
  std::map<std::string, Worker> workers_ ABSL_GUARDED_BY(m_->mu);
  std::map<std::string, std::set<std::string>> aborts_ ABSL_GUARDED_BY(m_->mu);
};

}  // namespace eqat

#endif  // EQAT_COORDINATOR_WORKER_REGISTRY_H_
