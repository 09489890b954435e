#include "common/output_format.h"

#include "absl/strings/str_cat.h"

namespace eqat {

absl::StatusOr<OutputFormat> ParseOutputFormat(const std::string& name, const std::string& field) {
  if (name == "gptq") return OutputFormat::kGptq;
  if (name == "awq") return OutputFormat::kAwq;
  if (name == "compressed-tensors") return OutputFormat::kCompressedTensors;
  const std::string shown = name.size() <= 64 ? name : name.substr(0, 64) + "...";
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": '", shown, "' is not gptq, awq or compressed-tensors"));
}

const char* OutputFormatName(OutputFormat f) {
  switch (f) {
    case OutputFormat::kGptq: return "gptq";
    case OutputFormat::kAwq: return "awq";
    case OutputFormat::kCompressedTensors: return "compressed-tensors";
  }
  return "gptq";
}

absl::Status CheckFormatHolds(OutputFormat format, int bits, const std::string& zeros,
                              const std::vector<std::pair<std::string, int64_t>>& out_features,
                              const std::string& field, const std::string& zeros_field) {
  if (format != OutputFormat::kGptq && zeros == "v1") {
    return absl::InvalidArgumentError(absl::StrCat(
        zeros_field, ": v1 applies to the gptq format only; ", OutputFormatName(format),
        " stores zero points as is"));
  }
  if (format != OutputFormat::kAwq) return absl::OkStatus();
  if (bits != 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": awq holds only 4-bit weights, not ", bits,
        "-bit (use gptq or compressed-tensors)"));
  }
  for (const auto& [name, out] : out_features) {
    if (out % 8 != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": awq packs 8 output features per word; ", name, " has ", out,
          " (use gptq or compressed-tensors)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace eqat
