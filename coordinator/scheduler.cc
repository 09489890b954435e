#include "coordinator/scheduler.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/folder_checksums.h"
#include "common/job/job_spec.h"

namespace eqat {
namespace {

// UnreportedGrace(): at least this many heartbeat intervals.
constexpr int kGraceHeartbeats = 3;

}  // namespace

absl::Duration UnreportedGrace(const SchedulerOptions& options) {
  if (options.unreported_grace > absl::ZeroDuration()) return options.unreported_grace;
  return std::max(kGraceHeartbeats * absl::Milliseconds(options.heartbeat_interval_ms),
                  options.worker_timeout / 3);
}

Scheduler::Scheduler(SchedulerOptions options, JobStore* store, prometheus::Registry* registry)
    : options_(std::move(options)),
      unreported_grace_(UnreportedGrace(options_)),
      metrics_(registry),
      m_(options_.clock != nullptr ? options_.clock : RealClock()),
      workers_(&m_, options_.worker_timeout),
      jobs_(&m_, store),
      router_(&m_, &jobs_, &workers_, options_.route_wait, options_.allowed_roots) {
  absl::MutexLock l(&m_.mu);
  UpdateGaugesLocked();
}

void Scheduler::UpdateGaugesLocked() {
  std::map<v1::JobState, int> counts = jobs_.CountByState();
  for (v1::JobState s : {v1::QUEUED, v1::RUNNING, v1::SUCCEEDED, v1::FAILED, v1::CANCELLED}) {
    std::string name = v1::JobState_Name(s);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    metrics_.jobs->Add({{"state", name}}).Set(counts[s]);
  }
  metrics_.queue_depth->Set(counts[v1::QUEUED]);
  absl::Time now = m_.Now();
  for (const auto& [id, w] : workers_.workers()) {
    metrics_.worker_up->Add({{"worker", id}}).Set(w.alive ? 1 : 0);
    metrics_.heartbeat_age->Add({{"worker", id}}).Set(absl::ToDoubleSeconds(now - w.last_seen));
  }
}

absl::Status Scheduler::Recover() {
  absl::MutexLock l(&m_.mu);
  absl::Status st = jobs_.Recover();
  UpdateGaugesLocked();
  return st;
}

absl::StatusOr<v1::Job> Scheduler::Submit(const v1::JobSpec& spec, const std::string& owner) {
  JobSpecRules rules;
  rules.allowed_roots = options_.allowed_roots;
  absl::StatusOr<ValidatedJob> v = ValidateJobSpec(spec, rules);
  if (!v.ok()) return v.status();
  absl::MutexLock l(&m_.mu);
  // Refuse a job the registered workers cannot hold (memory_fit.h); with
  // no worker yet it waits, and is checked again when planned.
  if (std::vector<NamedCapacity> alive = workers_.AliveCapacities(); !alive.empty()) {
    const int n = static_cast<int>(alive.size());
    const int stages = v->spec.max_stages() > 0 ? std::min(n, v->spec.max_stages()) : n;
    absl::StatusOr<std::vector<std::pair<int, int>>> plan =
        PlanJobByMemory(v->config, v->spec, v->num_blocks, stages, alive);
    if (!plan.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("spec: the job does not fit the registered workers: ", plan.status().message()));
    }
  }
  absl::StatusOr<v1::Job> job = jobs_.Add(v->spec, v->num_blocks, owner);
  UpdateGaugesLocked();
  return job;
}

absl::StatusOr<v1::Job> Scheduler::Get(const std::string& id) {
  absl::MutexLock l(&m_.mu);
  return jobs_.Get(id);
}

absl::StatusOr<v1::ListJobsResponse> Scheduler::List(const v1::ListJobsRequest& req) {
  absl::MutexLock l(&m_.mu);
  return jobs_.List(req);
}

absl::StatusOr<v1::Job> Scheduler::Cancel(const std::string& id, const std::string* only_owner) {
  absl::MutexLock l(&m_.mu);
  JobRec* j = jobs_.Find(id);
  if (j == nullptr) return absl::NotFoundError(absl::StrCat("job '", id, "' not found"));
  if (only_owner != nullptr && j->job.owner() != *only_owner) {
    return absl::PermissionDeniedError("permission denied");
  }
  if (IsFinal(j->job)) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", id, " is already ", v1::JobState_Name(j->job.state())));
  }
  router_.AbortJob(id);
  jobs_.SetState(j, v1::CANCELLED, "cancelled by request");
  UpdateGaugesLocked();
  return j->job;
}

absl::StatusOr<std::vector<v1::ProgressEvent>> Scheduler::Events(const std::string& id,
                                                                 int64_t from, absl::Duration wait,
                                                                 bool* finished) {
  absl::MutexLock l(&m_.mu);
  return jobs_.Events(id, from, m_.Now() + wait, finished);
}

