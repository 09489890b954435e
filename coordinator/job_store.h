// Durable job state in SQLite (state_dir/jobs.db): every job as its
// serialized eqat.v1.Job, and every completed block (path, checksum, losses)
// so a restarted coordinator neither loses jobs nor recomputes finished
// blocks. Writes are transactions; the database uses WAL journaling.
// Thread-safety: all methods are serialized by an internal mutex.
#ifndef EQAT_COORDINATOR_JOB_STORE_H_
#define EQAT_COORDINATOR_JOB_STORE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "eqat/v1/cluster.pb.h"
#include "eqat/v1/quantization_service.pb.h"

struct sqlite3;

namespace eqat {

class JobStore {
 public:
  // Opens or creates state_dir/jobs.db (state_dir is created if missing).
  static absl::StatusOr<std::unique_ptr<JobStore>> Open(const std::string& state_dir);
  ~JobStore();

  absl::Status PutJob(const v1::Job& job);
  absl::StatusOr<v1::Job> GetJob(const std::string& id);
  // All jobs in creation order.
  absl::StatusOr<std::vector<v1::Job>> ListJobs();
  absl::Status PutBlock(const std::string& job_id, const v1::BlockReport& block);
  // Completed blocks of a job, by block index.
  absl::StatusOr<std::map<int, v1::BlockReport>> GetBlocks(const std::string& job_id);

 private:
  JobStore() = default;
  absl::Status Exec(const std::string& sql);
  absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace eqat

#endif  // EQAT_COORDINATOR_JOB_STORE_H_
