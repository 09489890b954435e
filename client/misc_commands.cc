#include <torch/torch.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/command_util.h"
#include "client/commands.h"
#include "common/compute_env.h"
#include "common/json.h"
#include "common/safetensors.h"
#include "common/status_macros.h"
#include "worker/model/evaluate.h"

namespace eqat {

int ExitCodeFor(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kOk: return 0;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kAlreadyExists:
      return 2;
    default:
      return 1;
  }
}

absl::Status RunGenerate(const GenerateOptions& o, std::ostream& out) {
  RETURN_IF_ERROR(CheckModelDir("--model", o.model));
  if (o.max_new_tokens < 0 || o.max_new_tokens > 4096) {
    return absl::InvalidArgumentError("--max-new-tokens: must be in [0, 4096]");
  }
  return GuardTorch([&]() -> absl::Status {
    ASSIGN_OR_RETURN(auto model, LlamaModel::Load(o.model));
    ASSIGN_OR_RETURN(auto tok, LoadModelTokenizer(o.model));
    ASSIGN_OR_RETURN(std::vector<int32_t> ids, tok->Encode(o.prompt));
    if (o.bos) ids.insert(ids.begin(), tok->bos_id());
    if (ids.empty()) return absl::InvalidArgumentError("--prompt: is empty");
    if (static_cast<int64_t>(ids.size()) + o.max_new_tokens > model->config().max_position_embeddings) {
      return absl::InvalidArgumentError("--max-new-tokens: prompt + new tokens exceed the context");
    }
    std::vector<int32_t> all = GreedyGenerate(*model, ids, o.max_new_tokens);
    std::string text = tok->Decode(all);
    out << text << "\n";
    if (o.json) {
      Json j = {{"text", text}, {"ids", all}};
      out << DumpJson(j) << "\n";
    }
    return absl::OkStatus();
  });
}

absl::Status RunInspect(const InspectOptions& o, std::ostream& out) {
  RETURN_IF_ERROR(CheckModelDir("--model", o.model));
  ASSIGN_OR_RETURN(ModelConfig cfg, LoadModelConfig(o.model));
  ASSIGN_OR_RETURN(auto st, SafetensorsModel::Open(o.model));
  int64_t params = 0, bytes = 0;
  Json dtype_bytes = Json::object();
  for (const std::string& n : st->names()) {
    const TensorInfo* t = st->Find(n);
    params += t->numel();
    bytes += static_cast<int64_t>(t->nbytes());
    std::string d(DTypeName(t->dtype));
    dtype_bytes[d] = dtype_bytes.value(d, int64_t{0}) + static_cast<int64_t>(t->nbytes());
  }
  out << absl::StrFormat(
      "%s (%s): %d layers, hidden %d, intermediate %d, heads %d/%d kv, head_dim %d, vocab %d\n",
      o.model, cfg.model_type, cfg.num_hidden_layers, cfg.hidden_size, cfg.intermediate_size,
      cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim, cfg.vocab_size);
  out << absl::StrFormat("%d tensors, %d stored elements, %.2f MiB\n", st->names().size(), params,
                         bytes / 1048576.0);
  if (cfg.quantization.present) {
    out << absl::StrFormat("quantized: %s W%dg%d, checkpoint format %s\n",
                           cfg.quantization.quant_method, cfg.quantization.bits,
                           cfg.quantization.group_size, cfg.quantization.checkpoint_format);
  }
  Json plan;
  if (o.plan) {
    ASSIGN_OR_RETURN(plan, PrintMemoryPlan(o, out));
  }
  if (o.json) {
    Json j = {{"model_type", cfg.model_type},
              {"layers", cfg.num_hidden_layers},
              {"tensors", st->names().size()},
              {"bytes", bytes},
              {"bytes_by_dtype", dtype_bytes},
              {"quantized", cfg.quantization.present}};
    if (cfg.quantization.present) {
      j["bits"] = cfg.quantization.bits;
      j["group"] = cfg.quantization.group_size;
      j["quant_method"] = cfg.quantization.quant_method;
      j["checkpoint_format"] = cfg.quantization.checkpoint_format;
    }
    if (o.plan) j["memory_plan"] = plan;
    out << DumpJson(j) << "\n";
  }
  return absl::OkStatus();
}

}  // namespace eqat
