// End to end on today's model layout: a tiny random Qwen3-style checkpoint
// (per-head q/k RMSNorm, head_dim != hidden/heads, tied embeddings, bf16)
// with the real Qwen3 tokenizer.json (tests/data/tokenizers/qwen3) goes
// through `eqat tokenize`, `eqat quantize` (EfficientQAT, Block-AP + E2E-QP)
// and `eqat eval`, with no tokenizer.model anywhere.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/json.h"
#include "common/safetensors.h"
#include "tests/client/cli_runner.h"

namespace eqat {
namespace {

using cli_test::LastLine;
using cli_test::RunEqat;
using cli_test::RunResult;
using ::testing::HasSubstr;

constexpr int64_t kHidden = 64, kHeads = 4, kKvHeads = 2, kHeadDim = 32, kInter = 128;
constexpr int64_t kLayers = 2, kVocab = 151936;

std::string Src(const std::string& rel) { return JoinPath(EQAT_SOURCE_DIR, rel); }

std::string MustRead(const std::string& path) {
  auto s = ReadFile(path);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : std::string();
}

// bf16 tensor of normal(0, stddev) values, or all `fill` when stddev == 0.
TensorToWrite Bf16(const std::string& name, std::vector<int64_t> shape, double stddev,
                   std::mt19937* rng, float fill = 1.0f) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::normal_distribution<float> normal(0.0f, static_cast<float>(stddev));
  std::string data(n * 2, '\0');
  for (int64_t i = 0; i < n; ++i) {
    uint16_t b = FloatToBFloat16(stddev == 0 ? fill : normal(*rng));
    data[2 * i] = static_cast<char>(b & 0xff);
    data[2 * i + 1] = static_cast<char>(b >> 8);
  }
  return {name, DType::kBF16, std::move(shape), std::move(data)};
}

void MakeTinyQwen3(const std::string& dir) {
  ASSERT_TRUE(MakeDirs(dir).ok());
  Json config = {{"architectures", Json::array({"Qwen3ForCausalLM"})},
                 {"model_type", "qwen3"},
                 {"hidden_size", kHidden},
                 {"intermediate_size", kInter},
                 {"num_hidden_layers", kLayers},
                 {"num_attention_heads", kHeads},
                 {"num_key_value_heads", kKvHeads},
                 {"head_dim", kHeadDim},
                 {"vocab_size", kVocab},
                 {"max_position_embeddings", 512},
                 {"rms_norm_eps", 1e-6},
                 {"rope_theta", 1000000.0},
                 {"rope_scaling", nullptr},
                 {"tie_word_embeddings", true},
                 {"attention_bias", false},
                 {"use_sliding_window", false},
                 {"hidden_act", "silu"},
                 {"bos_token_id", 151643},
                 {"eos_token_id", 151645},
                 {"torch_dtype", "bfloat16"}};
  ASSERT_TRUE(WriteFileAtomic(JoinPath(dir, "config.json"), DumpJson(config)).ok());
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
    ASSERT_TRUE(WriteFileAtomic(JoinPath(dir, f), MustRead(Src(absl::StrCat(
                                                      "tests/data/tokenizers/qwen3/", f))))
                    .ok());
  }
  std::mt19937 rng(1234);
  std::vector<TensorToWrite> t;
  t.push_back(Bf16("model.embed_tokens.weight", {kVocab, kHidden}, 0.1, &rng));
  t.push_back(Bf16("model.norm.weight", {kHidden}, 0, &rng));
  const double s = 1.0 / std::sqrt(static_cast<double>(kHidden));
  for (int i = 0; i < kLayers; ++i) {
    const std::string p = absl::StrCat("model.layers.", i, ".");
    t.push_back(Bf16(p + "input_layernorm.weight", {kHidden}, 0, &rng));
    t.push_back(Bf16(p + "post_attention_layernorm.weight", {kHidden}, 0, &rng));
    t.push_back(Bf16(p + "self_attn.q_norm.weight", {kHeadDim}, 0, &rng, 1.0f));
    t.push_back(Bf16(p + "self_attn.k_norm.weight", {kHeadDim}, 0, &rng, 1.0f));
    t.push_back(Bf16(p + "self_attn.q_proj.weight", {kHeads * kHeadDim, kHidden}, s, &rng));
    t.push_back(Bf16(p + "self_attn.k_proj.weight", {kKvHeads * kHeadDim, kHidden}, s, &rng));
    t.push_back(Bf16(p + "self_attn.v_proj.weight", {kKvHeads * kHeadDim, kHidden}, s, &rng));
    t.push_back(Bf16(p + "self_attn.o_proj.weight", {kHidden, kHeads * kHeadDim}, s, &rng));
    t.push_back(Bf16(p + "mlp.gate_proj.weight", {kInter, kHidden}, s, &rng));
    t.push_back(Bf16(p + "mlp.up_proj.weight", {kInter, kHidden}, s, &rng));
    t.push_back(Bf16(p + "mlp.down_proj.weight", {kHidden, kInter}, 1.0 / std::sqrt(kInter), &rng));
  }
  ASSERT_TRUE(WriteSafetensors(JoinPath(dir, "model.safetensors"), t, {{"format", "pt"}}).ok());
}

