#include "coordinator/job_table.h"

#include <algorithm>
#include <cstdio>
#include <cstdint>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "coordinator/planner.h"

namespace eqat {
namespace {

const char* StageName(StageState s) {
  switch (s) {
    case StageState::kPending: return "pending";
    case StageState::kAssigned: return "running";
    case StageState::kAwaitingRoute: return "streaming";
    case StageState::kDone: return "done";
  }
  return "?";
}

absl::Status JobNotFound(const std::string& id) {
  return absl::NotFoundError(absl::StrCat("job '", id, "' not found"));
}

// A ListJobs page token as List issues it: the decimal index of the next
// job, at most `num_jobs`. Anything else is refused without echoing it.
absl::StatusOr<size_t> ParsePageToken(const std::string& token, size_t num_jobs) {
  const absl::Status refused =
      absl::InvalidArgumentError("page_token: not a token this coordinator issued");
  for (char c : token) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return refused;
  }
  uint64_t v = 0;
  if (!absl::SimpleAtoi(token, &v) || v > num_jobs) return refused;
  return static_cast<size_t>(v);
}

// Keep memory bounded for long jobs: past this many events, drop the oldest
// kEventsDropped.
constexpr size_t kMaxEvents = 5000;
constexpr size_t kEventsDropped = 1000;

}  // namespace

bool IsFinal(const v1::Job& j) {
  return j.state() == v1::SUCCEEDED || j.state() == v1::FAILED || j.state() == v1::CANCELLED;
}

absl::Status JobTable::Recover() {
  absl::StatusOr<std::vector<v1::Job>> jobs = store_->ListJobs();
  if (!jobs.ok()) return jobs.status();
  for (v1::Job& job : *jobs) {
    if (jobs_.count(job.id())) continue;
    JobRec rec;
    rec.job = job;
    rec.job_dir = job.spec().output_dir() + ".eqat-work";
    int64_t n = 0;
    if (std::sscanf(job.id().c_str(), "job-%ld", &n) == 1) m_->ReserveIdsUpTo(n);
    if (job.state() == v1::RUNNING) {
      absl::StatusOr<std::map<int, v1::BlockReport>> blocks = store_->GetBlocks(job.id());
      if (!blocks.ok()) return blocks.status();
      for (const v1::StageStatus& ss : job.stages()) {
        Stage s;
        s.index = ss.index();
        s.first = ss.first_block();
        s.last = ss.last_block();
        s.resume_from = s.first;
        while (s.resume_from < s.last && blocks->count(s.resume_from)) ++s.resume_from;
        s.blocks_done = s.resume_from - s.first;
        s.state = s.resume_from == s.last ? StageState::kDone : StageState::kPending;
        // No worker, assignment or stream secret: those died with the old
        // coordinator (Stage::stream_secret); assigning it issues new ones.
        rec.stages.push_back(s);
      }
      rec.job.set_stage("block-ap");
      rec.started = m_->Now();
    }
    order_.push_back(job.id());
    JobRec& stored = jobs_[job.id()] = std::move(rec);
    if (!IsFinal(stored.job)) {
      Message(&stored, "coordinator restarted: resuming; finished blocks are kept");
      Sync(&stored);
    }
  }
  m_->NotifyAll();
  return absl::OkStatus();
}

