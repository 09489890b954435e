#include "coordinator/scheduler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/metrics_exposer.h"
#include "coordinator/planner.h"
#include "coordinator/spec_validation.h"

namespace eqat {
namespace {

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

const char* StageName(int s) {
  static const char* names[] = {"pending", "running", "streaming", "done"};
  return names[s];
}

}  // namespace

Scheduler::Scheduler(SchedulerOptions options, JobStore* store, prometheus::Registry* r)
    : options_(std::move(options)), store_(store) {
  jobs_gauge_ = &prometheus::BuildGauge().Name("eqat_coordinator_jobs").Help("Jobs by state.").Register(*r);
  blocks_completed_ = &prometheus::BuildCounter()
                           .Name("eqat_coordinator_blocks_completed_total")
                           .Help("Transformer blocks quantized and packed.")
                           .Register(*r)
                           .Add({});
  block_loss_ = &prometheus::BuildGauge()
                     .Name("eqat_coordinator_block_loss")
                     .Help("Block-AP loss of the last finished block (MSE).")
                     .Register(*r);
  step_seconds_ = &prometheus::BuildHistogram()
                       .Name("eqat_coordinator_train_step_seconds")
                       .Help("Duration of one training step on the workers.")
                       .Register(*r)
                       .Add({}, ExponentialBuckets(0.001, 2, 16));
  tokens_per_second_ = &prometheus::BuildGauge()
                            .Name("eqat_coordinator_tokens_per_second")
                            .Help("Training throughput last reported by a worker.")
                            .Register(*r)
                            .Add({});
  transport_bytes_ = &prometheus::BuildCounter()
                          .Name("eqat_coordinator_transport_bytes_total")
                          .Help("Activation bytes streamed between workers.")
                          .Register(*r);
  transport_wait_ = &prometheus::BuildCounter()
                         .Name("eqat_coordinator_transport_wait_seconds_total")
                         .Help("Time workers spent waiting on activation streams.")
                         .Register(*r)
                         .Add({});
  queue_depth_ = &prometheus::BuildGauge()
                      .Name("eqat_coordinator_queue_depth")
                      .Help("Jobs waiting for their first stage to start.")
                      .Register(*r)
                      .Add({});
  worker_up_ = &prometheus::BuildGauge().Name("eqat_coordinator_worker_up").Help("1 if the worker is alive.").Register(*r);
  heartbeat_age_ = &prometheus::BuildGauge()
                        .Name("eqat_coordinator_worker_heartbeat_age_seconds")
                        .Help("Seconds since the worker's last heartbeat.")
                        .Register(*r);
  absl::MutexLock l(&mu_);
  UpdateGaugesLocked();
}

bool Scheduler::Final(const v1::Job& j) const {
  return j.state() == v1::SUCCEEDED || j.state() == v1::FAILED || j.state() == v1::CANCELLED;
}

void Scheduler::EventLocked(JobRec* j, v1::ProgressEvent e) {
  e.set_job_id(j->job.id());
  e.set_seq(j->next_seq++);
  e.set_unix_ms(NowMs());
  e.set_state(j->job.state());
  if (e.stage().empty()) e.set_stage(j->job.stage());
  j->events.push_back(std::move(e));
  // Keep memory bounded for long jobs: drop old step events, keep the rest.
  if (j->events.size() > 5000) j->events.erase(j->events.begin(), j->events.begin() + 1000);
  cv_.SignalAll();
}

void Scheduler::MessageLocked(JobRec* j, const std::string& msg) {
  v1::ProgressEvent e;
  e.set_message(msg);
  EventLocked(j, std::move(e));
}

void Scheduler::SyncJobLocked(JobRec* j) {
  v1::Job& job = j->job;
  job.set_updated_unix_ms(NowMs());
  job.clear_stages();
  int done = 0;
  for (const Stage& s : j->stages) {
    v1::StageStatus* st = job.add_stages();
    st->set_index(s.index);
    st->set_first_block(s.first);
    st->set_last_block(s.last);
    st->set_worker_id(s.worker_id);
    st->set_state(StageName(static_cast<int>(s.state)));
    st->set_blocks_done(s.blocks_done);
    done += s.blocks_done;
  }
  job.set_blocks_done(done);
  absl::Status st = store_->PutJob(job);
  if (!st.ok()) MessageLocked(j, absl::StrCat("warning: job state not persisted: ", st.message()));
  UpdateGaugesLocked();
}

void Scheduler::SetStateLocked(JobRec* j, v1::JobState s, const std::string& msg) {
  j->job.set_state(s);
  if (Final(j->job)) j->job.set_stage("done");
  SyncJobLocked(j);
  v1::ProgressEvent e;
  e.set_message(msg);
  e.set_final(Final(j->job));
  if (s == v1::SUCCEEDED) *e.mutable_result() = j->job.result();
  EventLocked(j, std::move(e));
}

int Scheduler::AliveWorkersLocked() const {
  int n = 0;
  for (const auto& [id, w] : workers_) n += w.alive ? 1 : 0;
  return n;
}

void Scheduler::UpdateGaugesLocked() {
  std::map<v1::JobState, int> counts;
  int queued = 0;
  for (const auto& [id, j] : jobs_) {
    counts[j.job.state()]++;
    queued += j.job.state() == v1::QUEUED ? 1 : 0;
  }
  for (v1::JobState s : {v1::QUEUED, v1::RUNNING, v1::SUCCEEDED, v1::FAILED, v1::CANCELLED}) {
    std::string name = v1::JobState_Name(s);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    jobs_gauge_->Add({{"state", name}}).Set(counts[s]);
  }
  queue_depth_->Set(queued);
  absl::Time now = absl::Now();
  for (const auto& [id, w] : workers_) {
    worker_up_->Add({{"worker", id}}).Set(w.alive ? 1 : 0);
    heartbeat_age_->Add({{"worker", id}}).Set(absl::ToDoubleSeconds(now - w.last_seen));
  }
}

absl::Status Scheduler::Recover() {
  absl::StatusOr<std::vector<v1::Job>> jobs = store_->ListJobs();
  if (!jobs.ok()) return jobs.status();
  absl::MutexLock l(&mu_);
  for (v1::Job& job : *jobs) {
    JobRec rec;
    rec.job = job;
    rec.job_dir = job.spec().output_dir() + ".eqat-work";
    int64_t n = 0;
    if (sscanf(job.id().c_str(), "job-%ld", &n) == 1) next_id_ = std::max(next_id_, n);
    if (!Final(job) && job.state() == v1::RUNNING) {
      absl::StatusOr<std::map<int, v1::BlockReport>> blocks = store_->GetBlocks(job.id());
      for (const v1::StageStatus& ss : job.stages()) {
        Stage s;
        s.index = ss.index();
        s.first = ss.first_block();
        s.last = ss.last_block();
        s.resume_from = s.first;
        while (blocks.ok() && s.resume_from < s.last && blocks->count(s.resume_from)) ++s.resume_from;
        s.blocks_done = s.resume_from - s.first;
        s.state = s.resume_from == s.last ? StageState::kDone : StageState::kPending;
        rec.stages.push_back(s);
      }
      rec.job.set_stage("block-ap");
    }
    job_order_.push_back(job.id());
    auto& stored = jobs_[job.id()] = std::move(rec);
    if (!Final(stored.job)) {
      MessageLocked(&stored, "coordinator restarted: resuming; finished blocks are kept");
      SyncJobLocked(&stored);
    }
  }
  cv_.SignalAll();
  return absl::OkStatus();
}

absl::StatusOr<v1::Job> Scheduler::Submit(const v1::JobSpec& spec) {
  absl::StatusOr<ValidatedSpec> v = ValidateJobSpec(spec, options_.allowed_roots);
  if (!v.ok()) return v.status();
  absl::MutexLock l(&mu_);
  for (const auto& [id, j] : jobs_) {
    if (!Final(j.job) && j.job.spec().output_dir() == v->spec.output_dir()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "spec.output_dir: job ", id, " is already writing to ", v->spec.output_dir()));
    }
  }
  JobRec rec;
  rec.job.set_id(absl::StrFormat("job-%06d", ++next_id_));
  *rec.job.mutable_spec() = v->spec;
  rec.job.set_state(v1::QUEUED);
  rec.job.set_stage("queued");
  rec.job.set_created_unix_ms(NowMs());
  rec.job.set_blocks_total(v->num_blocks);
  rec.job_dir = v->spec.output_dir() + ".eqat-work";
  std::string id = rec.job.id();
  job_order_.push_back(id);
  JobRec& j = jobs_[id] = std::move(rec);
  SyncJobLocked(&j);
  MessageLocked(&j, absl::StrCat("queued: ", v->num_blocks, " blocks, ", v->spec.method(), " W",
                                 v->spec.bits(), "g", v->spec.group_size()));
  cv_.SignalAll();
  return j.job;
}

