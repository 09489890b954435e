#include "coordinator/in_memory_job_store.h"

#include "absl/strings/str_cat.h"

namespace eqat {

absl::Status InMemoryJobStore::PutJob(const v1::Job& job) {
  absl::MutexLock l(&mu_);
  auto [it, inserted] = jobs_.insert_or_assign(job.id(), job);
  if (inserted) order_.push_back(job.id());
  return absl::OkStatus();
}

absl::StatusOr<v1::Job> InMemoryJobStore::GetJob(const std::string& id) {
  absl::MutexLock l(&mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("job ", id));
  return it->second;
}

absl::StatusOr<std::vector<v1::Job>> InMemoryJobStore::ListJobs() {
  absl::MutexLock l(&mu_);
  std::vector<v1::Job> out;
  for (const std::string& id : order_) out.push_back(jobs_.at(id));
  return out;
}

absl::Status InMemoryJobStore::PutBlock(const std::string& job_id, const v1::BlockReport& block) {
  absl::MutexLock l(&mu_);
  blocks_[job_id][block.block()] = block;
  return absl::OkStatus();
}

absl::StatusOr<std::map<int, v1::BlockReport>> InMemoryJobStore::GetBlocks(
    const std::string& job_id) {
  absl::MutexLock l(&mu_);
  auto it = blocks_.find(job_id);
  if (it == blocks_.end()) return std::map<int, v1::BlockReport>();
  return it->second;
}

absl::Status InMemoryJobStore::DeleteBlocks(const std::string& job_id, int first, int last) {
  absl::MutexLock l(&mu_);
  auto it = blocks_.find(job_id);
  if (it == blocks_.end()) return absl::OkStatus();
  for (int b = first; b < last; ++b) it->second.erase(b);
  return absl::OkStatus();
}

}  // namespace eqat