absl::StatusOr<v1::Job> JobTable::Add(const v1::JobSpec& spec, int num_blocks,
                                      const std::string& owner) {
  for (const auto& [id, j] : jobs_) {
    if (!IsFinal(j.job) && j.job.spec().output_dir() == spec.output_dir()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "spec.output_dir: job ", id, " is already writing to ", spec.output_dir()));
    }
  }
  JobRec rec;
  rec.job.set_id(absl::StrFormat("job-%06d", m_->NextId()));
  *rec.job.mutable_spec() = spec;
  rec.job.set_state(v1::QUEUED);
  rec.job.set_stage("queued");
  rec.job.set_created_unix_ms(absl::ToUnixMillis(m_->Now()));
  rec.job.set_updated_unix_ms(rec.job.created_unix_ms());
  rec.job.set_blocks_total(num_blocks);
  rec.job.set_owner(owner);
  rec.job_dir = spec.output_dir() + ".eqat-work";
  // Not durable, not accepted: the client must not believe in a job a
  // restart would forget.
  if (absl::Status st = store_->PutJob(rec.job); !st.ok()) {
    return absl::UnavailableError(absl::StrCat("job not accepted: ", st.message()));
  }
  std::string id = rec.job.id();
  order_.push_back(id);
  JobRec& j = jobs_[id] = std::move(rec);
  Message(&j, absl::StrCat("queued: ", num_blocks, " blocks, ", spec.method(), " W", spec.bits(),
                           "g", spec.group_size()));
  return j.job;
}

