// Qwen3 dense on a tiny random checkpoint (head_dim 32 != 64 / 4 heads):
// the forward against a direct transcription of transformers'
// Qwen3Attention (q/k RMSNorm per head after the projections, before RoPE),
// the scale invariance the q/k norms give, load errors naming the tensor,
// and the q/k norm weights through Block-AP, the block files and the writer.
// (tests/conformance/hf_forward_test.sh compares with transformers itself.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "tests/worker/model/tiny_model.h"
#include "tests/worker/test_util.h"
#include "worker/methods/activation_store.h"
#include "worker/methods/block_ap.h"
#include "worker/methods/rtn.h"
#include "worker/model/llama_model.h"
#include "worker/model/model_writer.h"
#include "worker/stage/block_files.h"

namespace eqat {
namespace {

using ::testing::HasSubstr;
using testing::ScratchDir;
using testing::TinyModel;

torch::Tensor Rms(const torch::Tensor& x, const torch::Tensor& w) {
  return w * (x * torch::rsqrt(x.pow(2).mean(-1, true) + 1e-6));
}

// transformers' Qwen3 forward, written out for one sequence of ids [T].
torch::Tensor ReferenceLogits(std::map<std::string, torch::Tensor> w, const TinyModel& m,
                              const torch::Tensor& ids) {
  const int64_t T = ids.size(0), hd = m.head_dim, nh = m.heads, nkv = m.kv_heads;
  auto inv_freq = 1.0 / torch::pow(10000.0, torch::arange(0, hd, 2, torch::kDouble) / hd);
  auto freqs = torch::outer(torch::arange(T, torch::kFloat), inv_freq.to(torch::kFloat));
  auto emb = torch::cat({freqs, freqs}, -1);
  auto cos = emb.cos(), sin = emb.sin();  // [T, hd]
  auto rope = [&](const torch::Tensor& x) {  // x [heads, T, hd]
    auto x1 = x.narrow(-1, 0, hd / 2), x2 = x.narrow(-1, hd / 2, hd / 2);
    return x * cos + torch::cat({-x2, x1}, -1) * sin;
  };
  auto h = w["model.embed_tokens.weight"].index_select(0, ids);  // [T, H]
  for (int64_t i = 0; i < m.layers; ++i) {
    const std::string p = absl::StrCat("model.layers.", i, ".");
    auto x = Rms(h, w[p + "input_layernorm.weight"]);
    auto q = torch::matmul(x, w[p + "self_attn.q_proj.weight"].t()).view({T, nh, hd});
    auto k = torch::matmul(x, w[p + "self_attn.k_proj.weight"].t()).view({T, nkv, hd});
    auto v = torch::matmul(x, w[p + "self_attn.v_proj.weight"].t()).view({T, nkv, hd});
    q = rope(Rms(q, w[p + "self_attn.q_norm.weight"]).transpose(0, 1));
    k = rope(Rms(k, w[p + "self_attn.k_norm.weight"]).transpose(0, 1));
    v = v.transpose(0, 1);
    k = k.repeat_interleave(nh / nkv, 0);
    v = v.repeat_interleave(nh / nkv, 0);
    auto s = torch::matmul(q, k.transpose(1, 2)) / std::sqrt(static_cast<double>(hd));
    s = s.masked_fill(torch::ones({T, T}, torch::kBool).triu(1), -INFINITY);
    auto a = torch::matmul(torch::softmax(s, -1), v).transpose(0, 1).reshape({T, nh * hd});
    h = h + torch::matmul(a, w[p + "self_attn.o_proj.weight"].t());
    auto n = Rms(h, w[p + "post_attention_layernorm.weight"]);
    auto g = torch::matmul(n, w[p + "mlp.gate_proj.weight"].t());
    auto u = torch::matmul(n, w[p + "mlp.up_proj.weight"].t());
    h = h + torch::matmul(torch::silu(g) * u, w[p + "mlp.down_proj.weight"].t());
  }
  const std::string head = m.tied ? "model.embed_tokens.weight" : "lm_head.weight";
  return torch::matmul(Rms(h, w["model.norm.weight"]), w[head].t());
}

torch::Tensor Ids(int64_t T, int64_t vocab) {
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < T; ++i) ids.push_back((i * 37 + 11) % vocab);
  return torch::tensor(ids, torch::kLong);
}

float MaxDiff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<float>();
}

