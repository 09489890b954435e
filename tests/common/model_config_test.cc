#include "common/model_config.h"

#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace eqat {
namespace {

using ::testing::HasSubstr;

const std::string kSrc = EQAT_SOURCE_DIR;

// A minimal valid Llama config; `extra` is spliced in as more fields.
std::string Llama(const std::string& extra = "", const std::string& model_type = "llama",
                  const std::string& arch = "LlamaForCausalLM") {
  return absl::StrCat(R"({"architectures": [")", arch, R"("], "model_type": ")", model_type,
                      R"(", "hidden_size": 64, "intermediate_size": 172,
      "num_hidden_layers": 2, "num_attention_heads": 8, "vocab_size": 512)",
                      extra.empty() ? "" : ", ", extra, "}");
}

TEST(ModelConfigTest, LoadsStories260K) {
  auto c = LoadModelConfig(kSrc + "/models/stories260K");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model_type, "llama");
  EXPECT_EQ(c->architecture, "LlamaForCausalLM");
  EXPECT_EQ(c->hidden_size, 64);
  EXPECT_EQ(c->intermediate_size, 172);
  EXPECT_EQ(c->num_hidden_layers, 5);
  EXPECT_EQ(c->num_attention_heads, 8);
  EXPECT_EQ(c->num_key_value_heads, 4);
  EXPECT_EQ(c->head_dim, 8);
  EXPECT_EQ(c->vocab_size, 512);
  EXPECT_EQ(c->max_position_embeddings, 512);
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c->rope_theta, 10000.0);
  EXPECT_EQ(c->rope_scaling.type, "");
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_FALSE(c->attention_bias);
  EXPECT_FALSE(c->o_proj_bias);
  EXPECT_EQ(c->sliding_window, 0);
  EXPECT_EQ(c->bos_token_id, 1);
  EXPECT_EQ(c->eos_token_id, 2);
  EXPECT_FALSE(c->quantization.present);
  ASSERT_TRUE(c->raw.is_object());
  ASSERT_TRUE(c->raw.contains("torch_dtype"));
  EXPECT_EQ(c->raw.value("torch_dtype", ""), "float32");
}

TEST(ModelConfigTest, LoadsEqatRef7mWithDerivedHeadDim) {
  auto c = LoadModelConfig(kSrc + "/models/eqat-ref-7m");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->hidden_size, 256);
  EXPECT_EQ(c->intermediate_size, 768);
  EXPECT_EQ(c->num_hidden_layers, 6);
  EXPECT_EQ(c->num_key_value_heads, 4);
  EXPECT_EQ(c->head_dim, 32);  // 256 / 8, not in the file
  EXPECT_EQ(c->vocab_size, 4096);
  EXPECT_EQ(c->max_position_embeddings, 2048);
  EXPECT_FALSE(c->tie_word_embeddings);
}

TEST(ModelConfigTest, MissingDirectoryIsNotFoundNamingPath) {
  auto c = LoadModelConfig(kSrc + "/models/no-such-model");
  EXPECT_TRUE(absl::IsNotFound(c.status())) << c.status();
  EXPECT_THAT(c.status().message(), HasSubstr("no-such-model/config.json"));
}

TEST(ModelConfigTest, Defaults) {
  auto c = ParseModelConfig(R"({"model_type": "llama", "hidden_size": 64,
      "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 4,
      "vocab_size": 100})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, "LlamaForCausalLM");
  EXPECT_EQ(c->num_key_value_heads, 4);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_EQ(c->max_position_embeddings, 2048);
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c->rope_theta, 10000.0);
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_EQ(c->bos_token_id, 1);
  EXPECT_EQ(c->eos_token_id, 2);
}

