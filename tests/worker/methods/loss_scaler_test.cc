// Dynamic loss scaling (fp16 Block-AP on CUDA): gradients come back
// unscaled, a step with an inf/NaN gradient is skipped and halves the
// scale, good steps grow it again; disabled, it changes nothing.
#include "worker/methods/loss_scaler.h"

#include <gtest/gtest.h>

#include <limits>

namespace eqat {
namespace {

TEST(LossScalerTest, UnscalesSkipsOnOverflowAndGrows) {
  LossScaler s(true, /*init_scale=*/1024, /*growth_interval=*/2);
  auto w = torch::tensor({1.0f, 2.0f}).requires_grad_(true);
  auto loss = (w * w).sum();
  s.Scale(loss).backward();
  EXPECT_TRUE(torch::allclose(w.grad(), torch::tensor({1024 * 2.0f, 1024 * 4.0f})));
  ASSERT_TRUE(s.Unscale({w}));
  EXPECT_TRUE(torch::allclose(w.grad(), torch::tensor({2.0f, 4.0f})));
  EXPECT_EQ(s.scale(), 1024);

  w.mutable_grad().fill_(std::numeric_limits<float>::infinity());
  EXPECT_FALSE(s.Unscale({w}));
  EXPECT_EQ(s.scale(), 512);
  EXPECT_EQ(s.skipped(), 1);

  w.mutable_grad().fill_(1.0f);
  EXPECT_TRUE(s.Unscale({w}));
  EXPECT_EQ(s.scale(), 512);
  w.mutable_grad().fill_(1.0f);
  EXPECT_TRUE(s.Unscale({w}));
  EXPECT_EQ(s.scale(), 1024);  // two good steps in a row
}

TEST(LossScalerTest, DisabledIsTheIdentity) {
  LossScaler s(false);
  auto w = torch::tensor({3.0f}).requires_grad_(true);
  s.Scale(w * 2).backward();
  EXPECT_TRUE(s.Unscale({w}));
  EXPECT_FLOAT_EQ(w.grad().item<float>(), 2.0f);
  EXPECT_EQ(s.scale(), 1.0);
  w.mutable_grad().fill_(std::numeric_limits<float>::quiet_NaN());
  EXPECT_TRUE(s.Unscale({w}));  // never skips
}

}  // namespace
}  // namespace eqat