TEST(Qwen3ModelTest, ForwardMatchesTransformersQwen3Attention) {
  for (bool tied : {false, true}) {
    SCOPED_TRACE(tied ? "tied" : "untied");
    ScratchDir dir;
    TinyModel m;
    m.tied = tied;
    auto w = testing::WriteTinyModel(dir.path(), m);
    ASSERT_FALSE(w.empty());
    auto model = LlamaModel::Load(dir.path());
    ASSERT_TRUE(model.ok()) << model.status();
    const ModelConfig& c = (*model)->config();
    EXPECT_TRUE(c.qk_norm);
    EXPECT_EQ(c.head_dim, 32);
    EXPECT_EQ((*model)->block(1).q_norm.dim(), 1);
    EXPECT_EQ((*model)->block(1).q_norm.numel(), 32);
    EXPECT_TRUE(torch::equal((*model)->block(1).k_norm, w["model.layers.1.self_attn.k_norm.weight"]));
    torch::NoGradGuard ng;
    auto ids = Ids(40, m.vocab);
    auto got = (*model)->Forward(ids.unsqueeze(0))[0];
    auto want = ReferenceLogits(w, m, ids);
    EXPECT_GT(want.abs().max().item<float>(), 1.0f);  // unit-scale logits, not ~0
    EXPECT_LT(MaxDiff(got, want), 1e-4);
  }
}

// RMSNorm per head makes attention blind to the scale of q_proj and k_proj
// (up to eps); the q/k norm weights themselves do matter.
TEST(Qwen3ModelTest, QkNormMakesAttentionScaleFree) {
  ScratchDir dir;
  ASSERT_FALSE(testing::WriteTinyModel(dir.path(), TinyModel{}).empty());
  auto model = LlamaModel::Load(dir.path());
  ASSERT_TRUE(model.ok()) << model.status();
  torch::NoGradGuard ng;
  auto ids = Ids(24, 300).unsqueeze(0);
  auto base = (*model)->Forward(ids);
  Block& b = (*model)->block(0);
  b.q_proj.weight.mul_(8);
  b.k_proj.weight.mul_(0.25);
  EXPECT_LT(MaxDiff((*model)->Forward(ids), base), 1e-4);
  b.q_norm.mul_(1.5);
  EXPECT_GT(MaxDiff((*model)->Forward(ids), base), 1e-2);
}

TEST(Qwen3ModelTest, MissingOrMisshapenQkNormIsRefusedNamingTheTensor) {
  {
    ScratchDir dir;
    TinyModel m;
    m.omit = {"model.layers.1.self_attn.k_norm.weight"};
    ASSERT_FALSE(testing::WriteTinyModel(dir.path(), m).empty());
    auto model = LlamaModel::Load(dir.path());
    ASSERT_FALSE(model.ok());
    EXPECT_THAT(model.status().message(), HasSubstr("model.layers.1.self_attn.k_norm.weight"));
  }
  {
    ScratchDir dir;
    TinyModel m;
    m.reshape = {{"model.layers.0.self_attn.q_norm.weight", {64}}};  // hidden, not head_dim
    ASSERT_FALSE(testing::WriteTinyModel(dir.path(), m).empty());
    auto model = LlamaModel::Load(dir.path());
    ASSERT_FALSE(model.ok());
    EXPECT_TRUE(absl::IsInvalidArgument(model.status())) << model.status();
    EXPECT_THAT(model.status().message(), HasSubstr("model.layers.0.self_attn.q_norm.weight"));
    EXPECT_THAT(model.status().message(), HasSubstr("[32]"));
  }
}

