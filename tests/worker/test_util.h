// Helpers shared by the worker tests: repo paths and small fixtures.
#ifndef EQAT_TESTS_WORKER_TEST_UTIL_H_
#define EQAT_TESTS_WORKER_TEST_UTIL_H_

#include <torch/torch.h>

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "common/compute_env.h"

namespace eqat::testing {

inline std::string SourcePath(const std::string& rel) {
  return std::string(EQAT_SOURCE_DIR) + "/" + rel;
}
inline std::string StoriesDir() { return SourcePath("models/stories260K"); }
inline std::string Ref7mDir() { return SourcePath("models/eqat-ref-7m"); }

// Sets LibTorch's intra-op thread count for a scope and restores it after.
class ThreadCountGuard {
 public:
  explicit ThreadCountGuard(int n) : saved_(torch::get_num_threads()) { torch::set_num_threads(n); }
  ~ThreadCountGuard() { torch::set_num_threads(saved_); }
  ThreadCountGuard(const ThreadCountGuard&) = delete;
  ThreadCountGuard& operator=(const ThreadCountGuard&) = delete;

 private:
  int saved_;
};

// A fresh folder under /tmp for one test, removed with everything in it.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& prefix = "eqat-test") {
    std::string tmpl = "/tmp/" + prefix + ".XXXXXX";
    char* p = mkdtemp(tmpl.data());
    path_ = p != nullptr ? p : "";
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  // Empty when the folder could not be made.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace eqat::testing

#endif  // EQAT_TESTS_WORKER_TEST_UTIL_H_
