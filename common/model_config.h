// Hugging Face config.json for the Llama family: Llama, Mistral, Qwen2, Qwen3.
// Parsing validates every field eqat uses; an unsupported architecture or
// field value is refused with InvalidArgument naming the field and value
// (e.g. "config.json: hidden_act 'gelu' is not supported (only 'silu')").
// Thread-safe: plain value types.
#ifndef EQAT_COMMON_MODEL_CONFIG_H_
#define EQAT_COMMON_MODEL_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/json.h"

namespace eqat {

struct RopeScaling {
  std::string type;  // "" (none), "linear" or "llama3"
  double factor = 1.0;
  double low_freq_factor = 1.0;   // llama3
  double high_freq_factor = 4.0;  // llama3
  int64_t original_max_position_embeddings = 8192;  // llama3
};

// `quantization_config` of a folder written by eqat or another tool: GPTQ
// (v1 or v2 zero points), AWQ gemm (4-bit) or compressed-tensors
// pack-quantized (asymmetric int weights, group or channel strategy).
struct QuantizationConfig {
  bool present = false;
  std::string quant_method;       // "gptq", "awq" or "compressed-tensors"
  int bits = 0;                   // 2, 3, 4, 8
  int group_size = 0;             // 32, 64, 128 or -1
  bool sym = false;
  bool desc_act = false;          // true is refused (eqat never reorders)
  // "gptq" (v1: zero-1 stored), "gptq_v2", "awq" or "pack-quantized".
  std::string checkpoint_format;
};

struct ModelConfig {
  std::string model_type;    // "llama", "mistral", "qwen2", "qwen3"
  std::string architecture;  // "LlamaForCausalLM", ...
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // defaults to num_attention_heads
  int64_t head_dim = 0;             // defaults to hidden_size / heads (qwen3: 128)
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v (and o for llama) biases; qwen2: q/k/v only
  bool o_proj_bias = false;
  int64_t sliding_window = 0;   // 0: full causal attention
  // qwen3: per-head RMSNorm of q and k (self_attn.{q,k}_norm.weight, [head_dim],
  // eps rms_norm_eps) after the projections, before RoPE.
  bool qk_norm = false;
  int64_t bos_token_id = 1;
  int64_t eos_token_id = 2;
  std::string torch_dtype;    // "float32", "float16", "bfloat16" or "" (unstated)
  QuantizationConfig quantization;
  Json raw;  // the parsed document, kept to write it back out
};

// The seven linears of one block (every block has the same), named as in
// checkpoints after "model.layers.I.": self_attn.{q,k,v,o}_proj,
// mlp.{gate,up,down}_proj.
struct LinearDims {
  const char* name;
  int64_t out_features;
  int64_t in_features;
};
std::vector<LinearDims> BlockLinearDims(const ModelConfig& c);

absl::StatusOr<ModelConfig> ParseModelConfig(std::string_view json_text);
// Reads DIR/config.json. NotFound / InvalidArgument naming the path.
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir);

}  // namespace eqat

#endif  // EQAT_COMMON_MODEL_CONFIG_H_
