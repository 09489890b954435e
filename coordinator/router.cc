#include "coordinator/router.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace eqat {
namespace {

// Assignment.stream_secret's length (tcp_transport.h: kTcpStreamSecretBytes).
constexpr size_t kStreamSecretBytes = 16;

// Fresh stream secret from the OS's entropy source.
std::string NewStreamSecret() {
  std::random_device rd;
  std::string secret(kStreamSecretBytes, '\0');
  for (size_t i = 0; i < secret.size(); i += 4) {
    const uint32_t word = rd();
    for (size_t b = 0; b < 4 && i + b < secret.size(); ++b) {
      secret[i + b] = static_cast<char>(word >> (8 * b));
    }
  }
  return secret;
}

// A ready route to `next`, which runs on another worker.
void RouteTo(const Stage& next, WorkerRegistry* workers, v1::RouteResponse* resp) {
  resp->set_ready(true);
  resp->set_data_address(workers->DataAddress(next.worker_id));
  resp->set_data_nccl(workers->AcceptsNccl(next.worker_id));
  resp->set_data_secret(next.stream_secret);
}

}  // namespace

v1::Assignment Router::Assign(JobRec* j, int stage, const std::string& worker_id,
                              v1::AssignmentKind kind) {
  v1::Assignment a;
  // Readable prefix, then 128 bits from the OS's entropy source, so that an
  // id cannot be guessed from the ones a client has seen.
  std::random_device rd;
  const uint64_t hi = (uint64_t{rd()} << 32) | rd(), lo = (uint64_t{rd()} << 32) | rd();
  a.set_assignment_id(absl::StrFormat("%s-%s-%d-%d-%016x%016x", j->job.id(),
                                      kind == v1::FINALIZE ? "final" : "stage", stage,
                                      m_->NextId(), hi, lo));
  a.set_job_id(j->job.id());
  a.set_kind(kind);
  *a.mutable_spec() = j->job.spec();
  a.set_job_dir(j->job_dir);
  for (const std::string& r : allowed_roots_) a.add_allowed_roots(r);
  a.set_num_stages(static_cast<int>(j->stages.size()));
  a.set_pipelined(j->job.spec().schedule() == v1::PIPELINED);
  for (const auto& [block, sum] : jobs_->BlockChecksums(j->job.id())) {
    (*a.mutable_block_checksums())[block] = sum;
  }
  if (kind == v1::BLOCK_AP) {
    Stage& s = j->stages[stage];
    a.set_stage_index(stage);
    a.set_first_block(s.first);
    a.set_last_block(s.last);
    a.set_receive_inputs(s.receive_inputs && s.resume_from == s.first);
    a.set_resume_from_block(s.resume_from);
    // Fresh per assignment: a sender routed to an earlier holder of this
    // stage (or a stranger) cannot feed the new one.
    s.stream_secret = NewStreamSecret();
    a.set_stream_secret(s.stream_secret);
    s.state = StageState::kAssigned;
    s.worker_id = worker_id;
    s.assignment_id = a.assignment_id();
    jobs_->Message(j, absl::StrFormat("stage %d (blocks %d-%d) assigned to %s%s", stage, s.first,
                                      s.last - 1, worker_id,
                                      a.receive_inputs() ? " (inputs streamed)" : ""));
  } else {
    j->finalize_worker = worker_id;
    j->finalize_assignment = a.assignment_id();
    j->job.set_stage("finalize");
    jobs_->Message(j, absl::StrCat("finalize (assemble, E2E-QP, write, eval) assigned to ",
                                   worker_id));
  }
  assignments_[a.assignment_id()] = {j->job.id(), worker_id, kind, stage};
  workers_->Hold(worker_id, a.assignment_id());
  jobs_->Sync(j);
  return a;
}

bool Router::FindWork(const std::string& worker_id, v1::Assignment* out) {
  for (const std::string& id : jobs_->order()) {
    JobRec* j = jobs_->Find(id);
    if (IsFinal(j->job)) continue;
    if (j->job.state() == v1::QUEUED && !jobs_->Plan(j, workers_->AliveCapacities()).ok()) continue;
    // Memory: hand a stage only to a worker that can hold it (the plan made
    // sure one can); workers that report no memory are not checked.
    const WorkerRegistry::Worker* self = workers_->Find(worker_id);
    auto fits = [&](int stage) {
      if (j->config == nullptr || self == nullptr) return true;
      if (stage < 0) return FinalizeFits(*j->config, j->job.spec(), self->info.capacity());
      const Stage& s = j->stages[stage];
      return BlockStageFits(*j->config, j->job.spec(), s.first, s.last, stage,
                            static_cast<int>(j->stages.size()), self->info.capacity());
    };
    bool pipelined = j->job.spec().schedule() == v1::PIPELINED;
    bool all_done = true;
    for (size_t k = 0; k < j->stages.size(); ++k) {
      Stage& s = j->stages[k];
      if (s.state != StageState::kDone) all_done = false;
      if (s.state != StageState::kPending) continue;
      bool prev_done = true;
      for (size_t p = 0; p < k; ++p) prev_done &= j->stages[p].state == StageState::kDone;
      bool prev_streaming = k > 0 && j->stages[k - 1].state == StageState::kAwaitingRoute;
      bool runnable = k == 0 || prev_done || (s.receive_inputs && (prev_streaming || pipelined));
      if (!runnable || !fits(static_cast<int>(k))) continue;
      if (prev_done && k > 0) s.receive_inputs = false;  // rebuild inputs from disk
      *out = Assign(j, static_cast<int>(k), worker_id, v1::BLOCK_AP);
      return true;
    }
    if (all_done && !j->stages.empty() && j->finalize_assignment.empty() && !j->finalize_done &&
        fits(-1)) {
      *out = Assign(j, 0, worker_id, v1::FINALIZE);
      return true;
    }
  }
  return false;
}

