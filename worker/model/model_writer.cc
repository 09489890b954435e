#include "worker/model/model_writer.h"

#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/output_dir.h"
#include "common/safetensors.h"
#include "common/status_macros.h"
#include "worker/model/tensor_io.h"

namespace eqat {
namespace fs = std::filesystem;

namespace {

Json QuantConfigJson(const QuantizationConfig& qc, kernels::ZerosFormat zeros) {
  return {{"quant_method", "gptq"},
          {"bits", qc.bits},
          {"group_size", qc.group_size},
          {"sym", false},
          {"desc_act", false},
          {"damp_percent", 0.01},
          {"true_sequential", true},
          {"checkpoint_format", zeros == kernels::ZerosFormat::kV1 ? "gptq" : "gptq_v2"},
          {"meta", {{"quantizer", "eqat"}}}};
}

absl::Status AppendLinear(const Linear& lin, const std::string& prefix, kernels::ZerosFormat zeros,
                          std::vector<TensorToWrite>* out) {
  if (lin.mode == Linear::Mode::kFakeQuant) {
    return absl::FailedPreconditionError(absl::StrCat(prefix, ": still in training form"));
  }
  if (lin.mode == Linear::Mode::kFloat) {
    out->push_back(ToWrite(prefix + ".weight", lin.weight, DType::kF32));
  } else {
    const kernels::PackedLinear& p = lin.packed;
    out->push_back(ToWrite(prefix + ".qweight", p.qweight, DType::kI32));
    out->push_back(ToWrite(prefix + ".qzeros",
                           zeros == kernels::ZerosFormat::kV1 ? kernels::QZerosToV1(p) : p.qzeros,
                           DType::kI32));
    out->push_back(ToWrite(prefix + ".scales", p.scales, DType::kF16));
    out->push_back(ToWrite(prefix + ".g_idx", p.g_idx, DType::kI32));
  }
  if (lin.bias.defined()) out->push_back(ToWrite(prefix + ".bias", lin.bias, DType::kF32));
  return absl::OkStatus();
}

absl::Status WriteInto(const LlamaModel& model, const std::string& source_dir,
                       const std::string& dir, const WriteOptions& o) {
  const ModelConfig& cfg = model.config();
  Json config = cfg.raw.is_object() ? cfg.raw : Json::object();
  if (cfg.quantization.present) {
    config["quantization_config"] = QuantConfigJson(cfg.quantization, o.zeros);
  }
  RETURN_IF_ERROR(WriteFileAtomic(JoinPath(dir, "config.json"), DumpJson(config, 2) + "\n"));

  std::vector<TensorToWrite> tensors;
  tensors.push_back(ToWrite("model.embed_tokens.weight", model.embed_tokens(), DType::kF32));
  for (int i = 0; i < model.num_blocks(); ++i) {
    const Block& b = model.block(i);
    for (const auto& [name, lin] : b.Linears()) {
      RETURN_IF_ERROR(AppendLinear(*lin, LinearPrefix(i, name), o.zeros, &tensors));
    }
    std::string p = absl::StrCat("model.layers.", i, ".");
    tensors.push_back(ToWrite(p + "input_layernorm.weight", b.input_norm, DType::kF32));
    tensors.push_back(ToWrite(p + "post_attention_layernorm.weight", b.post_norm, DType::kF32));
  }
  tensors.push_back(ToWrite("model.norm.weight", model.final_norm(), DType::kF32));
  if (!cfg.tie_word_embeddings) {
    tensors.push_back(ToWrite("lm_head.weight", model.lm_head(), DType::kF32));
  }
  RETURN_IF_ERROR(WriteSafetensors(JoinPath(dir, "model.safetensors"), tensors,
                                   {{"format", "pt"}}));
  for (const char* f : {"tokenizer.model", "tokenizer.json", "tokenizer_config.json",
                        "special_tokens_map.json", "generation_config.json"}) {
    std::string src = JoinPath(source_dir, f);
    if (!PathExists(src)) continue;
    ASSIGN_OR_RETURN(std::string bytes, ReadFile(src));
    RETURN_IF_ERROR(WriteFileAtomic(JoinPath(dir, f), bytes));
  }
  if (!o.summary.is_null()) {
    RETURN_IF_ERROR(WriteFileAtomic(JoinPath(dir, "eqat.json"), DumpJson(o.summary, 2) + "\n"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteModelFolder(const LlamaModel& model, const std::string& source_dir,
                              const std::string& out_dir, const WriteOptions& o) {
  RETURN_IF_ERROR(CheckOutputDir(out_dir, o.overwrite));
  RETURN_IF_ERROR(CheckOutputNotSource(out_dir, source_dir));
  std::string clean = CleanPath(out_dir);
  std::string tmp = absl::StrCat(clean, ".tmp-", getpid());
  RETURN_IF_ERROR(RemoveAll(tmp));
  RETURN_IF_ERROR(MakeDirs(tmp));
  absl::Status st;
  try {
    st = WriteInto(model, source_dir, tmp, o);
  } catch (const std::exception& e) {
    st = absl::InternalError(absl::StrCat("writing ", out_dir, ": ", e.what()));
  }
  if (!st.ok()) {
    RemoveAll(tmp).IgnoreError();
    return st;
  }
  if (PathExists(clean)) RETURN_IF_ERROR(RemoveAll(clean));
  std::error_code ec;
  fs::rename(tmp, clean, ec);
  if (ec) {
    RemoveAll(tmp).IgnoreError();
    return absl::PermissionDeniedError(absl::StrCat("out: cannot rename into place: ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace eqat
