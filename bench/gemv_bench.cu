// Fused dequant-GEMV (kernels/cuda/gemv.cuh) vs fp16 cuBLAS on LLaMA-7B
// linear shapes: achieved memory bandwidth and its share of the device peak.
//
//   gemv_bench [--m 1-16|1,2,4] [--iters 50] [--warmup 10] [--batch 20]
//              [--graph 1] [--shapes 4096x4096,4096x11008,11008x4096]
//
// Shapes are in_features x out_features. Formats W2g64, W3g128, W4g128.
// Per (shape, format, M): `batch` launches are captured in a CUDA graph (or
// issued directly with --graph 0), the graph is replayed `warmup` times, then
// timed `iters` times with CUDA events; the table reports the median time
// per launch. The weights rotate over enough copies to exceed 2.5x the L2
// cache, so DRAM (not L2) bandwidth is measured. Bytes counted per launch:
// eqat: qweight + qzeros + scales + x + y; cuBLAS: fp16 W + x + y. % peak is
// against the theoretical DRAM bandwidth (memory clock x bus width); the
// measured device-to-device copy bandwidth is printed for reference.
// Needs a CUDA device; builds wherever the toolkit exists.
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "kernels/cuda/dequant_gemm.cuh"
#include "kernels/cuda/device_info.cuh"
#include "kernels/cuda/gemv.cuh"

namespace {

using eqat::kernels::cuda::CudaDeviceCount;
using eqat::kernels::cuda::CudaDeviceInfo;

#define CHECK_CUDA(expr)                                                                \
  do {                                                                                  \
    const cudaError_t e_ = (expr);                                                      \
    if (e_ != cudaSuccess) {                                                            \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr,                \
                   cudaGetErrorString(e_));                                             \
      std::exit(1);                                                                     \
    }                                                                                   \
  } while (0)

#define CHECK_CUBLAS(expr)                                                              \
  do {                                                                                  \
    const cublasStatus_t s_ = (expr);                                                   \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                                  \
      std::fprintf(stderr, "%s:%d: %s: cuBLAS status %d\n", __FILE__, __LINE__, #expr,  \
                   static_cast<int>(s_));                                               \
      std::exit(1);                                                                     \
    }                                                                                   \
  } while (0)

__device__ __forceinline__ uint32_t Hash(uint64_t i, uint32_t seed) {
  uint64_t z = i * 0x9E3779B97F4A7C15ull + seed;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return static_cast<uint32_t>(z ^ (z >> 31));
}

__global__ void FillWords(uint32_t* p, size_t n, uint32_t seed) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    p[i] = Hash(i, seed);
  }
}

// Uniform in [lo, hi).
__global__ void FillHalf(__half* p, size_t n, uint32_t seed, float lo, float hi) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const float u = (Hash(i, seed) >> 8) * (1.0f / 16777216.0f);
    p[i] = __float2half(lo + (hi - lo) * u);
  }
}

struct Format {
  const char* name;
  int bits;
  int group;
};

struct Shape {
  int64_t in, out;
};

struct Options {
  std::vector<int> ms;
  std::vector<Shape> shapes = {{4096, 4096}, {4096, 11008}, {11008, 4096}};
  int iters = 50;
  int warmup = 10;
  int batch = 20;
  bool graph = true;
};

std::vector<int> ParseMs(const std::string& s) {
  std::vector<int> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t end = s.find(',', pos);
    if (end == std::string::npos) end = s.size();
    std::string tok = s.substr(pos, end - pos);
    size_t dash = tok.find('-');
    if (dash != std::string::npos) {
      int a = std::atoi(tok.substr(0, dash).c_str());
      int b = std::atoi(tok.substr(dash + 1).c_str());
      for (int m = a; m <= b; ++m) out.push_back(m);
    } else if (!tok.empty()) {
      out.push_back(std::atoi(tok.c_str()));
    }
    pos = end + 1;
  }
  return out;
}

std::vector<Shape> ParseShapes(const std::string& s) {
  std::vector<Shape> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t end = s.find(',', pos);
    if (end == std::string::npos) end = s.size();
    std::string tok = s.substr(pos, end - pos);
    size_t x = tok.find('x');
    if (x != std::string::npos) {
      out.push_back({std::atoll(tok.substr(0, x).c_str()), std::atoll(tok.substr(x + 1).c_str())});
    }
    pos = end + 1;
  }
  return out;
}

