// AWQ gemm layout: the interleaved nibble order on a hand-built word, round
// trips through eqat's GPTQ layout, and the limits it refuses.
#include "kernels/awq_layout.h"

#include <gtest/gtest.h>

#include "tests/kernels/test_util.h"

namespace eqat::kernels {
namespace {

using testing::RandomPacked;

TEST(AwqLayout, NibbleOrderIsInterleaved) {
  // Row of eight codes equal to their column index: nibble i must hold column
  // kAwqOrder[i] = 0,2,4,6,1,3,5,7, i.e. the word 0x75316420.
  auto codes = torch::arange(8, torch::kLong).to(torch::kUInt8).reshape({1, 8});
  auto packed = PackAwqInt4(codes);
  ASSERT_EQ(packed.sizes(), torch::IntArrayRef({1, 1}));
  EXPECT_EQ(static_cast<uint32_t>(packed[0][0].item<int32_t>()), 0x75316420u);
  EXPECT_TRUE(torch::equal(UnpackAwqInt4(packed, 8), codes));
  // The top nibble set gives a negative int32 with the same bits.
  auto high = torch::full({1, 8}, 15, torch::kUInt8);
  EXPECT_EQ(static_cast<uint32_t>(PackAwqInt4(high)[0][0].item<int32_t>()), 0xFFFFFFFFu);
}

TEST(AwqLayout, RoundTripKeepsCodesZerosAndScales) {
  for (int group : {32, 128, -1}) {
    PackedLinear p = RandomPacked(4, group, 48, 256, 3 + group);
    AwqTensors t = ToAwq(p);
    const int64_t G = p.num_groups();
    EXPECT_EQ(t.qweight.sizes(), torch::IntArrayRef({256, 6}));
    EXPECT_EQ(t.qzeros.sizes(), torch::IntArrayRef({G, 6}));
    EXPECT_EQ(t.scales.sizes(), torch::IntArrayRef({G, 48}));
    EXPECT_EQ(t.scales.scalar_type(), torch::kHalf);
    absl::StatusOr<PackedLinear> back = FromAwq(t, group, 256, 48, "x");
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(torch::equal(back->qweight, p.qweight));
    EXPECT_TRUE(torch::equal(back->qzeros, p.qzeros));
    EXPECT_TRUE(torch::equal(DequantizeWeight(*back), DequantizeWeight(p)));
    // Column j of the unpacked AWQ codes is output feature j.
    UnpackedCodes c = UnpackCodes(p);
    EXPECT_TRUE(torch::equal(UnpackAwqInt4(t.qweight, 48), c.q.t().contiguous()));
  }
}

TEST(AwqLayout, RefusesWhatItCannotHold) {
  absl::Status st = CheckAwqFits(2, 64, "model.layers.0.mlp.up_proj");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("model.layers.0.mlp.up_proj"), std::string::npos);
  EXPECT_NE(st.message().find("4-bit"), std::string::npos);
  EXPECT_FALSE(CheckAwqFits(4, 20, "x").ok());
  PackedLinear p = RandomPacked(4, 32, 16, 64, 1);
  AwqTensors t = ToAwq(p);
  t.qzeros = t.qzeros.narrow(0, 0, 1);
  absl::StatusOr<PackedLinear> bad = FromAwq(t, 32, 64, 16, "lin");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("lin.qzeros"), std::string::npos);
}

}  // namespace
}  // namespace eqat::kernels
