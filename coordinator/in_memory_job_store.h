// JobStore kept in memory: same contract as SqliteJobStore, nothing
// survives the object. For tests, and as the base of a fault-injecting
// store; a second Scheduler over the same object sees what the first wrote
// (a restart without a process exit).
// Thread-safety: all methods are serialized by an internal mutex.
#ifndef EQAT_COORDINATOR_IN_MEMORY_JOB_STORE_H_
#define EQAT_COORDINATOR_IN_MEMORY_JOB_STORE_H_

#include "absl/synchronization/mutex.h"
#include "coordinator/job_store.h"

namespace eqat {

class InMemoryJobStore final : public JobStore {
 public:
  absl::Status PutJob(const v1::Job& job) override;
  absl::StatusOr<v1::Job> GetJob(const std::string& id) override;
  absl::StatusOr<std::vector<v1::Job>> ListJobs() override;
  absl::Status PutBlock(const std::string& job_id, const v1::BlockReport& block) override;
  absl::StatusOr<std::map<int, v1::BlockReport>> GetBlocks(const std::string& job_id) override;
  absl::Status DeleteBlocks(const std::string& job_id, int first, int last) override;

 private:
  absl::Mutex mu_;
  std::map<std::string, v1::Job> jobs_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> order_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::map<int, v1::BlockReport>> blocks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace eqat

#endif  // EQAT_COORDINATOR_IN_MEMORY_JOB_STORE_H_