absl::StatusOr<v1::Job> Scheduler::Get(const std::string& id) {
  absl::MutexLock l(&mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("job '", id, "' not found"));
  return it->second.job;
}

absl::StatusOr<v1::ListJobsResponse> Scheduler::List(const v1::ListJobsRequest& req) {
  if (req.page_size() < 0) return absl::InvalidArgumentError("page_size: must be >= 0");
  int size = req.page_size() == 0 ? 50 : std::min(req.page_size(), 500);
  size_t start = 0;
  if (!req.page_token().empty()) {
    char* end = nullptr;
    unsigned long v = std::strtoul(req.page_token().c_str(), &end, 10);
    if (*end != '\0') return absl::InvalidArgumentError("page_token: malformed");
    start = v;
  }
  absl::MutexLock l(&mu_);
  v1::ListJobsResponse resp;
  size_t i = start;
  for (; i < job_order_.size() && resp.jobs_size() < size; ++i) {
    const v1::Job& j = jobs_[job_order_[i]].job;
    if (req.state() != v1::JOB_STATE_UNSPECIFIED && j.state() != req.state()) continue;
    *resp.add_jobs() = j;
  }
  if (i < job_order_.size()) resp.set_next_page_token(std::to_string(i));
  return resp;
}

void Scheduler::AbortJobAssignmentsLocked(JobRec* j) {
  for (auto& [aid, a] : assignments_) {
    if (a.job_id == j->job.id() && !a.worker_id.empty()) aborts_[a.worker_id].insert(aid);
  }
}

