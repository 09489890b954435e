// compressed-tensors pack-quantized layout: the dense bitstream on a
// hand-built row, round trips for every bit width, and shape checks.
#include "kernels/compressed_tensors_layout.h"

#include <gtest/gtest.h>

#include "tests/kernels/test_util.h"

namespace eqat::kernels {
namespace {

using testing::RandomPacked;

TEST(CompressedTensorsLayout, PacksCodesAlongInFeatures) {
  // One output row whose 4-bit codes are 1,2,...,8 (then 0): word 0 holds
  // value k at bits 4k, i.e. 0x87654321.
  const int64_t in = 32;
  auto q = torch::zeros({1, in}, torch::kUInt8);
  for (int k = 0; k < 8; ++k) q[0][k] = k + 1;
  auto zero = torch::full({1, 1}, 8, torch::kUInt8);
  auto scale = torch::full({1, 1}, 0.5f);
  PackedLinear p = PackLinear(q, zero, scale, QuantSpec{4, 32});
  CompressedTensors t = ToCompressedTensors(p, torch::kBFloat16);
  ASSERT_EQ(t.weight_packed.sizes(), torch::IntArrayRef({1, 4}));
  EXPECT_EQ(static_cast<uint32_t>(t.weight_packed[0][0].item<int32_t>()), 0x87654321u);
  EXPECT_EQ(t.weight_packed[0][1].item<int32_t>(), 0);
  ASSERT_EQ(t.weight_zero_point.sizes(), torch::IntArrayRef({1, 1}));
  EXPECT_EQ(t.weight_zero_point[0][0].item<int32_t>(), 8);
  EXPECT_EQ(t.weight_scale.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(t.weight_shape[0].item<int64_t>(), 1);
  EXPECT_EQ(t.weight_shape[1].item<int64_t>(), in);
}

TEST(CompressedTensorsLayout, RoundTripsEveryBitWidth) {
  for (int bits : {2, 3, 4, 8}) {
    for (int group : {32, -1}) {
      PackedLinear p = RandomPacked(bits, group, 40, 128, bits * 11 + (group > 0));
      CompressedTensors t = ToCompressedTensors(p, torch::kHalf);
      EXPECT_EQ(t.weight_packed.sizes(), torch::IntArrayRef({40, (128 * bits + 31) / 32}));
      EXPECT_EQ(t.weight_zero_point.sizes(),
                torch::IntArrayRef({(40 * bits + 31) / 32, p.num_groups()}));
      absl::StatusOr<PackedLinear> back = FromCompressedTensors(t, bits, group, 128, 40, "x");
      ASSERT_TRUE(back.ok()) << back.status();
      EXPECT_TRUE(torch::equal(back->qweight, p.qweight)) << bits;
      EXPECT_TRUE(torch::equal(back->qzeros, p.qzeros)) << bits;
      EXPECT_TRUE(torch::equal(DequantizeWeight(*back), DequantizeWeight(p))) << bits;
    }
  }
}

TEST(CompressedTensorsLayout, NamesTheBadTensor) {
  PackedLinear p = RandomPacked(3, 32, 16, 64, 5);
  CompressedTensors t = ToCompressedTensors(p, torch::kFloat);
  t.weight_shape = torch::tensor({16, 32}, torch::kLong);
  absl::StatusOr<PackedLinear> bad = FromCompressedTensors(t, 3, 32, 64, 16, "lin");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("lin.weight_shape"), std::string::npos);
  t = ToCompressedTensors(p, torch::kFloat);
  t.weight_packed = t.weight_packed.to(torch::kLong);
  bad = FromCompressedTensors(t, 3, 32, 64, 16, "lin");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("lin.weight_packed"), std::string::npos);
}

}  // namespace
}  // namespace eqat::kernels
