// GPTQ: on correlated inputs it must beat RTN on the layer-output error it
// minimises, and the block pipeline must end with every linear packed.
#include "worker/methods/gptq.h"

#include <gtest/gtest.h>

#include "tests/worker/test_util.h"
#include "worker/methods/blockwise.h"
#include "worker/methods/rtn.h"

namespace eqat {
namespace {

TEST(GptqTest, HessianIsRunningMeanOfTwoXXt) {
  HessianAccumulator acc(3);
  auto a = torch::randn({5, 3});
  auto b = torch::randn({7, 3});
  acc.Add(a);
  acc.Add(b.view({1, 7, 3}));
  auto x = torch::cat({a, b});
  auto want = 2.0 * x.t().matmul(x) / 12.0;
  EXPECT_LT((acc.hessian() - want).abs().max().item<float>(), 1e-5);
  EXPECT_EQ(acc.samples(), 12);
}

TEST(GptqTest, BeatsRtnOnOutputErrorAtLowBits) {
  torch::manual_seed(3);
  int64_t in = 128, out = 48;
  // Correlated inputs: a low-rank mixture plus noise.
  auto basis = torch::randn({16, in});
  auto x = torch::randn({2048, 16}).matmul(basis) + 0.1 * torch::randn({2048, in});
  auto w = torch::randn({out, in});
  HessianAccumulator acc(in);
  acc.Add(x);
  for (auto spec : {kernels::QuantSpec{2, 64}, kernels::QuantSpec{3, 128}, kernels::QuantSpec{4, -1}}) {
    auto r = GptqQuantize(w, acc.hessian(), spec, GptqOptions{});
    ASSERT_TRUE(r.ok()) << r.status();
    auto p = kernels::InitMinMax(w, spec);
    auto rtn = kernels::FakeQuantize(w, p.scale, p.zero, spec);
    auto ref = x.matmul(w.t());
    double e_gptq = (x.matmul(r->weight_q.t()) - ref).pow(2).mean().item<double>();
    double e_rtn = (x.matmul(rtn.t()) - ref).pow(2).mean().item<double>();
    EXPECT_LT(e_gptq, 0.8 * e_rtn) << "bits " << spec.bits << " group " << spec.group_size;
    // Result lies on its own quantization grid.
    auto codes = kernels::QuantizeToInt(r->weight_q, r->scale, r->zero, spec);
    auto deq = kernels::DequantizeInt(codes.q, codes.zero, r->scale, kernels::GroupSize(spec, in));
    EXPECT_LT((deq - r->weight_q).abs().max().item<float>(), 1e-5);
  }
}

TEST(GptqTest, DeadInputColumnsAreHandled) {
  int64_t in = 64;
  auto x = torch::randn({256, in});
  x.narrow(1, 5, 3).zero_();
  HessianAccumulator acc(in);
  acc.Add(x);
  auto r = GptqQuantize(torch::randn({8, in}), acc.hessian(), {4, 32}, GptqOptions{});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(torch::isfinite(r->weight_q).all().item<bool>());
}

TEST(BlockwiseTest, GptqPipelinePacksEveryLinearAndReportsMse) {
  auto model = LlamaModel::Load(testing::StoriesDir());
  ASSERT_TRUE(model.ok());
  auto calib = torch::randint(3, 512, {4, 32}, torch::kLong);
  BlockwiseOptions o;
  o.method = QuantMethod::kGptq;
  o.spec = {4, -1};
  std::vector<BlockReport> reports;
  o.on_block_done = [&](const BlockReport& r) { reports.push_back(r); };
  ASSERT_TRUE(QuantizeBlockwise(model->get(), calib, o).ok());
  ASSERT_EQ(reports.size(), 5u);
  for (const auto& r : reports) EXPECT_TRUE(std::isfinite(r.output_mse) && r.output_mse >= 0);
  for (int i = 0; i < (*model)->num_blocks(); ++i) {
    for (auto& [name, lin] : (*model)->block(i).Linears()) {
      EXPECT_EQ(lin->mode, Linear::Mode::kPacked) << name;
    }
  }
  EXPECT_TRUE((*model)->config().quantization.present);
  // A second run on a quantized model is refused.
  EXPECT_EQ(QuantizeBlockwise(model->get(), calib, o).code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace eqat