absl::StatusOr<v1::Job> Scheduler::Cancel(const std::string& id) {
  absl::MutexLock l(&mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("job '", id, "' not found"));
  JobRec& j = it->second;
  if (Final(j.job)) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", id, " is already ", v1::JobState_Name(j.job.state())));
  }
  AbortJobAssignmentsLocked(&j);
  SetStateLocked(&j, v1::CANCELLED, "cancelled by request");
  return j.job;
}

absl::StatusOr<std::vector<v1::ProgressEvent>> Scheduler::Events(const std::string& id,
                                                                 int64_t from, absl::Duration wait,
                                                                 bool* finished) {
  absl::MutexLock l(&mu_);
  absl::Time deadline = absl::Now() + wait;
  for (;;) {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("job '", id, "' not found"));
    const JobRec& j = it->second;
    std::vector<v1::ProgressEvent> out;
    for (const auto& e : j.events) {
      if (e.seq() >= from) out.push_back(e);
    }
    *finished = (!out.empty() && out.back().final()) || (out.empty() && Final(j.job));
    if (!out.empty() || *finished || absl::Now() >= deadline) return out;
    cv_.WaitWithDeadline(&mu_, deadline);
  }
}

v1::RegisterResponse Scheduler::Register(const v1::RegisterRequest& req) {
  absl::MutexLock l(&mu_);
  std::string id = absl::StrFormat("worker-%03d", ++next_id_);
  WorkerRec w;
  w.info = req;
  w.last_seen = absl::Now();
  workers_[id] = w;
  UpdateGaugesLocked();
  cv_.SignalAll();
  v1::RegisterResponse resp;
  resp.set_worker_id(id);
  resp.set_heartbeat_interval_ms(options_.heartbeat_interval_ms);
  return resp;
}

