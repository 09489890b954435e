// Fused dequant + GEMV / small-batch GEMM for GPTQ-layout weights; see gemv.cuh.
//
// Per block: one tile of TN = 32*VEC output columns; lane l of every warp owns
// columns [tile*TN + l*VEC, +VEC) (VEC = 4: one 128-bit load per packed row).
// The block's range of `in` (all of it, or its share of a cluster split) is
// walked in chunks of kChunkUnits units of 32 values; warp w takes units
// w, w + kWarps, ... of a chunk, so the 8 warps read adjacent qweight rows.
//
// Arithmetic per weight: one LOP3 builds the float 2^23 + q*2^o from the
// packed word (gptq_bits.cuh, UnitMantissa), one FFMA turns it into q*s*2^o
// (exact: q*s has at most 19 significant bits), then one FFMA per row of x,
// whose staged copy in shared memory is pre-scaled by 2^-o. The zero point is
// applied once per unit: sum_k x_k (q_k - z) s = sum_k x_k q_k s - s*z*sum_k x_k,
// with the per-unit sums of x computed while staging x.
#include "kernels/cuda/gemv.cuh"

#include <algorithm>
#include <atomic>
#include <climits>

#include <cooperative_groups.h>

#include "kernels/cuda/gptq_bits.cuh"

namespace eqat::kernels::cuda {
namespace {

namespace cg = cooperative_groups;

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kMaxSplits = 8;                   // portable cluster size
constexpr float kMagic = 8388608.0f;            // 2^23
constexpr uint32_t kMagicBits = 0x4B000000u;

// Units per warp per chunk: two keep more loads in flight where registers
// allow; one where the accumulators (MT*VEC) or the words (BITS*VEC) are many.
template <int BITS, int MT>
constexpr int Unroll() {
  return (BITS >= 8 || MT >= 8) ? 1 : 2;
}
template <int BITS, int MT>
constexpr int ChunkUnits() {
  return kWarps * Unroll<BITS, MT>();
}
template <int BITS, int MT>
constexpr int ChunkK() {
  return ChunkUnits<BITS, MT>() * 32;
}

template <int MT>
constexpr int RedRows() {
  return MT < 4 ? MT : 4;
}

template <int BITS, int MT, int VEC>
constexpr size_t SmemFloats() {
  constexpr size_t tn = 32 * VEC;
  constexpr size_t stage = static_cast<size_t>(MT) * (ChunkK<BITS, MT>() + ChunkUnits<BITS, MT>());
  constexpr size_t reduce = kWarps * RedRows<MT>() * tn + MT * tn;
  return stage > reduce ? stage : reduce;
}

__device__ __forceinline__ float Pow2Neg(int o) { return __int_as_float((127 - o) << 23); }

// Stages x[0..m)[k_begin, k_begin + kChunkK) into xs [MT][kChunkK] as float,
// pre-scaled by 2^-XShift, zero outside [k_begin, k_end) and for rows >= m;
// xsum [MT][kChunkUnits] gets the plain (unscaled) sum of each unit of 32.
template <int BITS, int MT>
__device__ __forceinline__ void StageX(const __half* __restrict__ x, int m, int64_t K,
                                       int64_t k_begin, int64_t k_end, float* __restrict__ xs,
                                       float* __restrict__ xsum, bool x_vec) {
  constexpr int kChunkK = ChunkK<BITS, MT>();
  constexpr int kChunkUnits = ChunkUnits<BITS, MT>();
  const int tid = threadIdx.x;
  const int lane = tid & 31;
  if (x_vec) {  // K % 8 == 0 and x 16-byte aligned: 8 halves per thread
    constexpr int kPerRow = kChunkK / 8;
    constexpr int kTotal = MT * kPerRow;  // a multiple of 32: whole warps in or out
    for (int base = 0; base < kTotal; base += kThreads) {
      const int idx = base + tid;
      if (idx < kTotal) {
        const int mi = idx / kPerRow;
        const int v = idx - mi * kPerRow;
        const int64_t k = k_begin + v * 8;
        float f[8];
        if (mi < m && k < k_end) {
          const uint4 raw = __ldg(reinterpret_cast<const uint4*>(x + mi * K + k));
          const __half2* h = reinterpret_cast<const __half2*>(&raw);
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const float2 t = __half22float2(h[e]);
            f[2 * e] = t.x;
            f[2 * e + 1] = t.y;
          }
        } else {
#pragma unroll
          for (int e = 0; e < 8; ++e) f[e] = 0.f;
        }
        float ps = 0.f;
        float g[8];
#pragma unroll
        for (int e = 0; e < 8; ++e) {
          ps += f[e];
          g[e] = f[e] * Pow2Neg(XShift(BITS, (v * 8 + e) & 31));
        }
        float4* dst = reinterpret_cast<float4*>(xs + mi * kChunkK + v * 8);
        dst[0] = make_float4(g[0], g[1], g[2], g[3]);
        dst[1] = make_float4(g[4], g[5], g[6], g[7]);
        ps += __shfl_xor_sync(0xffffffffu, ps, 1);
        ps += __shfl_xor_sync(0xffffffffu, ps, 2);
        if ((lane & 3) == 0) xsum[mi * kChunkUnits + v / 4] = ps;
      }
    }
  } else {  // one half per thread; a warp covers exactly one unit
    constexpr int kTotal = MT * kChunkK;
    for (int base = 0; base < kTotal; base += kThreads) {
      const int idx = base + tid;
      if (idx < kTotal) {
        const int mi = idx / kChunkK;
        const int v = idx - mi * kChunkK;
        const int64_t k = k_begin + v;
        const float f = (mi < m && k < k_end) ? __half2float(x[mi * K + k]) : 0.f;
        xs[mi * kChunkK + v] = f * Pow2Neg(XShift(BITS, v & 31));
        float ps = f;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) ps += __shfl_xor_sync(0xffffffffu, ps, o);
        if (lane == 0) xsum[mi * kChunkUnits + v / 32] = ps;
      }
    }
  }
}

