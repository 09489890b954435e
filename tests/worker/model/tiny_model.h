// A tiny random Hugging Face folder (config.json + model.safetensors, fp32)
// for the worker model tests: Llama or Qwen3 (per-head q/k norms, explicit
// head_dim), with unit-scale weights so that mistakes show in the logits.
#ifndef EQAT_TESTS_WORKER_MODEL_TINY_MODEL_H_
#define EQAT_TESTS_WORKER_MODEL_TINY_MODEL_H_

#include <torch/torch.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/json.h"
#include "common/safetensors.h"
#include "worker/model/tensor_io.h"

namespace eqat::testing {

struct TinyModel {
  std::string model_type = "qwen3";  // "llama" or "qwen3"
  int64_t hidden = 64, intermediate = 128, layers = 2, heads = 4, kv_heads = 2;
  int64_t head_dim = 32;  // qwen3: != hidden / heads
  int64_t vocab = 300;
  bool tied = false;
  uint64_t seed = 1;
  // Tensors to leave out, or to write with another shape (load-error tests).
  std::vector<std::string> omit;
  std::map<std::string, std::vector<int64_t>> reshape;
  Json config_overrides = Json::object();
};

// The tensors of `m` by Hugging Face name (fp32, on the CPU).
inline std::map<std::string, torch::Tensor> TinyTensors(const TinyModel& m) {
  torch::manual_seed(m.seed);
  std::map<std::string, torch::Tensor> t;
  auto lin = [](int64_t out, int64_t in) {
    return torch::randn({out, in}) / std::sqrt(static_cast<double>(in));
  };
  auto norm = [](int64_t n) { return 1 + 0.2 * torch::randn({n}); };
  const int64_t hd = m.model_type == "qwen3" ? m.head_dim : m.hidden / m.heads;
  t["model.embed_tokens.weight"] = torch::randn({m.vocab, m.hidden});
  t["model.norm.weight"] = norm(m.hidden);
  if (!m.tied) t["lm_head.weight"] = lin(m.vocab, m.hidden);
  for (int64_t i = 0; i < m.layers; ++i) {
    const std::string p = absl::StrCat("model.layers.", i, ".");
    t[p + "input_layernorm.weight"] = norm(m.hidden);
    t[p + "post_attention_layernorm.weight"] = norm(m.hidden);
    if (m.model_type == "qwen3") {
      t[p + "self_attn.q_norm.weight"] = norm(hd);
      t[p + "self_attn.k_norm.weight"] = norm(hd);
    }
    t[p + "self_attn.q_proj.weight"] = lin(m.heads * hd, m.hidden);
    t[p + "self_attn.k_proj.weight"] = lin(m.kv_heads * hd, m.hidden);
    t[p + "self_attn.v_proj.weight"] = lin(m.kv_heads * hd, m.hidden);
    t[p + "self_attn.o_proj.weight"] = lin(m.hidden, m.heads * hd);
    t[p + "mlp.gate_proj.weight"] = lin(m.intermediate, m.hidden);
    t[p + "mlp.up_proj.weight"] = lin(m.intermediate, m.hidden);
    t[p + "mlp.down_proj.weight"] = lin(m.hidden, m.intermediate);
  }
  for (const std::string& name : m.omit) t.erase(name);
  for (const auto& [name, shape] : m.reshape) t[name] = torch::randn(shape);
  return t;
}

// Writes `m` into `dir` (which must exist). Returns the tensors written.
inline std::map<std::string, torch::Tensor> WriteTinyModel(const std::string& dir,
                                                           const TinyModel& m) {
  const bool qwen3 = m.model_type == "qwen3";
  Json config = {{"architectures", Json::array({qwen3 ? "Qwen3ForCausalLM" : "LlamaForCausalLM"})},
                 {"model_type", m.model_type},
                 {"hidden_size", m.hidden},
                 {"intermediate_size", m.intermediate},
                 {"num_hidden_layers", m.layers},
                 {"num_attention_heads", m.heads},
                 {"num_key_value_heads", m.kv_heads},
                 {"vocab_size", m.vocab},
                 {"rms_norm_eps", 1e-6},
                 {"rope_theta", 10000.0},
                 {"tie_word_embeddings", m.tied},
                 {"torch_dtype", "float32"}};
  if (qwen3) {
    config["head_dim"] = m.head_dim;
    config["use_sliding_window"] = false;
  }
  for (auto it = m.config_overrides.begin(); it != m.config_overrides.end(); ++it) {
    config[it.key()] = it.value();
  }
  auto tensors = TinyTensors(m);
  std::vector<TensorToWrite> w;
  for (const auto& [name, t] : tensors) w.push_back(ToWrite(name, t, DType::kF32));
  if (!WriteFileAtomic(JoinPath(dir, "config.json"), DumpJson(config, 2)).ok() ||
      !WriteSafetensors(JoinPath(dir, "model.safetensors"), w, {{"format", "pt"}}).ok()) {
    return {};
  }
  return tensors;
}

}  // namespace eqat::testing

#endif  // EQAT_TESTS_WORKER_MODEL_TINY_MODEL_H_
