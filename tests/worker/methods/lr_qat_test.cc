// LR-QAT (worker/methods/lr_qat.h) on one real block of stories260K (hidden
// 64, intermediate 172, per-channel groups): the fixed-point Phi0 keeps RTN's
// codes, the start point is RTN's fake quantization, the fold into packed
// codes is exact, training beats RTN while only s, A and B move, the
// checkpointed weight has the same gradients, and the trained parameters /
// optimizer state are a small fraction of Block-AP's.
#include "worker/methods/lr_qat.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/text_data.h"
#include "common/tokenizer.h"
#include "kernels/packed_linear.h"
#include "tests/worker/methods/real_block_fixture.h"
#include "tests/worker/test_util.h"
#include "worker/methods/activation_store.h"
#include "worker/methods/rtn.h"
#include "worker/model/llama_model.h"

namespace eqat {
namespace {

constexpr int kBlock = 1;         // trained block; its inputs are fp block 0's outputs
constexpr int64_t kSamples = 32;  // 29 train + 3 validation
constexpr int64_t kLen = 32;      // tokens per calibration window
constexpr int kRank = 4;
constexpr double kAlpha = 8;

class LrQatTest : public testing::RealBlockTest {
 protected:
  static void SetUpTestSuite() { Load(kBlock, kSamples, kLen, /*seed=*/7); }
  static void TearDownTestSuite() { Unload(); }

  static BlockApOptions Options() {
    BlockApOptions o;
    o.spec = {2, -1};  // 2-bit, per output channel (as block_ap_test)
    o.epochs = 4;      // 4 x ceil(29 / 2) = 60 steps
    o.batch_size = 2;
    o.quant_lr = 1e-3;
    o.weight_lr = 1e-3;  // A, B (the paper's low-rank lr is ~10x Block-AP's)
    o.seed = 11;
    o.val_count = 3;
    return o;
  }