double JsonNumber(const RunResult& r, const char* key) {
  auto j = ParseJson(LastLine(r.output));
  if (!j.ok() || !j->is_object() || !j->contains(key)) return -1;
  return (*j)[key].get<double>();
}

TEST(Qwen3EndToEndTest, TokenizeQuantizeEvalWithTokenizerJson) {
  const std::string dir = JoinPath(::testing::TempDir(), absl::StrCat("eqat_qwen3_", getpid()));
  ASSERT_TRUE(RemoveAll(dir).ok());
  const std::string fp = JoinPath(dir, "fp");
  MakeTinyQwen3(fp);
  ASSERT_FALSE(PathExists(JoinPath(fp, "tokenizer.model")));
  const std::string text = JoinPath(dir, "eval.txt");
  ASSERT_TRUE(WriteFileAtomic(text, MustRead(Src("data/wikitext2_test.raw")).substr(0, 20000)).ok());

  RunResult tok = RunEqat({"tokenize", "--model", fp, "--text", text, "--json"});
  ASSERT_EQ(tok.exit_code, 0) << tok.output;
  const double n_tokens = JsonNumber(tok, "n");
  ASSERT_GT(n_tokens, 3000);  // ~4 characters per token on English text

  const std::string q = JoinPath(dir, "q");
  RunResult quant = RunEqat({"quantize", "--model", fp, "--out", q, "--method", "efficientqat",
                             "--bits", "4", "--group", "32", "--calib", Src("data/calib_en.txt"),
                             "--samples", "16", "--seqlen", "64", "--epochs", "1",
                             "--e2e-samples", "8", "--e2e-seqlen", "64", "--e2e-epochs", "1", "--threads", "2", "--json"});
  ASSERT_EQ(quant.signal, 0) << quant.output;
  ASSERT_EQ(quant.exit_code, 0) << quant.output;
  auto cfg = ParseJson(MustRead(JoinPath(q, "config.json")));
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ((*cfg)["model_type"], "qwen3");
  EXPECT_EQ((*cfg)["quantization_config"]["bits"], 4);
  EXPECT_TRUE(PathExists(JoinPath(q, "tokenizer.json")));
  auto st = SafetensorsFile::Open(JoinPath(q, "model.safetensors"));
  ASSERT_TRUE(st.ok()) << st.status();
  bool has_q_norm = false, has_qweight = false;
  for (const TensorInfo& t : (*st)->tensors()) {
    has_q_norm |= t.name == "model.layers.1.self_attn.q_norm.weight";
    has_qweight |= t.name == "model.layers.1.self_attn.q_proj.qweight";
  }
  EXPECT_TRUE(has_q_norm);
  EXPECT_TRUE(has_qweight);

  auto eval = [&](const std::string& model) {
    RunResult e = RunEqat({"eval", "--model", model, "--text", text, "--seqlen", "128",
                           "--threads", "2", "--json"});
    EXPECT_EQ(e.exit_code, 0) << e.output;
    EXPECT_EQ(JsonNumber(e, "tokens"), n_tokens) << "eval must tokenize as eqat tokenize does";
    return JsonNumber(e, "ppl");
  };
  const double fp_ppl = eval(fp), q_ppl = eval(q);
  ASSERT_TRUE(std::isfinite(fp_ppl) && fp_ppl > 1) << fp_ppl;
  // A random model's fp perplexity is of the order of its vocabulary; 4-bit
  // groups of 32 keep it within a few percent.
  EXPECT_LT(std::abs(q_ppl / fp_ppl - 1), 0.05) << "fp " << fp_ppl << " W4g32 " << q_ppl;
  if (!HasFailure()) RemoveAll(dir).IgnoreError();  // kept for a look when it fails
}

}  // namespace
}  // namespace eqat
