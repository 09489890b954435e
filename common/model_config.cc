#include "common/model_config.h"

#include <cmath>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/status_macros.h"

namespace eqat {
namespace {

// An integer, or an integral float written as e.g. 64.0; nothing else.
bool IntValue(const Json& v, int64_t* out) {
  if (std::optional<int64_t> i = JsonInt64(v)) {
    *out = *i;
    return true;
  }
  if (!v.is_number_float()) return false;
  double d = v.get<double>();
  if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) >= 9.0e15) return false;
  *out = static_cast<int64_t>(d);
  return true;
}

// Reads typed fields of one JSON object; every error names `where` (the
// file) and the field. JSON null counts as absent for optional fields.
class FieldReader {
 public:
  FieldReader(const Json& obj, std::string where, std::string prefix = "")
      : obj_(obj), where_(std::move(where)), prefix_(std::move(prefix)) {}

  const Json* Get(std::string_view key) const {
    auto it = obj_.find(key);
    return (it == obj_.end() || it->is_null()) ? nullptr : &*it;
  }

  // Debian's Abseil has its own absl::string_view (not std::string_view).
  std::string Name(std::string_view key) const { return absl::StrCat(prefix_, std::string(key)); }

  absl::Status Error(std::string_view key, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(where_, ": ", Name(key), " ", what));
  }

  absl::Status Int(std::string_view key, bool required, int64_t* out) const {
    const Json* v = Get(key);
    if (v == nullptr) {
      return required ? Error(key, "is required") : absl::OkStatus();
    }
    if (!IntValue(*v, out)) return Error(key, "must be an integer");
    return absl::OkStatus();
  }

  absl::Status PositiveInt(std::string_view key, bool required, int64_t* out) const {
    int64_t v = *out;
    RETURN_IF_ERROR(Int(key, required, &v));
    if (Get(key) != nullptr && v <= 0) {
      return Error(key, absl::StrCat("must be positive (got ", v, ")"));
    }
    *out = v;
    return absl::OkStatus();
  }

  absl::Status PositiveDouble(std::string_view key, bool required, double* out) const {
    const Json* v = Get(key);
    if (v == nullptr) {
      return required ? Error(key, "is required") : absl::OkStatus();
    }
    if (!v->is_number()) return Error(key, "must be a number");
    double d = v->get<double>();
    if (!std::isfinite(d) || d <= 0) {
      return Error(key, absl::StrCat("must be positive (got ", d, ")"));
    }
    *out = d;
    return absl::OkStatus();
  }

  absl::Status Bool(std::string_view key, bool* out) const {
    const Json* v = Get(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_boolean()) return Error(key, "must be true or false");
    *out = v->get<bool>();
    return absl::OkStatus();
  }

  absl::Status String(std::string_view key, bool required, std::string* out) const {
    const Json* v = Get(key);
    if (v == nullptr) {
      return required ? Error(key, "is required") : absl::OkStatus();
    }
    if (!v->is_string()) return Error(key, "must be a string");
    *out = v->get<std::string>();
    return absl::OkStatus();
  }

 private:
  const Json& obj_;
  std::string where_;
  std::string prefix_;
};

struct Family {
  const char* model_type;
  const char* architecture;
};
constexpr Family kFamilies[] = {
    {"llama", "LlamaForCausalLM"},
    {"mistral", "MistralForCausalLM"},
    {"qwen2", "Qwen2ForCausalLM"},
    {"qwen3", "Qwen3ForCausalLM"},
};

const Family* FamilyByType(std::string_view t) {
  for (const Family& f : kFamilies) {
    if (t == f.model_type) return &f;
  }
  return nullptr;
}
const Family* FamilyByArch(std::string_view a) {
  for (const Family& f : kFamilies) {
    if (a == f.architecture) return &f;
  }
  return nullptr;
}

