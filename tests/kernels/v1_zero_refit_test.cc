// GPTQ v1 zero-point re-fit: a linear built to have groups with zero point 0
// (some with the top code used, some not) comes out with every zero point
// >= 1, exact where a shift suffices, and close where it must re-scale.
#include "kernels/v1_zero_refit.h"

#include <gtest/gtest.h>

namespace eqat::kernels {
namespace {

// Row r, group g: codes q in [0, hi] with zero point z (0 for the first
// rows), scale 0.01*(1+r).
struct Built {
  PackedLinear p;
  int64_t zero_groups_top = 0;   // z == 0 and the top code used
  int64_t zero_groups_low = 0;   // z == 0, top code unused
};

Built Build(int bits, int64_t out, int64_t in, int group) {
  torch::manual_seed(bits);
  const int qmax = (1 << bits) - 1;
  const int64_t G = in / group;
  auto q = torch::randint(0, qmax + 1, {out, in}, torch::kLong);
  auto zero = torch::randint(1, qmax + 1, {out, G}, torch::kLong);
  Built b;
  for (int64_t r = 0; r < out / 2; ++r) {
    for (int64_t g = 0; g < G; ++g) {
      zero[r][g] = 0;
      if ((r + g) % 2 == 0) {
        q.index_put_({r, torch::indexing::Slice(g * group, (g + 1) * group)},
                     q.index({r, torch::indexing::Slice(g * group, (g + 1) * group)})
                         .clamp_max(qmax - 1));
        ++b.zero_groups_low;
      } else {
        q[r][g * group] = qmax;
        ++b.zero_groups_top;
      }
    }
  }
  auto scale = (torch::arange(out, torch::kFloat).add(1).mul(0.01f)).unsqueeze(1).expand({out, G});
  b.p = PackLinear(q.to(torch::kUInt8), zero.to(torch::kUInt8), scale.contiguous(),
                   QuantSpec{bits, group});
  return b;
}

TEST(V1ZeroRefit, EveryZeroPointBecomesAtLeastOne) {
  for (int bits : {2, 3, 4, 8}) {
    Built b = Build(bits, 16, 128, 32);
    PackedLinear p = b.p;
    auto before = DequantizeWeight(p);
    V1Refit r = RefitZeroPointsForV1(&p);
    EXPECT_EQ(r.shifted, b.zero_groups_low) << bits;
    EXPECT_EQ(r.rescaled, b.zero_groups_top) << bits;
    UnpackedCodes c = UnpackCodes(p);
    EXPECT_GE(c.zero.min().item<int>(), 1) << bits;
    // Stored v1 values are z - 1 in [0, 2^b - 2]: never the all-ones field
    // that loaders decode differently.
    auto v1 = QZerosFromV1(QZerosToV1(p), bits, p.num_groups(), p.out_features);
    EXPECT_TRUE(torch::equal(v1, p.qzeros));
    auto after = DequantizeWeight(p);
    // Rows with no zero-0 group are untouched, bit for bit.
    EXPECT_TRUE(torch::equal(after.narrow(0, 8, 8), before.narrow(0, 8, 8)));
    // Shift-only groups are exact; re-scaled ones move by less than a step.
    const int64_t G = p.num_groups();
    for (int64_t row = 0; row < 8; ++row) {
      for (int64_t g = 0; g < G; ++g) {
        auto a = after[row].narrow(0, g * 32, 32);
        auto w = before[row].narrow(0, g * 32, 32);
        float step = 0.01f * (1 + row);
        if ((row + g) % 2 == 0) {
          EXPECT_TRUE(torch::equal(a, w)) << bits << " row " << row << " group " << g;
        } else {
          EXPECT_LT((a - w).abs().max().item<float>(), step * 1.01f) << bits;
        }
      }
    }
    EXPECT_GT(r.squared_error, 0.0);
  }
}

TEST(V1ZeroRefit, BeatsClippingTheTopCode) {
  // The naive fix (keep the scale, clip the top code by one step) is one of
  // the candidates; the chosen scale must do at least as well.
  Built b = Build(2, 8, 64, 32);
  PackedLinear p = b.p;
  auto w = DequantizeWeight(p);
  V1Refit r = RefitZeroPointsForV1(&p);
  UnpackedCodes c0 = UnpackCodes(b.p);
  double clip_err = 0;
  for (int64_t row = 0; row < 4; ++row) {
    for (int64_t g = 0; g < 2; ++g) {
      if ((row + g) % 2 == 0) continue;
      auto q = c0.q[row].narrow(0, g * 32, 32).to(torch::kFloat);
      float s = b.p.scales[g][row].item<float>();
      auto clipped = (q.clamp_max(2) * s);
      clip_err += (clipped - w[row].narrow(0, g * 32, 32)).square().sum().item<double>();
    }
  }
  EXPECT_LE(r.squared_error, clip_err * (1 + 1e-6));
}

TEST(V1ZeroRefit, NoZeroGroupsNoChange) {
  Built b = Build(4, 4, 64, 32);
  PackedLinear p = b.p;
  // Only rows >= 2 have no zero-0 group: take those.
  p = PackLinear(UnpackCodes(b.p).q.narrow(0, 2, 2), UnpackCodes(b.p).zero.narrow(0, 2, 2),
                 b.p.scales.to(torch::kFloat).t().narrow(0, 2, 2), QuantSpec{4, 32});
  PackedLinear before = p;
  V1Refit r = RefitZeroPointsForV1(&p);
  EXPECT_EQ(r.groups(), 0);
  EXPECT_TRUE(torch::equal(p.qweight, before.qweight));
  EXPECT_TRUE(torch::equal(p.qzeros, before.qzeros));
}

}  // namespace
}  // namespace eqat::kernels
