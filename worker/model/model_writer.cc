#include "worker/model/model_writer.h"


#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/output_dir.h"
#include "common/safetensors.h"
#include "common/status_macros.h"
#include "common/version.h"
#include "kernels/awq_layout.h"
#include "kernels/compressed_tensors_layout.h"
#include "kernels/v1_zero_refit.h"
#include "worker/model/tensor_io.h"

namespace eqat {
namespace fs = std::filesystem;

namespace {

DType FloatDType(const ModelConfig& cfg) {
  if (cfg.torch_dtype == "bfloat16") return DType::kBF16;
  if (cfg.torch_dtype == "float16") return DType::kF16;
  return DType::kF32;
}

Json Meta() { return {{"quantizer", Json::array({absl::StrCat("eqat:", kEqatVersion)})}}; }

Json GptqConfigJson(const QuantizationConfig& qc, kernels::ZerosFormat zeros) {
  return {{"quant_method", "gptq"},
          {"bits", qc.bits},
          {"group_size", qc.group_size},
          {"sym", false},
          {"desc_act", false},
          {"static_groups", false},
          {"damp_percent", 0.01},
          {"true_sequential", true},
          {"checkpoint_format", zeros == kernels::ZerosFormat::kV1 ? "gptq" : "gptq_v2"},
          {"pack_dtype", "int32"},
          {"meta", Meta()}};
}

Json AwqConfigJson(const QuantizationConfig& qc) {
  return {{"quant_method", "awq"},
          {"bits", qc.bits},
          {"group_size", qc.group_size},
          {"zero_point", true},
          {"version", "gemm"},
          {"modules_to_not_convert", nullptr},
          {"meta", Meta()}};
}

Json CompressedTensorsConfigJson(const QuantizationConfig& qc) {
  Json weights = {{"num_bits", qc.bits},
                  {"type", "int"},
                  {"symmetric", false},
                  {"group_size", qc.group_size > 0 ? Json(qc.group_size) : Json(nullptr)},
                  {"strategy", qc.group_size > 0 ? "group" : "channel"},
                  {"block_structure", nullptr},
                  {"dynamic", false},
                  {"actorder", nullptr},
                  {"observer", "minmax"},
                  {"observer_kwargs", Json::object()}};
  Json group = {{"targets", Json::array({"Linear"})},
                {"weights", std::move(weights)},
                {"input_activations", nullptr},
                {"output_activations", nullptr},
                {"format", "pack-quantized"}};
  return {{"quant_method", "compressed-tensors"},
          {"format", "pack-quantized"},
          {"quantization_status", "compressed"},
          {"config_groups", {{"group_0", std::move(group)}}},
          {"ignore", Json::array({"lm_head"})},
          {"kv_cache_scheme", nullptr},
          {"global_compression_ratio", nullptr},
          {"sparsity_config", Json::object()},
          {"meta", Meta()}};
}

// What the v1 re-fit changed, summed over the model (eqat.json "export").
struct RefitTally {
  kernels::V1Refit total;
  Json tensors = Json::object();  // prefix -> groups re-fitted
};

absl::Status AppendLinear(const Linear& lin, const std::string& prefix, const WriteOptions& o,
                          DType float_dtype, RefitTally* tally, std::vector<TensorToWrite>* out) {
  if (lin.mode == Linear::Mode::kFakeQuant) {
    return absl::FailedPreconditionError(absl::StrCat(prefix, ": still in training form"));
  }
  if (lin.mode == Linear::Mode::kFloat) {
    out->push_back(ToWrite(prefix + ".weight", lin.weight, float_dtype));
  } else if (o.format == OutputFormat::kAwq) {
    RETURN_IF_ERROR(kernels::CheckAwqFits(lin.packed.bits, lin.packed.out_features, prefix));
    kernels::AwqTensors t = kernels::ToAwq(lin.packed);
    out->push_back(ToWrite(prefix + ".qweight", t.qweight, DType::kI32));
    out->push_back(ToWrite(prefix + ".qzeros", t.qzeros, DType::kI32));
    out->push_back(ToWrite(prefix + ".scales", t.scales, DType::kF16));
  } else if (o.format == OutputFormat::kCompressedTensors) {
    // float32 holds eqat's fp16 step sizes exactly, and compressed-tensors
    // multiplies in the scale's dtype: a bf16 scale would round both.
    kernels::CompressedTensors t = kernels::ToCompressedTensors(lin.packed, torch::kFloat);
    out->push_back(ToWrite(prefix + ".weight_packed", t.weight_packed, DType::kI32));
    out->push_back(ToWrite(prefix + ".weight_scale", t.weight_scale, DType::kF32));
    out->push_back(ToWrite(prefix + ".weight_zero_point", t.weight_zero_point, DType::kI32));
    out->push_back(ToWrite(prefix + ".weight_shape", t.weight_shape, DType::kI64));
  } else {
    const kernels::PackedLinear* p = &lin.packed;
    kernels::PackedLinear refit;
    if (o.zeros == kernels::ZerosFormat::kV1) {
      refit = lin.packed;
      kernels::V1Refit r = kernels::RefitZeroPointsForV1(&refit);
      if (r.groups() > 0) {
        tally->total.shifted += r.shifted;
        tally->total.rescaled += r.rescaled;
        tally->total.squared_error += r.squared_error;
        tally->tensors[prefix] = r.groups();
      }
      p = &refit;
    }
    out->push_back(ToWrite(prefix + ".qweight", p->qweight, DType::kI32));
    out->push_back(ToWrite(prefix + ".qzeros",
                           o.zeros == kernels::ZerosFormat::kV1 ? kernels::QZerosToV1(*p) : p->qzeros,
                           DType::kI32));
    out->push_back(ToWrite(prefix + ".scales", p->scales, DType::kF16));
    out->push_back(ToWrite(prefix + ".g_idx", p->g_idx, DType::kI32));
  }
  if (lin.bias.defined()) out->push_back(ToWrite(prefix + ".bias", lin.bias, float_dtype));
  return absl::OkStatus();
}

absl::Status WriteInto(const LlamaModel& model, const std::string& source_dir,
                       const std::string& dir, const WriteOptions& o) {
  const ModelConfig& cfg = model.config();
  const DType fd = FloatDType(cfg);
  Json config = cfg.raw.is_object() ? cfg.raw : Json::object();
  const bool quantized = cfg.quantization.present;

  std::vector<TensorToWrite> tensors;
  RefitTally tally;
  tensors.push_back(ToWrite("model.embed_tokens.weight", model.embed_tokens(), fd));
  for (int i = 0; i < model.num_blocks(); ++i) {
    const Block& b = model.block(i);
    for (const auto& [name, lin] : b.Linears()) {
      RETURN_IF_ERROR(AppendLinear(*lin, LinearPrefix(i, name), o, fd, &tally, &tensors));
    }
    std::string p = absl::StrCat("model.layers.", i, ".");
    tensors.push_back(ToWrite(p + "input_layernorm.weight", b.input_norm, fd));
    tensors.push_back(ToWrite(p + "post_attention_layernorm.weight", b.post_norm, fd));
    if (b.q_norm.defined()) {  // Qwen3
      tensors.push_back(ToWrite(p + "self_attn.q_norm.weight", b.q_norm, fd));
      tensors.push_back(ToWrite(p + "self_attn.k_norm.weight", b.k_norm, fd));
    }
  }
  tensors.push_back(ToWrite("model.norm.weight", model.final_norm(), fd));
  if (!cfg.tie_word_embeddings) {
    tensors.push_back(ToWrite("lm_head.weight", model.lm_head(), fd));
  }

  if (quantized) {
    Json qc;
    switch (o.format) {
      case OutputFormat::kGptq: qc = GptqConfigJson(cfg.quantization, o.zeros); break;
      case OutputFormat::kAwq: qc = AwqConfigJson(cfg.quantization); break;
      case OutputFormat::kCompressedTensors:
        qc = CompressedTensorsConfigJson(cfg.quantization);
        break;
    }
    config["quantization_config"] = qc;
    if (o.format == OutputFormat::kGptq) {
      // AutoGPTQ and GPTQModel read this file; model_file_base_name lets
      // AutoGPTQ find model.safetensors.
      Json quantize_config = qc;
      quantize_config["model_file_base_name"] = "model";
      quantize_config["model_name_or_path"] = nullptr;
      RETURN_IF_ERROR(WriteFileAtomic(JoinPath(dir, "quantize_config.json"),
                                      DumpJson(quantize_config, 2) + "\n"));
    }
  }
  RETURN_IF_ERROR(WriteFileAtomic(JoinPath(dir, "config.json"), DumpJson(config, 2) + "\n"));
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
    Json summary = o.summary;
    if (quantized) {
      Json exp = {{"format", OutputFormatName(o.format)},
                  {"eqat_version", kEqatVersion},
                  {"float_dtype", std::string(DTypeName(fd))}};
      if (o.format == OutputFormat::kGptq) {
        exp["checkpoint_format"] = o.zeros == kernels::ZerosFormat::kV1 ? "gptq" : "gptq_v2";
      }
      if (o.zeros == kernels::ZerosFormat::kV1 && o.format == OutputFormat::kGptq) {
        exp["v1_zero_refit"] = {{"groups", tally.total.groups()},
                                {"shifted", tally.total.shifted},
                                {"rescaled", tally.total.rescaled},
                                {"squared_error", tally.total.squared_error},
                                {"tensors", tally.tensors}};
      }
      summary["export"] = std::move(exp);
    }
    RETURN_IF_ERROR(WriteFileAtomic(JoinPath(dir, "eqat.json"), DumpJson(summary, 2) + "\n"));
  }
  return absl::OkStatus();
}

}  // namespace