template <int BITS, int MT, int VEC, bool CLUSTER>
__global__ void __launch_bounds__(kThreads)
    GemvKernel(const __half* __restrict__ x, const uint32_t* __restrict__ qweight,
               const uint32_t* __restrict__ qzeros, const __half* __restrict__ scales, int group,
               int m, int K, int N, __half* __restrict__ y, int splits, bool x_vec) {
  constexpr int TN = 32 * VEC;
  constexpr int RS = RedRows<MT>();
  constexpr int kUnroll = Unroll<BITS, MT>();
  constexpr int kChunkK = ChunkK<BITS, MT>();
  constexpr int kChunkUnits = ChunkUnits<BITS, MT>();
  extern __shared__ float4 smem4[];
  float* smem = reinterpret_cast<float*>(smem4);
  float* xs = smem;                    // [MT][kChunkK]
  float* xsum = smem + MT * kChunkK;   // [MT][kChunkUnits]

  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int split = blockIdx.x;
  const int tile = blockIdx.y;
  const int n0 = tile * TN + lane * VEC;
  const bool col_ok = n0 < N;  // VEC == 4 only when N % 4 == 0: then n0 + 3 < N too
  const int units = (K + 31) / 32;
  const int ub = static_cast<int>(static_cast<int64_t>(units) * split / splits);
  const int ue = static_cast<int>(static_cast<int64_t>(units) * (split + 1) / splits);
  const int rows = static_cast<int>(PackedWords(K, BITS));
  const int64_t zlen = PackedWords(N, BITS);

  float acc[MT][VEC];
#pragma unroll
  for (int i = 0; i < MT; ++i) {
#pragma unroll
    for (int c = 0; c < VEC; ++c) acc[i][c] = 0.f;
  }

  for (int cu = ub; cu < ue; cu += kChunkUnits) {
    const int cend = min(cu + kChunkUnits, ue);
    // This chunk's weights first: their loads fly while x is staged.
    uint32_t wv[kUnroll][BITS][VEC];
#pragma unroll
    for (int t = 0; t < kUnroll; ++t) {
      const int u = cu + warp + t * kWarps;
#pragma unroll
      for (int b = 0; b < BITS; ++b) {
        const int r = u * BITS + b;
        if (u < cend && r < rows && col_ok) {
          const uint32_t* p = qweight + static_cast<int64_t>(r) * N + n0;
          if constexpr (VEC == 4) {
            const uint4 v = __ldg(reinterpret_cast<const uint4*>(p));
            wv[t][b][0] = v.x;
            wv[t][b][1] = v.y;
            wv[t][b][2] = v.z;
            wv[t][b][3] = v.w;
          } else {
            wv[t][b][0] = __ldg(p);
          }
        } else {
#pragma unroll
          for (int c = 0; c < VEC; ++c) wv[t][b][c] = 0u;
        }
      }
    }
    __syncthreads();  // the previous chunk's readers of xs are done
    StageX<BITS, MT>(x, m, K, static_cast<int64_t>(cu) * 32,
                     min(static_cast<int64_t>(cend) * 32, static_cast<int64_t>(K)), xs, xsum,
                     x_vec);
    __syncthreads();
#pragma unroll
    for (int t = 0; t < kUnroll; ++t) {
      const int u = cu + warp + t * kWarps;
      if (u < cend) {  // warp-uniform
        const int li = u - cu;
        const int g = (u * 32) / group;
        float sc[VEC], negm[VEC], sz[VEC];
#pragma unroll
        for (int c = 0; c < VEC; ++c) {
          float s = 0.f, z = 0.f;
          if (col_ok) {
            const int n = n0 + c;
            s = __half2float(__ldg(scales + static_cast<int64_t>(g) * N + n));
            z = static_cast<float>(ReadPacked(qzeros + static_cast<int64_t>(g) * zlen, n, BITS));
          }
          sc[c] = s;
          negm[c] = -kMagic * s;
          sz[c] = s * z;
        }
        const float* xu = xs + li * 32;
#pragma unroll
        for (int jj = 0; jj < 8; ++jj) {
          float f[4][VEC];
#pragma unroll
          for (int q = 0; q < 4; ++q) {
#pragma unroll
            for (int c = 0; c < VEC; ++c) {
              const uint32_t bits = UnitMantissa<BITS, VEC>(wv[t], c, jj * 4 + q) | kMagicBits;
              f[q][c] = fmaf(__uint_as_float(bits), sc[c], negm[c]);  // q * s * 2^o, exact
            }
          }
#pragma unroll
          for (int i = 0; i < MT; ++i) {
            const float4 xv = *reinterpret_cast<const float4*>(xu + i * kChunkK + jj * 4);
#pragma unroll
            for (int c = 0; c < VEC; ++c) {
              acc[i][c] = fmaf(xv.x, f[0][c], acc[i][c]);
              acc[i][c] = fmaf(xv.y, f[1][c], acc[i][c]);
              acc[i][c] = fmaf(xv.z, f[2][c], acc[i][c]);
              acc[i][c] = fmaf(xv.w, f[3][c], acc[i][c]);
            }
          }
        }
#pragma unroll
        for (int i = 0; i < MT; ++i) {
          const float xsv = xsum[i * kChunkUnits + li];
#pragma unroll
          for (int c = 0; c < VEC; ++c) acc[i][c] = fmaf(-sz[c], xsv, acc[i][c]);
        }
      }
    }
  }

  // Reduce the 8 warps' partial sums: part [MT][TN] (RS rows at a time).
  __syncthreads();  // done with xs / xsum
  float* red = smem;                       // [kWarps][RS][TN]
  float* part = smem + kWarps * RS * TN;   // [MT][TN]
#pragma unroll
  for (int m0 = 0; m0 < MT; m0 += RS) {
#pragma unroll
    for (int r = 0; r < RS; ++r) {
      float* dst = red + (warp * RS + r) * TN + lane * VEC;
      if constexpr (VEC == 4) {
        *reinterpret_cast<float4*>(dst) =
            make_float4(acc[m0 + r][0], acc[m0 + r][1], acc[m0 + r][2], acc[m0 + r][3]);
      } else {
        dst[0] = acc[m0 + r][0];
      }
    }
    __syncthreads();
    for (int i = tid; i < RS * TN; i += kThreads) {
      float s = 0.f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) s += red[w * RS * TN + i];
      part[m0 * TN + i] = s;
    }
    __syncthreads();
  }

  if constexpr (CLUSTER) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    // The blocks of a cluster are the splits of one tile: sum their parts
    // through distributed shared memory, each block writing a slice of y.
    cg::cluster_group cluster = cg::this_cluster();
    cluster.sync();
    const int rank = static_cast<int>(cluster.block_rank());
    for (int i = rank * kThreads + tid; i < m * TN; i += splits * kThreads) {
      float s = 0.f;
      for (int r = 0; r < splits; ++r) s += cluster.map_shared_rank(part, r)[i];
      const int mi = i / TN;
      const int n = tile * TN + (i - mi * TN);
      if (n < N) y[static_cast<int64_t>(mi) * N + n] = __float2half_rn(s);
    }
    cluster.sync();  // keep this block's shared memory alive for the others
