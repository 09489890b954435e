// Checks on an output folder, made before any work starts (CLI, coordinator
// spec validation, model writer). Torch-free.
// Thread-safety: pure functions of the file system's state.
#ifndef EQAT_COMMON_OUTPUT_DIR_H_
#define EQAT_COMMON_OUTPUT_DIR_H_

#include <string>

#include "absl/status/status.h"

namespace eqat {

// "a/b/" and "a/b" name the same folder: the lexically normal path without a
// trailing slash.
std::string CleanPath(const std::string& path);

// out_dir absent or an empty directory (or overwrite), its parent an
// existing writable directory. InvalidArgument / FailedPrecondition with a
// message starting "<field>: " ("--out", "spec.output_dir").
absl::Status CheckOutputDir(const std::string& out_dir, bool overwrite,
                            const std::string& field = "out");

// InvalidArgument ("<field>: ...") when out_dir is source_dir, one of its
// ancestors (replacing it would delete the model being read) or inside it.
absl::Status CheckOutputNotSource(const std::string& out_dir, const std::string& source_dir,
                                  const std::string& field = "out");

}  // namespace eqat

#endif  // EQAT_COMMON_OUTPUT_DIR_H_
