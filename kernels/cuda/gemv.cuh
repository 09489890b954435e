// Fused dequant + GEMV / small-batch GEMM on GPTQ-layout weights (launchers).
//
//   y[M, out] = x[M, in] * W^T,  W[o][k] = (q[k][o] - z[g][o]) * s[g][o]
// with the tensors of kernels/packed_linear.h (device pointers; qweight int32
// [PackedLength(in,bits), out], qzeros int32 [G, PackedLength(out,bits)],
// scales fp16 [G, out], zero points stored as is), x fp16 [M, in] row-major
// (contiguous), y fp16 [M, out]. No bias. Accumulation is fp32; the result is
// rounded once to fp16.
//
// Each packed word is read from device memory once: a thread block owns a
// tile of 128 output columns (32 when out % 4 != 0), each thread 4 adjacent
// columns read with 128-bit loads of qweight rows, and the block's 8 warps
// walk `in` in units of 32 values (`bits` words per column; the 3-bit
// straddles are handled by the generic bitstream read). On sm_90 the `in`
// axis is further split over the blocks of a thread-block cluster (up to 8)
// whose partial sums are reduced through distributed shared memory, so one
// launch fills the GPU without a workspace or atomics, and the result is
// deterministic (fixed summation order for a given split).
//
// Limits: 1 <= M <= 16 (else cudaErrorInvalidValue: use LaunchDequantGemm,
// kernels/cuda/dequant_gemm.cuh, for larger M); bits 2/3/4/8; group a
// multiple of 32 dividing `in`, or <= 0 / == in (one group per channel; `in`
// then need not be a multiple of 32). Returns cudaErrorInvalidValue for bad
// arguments, else the launch status; does not synchronise. Thread-safe.
#ifndef EQAT_KERNELS_CUDA_GEMV_CUH_
#define EQAT_KERNELS_CUDA_GEMV_CUH_

#include <cstdint>

#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace eqat::kernels::cuda {

inline constexpr int kGemvMaxM = 16;

// k_splits: 0 picks the split of `in` across a cluster automatically (about
// two blocks per SM); 1 forces one block per column tile (no cluster); n > 1
// asks for n (clamped to 8 and to the work available; 1 where the device or
// the build lacks cluster launch).
cudaError_t LaunchGemvGptq(const __half* x, const int32_t* qweight, const int32_t* qzeros,
                           const __half* scales, int bits, int group, int64_t m, int64_t in,
                           int64_t out, __half* y, cudaStream_t stream, int k_splits = 0);

// True when the GEMV can take this (bits, group, m, in, out) at all.
bool GemvSupports(int bits, int group, int64_t m, int64_t in, int64_t out);

}  // namespace eqat::kernels::cuda

#endif  // EQAT_KERNELS_CUDA_GEMV_CUH_
