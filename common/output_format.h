// The checkpoint formats eqat writes, and what each can hold. Torch-free so
// that job validation (common/job) refuses a spec before any work starts.
//   gptq                qweight/qzeros/scales/g_idx, 2/3/4/8 bits, v1 or v2 zeros
//   awq                 AutoAWQ gemm: 4 bits only, out_features % 8 == 0
//   compressed-tensors  pack-quantized, 2/3/4/8 bits, asymmetric, group or channel
// Thread-safe: pure functions.
#ifndef EQAT_COMMON_OUTPUT_FORMAT_H_
#define EQAT_COMMON_OUTPUT_FORMAT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace eqat {

enum class OutputFormat { kGptq, kAwq, kCompressedTensors };

// "gptq", "awq", "compressed-tensors"; InvalidArgument naming `field`.
absl::StatusOr<OutputFormat> ParseOutputFormat(const std::string& name, const std::string& field);
const char* OutputFormatName(OutputFormat f);

// Can `format` hold `bits` for linears of these (name, out_features)?
// InvalidArgument naming `field`, the value and the tensor otherwise.
// `zeros` is "v1" or "v2"; only gptq has a choice (the others store the
// zero point as is), so v1 with another format is refused naming `zeros_field`.
absl::Status CheckFormatHolds(OutputFormat format, int bits, const std::string& zeros,
                              const std::vector<std::pair<std::string, int64_t>>& out_features,
                              const std::string& field, const std::string& zeros_field);

}  // namespace eqat

#endif  // EQAT_COMMON_OUTPUT_FORMAT_H_
