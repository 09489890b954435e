// The Llama forward against real checkpoints: greedy text of stories260K
// (expected text from the model's README), RoPE/attention invariants.
#include "worker/model/llama_model.h"

#include <gtest/gtest.h>

#include "common/tokenizer.h"
#include "tests/worker/test_util.h"
#include "worker/model/evaluate.h"

namespace eqat {
namespace {

TEST(LlamaModelTest, StoriesGreedyTextMatchesReadme) {
  auto model = LlamaModel::Load(testing::StoriesDir());
  ASSERT_TRUE(model.ok()) << model.status();
  auto tok = Tokenizer::Load(testing::StoriesDir() + "/tokenizer.model");
  ASSERT_TRUE(tok.ok()) << tok.status();
  auto ids = (*tok)->Encode("Once upon a time");
  ASSERT_TRUE(ids.ok());
  std::vector<int32_t> prompt = {1};
  prompt.insert(prompt.end(), ids->begin(), ids->end());
  EXPECT_EQ(prompt, (std::vector<int32_t>{1, 403, 407, 261, 378}));
  auto out = GreedyGenerate(**model, prompt, 60);
  EXPECT_EQ((*tok)->Decode(out),
            "Once upon a time, there was a little girl named Lily. She loved to play outside in "
            "the park. One day, she saw a big, red ball. She wanted to play with it, but it was "
            "too high.\nLily");
}

TEST(LlamaModelTest, CausalityAndBatchIndependence) {
  auto model = LlamaModel::Load(testing::StoriesDir());
  ASSERT_TRUE(model.ok());
  torch::manual_seed(0);
  auto ids = torch::randint(3, 512, {2, 24}, torch::kLong);
  torch::NoGradGuard ng;
  auto full = (*model)->Forward(ids);
  // Prefix logits do not depend on later tokens.
  auto prefix = (*model)->Forward(ids.narrow(1, 0, 10));
  EXPECT_LT((full.narrow(1, 0, 10) - prefix).abs().max().item<float>(), 1e-4);
  // A window's logits do not depend on the other windows in the batch.
  auto single = (*model)->Forward(ids.narrow(0, 1, 1));
  EXPECT_LT((full.narrow(0, 1, 1) - single).abs().max().item<float>(), 1e-4);
}

TEST(LlamaModelTest, RopeLlama3ScalingKeepsHighFrequencies) {
  ModelConfig c;
  c.head_dim = 64;
  c.rope_theta = 500000;
  auto [cos0, sin0] = RopeTables(c, 16);
  c.rope_scaling.type = "llama3";
  c.rope_scaling.factor = 8;
  c.rope_scaling.low_freq_factor = 1;
  c.rope_scaling.high_freq_factor = 4;
  c.rope_scaling.original_max_position_embeddings = 8192;
  auto [cos1, sin1] = RopeTables(c, 16);
  // Highest frequency (index 0) is unchanged; the lowest is divided by 8.
  EXPECT_NEAR(sin1[5][0].item<float>(), sin0[5][0].item<float>(), 1e-6);
  auto inv_low = 1.0 / std::pow(500000.0, 62.0 / 64.0);
  EXPECT_NEAR(sin1[5][31].item<float>(), std::sin(5 * inv_low / 8), 1e-6);
  EXPECT_NEAR(sin0[5][31].item<float>(), std::sin(5 * inv_low), 1e-6);
}

TEST(LlamaModelTest, PerplexityOfTinyWindowsMatchesManualCrossEntropy) {
  auto model = LlamaModel::Load(testing::StoriesDir());
  ASSERT_TRUE(model.ok());
  std::vector<int32_t> toks;
  for (int i = 0; i < 70; ++i) toks.push_back(3 + (i * 37) % 500);
  PerplexityOptions o;
  o.seqlen = 32;
  auto r = EvaluatePerplexity(**model, toks, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->windows, 2);  // floor(70 / 32)
  EXPECT_EQ(r->tokens, 70);
  torch::NoGradGuard ng;
  double sum = 0;
  for (int w = 0; w < 2; ++w) {
    std::vector<int64_t> ids(toks.begin() + w * 32, toks.begin() + (w + 1) * 32);
    auto logits = (*model)->Forward(torch::tensor(ids).unsqueeze(0))[0];
    auto lp = torch::log_softmax(logits, -1);
    double nll = 0;
    for (int t = 0; t < 31; ++t) nll -= lp[t][ids[t + 1]].item<double>();
    sum += nll / 31;
  }
  EXPECT_NEAR(r->ppl, std::exp(sum / 2), 1e-3 * r->ppl);
}

}  // namespace
}  // namespace eqat