  // Prepares a copy of the fp block; returns it (training form).
  static Block Prepared(const LrQatMethod& m, const kernels::QuantSpec& spec) {
    Block b = FpBlock();
    std::vector<torch::Tensor> quant, other;
    m.Prepare(&b, spec, &quant, &other);
    return b;
  }
};

// x = W0 / s0 as the quantizer computes it.
torch::Tensor Ratio(const torch::Tensor& w, const torch::Tensor& s, int64_t g) {
  return (w.reshape({w.size(0), w.size(1) / g, g}) / s.unsqueeze(-1)).reshape(w.sizes());
}

TEST(LrQatFixedPointTest, FormatErrorBoundAndRounding) {
  EXPECT_FALSE(LrQatFixedPointFor(5).ok());
  for (int bits : {2, 3, 4, 8}) {
    auto fp = LrQatFixedPointFor(bits);
    ASSERT_TRUE(fp.ok()) << fp.status();
    EXPECT_EQ(fp->storage_bits, bits <= 6 ? 8 : 16);
    EXPECT_EQ(fp->frac_bits, fp->storage_bits - 1 - bits);
    const double qmax = kernels::QMax(bits);
    torch::manual_seed(bits);
    // Random values over twice the code range, every half-integer, and
    // the integers in between (exact ties and grid points).
    auto x = torch::cat({torch::rand({20000}) * (4 * qmax + 4) - (2 * qmax + 2),
                         torch::arange(-qmax - 0.5, qmax + 1, 0.5, torch::kFloat)});
    auto m = LrQatEncodePhi(x, *fp);
    EXPECT_EQ(m.scalar_type(), bits <= 6 ? torch::kChar : torch::kShort);
    auto phi = LrQatDecodePhi(m, *fp);
    const double lim = std::ldexp(1.0, bits) - std::ldexp(1.0, bits - fp->storage_bits);
    EXPECT_LE(phi.abs().max().item<double>(), lim);
    auto in = x.abs() <= qmax;  // W0/s0 of a min/max group with z in [0, qmax]
    const double bound = std::ldexp(1.0, -(fp->frac_bits + 1));
    EXPECT_LE((phi - x).abs().masked_select(in).max().item<double>(), bound) << bits;
    EXPECT_TRUE(torch::equal(phi.round().masked_select(in), x.round().masked_select(in))) << bits;
    // With every zero point, the clamped codes equal RTN's, saturated values included.
    for (int z = 0; z <= qmax; ++z) {
      auto ours = (phi.round() + z).clamp(0, qmax);
      auto rtn = (x.round() + z).clamp(0, qmax);
      ASSERT_TRUE(torch::equal(ours, rtn)) << "bits " << bits << " z " << z;
    }
  }
}

TEST_F(LrQatTest, AtInitItIsRtnFakeQuantWithRtnCodes) {
  // Per-channel groups (32 does not divide 172); groups of 32: the checkpointing test.
  for (kernels::QuantSpec spec : {kernels::QuantSpec{4, -1}, kernels::QuantSpec{3, -1},
                                  kernels::QuantSpec{2, -1}}) {
    LrQatMethod m(kRank, kAlpha);
    Block fp = FpBlock();
    Block b = Prepared(m, spec);
    Block rtn = FpBlock();
    QuantizeBlockRtn(&rtn, spec);
    auto fpl = fp.Linears();
    auto bl = b.Linears();
    auto rl = rtn.Linears();
    int64_t flips = 0, total = 0;
    for (size_t i = 0; i < fpl.size(); ++i) {
      const std::string& name = fpl[i].first;
      const torch::Tensor& w0 = fpl[i].second->weight;
      kernels::QuantParams p = kernels::InitMinMax(w0, spec);
      const LrQatLinearState* st = m.State(name);
      ASSERT_NE(st, nullptr) << name;
      EXPECT_EQ(st->phi.scalar_type(), torch::kChar) << name;
      EXPECT_EQ(st->a.abs().max().item<double>(), 0.0) << name;
      // |Phi0 - W0/s0| <= 2^-(f+1) (every group here straddles zero).
      auto x = Ratio(w0, p.scale, kernels::GroupSize(spec, w0.size(1)));
      auto err = (LrQatDecodePhi(st->phi, st->fp) - x).abs().max().item<double>();
      EXPECT_LE(err, std::ldexp(1.0, -(st->fp.frac_bits + 1))) << name;
      // Forward weight: exactly RTN's fake quantization.
      auto fq = kernels::FakeQuantize(w0, p.scale, p.zero, spec);
      EXPECT_TRUE(torch::equal(bl[i].second->weight, fq)) << name;
      // Codes: exactly RTN's (lr_qat.h: the offset grid never rounds across a tie).
      auto codes = LrQatCodes(*st, m.lora_scale(), spec);
      auto rtn_codes = kernels::QuantizeToInt(w0, p.scale, p.zero, spec).q;
      flips += codes.ne(rtn_codes).sum().item<int64_t>();
      total += codes.numel();
      EXPECT_TRUE(torch::equal(kernels::UnpackCodes(rl[i].second->packed).q, rtn_codes)) << name;
    }
    std::printf("bits %d group %d: %lld of %lld codes differ from RTN\n", spec.bits,
                spec.group_size, static_cast<long long>(flips), static_cast<long long>(total));
    EXPECT_EQ(flips, 0);
    // The block output: exactly the RTN fake-quantized block's (fp32 s).
    Block fq = FpBlock();
    for (auto& [name, lin] : fq.Linears()) {
      kernels::QuantParams p = kernels::InitMinMax(lin->weight, spec);
      lin->mode = Linear::Mode::kFakeQuant;
      lin->spec = spec;
      lin->scale = p.scale;
      lin->zero = p.zero;
    }
    torch::NoGradGuard ng;
    m.BeforeForward(&b);
    auto x = inputs_->narrow(0, 0, 4);
    EXPECT_TRUE(torch::equal(BlockForward(b, cfg(), x), BlockForward(fq, cfg(), x)));
  }
}

TEST_F(LrQatTest, CheckpointedWeightHasTheSameValuesAndGradients) {
  const kernels::QuantSpec spec{3, 32};
  torch::manual_seed(3);
  LrQatLinearState st;
  st.fp = *LrQatFixedPointFor(spec.bits);
  auto w0 = torch::randn({48, 64});
  kernels::QuantParams p = kernels::InitMinMax(w0, spec);
  st.phi = LrQatEncodePhi(Ratio(w0, p.scale, 32), st.fp);
  st.zero = p.zero.clamp(0, 7);
  auto a0 = torch::randn({48, kRank}) * 0.5, b0 = torch::randn({kRank, 64}) * 0.5;
  auto up = torch::randn({48, 64});
  std::map<bool, std::vector<torch::Tensor>> got;
  for (bool ckpt : {false, true}) {
    st.a = a0.clone().requires_grad_(true);
    st.b = b0.clone().requires_grad_(true);
    auto s = p.scale.clone().requires_grad_(true);
    auto w = LrQatWeight(st, s, 2.0, spec, ckpt);
    (w * up).sum().backward();
    got[ckpt] = {w.detach(), st.a.grad(), st.b.grad(), s.grad()};
  }
  // Some elements are clamped (zero gradient), some not.
  EXPECT_GT(got[false][1].abs().sum().item<double>(), 0);
  const char* what[] = {"weight", "grad A", "grad B", "grad s"};
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(torch::allclose(got[false][i], got[true][i], 1e-6, 1e-6)) << what[i];
  }
  // grad s = sum over the group of up * (q - z).
  auto q = LrQatCodes(st, 2.0, spec).to(torch::kFloat).reshape({48, 2, 32});
  auto want = (up.reshape({48, 2, 32}) * (q - st.zero.unsqueeze(-1))).sum(-1);
  EXPECT_TRUE(torch::allclose(got[false][3], want, 1e-5, 1e-5));
}

TEST_F(LrQatTest, TrainingBeatsRtnAndOnlySAndTheFactorsMove) {
  auto in = Store(*inputs_);
  auto tgt = Store(*targets_);
  BlockApOptions o = Options();
  Block rtn = FpBlock();
  QuantizeBlockRtn(&rtn, o.spec);

  // The factors' initial values: Prepare draws them first, with the same seed.
  LrQatMethod init(kRank, kAlpha);
  torch::manual_seed(5);
  Block prepared = Prepared(init, o.spec);
  (void)prepared;

  LrQatMethod m(kRank, kAlpha);
  Block b = FpBlock();
  torch::manual_seed(5);
  auto r = TrainBlock(&b, cfg(), *in, *tgt, o, m);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->steps, 60);
  EXPECT_LT(r->val_loss, r->init_val_loss);