absl::StatusOr<v1::RouteResponse> Router::Route(const v1::RouteRequest& req) {
  absl::StatusOr<const AssignmentRec*> held = FindHeld(req.assignment_id(), req.worker_id());
  if (!held.ok()) return held.status();
  const AssignmentRec* a = *held;
  JobRec* j = jobs_->Find(a->job_id);
  if (IsFinal(j->job)) {
    v1::RouteResponse resp;
    resp.set_aborted(true);
    return resp;
  }
  int k = a->stage;
  if (k + 1 >= static_cast<int>(j->stages.size())) {
    return absl::FailedPreconditionError("the last stage has no successor");
  }
  return req.early() ? EarlyRoute(j, k, req) : HandOver(j, k, req);
}

absl::StatusOr<v1::RouteResponse> Router::EarlyRoute(JobRec* j, int k, const v1::RouteRequest& req) {
  v1::RouteResponse resp;
  absl::Time deadline = m_->Now() + absl::Milliseconds(std::clamp(req.wait_ms(), 0, 10000));
  for (;;) {
    if (IsFinal(j->job)) {
      resp.set_aborted(true);
      return resp;
    }
    const Stage& next = j->stages[k + 1];
    if (next.state == StageState::kAssigned && next.worker_id != req.worker_id() &&
        next.receive_inputs && next.resume_from == next.first) {
      RouteTo(next, workers_, &resp);
      jobs_->Message(j, absl::StrFormat("pipelined: stage %d streams to stage %d while training", k,
                                        k + 1));
      return resp;
    }
    if (!m_->Wait(deadline)) return resp;  // not ready: the stage streams at its end
  }
}

absl::StatusOr<v1::RouteResponse> Router::HandOver(JobRec* j, int k, const v1::RouteRequest& req) {
  v1::RouteResponse resp;
  j->stages[k].state = StageState::kAwaitingRoute;
  j->stages[k + 1].receive_inputs = true;
  jobs_->Sync(j);
  m_->NotifyAll();  // stage k+1 is runnable now
  absl::Time deadline =
      m_->Now() + std::min(route_wait_, absl::Milliseconds(std::max(0, req.wait_ms())));
  for (;;) {
    // Cancelled, failed, or this worker was lost while it waited.
    if (IsFinal(j->job) || Find(req.assignment_id()) == nullptr) {
      resp.set_aborted(true);
      return resp;
    }
    const Stage& next = j->stages[k + 1];
    if (next.state == StageState::kAssigned && next.worker_id != req.worker_id()) {
      RouteTo(next, workers_, &resp);
      return resp;
    }
    bool expired = m_->Now() >= deadline;
    const WorkerRegistry::Worker* self = workers_->Find(req.worker_id());
    const bool self_fits = j->config == nullptr || self == nullptr ||
                           BlockStageFits(*j->config, j->job.spec(), next.first, next.last, k + 1,
                                          static_cast<int>(j->stages.size()), self->info.capacity());
    if (expired && next.state == StageState::kPending && self_fits) {
      // Nobody else took it: continue in this worker (the next assignment
      // carries its own stream_secret; nothing is streamed).
      workers_->Release(req.worker_id(), req.assignment_id());
      *resp.mutable_next() = Assign(j, k + 1, req.worker_id(), v1::BLOCK_AP);
      j->stages[k].state = StageState::kDone;
      j->stages[k].stream_secret.clear();
      assignments_.erase(req.assignment_id());
      resp.set_ready(true);
      resp.set_self(true);
      jobs_->Sync(j);
      return resp;
    }
    if (expired) return resp;  // not ready: ask again
    m_->Wait(deadline);
  }
}

const Router::AssignmentRec* Router::Find(const std::string& assignment_id) const {
  auto it = assignments_.find(assignment_id);
  return it == assignments_.end() ? nullptr : &it->second;
}

absl::StatusOr<const Router::AssignmentRec*> Router::FindHeld(const std::string& assignment_id,
                                                             const std::string& worker_id) const {
  const AssignmentRec* a = Find(assignment_id);
  if (a == nullptr) return absl::NotFoundError("assignment unknown");
  if (a->worker_id.empty() || a->worker_id != worker_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("assignment ", assignment_id, " is not held by this worker"));
  }
  return a;
}

std::optional<Router::AssignmentRec> Router::Take(const std::string& assignment_id) {
  auto it = assignments_.find(assignment_id);
  if (it == assignments_.end()) return std::nullopt;
  AssignmentRec rec = it->second;
  assignments_.erase(it);
  return rec;
}

void Router::AbortJob(const std::string& job_id) {
  for (const auto& [aid, a] : assignments_) {
    if (a.job_id == job_id && !a.worker_id.empty()) workers_->QueueAbort(a.worker_id, aid);
  }
}

}  // namespace eqat