absl::Status ParseFamily(const FieldReader& r, ModelConfig* c) {
  const Family* by_arch = nullptr;
  if (const Json* archs = r.Get("architectures")) {
    if (!archs->is_array()) return r.Error("architectures", "must be an array of strings");
    if (archs->size() > 1) {
      return r.Error("architectures", "must name exactly one architecture");
    }
    if (!archs->empty()) {
      const Json& a = archs->front();
      if (!a.is_string()) return r.Error("architectures", "must be an array of strings");
      const std::string& arch = a.get_ref<const std::string&>();
      by_arch = FamilyByArch(arch);
      if (by_arch == nullptr) {
        return r.Error("architectures",
                       absl::StrCat("'", arch,
                                    "' is not supported (LlamaForCausalLM, "
                                    "MistralForCausalLM, Qwen2ForCausalLM, "
                                    "Qwen3ForCausalLM)"));
      }
    }
  }
  std::string model_type;
  RETURN_IF_ERROR(r.String("model_type", by_arch == nullptr, &model_type));
  const Family* fam = by_arch;
  if (!model_type.empty() || by_arch == nullptr) {
    fam = FamilyByType(model_type);
    if (fam == nullptr) {
      return r.Error("model_type", absl::StrCat("'", model_type,
                                                "' is not supported (llama, mistral, qwen2, qwen3)"));
    }
    if (by_arch != nullptr && by_arch != fam) {
      return r.Error("architectures",
                     absl::StrCat("'", by_arch->architecture, "' does not match model_type '",
                                  model_type, "'"));
    }
  }
  c->model_type = fam->model_type;
  c->architecture = fam->architecture;
  return absl::OkStatus();
}

absl::Status ParseShape(const FieldReader& r, ModelConfig* c) {
  RETURN_IF_ERROR(r.PositiveInt("hidden_size", true, &c->hidden_size));
  RETURN_IF_ERROR(r.PositiveInt("intermediate_size", true, &c->intermediate_size));
  RETURN_IF_ERROR(r.PositiveInt("num_hidden_layers", true, &c->num_hidden_layers));
  RETURN_IF_ERROR(r.PositiveInt("num_attention_heads", true, &c->num_attention_heads));
  RETURN_IF_ERROR(r.PositiveInt("vocab_size", true, &c->vocab_size));
  RETURN_IF_ERROR(r.PositiveInt("max_position_embeddings", false, &c->max_position_embeddings));

  c->num_key_value_heads = c->num_attention_heads;
  RETURN_IF_ERROR(r.PositiveInt("num_key_value_heads", false, &c->num_key_value_heads));
  if (c->num_attention_heads % c->num_key_value_heads != 0) {
    return r.Error("num_key_value_heads",
                   absl::StrCat(c->num_key_value_heads, " does not divide num_attention_heads ",
                                c->num_attention_heads));
  }
  if (r.Get("head_dim") != nullptr) {
    RETURN_IF_ERROR(r.PositiveInt("head_dim", false, &c->head_dim));
  } else if (c->model_type == "qwen3") {
    c->head_dim = 128;  // Qwen3Config's default, whatever hidden_size / heads is
  } else {
    if (c->hidden_size % c->num_attention_heads != 0) {
      return r.Error("hidden_size",
                     absl::StrCat(c->hidden_size, " is not divisible by num_attention_heads ",
                                  c->num_attention_heads, " (and head_dim is not given)"));
    }
    c->head_dim = c->hidden_size / c->num_attention_heads;
  }
  if (c->head_dim % 2 != 0) {
    return r.Error("head_dim", absl::StrCat(c->head_dim, " must be even (rotary embedding)"));
  }
  RETURN_IF_ERROR(r.PositiveDouble("rms_norm_eps", false, &c->rms_norm_eps));
  RETURN_IF_ERROR(r.PositiveDouble("rope_theta", false, &c->rope_theta));
  for (const char* key : {"hidden_act", "hidden_activation"}) {
    std::string act;
    RETURN_IF_ERROR(r.String(key, false, &act));
    if (r.Get(key) != nullptr && act != "silu") {
      return r.Error(key, absl::StrCat("'", act, "' is not supported (only 'silu')"));
    }
  }
  return absl::OkStatus();
}

