// Helpers shared by the worker tests: repo paths and small fixtures.
#ifndef EQAT_TESTS_WORKER_TEST_UTIL_H_
#define EQAT_TESTS_WORKER_TEST_UTIL_H_

#include <string>

#include "common/compute_env.h"

namespace eqat::testing {

inline std::string SourcePath(const std::string& rel) {
  return std::string(EQAT_SOURCE_DIR) + "/" + rel;
}
inline std::string StoriesDir() { return SourcePath("models/stories260K"); }
inline std::string Ref7mDir() { return SourcePath("models/eqat-ref-7m"); }

}  // namespace eqat::testing

#endif  // EQAT_TESTS_WORKER_TEST_UTIL_H_
