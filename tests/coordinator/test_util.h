// Helpers shared by the coordinator tests: repo paths, a temporary folder,
// and a valid job spec on the bundled stories260K.
#ifndef EQAT_TESTS_COORDINATOR_TEST_UTIL_H_
#define EQAT_TESTS_COORDINATOR_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "eqat/v1/quantization_service.pb.h"

namespace eqat::testing {

inline std::string SourceDir() { return EQAT_SOURCE_DIR; }

// A fresh folder under /tmp, removed with the object.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/eqat-coord-test.XXXXXX";
    char* p = mkdtemp(tmpl);
    EXPECT_NE(p, nullptr);
    path_ = p != nullptr ? p : "/tmp";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline v1::JobSpec StoriesSpec(const std::string& out_dir) {
  v1::JobSpec s;
  s.set_model_dir(SourceDir() + "/models/stories260K");
  s.set_output_dir(out_dir);
  s.set_bits(2);
  s.set_group_size(-1);
  s.set_calib_path(SourceDir() + "/data/calib_en.txt");
  s.set_samples(16);
  s.set_seqlen(64);
  // Small E2E data too (the defaults are the official 4096 x 4096 tokens).
  s.set_e2e_samples(16);
  s.set_e2e_seqlen(64);
  return s;
}

}  // namespace eqat::testing

#endif  // EQAT_TESTS_COORDINATOR_TEST_UTIL_H_
