// Packed GPTQ-layout linear: pack/unpack round trips, vectorised unpack vs the
// reference, dequant + matmul, v1 zero-point conversion, validation.
#include "kernels/packed_linear.h"

#include <gtest/gtest.h>

#include "kernels/pack.h"

namespace eqat::kernels {
namespace {

struct Case {
  int bits;
  int group;
  int64_t out, in;
};

class PackedLinearTest : public ::testing::TestWithParam<Case> {};

TEST_P(PackedLinearTest, RoundTripAndDequant) {
  Case c = GetParam();
  torch::manual_seed(c.bits * 7 + c.out);
  QuantSpec spec{c.bits, c.group};
  auto w = torch::randn({c.out, c.in});
  QuantParams p = InitMinMax(w, spec);
  auto s16 = p.scale.to(torch::kHalf).to(torch::kFloat);
  IntCodes codes = QuantizeToInt(w, s16, p.zero, spec);
  PackedLinear pl = PackLinear(codes.q, codes.zero, s16, spec);
  ASSERT_TRUE(ValidatePacked(pl, "t").ok()) << ValidatePacked(pl, "t");
  EXPECT_EQ(pl.qweight.size(0), PackedLength(c.in, c.bits));
  EXPECT_EQ(pl.qzeros.size(1), PackedLength(c.out, c.bits));

  UnpackedCodes back = UnpackCodes(pl);
  EXPECT_TRUE(torch::equal(back.q, codes.q));
  EXPECT_TRUE(torch::equal(back.zero, codes.zero));
  // Vectorised unpack (hot path) equals the reference unpack.
  EXPECT_TRUE(torch::equal(UnpackQWeight(pl).to(torch::kUInt8), codes.q));
  EXPECT_TRUE(torch::equal(UnpackQZeros(pl).t().to(torch::kUInt8), codes.zero));

  auto want = DequantizeInt(codes.q, codes.zero, s16, GroupSize(spec, c.in));
  EXPECT_LT((DequantizeWeight(pl) - want).abs().max().item<float>(), 1e-6);
  auto x = torch::randn({3, c.in});
  EXPECT_LT((DequantMatmul(x, pl) - torch::matmul(x, want.t())).abs().max().item<float>(), 1e-4);

  // v1 zero points: stored zero-1, read back to the same values.
  auto v1 = QZerosToV1(pl);
  EXPECT_TRUE(torch::equal(QZerosFromV1(v1, c.bits, pl.num_groups(), c.out), pl.qzeros));
}

INSTANTIATE_TEST_SUITE_P(Shapes, PackedLinearTest,
                         ::testing::Values(Case{4, 128, 64, 256}, Case{3, 128, 96, 256},
                                           Case{2, 64, 33, 128}, Case{8, 32, 17, 64},
                                           Case{3, -1, 172, 64}, Case{4, -1, 64, 172},
                                           Case{2, 32, 7, 96}));

TEST(PackedLinearValidation, NamesTheBadTensor) {
  QuantSpec spec{4, 32};
  auto w = torch::randn({8, 64});
  QuantParams p = InitMinMax(w, spec);
  IntCodes codes = QuantizeToInt(w, p.scale, p.zero, spec);
  PackedLinear pl = PackLinear(codes.q, codes.zero, p.scale, spec);
  PackedLinear bad = pl;
  bad.qweight = pl.qweight.narrow(0, 0, 3);
  auto st = ValidatePacked(bad, "layer");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("qweight"), std::string::npos);
  bad = pl;
  bad.g_idx = torch::zeros({64}, torch::kInt);
  EXPECT_NE(ValidatePacked(bad, "layer").message().find("g_idx"), std::string::npos);
  bad = pl;
  bad.scales = torch::ones({2, 8}, torch::kInt);
  EXPECT_NE(ValidatePacked(bad, "layer").message().find("scales"), std::string::npos);
}

}  // namespace
}  // namespace eqat::kernels
