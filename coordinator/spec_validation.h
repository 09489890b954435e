// Validation of a submitted JobSpec at the service boundary. Reads only the
// model's config.json and safetensors headers. Every error is
// InvalidArgument naming the field ("spec.group_size: 64 does not divide
// in_features 172 of model.layers.0.mlp.down_proj"), or FailedPrecondition
// when the output folder is in use. On success the spec is returned with
// every default filled in, so workers see explicit values.
// Thread-safety: pure function (reads files).
#ifndef EQAT_COORDINATOR_SPEC_VALIDATION_H_
#define EQAT_COORDINATOR_SPEC_VALIDATION_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "eqat/v1/quantization_service.pb.h"

namespace eqat {

struct ValidatedSpec {
  v1::JobSpec spec;   // defaults filled in
  int num_blocks = 0;
};

// True when `path` (made absolute, symlinks resolved) lies in one of `roots`.
bool InAllowedRoots(const std::string& path, const std::vector<std::string>& roots);

absl::StatusOr<ValidatedSpec> ValidateJobSpec(const v1::JobSpec& spec,
                                              const std::vector<std::string>& allowed_roots);

}  // namespace eqat

#endif  // EQAT_COORDINATOR_SPEC_VALIDATION_H_