v1::HeartbeatResponse Scheduler::Heartbeat(const v1::HeartbeatRequest& req) {
  absl::MutexLock l(&mu_);
  v1::HeartbeatResponse resp;
  auto it = workers_.find(req.worker_id());
  if (it == workers_.end() || !it->second.alive) {
    resp.set_reregister(true);
    return resp;
  }
  it->second.last_seen = absl::Now();
  auto ab = aborts_.find(req.worker_id());
  if (ab != aborts_.end()) {
    for (const std::string& a : ab->second) resp.add_abort_assignments(a);
    aborts_.erase(ab);
  }
  return resp;
}

void Scheduler::PlanLocked(JobRec* j) {
  int workers = std::max(1, AliveWorkersLocked());
  int max_stages = j->job.spec().max_stages() > 0 ? j->job.spec().max_stages() : workers;
  j->stages.clear();
  auto plan = PlanStages(j->job.blocks_total(), std::min(workers, max_stages));
  for (size_t i = 0; i < plan.size(); ++i) {
    Stage s;
    s.index = static_cast<int>(i);
    s.first = plan[i].first;
    s.last = plan[i].second;
    s.resume_from = s.first;
    s.receive_inputs = i > 0;
    j->stages.push_back(s);
  }
  j->started = absl::Now();
  j->job.set_state(v1::RUNNING);
  j->job.set_stage("block-ap");
  SyncJobLocked(j);
  MessageLocked(j, absl::StrCat("running: ", plan.size(), " stage(s) over ", workers,
                                " worker(s), schedule ",
                                v1::Schedule_Name(j->job.spec().schedule())));
}

v1::Assignment Scheduler::MakeAssignmentLocked(JobRec* j, int stage, const std::string& worker_id,
                                               v1::AssignmentKind kind) {
  v1::Assignment a;
  a.set_assignment_id(absl::StrFormat("%s-%s-%d-%d", j->job.id(),
                                      kind == v1::FINALIZE ? "final" : "stage", stage, ++next_id_));
  a.set_job_id(j->job.id());
  a.set_kind(kind);
  *a.mutable_spec() = j->job.spec();
  a.set_job_dir(j->job_dir);
  a.set_num_stages(static_cast<int>(j->stages.size()));
  a.set_pipelined(j->job.spec().schedule() == v1::PIPELINED);
  if (kind == v1::BLOCK_AP) {
    Stage& s = j->stages[stage];
    a.set_stage_index(stage);
    a.set_first_block(s.first);
    a.set_last_block(s.last);
    a.set_receive_inputs(s.receive_inputs && s.resume_from == s.first);
    a.set_resume_from_block(s.resume_from);
    s.state = StageState::kAssigned;
    s.worker_id = worker_id;
    s.assignment_id = a.assignment_id();
    MessageLocked(j, absl::StrFormat("stage %d (blocks %d-%d) assigned to %s%s", stage, s.first,
                                     s.last - 1, worker_id,
                                     a.receive_inputs() ? " (inputs streamed)" : ""));
  } else {
    j->finalize_worker = worker_id;
    j->finalize_assignment = a.assignment_id();
    j->job.set_stage("finalize");
    MessageLocked(j, absl::StrCat("finalize (assemble, E2E-QP, write, eval) assigned to ", worker_id));
  }
  assignments_[a.assignment_id()] = {j->job.id(), worker_id, kind, stage};
  workers_[worker_id].assignment_id = a.assignment_id();
  SyncJobLocked(j);
  return a;
}

