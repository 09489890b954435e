// GPTQ-layout dequantisation to fp16 / bf16 W[out][in]; see dequant.cuh.
//
// One thread per (output column o, unit of 32 input values): it reads the
// unit's `bits` words of column o (consecutive threads take consecutive o, so
// every qweight row is read coalesced, each word once), and writes the 32
// outputs W[o][32u .. 32u+31] as four 16-byte stores (64 contiguous bytes:
// two full sectors per thread).
#include "kernels/cuda/dequant.cuh"

#include <algorithm>

#include "kernels/cuda/gptq_bits.cuh"

namespace eqat::kernels::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__device__ __forceinline__ uint32_t PackPair(float lo, float hi);

template <>
__device__ __forceinline__ uint32_t PackPair<__half>(float lo, float hi) {
  __half2 h = __floats2half2_rn(lo, hi);  // .x (low 16 bits) = lo
  return *reinterpret_cast<uint32_t*>(&h);
}

template <>
__device__ __forceinline__ uint32_t PackPair<__nv_bfloat16>(float lo, float hi) {
  __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&h);
}

template <typename T>
__device__ __forceinline__ T FromFloat(float v);
template <>
__device__ __forceinline__ __half FromFloat<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 FromFloat<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

template <int BITS, typename OutT>
__global__ void __launch_bounds__(kThreads)
    DequantKernel(const uint32_t* __restrict__ qweight, const uint32_t* __restrict__ qzeros,
                  const __half* __restrict__ scales, int64_t group, int64_t K, int64_t N,
                  OutT* __restrict__ w, bool vec_store) {
  const int64_t units = (K + 31) / 32;
  const int64_t rows = PackedWords(K, BITS);
  const int64_t zlen = PackedWords(N, BITS);
  const int64_t total = units * N;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += stride) {
    const int64_t u = idx / N;
    const int64_t o = idx - u * N;
    uint32_t words[BITS];
#pragma unroll
    for (int b = 0; b < BITS; ++b) {
      const int64_t r = u * BITS + b;
      words[b] = r < rows ? __ldg(qweight + r * N + o) : 0u;
    }
    const int64_t k0 = u * 32;
    const int n = static_cast<int>(K - k0 < 32 ? K - k0 : 32);
    const int64_t g0 = k0 / group;
    const int64_t g1 = (k0 + n - 1) / group;
    float vals[32];
    if (g0 == g1) {
      const float z = static_cast<float>(ReadPacked(qzeros + g0 * zlen, o, BITS));
      const float s = __half2float(scales[g0 * N + o]);
#pragma unroll
      for (int j = 0; j < 32; ++j) {
        vals[j] = (static_cast<float>(UnitValue<BITS>(words, j)) - z) * s;
      }
    } else {  // a unit spanning groups: only for groups that are not multiples of 32
#pragma unroll
      for (int j = 0; j < 32; ++j) {
        const int64_t g = (k0 + j < K ? k0 + j : K - 1) / group;
        const float z = static_cast<float>(ReadPacked(qzeros + g * zlen, o, BITS));
        const float s = __half2float(scales[g * N + o]);
        vals[j] = (static_cast<float>(UnitValue<BITS>(words, j)) - z) * s;
      }
    }
    OutT* dst = w + o * K + k0;
    if (vec_store && n == 32) {
      uint4* d4 = reinterpret_cast<uint4*>(dst);
#pragma unroll
      for (int v = 0; v < 4; ++v) {
        uint4 p;
        p.x = PackPair<OutT>(vals[8 * v + 0], vals[8 * v + 1]);
        p.y = PackPair<OutT>(vals[8 * v + 2], vals[8 * v + 3]);
        p.z = PackPair<OutT>(vals[8 * v + 4], vals[8 * v + 5]);
        p.w = PackPair<OutT>(vals[8 * v + 6], vals[8 * v + 7]);
        d4[v] = p;
      }
    } else {
#pragma unroll
      for (int j = 0; j < 32; ++j) {
        if (j < n) dst[j] = FromFloat<OutT>(vals[j]);
      }
    }
  }
}

template <typename OutT>
cudaError_t Launch(const int32_t* qweight, const int32_t* qzeros, const __half* scales, int bits,
                   int group, int64_t in, int64_t out, OutT* w, cudaStream_t stream) {
  if (!IsSupportedGptqBits(bits) || in <= 0 || out <= 0 || qweight == nullptr ||
      qzeros == nullptr || scales == nullptr || w == nullptr) {
    return cudaErrorInvalidValue;
  }
  const int64_t g = group > 0 ? group : in;
  if (in % g != 0) return cudaErrorInvalidValue;
  const int64_t total = (in + 31) / 32 * out;
  const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, int64_t{1} << 20);
  const bool vec_store = in % 8 == 0 && reinterpret_cast<uintptr_t>(w) % 16 == 0;
  const auto* qw = reinterpret_cast<const uint32_t*>(qweight);
  const auto* qz = reinterpret_cast<const uint32_t*>(qzeros);
  const dim3 grid(static_cast<unsigned>(blocks));
  switch (bits) {
    case 2:
      DequantKernel<2, OutT><<<grid, kThreads, 0, stream>>>(qw, qz, scales, g, in, out, w, vec_store);
      break;
    case 3:
      DequantKernel<3, OutT><<<grid, kThreads, 0, stream>>>(qw, qz, scales, g, in, out, w, vec_store);
      break;
    case 4:
      DequantKernel<4, OutT><<<grid, kThreads, 0, stream>>>(qw, qz, scales, g, in, out, w, vec_store);
      break;
    default:
      DequantKernel<8, OutT><<<grid, kThreads, 0, stream>>>(qw, qz, scales, g, in, out, w, vec_store);
      break;
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchDequantizeGptq(const int32_t* qweight, const int32_t* qzeros,
                                 const __half* scales, int bits, int group, int64_t in,
                                 int64_t out, __half* w, cudaStream_t stream) {
  return Launch<__half>(qweight, qzeros, scales, bits, group, in, out, w, stream);
}

cudaError_t LaunchDequantizeGptqBf16(const int32_t* qweight, const int32_t* qzeros,
                                     const __half* scales, int bits, int group, int64_t in,
                                     int64_t out, __nv_bfloat16* w, cudaStream_t stream) {
  return Launch<__nv_bfloat16>(qweight, qzeros, scales, bits, group, in, out, w, stream);
}

}  // namespace eqat::kernels::cuda
