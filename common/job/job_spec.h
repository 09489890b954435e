// The one job model: every default and every rule of a quantization job
// (v1::JobSpec, proto/eqat/v1/quantization_service.proto), for the CLI
// (`eqat quantize`, `eqat submit`), the coordinator and the workers alike.
//
// ValidateJobSpec reads only the model's config.json and safetensors
// headers (no LibTorch). It fills every unset optional field with its
// default, so a validated spec states every value explicitly and workers
// never default anything themselves. Each error names the field in the
// caller's style: "--group: 64 does not divide in_features 172 of
// model.layers.0.mlp.down_proj" for the CLI, "spec.group_size: ..." on the
// wire. Codes: InvalidArgument for a bad value, FailedPrecondition for an
// output folder in use (not empty, no overwrite).
// Thread-safety: pure functions (they read files).
#ifndef EQAT_COMMON_JOB_JOB_SPEC_H_
#define EQAT_COMMON_JOB_JOB_SPEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/job/job_defaults.h"
#include "common/model_config.h"
#include "eqat/v1/quantization_service.pb.h"

namespace eqat {

// How errors name a field.
enum class FieldStyle {
  kFlag,  // the CLI flag: "--group", "--eval-seqlen"
  kWire,  // the proto path: "spec.group_size", "spec.eval_seqlen"
};

// The name of JobSpec field `field` (its proto name, e.g. "group_size") in
// `style`. Fields without a CLI flag keep their proto name after "--".
std::string FieldName(const std::string& field, FieldStyle style);

struct JobSpecRules {
  FieldStyle style = FieldStyle::kWire;
  // Paths must be absolute (the coordinator's view; the CLI makes its paths
  // absolute before validating, so this holds for every caller).
  bool require_absolute_paths = true;
  // When set, every path must lie inside one of these folders (after
  // resolving "..", symlinks); an empty list admits nothing. Unset: any path.
  std::optional<std::vector<std::string>> allowed_roots;
};

struct ValidatedJob {
  v1::JobSpec spec;     // every default filled in
  ModelConfig config;   // the source model's config.json
  int num_blocks = 0;   // transformer blocks (num_hidden_layers)
};

absl::StatusOr<ValidatedJob> ValidateJobSpec(const v1::JobSpec& spec, const JobSpecRules& rules);

// For workers, which take specs that the coordinator validated: OK when
// every optional field of `spec` is set (as ValidateJobSpec leaves it);
// else FailedPrecondition naming the first unset field, so a worker never
// falls back to a default of its own (e.g. a coordinator of another version).
absl::Status CheckSpecComplete(const v1::JobSpec& spec);

// True when the (validated) job trains end to end after its blocks: E2E-QP
// of efficientqat, or apiq's --e2e-lora.
bool RunsE2e(const v1::JobSpec& spec);

// True when `path` (made absolute, symlinks resolved) lies in one of `roots`.
bool InAllowedRoots(const std::string& path, const std::vector<std::string>& roots);

// Right before a write: OK when `roots` is empty (not checked: a local run)
// or `path`, its symlinks resolved now, still lies in one of them;
// FailedPrecondition naming `field` otherwise (a link swapped in after the
// job was accepted), so the caller writes nothing.
absl::Status CheckStillInRoots(const std::string& field, const std::string& path,
                               const std::vector<std::string>& roots);

}  // namespace eqat

#endif  // EQAT_COMMON_JOB_JOB_SPEC_H_
