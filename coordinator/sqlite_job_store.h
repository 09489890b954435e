// JobStore in SQLite (state_dir/jobs.db). Writes are single statements
// (atomic); the database uses WAL journaling and synchronous=NORMAL.
// Thread-safety: all methods are serialized by an internal mutex.
#ifndef EQAT_COORDINATOR_SQLITE_JOB_STORE_H_
#define EQAT_COORDINATOR_SQLITE_JOB_STORE_H_

#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "coordinator/job_store.h"

struct sqlite3;

namespace eqat {

class SqliteJobStore final : public JobStore {
 public:
  // Opens or creates state_dir/jobs.db (state_dir is created if missing).
  static absl::StatusOr<std::unique_ptr<SqliteJobStore>> Open(const std::string& state_dir);
  ~SqliteJobStore() override;

  absl::Status PutJob(const v1::Job& job) override;
  absl::StatusOr<v1::Job> GetJob(const std::string& id) override;
  absl::StatusOr<std::vector<v1::Job>> ListJobs() override;
  absl::Status PutBlock(const std::string& job_id, const v1::BlockReport& block) override;
  absl::StatusOr<std::map<int, v1::BlockReport>> GetBlocks(const std::string& job_id) override;
  absl::Status DeleteBlocks(const std::string& job_id, int first, int last) override;

 private:
  SqliteJobStore() = default;
  absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace eqat

#endif  // EQAT_COORDINATOR_SQLITE_JOB_STORE_H_
