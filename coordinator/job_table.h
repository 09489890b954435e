// Job table and event log: every job with its stages (block ranges, who
// runs them, how far they got), the job's state transitions, its progress
// events (with the Events() long poll), and persistence of all of it to the
// JobStore. Routing decisions (which stage goes where) are the Router's;
// it reads and updates stages through the JobRec it gets from here.
//
// Persistence: each change rewrites the job's snapshot (Sync). A job whose
// first write fails is not created (Add returns the error). A later failed
// write keeps the in-memory state, adds a warning event, and marks the job
// unpersisted; RetryUnpersisted() (the Scheduler's Tick) writes it again.
// A failed PutBlock leaves the stage as it was and returns the error.
// Recover() rebuilds the table from the store after a restart: finished
// jobs as they were, running jobs with each stage pending from its first
// unreported block (stages whose blocks are all reported are done), without
// stream secrets (Stage::stream_secret: each is issued anew on assignment).
// Thread-safety: none of its own; every method requires the Monitor's
// mutex (Events() releases it while it waits).
#ifndef EQAT_COORDINATOR_JOB_TABLE_H_
#define EQAT_COORDINATOR_JOB_TABLE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/job_store.h"
#include "coordinator/memory_fit.h"
#include "coordinator/monitor.h"
#include "eqat/v1/cluster.pb.h"
#include "eqat/v1/quantization_service.pb.h"

namespace eqat {

enum class StageState { kPending, kAssigned, kAwaitingRoute, kDone };

struct Stage {
  int index = 0, first = 0, last = 0;  // blocks [first, last)
  StageState state = StageState::kPending;
  std::string worker_id, assignment_id;
  // The current assignment's Assignment.stream_secret (empty while pending):
  // what the routed sender must present to stream inputs to it. In memory
  // only, never in the Job snapshot (clients read it) nor the JobStore: no
  // assignment outlives the coordinator (Recover() makes every unfinished
  // stage pending, the workers register anew), so a restarted coordinator
  // re-issues a fresh secret with each stage's next assignment, and a
  // stream by a worker still running a pre-restart assignment is refused.
  std::string stream_secret;
  bool receive_inputs = false;  // inputs streamed from stage index-1
  int resume_from = 0;          // first block not yet reported
  int blocks_done = 0;
};

struct JobRec {
  v1::Job job;
  std::vector<Stage> stages;  // empty until planned
  std::string job_dir;
  std::vector<v1::ProgressEvent> events;
  int64_t next_seq = 0;
  std::string finalize_worker, finalize_assignment;
  bool finalize_done = false;
  int block_recomputes = 0;  // corrupt block files recomputed (Scheduler caps it)
  int retries = 0;           // retryable stage failures re-queued (Scheduler caps it)
  absl::Time started = absl::InfinitePast();
  bool persisted = true;  // false after a failed PutJob, until a retry succeeds
  // config.json, read when the job is planned (null when unreadable: stages
  // are then handed out without memory checks).
  std::shared_ptr<const ModelConfig> config;
};

bool IsFinal(const v1::Job& job);

class JobTable {
 public:
  JobTable(Monitor* monitor, JobStore* store) : m_(monitor), store_(store) {}

  // The recorded FNV-1a 64 checksum of each packed block of job `id`
  // (empty when the store cannot be read: the stage then reads unchecked).
  std::map<int, uint64_t> BlockChecksums(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);

  absl::Status Recover() ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);

  // A QUEUED job over `num_blocks` blocks of an already validated spec.
  // FailedPrecondition when an unfinished job writes to the same output.
  absl::StatusOr<v1::Job> Add(const v1::JobSpec& spec, int num_blocks, const std::string& owner = "")
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  // nullptr when unknown.
  JobRec* Find(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  absl::StatusOr<v1::Job> Get(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  // Jobs in creation order, page_size (default 50, at most 500) per page.
  // The page token is the one a previous page returned (empty: the first
  // page). InvalidArgument for a negative page_size, or for a token List
  // did not issue (anything but decimal digits, or past the last job); the
  // message never repeats the token.
  absl::StatusOr<v1::ListJobsResponse> List(const v1::ListJobsRequest& req)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  // Job ids in creation order.
  const std::vector<std::string>& order() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu) {
    return order_;
  }

  // Events with seq >= from, waiting until `deadline` for one. `*finished`
  // is set once the job is final and no later event exists.
  absl::StatusOr<std::vector<v1::ProgressEvent>> Events(const std::string& id, int64_t from,
                                                        absl::Time deadline, bool* finished)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);

  // Event log. Every event wakes the Monitor's waiters.
  void Event(JobRec* j, v1::ProgressEvent e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  void Message(JobRec* j, const std::string& msg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  // A progress event for stage `stage` with the job's ETA.
  void Progress(JobRec* j, int stage, const v1::ProgressReport& r)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);

  // Transitions.
  // QUEUED -> RUNNING with min(workers, max_stages) stages, split by the
  // workers' memory (coordinator/memory_fit.h). When the job cannot fit the
  // workers it fails (FAILED, the numbers in its message) and the error is
  // returned.
  absl::Status Plan(JobRec* j, const std::vector<NamedCapacity>& workers)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  void SetState(JobRec* j, v1::JobState s, const std::string& msg)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  // Persists the block, then advances its stage.
  absl::Status RecordBlock(JobRec* j, const v1::BlockReport& b) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  void StageDone(JobRec* j, int stage, const std::string& worker_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  // Back to pending (its worker is gone), resuming at its first unreported block.
  void ReleaseStage(JobRec* j, int stage, const std::string& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  void ReleaseFinalize(JobRec* j, const std::string& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  // Block `block`'s file failed its checksum: forgets it and the later blocks
  // of its stage (store included) and reopens that stage at `block`, its
  // inputs rebuilt from disk. The stage must not be assigned. Errors: the
  // store's (nothing changed).
  absl::Status RecomputeFrom(JobRec* j, int block, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  void Succeed(JobRec* j, const v1::JobResult& result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);

  // Refreshes the job's stage statuses and writes its snapshot.
  void Sync(JobRec* j) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);
  void RetryUnpersisted() ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);

  std::map<v1::JobState, int> CountByState() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(m_->mu);

 private:
  Monitor* const m_;
  JobStore* const store_;
  std::map<std::string, JobRec> jobs_ ABSL_GUARDED_BY(m_->mu);
  std::vector<std::string> order_ ABSL_GUARDED_BY(m_->mu);
};

}  // namespace eqat

#endif  // EQAT_COORDINATOR_JOB_TABLE_H_
