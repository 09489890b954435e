// Shared helpers of the kernels tests.
#ifndef EQAT_TESTS_KERNELS_TEST_UTIL_H_
#define EQAT_TESTS_KERNELS_TEST_UTIL_H_

#include <torch/torch.h>

#include "kernels/packed_linear.h"

namespace eqat::kernels::testing {

// A packed linear of random weights [out, in], min/max quantized.
inline PackedLinear RandomPacked(int bits, int group, int64_t out, int64_t in, uint64_t seed) {
  torch::manual_seed(seed);
  QuantSpec spec{bits, group};
  auto w = torch::randn({out, in});
  QuantParams p = InitMinMax(w, spec);
  IntCodes c = QuantizeToInt(w, p.scale, p.zero, spec);
  return PackLinear(c.q, c.zero, p.scale, spec);
}

}  // namespace eqat::kernels::testing

#endif  // EQAT_TESTS_KERNELS_TEST_UTIL_H_
