// A JobStore wrapper that injects faults, for coordinator tests:
//  - FailWrite(n): the n-th write (PutJob or PutBlock) from now fails with
//    Unavailable and changes nothing; FailAllWrites(true) fails every write.
//  - CrashAfterWrites(n): after n more writes, every write "succeeds" but
//    is dropped, as if the process had died there: the base store keeps
//    exactly what a restarted coordinator would find.
//  - FailReads(true): ListJobs, GetJob, GetBlocks fail with Unavailable.
//  - Heal(): no more faults (a restarted process on the same storage).
// Thread-safety: all methods are thread-safe; the base must be too.
#ifndef EQAT_TESTS_COORDINATOR_FAULT_INJECTING_JOB_STORE_H_
#define EQAT_TESTS_COORDINATOR_FAULT_INJECTING_JOB_STORE_H_

#include <cstdint>

#include "absl/synchronization/mutex.h"
#include "coordinator/job_store.h"

namespace eqat::testing {

class FaultInjectingJobStore final : public JobStore {
 public:
  explicit FaultInjectingJobStore(JobStore* base) : base_(base) {}

  void FailWrite(int n) {
    absl::MutexLock l(&mu_);
    fail_at_ = writes_ + n;
  }
  void FailAllWrites(bool on) {
    absl::MutexLock l(&mu_);
    fail_all_ = on;
  }
  void CrashAfterWrites(int n) {
    absl::MutexLock l(&mu_);
    crash_after_ = writes_ + n;
  }
  void FailReads(bool on) {
    absl::MutexLock l(&mu_);
    fail_reads_ = on;
  }
  void Heal() {
    absl::MutexLock l(&mu_);
    fail_at_ = crash_after_ = -1;
    fail_all_ = fail_reads_ = false;
  }
  int64_t writes() {
    absl::MutexLock l(&mu_);
    return writes_;
  }
  int64_t dropped() {
    absl::MutexLock l(&mu_);
    return dropped_;
  }

  absl::Status PutJob(const v1::Job& job) override {
    if (absl::Status st = BeforeWrite(); !st.ok()) return Dropped(st);
    return base_->PutJob(job);
  }
  absl::Status PutBlock(const std::string& job_id, const v1::BlockReport& block) override {
    if (absl::Status st = BeforeWrite(); !st.ok()) return Dropped(st);
    return base_->PutBlock(job_id, block);
  }
  absl::Status DeleteBlocks(const std::string& job_id, int first, int last) override {
    if (absl::Status st = BeforeWrite(); !st.ok()) return Dropped(st);
    return base_->DeleteBlocks(job_id, first, last);
  }
  absl::StatusOr<v1::Job> GetJob(const std::string& id) override {
    if (absl::Status st = BeforeRead(); !st.ok()) return st;
    return base_->GetJob(id);
  }
  absl::StatusOr<std::vector<v1::Job>> ListJobs() override {
    if (absl::Status st = BeforeRead(); !st.ok()) return st;
    return base_->ListJobs();
  }
  absl::StatusOr<std::map<int, v1::BlockReport>> GetBlocks(const std::string& job_id) override {
    if (absl::Status st = BeforeRead(); !st.ok()) return st;
    return base_->GetBlocks(job_id);
  }

 private:
  // Cancelled: the write is dropped but reported as done (crash).
  static absl::Status Dropped(const absl::Status& st) {
    return absl::IsCancelled(st) ? absl::OkStatus() : st;
  }
  absl::Status BeforeWrite() {
    absl::MutexLock l(&mu_);
    int64_t n = ++writes_;
    if (crash_after_ >= 0 && n > crash_after_) {
      ++dropped_;
      return absl::CancelledError("crashed");
    }
    if (fail_all_ || n == fail_at_) return absl::UnavailableError("injected write failure");
    return absl::OkStatus();
  }
  absl::Status BeforeRead() {
    absl::MutexLock l(&mu_);
    if (fail_reads_) return absl::UnavailableError("injected read failure");
    return absl::OkStatus();
  }

  JobStore* const base_;
  absl::Mutex mu_;
  int64_t writes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t fail_at_ ABSL_GUARDED_BY(mu_) = -1;
  int64_t crash_after_ ABSL_GUARDED_BY(mu_) = -1;
  bool fail_all_ ABSL_GUARDED_BY(mu_) = false;
  bool fail_reads_ ABSL_GUARDED_BY(mu_) = false;
  int64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace eqat::testing

#endif  // EQAT_TESTS_COORDINATOR_FAULT_INJECTING_JOB_STORE_H_
