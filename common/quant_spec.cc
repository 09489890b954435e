#include "common/quant_spec.h"

#include "absl/strings/str_cat.h"

namespace eqat {

absl::Status ValidateQuantSpec(const QuantSpec& spec, const QuantSpecFields& f) {
  if (!IsSupportedBits(spec.bits)) {
    return absl::InvalidArgumentError(
        absl::StrCat(f.bits, ": ", spec.bits, " is not supported (2, 3, 4 or 8)"));
  }
  if (spec.group_size != -1 && spec.group_size != 32 && spec.group_size != 64 &&
      spec.group_size != 128) {
    return absl::InvalidArgumentError(absl::StrCat(
        f.group, ": ", spec.group_size, " is not supported (32, 64, 128 or -1 for per-channel)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateQuantSpecFor(const QuantSpec& spec, int64_t in_features,
                                  const std::string& what, const QuantSpecFields& f) {
  absl::Status st = ValidateQuantSpec(spec, f);
  if (!st.ok()) return st;
  if (spec.group_size > 0 && in_features % spec.group_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        f.group, ": ", spec.group_size, " does not divide in_features ", in_features, " of ", what,
        " (use a divisor, or -1 for per-channel groups)"));
  }
  return absl::OkStatus();
}

}  // namespace eqat