v1::RegisterResponse Scheduler::Register(const v1::RegisterRequest& req) {
  absl::MutexLock l(&m_.mu);
  v1::RegisterResponse resp;
  resp.set_worker_id(workers_.Register(req));
  resp.set_heartbeat_interval_ms(options_.heartbeat_interval_ms);
  UpdateGaugesLocked();
  m_.NotifyAll();
  return resp;
}

v1::HeartbeatResponse Scheduler::Heartbeat(const v1::HeartbeatRequest& req) {
  absl::MutexLock l(&m_.mu);
  v1::HeartbeatResponse resp;
  const WorkerRegistry::Worker* w = workers_.Touch(req.worker_id());
  if (w == nullptr) {
    resp.set_reregister(true);
    return resp;
  }
  // A held assignment the worker does not name is not running there (its
  // Poll reply or its FinishStage was lost): release it, or the job hangs.
  const absl::Time held_since = w->held_since;
  if (std::string unreported =
          workers_.TakeUnreported(req.worker_id(), req.assignment_id(), unreported_grace_);
      !unreported.empty()) {
    ReleaseLocked(unreported,
                  absl::StrFormat("worker %s no longer reports it (handed out %.0fs ago)",
                                  req.worker_id(), absl::ToDoubleSeconds(m_.Now() - held_since)));
    UpdateGaugesLocked();
    m_.NotifyAll();  // the stage is runnable, and this worker may poll
  }
  for (const std::string& a : workers_.TakeAborts(req.worker_id())) resp.add_abort_assignments(a);
  return resp;
}

absl::StatusOr<v1::PollResponse> Scheduler::Poll(const v1::PollRequest& req) {
  absl::MutexLock l(&m_.mu);
  absl::Time deadline = m_.Now() + absl::Milliseconds(std::clamp(req.wait_ms(), 0, 30000));
  for (;;) {
    WorkerRegistry::Worker* w = workers_.Touch(req.worker_id());
    if (w == nullptr) return absl::FailedPreconditionError("worker not registered (register again)");
    v1::PollResponse resp;
    if (w->assignment_id.empty() && router_.FindWork(req.worker_id(), resp.mutable_assignment())) {
      UpdateGaugesLocked();
      return resp;
    }
    if (!m_.Wait(deadline)) return v1::PollResponse();
  }
}

absl::StatusOr<v1::RouteResponse> Scheduler::Route(const v1::RouteRequest& req) {
  absl::MutexLock l(&m_.mu);
  return router_.Route(req);
}

absl::Status Scheduler::Progress(const v1::ProgressReport& req) {
  absl::MutexLock l(&m_.mu);
  absl::StatusOr<const Router::AssignmentRec*> held =
      router_.FindHeld(req.assignment_id(), req.worker_id());
  if (!held.ok()) return held.status();
  const Router::AssignmentRec* a = *held;
  if (req.step_seconds() > 0) metrics_.step_seconds->Observe(req.step_seconds());
  if (req.tokens_per_second() > 0) metrics_.tokens_per_second->Set(req.tokens_per_second());
  if (req.transport_bytes() > 0) {
    metrics_.transport_bytes->Add({{"direction", "sent"}})
        .Increment(static_cast<double>(req.transport_bytes()));
  }
  if (req.transport_wait_seconds() > 0) metrics_.transport_wait->Increment(req.transport_wait_seconds());
  jobs_.Progress(jobs_.Find(a->job_id), a->stage, req);
  return absl::OkStatus();
}

absl::Status Scheduler::Block(const v1::BlockReport& req) {
  absl::MutexLock l(&m_.mu);
  absl::StatusOr<const Router::AssignmentRec*> held =
      router_.FindHeld(req.assignment_id(), req.worker_id());
  if (!held.ok()) return held.status();
  const Router::AssignmentRec* a = *held;
  if (absl::Status st = jobs_.RecordBlock(jobs_.Find(a->job_id), req); !st.ok()) return st;
  metrics_.blocks_completed->Increment();
  metrics_.block_loss->Add({{"kind", "train"}}).Set(req.train_loss());
  metrics_.block_loss->Add({{"kind", "val"}}).Set(req.val_loss());
  return absl::OkStatus();
}