// rope_scaling (transformers < 5) or rope_parameters (transformers 5 writes
// {"rope_type", "rope_theta", factor...} there, and no rope_theta or
// rope_scaling at the top level); rope_parameters wins when both are given.
absl::Status ParseRopeScaling(const FieldReader& r, const std::string& where, ModelConfig* c) {
  const char* key = r.Get("rope_parameters") != nullptr ? "rope_parameters" : "rope_scaling";
  const Json* rs = r.Get(key);
  if (rs == nullptr) return absl::OkStatus();
  if (!rs->is_object()) return r.Error(key, "must be an object or null");
  FieldReader s(*rs, where, absl::StrCat(key, "."));
  if (std::string_view(key) == "rope_parameters") {
    RETURN_IF_ERROR(s.PositiveDouble("rope_theta", false, &c->rope_theta));
  }
  std::string type;
  const char* type_key = s.Get("rope_type") != nullptr ? "rope_type" : "type";
  RETURN_IF_ERROR(s.String(type_key, true, &type));
  if (type == "default") return absl::OkStatus();
  if (type != "linear" && type != "llama3") {
    return s.Error(type_key,
                   absl::StrCat("'", type, "' is not supported (default, linear, llama3)"));
  }
  RopeScaling& out = c->rope_scaling;
  out.type = type;
  RETURN_IF_ERROR(s.PositiveDouble("factor", true, &out.factor));
  if (type == "llama3") {
    RETURN_IF_ERROR(s.PositiveDouble("low_freq_factor", true, &out.low_freq_factor));
    RETURN_IF_ERROR(s.PositiveDouble("high_freq_factor", true, &out.high_freq_factor));
    RETURN_IF_ERROR(s.PositiveInt("original_max_position_embeddings", true,
                                  &out.original_max_position_embeddings));
    if (out.high_freq_factor <= out.low_freq_factor) {
      return s.Error("high_freq_factor",
                     absl::StrCat(out.high_freq_factor, " must exceed low_freq_factor ",
                                  out.low_freq_factor));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseAttention(const FieldReader& r, ModelConfig* c) {
  RETURN_IF_ERROR(r.Bool("tie_word_embeddings", &c->tie_word_embeddings));
  bool mlp_bias = false;
  RETURN_IF_ERROR(r.Bool("mlp_bias", &mlp_bias));
  if (mlp_bias) return r.Error("mlp_bias", "true is not supported");

  if (c->model_type == "qwen2") {
    // Qwen2 always has q/k/v biases and never an o_proj bias.
    c->attention_bias = true;
    c->o_proj_bias = false;
    bool use_sw = false;
    RETURN_IF_ERROR(r.Bool("use_sliding_window", &use_sw));
    if (use_sw) {
      RETURN_IF_ERROR(r.PositiveInt("sliding_window", true, &c->sliding_window));
    }
  } else {
    // Llama semantics (also applied to Mistral): one flag for q, k, v and o.
    RETURN_IF_ERROR(r.Bool("attention_bias", &c->attention_bias));
    c->o_proj_bias = c->attention_bias;
    if (c->model_type == "mistral") {
      RETURN_IF_ERROR(r.PositiveInt("sliding_window", false, &c->sliding_window));
    }
    if (c->model_type == "qwen3") {
      // Qwen3 slides only on layers from max_window_layers on; eqat has one
      // window for every layer, so the sliding variant is refused.
      c->qk_norm = true;
      bool use_sw = false;
      RETURN_IF_ERROR(r.Bool("use_sliding_window", &use_sw));
      if (use_sw) return r.Error("use_sliding_window", "true is not supported for qwen3");
      if (const Json* lt = r.Get("layer_types")) {
        if (!lt->is_array()) return r.Error("layer_types", "must be an array of strings");
        for (const Json& t : *lt) {
          if (!t.is_string() || t.get<std::string>() != "full_attention") {
            return r.Error("layer_types", "may only hold 'full_attention' for qwen3");
          }
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ParseTokenIds(const FieldReader& r, ModelConfig* c) {
  RETURN_IF_ERROR(r.Int("bos_token_id", false, &c->bos_token_id));
  if (c->bos_token_id < 0) return r.Error("bos_token_id", "must not be negative");
  const Json* eos = r.Get("eos_token_id");
  if (eos != nullptr && eos->is_array()) {
    if (eos->empty()) return r.Error("eos_token_id", "must not be an empty array");
    if (!IntValue(eos->front(), &c->eos_token_id)) {
      return r.Error("eos_token_id", "must be an integer or an array of integers");
    }
  } else {
    RETURN_IF_ERROR(r.Int("eos_token_id", false, &c->eos_token_id));
  }
  if (c->eos_token_id < 0) return r.Error("eos_token_id", "must not be negative");
  return absl::OkStatus();
}

absl::Status CheckBitsAndGroup(const FieldReader& q, const char* bits_key, int64_t bits,
                               const char* group_key, int64_t group) {
  if (bits != 2 && bits != 3 && bits != 4 && bits != 8) {
    return q.Error(bits_key, absl::StrCat(bits, " is not supported (2, 3, 4, 8)"));
  }
  if (group != 32 && group != 64 && group != 128 && group != -1) {
    return q.Error(group_key, absl::StrCat(group, " is not supported (32, 64, 128, -1)"));
  }
  return absl::OkStatus();
}

absl::Status ParseGptq(const FieldReader& q, QuantizationConfig* out) {
  int64_t bits = 0, group = 0;
  RETURN_IF_ERROR(q.Int("bits", true, &bits));
  RETURN_IF_ERROR(q.Int("group_size", true, &group));
  RETURN_IF_ERROR(CheckBitsAndGroup(q, "bits", bits, "group_size", group));
  out->bits = static_cast<int>(bits);
  out->group_size = static_cast<int>(group);
  RETURN_IF_ERROR(q.Bool("desc_act", &out->desc_act));
  if (out->desc_act) return q.Error("desc_act", "true is not supported (no act-order)");
  RETURN_IF_ERROR(q.Bool("sym", &out->sym));
  out->checkpoint_format = "gptq";
  RETURN_IF_ERROR(q.String("checkpoint_format", false, &out->checkpoint_format));
  if (out->checkpoint_format != "gptq" && out->checkpoint_format != "gptq_v2") {
    return q.Error("checkpoint_format", absl::StrCat("'", out->checkpoint_format,
                                                     "' is not supported (gptq, gptq_v2)"));
  }
  return absl::OkStatus();
}

absl::Status ParseAwq(const FieldReader& q, QuantizationConfig* out) {
  int64_t bits = 0, group = 0;
  RETURN_IF_ERROR(q.Int("bits", false, &bits));
  if (q.Get("bits") == nullptr) RETURN_IF_ERROR(q.Int("w_bit", true, &bits));
  RETURN_IF_ERROR(q.Int("group_size", false, &group));
  if (q.Get("group_size") == nullptr) RETURN_IF_ERROR(q.Int("q_group_size", true, &group));
  if (bits != 4) return q.Error("bits", absl::StrCat(bits, " is not supported (AWQ: 4)"));
  RETURN_IF_ERROR(CheckBitsAndGroup(q, "bits", bits, "group_size", group));
  out->bits = 4;
  out->group_size = static_cast<int>(group);
  bool zero_point = true;
  RETURN_IF_ERROR(q.Bool("zero_point", &zero_point));
  if (!zero_point) return q.Error("zero_point", "false is not supported (asymmetric only)");
  std::string version = "gemm";
  RETURN_IF_ERROR(q.String("version", false, &version));
  if (version != "gemm" && version != "GEMM") {
    return q.Error("version", absl::StrCat("'", version, "' is not supported (gemm)"));
  }
  out->checkpoint_format = "awq";
  return absl::OkStatus();
}

absl::Status ParseCompressedTensors(const FieldReader& q, const std::string& where,
                                    QuantizationConfig* out) {
  std::string format;
  RETURN_IF_ERROR(q.String("format", true, &format));
  if (format != "pack-quantized") {
    return q.Error("format", absl::StrCat("'", format, "' is not supported (pack-quantized)"));
  }
  const Json* groups = q.Get("config_groups");
  if (groups == nullptr || !groups->is_object() || groups->size() != 1) {
    return q.Error("config_groups", "must hold exactly one scheme");
  }
  const std::string gname = groups->begin().key();
  const Json& scheme = groups->begin().value();
  if (!scheme.is_object()) return q.Error("config_groups", "scheme must be an object");
  std::string prefix = absl::StrCat(q.Name("config_groups."), gname, ".");
  FieldReader g(scheme, where, prefix);
  if (g.Get("input_activations") != nullptr) {
    return g.Error("input_activations", "is not supported (weight-only schemes)");
  }
  const Json* weights = g.Get("weights");
  if (weights == nullptr || !weights->is_object()) return g.Error("weights", "is required");
  FieldReader w(*weights, where, prefix + "weights.");
  std::string type = "int", strategy;
  RETURN_IF_ERROR(w.String("type", false, &type));
  if (type != "int") return w.Error("type", absl::StrCat("'", type, "' is not supported (int)"));
  bool symmetric = true;
  RETURN_IF_ERROR(w.Bool("symmetric", &symmetric));
  if (symmetric) return w.Error("symmetric", "true is not supported (zero points are required)");
  int64_t bits = 0, group = -1;
  RETURN_IF_ERROR(w.Int("num_bits", true, &bits));
  RETURN_IF_ERROR(w.String("strategy", true, &strategy));
  if (strategy == "group") {
    RETURN_IF_ERROR(w.Int("group_size", true, &group));
  } else if (strategy != "channel") {
    return w.Error("strategy", absl::StrCat("'", strategy, "' is not supported (group, channel)"));
  }
  RETURN_IF_ERROR(CheckBitsAndGroup(w, "num_bits", bits, "group_size", group));
  const Json* actorder = w.Get("actorder");
  if (actorder != nullptr && !(actorder->is_boolean() && !actorder->get<bool>())) {
    return w.Error("actorder", "is not supported (no act-order)");
  }
  out->bits = static_cast<int>(bits);
  out->group_size = static_cast<int>(group);
  out->checkpoint_format = "pack-quantized";
  return absl::OkStatus();
}

absl::Status ParseQuantization(const FieldReader& r, const std::string& where, ModelConfig* c) {
  const Json* qc = r.Get("quantization_config");
  if (qc == nullptr) return absl::OkStatus();
  if (!qc->is_object()) return r.Error("quantization_config", "must be an object");
  FieldReader q(*qc, where, "quantization_config.");
  QuantizationConfig& out = c->quantization;
  out.present = true;
  RETURN_IF_ERROR(q.String("quant_method", true, &out.quant_method));
  if (out.quant_method == "gptq") return ParseGptq(q, &out);
  if (out.quant_method == "awq") return ParseAwq(q, &out);
  if (out.quant_method == "compressed-tensors") return ParseCompressedTensors(q, where, &out);
  return q.Error("quant_method", absl::StrCat("'", out.quant_method,
                                              "' is not supported (gptq, awq, compressed-tensors)"));
}

// torch_dtype (transformers < 4.56) or dtype: the checkpoint's float type.
absl::Status ParseDtype(const FieldReader& r, ModelConfig* c) {
  const char* key = r.Get("dtype") != nullptr ? "dtype" : "torch_dtype";
  RETURN_IF_ERROR(r.String(key, false, &c->torch_dtype));
  const std::string& d = c->torch_dtype;
  if (!d.empty() && d != "float32" && d != "float16" && d != "bfloat16") {
    return r.Error(key, absl::StrCat("'", d, "' is not supported (float32, float16, bfloat16)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelConfig> ParseWithName(std::string_view json_text, const std::string& where) {
  auto doc = ParseJson(json_text);
  if (!doc.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": invalid JSON: ", doc.status().message()));
  }
  if (!doc->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": top level must be an object"));
  }
  ModelConfig c;
  FieldReader r(*doc, where);
  RETURN_IF_ERROR(ParseFamily(r, &c));
  RETURN_IF_ERROR(ParseShape(r, &c));
  RETURN_IF_ERROR(ParseRopeScaling(r, where, &c));
  RETURN_IF_ERROR(ParseAttention(r, &c));
  RETURN_IF_ERROR(ParseTokenIds(r, &c));
  RETURN_IF_ERROR(ParseQuantization(r, where, &c));
  RETURN_IF_ERROR(ParseDtype(r, &c));
  c.raw = std::move(*doc);
  return c;
}

}  // namespace

std::vector<LinearDims> BlockLinearDims(const ModelConfig& c) {
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  const int64_t q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  return {{"self_attn.q_proj", q, H},  {"self_attn.k_proj", kv, H}, {"self_attn.v_proj", kv, H},
          {"self_attn.o_proj", H, q},  {"mlp.gate_proj", I, H},     {"mlp.up_proj", I, H},
          {"mlp.down_proj", H, I}};
}

absl::StatusOr<ModelConfig> ParseModelConfig(std::string_view json_text) {
  return ParseWithName(json_text, "config.json");
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir) {
  const std::string path = JoinPath(model_dir, "config.json");
  auto text = ReadFile(path);
  if (!text.ok()) {
    if (absl::IsNotFound(text.status())) {
      return absl::NotFoundError(absl::StrCat(path, ": no such file (model config)"));
    }
    return text.status();
  }
  return ParseWithName(*text, path);
}

}  // namespace eqat
