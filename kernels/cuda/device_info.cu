// CUDA device queries; see device_info.cuh.
#include "kernels/cuda/device_info.cuh"

#include <algorithm>
#include <cstring>
#include <vector>

namespace eqat::kernels::cuda {

int CudaDeviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n > 0 ? n : 0;
}

cudaError_t QueryCudaDevice(int device, CudaDeviceInfo* info) {
  if (info == nullptr) return cudaErrorInvalidValue;
  *info = CudaDeviceInfo{};
  cudaDeviceProp prop{};
  cudaError_t err = cudaGetDeviceProperties(&prop, device);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    return err;
  }
  const size_t len = std::min(strnlen(prop.name, sizeof(prop.name)), sizeof(info->name) - 1);
  std::memcpy(info->name, prop.name, len);
  info->name[len] = '\0';
  info->cc_major = prop.major;
  info->cc_minor = prop.minor;
  info->sm_count = prop.multiProcessorCount;
  info->global_mem_bytes = static_cast<int64_t>(prop.totalGlobalMem);
  info->l2_bytes = prop.l2CacheSize;
  // CUDA 13 dropped the clock fields from cudaDeviceProp: use the attributes.
  int clock = 0, bus = 0;
  if (cudaDeviceGetAttribute(&clock, cudaDevAttrMemoryClockRate, device) != cudaSuccess) clock = 0;
  if (cudaDeviceGetAttribute(&bus, cudaDevAttrGlobalMemoryBusWidth, device) != cudaSuccess) bus = 0;
  (void)cudaGetLastError();
  info->memory_clock_khz = clock;
  info->memory_bus_bits = bus;
  info->peak_bandwidth_gbps = 2.0 * clock * 1e3 * (bus / 8.0) / 1e9;
  return cudaSuccess;
}

double PeakMemoryBandwidthGBps(int device) {
  CudaDeviceInfo info;
  return QueryCudaDevice(device, &info) == cudaSuccess ? info.peak_bandwidth_gbps : 0.0;
}

cudaError_t MeasureCopyBandwidthGBps(size_t bytes, int iters, double* gbps) {
  if (gbps == nullptr || bytes == 0 || iters <= 0) return cudaErrorInvalidValue;
  *gbps = 0;
  void* src = nullptr;
  void* dst = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  cudaStream_t stream = nullptr;
  std::vector<float> ms;
  cudaError_t err = cudaMalloc(&src, bytes);
  if (err == cudaSuccess) err = cudaMalloc(&dst, bytes);
  if (err == cudaSuccess) err = cudaMemset(src, 0x5a, bytes);
  if (err == cudaSuccess) err = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  if (err == cudaSuccess) err = cudaEventCreate(&start);
  if (err == cudaSuccess) err = cudaEventCreate(&stop);
  // One untimed warm-up copy, then `iters` timed ones.
  for (int i = -1; err == cudaSuccess && i < iters; ++i) {
    err = cudaEventRecord(start, stream);
    if (err == cudaSuccess) err = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream);
    if (err == cudaSuccess) err = cudaEventRecord(stop, stream);
    if (err == cudaSuccess) err = cudaEventSynchronize(stop);
    float t = 0;
    if (err == cudaSuccess) err = cudaEventElapsedTime(&t, start, stop);
    if (err == cudaSuccess && i >= 0) ms.push_back(t);
  }
  if (err == cudaSuccess && !ms.empty()) {
    std::sort(ms.begin(), ms.end());
    const double med = ms[ms.size() / 2];
    *gbps = med > 0 ? 2.0 * static_cast<double>(bytes) / (med * 1e-3) / 1e9 : 0.0;
  }
  if (start) cudaEventDestroy(start);
  if (stop) cudaEventDestroy(stop);
  if (stream) cudaStreamDestroy(stream);
  if (src) cudaFree(src);
  if (dst) cudaFree(dst);
  if (err != cudaSuccess) (void)cudaGetLastError();
  return err;
}

}  // namespace eqat::kernels::cuda