  const Block fp = FpBlock();
  auto fpl = fp.Linears();
  auto bl = b.Linears();
  for (size_t i = 0; i < bl.size(); ++i) {
    const std::string& name = bl[i].first;
    const Linear& lin = *bl[i].second;
    EXPECT_EQ(lin.mode, Linear::Mode::kPacked) << name;
    EXPECT_EQ(lin.packed.scales.scalar_type(), torch::kHalf) << name;
    EXPECT_FALSE(lin.weight.defined()) << name;
    const LrQatLinearState* st = m.State(name);
    const LrQatLinearState* st0 = init.State(name);
    ASSERT_TRUE(st != nullptr && st0 != nullptr) << name;
    for (const torch::Tensor* t : {&st->phi, &st->a, &st->b, &st->scale, &st->zero}) {
      EXPECT_FALSE(t->requires_grad()) << name;
    }
    // Frozen: Phi0 and z are bit-identical to the initial ones.
    EXPECT_TRUE(torch::equal(st->phi, st0->phi)) << name;
    EXPECT_TRUE(torch::equal(st->zero, st0->zero)) << name;
    // Trained: s, A (from zero) and B.
    kernels::QuantParams p = kernels::InitMinMax(fpl[i].second->weight, o.spec);
    EXPECT_FALSE(torch::equal(st->scale, p.scale)) << name;
    EXPECT_GT(st->a.abs().max().item<double>(), 0) << name;
    EXPECT_FALSE(torch::equal(st->b, st0->b.detach())) << name;
  }
  // Norms frozen.
  EXPECT_TRUE(torch::equal(b.input_norm, fp.input_norm));
  EXPECT_TRUE(torch::equal(b.post_norm, fp.post_norm));
  EXPECT_FALSE(b.input_norm.requires_grad());

  double mse_rtn = OutputMse(rtn), mse_lr = OutputMse(b);
  std::printf("block %d output MSE: rtn %.6g, lr-qat %.6g (init val %.6g, val %.6g)\n", kBlock,
              mse_rtn, mse_lr, r->init_val_loss, r->val_loss);
  RecordProperty("mse_rtn", std::to_string(mse_rtn));
  RecordProperty("mse_lr_qat", std::to_string(mse_lr));
  EXPECT_LT(mse_lr, 0.9 * mse_rtn);
}

TEST_F(LrQatTest, FoldIntoPackedCodesIsExact) {
  auto in = Store(*inputs_);
  auto tgt = Store(*targets_);
  BlockApOptions o = Options();
  o.epochs = 1;  // 15 steps
  o.weight_lr = 1e-2;  // move A B enough to change codes
  LrQatMethod m(kRank, kAlpha);
  Block b = FpBlock();
  torch::manual_seed(9);
  auto r = TrainBlock(&b, cfg(), *in, *tgt, o, m);
  ASSERT_TRUE(r.ok()) << r.status();

  Block train_form = b.Clone();  // same norms; linears replaced below
  int64_t changed = 0;
  Block rtn = FpBlock();
  QuantizeBlockRtn(&rtn, o.spec);
  auto bl = b.Linears();
  auto tl = train_form.Linears();
  auto rl = rtn.Linears();
  for (size_t i = 0; i < bl.size(); ++i) {
    const std::string& name = bl[i].first;
    const LrQatLinearState* st = m.State(name);
    ASSERT_NE(st, nullptr);
    // The training-form weight of the trained parameters, its scales rounded
    // to fp16 as the packed format stores them.
    auto s16 = st->scale.to(torch::kHalf).to(torch::kFloat);
    auto w = LrQatWeight(*st, s16, m.lora_scale(), o.spec, false);
    EXPECT_TRUE(torch::equal(kernels::DequantizeWeight(bl[i].second->packed), w)) << name;
    EXPECT_TRUE(torch::equal(kernels::UnpackCodes(bl[i].second->packed).q,
                             LrQatCodes(*st, m.lora_scale(), o.spec)))
        << name;
    changed += kernels::UnpackCodes(bl[i].second->packed)
                   .q.ne(kernels::UnpackCodes(rl[i].second->packed).q)
                   .sum()
                   .item<int64_t>();
    Linear& t = *tl[i].second;
    t = Linear();
    t.mode = Linear::Mode::kFloat;
    t.weight = w;
  }
  std::printf("codes moved by the fold of A B: %lld\n", static_cast<long long>(changed));
  EXPECT_GT(changed, 0);  // the low-rank term did reach the codes
  torch::NoGradGuard ng;
  auto x = inputs_->narrow(0, 0, 4);
  EXPECT_TRUE(torch::allclose(BlockForward(b, cfg(), x), BlockForward(train_form, cfg(), x),
                              1e-5, 1e-6));
}