TEST(ModelConfigTest, LlamaAttentionBiasCoversOProj) {
  auto c = ParseModelConfig(Llama(R"("attention_bias": true)"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->attention_bias);
  EXPECT_TRUE(c->o_proj_bias);
}

TEST(ModelConfigTest, Qwen2HasQkvBiasOnly) {
  auto c = ParseModelConfig(R"({"architectures": ["Qwen2ForCausalLM"],
      "model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864,
      "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
      "vocab_size": 151936, "max_position_embeddings": 32768, "rms_norm_eps": 1e-06,
      "rope_theta": 1000000.0, "hidden_act": "silu", "tie_word_embeddings": true,
      "sliding_window": 32768, "use_sliding_window": false, "max_window_layers": 21,
      "bos_token_id": 151643, "eos_token_id": 151643, "torch_dtype": "bfloat16"})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model_type, "qwen2");
  EXPECT_EQ(c->architecture, "Qwen2ForCausalLM");
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_EQ(c->num_key_value_heads, 2);
  EXPECT_TRUE(c->attention_bias);
  EXPECT_FALSE(c->o_proj_bias);
  EXPECT_EQ(c->sliding_window, 0);  // use_sliding_window false
  EXPECT_DOUBLE_EQ(c->rope_theta, 1e6);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_EQ(c->bos_token_id, 151643);
  EXPECT_EQ(c->eos_token_id, 151643);
}