std::unique_ptr<ActivationStore> Store(const torch::Tensor& x) {
  auto s = ActivationStore::Create(x.size(0), {x.size(1), x.size(2)}, ActivationStoreOptions{});
  EXPECT_TRUE(s.ok()) << s.status();
  (*s)->Write(0, x);
  return std::move(*s);
}

// Block-AP trains the q/k norms as float parameters like the other norms;
// the block files and the writer keep them (as floats) and read them back.
TEST(Qwen3ModelTest, BlockApTrainsQkNormsAndTheyAreSaved) {
  ScratchDir dir;
  ASSERT_FALSE(testing::WriteTinyModel(dir.path(), TinyModel{}).empty());
  auto model = LlamaModel::Load(dir.path());
  ASSERT_TRUE(model.ok()) << model.status();
  const ModelConfig& c = (*model)->config();
  torch::Tensor x, y;
  {
    torch::NoGradGuard ng;
    torch::manual_seed(3);
    x = torch::randn({8, 16, 64});
    y = BlockForward((*model)->block(0), c, x);
  }
  auto in = Store(x), tgt = Store(y);
  Block b = (*model)->block(0).Clone();
  const Block before = b.Clone();
  BlockApOptions o;
  o.spec = {4, -1};
  o.epochs = 2;
  o.batch_size = 2;
  o.weight_lr = 1e-2;  // large enough to move the norms visibly in 8 steps
  auto r = TrainBlockAp(&b, c, *in, *tgt, o);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(b.q_norm.defined() && b.k_norm.defined());
  EXPECT_FALSE(torch::equal(b.q_norm, before.q_norm));
  EXPECT_FALSE(torch::equal(b.k_norm, before.k_norm));
  EXPECT_FALSE(b.q_norm.requires_grad());
  EXPECT_EQ(b.q_norm.scalar_type(), torch::kFloat);

  // Block file round trip (the workers' hand-off).
  ScratchDir job;
  const std::string path = BlockFilePath(job.path(), 0);
  auto sum = WriteBlockFile(path, b, 0, o.spec);
  ASSERT_TRUE(sum.ok()) << sum.status();
  auto back = ReadBlockFile(path, c, 0, o.spec, *sum);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(torch::equal(back->q_norm, b.q_norm));
  EXPECT_TRUE(torch::equal(back->k_norm, b.k_norm));

  // The written folder (fp32 checkpoint: norms stored exactly) loads back
  // to the same logits.
  for (int i = 0; i < (*model)->num_blocks(); ++i) {
    if (i == 0) {
      (*model)->block(0) = b;
    } else {
      QuantizeBlockRtn(&(*model)->block(i), o.spec);
    }
  }
  ModelConfig& mc = (*model)->mutable_config();
  mc.quantization.present = true;
  mc.quantization.quant_method = "gptq";
  mc.quantization.bits = 4;
  mc.quantization.group_size = -1;
  mc.quantization.checkpoint_format = "gptq_v2";
  ScratchDir out_parent;
  const std::string out = out_parent.path() + "/q";
  ASSERT_TRUE(WriteModelFolder(**model, dir.path(), out, WriteOptions{}).ok());
  auto reread = LlamaModel::Load(out);
  ASSERT_TRUE(reread.ok()) << reread.status();
  EXPECT_TRUE(torch::equal((*reread)->block(0).q_norm, b.q_norm));
  EXPECT_TRUE(torch::equal((*reread)->block(1).k_norm, (*model)->block(1).k_norm));
  torch::NoGradGuard ng;
  auto ids = Ids(16, 300).unsqueeze(0);
  EXPECT_LT(MaxDiff((*reread)->Forward(ids), (*model)->Forward(ids)), 1e-4);
}

}  // namespace
}  // namespace eqat
