// Block-AP on one real block of stories260K (hidden 64, intermediate 172,
// per-channel groups): training must beat RTN on the block-output MSE it
// minimises, recover from one non-finite loss, give up cleanly (block
// untouched) after two, and be bit-reproducible for a fixed seed.
#include "worker/methods/block_ap.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "common/text_data.h"
#include "common/tokenizer.h"
#include "tests/worker/methods/real_block_fixture.h"
#include "tests/worker/test_util.h"
#include "worker/methods/activation_store.h"
#include "worker/model/llama_model.h"
#include "worker/methods/rtn.h"

namespace eqat {
namespace {

constexpr int kBlock = 1;        // trained block; its inputs are fp block 0's outputs
constexpr int64_t kSamples = 32; // 29 train + 3 validation (val_count 3)
constexpr int64_t kLen = 32;     // tokens per calibration window

// Block kBlock of stories260K with its fp inputs and targets computed from
// calibration windows of data/calib_en.txt, loaded once for the whole suite.
class BlockApTest : public testing::RealBlockTest {
 protected:
  static void SetUpTestSuite() { Load(kBlock, kSamples, kLen, /*seed=*/7); }
  static void TearDownTestSuite() { Unload(); }

  static BlockApOptions Options() {
    BlockApOptions o;
    o.spec = {2, -1};   // 2-bit, one group per output channel (64 does not divide 172)
    o.epochs = 4;       // 4 x ceil(29 / 2) = 60 steps
    o.batch_size = 2;
    o.quant_lr = 1e-3;  // 10x the default: enough to move the 2-bit step sizes in 60 steps
    o.weight_lr = 1e-4;
    o.seed = 11;
    o.val_count = 3;
    return o;
  }
};

TEST_F(BlockApTest, BeatsRtnOnBlockOutputMse) {
  auto in = Store(*inputs_);
  auto tgt = Store(*targets_);

  Block rtn = FpBlock();
  QuantizeBlockRtn(&rtn, {2, -1});
  Block ap = FpBlock();
  int64_t steps_seen = 0;
  BlockApOptions o = Options();
  o.on_step = [&](int64_t step, int64_t total, double loss) {
    ++steps_seen;
    EXPECT_EQ(step, steps_seen);
    EXPECT_EQ(total, 60);
    EXPECT_TRUE(std::isfinite(loss));
  };
  auto r = TrainBlockAp(&ap, cfg(), *in, *tgt, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->attempts, 1);
  EXPECT_EQ(r->steps, 60);
  EXPECT_EQ(steps_seen, 60);
  EXPECT_TRUE(std::isfinite(r->init_val_loss));
  EXPECT_TRUE(std::isfinite(r->train_loss));
  EXPECT_LE(r->val_loss, r->init_val_loss);

  for (const Block* b : {&rtn, &ap}) {
    for (const auto& [name, lin] : b->Linears()) {
      EXPECT_EQ(lin->mode, Linear::Mode::kPacked) << name;
      EXPECT_EQ(lin->packed.bits, 2) << name;
      EXPECT_EQ(lin->packed.scales.scalar_type(), torch::kHalf) << name;
      EXPECT_FALSE(lin->weight.defined()) << name;
    }
  }
  double mse_rtn = OutputMse(rtn);
  double mse_ap = OutputMse(ap);
  std::printf("block %d output MSE: rtn %.6g, block-ap %.6g (init val %.6g, val %.6g)\n", kBlock,
              mse_rtn, mse_ap, r->init_val_loss, r->val_loss);
  RecordProperty("mse_rtn", std::to_string(mse_rtn));
  RecordProperty("mse_block_ap", std::to_string(mse_ap));
  EXPECT_TRUE(std::isfinite(mse_ap));
  EXPECT_LT(mse_ap, mse_rtn);
  // A clear margin, not a rounding accident.
  EXPECT_LT(mse_ap, 0.9 * mse_rtn);
}

TEST_F(BlockApTest, RetriesOnceAfterANonFiniteLoss) {
  auto in = Store(*inputs_);
  auto tgt = Store(*targets_);
  Block b = FpBlock();
  BlockApOptions o = Options();
  o.epochs = 1;
  o.inject_nan_at_step = 0;
  auto r = TrainBlockAp(&b, cfg(), *in, *tgt, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->attempts, 2);
  EXPECT_EQ(r->steps, 15);
  EXPECT_TRUE(std::isfinite(r->val_loss));
  for (const auto& [name, lin] : b.Linears()) EXPECT_EQ(lin->mode, Linear::Mode::kPacked) << name;
}

TEST_F(BlockApTest, TwoNonFiniteLossesAbortAndLeaveTheBlockUntouched) {
  auto nan_inputs = torch::full_like(*inputs_, std::numeric_limits<float>::quiet_NaN());
  auto in = Store(nan_inputs);
  auto tgt = Store(*targets_);
  Block b = FpBlock();
  Block before = b.Clone();
  BlockApOptions o = Options();
  o.epochs = 1;
  auto r = TrainBlockAp(&b, cfg(), *in, *tgt, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted) << r.status();
  EXPECT_NE(r.status().message().find("non-finite"), absl::string_view::npos) << r.status();

  auto lb = b.Linears();
  auto lbefore = before.Linears();
  ASSERT_EQ(lb.size(), lbefore.size());
  for (size_t i = 0; i < lb.size(); ++i) {
    const Linear& now = *lb[i].second;
    const Linear& was = *lbefore[i].second;
    EXPECT_EQ(now.mode, Linear::Mode::kFloat) << lb[i].first;
    ASSERT_TRUE(now.weight.defined()) << lb[i].first;
    EXPECT_TRUE(torch::equal(now.weight, was.weight)) << lb[i].first;
    EXPECT_FALSE(now.weight.requires_grad()) << lb[i].first;
    EXPECT_FALSE(now.scale.defined()) << lb[i].first;
  }
  EXPECT_TRUE(torch::equal(b.input_norm, before.input_norm));
  EXPECT_TRUE(torch::equal(b.post_norm, before.post_norm));
  EXPECT_FALSE(b.input_norm.requires_grad());
  // And the untouched block still computes the fp targets.
  torch::NoGradGuard ng;
  EXPECT_TRUE(torch::equal(BlockForward(b, cfg(), inputs_->narrow(0, 0, 2)),
                           BlockForward(before, cfg(), inputs_->narrow(0, 0, 2))));
}

TEST_F(BlockApTest, SameSeedGivesBitIdenticalPackedBlocks) {
  testing::ThreadCountGuard threads(1);
  auto in = Store(*inputs_);
  auto tgt = Store(*targets_);
  BlockApOptions o = Options();
  o.epochs = 1;
  Block a = FpBlock(), b = FpBlock();
  auto ra = TrainBlockAp(&a, cfg(), *in, *tgt, o);
  auto rb = TrainBlockAp(&b, cfg(), *in, *tgt, o);
  ASSERT_TRUE(ra.ok()) << ra.status();
  ASSERT_TRUE(rb.ok()) << rb.status();
  EXPECT_EQ(ra->val_loss, rb->val_loss);
  EXPECT_EQ(ra->train_loss, rb->train_loss);
  auto la = a.Linears();
  auto lb = b.Linears();
  for (size_t i = 0; i < la.size(); ++i) {
    const auto& pa = la[i].second->packed;
    const auto& pb = lb[i].second->packed;
    EXPECT_TRUE(torch::equal(pa.qweight, pb.qweight)) << la[i].first;
    EXPECT_TRUE(torch::equal(pa.qzeros, pb.qzeros)) << la[i].first;
    EXPECT_TRUE(torch::equal(pa.scales, pb.scales)) << la[i].first;
  }
  EXPECT_TRUE(torch::equal(a.input_norm, b.input_norm));
  EXPECT_TRUE(torch::equal(a.post_norm, b.post_norm));

  // With per-epoch shuffling, a different seed orders the batches
  // differently: some step size moves.
  o.shuffle_each_epoch = true;
  Block a2 = FpBlock();
  ASSERT_TRUE(TrainBlockAp(&a2, cfg(), *in, *tgt, o).ok());
  la = a2.Linears();
  Block c = FpBlock();
  o.seed = 12;
  ASSERT_TRUE(TrainBlockAp(&c, cfg(), *in, *tgt, o).ok());
  bool any_diff = false;
  auto lc = c.Linears();
  for (size_t i = 0; i < la.size(); ++i) {
    any_diff |= !torch::equal(la[i].second->packed.scales, lc[i].second->packed.scales);
  }
  EXPECT_TRUE(any_diff);
}

// The official schedule: the training windows in one fixed order (the
// rows' order) every epoch; the validation rows are never trained on.
TEST_F(BlockApTest, FixedOrderVisitsTrainingRowsInOrderAndNeverValidationRows) {
  auto in = Store(*inputs_);
  auto tgt = Store(*targets_);
  BlockApOptions o = Options();
  o.epochs = 2;
  std::vector<std::vector<int64_t>> seen;
  o.on_batch_output = [&](const std::vector<int64_t>& idx, const torch::Tensor&) {
    seen.push_back(idx);
  };
  Block b = FpBlock();
  auto r = TrainBlockAp(&b, cfg(), *in, *tgt, o);
  ASSERT_TRUE(r.ok()) << r.status();
  const int64_t n_train = kSamples - o.val_count;  // 29
  const int64_t per_epoch = (n_train + 1) / 2;      // 15
  ASSERT_EQ(static_cast<int64_t>(seen.size()), 2 * per_epoch);
  for (int64_t s = 0; s < 2 * per_epoch; ++s) {
    const int64_t first = (s % per_epoch) * 2;
    std::vector<int64_t> want = {first};
    if (first + 1 < n_train) want.push_back(first + 1);
    EXPECT_EQ(seen[s], want) << "step " << s;
  }

  // Reshuffling (the old behaviour, --ap-shuffle): the two epochs differ and
  // still never touch a validation row.
  seen.clear();
  o.shuffle_each_epoch = true;
  Block c = FpBlock();
  ASSERT_TRUE(TrainBlockAp(&c, cfg(), *in, *tgt, o).ok());
  ASSERT_EQ(static_cast<int64_t>(seen.size()), 2 * per_epoch);
  std::vector<int64_t> e0, e1;
  for (int64_t s = 0; s < per_epoch; ++s) {
    e0.insert(e0.end(), seen[s].begin(), seen[s].end());
    e1.insert(e1.end(), seen[s + per_epoch].begin(), seen[s + per_epoch].end());
  }
  EXPECT_NE(e0, e1);
  for (int64_t i : e0) EXPECT_LT(i, n_train);
  for (int64_t i : e1) EXPECT_LT(i, n_train);
}

TEST_F(BlockApTest, ValidationWindowsMustLeaveATrainingWindow) {
  auto in = Store(*inputs_);
  auto tgt = Store(*targets_);
  BlockApOptions o = Options();
  o.val_count = kSamples;
  Block b = FpBlock();
  auto r = TrainBlockAp(&b, cfg(), *in, *tgt, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
}

}  // namespace
}  // namespace eqat