bool Scheduler::FindWorkLocked(const std::string& worker_id, v1::Assignment* out) {
  for (const std::string& id : job_order_) {
    JobRec& j = jobs_[id];
    if (Final(j.job)) continue;
    if (j.job.state() == v1::QUEUED) PlanLocked(&j);
    bool pipelined = j.job.spec().schedule() == v1::PIPELINED;
    bool all_done = true;
    for (size_t k = 0; k < j.stages.size(); ++k) {
      Stage& s = j.stages[k];
      if (s.state != StageState::kDone) all_done = false;
      if (s.state != StageState::kPending) continue;
      bool prev_done = true;
      for (size_t p = 0; p < k; ++p) prev_done &= j.stages[p].state == StageState::kDone;
      bool prev_streaming = k > 0 && j.stages[k - 1].state == StageState::kAwaitingRoute;
      bool runnable = k == 0 || prev_done || (s.receive_inputs && (prev_streaming || pipelined));
      if (!runnable) continue;
      if (prev_done && k > 0) s.receive_inputs = false;  // rebuild inputs from disk
      *out = MakeAssignmentLocked(&j, static_cast<int>(k), worker_id, v1::BLOCK_AP);
      return true;
    }
    if (all_done && !j.stages.empty() && j.finalize_assignment.empty() && !j.finalize_done) {
      *out = MakeAssignmentLocked(&j, 0, worker_id, v1::FINALIZE);
      return true;
    }
  }
  return false;
}

absl::StatusOr<v1::PollResponse> Scheduler::Poll(const v1::PollRequest& req) {
  absl::MutexLock l(&mu_);
  absl::Time deadline = absl::Now() + absl::Milliseconds(std::clamp(req.wait_ms(), 0, 30000));
  for (;;) {
    auto it = workers_.find(req.worker_id());
    if (it == workers_.end() || !it->second.alive) {
      return absl::FailedPreconditionError("worker not registered (register again)");
    }
    it->second.last_seen = absl::Now();
    v1::PollResponse resp;
    if (it->second.assignment_id.empty() && FindWorkLocked(req.worker_id(), resp.mutable_assignment())) {
      return resp;
    }
    if (absl::Now() >= deadline) return v1::PollResponse();
    cv_.WaitWithDeadline(&mu_, deadline);
  }
}

absl::StatusOr<v1::RouteResponse> Scheduler::Route(const v1::RouteRequest& req) {
  absl::MutexLock l(&mu_);
  auto a = assignments_.find(req.assignment_id());
  if (a == assignments_.end()) return absl::NotFoundError("assignment unknown");
  JobRec& j = jobs_[a->second.job_id];
  v1::RouteResponse resp;
  if (Final(j.job)) {
    resp.set_aborted(true);
    return resp;
  }
  int k = a->second.stage;
  if (k + 1 >= static_cast<int>(j.stages.size())) {
    return absl::FailedPreconditionError("the last stage has no successor");
  }
  if (req.early()) {
    absl::Time deadline = absl::Now() + absl::Milliseconds(std::clamp(req.wait_ms(), 0, 10000));
    for (;;) {
      if (Final(j.job)) {
        resp.set_aborted(true);
        return resp;
      }
      const Stage& next = j.stages[k + 1];
      if (next.state == StageState::kAssigned && next.worker_id != req.worker_id() &&
          next.receive_inputs && next.resume_from == next.first) {
        resp.set_ready(true);
        resp.set_data_address(workers_[next.worker_id].info.data_address());
        MessageLocked(&j, absl::StrFormat("pipelined: stage %d streams to stage %d while training",
                                          k, k + 1));
        return resp;
      }
      if (absl::Now() >= deadline) return resp;  // not ready: the stage streams at its end
      cv_.WaitWithDeadline(&mu_, deadline);
    }
  }
  j.stages[k].state = StageState::kAwaitingRoute;
  j.stages[k + 1].receive_inputs = true;
  cv_.SignalAll();
  absl::Time deadline = absl::Now() + std::min(options_.route_wait,
                                               absl::Milliseconds(std::max(0, req.wait_ms())));
  for (;;) {
    Stage& next = j.stages[k + 1];
    if (next.state == StageState::kAssigned && next.worker_id != req.worker_id()) {
      resp.set_ready(true);
      resp.set_data_address(workers_[next.worker_id].info.data_address());
      return resp;
    }
    if (next.state == StageState::kPending && absl::Now() >= deadline) {
      // Nobody else took it: continue in this worker.
      workers_[req.worker_id()].assignment_id.clear();
      *resp.mutable_next() = MakeAssignmentLocked(&j, k + 1, req.worker_id(), v1::BLOCK_AP);
      j.stages[k].state = StageState::kDone;
      assignments_.erase(req.assignment_id());
      resp.set_ready(true);
      resp.set_self(true);
      SyncJobLocked(&j);
      return resp;
    }
    if (absl::Now() >= deadline) return resp;  // not ready: ask again
    cv_.WaitWithDeadline(&mu_, deadline);
  }
}

