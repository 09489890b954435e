// ApiQ on one real block of stories260K: at initialisation (B = 0) the
// block is exactly the min/max fake-quantized block; training the
// quantizer and LoRA together beats RTN on the block-output MSE; the
// weights stay frozen (the packed codes are those of the original weights);
// the LoRA factors survive packing and a block file round trip.
#include "worker/methods/apiq.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "common/text_data.h"
#include "common/tokenizer.h"
#include "tests/worker/methods/real_block_fixture.h"
#include "tests/worker/test_util.h"
#include "worker/methods/activation_store.h"
#include "worker/methods/rtn.h"
#include "worker/model/llama_model.h"
#include "worker/stage/block_files.h"

namespace eqat {
namespace {

constexpr int kBlock = 1;
constexpr int64_t kSamples = 24;  // 20 train + 4 validation
constexpr int64_t kLen = 32;
constexpr int kRank = 4;
constexpr double kAlpha = 8;

class ApiqTest : public testing::RealBlockTest {
 protected:
  static void SetUpTestSuite() { Load(kBlock, kSamples, kLen, /*seed=*/5); }
  static void TearDownTestSuite() { Unload(); }

  static BlockApOptions Options() {
    BlockApOptions o;
    o.spec = {2, -1};
    o.epochs = 3;
    o.batch_size = 2;
    o.quant_lr = 1e-3;
    o.weight_lr = 1e-3;  // LoRA factors
    o.val_count = 4;
    return o;
  }
};

TEST_F(ApiqTest, AtInitIsTheMinMaxFakeQuantizedBlock) {
  const kernels::QuantSpec spec{2, -1};
  Block apiq = FpBlock();
  std::vector<torch::Tensor> quant, other;
  torch::manual_seed(1);
  ApiqMethod(kRank, kAlpha).Prepare(&apiq, spec, &quant, &other);
  EXPECT_EQ(quant.size(), 14u);  // s and z of 7 linears
  EXPECT_EQ(other.size(), 14u);  // A and B of 7 linears
  Block fq = FpBlock();
  for (auto& [name, lin] : fq.Linears()) {
    kernels::QuantParams p = kernels::InitMinMax(lin->weight, spec);
    lin->mode = Linear::Mode::kFakeQuant;
    lin->spec = spec;
    lin->scale = p.scale;
    lin->zero = p.zero;
  }
  for (const auto& [name, lin] : apiq.Linears()) {
    ASSERT_TRUE(lin->has_lora()) << name;
    EXPECT_EQ(lin->lora_rank(), kRank) << name;
    EXPECT_DOUBLE_EQ(lin->lora_scale, kAlpha / kRank) << name;
    EXPECT_FALSE(lin->weight.requires_grad()) << name;
    EXPECT_EQ(lin->lora_b.abs().sum().item<double>(), 0) << name;
    EXPECT_GT(lin->lora_a.abs().sum().item<double>(), 0) << name;
    EXPECT_LE(lin->lora_a.abs().max().item<double>(),
              1.0 / std::sqrt(static_cast<double>(lin->in_features())) + 1e-7);
  }
  torch::NoGradGuard ng;
  auto x = inputs_->narrow(0, 0, 2);
  EXPECT_TRUE(torch::equal(BlockForward(apiq, cfg(), x), BlockForward(fq, cfg(), x)));
}

TEST_F(ApiqTest, TrainsQuantizerAndLoraTogetherAndBeatsRtn) {
  auto in = Store(*inputs_);
  auto tgt = Store(*targets_);
  Block rtn = FpBlock();
  QuantizeBlockRtn(&rtn, {2, -1});
  Block b = FpBlock();
  const Block fp = FpBlock();
  torch::manual_seed(2);
  auto r = TrainBlock(&b, cfg(), *in, *tgt, Options(), ApiqMethod(kRank, kAlpha));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->steps, 3 * 10);
  EXPECT_LT(r->val_loss, r->init_val_loss);
  auto lb = b.Linears();
  auto lfp = fp.Linears();
  for (size_t i = 0; i < lb.size(); ++i) {
    const Linear& lin = *lb[i].second;
    EXPECT_EQ(lin.mode, Linear::Mode::kPacked) << lb[i].first;
    ASSERT_TRUE(lin.has_lora()) << lb[i].first;
    EXPECT_FALSE(lin.lora_a.requires_grad());
    EXPECT_GT(lin.lora_b.abs().sum().item<double>(), 0) << lb[i].first << ": B never moved";
    // W was frozen: the packed codes are the original weights rounded with
    // the trained quantizer (the scales stored in fp16 are what packing
    // used for the codes only up to fp16 rounding, so compare dequantized
    // weights within one step).
    torch::NoGradGuard ng;
    auto deq = kernels::DequantizeWeight(lin.packed);
    auto err = (deq - lfp[i].second->weight).abs();
    auto s = lin.packed.scales.to(torch::kFloat).t()  // [G, out] -> [out, G]
                 .repeat_interleave(lin.in_features() / lin.packed.scales.size(0), 1);
    // Inside the clamp range a code is within half a step of W; outside
    // it, clamping may move further: require it for most elements.
    double within = (err <= s * 0.5 + 1e-3).to(torch::kFloat).mean().item<double>();
    EXPECT_GT(within, 0.9) << lb[i].first;
  }
  EXPECT_TRUE(torch::equal(b.input_norm, fp.input_norm));  // norms frozen
  double mse_rtn = OutputMse(rtn), mse_apiq = OutputMse(b);
  std::printf("block %d output MSE: rtn %.6g, apiq %.6g\n", kBlock, mse_rtn, mse_apiq);
  EXPECT_LT(mse_apiq, 0.9 * mse_rtn);

  // The block file keeps the LoRA path: the block read back computes the same.
  std::string dir = ::testing::TempDir() + "/apiq_block_file";
  std::string path = BlockFilePath(dir, kBlock);
  auto sum = WriteBlockFile(path, b, kBlock, {2, -1});
  ASSERT_TRUE(sum.ok()) << sum.status();
  auto back = ReadBlockFile(path, cfg(), kBlock, {2, -1}, *sum);
  ASSERT_TRUE(back.ok()) << back.status();
  for (const auto& [name, lin] : back->Linears()) {
    ASSERT_TRUE(lin->has_lora()) << name;
    EXPECT_DOUBLE_EQ(lin->lora_scale, kAlpha / kRank);
  }
  torch::NoGradGuard ng;
  auto x = inputs_->narrow(0, 0, 2);
  EXPECT_TRUE(torch::allclose(BlockForward(*back, cfg(), x), BlockForward(b, cfg(), x), 1e-5, 1e-6));
}

}  // namespace
}  // namespace eqat
