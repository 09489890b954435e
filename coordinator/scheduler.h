// The coordinator's core, as one facade for the gRPC services
// (coordinator/service.h): job queue, stage dispatch, worker liveness,
// progress events, persistence. Each method takes the one lock (Monitor)
// and delegates:
//   WorkerRegistry (worker_registry.h)  registration, heartbeats, liveness
//   JobTable       (job_table.h)        jobs, stages, transitions, events,
//                                        persistence and Recover()
//   Router         (router.h)           stage -> worker, GetRoute decisions
//   CoordinatorMetrics (coordinator_metrics.h)  every exported metric
// Knows nothing of gRPC.
//
// Sequential schedule: stage 0 of a job is runnable at once; stage k
// becomes runnable when stage k-1 has trained and asks where to stream its
// outputs (GetRoute); if nobody takes it within the route wait, the asking
// worker continues "self". Pipelined schedule (MREM-P): every stage is
// assigned as soon as workers are free and stage k-1 streams to stage k
// while it trains (early route). When every block is packed, a FINALIZE
// assignment (assemble, E2E-QP, write, evaluate) goes to one worker.
// A worker silent for `worker_timeout` is marked down by Tick(); its stage
// is put back to pending (resuming at its first unreported block) with an
// event saying so. A live worker whose heartbeats stop naming the
// assignment it holds (its Poll reply or FinishStage was lost) loses it the
// same way once it was handed out UnreportedGrace() ago, and may poll again.
// A restarted coordinator resumes unfinished jobs from the JobStore without
// retraining reported blocks (Recover()).
//
// Trust: reports about an assignment (Route, Progress, Block, Finish) are
// accepted only from the worker that holds it; any other worker gets
// FailedPrecondition and nothing changes. An unknown assignment is NotFound.
//
// Time: all timestamps and waits use the Clock given at construction
// (RealClock() by default). With a fake clock a wait ends when the test
// advances time past its deadline or the state it waits for changes.
// Thread-safety: all methods are thread-safe (one internal mutex).
#ifndef EQAT_COORDINATOR_SCHEDULER_H_
#define EQAT_COORDINATOR_SCHEDULER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/clock.h"
#include "coordinator/coordinator_metrics.h"
#include "coordinator/job_store.h"
#include "coordinator/job_table.h"
#include "coordinator/monitor.h"
#include "coordinator/router.h"
#include "coordinator/worker_registry.h"
#include "eqat/v1/cluster.pb.h"
#include "eqat/v1/quantization_service.pb.h"

namespace eqat {

struct SchedulerOptions {
  std::vector<std::string> allowed_roots;
  absl::Duration worker_timeout = absl::Seconds(15);
  int heartbeat_interval_ms = 1000;
  absl::Duration route_wait = absl::Seconds(2);  // before a stage runs "self"
  // How long after handing an assignment out the coordinator waits for the
  // worker's heartbeats to name it before releasing it (see the file
  // comment). Zero (the default): derived, see UnreportedGrace().
  absl::Duration unreported_grace = absl::ZeroDuration();
  Clock* clock = RealClock();  // not owned
};

// The unreported-assignment grace in effect: `unreported_grace` when set,
// else the longer of 3 heartbeat intervals and worker_timeout / 3 (5 s with
// the defaults), so that neither a heartbeat sent just before the Poll reply
// arrived nor one late heartbeat releases a running assignment.
absl::Duration UnreportedGrace(const SchedulerOptions& options);

class Scheduler {
 public:
  // Corrupt block files recomputed per job before a corrupt block fails it.
  static constexpr int kMaxBlockRecomputes = 3;
  // Retryable stage failures (StageFinished.retryable: a full disk) re-queued
  // per job before one fails it.
  static constexpr int kMaxRetries = 3;

  // `store` and `registry` must outlive the scheduler.
  Scheduler(SchedulerOptions options, JobStore* store, prometheus::Registry* registry);

  // Reloads jobs from the store (after a restart); call before serving.
  absl::Status Recover();

  // Public API.
  // `owner` is recorded in Job.owner (the submitting token's name).
  absl::StatusOr<v1::Job> Submit(const v1::JobSpec& spec, const std::string& owner = "");
  absl::StatusOr<v1::Job> Get(const std::string& id);
  absl::StatusOr<v1::ListJobsResponse> List(const v1::ListJobsRequest& req);
  // With `only_owner` set, a job whose Job.owner differs is PermissionDenied
  // (checked first, so a denied caller learns nothing of the job's state).
  absl::StatusOr<v1::Job> Cancel(const std::string& id, const std::string* only_owner = nullptr);
  // Events with seq >= from_seq, waiting up to `wait` for one. `*finished`
  // is set once the job is final and no later event exists.
  absl::StatusOr<std::vector<v1::ProgressEvent>> Events(const std::string& id, int64_t from_seq,
                                                        absl::Duration wait, bool* finished);

  // Cluster API.
  v1::RegisterResponse Register(const v1::RegisterRequest& req);
  // Marks the worker heard from and takes its queued aborts. When it holds
  // an assignment other than req.assignment_id() (or none is named) and
  // handed out UnreportedGrace() or longer ago, releases it as Tick() does
  // for a lost worker. `reregister` when the worker is unknown or down.
  v1::HeartbeatResponse Heartbeat(const v1::HeartbeatRequest& req);
  // Waits up to wait_ms (at most 30 s) for work.
  absl::StatusOr<v1::PollResponse> Poll(const v1::PollRequest& req);
  // Each of these: NotFound for an unknown assignment, FailedPrecondition
  // (state unchanged) when req.worker_id() does not hold it.
  absl::StatusOr<v1::RouteResponse> Route(const v1::RouteRequest& req);
  absl::Status Progress(const v1::ProgressReport& req);
  absl::Status Block(const v1::BlockReport& req);
  absl::Status Finish(const v1::StageFinished& req);

  // Marks silent workers down and releases their work; retries unpersisted
  // job snapshots; refreshes gauges.
  void Tick();

 private:
  void UpdateGaugesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_.mu);
  // A stage or finalize failed on a corrupt block file (StageFinished.
  // corrupt_block): releases its assignment and reopens the block's stage.
  // False (nothing reopened) when the block cannot be recomputed.
  bool RecomputeCorruptBlock(JobRec* j, const Router::AssignmentRec& rec,
                             const v1::StageFinished& req) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_.mu);
  // Drops the assignment (already cleared from its worker) and puts its
  // stage, or its job's finalize, back to pending with `why` as the event.
  // Nothing for an unknown assignment or a finished job.
  void ReleaseLocked(const std::string& assignment_id, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_.mu);

  const SchedulerOptions options_;
  const absl::Duration unreported_grace_;
  CoordinatorMetrics metrics_;
  Monitor m_;
  WorkerRegistry workers_;
  JobTable jobs_;
  Router router_;
};

}  // namespace eqat

#endif  // EQAT_COORDINATOR_SCHEDULER_H_