TEST_F(LrQatTest, CheckpointingTrainsTheSameBlock) {
  testing::ThreadCountGuard threads(1);
  auto in = Store(*inputs_);
  auto tgt = Store(*targets_);
  BlockApOptions o = Options();
  o.epochs = 1;
  std::vector<Block> out;
  for (bool ckpt : {false, true}) {
    LrQatMethod m(kRank, kAlpha, ckpt);
    EXPECT_EQ(m.checkpointing(), ckpt);
    Block b = FpBlock();
    torch::manual_seed(4);
    auto r = TrainBlock(&b, cfg(), *in, *tgt, o, m);
    ASSERT_TRUE(r.ok()) << r.status();
    out.push_back(std::move(b));
  }
  auto l0 = out[0].Linears();
  auto l1 = out[1].Linears();
  int64_t diff = 0;
  for (size_t i = 0; i < l0.size(); ++i) {
    diff += kernels::UnpackCodes(l0[i].second->packed)
                .q.ne(kernels::UnpackCodes(l1[i].second->packed).q)
                .sum()
                .item<int64_t>();
    EXPECT_TRUE(torch::allclose(l0[i].second->packed.scales.to(torch::kFloat),
                                l1[i].second->packed.scales.to(torch::kFloat), 1e-3, 1e-6));
  }
  EXPECT_EQ(diff, 0);
}

TEST_F(LrQatTest, TrainsFarFewerParametersThanBlockAp) {
  const kernels::QuantSpec spec{2, -1};
  // Expected counts from the block's own shapes (G = 1 per output channel).
  int64_t ap = 0, lr = 0;
  const Block fp = FpBlock();
  for (const auto& [name, lin] : fp.Linears()) {
    const int64_t out = lin->out_features(), in = lin->in_features();
    ap += out * in + 2 * out;      // W, s, z
    lr += out + kRank * (out + in);  // s, A, B
  }
  ap += fp.input_norm.numel() + fp.post_norm.numel();
  EXPECT_EQ(ap, 46640);  // stories260K: 45312 weights + 2 * 600 (s, z) + 128 (norms)
  EXPECT_EQ(lr, 5224);   // 600 (s) + 4 * 1156 (A, B)

  TrainableCount cap = BlockApTrainableCount(cfg(), spec);
  TrainableCount clr = LrQatTrainableCount(cfg(), spec, kRank);
  EXPECT_EQ(cap.params, ap);
  EXPECT_EQ(clr.params, lr);
  EXPECT_EQ(cap.optimizer_bytes, 8 * ap);
  EXPECT_EQ(clr.optimizer_bytes, 8 * lr);

  // And what the methods actually hand the optimizer.
  auto numel = [](const std::vector<torch::Tensor>& v) {
    int64_t n = 0;
    for (const auto& t : v) {
      EXPECT_TRUE(t.requires_grad());
      n += t.numel();
    }
    return n;
  };
  std::vector<torch::Tensor> q, o;
  Block b1 = FpBlock();
  BlockApMethod().Prepare(&b1, spec, &q, &o);
  EXPECT_EQ(numel(q) + numel(o), ap);
  q.clear();
  o.clear();
  Block b2 = FpBlock();
  LrQatMethod(kRank, kAlpha).Prepare(&b2, spec, &q, &o);
  EXPECT_EQ(numel(q), 600);
  EXPECT_EQ(numel(o), lr - 600);
  const double ratio = static_cast<double>(clr.optimizer_bytes) / cap.optimizer_bytes;
  std::printf("trainable: block-ap %lld, lr-qat %lld (ratio %.4f)\n", static_cast<long long>(ap),
              static_cast<long long>(lr), ratio);
  EXPECT_LT(ratio, 0.5);
}

}  // namespace
}  // namespace eqat
