// Quantization settings shared by every side: bits per weight and group size,
// and their validation. Torch-free, so the coordinator can check a job spec
// without LibTorch (kernels/quantizer.h re-exports these names).
// Thread-safe: plain data and pure functions.
#ifndef EQAT_COMMON_QUANT_SPEC_H_
#define EQAT_COMMON_QUANT_SPEC_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace eqat {

struct QuantSpec {
  int bits = 4;         // 2, 3, 4 or 8
  int group_size = 128; // 32, 64, 128 or -1 (per output channel)
};

inline bool IsSupportedBits(int bits) { return bits == 2 || bits == 3 || bits == 4 || bits == 8; }

// The names errors give the two settings ("--bits" for the CLI, "spec.bits"
// on the wire; plain "bits" / "group" inside the libraries).
struct QuantSpecFields {
  std::string bits = "bits";
  std::string group = "group";
};

// InvalidArgument naming the field ("bits: ..." / "group: ...") when bits or
// group size are unsupported.
absl::Status ValidateQuantSpec(const QuantSpec& spec, const QuantSpecFields& fields = {});

// As above, and InvalidArgument ("group: ...") when group_size does not
// divide `in_features` of `what` (a tensor name).
absl::Status ValidateQuantSpecFor(const QuantSpec& spec, int64_t in_features,
                                  const std::string& what, const QuantSpecFields& fields = {});

}  // namespace eqat

#endif  // EQAT_COMMON_QUANT_SPEC_H_