#else
    __trap();  // never launched: the host checks the PTX version first
#endif
  } else {
    for (int i = tid; i < m * TN; i += kThreads) {
      const int mi = i / TN;
      const int n = tile * TN + (i - mi * TN);
      if (n < N) y[static_cast<int64_t>(mi) * N + n] = __float2half_rn(part[i]);
    }
  }
}

struct Args {
  const __half* x;
  const uint32_t* qweight;
  const uint32_t* qzeros;
  const __half* scales;
  int group, m, K, N;
  __half* y;
  bool x_vec;
};

template <int BITS, int MT, int VEC, bool CLUSTER>
cudaError_t LaunchOne(const Args& a, int splits, cudaStream_t stream) {
  constexpr size_t smem = SmemFloats<BITS, MT, VEC>() * sizeof(float);
  static_assert(smem <= 48 * 1024, "needs a dynamic shared memory opt-in");
  constexpr int TN = 32 * VEC;
  const dim3 grid(static_cast<unsigned>(splits), static_cast<unsigned>((a.N + TN - 1) / TN));
  if constexpr (CLUSTER) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = dim3(kThreads);
    cfg.dynamicSmemBytes = smem;
    cfg.stream = stream;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = static_cast<unsigned>(splits);
    attr[0].val.clusterDim.y = 1;
    attr[0].val.clusterDim.z = 1;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    return cudaLaunchKernelEx(&cfg, GemvKernel<BITS, MT, VEC, true>, a.x, a.qweight, a.qzeros,
                              a.scales, a.group, a.m, a.K, a.N, a.y, splits, a.x_vec);
  } else {
    GemvKernel<BITS, MT, VEC, false><<<grid, kThreads, smem, stream>>>(
        a.x, a.qweight, a.qzeros, a.scales, a.group, a.m, a.K, a.N, a.y, 1, a.x_vec);
    return cudaGetLastError();
  }
}

