// Fused fake quantisation for Block-AP training: forward and straight-through
// backward of kernels::FakeQuantize (kernels/quantizer.h) on the GPU.
//
// W [out, in] fp32 row-major; scale, zero [out, G] fp32, G = in / group
// (group <= 0: one group per row). qmax = 2^bits - 1, per group
//   zr = clamp(round(z), 0, qmax)
//   t  = round(W / s) + zr,  inside = 0 <= t <= qmax,  q = clamp(t, 0, qmax)
//   W^ = (q - zr) * s
// (round = half to even, as torch.round). The gradients are those autograd
// gives for quantizer.cc's graph: round_ste and the clamp of zr pass the
// gradient straight through, the clamp of t zeroes it outside [0, qmax]
// (bounds included, as torch.clamp's backward). With G^ = dL/dW^:
//   dL/dW = G^ * inside
//   dL/ds = sum over the group of G^ * (q - zr - inside * W/s)
//   dL/dz = sum over the group of G^ * s * (inside - 1)
//         = -s * (sum of G^ over the group's elements with t outside [0, qmax])
// dL/dz is the gradient w.r.t. the raw (unrounded) zero point.
// Any of grad_w, grad_scale, grad_zero may be null (not computed); outputs
// are overwritten, not accumulated. bits: 2, 3, 4, 8. Returns
// cudaErrorInvalidValue for bad arguments, else the launch status; does not
// synchronise. Thread-safe.
#ifndef EQAT_KERNELS_CUDA_FAKE_QUANT_CUH_
#define EQAT_KERNELS_CUDA_FAKE_QUANT_CUH_

#include <cstdint>

#include <cuda_runtime.h>

namespace eqat::kernels::cuda {

cudaError_t LaunchFakeQuantForward(const float* w, const float* scale, const float* zero, int bits,
                                   int group, int64_t out, int64_t in, float* w_hat,
                                   cudaStream_t stream);

cudaError_t LaunchFakeQuantBackward(const float* w, const float* scale, const float* zero,
                                    const float* grad_w_hat, int bits, int group, int64_t out,
                                    int64_t in, float* grad_w, float* grad_scale,
                                    float* grad_zero, cudaStream_t stream);

}  // namespace eqat::kernels::cuda

#endif  // EQAT_KERNELS_CUDA_FAKE_QUANT_CUH_