absl::Status Scheduler::Progress(const v1::ProgressReport& req) {
  absl::MutexLock l(&mu_);
  auto a = assignments_.find(req.assignment_id());
  if (a == assignments_.end()) return absl::NotFoundError("assignment unknown");
  JobRec& j = jobs_[a->second.job_id];
  if (req.step_seconds() > 0) step_seconds_->Observe(req.step_seconds());
  if (req.tokens_per_second() > 0) tokens_per_second_->Set(req.tokens_per_second());
  if (req.transport_bytes() > 0) {
    transport_bytes_->Add({{"direction", "sent"}}).Increment(static_cast<double>(req.transport_bytes()));
  }
  if (req.transport_wait_seconds() > 0) transport_wait_->Increment(req.transport_wait_seconds());
  if (!req.stage().empty()) j.job.set_stage(req.stage());
  v1::ProgressEvent e;
  e.set_stage(req.stage());
  e.set_stage_index(a->second.stage);
  e.set_block(req.block());
  e.set_step(req.step());
  e.set_total_steps(req.total_steps());
  e.set_loss(req.loss());
  e.set_tokens_per_second(req.tokens_per_second());
  if (j.started != absl::InfinitePast() && j.job.blocks_total() > 0) {
    double elapsed = absl::ToDoubleSeconds(absl::Now() - j.started);
    double frac = (j.job.blocks_done() +
                   (req.total_steps() > 0 ? static_cast<double>(req.step()) / req.total_steps() : 0)) /
                  j.job.blocks_total();
    if (frac > 0) e.set_eta_seconds(elapsed * (1 - frac) / frac);
  }
  EventLocked(&j, std::move(e));
  return absl::OkStatus();
}

absl::Status Scheduler::Block(const v1::BlockReport& req) {
  absl::MutexLock l(&mu_);
  auto a = assignments_.find(req.assignment_id());
  if (a == assignments_.end()) return absl::NotFoundError("assignment unknown");
  JobRec& j = jobs_[a->second.job_id];
  absl::Status st = store_->PutBlock(j.job.id(), req);
  if (!st.ok()) return st;
  blocks_completed_->Increment();
  block_loss_->Add({{"kind", "train"}}).Set(req.train_loss());
  block_loss_->Add({{"kind", "val"}}).Set(req.val_loss());
  for (Stage& s : j.stages) {
    if (req.block() >= s.first && req.block() < s.last) {
      s.blocks_done = std::max(s.blocks_done, req.block() - s.first + 1);
      s.resume_from = std::max(s.resume_from, req.block() + 1);
    }
  }
  SyncJobLocked(&j);
  MessageLocked(&j, absl::StrFormat("block %d packed (train %.4g, val %.4g, output mse %.4g, %.1fs)",
                                    req.block(), req.train_loss(), req.val_loss(),
                                    req.output_mse(), req.seconds()));
  return absl::OkStatus();
}