TEST(ModelConfigTest, Qwen2SlidingWindowOnlyWhenEnabled) {
  auto c = ParseModelConfig(Llama(R"("sliding_window": 4096, "use_sliding_window": true)",
                                  "qwen2", "Qwen2ForCausalLM"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->sliding_window, 4096);
  // attention_bias in a qwen2 file does not turn the q/k/v biases off.
  c = ParseModelConfig(Llama(R"("attention_bias": false)", "qwen2", "Qwen2ForCausalLM"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->attention_bias);
  EXPECT_FALSE(c->o_proj_bias);
}

TEST(ModelConfigTest, MistralSlidingWindow) {
  auto c = ParseModelConfig(Llama(R"("sliding_window": 4096, "eos_token_id": [7, 8])",
                                  "mistral", "MistralForCausalLM"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model_type, "mistral");
  EXPECT_EQ(c->sliding_window, 4096);
  EXPECT_EQ(c->eos_token_id, 7);
  EXPECT_FALSE(c->attention_bias);
  c = ParseModelConfig(Llama(R"("sliding_window": null)", "mistral", "MistralForCausalLM"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->sliding_window, 0);
  // Llama ignores sliding_window.
  c = ParseModelConfig(Llama(R"("sliding_window": 4096)"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->sliding_window, 0);
}

TEST(ModelConfigTest, Llama3RopeScaling) {
  auto c = ParseModelConfig(Llama(R"("rope_theta": 500000.0, "rope_scaling": {
      "factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
      "original_max_position_embeddings": 8192, "rope_type": "llama3"})"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling.type, "llama3");
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 32.0);
  EXPECT_DOUBLE_EQ(c->rope_scaling.low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(c->rope_scaling.high_freq_factor, 4.0);
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_DOUBLE_EQ(c->rope_theta, 500000.0);
}

TEST(ModelConfigTest, LinearAndDefaultRopeScaling) {
  auto c = ParseModelConfig(Llama(R"("rope_scaling": {"type": "linear", "factor": 2.0})"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling.type, "linear");
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 2.0);
  c = ParseModelConfig(Llama(R"("rope_scaling": {"rope_type": "default"})"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling.type, "");
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 1.0);
}

// transformers 5 writes rope_theta and the scaling into rope_parameters.
TEST(ModelConfigTest, RopeParametersOfTransformers5) {
  auto c = ParseModelConfig(Llama(R"("rope_parameters": {"factor": 8.0,
      "high_freq_factor": 4.0, "low_freq_factor": 1.0,
      "original_max_position_embeddings": 8192, "rope_theta": 500000.0, "rope_type": "llama3"})"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling.type, "llama3");
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 8.0);
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_DOUBLE_EQ(c->rope_theta, 500000.0);
  c = ParseModelConfig(Llama(R"("rope_parameters": {"rope_theta": 1000000.0,
      "rope_type": "default"}, "rope_theta": 5.0)"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling.type, "");
  EXPECT_DOUBLE_EQ(c->rope_theta, 1e6);
}

// Qwen3-0.6B's config.json: head_dim 128 with hidden 1024 / 16 heads.
TEST(ModelConfigTest, Qwen3HasQkNormAndExplicitHeadDim) {
  auto c = ParseModelConfig(R"({"architectures": ["Qwen3ForCausalLM"],
      "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 151643,
      "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 1024,
      "initializer_range": 0.02, "intermediate_size": 3072, "max_position_embeddings": 40960,
      "max_window_layers": 28, "model_type": "qwen3", "num_attention_heads": 16,
      "num_hidden_layers": 28, "num_key_value_heads": 8, "rms_norm_eps": 1e-06,
      "rope_scaling": null, "rope_theta": 1000000, "sliding_window": null,
      "tie_word_embeddings": true, "torch_dtype": "bfloat16", "use_cache": true,
      "use_sliding_window": false, "vocab_size": 151936})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model_type, "qwen3");
  EXPECT_EQ(c->architecture, "Qwen3ForCausalLM");
  EXPECT_TRUE(c->qk_norm);
  EXPECT_EQ(c->head_dim, 128);
  EXPECT_EQ(c->num_key_value_heads, 8);
  EXPECT_FALSE(c->attention_bias);
  EXPECT_FALSE(c->o_proj_bias);
  EXPECT_EQ(c->sliding_window, 0);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_DOUBLE_EQ(c->rope_theta, 1e6);
  std::vector<LinearDims> dims = BlockLinearDims(*c);
  EXPECT_EQ(dims[0].out_features, 16 * 128);  // q_proj
  EXPECT_EQ(dims[1].out_features, 8 * 128);   // k_proj
  EXPECT_EQ(dims[3].in_features, 16 * 128);   // o_proj
  EXPECT_EQ(dims[3].out_features, 1024);
  // Without head_dim, Qwen3Config's default 128 (not hidden / heads).
  c = ParseModelConfig(Llama("", "qwen3", "Qwen3ForCausalLM"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->head_dim, 128);
  // attention_bias (transformers' Qwen3 semantics: q, k, v and o); no qk
  // norm for the other families.
  c = ParseModelConfig(Llama(R"("attention_bias": true, "head_dim": 16,
      "layer_types": ["full_attention", "full_attention"])", "qwen3", "Qwen3ForCausalLM"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->attention_bias);
  EXPECT_TRUE(c->o_proj_bias);
  for (auto [type, arch] : {std::pair{"llama", "LlamaForCausalLM"},
                            std::pair{"mistral", "MistralForCausalLM"},
                            std::pair{"qwen2", "Qwen2ForCausalLM"}}) {
    c = ParseModelConfig(Llama("", type, arch));
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_FALSE(c->qk_norm) << type;
  }
}

TEST(ModelConfigTest, QuantizationConfig) {
  auto c = ParseModelConfig(Llama(R"("quantization_config": {"quant_method": "gptq",
      "bits": 2, "group_size": 64, "desc_act": false, "sym": false,
      "checkpoint_format": "gptq_v2"})"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->quantization.present);
  EXPECT_EQ(c->quantization.quant_method, "gptq");
  EXPECT_EQ(c->quantization.bits, 2);
  EXPECT_EQ(c->quantization.group_size, 64);
  EXPECT_FALSE(c->quantization.sym);
  EXPECT_FALSE(c->quantization.desc_act);
  EXPECT_EQ(c->quantization.checkpoint_format, "gptq_v2");

  c = ParseModelConfig(Llama(R"("quantization_config": {"quant_method": "gptq",
      "bits": 4, "group_size": -1})"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->quantization.group_size, -1);
  EXPECT_EQ(c->quantization.checkpoint_format, "gptq");
}

struct Refused {
  const char* name;
  std::string json;
  std::vector<std::string> must_mention;
};

TEST(ModelConfigTest, AwqAndCompressedTensorsConfigs) {
  auto awq = ParseModelConfig(Llama(R"("torch_dtype": "bfloat16", "quantization_config":
      {"quant_method": "awq", "bits": 4, "group_size": 64, "zero_point": true, "version": "gemm"})"));
  ASSERT_TRUE(awq.ok()) << awq.status();
  EXPECT_EQ(awq->quantization.checkpoint_format, "awq");
  EXPECT_EQ(awq->quantization.bits, 4);
  EXPECT_EQ(awq->quantization.group_size, 64);
  EXPECT_EQ(awq->torch_dtype, "bfloat16");
  auto ct = ParseModelConfig(Llama(R"("dtype": "float16", "quantization_config":
      {"quant_method": "compressed-tensors", "format": "pack-quantized", "config_groups":
      {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 3, "type": "int",
      "symmetric": false, "strategy": "channel", "group_size": null}}}})"));
  ASSERT_TRUE(ct.ok()) << ct.status();
  EXPECT_EQ(ct->quantization.checkpoint_format, "pack-quantized");
  EXPECT_EQ(ct->quantization.bits, 3);
  EXPECT_EQ(ct->quantization.group_size, -1);
  EXPECT_EQ(ct->torch_dtype, "float16");
}

TEST(ModelConfigTest, RefusesUnsupportedConfigsNamingTheField) {
  const std::vector<Refused> cases = {
      {"gpt2 model_type",
       R"({"model_type": "gpt2", "hidden_size": 64, "intermediate_size": 128,
           "num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 100})",
       {"model_type", "'gpt2'"}},
      {"unsupported architecture", Llama("", "llama", "GPT2LMHeadModel"),
       {"architectures", "GPT2LMHeadModel"}},
      {"architecture vs model_type", Llama("", "qwen2", "LlamaForCausalLM"),
       {"architectures", "LlamaForCausalLM", "qwen2"}},
      {"gelu act", Llama(R"("hidden_act": "gelu")"), {"hidden_act", "'gelu'"}},
      {"gelu hidden_activation", Llama(R"("hidden_activation": "gelu_pytorch_tanh")"),
       {"hidden_activation", "gelu_pytorch_tanh"}},
      {"yarn rope", Llama(R"("rope_scaling": {"rope_type": "yarn", "factor": 4.0})"),
       {"rope_scaling", "yarn"}},
      {"dynamic rope", Llama(R"("rope_scaling": {"type": "dynamic", "factor": 2.0})"),
       {"rope_scaling", "dynamic"}},
      {"llama3 rope without low_freq_factor",
       Llama(R"("rope_scaling": {"rope_type": "llama3", "factor": 8.0,
           "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})"),
       {"rope_scaling.low_freq_factor"}},
      {"kv heads do not divide", Llama(R"("num_key_value_heads": 3)"),
       {"num_key_value_heads", "3"}},
      {"missing hidden_size",
       R"({"model_type": "llama", "intermediate_size": 128, "num_hidden_layers": 1,
           "num_attention_heads": 4, "vocab_size": 100})",
       {"hidden_size"}},
      {"negative vocab",
       absl::StrReplaceAll(Llama(), {{"\"vocab_size\": 512", "\"vocab_size\": -5"}}),
       {"vocab_size", "-5"}},
      {"string layers",
       absl::StrReplaceAll(Llama(), {{"\"num_hidden_layers\": 2", "\"num_hidden_layers\": \"2\""}}),
       {"num_hidden_layers"}},
      {"odd head_dim", Llama(R"("head_dim": 7)"), {"head_dim", "7"}},
      {"indivisible hidden_size",
       absl::StrReplaceAll(Llama(), {{"\"hidden_size\": 64", "\"hidden_size\": 60"}}),
       {"hidden_size", "60"}},
      {"zero rms_norm_eps", Llama(R"("rms_norm_eps": 0)"), {"rms_norm_eps"}},
      {"negative rope_theta", Llama(R"("rope_theta": -1.0)"), {"rope_theta"}},
      {"mlp_bias", Llama(R"("mlp_bias": true)"), {"mlp_bias"}},
      {"quant bits 5",
       Llama(R"("quantization_config": {"quant_method": "gptq", "bits": 5, "group_size": 128})"),
       {"quantization_config.bits", "5"}},
      {"quant group 96",
       Llama(R"("quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 96})"),
       {"quantization_config.group_size", "96"}},
      {"desc_act",
       Llama(R"("quantization_config": {"quant_method": "gptq", "bits": 4,
           "group_size": 128, "desc_act": true})"),
       {"quantization_config.desc_act"}},
      {"unknown method",
       Llama(R"("quantization_config": {"quant_method": "exl2", "bits": 4, "group_size": 128})"),
       {"quantization_config.quant_method", "exl2"}},
      {"awq 3-bit",
       Llama(R"("quantization_config": {"quant_method": "awq", "bits": 3, "group_size": 128})"),
       {"quantization_config.bits", "3"}},
      {"awq gemv",
       Llama(R"("quantization_config": {"quant_method": "awq", "bits": 4, "group_size": 128,
           "version": "gemv_fast"})"),
       {"quantization_config.version", "gemv_fast"}},
      {"compressed-tensors symmetric",
       Llama(R"("quantization_config": {"quant_method": "compressed-tensors",
           "format": "pack-quantized", "config_groups": {"group_0": {"targets": ["Linear"],
           "weights": {"num_bits": 4, "type": "int", "symmetric": true, "strategy": "group",
           "group_size": 128}}}})"),
       {"quantization_config.config_groups.group_0.weights.symmetric"}},
      {"compressed-tensors fp8",
       Llama(R"("quantization_config": {"quant_method": "compressed-tensors",
           "format": "float-quantized", "config_groups": {}})"),
       {"quantization_config.format", "float-quantized"}},
      {"bad checkpoint_format",
       Llama(R"("quantization_config": {"quant_method": "gptq", "bits": 4,
           "group_size": 128, "checkpoint_format": "marlin"})"),
       {"quantization_config.checkpoint_format", "marlin"}},
      {"tie not bool", Llama(R"("tie_word_embeddings": "yes")"), {"tie_word_embeddings"}},
      {"qwen3 sliding window",
       Llama(R"("use_sliding_window": true, "sliding_window": 4096)", "qwen3", "Qwen3ForCausalLM"),
       {"use_sliding_window", "qwen3"}},
      {"qwen3 sliding layer",
       Llama(R"("layer_types": ["full_attention", "sliding_attention"])", "qwen3",
             "Qwen3ForCausalLM"),
       {"layer_types", "full_attention"}},
      {"qwen3 moe", Llama("", "qwen3_moe", "Qwen3MoeForCausalLM"),
       {"architectures", "Qwen3MoeForCausalLM", "Qwen3ForCausalLM"}},
      {"qwen3_moe model_type", Llama("", "qwen3_moe", "LlamaForCausalLM"), {"model_type", "'qwen3_moe'", "qwen3)"}},
      {"rope_parameters yarn",
       Llama(R"("rope_parameters": {"rope_type": "yarn", "factor": 4.0, "rope_theta": 1e6})"),
       {"rope_parameters.rope_type", "yarn"}},
      {"rope_parameters bad theta",
       Llama(R"("rope_parameters": {"rope_type": "default", "rope_theta": 0})"),
       {"rope_parameters.rope_theta"}},
      {"not json", "{\"model_type\": ", {"config.json", "invalid JSON"}},
      {"not an object", "[1, 2]", {"config.json"}},
  };
  for (const Refused& rc : cases) {
    SCOPED_TRACE(rc.name);
    auto c = ParseModelConfig(rc.json);
    ASSERT_FALSE(c.ok()) << rc.json;
    EXPECT_TRUE(absl::IsInvalidArgument(c.status())) << c.status();
    EXPECT_THAT(c.status().message(), HasSubstr("config.json"));
    for (const std::string& m : rc.must_mention) {
      EXPECT_THAT(c.status().message(), HasSubstr(m));
    }
  }
}

TEST(ModelConfigTest, Gpt2MessageIsReadable) {
  auto c = ParseModelConfig(R"({"model_type": "gpt2"})");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "config.json: model_type 'gpt2' is not supported (llama, mistral, qwen2, qwen3)");
}

}  // namespace
}  // namespace eqat