template <int BITS, int MT, int VEC>
cudaError_t DispatchCluster(const Args& a, int splits, cudaStream_t stream) {
  return splits > 1 ? LaunchOne<BITS, MT, VEC, true>(a, splits, stream)
                    : LaunchOne<BITS, MT, VEC, false>(a, 1, stream);
}

template <int BITS, int MT>
cudaError_t DispatchVec(const Args& a, int vec, int splits, cudaStream_t stream) {
  return vec == 4 ? DispatchCluster<BITS, MT, 4>(a, splits, stream)
                  : DispatchCluster<BITS, MT, 1>(a, splits, stream);
}

template <int BITS>
cudaError_t DispatchM(const Args& a, int vec, int splits, cudaStream_t stream) {
  if (a.m <= 1) return DispatchVec<BITS, 1>(a, vec, splits, stream);
  if (a.m <= 2) return DispatchVec<BITS, 2>(a, vec, splits, stream);
  if (a.m <= 4) return DispatchVec<BITS, 4>(a, vec, splits, stream);
  if (a.m <= 8) return DispatchVec<BITS, 8>(a, vec, splits, stream);
  return DispatchVec<BITS, 16>(a, vec, splits, stream);
}

constexpr int kMaxDevices = 64;

// Per device: SM count (> 0) once known; cluster support 1 no / 2 yes.
std::atomic<int> g_sm_count[kMaxDevices];
std::atomic<int> g_cluster_ok[kMaxDevices];