bool ParseArgs(int argc, char** argv, Options* o) {
  o->ms = ParseMs("1-16");
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* flag) -> const char* {
      const size_t n = std::strlen(flag);
      if (a.compare(0, n, flag) != 0) return nullptr;
      if (a.size() > n && a[n] == '=') return argv[i] + n + 1;
      if (a.size() == n && i + 1 < argc) return argv[++i];
      return nullptr;
    };
    const char* v = nullptr;
    if ((v = value("--m"))) {
      o->ms = ParseMs(v);
    } else if ((v = value("--iters"))) {
      o->iters = std::atoi(v);
    } else if ((v = value("--warmup"))) {
      o->warmup = std::atoi(v);
    } else if ((v = value("--batch"))) {
      o->batch = std::atoi(v);
    } else if ((v = value("--graph"))) {
      o->graph = std::atoi(v) != 0;
    } else if ((v = value("--shapes"))) {
      o->shapes = ParseShapes(v);
    } else {
      std::fprintf(stderr, "gemv_bench: unknown flag '%s'\n", argv[i]);
      return false;
    }
  }
  for (int m : o->ms) {
    if (m < 1 || m > eqat::kernels::cuda::kGemvMaxM) {
      std::fprintf(stderr, "gemv_bench: --m values must be in 1..%d\n",
                   eqat::kernels::cuda::kGemvMaxM);
      return false;
    }
  }
  if (o->iters < 1 || o->warmup < 0 || o->batch < 1 || o->shapes.empty() || o->ms.empty()) {
    std::fprintf(stderr, "gemv_bench: bad --iters/--warmup/--batch/--shapes/--m\n");
    return false;
  }
  return true;
}

// Median time per launch (ms) of `launch(i)` for i = 0..batch-1.
double TimeLaunches(const Options& o, cudaStream_t stream,
                    const std::function<void(int)>& launch) {
  cudaEvent_t start, stop;
  CHECK_CUDA(cudaEventCreate(&start));
  CHECK_CUDA(cudaEventCreate(&stop));
  launch(0);  // first call: module load, cached device queries, cuBLAS heuristics
  CHECK_CUDA(cudaStreamSynchronize(stream));
  cudaGraphExec_t exec = nullptr;
  if (o.graph) {
    cudaGraph_t graph = nullptr;
    CHECK_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < o.batch; ++i) launch(i);
    CHECK_CUDA(cudaStreamEndCapture(stream, &graph));
    CHECK_CUDA(cudaGraphInstantiate(&exec, graph, 0));
    CHECK_CUDA(cudaGraphDestroy(graph));
  }
  auto run_batch = [&]() {
    if (exec != nullptr) {
      CHECK_CUDA(cudaGraphLaunch(exec, stream));
    } else {
      for (int i = 0; i < o.batch; ++i) launch(i);
    }
  };
  for (int i = 0; i < o.warmup; ++i) run_batch();
  std::vector<float> ms;
  for (int r = 0; r < o.iters; ++r) {
    CHECK_CUDA(cudaEventRecord(start, stream));
    run_batch();
    CHECK_CUDA(cudaEventRecord(stop, stream));
    CHECK_CUDA(cudaEventSynchronize(stop));
    float t = 0;
    CHECK_CUDA(cudaEventElapsedTime(&t, start, stop));
    ms.push_back(t / o.batch);
  }
  CHECK_CUDA(cudaGetLastError());
  if (exec != nullptr) CHECK_CUDA(cudaGraphExecDestroy(exec));
  CHECK_CUDA(cudaEventDestroy(start));
  CHECK_CUDA(cudaEventDestroy(stop));
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void Fill(uint32_t* p, size_t n, uint32_t seed, cudaStream_t s) {
  FillWords<<<1024, 256, 0, s>>>(p, n, seed);
  CHECK_CUDA(cudaGetLastError());
}
void Fill(__half* p, size_t n, uint32_t seed, float lo, float hi, cudaStream_t s) {
  FillHalf<<<1024, 256, 0, s>>>(p, n, seed, lo, hi);
  CHECK_CUDA(cudaGetLastError());
}

