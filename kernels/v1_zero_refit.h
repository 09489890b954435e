// Makes a packed linear safe to store with GPTQ v1 zero points.
//
// v1 stores (z - 1) in b bits, so a group whose zero point is 0 would be
// stored as 2^b - 1, which loaders decode three different ways (masked, +1
// without mask giving 2^b, or a whole-word add that carries into the next
// field). RefitZeroPointsForV1 re-fits every such group to z = 1:
//  - if no code of the group is 2^b - 1, its codes shift up by one with the
//    same scale (exact: (q+1) - 1 = q);
//  - otherwise the group's dequantised values s*q are re-quantised on the
//    grid s'*(q' - 1), q' in [0, 2^b - 1], for the fp16 scale s' in
//    [s, s*(2^b-1)/(2^b-2)] with the least squared error (21 candidates).
// Afterwards every zero point is >= 1. Scales come back float16.
// Thread-safe: pure function of its argument.
#ifndef EQAT_KERNELS_V1_ZERO_REFIT_H_
#define EQAT_KERNELS_V1_ZERO_REFIT_H_

#include <cstdint>

#include "kernels/packed_linear.h"

namespace eqat::kernels {

struct V1Refit {
  int64_t shifted = 0;    // groups whose codes shifted up, exactly
  int64_t rescaled = 0;   // groups re-quantised with a new scale
  double squared_error = 0;  // sum over rescaled groups of ||W' - W||^2
  int64_t groups() const { return shifted + rescaled; }
};

V1Refit RefitZeroPointsForV1(PackedLinear* p);

}  // namespace eqat::kernels

#endif  // EQAT_KERNELS_V1_ZERO_REFIT_H_