void DeviceTraits(int* sms, bool* cluster_ok) {
  *sms = 132;
  *cluster_ok = false;
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= kMaxDevices) {
    (void)cudaGetLastError();
    return;
  }
  int n = g_sm_count[dev].load(std::memory_order_relaxed);
  int c = g_cluster_ok[dev].load(std::memory_order_relaxed);
  if (n <= 0 || c == 0) {
    int v = 0;
    if (cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev) == cudaSuccess && v > 0) {
      n = v;
    } else {
      n = 132;
    }
    int cl = 0;
    bool ok = cudaDeviceGetAttribute(&cl, cudaDevAttrClusterLaunch, dev) == cudaSuccess && cl;
    if (ok) {
      // The cluster kernels carry real code only when compiled for sm_90+.
      cudaFuncAttributes fa{};
      ok = cudaFuncGetAttributes(&fa, GemvKernel<4, 1, 4, true>) == cudaSuccess &&
           fa.ptxVersion >= 90;
    }
    (void)cudaGetLastError();
    c = ok ? 2 : 1;
    g_sm_count[dev].store(n, std::memory_order_relaxed);
    g_cluster_ok[dev].store(c, std::memory_order_relaxed);
  }
  *sms = n;
  *cluster_ok = c == 2;
}

}  // namespace

bool GemvSupports(int bits, int group, int64_t m, int64_t in, int64_t out) {
  if (!IsSupportedGptqBits(bits) || m < 1 || m > kGemvMaxM || in <= 0 || out <= 0) return false;
  if (in > INT_MAX / 32 || out > INT_MAX / 32) return false;
  const int64_t g = group > 0 ? group : in;
  if (in % g != 0) return false;
  if (g != in && g % 32 != 0) return false;  // units of 32 must not straddle groups
  return (out + 31) / 32 <= 65535;            // grid.y (VEC = 1 worst case)
}

cudaError_t LaunchGemvGptq(const __half* x, const int32_t* qweight, const int32_t* qzeros,
                           const __half* scales, int bits, int group, int64_t m, int64_t in,
                           int64_t out, __half* y, cudaStream_t stream, int k_splits) {
  if (!GemvSupports(bits, group, m, in, out) || x == nullptr || qweight == nullptr ||
      qzeros == nullptr || scales == nullptr || y == nullptr || k_splits < 0) {
    return cudaErrorInvalidValue;
  }
  Args a;
  a.x = x;
  a.qweight = reinterpret_cast<const uint32_t*>(qweight);
  a.qzeros = reinterpret_cast<const uint32_t*>(qzeros);
  a.scales = scales;
  a.group = static_cast<int>(group > 0 ? group : in);
  a.m = static_cast<int>(m);
  a.K = static_cast<int>(in);
  a.N = static_cast<int>(out);
  a.y = y;
  a.x_vec = in % 8 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0;
  const int vec = (out % 4 == 0 && reinterpret_cast<uintptr_t>(qweight) % 16 == 0) ? 4 : 1;

  int sms = 0;
  bool cluster_ok = false;
  DeviceTraits(&sms, &cluster_ok);
  const int tiles = static_cast<int>((out + 32 * vec - 1) / (32 * vec));
  const int units = static_cast<int>((in + 31) / 32);
  int splits = 1;
  if (cluster_ok && k_splits != 1) {
    int want = k_splits > 0 ? k_splits : (2 * sms + tiles - 1) / tiles;
    want = std::min(want, kMaxSplits);
    // At least one unit per warp of every block.
    want = std::min(want, std::max(1, units / kWarps));
    splits = std::max(want, 1);
  }
  switch (bits) {
    case 2:
      return DispatchM<2>(a, vec, splits, stream);
    case 3:
      return DispatchM<3>(a, vec, splits, stream);
    case 4:
      return DispatchM<4>(a, vec, splits, stream);
    default:
      return DispatchM<8>(a, vec, splits, stream);
  }
}

}  // namespace eqat::kernels::cuda