JobRec* JobTable::Find(const std::string& id) {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

absl::StatusOr<v1::Job> JobTable::Get(const std::string& id) {
  JobRec* j = Find(id);
  if (j == nullptr) return JobNotFound(id);
  return j->job;
}

absl::StatusOr<v1::ListJobsResponse> JobTable::List(const v1::ListJobsRequest& req) {
  if (req.page_size() < 0) return absl::InvalidArgumentError("page_size: must be >= 0");
  int size = req.page_size() == 0 ? 50 : std::min(req.page_size(), 500);
  size_t start = 0;
  if (!req.page_token().empty()) {
    absl::StatusOr<size_t> issued = ParsePageToken(req.page_token(), order_.size());
    if (!issued.ok()) return issued.status();
    start = *issued;
  }
  v1::ListJobsResponse resp;
  size_t i = start;
  for (; i < order_.size() && resp.jobs_size() < size; ++i) {
    const v1::Job& j = jobs_[order_[i]].job;
    if (req.state() != v1::JOB_STATE_UNSPECIFIED && j.state() != req.state()) continue;
    *resp.add_jobs() = j;
  }
  if (i < order_.size()) resp.set_next_page_token(std::to_string(i));
  return resp;
}

absl::StatusOr<std::vector<v1::ProgressEvent>> JobTable::Events(const std::string& id,
                                                                int64_t from, absl::Time deadline,
                                                                bool* finished) {
  for (;;) {
    const JobRec* j = Find(id);
    if (j == nullptr) return JobNotFound(id);
    std::vector<v1::ProgressEvent> out;
    for (const auto& e : j->events) {
      if (e.seq() >= from) out.push_back(e);
    }
    *finished = (!out.empty() && out.back().final()) || (out.empty() && IsFinal(j->job));
    if (!out.empty() || *finished) return out;
    if (!m_->Wait(deadline)) return out;
  }
}

void JobTable::Event(JobRec* j, v1::ProgressEvent e) {
  e.set_job_id(j->job.id());
  e.set_seq(j->next_seq++);
  e.set_unix_ms(absl::ToUnixMillis(m_->Now()));
  e.set_state(j->job.state());
  if (e.stage().empty()) e.set_stage(j->job.stage());
  j->events.push_back(std::move(e));
  if (j->events.size() > kMaxEvents) {
    j->events.erase(j->events.begin(), j->events.begin() + kEventsDropped);
  }
  m_->NotifyAll();
}

void JobTable::Message(JobRec* j, const std::string& msg) {
  v1::ProgressEvent e;
  e.set_message(msg);
  Event(j, std::move(e));
}

void JobTable::Progress(JobRec* j, int stage, const v1::ProgressReport& r) {
  if (!r.stage().empty()) j->job.set_stage(r.stage());
  v1::ProgressEvent e;
  e.set_stage(r.stage());
  e.set_stage_index(stage);
  e.set_block(r.block());
  e.set_step(r.step());
  e.set_total_steps(r.total_steps());
  e.set_loss(r.loss());
  e.set_tokens_per_second(r.tokens_per_second());
  if (j->started != absl::InfinitePast() && j->job.blocks_total() > 0) {
    double elapsed = absl::ToDoubleSeconds(m_->Now() - j->started);
    double step_frac = r.total_steps() > 0 ? static_cast<double>(r.step()) / r.total_steps() : 0;
    double frac = (j->job.blocks_done() + step_frac) / j->job.blocks_total();
    if (frac > 0) e.set_eta_seconds(elapsed * (1 - frac) / frac);
  }
  Event(j, std::move(e));
}

absl::Status JobTable::Plan(JobRec* j, const std::vector<NamedCapacity>& alive) {
  const int workers = std::max(1, static_cast<int>(alive.size()));
  int max_stages = j->job.spec().max_stages() > 0 ? j->job.spec().max_stages() : workers;
  const int num_stages = std::min(workers, max_stages);
  std::vector<std::pair<int, int>> plan = PlanStages(j->job.blocks_total(), num_stages);
  if (absl::StatusOr<ModelConfig> cfg = LoadModelConfig(j->job.spec().model_dir()); cfg.ok()) {
    j->config = std::make_shared<const ModelConfig>(*std::move(cfg));
    absl::StatusOr<std::vector<std::pair<int, int>>> by_memory =
        PlanJobByMemory(*j->config, j->job.spec(), j->job.blocks_total(), num_stages, alive);
    if (!by_memory.ok()) {
      j->job.set_error(std::string(by_memory.status().message()));
      SetState(j, v1::FAILED, absl::StrCat("does not fit the workers: ", by_memory.status().message()));
      return by_memory.status();
    }
    plan = *std::move(by_memory);
  }
  j->stages.clear();
  for (size_t i = 0; i < plan.size(); ++i) {
    Stage s;
    s.index = static_cast<int>(i);
    s.first = plan[i].first;
    s.last = plan[i].second;
    s.resume_from = s.first;
    s.receive_inputs = i > 0;
    j->stages.push_back(s);
  }
  j->started = m_->Now();
  j->job.set_state(v1::RUNNING);
  j->job.set_stage("block-ap");
  Sync(j);
  Message(j, absl::StrCat("running: ", plan.size(), " stage(s) over ", workers,
                          " worker(s), schedule ", v1::Schedule_Name(j->job.spec().schedule())));
  return absl::OkStatus();
}

void JobTable::SetState(JobRec* j, v1::JobState s, const std::string& msg) {
  j->job.set_state(s);
  if (IsFinal(j->job)) j->job.set_stage("done");
  Sync(j);
  v1::ProgressEvent e;
  e.set_message(msg);
  e.set_final(IsFinal(j->job));
  if (s == v1::SUCCEEDED) *e.mutable_result() = j->job.result();
  Event(j, std::move(e));
}

std::map<int, uint64_t> JobTable::BlockChecksums(const std::string& id) {
  std::map<int, uint64_t> out;
  absl::StatusOr<std::map<int, v1::BlockReport>> blocks = store_->GetBlocks(id);
  if (!blocks.ok()) return out;
  for (const auto& [block, report] : *blocks) {
    if (report.checksum() != 0) out[block] = report.checksum();
  }
  return out;
}

absl::Status JobTable::RecordBlock(JobRec* j, const v1::BlockReport& b) {
  if (absl::Status st = store_->PutBlock(j->job.id(), b); !st.ok()) return st;
  for (Stage& s : j->stages) {
    if (b.block() >= s.first && b.block() < s.last) {
      s.blocks_done = std::max(s.blocks_done, b.block() - s.first + 1);
      s.resume_from = std::max(s.resume_from, b.block() + 1);
    }
  }
  Sync(j);
  Message(j, absl::StrFormat("block %d packed (train %.4g, val %.4g, output mse %.4g, %.1fs)",
                             b.block(), b.train_loss(), b.val_loss(), b.output_mse(), b.seconds()));
  return absl::OkStatus();
}

void JobTable::StageDone(JobRec* j, int stage, const std::string& worker_id) {
  Stage& s = j->stages[stage];
  s.state = StageState::kDone;
  s.stream_secret.clear();  // it takes no more inputs
  s.blocks_done = s.last - s.first;
  Message(j, absl::StrFormat("stage %d done on %s", stage, worker_id));
  Sync(j);
}

void JobTable::ReleaseStage(JobRec* j, int stage, const std::string& why) {
  Stage& s = j->stages[stage];
  s.state = StageState::kPending;
  s.worker_id.clear();
  s.assignment_id.clear();
  s.stream_secret.clear();  // the next assignment gets a fresh one
  // Rebuild the inputs from calibration + packed blocks unless the previous
  // stage is still waiting to stream them.
  bool prev_streaming = stage > 0 && j->stages[stage - 1].state == StageState::kAwaitingRoute;
  s.receive_inputs = prev_streaming && s.resume_from == s.first;
  Message(j, absl::StrFormat("stage %d reassigned: %s (resuming at block %d)", stage, why,
                             s.resume_from));
  Sync(j);
}

void JobTable::ReleaseFinalize(JobRec* j, const std::string& why) {
  j->finalize_assignment.clear();
  j->finalize_worker.clear();
  Message(j, absl::StrCat("finalize reassigned: ", why));
  Sync(j);
}

absl::Status JobTable::RecomputeFrom(JobRec* j, int block, const std::string& why) {
  for (Stage& s : j->stages) {
    if (block < s.first || block >= s.last) continue;
    if (absl::Status st = store_->DeleteBlocks(j->job.id(), block, s.last); !st.ok()) return st;
    s.resume_from = std::min(s.resume_from, block);
    s.blocks_done = std::min(s.blocks_done, block - s.first);
    if (s.state != StageState::kAssigned) {
      s.state = StageState::kPending;
      s.worker_id.clear();
      s.assignment_id.clear();
      s.stream_secret.clear();
      s.receive_inputs = false;  // blocks before `block` are on disk
    }
    ++j->block_recomputes;
    Message(j, absl::StrFormat("block %d is recomputed: %s (stage %d resumes at block %d)", block,
                               why, s.index, s.resume_from));
    Sync(j);
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("block ", block, " is in no stage"));
}

void JobTable::Succeed(JobRec* j, const v1::JobResult& result) {
  j->finalize_done = true;
  *j->job.mutable_result() = result;
  j->job.mutable_result()->set_wall_seconds(absl::ToDoubleSeconds(m_->Now() - j->started));
  SetState(j, v1::SUCCEEDED,
           absl::StrFormat("succeeded: %s (ppl %.4f, fp %.4f)", result.output_dir(), result.ppl(),
                           result.fp_ppl()));
}

void JobTable::Sync(JobRec* j) {
  v1::Job& job = j->job;
  job.set_updated_unix_ms(absl::ToUnixMillis(m_->Now()));
  job.clear_stages();
  int done = 0;
  for (const Stage& s : j->stages) {
    v1::StageStatus* st = job.add_stages();
    st->set_index(s.index);
    st->set_first_block(s.first);
    st->set_last_block(s.last);
    st->set_worker_id(s.worker_id);
    st->set_state(StageName(s.state));
    st->set_blocks_done(s.blocks_done);
    done += s.blocks_done;
  }
  job.set_blocks_done(done);
  absl::Status st = store_->PutJob(job);
  if (st.ok()) {
    j->persisted = true;
    return;
  }
  j->persisted = false;
  Message(j, absl::StrCat("warning: job state not persisted: ", st.message()));
}

void JobTable::RetryUnpersisted() {
  for (auto& [id, j] : jobs_) {
    if (!j.persisted && store_->PutJob(j.job).ok()) j.persisted = true;
  }
}

std::map<v1::JobState, int> JobTable::CountByState() const {
  std::map<v1::JobState, int> counts;
  for (const auto& [id, j] : jobs_) counts[j.job.state()]++;
  return counts;
}

}  // namespace eqat