void Scheduler::ReleaseStageLocked(JobRec* j, Stage* s, const std::string& why) {
  s->state = StageState::kPending;
  s->worker_id.clear();
  s->assignment_id.clear();
  // Rebuild the inputs from calibration + packed blocks unless the previous
  // stage is still waiting to stream them.
  bool prev_streaming = s->index > 0 && j->stages[s->index - 1].state == StageState::kAwaitingRoute;
  s->receive_inputs = prev_streaming && s->resume_from == s->first;
  MessageLocked(j, absl::StrFormat("stage %d reassigned: %s (resuming at block %d)", s->index, why,
                                   s->resume_from));
}

absl::Status Scheduler::Finish(const v1::StageFinished& req) {
  absl::MutexLock l(&mu_);
  auto a = assignments_.find(req.assignment_id());
  if (a == assignments_.end()) return absl::NotFoundError("assignment unknown");
  AssignmentRec rec = a->second;
  assignments_.erase(a);
  auto w = workers_.find(rec.worker_id);
  if (w != workers_.end() && w->second.assignment_id == req.assignment_id()) {
    w->second.assignment_id.clear();
  }
  JobRec& j = jobs_[rec.job_id];
  cv_.SignalAll();
  if (Final(j.job)) return absl::OkStatus();
  if (!req.ok()) {
    AbortJobAssignmentsLocked(&j);
    j.job.set_error(req.error());
    SetStateLocked(&j, v1::FAILED, absl::StrCat("failed on ", rec.worker_id, ": ", req.error()));
    return absl::OkStatus();
  }
  if (rec.kind == v1::BLOCK_AP) {
    Stage& s = j.stages[rec.stage];
    s.state = StageState::kDone;
    s.blocks_done = s.last - s.first;
    MessageLocked(&j, absl::StrFormat("stage %d done on %s", rec.stage, rec.worker_id));
    SyncJobLocked(&j);
    return absl::OkStatus();
  }
  j.finalize_done = true;
  *j.job.mutable_result() = req.result();
  j.job.mutable_result()->set_wall_seconds(absl::ToDoubleSeconds(absl::Now() - j.started));
  SetStateLocked(&j, v1::SUCCEEDED,
                 absl::StrFormat("succeeded: %s (ppl %.4f, fp %.4f)", req.result().output_dir(),
                                 req.result().ppl(), req.result().fp_ppl()));
  return absl::OkStatus();
}

void Scheduler::Tick() {
  absl::MutexLock l(&mu_);
  absl::Time now = absl::Now();
  for (auto& [id, w] : workers_) {
    if (!w.alive || now - w.last_seen < options_.worker_timeout) continue;
    w.alive = false;
    std::string aid = w.assignment_id;
    w.assignment_id.clear();
    auto a = assignments_.find(aid);
    if (a == assignments_.end()) continue;
    AssignmentRec rec = a->second;
    assignments_.erase(a);
    JobRec& j = jobs_[rec.job_id];
    if (Final(j.job)) continue;
    std::string why = absl::StrFormat("worker %s lost (no heartbeat for %.0fs)", id,
                                      absl::ToDoubleSeconds(now - w.last_seen));
    if (rec.kind == v1::BLOCK_AP) {
      ReleaseStageLocked(&j, &j.stages[rec.stage], why);
    } else {
      j.finalize_assignment.clear();
      MessageLocked(&j, absl::StrCat("finalize reassigned: ", why));
    }
    SyncJobLocked(&j);
  }
  UpdateGaugesLocked();
  cv_.SignalAll();
}

}  // namespace eqat
