// Durable job state: every job as its serialized eqat.v1.Job (a snapshot,
// rewritten whole on each change) and every completed block (path,
// checksum, losses), so a restarted coordinator neither loses jobs nor
// recomputes finished blocks.
//
// Implementations: SqliteJobStore (coordinator/sqlite_job_store.h, the
// production one), InMemoryJobStore (coordinator/in_memory_job_store.h),
// and for tests a fault-injecting wrapper
// (tests/coordinator/fault_injecting_job_store.h).
// Contract: PutJob inserts or replaces by id and keeps the job's first
// insertion position for ListJobs; PutBlock inserts or replaces by
// (job_id, block); a failed write changes nothing. GetJob of an unknown id
// is NotFound; GetBlocks of a job without blocks is an empty map.
// Thread-safety: implementations are thread-safe.
#ifndef EQAT_COORDINATOR_JOB_STORE_H_
#define EQAT_COORDINATOR_JOB_STORE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "eqat/v1/cluster.pb.h"
#include "eqat/v1/quantization_service.pb.h"

namespace eqat {

class JobStore {
 public:
  virtual ~JobStore() = default;

  virtual absl::Status PutJob(const v1::Job& job) = 0;
  virtual absl::StatusOr<v1::Job> GetJob(const std::string& id) = 0;
  // All jobs in creation (first PutJob) order.
  virtual absl::StatusOr<std::vector<v1::Job>> ListJobs() = 0;
  virtual absl::Status PutBlock(const std::string& job_id, const v1::BlockReport& block) = 0;
  // Completed blocks of a job, by block index.
  virtual absl::StatusOr<std::map<int, v1::BlockReport>> GetBlocks(const std::string& job_id) = 0;
  // Forgets the blocks [first, last) of a job (their files turned out
  // corrupt: they are recomputed); blocks not recorded are no error.
  virtual absl::Status DeleteBlocks(const std::string& job_id, int first, int last) = 0;
};

}  // namespace eqat

#endif  // EQAT_COORDINATOR_JOB_STORE_H_
