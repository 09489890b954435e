// y = x W^T for any batch M on GPTQ-layout weights (launcher only).
//
// M <= kGemvMaxM (16): the fused GEMV (gemv.cuh); `scratch` is not touched
// and may be null. Larger M: W is dequantised into `scratch` (fp16
// [out, in], out*in elements, caller-owned; dequant.cuh) and multiplied with
// cublasGemmEx (fp16 operands, fp32 compute, fp16 y), on `stream` (the
// handle's stream is set to it). Shapes and formats as in gemv.cuh; x fp16
// [M, in], y fp16 [M, out], row-major. Returns cudaErrorInvalidValue for bad
// arguments, cudaErrorUnknown when cuBLAS fails, else the launch status.
// Not synchronising. A cublasHandle_t must not be used from two host
// threads at once (cuBLAS rule); otherwise thread-safe.
//
// Available when the toolkit has cuBLAS (CMake target CUDA::cublas, which
// also defines EQAT_HAVE_CUBLAS=1 for eqat_kernels_cuda's users). Without
// it, a caller dequantises with LaunchDequantizeGptq and uses its own GEMM.
#ifndef EQAT_KERNELS_CUDA_DEQUANT_GEMM_CUH_
#define EQAT_KERNELS_CUDA_DEQUANT_GEMM_CUH_

#if defined(EQAT_HAVE_CUBLAS) && EQAT_HAVE_CUBLAS

#include <cstdint>

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace eqat::kernels::cuda {

cudaError_t LaunchDequantGemm(cublasHandle_t handle, const __half* x, const int32_t* qweight,
                              const int32_t* qzeros, const __half* scales, int bits, int group,
                              int64_t m, int64_t in, int64_t out, __half* y, __half* scratch,
                              cudaStream_t stream);

// fp16 y[M, out] = x[M, in] * w[out, in]^T with cublasGemmEx (fp32 compute):
// the cuBLAS half of LaunchDequantGemm, also the benchmark's baseline.
cudaError_t LaunchHalfGemmNT(cublasHandle_t handle, const __half* x, const __half* w, int64_t m,
                             int64_t in, int64_t out, __half* y, cudaStream_t stream);

}  // namespace eqat::kernels::cuda

#endif  // EQAT_HAVE_CUBLAS
#endif  // EQAT_KERNELS_CUDA_DEQUANT_GEMM_CUH_
