// E2E-QP on an RTN-quantized stories260K: only the step sizes move, the
// training loss goes down, the masked LM loss counts exactly the targets it
// should (pretraining windows and Q-PEFT instruction examples), and
// activation checkpointing does not change the training trajectory.
#include "worker/methods/e2e_qp.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "common/text_data.h"
#include "common/tokenizer.h"
#include "tests/worker/test_util.h"
#include "worker/methods/blockwise.h"
#include "tests/worker/methods/rtn_model.h"
#include "worker/model/llama_model.h"

namespace eqat {
namespace {

using testing::LoadRtnStories;

std::unique_ptr<Tokenizer> StoriesTokenizer() {
  auto tok = Tokenizer::Load(testing::StoriesDir() + "/tokenizer.model");
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? std::move(*tok) : nullptr;
}

// data/calib_en.txt tokenized once per process (it takes ~2 s).
const std::vector<int32_t>& CalibTokens() {
  static const std::vector<int32_t>* tokens = [] {
    auto* out = new std::vector<int32_t>();
    auto tok = StoriesTokenizer();
    if (tok == nullptr) return out;
    auto t = LoadTokens(testing::SourcePath("data/calib_en.txt"), *tok, 512);
    EXPECT_TRUE(t.ok()) << t.status();
    if (t.ok()) *out = std::move(*t);
    return out;
  }();
  return *tokens;
}

// `n` windows of `len` tokens from data/calib_en.txt as pretraining examples.
std::vector<TrainExample> CalibExamples(int64_t n, int64_t len, uint64_t seed) {
  const auto& tokens = CalibTokens();
  if (tokens.empty()) return {};
  auto windows = SampleWindows(tokens, n, len, seed);
  EXPECT_TRUE(windows.ok()) << windows.status();
  if (!windows.ok()) return {};
  std::vector<TrainExample> out;
  for (auto& w : *windows) out.push_back(TrainExample{w, {}});
  return out;
}

torch::Tensor Ids(const std::vector<int32_t>& ids) {
  std::vector<int64_t> v(ids.begin(), ids.end());
  return torch::tensor(v, torch::kLong).view({1, static_cast<int64_t>(v.size())});
}

// Mean next-token cross-entropy of `model` over all windows (no grad).
double EvalLoss(const LlamaModel& model, const std::vector<TrainExample>& data) {
  torch::NoGradGuard ng;
  double sum = 0;
  for (const auto& e : data) {
    auto ids = Ids(e.ids);
    auto mask = torch::ones_like(ids);
    sum += MaskedLmLoss(model.Forward(ids), ids, mask).item<double>();
  }
  return sum / static_cast<double>(data.size());
}

// Sum of -log p(ids[t] | ids[<t]) over t with mask[t] = 1, and their count,
// computed directly from the model's full forward.
std::pair<double, int64_t> MaskedNllSum(const LlamaModel& model, const std::vector<int32_t>& ids,
                                        const std::vector<uint8_t>& mask) {
  torch::NoGradGuard ng;
  auto logp = torch::log_softmax(model.Forward(Ids(ids)).to(torch::kDouble), -1)[0];
  double sum = 0;
  int64_t count = 0;
  for (size_t t = 1; t < ids.size(); ++t) {
    if (!mask[t]) continue;
    sum -= logp[t - 1][ids[t]].item<double>();
    ++count;
  }
  return {sum, count};
}

struct Snapshot {
  std::vector<torch::Tensor> qweight, qzeros, scales, norms;
  torch::Tensor embed, final_norm;
};

Snapshot Take(const LlamaModel& m) {
  Snapshot s;
  for (int i = 0; i < m.num_blocks(); ++i) {
    for (const auto& [name, lin] : m.block(i).Linears()) {
      s.qweight.push_back(lin->packed.qweight.clone());
      s.qzeros.push_back(lin->packed.qzeros.clone());
      s.scales.push_back(lin->packed.scales.detach().clone());
    }
    s.norms.push_back(m.block(i).input_norm.clone());
    s.norms.push_back(m.block(i).post_norm.clone());
  }
  s.embed = m.embed_tokens().clone();
  s.final_norm = m.final_norm().clone();
  return s;
}

TEST(E2eQpTest, TrainsOnlyTheStepSizesAndLowersTheLoss) {
  auto model = LoadRtnStories();
  ASSERT_NE(model, nullptr);
  auto data = CalibExamples(8, 32, /*seed=*/5);
  ASSERT_EQ(data.size(), 8u);
  Snapshot before = Take(*model);
  double eval_before = EvalLoss(*model, data);

  E2eOptions o;
  o.epochs = 3;       // 3 x 4 steps of 2 windows
  o.batch_size = 2;
  o.grad_accum = 1;
  o.lr = 1e-3;
  o.seed = 3;
  std::vector<double> losses;
  o.on_step = [&](int64_t step, int64_t total, double loss) {
    EXPECT_EQ(total, 12);
    EXPECT_EQ(step, static_cast<int64_t>(losses.size()) + 1);
    losses.push_back(loss);
  };
  auto r = TrainE2eQp(model.get(), data, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->steps, 12);
  ASSERT_EQ(losses.size(), 12u);
  EXPECT_EQ(r->first_loss, losses.front());
  EXPECT_EQ(r->last_loss, losses.back());

  Snapshot after = Take(*model);
  bool any_scale_changed = false;
  for (size_t i = 0; i < before.qweight.size(); ++i) {
    EXPECT_TRUE(torch::equal(before.qweight[i], after.qweight[i])) << "linear " << i;
    EXPECT_TRUE(torch::equal(before.qzeros[i], after.qzeros[i])) << "linear " << i;
    EXPECT_EQ(after.scales[i].scalar_type(), torch::kHalf) << "linear " << i;
    EXPECT_EQ(after.scales[i].sizes(), before.scales[i].sizes()) << "linear " << i;
    any_scale_changed |= !torch::equal(before.scales[i], after.scales[i]);
  }
  EXPECT_TRUE(any_scale_changed);
  for (int i = 0; i < model->num_blocks(); ++i) {
    for (const auto& [name, lin] : model->block(i).Linears()) {
      EXPECT_EQ(lin->mode, Linear::Mode::kPacked) << name;
      EXPECT_FALSE(lin->packed.scales.requires_grad()) << name;
    }
  }
  for (size_t i = 0; i < before.norms.size(); ++i) {
    EXPECT_TRUE(torch::equal(before.norms[i], after.norms[i])) << "norm " << i;
  }
  EXPECT_TRUE(torch::equal(before.embed, after.embed));
  EXPECT_TRUE(torch::equal(before.final_norm, after.final_norm));

  // The loss on the training windows (fixed, full batch) goes down.
  double eval_after = EvalLoss(*model, data);
  std::printf("e2e: eval loss %.5f -> %.5f; step loss %.5f -> %.5f\n", eval_before, eval_after,
              r->first_loss, r->last_loss);
  EXPECT_LT(eval_after, eval_before - 0.01);
}

TEST(E2eQpTest, RequiresAPackedModelAndValidData) {
  auto fp = LlamaModel::Load(testing::StoriesDir());
  ASSERT_TRUE(fp.ok());
  auto data = CalibExamples(2, 16, 1);
  auto r = TrainE2eQp(fp->get(), data, E2eOptions{});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();

  auto model = LoadRtnStories();
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(TrainE2eQp(model.get(), {}, E2eOptions{}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TrainE2eQp(model.get(), {TrainExample{{5}, {}}}, E2eOptions{}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MaskedLmLossTest, IgnoresMaskedTargetsAndMatchesHandComputedCrossEntropy) {
  torch::manual_seed(17);
  const int64_t B = 2, T = 6, V = 11;
  auto logits = torch::randn({B, T, V});
  auto ids = torch::randint(0, V, {B, T}, torch::kLong);
  // Row 0: prompt = positions 0..2, targets 3..5. Row 1: targets 1, 4.
  auto mask = torch::tensor({0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 1, 0}, torch::kLong).view({B, T});

  auto loss = MaskedLmLoss(logits, ids, mask).item<double>();
  auto logp = torch::log_softmax(logits.to(torch::kDouble), -1);
  auto ia = ids.accessor<int64_t, 2>();
  auto ma = mask.accessor<int64_t, 2>();
  double sum = 0;
  int count = 0;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 1; t < T; ++t) {
      if (ma[b][t] == 0) continue;
      sum -= logp[b][t - 1][ia[b][t]].item<double>();
      ++count;
    }
  }
  ASSERT_EQ(count, 5);
  EXPECT_NEAR(loss, sum / count, 1e-5 * std::abs(sum / count));

  // Logits that predict only masked targets (row 0: t = 0, 1; row 1: t = 1,
  // 2, 4) and the last position (predicts nothing) do not matter, nor does
  // the mask of token 0 (never a target).
  auto changed = logits.clone();
  for (auto [b, t] : std::vector<std::pair<int, int>>{{0, 0}, {0, 1}, {0, 5}, {1, 1}, {1, 2}, {1, 4}, {1, 5}}) {
    changed[b][t] = torch::randn({V}) * 10;
  }
  auto mask2 = mask.clone();
  mask2[0][0] = 1;
  EXPECT_EQ(MaskedLmLoss(changed, ids, mask2).item<double>(), loss);
  // Changing logits that do predict a target does change it.
  changed[0][2] = changed[0][2] + 5 * torch::nn::functional::one_hot(ids[0][3], V);
  EXPECT_NE(MaskedLmLoss(changed, ids, mask).item<double>(), loss);
  // Changing a masked target id does not; an unmasked one does.
  auto ids2 = ids.clone();
  ids2[1][2] = (ia[1][2] + 1) % V;
  EXPECT_EQ(MaskedLmLoss(logits, ids2, mask).item<double>(), loss);
  ids2[1][1] = (ia[1][1] + 1) % V;
  EXPECT_NE(MaskedLmLoss(logits, ids2, mask).item<double>(), loss);
  // No targets at all: zero, not NaN.
  EXPECT_EQ(MaskedLmLoss(logits, ids, torch::zeros_like(mask)).item<double>(), 0.0);
}

class QPeftTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(scratch_.path().empty());
    dir_ = scratch_.path();
    path_ = dir_ + "/instructions.jsonl";
    std::ofstream f(path_);
    f << R"({"instruction": "Tell a short story about a cat.", "output": "Once upon a time, there was a little cat named Tom."})"
      << "\n"
      << R"({"instruction": "Say what the dog did.", "input": "The dog ran to the park.", "output": "The dog ran."})"
      << "\n"
      << R"({"instruction": "Name a color.", "input": null, "output": "Blue."})" << "\n";
    f.close();
    tok_ = StoriesTokenizer();
    ASSERT_NE(tok_, nullptr);
  }
  testing::ScratchDir scratch_{"eqat-qpeft"};
  std::string dir_, path_;
  std::unique_ptr<Tokenizer> tok_;
};

TEST_F(QPeftTest, PromptTokensAreMaskedOutOfTheLoss) {
  auto examples = LoadInstructionJsonl(path_, *tok_, 256);
  ASSERT_TRUE(examples.ok()) << examples.status();
  ASSERT_EQ(examples->size(), 3u);
  // Mask layout: BOS + prompt are 0, response + EOS are 1.
  const std::vector<std::pair<std::string, std::string>> prompts = {
      {"Tell a short story about a cat.", ""},
      {"Say what the dog did.", "The dog ran to the park."},
      {"Name a color.", ""}};
  for (size_t i = 0; i < 3; ++i) {
    const auto& e = (*examples)[i];
    auto prompt = tok_->Encode(AlpacaPrompt(prompts[i].first, prompts[i].second));
    ASSERT_TRUE(prompt.ok());
    size_t n_prompt = 1 + prompt->size();
    ASSERT_EQ(e.ids.size(), e.loss_mask.size());
    ASSERT_GT(e.ids.size(), n_prompt + 1);
    EXPECT_EQ(e.ids.front(), tok_->bos_id());
    EXPECT_EQ(e.ids.back(), tok_->eos_id());
    for (size_t t = 0; t < e.ids.size(); ++t) {
      EXPECT_EQ(e.loss_mask[t], t < n_prompt ? 0 : 1) << "example " << i << " token " << t;
    }
  }

  auto model = LoadRtnStories();
  ASSERT_NE(model, nullptr);
  E2eOptions o;
  o.epochs = 1;
  o.lr = 1e-3;

  // (a) One example whose mask keeps a single response token: the first
  // step's loss is exactly that token's cross-entropy.
  const auto& e0 = (*examples)[0];
  size_t n_prompt0 = e0.loss_mask.size() - std::count(e0.loss_mask.begin(), e0.loss_mask.end(), 1);
  size_t pick = n_prompt0 + 2;  // third response token
  std::vector<uint8_t> one(e0.ids.size(), 0);
  one[pick] = 1;
  auto [nll_one, n_one] = MaskedNllSum(*model, e0.ids, one);
  ASSERT_EQ(n_one, 1);
  o.batch_size = 1;
  o.grad_accum = 1;
  auto r1 = TrainE2eQp(model.get(), {TrainExample{e0.ids, one}}, o);
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_NEAR(r1->first_loss, nll_one, 1e-4 * nll_one);

  // (b) All three examples in one padded micro-batch: the loss is the mean
  // cross-entropy over every response/EOS token of the three, prompts and
  // padding excluded (computed on the model as it is now, before the step).
  std::vector<TrainExample> all;
  double sum = 0;
  int64_t count = 0;
  for (const auto& e : *examples) {
    auto [s, c] = MaskedNllSum(*model, e.ids, e.loss_mask);
    sum += s;
    count += c;
    all.push_back(TrainExample{e.ids, e.loss_mask});
  }
  o.batch_size = 3;
  o.grad_accum = 1;
  auto r3 = TrainE2eQp(model.get(), all, o);
  ASSERT_TRUE(r3.ok()) << r3.status();
  EXPECT_EQ(r3->steps, 1);
  EXPECT_NEAR(r3->first_loss, sum / count, 1e-4 * (sum / count));
  // Sanity: counting the prompt tokens too would give a different number.
  double sum_all = 0;
  int64_t count_all = 0;
  for (const auto& e : *examples) {
    auto [s, c] = MaskedNllSum(*model, e.ids, std::vector<uint8_t>(e.ids.size(), 1));
    sum_all += s;
    count_all += c;
  }
  EXPECT_GT(std::abs(sum_all / count_all - sum / count), 1e-3);
}

TEST(E2eQpTest, ActivationCheckpointingDoesNotChangeTraining) {
  // Adam normalises each gradient element, so after a few steps the step
  // sizes depend on the gradients' signs and their ratios across steps;
  // wrong or missing gradients under checkpointing show up as different
  // step sizes (and different losses from the second step on).
  auto plain = LoadRtnStories();
  auto ckpt = LoadRtnStories();
  ASSERT_NE(plain, nullptr);
  ASSERT_NE(ckpt, nullptr);
  auto data = CalibExamples(6, 24, /*seed=*/9);
  ASSERT_EQ(data.size(), 6u);
  Snapshot before = Take(*plain);
  E2eOptions o;
  o.epochs = 1;
  o.batch_size = 2;  // 3 steps
  o.grad_accum = 1;
  o.lr = 1e-3;
  o.seed = 4;
  std::vector<double> loss_plain, loss_ckpt;
  o.on_step = [&](int64_t, int64_t, double l) { loss_plain.push_back(l); };
  auto rp = TrainE2eQp(plain.get(), data, o);
  ASSERT_TRUE(rp.ok()) << rp.status();
  o.checkpointing = true;
  o.on_step = [&](int64_t, int64_t, double l) { loss_ckpt.push_back(l); };
  absl::StatusOr<E2eResult> rc = absl::UnknownError("not run");
  try {
    rc = TrainE2eQp(ckpt.get(), data, o);
  } catch (const c10::Error& e) {
    FAIL() << "TrainE2eQp with checkpointing threw: " << e.what_without_backtrace();
  }
  ASSERT_TRUE(rc.ok()) << rc.status();

  ASSERT_EQ(loss_plain.size(), 3u);
  ASSERT_EQ(loss_ckpt.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(loss_ckpt[i], loss_plain[i], 1e-6 * loss_plain[i]) << "step " << i;
  }
  Snapshot sp = Take(*plain), sc = Take(*ckpt);
  for (size_t i = 0; i < sp.scales.size(); ++i) {
    auto a = sp.scales[i].to(torch::kFloat), b = sc.scales[i].to(torch::kFloat);
    EXPECT_TRUE(torch::allclose(a, b, /*rtol=*/1e-5, /*atol=*/0)) << "linear " << i
        << " max diff " << (a - b).abs().max().item<float>();
    // Every linear received gradients in both runs.
    EXPECT_FALSE(torch::equal(sc.scales[i], before.scales[i])) << "linear " << i;
    EXPECT_FALSE(torch::equal(sp.scales[i], before.scales[i])) << "linear " << i;
  }
}

}  // namespace
}  // namespace eqat