absl::Status Scheduler::Finish(const v1::StageFinished& req) {
  // A successful finalize is checked against the output folder first, with
  // the lock released (it reads every output file): the job SUCCEEDS only
  // when the folder named by the job's own spec (never the report's path)
  // holds exactly the reported files with the reported checksums.
  std::string output_dir;
  {
    absl::MutexLock l(&m_.mu);
    absl::StatusOr<const Router::AssignmentRec*> held =
        router_.FindHeld(req.assignment_id(), req.worker_id());
    if (!held.ok()) return held.status();
    if (req.ok() && (*held)->kind == v1::FINALIZE) {
      output_dir = jobs_.Find((*held)->job_id)->job.spec().output_dir();
    }
  }
  absl::Status verified = absl::OkStatus();
  if (!output_dir.empty()) {
    const auto& sums = req.result().output_checksums();
    verified = sums.empty()
                   ? absl::DataLossError("the finalize report lists no output files")
                   : VerifyFolder(output_dir, std::map<std::string, uint64_t>(sums.begin(), sums.end()));
  }
  absl::MutexLock l(&m_.mu);
  // Check before taking: a refused report must not consume the assignment
  // (and the assignment may have been released while the folder was read).
  if (absl::StatusOr<const Router::AssignmentRec*> held =
          router_.FindHeld(req.assignment_id(), req.worker_id());
      !held.ok()) {
    return held.status();
  }
  std::optional<Router::AssignmentRec> rec = router_.Take(req.assignment_id());
  workers_.Release(rec->worker_id, req.assignment_id());
  m_.NotifyAll();
  JobRec* j = jobs_.Find(rec->job_id);
  if (IsFinal(j->job)) return absl::OkStatus();
  if (!req.ok() && req.has_corrupt_block() && j->block_recomputes < kMaxBlockRecomputes &&
      RecomputeCorruptBlock(j, *rec, req)) {
    // recomputed: the failed assignment's work goes back to the queue
  } else if (!req.ok() && req.retryable() && j->retries < kMaxRetries) {
    ++j->retries;
    const std::string why = absl::StrFormat("failed on %s: %s; retrying (%d of %d)",
                                            rec->worker_id, req.error(), j->retries, kMaxRetries);
    if (rec->kind == v1::BLOCK_AP) {
      jobs_.ReleaseStage(j, rec->stage, why);
    } else {
      jobs_.ReleaseFinalize(j, why);
    }
  } else if (!req.ok()) {
    router_.AbortJob(j->job.id());
    j->job.set_error(req.error());
    jobs_.SetState(j, v1::FAILED, absl::StrCat("failed on ", rec->worker_id, ": ", req.error()));
  } else if (rec->kind == v1::BLOCK_AP) {
    jobs_.StageDone(j, rec->stage, rec->worker_id);
  } else if (!verified.ok()) {
    router_.AbortJob(j->job.id());
    const std::string error = absl::StrCat("output check failed: ", verified.message());
    j->job.set_error(error);
    jobs_.SetState(j, v1::FAILED,
                   absl::StrCat("finalize on ", rec->worker_id, " reported success, but ", error));
  } else {
    v1::JobResult result = req.result();
    result.set_output_dir(output_dir);
    jobs_.Succeed(j, result);
  }
  UpdateGaugesLocked();
  return absl::OkStatus();
}

bool Scheduler::RecomputeCorruptBlock(JobRec* j, const Router::AssignmentRec& rec,
                                      const v1::StageFinished& req) {
  const std::string why = absl::StrCat("its file failed its checksum on ", rec.worker_id);
  // The failed assignment is released first, so that a stage that found a
  // corrupt block of its own can be reopened at that block.
  if (rec.kind == v1::BLOCK_AP) {
    jobs_.ReleaseStage(j, rec.stage, absl::StrCat("block ", req.corrupt_block(), " is corrupt"));
  } else {
    jobs_.ReleaseFinalize(j, absl::StrCat("block ", req.corrupt_block(), " is corrupt"));
  }
  if (absl::Status st = jobs_.RecomputeFrom(j, req.corrupt_block(), why); !st.ok()) {
    jobs_.Message(j, absl::StrCat("cannot recompute block ", req.corrupt_block(), ": ", st.message()));
    return false;
  }
  return true;
}

void Scheduler::Tick() {
  absl::MutexLock l(&m_.mu);
  for (const WorkerRegistry::Lost& lost : workers_.MarkSilentDown()) {
    ReleaseLocked(lost.assignment_id, absl::StrFormat("worker %s lost (no heartbeat for %.0fs)",
                                                      lost.worker_id,
                                                      absl::ToDoubleSeconds(lost.silent)));
  }
  jobs_.RetryUnpersisted();
  UpdateGaugesLocked();
  m_.NotifyAll();
}

void Scheduler::ReleaseLocked(const std::string& assignment_id, const std::string& why) {
  std::optional<Router::AssignmentRec> rec = router_.Take(assignment_id);
  if (!rec) return;
  JobRec* j = jobs_.Find(rec->job_id);
  if (IsFinal(j->job)) return;
  if (rec->kind == v1::BLOCK_AP) {
    jobs_.ReleaseStage(j, rec->stage, why);
  } else {
    jobs_.ReleaseFinalize(j, why);
  }
}

}  // namespace eqat
