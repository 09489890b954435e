// Fake-quant forward / STE backward; see fake_quant.cuh for the formulas.
// Forward: elementwise, grid-stride. Backward: one warp per (row, group),
// lanes striding the group's contiguous elements, warp-shuffle sums for the
// per-group gradients (no atomics: deterministic).
#include "kernels/cuda/fake_quant.cuh"

#include <algorithm>

#include "kernels/cuda/gptq_bits.cuh"

namespace eqat::kernels::cuda {
namespace {

constexpr int kThreads = 256;

struct Elem {
  float ws;      // W / s
  float q;       // clamped code
  bool inside;   // 0 <= round(W/s) + zr <= qmax
};

__device__ __forceinline__ float RoundedZero(float z, float qmax) {
  return fminf(fmaxf(rintf(z), 0.f), qmax);
}

__device__ __forceinline__ Elem Quantize(float w, float s, float zr, float qmax) {
  Elem e;
  e.ws = __fdiv_rn(w, s);  // IEEE division, as torch's
  const float t = rintf(e.ws) + zr;
  e.inside = t >= 0.f && t <= qmax;
  e.q = fminf(fmaxf(t, 0.f), qmax);
  return e;
}

__global__ void __launch_bounds__(kThreads)
    FakeQuantForwardKernel(const float* __restrict__ w, const float* __restrict__ scale,
                           const float* __restrict__ zero, float qmax, int64_t group, int64_t G,
                           int64_t in, int64_t total, float* __restrict__ w_hat) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += stride) {
    const int64_t row = i / in;
    const int64_t k = i - row * in;
    const int64_t p = row * G + k / group;
    const float s = __ldg(scale + p);
    const float zr = RoundedZero(__ldg(zero + p), qmax);
    const Elem e = Quantize(__ldg(w + i), s, zr, qmax);
    w_hat[i] = (e.q - zr) * s;
  }
}

__global__ void __launch_bounds__(kThreads)
    FakeQuantBackwardKernel(const float* __restrict__ w, const float* __restrict__ scale,
                            const float* __restrict__ zero, const float* __restrict__ gout,
                            float qmax, int64_t group, int64_t G, int64_t in, int64_t pairs,
                            float* __restrict__ gw, float* __restrict__ gs,
                            float* __restrict__ gz) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
       p < pairs; p += warps) {
    const int64_t row = p / G;
    const int64_t g = p - row * G;
    const float s = __ldg(scale + p);
    const float zr = RoundedZero(__ldg(zero + p), qmax);
    const int64_t base = row * in + g * group;
    float ds = 0.f;
    float out_sum = 0.f;  // sum of G^ where t is outside [0, qmax]
    for (int64_t k = lane; k < group; k += 32) {
      const float go = __ldg(gout + base + k);
      const Elem e = Quantize(__ldg(w + base + k), s, zr, qmax);
      if (gw != nullptr) gw[base + k] = e.inside ? go : 0.f;
      ds += go * ((e.q - zr) - (e.inside ? e.ws : 0.f));
      out_sum += e.inside ? 0.f : go;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      ds += __shfl_xor_sync(0xffffffffu, ds, o);
      out_sum += __shfl_xor_sync(0xffffffffu, out_sum, o);
    }
    if (lane == 0) {
      if (gs != nullptr) gs[p] = ds;
      if (gz != nullptr) gz[p] = -s * out_sum;
    }
  }
}

bool Valid(int bits, int group, int64_t out, int64_t in, int64_t* g) {
  if (!IsSupportedGptqBits(bits) || out <= 0 || in <= 0) return false;
  *g = group > 0 ? group : in;
  return in % *g == 0;
}

}  // namespace

cudaError_t LaunchFakeQuantForward(const float* w, const float* scale, const float* zero, int bits,
                                   int group, int64_t out, int64_t in, float* w_hat,
                                   cudaStream_t stream) {
  int64_t g = 0;
  if (!Valid(bits, group, out, in, &g) || w == nullptr || scale == nullptr || zero == nullptr ||
      w_hat == nullptr) {
    return cudaErrorInvalidValue;
  }
  const int64_t total = out * in;
  const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, int64_t{1} << 20);
  const float qmax = static_cast<float>((1 << bits) - 1);
  FakeQuantForwardKernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      w, scale, zero, qmax, g, in / g, in, total, w_hat);
  return cudaGetLastError();
}

cudaError_t LaunchFakeQuantBackward(const float* w, const float* scale, const float* zero,
                                    const float* grad_w_hat, int bits, int group, int64_t out,
                                    int64_t in, float* grad_w, float* grad_scale,
                                    float* grad_zero, cudaStream_t stream) {
  int64_t g = 0;
  if (!Valid(bits, group, out, in, &g) || w == nullptr || scale == nullptr || zero == nullptr ||
      grad_w_hat == nullptr) {
    return cudaErrorInvalidValue;
  }
  if (grad_w == nullptr && grad_scale == nullptr && grad_zero == nullptr) return cudaSuccess;
  const int64_t pairs = out * (in / g);
  constexpr int kWarpsPerBlock = kThreads / 32;
  const int64_t blocks =
      std::min<int64_t>((pairs + kWarpsPerBlock - 1) / kWarpsPerBlock, int64_t{1} << 20);
  const float qmax = static_cast<float>((1 << bits) - 1);
  FakeQuantBackwardKernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      w, scale, zero, grad_w_hat, qmax, g, in / g, in, pairs, grad_w, grad_scale, grad_zero);
  return cudaGetLastError();
}

}  // namespace eqat::kernels::cuda
