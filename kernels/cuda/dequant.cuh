// Dequantise a GPTQ-layout packed linear layer on the GPU (launchers only).
//
// Inputs (device pointers, the layout of kernels/packed_linear.h, zero points
// stored as is, "v2"):
//   qweight int32 [PackedLength(in, bits), out]   in_features packed
//   qzeros  int32 [G, PackedLength(out, bits)]    out_features packed
//   scales  fp16  [G, out]
// Output W [out, in] row-major (the nn.Linear layout):
//   W[o][k] = (q[k][o] - z[g][o]) * s[g][o],  g = k / group,
// computed in fp32 and rounded once to the output type, so it equals the CPU
// reference kernels::DequantizeWeight rounded to fp16/bf16 bit for bit.
// bits: 2, 3, 4 or 8. group: any positive divisor of `in`, or <= 0 (-1) for
// one group per output channel (group = in). Launchers return
// cudaErrorInvalidValue for bad arguments, else the launch status; they do
// not synchronise. Thread-safe (no state).
#ifndef EQAT_KERNELS_CUDA_DEQUANT_CUH_
#define EQAT_KERNELS_CUDA_DEQUANT_CUH_

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace eqat::kernels::cuda {

cudaError_t LaunchDequantizeGptq(const int32_t* qweight, const int32_t* qzeros,
                                 const __half* scales, int bits, int group, int64_t in,
                                 int64_t out, __half* w, cudaStream_t stream);

cudaError_t LaunchDequantizeGptqBf16(const int32_t* qweight, const int32_t* qzeros,
                                     const __half* scales, int bits, int group, int64_t in,
                                     int64_t out, __nv_bfloat16* w, cudaStream_t stream);

}  // namespace eqat::kernels::cuda

#endif  // EQAT_KERNELS_CUDA_DEQUANT_CUH_
