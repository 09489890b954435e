// CUDA device presence and properties, for tests (skip without a device) and
// benchmarks (peak and measured memory bandwidth). Never aborts: every query
// reports failure by its return value, and clears the runtime's last error.
// Thread-safe.
#ifndef EQAT_KERNELS_CUDA_DEVICE_INFO_CUH_
#define EQAT_KERNELS_CUDA_DEVICE_INFO_CUH_

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

namespace eqat::kernels::cuda {

// Number of usable CUDA devices; 0 when there is no driver, no device, or
// the runtime cannot initialise.
int CudaDeviceCount();

struct CudaDeviceInfo {
  char name[256] = {};
  int cc_major = 0;
  int cc_minor = 0;
  int sm_count = 0;
  int64_t global_mem_bytes = 0;
  int64_t l2_bytes = 0;
  int memory_clock_khz = 0;    // peak memory clock
  int memory_bus_bits = 0;     // global memory bus width
  double peak_bandwidth_gbps = 0;  // 2 * clock * bus / 8 (DDR/HBM), 1e9 bytes/s
};

cudaError_t QueryCudaDevice(int device, CudaDeviceInfo* info);

// Theoretical peak DRAM bandwidth of `device` in GB/s (1e9 B/s); 0 if unknown.
double PeakMemoryBandwidthGBps(int device);

// Measured device-to-device copy bandwidth on the current device: median of
// `iters` timed cudaMemcpyAsync of `bytes`, counting bytes read + written.
cudaError_t MeasureCopyBandwidthGBps(size_t bytes, int iters, double* gbps);

}  // namespace eqat::kernels::cuda

#endif  // EQAT_KERNELS_CUDA_DEVICE_INFO_CUH_
