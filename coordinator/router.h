// Router: which stage goes to which worker, and where a stage streams its
// outputs. Owns the live assignments (assignment id -> job, worker, kind,
// stage); reads workers from the WorkerRegistry and updates stages in the
// JobTable.
//
// FindWork (a worker polls): jobs in creation order; a QUEUED job is
// planned over the live workers. Stage 0 is runnable at once; stage k when
// every earlier stage is done (its inputs are then rebuilt from disk), or,
// when it receives streamed inputs, while stage k-1 awaits its route or
// (pipelined schedule) at any time. When every stage is done, one FINALIZE.
// Route (GetRoute):
//  - early (pipelined, before training): ready with the data address once
//    stage k+1 runs on another worker and expects streamed inputs from its
//    first block; not ready after the wait (stage k hands over at its end).
//  - sequential hand-over (after training): stage k awaits its route, which
//    makes stage k+1 runnable; ready once another worker takes it. If it is
//    still pending at the deadline (min(route_wait, wait_ms)), the asking
//    worker continues with it in-process: "self", with the next assignment.
// Trust: Route, and the Scheduler's reports through FindHeld, answer only
// the worker that holds the assignment (FailedPrecondition for any other).
// Stream secrets: every BLOCK_AP assignment carries 16 fresh random bytes
// (Assignment.stream_secret, kept as Stage::stream_secret); a ready route to
// another worker carries the next stage's current secret (data_secret), so
// that stage's data listener takes inputs only from the routed sender.
// Thread-safety: none of its own; every method requires the Monitor's
// mutex (Route() releases it while it waits).
#ifndef EQAT_COORDINATOR_ROUTER_H_
#define EQAT_COORDINATOR_ROUTER_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/job_table.h"
#include "coordinator/monitor.h"
#include "coordinator/worker_registry.h"
#include "eqat/v1/cluster.pb.h"

namespace eqat {

class Router {
 public:
  struct AssignmentRec {
    std::string job_id, worker_id;
    v1::AssignmentKind kind = v1::BLOCK_AP;
    int stage = 0;
  };

  // `allowed_roots` goes into every assignment (Assignment.allowed_roots).
  Router(Monitor* monitor, JobTable* jobs, WorkerRegistry* workers, absl::Duration route_wait,
         std::vector<std::string> allowed_roots = {})
      : m_(monitor),
        jobs_(jobs),
        workers_(workers),
        route_wait_(route_wait),
        allowed_roots_(std::move(allowed_roots)) {}

  // Work for an idle worker; false when nothing is runnable.
  bool FindWork(const std::string& worker_id, v1::Assignment* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  // Waits at most the request's wait_ms (10 s for early routes). NotFound
  // for an unknown assignment; FailedPrecondition, changing nothing, when
  // req.worker_id() does not hold it or the stage is the last.
  absl::StatusOr<v1::RouteResponse> Route(const v1::RouteRequest& req)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);

  // nullptr when unknown (finished, lost, or never issued).
  const AssignmentRec* Find(const std::string& assignment_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  // The assignment, when `worker_id` holds it. NotFound when unknown;
  // FailedPrecondition when held by another worker (the message names the
  // assignment only). The pointer is valid until the assignment is taken.
  absl::StatusOr<const AssignmentRec*> FindHeld(const std::string& assignment_id,
                                                const std::string& worker_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  // Removes an assignment (it finished or its worker was lost).
  std::optional<AssignmentRec> Take(const std::string& assignment_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  // Queues an abort for every assignment of the job, sent with heartbeats.
  void AbortJob(const std::string& job_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);

 private:
  v1::Assignment Assign(JobRec* j, int stage, const std::string& worker_id,
                        v1::AssignmentKind kind) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  absl::StatusOr<v1::RouteResponse> EarlyRoute(JobRec* j, int k, const v1::RouteRequest& req)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  absl::StatusOr<v1::RouteResponse> HandOver(JobRec* j, int k, const v1::RouteRequest& req)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);

  Monitor* const m_;
  JobTable* const jobs_;
  WorkerRegistry* const workers_;
  const absl::Duration route_wait_;
  const std::vector<std::string> allowed_roots_;
  std::map<std::string, AssignmentRec> assignments_ ABSL_GUARDED_BY(m_->mu);
};

}  // namespace eqat

#endif  // EQAT_COORDINATOR_ROUTER_H_
