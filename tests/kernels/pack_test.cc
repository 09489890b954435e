// Bit packing: GPTQ layouts for 2/3/4/8 bits, odd lengths, exact bit positions.
#include "kernels/pack.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace eqat::kernels {
namespace {

std::vector<uint8_t> RandomCodes(int64_t n, int bits, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& x : v) x = static_cast<uint8_t>(rng() & ((1u << bits) - 1));
  return v;
}

TEST(PackTest, PackedLengthIsCeilOfBits) {
  EXPECT_EQ(PackedLength(64, 4), 8);
  EXPECT_EQ(PackedLength(128, 3), 12);  // 32 values in 3 words
  EXPECT_EQ(PackedLength(172, 4), 22);  // 21.5 words -> padded
  EXPECT_EQ(PackedLength(172, 3), 17);
  EXPECT_EQ(PackedLength(1, 2), 1);
}

TEST(PackTest, FourBitValueJAtBits4J) {
  std::vector<uint8_t> q = {1, 2, 3, 4, 5, 6, 7, 8};
  int32_t w = 0;
  PackRows(q.data(), 8, 1, 4, &w);
  EXPECT_EQ(static_cast<uint32_t>(w), 0x87654321u);
}

TEST(PackTest, TwoBitAndEightBitLayouts) {
  std::vector<uint8_t> q8 = {0x11, 0x22, 0x33, 0xF4};
  int32_t w8 = 0;
  PackRows(q8.data(), 4, 1, 8, &w8);
  EXPECT_EQ(static_cast<uint32_t>(w8), 0xF4332211u);
  std::vector<uint8_t> q2(16, 0);
  q2[0] = 3;
  q2[15] = 2;
  int32_t w2 = 0;
  PackRows(q2.data(), 16, 1, 2, &w2);
  EXPECT_EQ(static_cast<uint32_t>(w2), 0x80000003u);
}

TEST(PackTest, ThreeBitStandardGptqLayout) {
  // Value 10 straddles words 0/1 (2 low bits in word 0 bits 30-31, high bit
  // in word 1 bit 0); value 21 straddles words 1/2 (low bit at word 1 bit 31).
  std::vector<uint8_t> q(32, 0);
  q[10] = 0b101;
  q[21] = 0b011;
  q[31] = 0b111;
  int32_t w[3] = {0, 0, 0};
  PackRows(q.data(), 32, 1, 3, w);
  EXPECT_EQ(static_cast<uint32_t>(w[0]), 0b01u << 30);
  EXPECT_EQ(static_cast<uint32_t>(w[1]), (1u << 0) | (1u << 31));
  EXPECT_EQ(static_cast<uint32_t>(w[2]), (0b01u << 0) | (0b111u << 29));
}

class PackRoundTrip : public ::testing::TestWithParam<std::tuple<int, int64_t, int64_t>> {};

TEST_P(PackRoundTrip, RowsAndColsRoundTripExactly) {
  auto [bits, n, cols] = GetParam();
  auto q = RandomCodes(n * cols, bits, static_cast<uint32_t>(bits * 1000 + n));
  std::vector<int32_t> packed(PackedLength(n, bits) * cols, -1);
  PackRows(q.data(), n, cols, bits, packed.data());
  std::vector<uint8_t> back(n * cols, 0xFF);
  UnpackRows(packed.data(), n, cols, bits, back.data());
  EXPECT_EQ(back, q);

  std::vector<int32_t> packed_c(cols * PackedLength(n, bits), -1);
  PackCols(q.data(), cols, n, bits, packed_c.data());
  std::vector<uint8_t> back_c(n * cols, 0xFF);
  UnpackCols(packed_c.data(), cols, n, bits, back_c.data());
  EXPECT_EQ(back_c, q);
}

INSTANTIATE_TEST_SUITE_P(AllBitsOddShapes, PackRoundTrip,
                         ::testing::Combine(::testing::Values(2, 3, 4, 8),
                                            ::testing::Values<int64_t>(1, 7, 32, 33, 172, 256),
                                            ::testing::Values<int64_t>(1, 5, 64)));

}  // namespace
}  // namespace eqat::kernels
