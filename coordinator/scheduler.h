// The coordinator's core: job queue, stage planning and dispatch, worker
// registry and liveness, progress events. Knows nothing of gRPC: the
// service (coordinator/service.h) is a thin adapter over it.
//
// Sequential schedule: stage 0 of a job is runnable at once; stage k
// becomes runnable when stage k-1 has trained and asks where to stream its
// outputs (GetRoute). With several jobs the stages of different jobs run on
// different workers at once. If no other worker takes stage k within the
// route wait, the asking worker continues with it in-process ("self").
// Pipelined schedule (MREM-P): every stage of a job is assigned as soon as
// workers are free; before training, stage k-1 asks an early route
// (RouteRequest.early) and streams to stage k while it trains: fp outputs
// first, then quantized activations batch by batch, then its final
// quantized outputs. Stage k trains on lambda*fp + (1-lambda)*quant
// (worker/stage_input_feed.h). When stage k is not running yet, stage k-1
// falls back to the sequential hand-over once it has trained.
// When every block is packed, a FINALIZE assignment (assemble, E2E-QP,
// write, evaluate) goes to one worker.
// A worker silent for `worker_timeout` is marked down; its stage is put
// back to pending and rebuilt from calibration + packed blocks on disk, with
// an event saying so. Jobs and finished blocks persist in the JobStore; a
// restarted coordinator resumes unfinished jobs without retraining blocks.
// Thread-safety: all methods are thread-safe (one internal mutex).
#ifndef EQAT_COORDINATOR_SCHEDULER_H_
#define EQAT_COORDINATOR_SCHEDULER_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/job_store.h"
#include "eqat/v1/cluster.pb.h"
#include "eqat/v1/quantization_service.pb.h"

namespace eqat {

struct SchedulerOptions {
  std::vector<std::string> allowed_roots;
  absl::Duration worker_timeout = absl::Seconds(15);
  int heartbeat_interval_ms = 1000;
  absl::Duration route_wait = absl::Seconds(2);  // before a stage runs "self"
};

class Scheduler {
 public:
  Scheduler(SchedulerOptions options, JobStore* store, prometheus::Registry* registry);

  // Reloads unfinished jobs from the store (after a restart).
  absl::Status Recover();

  // Public API.
  absl::StatusOr<v1::Job> Submit(const v1::JobSpec& spec);
  absl::StatusOr<v1::Job> Get(const std::string& id);
  absl::StatusOr<v1::ListJobsResponse> List(const v1::ListJobsRequest& req);
  absl::StatusOr<v1::Job> Cancel(const std::string& id);
  // Events with seq >= from_seq, waiting up to `wait` for one. `*finished`
  // is set once the job is final and no later event exists.
  absl::StatusOr<std::vector<v1::ProgressEvent>> Events(const std::string& id, int64_t from_seq,
                                                        absl::Duration wait, bool* finished);

  // Cluster API.
  v1::RegisterResponse Register(const v1::RegisterRequest& req);
  v1::HeartbeatResponse Heartbeat(const v1::HeartbeatRequest& req);
  absl::StatusOr<v1::PollResponse> Poll(const v1::PollRequest& req);
  absl::StatusOr<v1::RouteResponse> Route(const v1::RouteRequest& req);
  absl::Status Progress(const v1::ProgressReport& req);
  absl::Status Block(const v1::BlockReport& req);
  absl::Status Finish(const v1::StageFinished& req);

  // Marks silent workers down and reassigns their work; refreshes gauges.
  void Tick();

 private:
  enum class StageState { kPending, kAssigned, kAwaitingRoute, kDone };
  struct Stage {
    int index = 0, first = 0, last = 0;
    StageState state = StageState::kPending;
    std::string worker_id, assignment_id;
    bool receive_inputs = false;
    int resume_from = 0;
    int blocks_done = 0;
  };
  struct JobRec {
    v1::Job job;
    std::vector<Stage> stages;
    std::string job_dir;
    std::vector<v1::ProgressEvent> events;
    int64_t next_seq = 0;
    std::string finalize_worker, finalize_assignment;
    bool finalize_done = false;
    absl::Time started = absl::InfinitePast();
  };
  struct WorkerRec {
    v1::RegisterRequest info;
    absl::Time last_seen;
    std::string assignment_id;
    bool alive = true;
  };
  struct AssignmentRec {
    std::string job_id, worker_id;
    v1::AssignmentKind kind = v1::BLOCK_AP;
    int stage = 0;
  };

  bool Final(const v1::Job& j) const;
  void PlanLocked(JobRec* j) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool FindWorkLocked(const std::string& worker_id, v1::Assignment* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::Assignment MakeAssignmentLocked(JobRec* j, int stage, const std::string& worker_id,
                                      v1::AssignmentKind kind) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EventLocked(JobRec* j, v1::ProgressEvent e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MessageLocked(JobRec* j, const std::string& msg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetStateLocked(JobRec* j, v1::JobState s, const std::string& msg)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AbortJobAssignmentsLocked(JobRec* j) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseStageLocked(JobRec* j, Stage* s, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SyncJobLocked(JobRec* j) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int AliveWorkersLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateGaugesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  SchedulerOptions options_;
  JobStore* store_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  std::map<std::string, JobRec> jobs_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> job_order_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, WorkerRec> workers_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, AssignmentRec> assignments_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::set<std::string>> aborts_ ABSL_GUARDED_BY(mu_);
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;

  // Metrics (owned by the registry).
  prometheus::Family<prometheus::Gauge>* jobs_gauge_;
  prometheus::Counter* blocks_completed_;
  prometheus::Family<prometheus::Gauge>* block_loss_;
  prometheus::Histogram* step_seconds_;
  prometheus::Gauge* tokens_per_second_;
  prometheus::Family<prometheus::Counter>* transport_bytes_;
  prometheus::Counter* transport_wait_;
  prometheus::Gauge* queue_depth_;
  prometheus::Family<prometheus::Gauge>* worker_up_;
  prometheus::Family<prometheus::Gauge>* heartbeat_age_;
};

}  // namespace eqat

#endif  // EQAT_COORDINATOR_SCHEDULER_H_