int Copies(double bytes_per_copy, int64_t l2_bytes) {
  const double need = 2.5 * static_cast<double>(l2_bytes > 0 ? l2_bytes : (50 << 20));
  return std::max(1, std::min(64, static_cast<int>(need / bytes_per_copy) + 1));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseArgs(argc, argv, &o)) return 2;
  if (CudaDeviceCount() == 0) {
    std::fprintf(stderr, "gemv_bench: no CUDA device\n");
    return 1;
  }
  CHECK_CUDA(cudaSetDevice(0));
  CudaDeviceInfo info;
  CHECK_CUDA(eqat::kernels::cuda::QueryCudaDevice(0, &info));
  double copy_gbps = 0;
  CHECK_CUDA(eqat::kernels::cuda::MeasureCopyBandwidthGBps(size_t{512} << 20, 20, &copy_gbps));
  const double peak = info.peak_bandwidth_gbps;

  cudaStream_t stream;
  CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cublasHandle_t handle;
  CHECK_CUBLAS(cublasCreate(&handle));
  CHECK_CUBLAS(cublasSetStream(handle, stream));
  void* cublas_ws = nullptr;
  const size_t cublas_ws_bytes = size_t{32} << 20;  // fixed workspace: graph capture safe
  CHECK_CUDA(cudaMalloc(&cublas_ws, cublas_ws_bytes));
  CHECK_CUBLAS(cublasSetWorkspace(handle, cublas_ws, cublas_ws_bytes));

  const Format formats[] = {{"W2g64", 2, 64}, {"W3g128", 3, 128}, {"W4g128", 4, 128}};
  const int max_m = *std::max_element(o.ms.begin(), o.ms.end());

  std::printf("## Fused dequant-GEMV vs fp16 cuBLAS\n\n");
  std::printf("GPU: %s (sm_%d%d, %d SMs, L2 %.0f MiB); DRAM peak %.0f GB/s (theoretical), "
              "device copy %.0f GB/s (measured, %.0f%% of peak)\n",
              info.name, info.cc_major, info.cc_minor, info.sm_count,
              info.l2_bytes / 1048576.0, peak, copy_gbps, peak > 0 ? 100 * copy_gbps / peak : 0);
  std::printf("Timing: median of %d x (batch of %d launches%s), %d warm-up batches; "
              "weights rotated over copies > 2.5x L2.\n\n",
              o.iters, o.batch, o.graph ? " in a CUDA graph" : "", o.warmup);
  std::printf("| in x out | format | M | eqat us | eqat GB/s | %% peak | cuBLAS fp16 us | "
              "cuBLAS GB/s | cuBLAS %% peak | speedup |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");

  for (const Shape& sh : o.shapes) {
    const int64_t K = sh.in, N = sh.out;
    // Activations and outputs (small; shared by every copy).
    __half *x = nullptr, *y = nullptr;
    CHECK_CUDA(cudaMalloc(&x, max_m * K * sizeof(__half)));
    CHECK_CUDA(cudaMalloc(&y, max_m * N * sizeof(__half)));
    Fill(x, max_m * K, 7, -1.f, 1.f, stream);

    // fp16 baseline weights.
    const double w16_bytes = static_cast<double>(K) * N * 2;
    const int c16 = Copies(w16_bytes, info.l2_bytes);
    std::vector<__half*> w16(c16);
    for (int i = 0; i < c16; ++i) {
      CHECK_CUDA(cudaMalloc(&w16[i], K * N * sizeof(__half)));
      Fill(w16[i], K * N, 100 + i, -0.05f, 0.05f, stream);
    }
    std::vector<double> cublas_ms(max_m + 1, 0);
    for (int m : o.ms) {
      cublas_ms[m] = TimeLaunches(o, stream, [&](int i) {
        CHECK_CUDA(eqat::kernels::cuda::LaunchHalfGemmNT(handle, x, w16[i % c16], m, K, N, y,
                                                         stream));
      });
    }
    for (__half* p : w16) CHECK_CUDA(cudaFree(p));

    for (const Format& f : formats) {
      const int64_t G = K / f.group;
      const int64_t rows = (K * f.bits + 31) / 32;
      const int64_t zlen = (N * f.bits + 31) / 32;
      const double qbytes = static_cast<double>(rows) * N * 4 + G * zlen * 4.0 + G * N * 2.0;
      const int copies = Copies(qbytes, info.l2_bytes);
      std::vector<int32_t*> qw(copies), qz(copies);
      std::vector<__half*> sc(copies);
      for (int i = 0; i < copies; ++i) {
        CHECK_CUDA(cudaMalloc(&qw[i], rows * N * sizeof(int32_t)));
        CHECK_CUDA(cudaMalloc(&qz[i], G * zlen * sizeof(int32_t)));
        CHECK_CUDA(cudaMalloc(&sc[i], G * N * sizeof(__half)));
        Fill(reinterpret_cast<uint32_t*>(qw[i]), rows * N, 1000 + i, stream);
        Fill(reinterpret_cast<uint32_t*>(qz[i]), G * zlen, 2000 + i, stream);
        Fill(sc[i], G * N, 3000 + i, 0.001f, 0.01f, stream);
      }
      for (int m : o.ms) {
        const double ms = TimeLaunches(o, stream, [&](int i) {
          const int c = i % copies;
          CHECK_CUDA(eqat::kernels::cuda::LaunchGemvGptq(x, qw[c], qz[c], sc[c], f.bits, f.group,
                                                         m, K, N, y, stream));
        });
        const double act = 2.0 * m * (K + N);
        const double gbps = (qbytes + act) / (ms * 1e-3) / 1e9;
        const double cms = cublas_ms[m];
        const double cgbps = (w16_bytes + act) / (cms * 1e-3) / 1e9;
        std::printf("| %lldx%lld | %s | %d | %.1f | %.0f | %.0f%% | %.1f | %.0f | %.0f%% | %.2fx |\n",
                    static_cast<long long>(K), static_cast<long long>(N), f.name, m, ms * 1e3, gbps,
                    peak > 0 ? 100 * gbps / peak : 0, cms * 1e3, cgbps,
                    peak > 0 ? 100 * cgbps / peak : 0, cms / ms);
        std::fflush(stdout);
      }
      for (int i = 0; i < copies; ++i) {
        CHECK_CUDA(cudaFree(qw[i]));
        CHECK_CUDA(cudaFree(qz[i]));
        CHECK_CUDA(cudaFree(sc[i]));
      }
    }
    CHECK_CUDA(cudaFree(x));
    CHECK_CUDA(cudaFree(y));
  }
  CHECK_CUBLAS(cublasDestroy(handle));
  CHECK_CUDA(cudaFree(cublas_ws));
  CHECK_CUDA(cudaStreamDestroy(stream));
  return 0;
}
