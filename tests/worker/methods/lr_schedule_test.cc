// The E2E-QP schedule is transformers' cosine-with-warmup (official recipe):
// 0 at step 0, linear to lr at the end of the warm-up, cosine to 0 at the
// last step; Block-AP's cosine ends at its floor.
#include "worker/methods/lr_schedule.h"

#include <gtest/gtest.h>

namespace eqat {
namespace {

TEST(LrScheduleTest, WarmupStartsAtZeroAndCosineEndsAtZero) {
  // 128 steps (4096 windows / 32 per step), 3% warm-up: ceil(3.84) = 4 steps.
  const int64_t total = 128, warmup = 4;
  EXPECT_EQ(WarmupCosineLr(2e-5, 0, warmup, total), 0.0);
  EXPECT_DOUBLE_EQ(WarmupCosineLr(2e-5, 1, warmup, total), 0.5e-5);
  EXPECT_DOUBLE_EQ(WarmupCosineLr(2e-5, 3, warmup, total), 1.5e-5);
  EXPECT_DOUBLE_EQ(WarmupCosineLr(2e-5, 4, warmup, total), 2e-5);  // peak, cosine starts
  EXPECT_NEAR(WarmupCosineLr(2e-5, 66, warmup, total), 1e-5, 1e-12);  // halfway through cosine
  EXPECT_NEAR(WarmupCosineLr(2e-5, total, warmup, total), 0.0, 1e-20);
  for (int64_t s = warmup; s < total; ++s) {
    EXPECT_GE(WarmupCosineLr(2e-5, s, warmup, total), WarmupCosineLr(2e-5, s + 1, warmup, total));
  }
}

TEST(LrScheduleTest, BlockApCosineEndsAtTheFloorAndLambdaAnneals) {
  EXPECT_DOUBLE_EQ(CosineLr(1e-4, 5e-6, 0, 100), 1e-4);
  EXPECT_DOUBLE_EQ(CosineLr(1e-4, 5e-6, 100, 100), 5e-6);
  EXPECT_DOUBLE_EQ(AnnealedLambda(0, 100, 0.5), 1.0);
  EXPECT_DOUBLE_EQ(AnnealedLambda(25, 100, 0.5), 0.5);
  EXPECT_DOUBLE_EQ(AnnealedLambda(50, 100, 0.5), 0.0);
  EXPECT_DOUBLE_EQ(AnnealedLambda(0, 100, 0.0), 0.0);
}

}  // namespace
}  // namespace eqat
