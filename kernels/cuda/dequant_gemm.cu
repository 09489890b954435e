// Dequant + cuBLAS GEMM for large batches; see dequant_gemm.cuh.
#include "kernels/cuda/dequant_gemm.cuh"

#if defined(EQAT_HAVE_CUBLAS) && EQAT_HAVE_CUBLAS

#include <climits>

#include "kernels/cuda/dequant.cuh"
#include "kernels/cuda/gemv.cuh"

namespace eqat::kernels::cuda {

cudaError_t LaunchHalfGemmNT(cublasHandle_t handle, const __half* x, const __half* w, int64_t m,
                             int64_t in, int64_t out, __half* y, cudaStream_t stream) {
  if (handle == nullptr || x == nullptr || w == nullptr || y == nullptr || m <= 0 || in <= 0 ||
      out <= 0 || m > INT_MAX || in > INT_MAX || out > INT_MAX) {
    return cudaErrorInvalidValue;
  }
  if (cublasSetStream(handle, stream) != CUBLAS_STATUS_SUCCESS) return cudaErrorUnknown;
  // Column-major view: y^T [out, m] = W [out, in] (stored as in x out, op T)
  // times x^T [in, m] (stored as in x m, op N).
  const float alpha = 1.f;
  const float beta = 0.f;
  const cublasStatus_t st = cublasGemmEx(
      handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(out), static_cast<int>(m),
      static_cast<int>(in), &alpha, w, CUDA_R_16F, static_cast<int>(in), x, CUDA_R_16F,
      static_cast<int>(in), &beta, y, CUDA_R_16F, static_cast<int>(out), CUBLAS_COMPUTE_32F,
      CUBLAS_GEMM_DEFAULT);
  return st == CUBLAS_STATUS_SUCCESS ? cudaSuccess : cudaErrorUnknown;
}

cudaError_t LaunchDequantGemm(cublasHandle_t handle, const __half* x, const int32_t* qweight,
                              const int32_t* qzeros, const __half* scales, int bits, int group,
                              int64_t m, int64_t in, int64_t out, __half* y, __half* scratch,
                              cudaStream_t stream) {
  if (m >= 1 && m <= kGemvMaxM && GemvSupports(bits, group, m, in, out)) {
    return LaunchGemvGptq(x, qweight, qzeros, scales, bits, group, m, in, out, y, stream);
  }
  if (m <= 0 || scratch == nullptr || handle == nullptr) return cudaErrorInvalidValue;
  cudaError_t err =
      LaunchDequantizeGptq(qweight, qzeros, scales, bits, group, in, out, scratch, stream);
  if (err != cudaSuccess) return err;
  return LaunchHalfGemmNT(handle, x, scratch, m, in, out, y, stream);
}

}  // namespace eqat::kernels::cuda

#endif  // EQAT_HAVE_CUBLAS
