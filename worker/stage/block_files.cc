#include "worker/stage/block_files.h"

#include <optional>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/folder_checksums.h"
#include "common/safetensors.h"
#include "common/status_macros.h"
#include "worker/model/tensor_io.h"

namespace eqat {

uint64_t RecordedChecksum(const std::map<int, uint64_t>& checksums, int block) {
  auto it = checksums.find(block);
  return it == checksums.end() ? 0 : it->second;
}

std::optional<int> CorruptBlockOf(const absl::Status& status) {
  auto p = status.GetPayload(kCorruptBlockPayload);  // absl::optional on Debian
  int block = -1;
  if (!p.has_value() || !absl::SimpleAtoi(std::string(*p), &block) || block < 0) return std::nullopt;
  return block;
}

uint64_t Fnv1a64(const std::string& bytes) {
  return Fnv1a64Update(kFnv1a64Offset, bytes.data(), bytes.size());
}

std::string BlockReportPath(const std::string& job_dir, int block) {
  return JoinPath(job_dir, absl::StrFormat("blocks/block_%04d.json", block));
}

absl::Status WriteBlockReport(const std::string& job_dir, const Json& report) {
  std::optional<int64_t> block =
      report.is_object() && report.contains("block") ? JsonInt64(report["block"]) : std::nullopt;
  if (!block.has_value()) return absl::InvalidArgumentError("block report: no block");
  return WriteFileAtomic(BlockReportPath(job_dir, static_cast<int>(*block)), DumpJson(report) + "\n");
}

absl::StatusOr<Json> ReadBlockReport(const std::string& job_dir, int block) {
  std::string path = BlockReportPath(job_dir, block);
  if (!PathExists(path)) return Json();
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  absl::StatusOr<Json> v = ParseJson(text);
  if (!v.ok()) return absl::DataLossError(absl::StrCat(path, ": ", v.status().message()));
  return v;
}

std::string BlockFilePath(const std::string& job_dir, int block) {
  return JoinPath(job_dir, absl::StrFormat("blocks/block_%04d.safetensors", block));
}

absl::StatusOr<uint64_t> WriteBlockFile(const std::string& path, const Block& b, int index,
                                        const kernels::QuantSpec& spec) {
  std::vector<TensorToWrite> tensors;
  double lora_scale = 0;
  for (const auto& [name, lin] : b.Linears()) {
    if (lin->mode != Linear::Mode::kPacked) {
      return absl::FailedPreconditionError(absl::StrCat("block ", index, ": ", name, " not packed"));
    }
    std::string p = LinearPrefix(index, name);
    tensors.push_back(ToWrite(p + ".qweight", lin->packed.qweight, DType::kI32));
    tensors.push_back(ToWrite(p + ".qzeros", lin->packed.qzeros, DType::kI32));
    tensors.push_back(ToWrite(p + ".scales", lin->packed.scales, DType::kF16));
    tensors.push_back(ToWrite(p + ".g_idx", lin->packed.g_idx, DType::kI32));
    if (lin->bias.defined()) tensors.push_back(ToWrite(p + ".bias", lin->bias, DType::kF32));
    if (lin->has_lora()) {  // apiq: the LoRA path the next blocks were trained with
      tensors.push_back(ToWrite(p + ".lora_A.weight", lin->lora_a, DType::kF32));
      tensors.push_back(ToWrite(p + ".lora_B.weight", lin->lora_b, DType::kF32));
      lora_scale = lin->lora_scale;
    }
  }
  std::string p = absl::StrCat("model.layers.", index, ".");
  tensors.push_back(ToWrite(p + "input_layernorm.weight", b.input_norm, DType::kF32));
  tensors.push_back(ToWrite(p + "post_attention_layernorm.weight", b.post_norm, DType::kF32));
  if (b.q_norm.defined()) {  // Qwen3
    tensors.push_back(ToWrite(p + "self_attn.q_norm.weight", b.q_norm, DType::kF32));
    tensors.push_back(ToWrite(p + "self_attn.k_norm.weight", b.k_norm, DType::kF32));
  }
  size_t slash = path.rfind('/');
  if (slash != std::string::npos) RETURN_IF_ERROR(MakeDirs(path.substr(0, slash)));
  std::map<std::string, std::string> meta = {{"eqat_block", std::to_string(index)},
                                             {"bits", std::to_string(spec.bits)},
                                             {"group_size", std::to_string(spec.group_size)}};
  if (lora_scale != 0) meta["lora_scale"] = absl::StrFormat("%.17g", lora_scale);
  RETURN_IF_ERROR(WriteSafetensors(path, tensors, meta));
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return Fnv1a64(bytes);
}

absl::StatusOr<Block> ReadBlockFile(const std::string& path, const ModelConfig& config, int index,
                                    const kernels::QuantSpec& spec, uint64_t expect_checksum) {
  if (expect_checksum != 0) {
    ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
    const uint64_t got = Fnv1a64(bytes);
    if (got != expect_checksum) {
      absl::Status st = absl::DataLossError(absl::StrFormat(
          "%s: checksum mismatch for block %d (recorded %016x, file %016x): the file changed "
          "after it was written",
          path, index, expect_checksum, got));
      st.SetPayload(kCorruptBlockPayload, absl::Cord(std::to_string(index)));
      return st;
    }
  }
  ASSIGN_OR_RETURN(auto st, SafetensorsModel::Open(path));
  ModelConfig cfg = config;
  cfg.quantization.present = true;
  cfg.quantization.quant_method = "gptq";
  cfg.quantization.bits = spec.bits;
  cfg.quantization.group_size = spec.group_size;
  cfg.quantization.checkpoint_format = "gptq_v2";
  ASSIGN_OR_RETURN(Block b, LoadBlock(*st, cfg, index));
  // LoRA factors (apiq), with the scale from the file's metadata.
  double lora_scale = 0;
  const auto& meta = st->files().front()->metadata();
  auto it = meta.find("lora_scale");
  if (it != meta.end() && !absl::SimpleAtod(it->second, &lora_scale)) {
    return absl::DataLossError(absl::StrCat(path, ": bad lora_scale '", it->second, "'"));
  }
  for (auto& [name, lin] : b.Linears()) {
    const std::string p = LinearPrefix(index, name);
    if (!st->Has(p + ".lora_A.weight")) continue;
    ASSIGN_OR_RETURN(lin->lora_a, ReadFloatTensor(*st, p + ".lora_A.weight", {}));
    ASSIGN_OR_RETURN(lin->lora_b, ReadFloatTensor(*st, p + ".lora_B.weight", {}));
    if (lin->lora_a.dim() != 2 || lin->lora_b.dim() != 2 ||
        lin->lora_a.size(1) != lin->in_features() || lin->lora_b.size(0) != lin->out_features() ||
        lin->lora_b.size(1) != lin->lora_a.size(0)) {
      return absl::DataLossError(absl::StrCat(path, ": LoRA factors of ", p, " have wrong shapes"));
    }
    lin->lora_scale = lora_scale;
  }
  return b;
}

}  // namespace eqat
