// LoRA fine-tuning with TrainE2eQp (train_lora) on an RTN-packed
// stories260K: only lora_a / lora_b move, every packed tensor, norm and
// embedding stays bit-identical (dtype included), checkpointing gives the
// same trajectory, and a model without LoRA is refused.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "tests/worker/test_util.h"
#include "worker/methods/blockwise.h"
#include "worker/methods/e2e_qp.h"
#include "tests/worker/methods/rtn_model.h"
#include "worker/model/llama_model.h"

namespace eqat {
namespace {

using testing::LoadRtnStories;

// PEFT's initialisation: A random, B zero.
void AttachLora(LlamaModel* m, int64_t r) {
  torch::manual_seed(4);
  for (int i = 0; i < m->num_blocks(); ++i) {
    for (auto& [name, lin] : m->block(i).Linears()) {
      lin->lora_a = torch::randn({r, lin->in_features()}) / std::sqrt(lin->in_features());
      lin->lora_b = torch::zeros({lin->out_features(), r});
      lin->lora_scale = 2.0;
    }
  }
}

std::vector<TrainExample> RandomExamples(int n, int len) {
  torch::manual_seed(8);
  std::vector<TrainExample> out;
  for (int i = 0; i < n; ++i) {
    auto t = torch::randint(3, 512, {len}, torch::kInt);
    TrainExample e;
    e.ids.assign(t.data_ptr<int32_t>(), t.data_ptr<int32_t>() + len);
    e.loss_mask.assign(len, 1);
    for (int k = 0; k < len / 2; ++k) e.loss_mask[k] = 0;  // a masked prompt
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<torch::Tensor> Frozen(const LlamaModel& m) {
  std::vector<torch::Tensor> v = {m.embed_tokens().clone(), m.final_norm().clone(),
                                  m.lm_head().clone()};
  for (int i = 0; i < m.num_blocks(); ++i) {
    const Block& b = m.block(i);
    for (const auto& [name, lin] : b.Linears()) {
      v.push_back(lin->packed.qweight.clone());
      v.push_back(lin->packed.qzeros.clone());
      v.push_back(lin->packed.scales.detach().clone());
      v.push_back(lin->packed.g_idx.clone());
    }
    v.push_back(b.input_norm.clone());
    v.push_back(b.post_norm.clone());
  }
  return v;
}

void ExpectBitIdentical(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].scalar_type(), b[i].scalar_type()) << i;
    EXPECT_TRUE(torch::equal(a[i], b[i])) << i;
  }
}

E2eOptions LoraOptions() {
  E2eOptions o;
  o.train_lora = true;
  o.epochs = 2;  // 2 x 2 steps of 2 examples
  o.batch_size = 2;
  o.grad_accum = 1;
  o.lr = 1e-2;
  o.seed = 1;
  return o;
}

TEST(E2eLoraTest, TrainsOnlyTheLoraFactors) {
  auto model = LoadRtnStories();
  ASSERT_NE(model, nullptr);
  AttachLora(model.get(), 4);
  auto before = Frozen(*model);
  std::vector<torch::Tensor> a0, b0;
  for (int i = 0; i < model->num_blocks(); ++i) {
    for (const auto& [name, lin] : model->block(i).Linears()) {
      a0.push_back(lin->lora_a.clone());
      b0.push_back(lin->lora_b.clone());
    }
  }
  auto r = TrainE2eQp(model.get(), RandomExamples(4, 16), LoraOptions());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->steps, 4);
  ExpectBitIdentical(before, Frozen(*model));
  size_t k = 0;
  for (int i = 0; i < model->num_blocks(); ++i) {
    for (const auto& [name, lin] : model->block(i).Linears()) {
      EXPECT_FALSE(torch::equal(lin->lora_a, a0[k])) << i << " " << name;
      EXPECT_FALSE(torch::equal(lin->lora_b, b0[k])) << i << " " << name;
      EXPECT_FALSE(lin->lora_a.requires_grad());
      EXPECT_EQ(lin->lora_b.scalar_type(), torch::kFloat);
      ++k;
    }
  }
}

TEST(E2eLoraTest, CheckpointingGivesTheSameTrajectory) {
  std::vector<std::vector<double>> losses(2);
  std::vector<torch::Tensor> b_final;
  for (int ckpt = 0; ckpt < 2; ++ckpt) {
    auto model = LoadRtnStories();
    ASSERT_NE(model, nullptr);
    AttachLora(model.get(), 2);
    // Only some linears: blocks without LoRA pass through the checkpoint too.
    for (int i = 1; i < model->num_blocks(); ++i) {
      for (auto& [name, lin] : model->block(i).Linears()) {
        if (name != "mlp.down_proj") lin->lora_a = lin->lora_b = torch::Tensor();
      }
    }
    model->block(0).q_proj.lora_a = model->block(0).q_proj.lora_b = torch::Tensor();
    auto before = Frozen(*model);
    E2eOptions o = LoraOptions();
    o.checkpointing = ckpt == 1;
    o.on_step = [&](int64_t, int64_t, double loss) { losses[ckpt].push_back(loss); };
    auto r = TrainE2eQp(model.get(), RandomExamples(4, 12), o);
    ASSERT_TRUE(r.ok()) << r.status();
    ExpectBitIdentical(before, Frozen(*model));
    EXPECT_FALSE(model->block(0).q_proj.has_lora());
    b_final.push_back(model->block(3).down_proj.lora_b.clone());
  }
  ASSERT_EQ(losses[0].size(), 4u);
  ASSERT_EQ(losses[1].size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(losses[0][i], losses[1][i], 1e-5) << i;
  EXPECT_TRUE(torch::allclose(b_final[0], b_final[1], 1e-4, 1e-5));
}

TEST(E2eLoraTest, RefusesAModelWithoutLora) {
  auto model = LoadRtnStories();
  ASSERT_NE(model, nullptr);
  auto before = Frozen(*model);
  auto r = TrainE2eQp(model.get(), RandomExamples(2, 8), LoraOptions());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("LoRA"));
  ExpectBitIdentical(before, Frozen(*model));
}

}  // namespace
}  // namespace eqat