bool HoldsCommit(const std::string& marker, const std::string& commit_id) {
  if (marker.empty() || commit_id.empty()) return false;
  absl::StatusOr<std::string> text = ReadFile(marker);
  return text.ok() && *text == commit_id;
}

absl::Status WriteModelFolder(const LlamaModel& model, const std::string& source_dir,
                              const std::string& out_dir, const WriteOptions& o) {
  const bool marked = !o.commit_marker.empty() && !o.commit_id.empty();
  const bool own = HoldsCommit(o.commit_marker, o.commit_id);
  RETURN_IF_ERROR(CheckOutputDir(out_dir, o.overwrite || own));
  RETURN_IF_ERROR(CheckOutputNotSource(out_dir, source_dir));
  std::string clean = CleanPath(out_dir);
  const std::string tmp = TempSiblingPath(clean);
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
  if (marked) {
    // Recorded before out_dir is touched: a retry after a crash from here
    // on knows the folder for its own.
    absl::Status m = WriteFileAtomic(o.commit_marker, o.commit_id);
    if (!m.ok()) {
      RemoveAll(tmp).IgnoreError();
      return m;
    }
  }
  if (PathExists(clean)) RETURN_IF_ERROR(RemoveAll(clean));
  std::error_code ec;
  fs::rename(tmp, clean, ec);
  if (ec) {
    RemoveAll(tmp).IgnoreError();
    // Another instance of the same job committed between our removal and rename.
    if (marked && PathExists(clean)) return absl::OkStatus();
    return absl::PermissionDeniedError(absl::StrCat("out: cannot rename into place: ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace eqat
