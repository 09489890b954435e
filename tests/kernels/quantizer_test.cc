// Quantizer: min/max init, fake-quant forward, STE gradients checked against
// finite differences of the straight-through surrogate.
#include "kernels/quantizer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace eqat::kernels {
namespace {

TEST(QuantizerTest, InitMinMaxMatchesFormula) {
  auto w = torch::tensor({{-1.0f, 0.5f, 2.0f, 0.0f}, {0.25f, 0.5f, 0.75f, 1.0f}});
  QuantParams p = InitMinMax(w, {2, -1});
  EXPECT_NEAR(p.scale[0][0].item<float>(), 3.0f / 3, 1e-6);
  EXPECT_NEAR(p.zero[0][0].item<float>(), std::round(1.0f / 1.0f), 1e-6);
  EXPECT_NEAR(p.scale[1][0].item<float>(), 0.75f / 3, 1e-6);
  EXPECT_NEAR(p.zero[1][0].item<float>(), std::round(-0.25f / 0.25f), 1e-6);
  // Constant group: range 0 -> scale clamped to 1e-4.
  QuantParams c = InitMinMax(torch::ones({1, 32}), {4, 32});
  EXPECT_NEAR(c.scale.item<float>(), 1e-4f, 1e-9);
}

TEST(QuantizerTest, FakeQuantIsIdempotentAndOnGrid) {
  torch::manual_seed(0);
  auto w = torch::randn({16, 128});
  for (int bits : {2, 3, 4, 8}) {
    QuantSpec spec{bits, 64};
    QuantParams p = InitMinMax(w, spec);
    auto wq = FakeQuantize(w, p.scale, p.zero, spec);
    auto wq2 = FakeQuantize(wq, p.scale, p.zero, spec);
    EXPECT_LT((wq - wq2).abs().max().item<float>(), 1e-5) << bits;
    IntCodes c = QuantizeToInt(w, p.scale, p.zero, spec);
    EXPECT_LE(c.q.max().item<int>(), QMax(bits));
    auto deq = DequantizeInt(c.q, c.zero, p.scale, 64);
    EXPECT_LT((deq - wq).abs().max().item<float>(), 1e-5) << bits;
    // Min/max init reproduces each group's extremes within half a step.
    auto err = (wq - w).abs().reshape({16, 2, 64}).amax(-1);
    EXPECT_TRUE((err <= p.scale * 0.5 + 1e-5).all().item<bool>()) << bits;
  }
}

// The STE surrogate: rounding offsets held constant, so the function is
// smooth in (w, s, z) locally and its finite differences are what the STE
// gradients must equal.
torch::Tensor Surrogate(const torch::Tensor& w, const torch::Tensor& s, const torch::Tensor& z,
                        const torch::Tensor& rw, const torch::Tensor& rz, int bits, int64_t g) {
  auto zr = z + rz;
  auto q = (w.reshape({w.size(0), -1, g}) / s.unsqueeze(-1) + rw + zr.unsqueeze(-1))
               .clamp(0, QMax(bits));
  return ((q - zr.unsqueeze(-1)) * s.unsqueeze(-1)).reshape(w.sizes());
}

TEST(QuantizerTest, SteGradientsMatchFiniteDifferences) {
  torch::manual_seed(1);
  const int bits = 3;
  const int64_t g = 32;
  auto w = torch::randn({4, 64}, torch::kDouble);
  QuantParams p0 = InitMinMax(w.to(torch::kFloat), {bits, g});
  // A step 20% below min/max puts some values strictly outside the range
  // (clamped: z gets gradient -s there) and most strictly inside.
  auto s = (p0.scale.to(torch::kDouble) * 0.8).requires_grad_(true);
  auto z = (p0.zero.to(torch::kDouble) + 0.3).requires_grad_(true);  // off-integer z
  auto wv = w.clone().requires_grad_(true);
  // Pre-clamp codes are integers; those exactly at 0 or 2^b-1 sit on the
  // clamp's kink where a central difference is undefined: leave them out.
  torch::Tensor pre;
  {
    torch::NoGradGuard ng;
    pre = ((w.reshape({4, -1, g}) / s.unsqueeze(-1)).round() + z.round().unsqueeze(-1))
              .reshape({4, 64});
  }
  auto coef = torch::randn({4, 64}, torch::kDouble) *
              (pre != 0).logical_and(pre != QMax(bits)).to(torch::kDouble);
  ASSERT_GT((pre < 0).logical_or(pre > QMax(bits)).sum().item<int64_t>(), 0);
  auto loss = (FakeQuantize(wv, s, z, {bits, g}) * coef).sum();
  loss.backward();

  torch::NoGradGuard ng;
  auto rw = (w.reshape({4, -1, g}) / s.unsqueeze(-1)).round() - w.reshape({4, -1, g}) / s.unsqueeze(-1);
  auto rz = z.round() - z;
  // Keep the clamped zero consistent with the forward (clamp_ste).
  auto f = [&](const torch::Tensor& ww, const torch::Tensor& ss, const torch::Tensor& zz) {
    return (Surrogate(ww, ss, zz, rw, rz, bits, g) * coef).sum().item<double>();
  };
  const double eps = 1e-6;
  for (int64_t i = 0; i < 4; ++i) {
    for (int64_t k = 0; k < 2; ++k) {
      auto sp = s.detach().clone(), sm = s.detach().clone();
      sp[i][k] += eps;
      sm[i][k] -= eps;
      double num = (f(w, sp, z.detach()) - f(w, sm, z.detach())) / (2 * eps);
      EXPECT_NEAR(s.grad()[i][k].item<double>(), num, 1e-4 * std::max(1.0, std::abs(num)));
      auto zp = z.detach().clone(), zm = z.detach().clone();
      zp[i][k] += eps;
      zm[i][k] -= eps;
      double numz = (f(w, s.detach(), zp) - f(w, s.detach(), zm)) / (2 * eps);
      EXPECT_NEAR(z.grad()[i][k].item<double>(), numz, 1e-4 * std::max(1.0, std::abs(numz)));
    }
    for (int64_t j : {0, 5, 33, 63}) {
      auto wp = w.clone(), wm = w.clone();
      wp[i][j] += eps;
      wm[i][j] -= eps;
      double num = (f(wp, s.detach(), z.detach()) - f(wm, s.detach(), z.detach())) / (2 * eps);
      EXPECT_NEAR(wv.grad()[i][j].item<double>(), num, 1e-4 * std::max(1.0, std::abs(num)));
    }
  }
  // Gradients are non-trivial (not all zero); z only moves clamped values.
  EXPECT_GT(s.grad().abs().sum().item<double>(), 0);
  EXPECT_GT(z.grad().abs().sum().item<double>(), 0);
  EXPECT_GT(wv.grad().abs().sum().item<double>(), 0);
}

TEST(QuantizerTest, ValidationNamesTheFlag) {
  EXPECT_EQ(ValidateQuantSpec({5, 128}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ValidateQuantSpec({5, 128}).message().find("bits"), std::string::npos);
  EXPECT_NE(ValidateQuantSpec({4, 48}).message().find("group"), std::string::npos);
  auto st = ValidateQuantSpecFor({4, 64}, 172, "model.layers.0.mlp.down_proj");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("down_proj"), std::string::npos);
  EXPECT_TRUE(ValidateQuantSpecFor({4, -1}, 172, "x").ok());
  EXPECT_EQ(NumGroups({4, -1}, 172), 1);
  EXPECT_EQ(NumGroups({4, 64}, 256), 4);
}

}  // namespace
}  // namespace eqat::kernels
