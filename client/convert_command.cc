// `eqat convert`: rewrites a quantized folder in another checkpoint format
// (gptq v1/v2, awq, compressed-tensors) without re-quantizing. The integer
// codes, zero points and scales are carried over as they are, except that
// --zeros v1 re-fits groups whose zero point is 0 (kernels/v1_zero_refit.h)
// and compressed-tensors stores scales in the checkpoint's dtype.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/command_util.h"
#include "client/commands.h"
#include "common/file_util.h"
#include "common/output_dir.h"
#include "common/status_macros.h"
#include "worker/model/model_writer.h"

namespace eqat {

absl::Status RunConvert(const ConvertOptions& o, std::ostream& out) {
  RETURN_IF_ERROR(CheckModelDir("--model", o.model));
  if (o.zeros != "v1" && o.zeros != "v2") {
    return absl::InvalidArgumentError(absl::StrCat("--zeros: '", o.zeros, "' is not v2 or v1"));
  }
  ASSIGN_OR_RETURN(OutputFormat format, ParseOutputFormat(o.format, "--format"));
  ASSIGN_OR_RETURN(ModelConfig cfg, LoadModelConfig(o.model));
  if (!cfg.quantization.present) {
    return absl::InvalidArgumentError(
        "--model: is not quantized (no quantization_config); use eqat quantize");
  }
  std::vector<std::pair<std::string, int64_t>> outs;
  for (const LinearDims& l : BlockLinearDims(cfg)) outs.emplace_back(l.name, l.out_features);
  RETURN_IF_ERROR(CheckFormatHolds(format, cfg.quantization.bits, o.zeros, outs, "--format",
                                   "--zeros"));
  RETURN_IF_ERROR(CheckOutputDir(o.out, o.overwrite, "--out"));
  RETURN_IF_ERROR(CheckOutputNotSource(o.out, o.model));
  return GuardTorch([&]() -> absl::Status {
    ASSIGN_OR_RETURN(auto model, LlamaModel::Load(o.model));
    WriteOptions wo;
    wo.format = format;
    wo.zeros = o.zeros == "v1" ? kernels::ZerosFormat::kV1 : kernels::ZerosFormat::kV2;
    wo.overwrite = o.overwrite;
    wo.summary = Json::object();
    std::string summary_path = JoinPath(o.model, "eqat.json");
    if (PathExists(summary_path)) {
      ASSIGN_OR_RETURN(std::string text, ReadFile(summary_path));
      absl::StatusOr<Json> prior = ParseJson(text);
      if (prior.ok() && prior->is_object()) wo.summary = *std::move(prior);
    }
    wo.summary["converted_from"] = o.model;
    RETURN_IF_ERROR(WriteModelFolder(*model, o.model, o.out, wo));
    ASSIGN_OR_RETURN(std::string written, ReadFile(JoinPath(o.out, "eqat.json")));
    ASSIGN_OR_RETURN(Json j, ParseJson(written));
    out << absl::StrFormat("wrote %s (%s)\n", o.out, OutputFormatName(format));
    if (o.json) {
      Json line = {{"out", o.out}, {"format", OutputFormatName(format)}};
      if (j.contains("export")) line["export"] = j["export"];
      out << DumpJson(line) << "\n";
    }
    return absl::OkStatus();
  });
}

}  // namespace eqat
