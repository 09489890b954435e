// CUDA kernels (kernels/cuda/) against the CPU references of kernels/:
// dequantisation vs kernels::DequantizeWeight, the fused GEMV (and dequant +
// cuBLAS for larger batches) vs a float64 matmul of that weight, fake-quant
// forward/backward vs LibTorch autograd through kernels::FakeQuantize.
// Every test skips (GTEST_SKIP) where no CUDA device is present (CI, the
// build machine): only a GPU machine runs them.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>
#include <ostream>
#include <string>
#include <vector>

#include "kernels/cuda/dequant.cuh"
#include "kernels/cuda/dequant_gemm.cuh"
#include "kernels/cuda/device_info.cuh"
#include "kernels/cuda/fake_quant.cuh"
#include "kernels/cuda/gemv.cuh"
#include "kernels/packed_linear.h"
#include "kernels/quantizer.h"

namespace eqat::kernels::cuda {
namespace {

#define SKIP_WITHOUT_CUDA()                                                   \
  do {                                                                        \
    if (eqat::kernels::cuda::CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device"; \
  } while (0)

#define ASSERT_CUDA(expr)                                                        \
  do {                                                                           \
    const cudaError_t e_ = (expr);                                               \
    ASSERT_EQ(e_, cudaSuccess) << #expr << ": " << cudaGetErrorString(e_);       \
  } while (0)

// Device memory holding a copy of a contiguous CPU tensor (or `bytes` of
// poison: 0xFF bytes are NaN in fp16/bf16/fp32, so unwritten outputs show).
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
    if (cudaMalloc(&ptr_, bytes_ > 0 ? bytes_ : 1) != cudaSuccess) ptr_ = nullptr;
    if (ptr_ != nullptr) cudaMemset(ptr_, 0xFF, bytes_);
  }
  explicit DeviceBuffer(const torch::Tensor& t) : DeviceBuffer(t.nbytes()) {
    auto c = t.contiguous();
    if (ptr_ != nullptr) cudaMemcpy(ptr_, c.data_ptr(), bytes_, cudaMemcpyHostToDevice);
  }
  ~DeviceBuffer() {
    if (ptr_ != nullptr) cudaFree(ptr_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  bool ok() const { return ptr_ != nullptr; }

  // Copies back into a new CPU tensor of the given shape and dtype.
  torch::Tensor Download(std::vector<int64_t> sizes, torch::ScalarType dtype) const {
    auto t = torch::empty(sizes, dtype);
    EXPECT_EQ(t.nbytes(), bytes_);
    cudaMemcpy(t.data_ptr(), ptr_, bytes_, cudaMemcpyDeviceToHost);
    return t;
  }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// A packed layer with random codes, zero points over the full range and
// fp16-representable scales.
PackedLinear RandomPacked(int bits, int group, int64_t out, int64_t in, uint64_t seed) {
  torch::manual_seed(seed);
  QuantSpec spec{bits, group};
  int64_t G = NumGroups(spec, in);
  auto q = torch::randint(0, 1 << bits, {out, in}, torch::kInt).to(torch::kUInt8);
  auto z = torch::randint(0, 1 << bits, {out, G}, torch::kInt).to(torch::kUInt8);
  auto s = (torch::rand({out, G}) * 0.02 + 0.001).to(torch::kHalf).to(torch::kFloat);
  return PackLinear(q, z, s, spec);
}

struct DeviceLayer {
  explicit DeviceLayer(const PackedLinear& p)
      : qweight(p.qweight), qzeros(p.qzeros), scales(p.scales.to(torch::kHalf)) {}
  bool ok() const { return qweight.ok() && qzeros.ok() && scales.ok(); }
  DeviceBuffer qweight, qzeros, scales;
};

// max |y - ref| <= rel * |ref| + abs_frac * max|ref| elementwise, no NaN.
void ExpectClose(const torch::Tensor& y, const torch::Tensor& ref, double rel, double abs_frac,
                 const std::string& what) {
  auto yd = y.to(torch::kDouble);
  auto rd = ref.to(torch::kDouble);
  ASSERT_FALSE(yd.isnan().any().item<bool>()) << what << ": NaN (unwritten output?)";
  const double scale = rd.abs().max().item<double>();
  auto excess = (yd - rd).abs() - (rd.abs() * rel + abs_frac * scale);
  const double worst = excess.max().item<double>();
  EXPECT_LE(worst, 0.0) << what << ": max |y - ref| = " << (yd - rd).abs().max().item<double>()
                        << " with max |ref| = " << scale;
  const double nrel = ((yd - rd).norm() / rd.norm().clamp_min(1e-30)).item<double>();
  EXPECT_LT(nrel, 2 * rel) << what << ": relative norm error";
}

// ---------------------------------------------------------------- dequant

struct DequantCase {
  int bits;
  int group;
  int64_t out, in;
};

std::string Fmt(int bits, int group) {
  return "W" + std::to_string(bits) + "g" + (group > 0 ? std::to_string(group) : "ch");
}
void PrintTo(const DequantCase& c, std::ostream* os) {
  *os << Fmt(c.bits, c.group) << " out=" << c.out << " in=" << c.in;
}
std::string DequantName(const ::testing::TestParamInfo<DequantCase>& info) {
  const DequantCase& c = info.param;
  return Fmt(c.bits, c.group) + "_N" + std::to_string(c.out) + "_K" + std::to_string(c.in);
}

class CudaDequantTest : public ::testing::TestWithParam<DequantCase> {};

TEST_P(CudaDequantTest, MatchesCpuDequantizeWeightBitForBit) {
  SKIP_WITHOUT_CUDA();
  const DequantCase c = GetParam();
  PackedLinear p = RandomPacked(c.bits, c.group, c.out, c.in, 11 * c.bits + c.out);
  auto ref = DequantizeWeight(p);  // float [out, in]
  DeviceLayer d(p);
  ASSERT_TRUE(d.ok());
  const int group = static_cast<int>(p.group_size);

  DeviceBuffer w16(c.out * c.in * sizeof(__half));
  ASSERT_CUDA(LaunchDequantizeGptq(d.qweight.as<int32_t>(), d.qzeros.as<int32_t>(),
                                   d.scales.as<__half>(), c.bits, group, c.in, c.out,
                                   w16.as<__half>(), nullptr));
  ASSERT_CUDA(cudaDeviceSynchronize());
  auto got16 = w16.Download({c.out, c.in}, torch::kHalf);
  EXPECT_TRUE(torch::equal(got16, ref.to(torch::kHalf)))
      << "fp16 max diff " << (got16.to(torch::kFloat) - ref).abs().max().item<float>();

  DeviceBuffer wbf(c.out * c.in * sizeof(__nv_bfloat16));
  ASSERT_CUDA(LaunchDequantizeGptqBf16(d.qweight.as<int32_t>(), d.qzeros.as<int32_t>(),
                                       d.scales.as<__half>(), c.bits, group, c.in, c.out,
                                       wbf.as<__nv_bfloat16>(), nullptr));
  ASSERT_CUDA(cudaDeviceSynchronize());
  auto gotbf = wbf.Download({c.out, c.in}, torch::kBFloat16);
  EXPECT_TRUE(torch::equal(gotbf, ref.to(torch::kBFloat16)))
      << "bf16 max diff " << (gotbf.to(torch::kFloat) - ref).abs().max().item<float>();
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaDequantTest,
    ::testing::Values(DequantCase{4, 128, 64, 256}, DequantCase{3, 128, 96, 256},
                      DequantCase{2, 64, 33, 128}, DequantCase{8, 32, 17, 64},
                      DequantCase{3, -1, 172, 64}, DequantCase{4, -1, 64, 172},
                      DequantCase{2, 32, 7, 96}, DequantCase{3, 64, 257, 320},
                      DequantCase{8, -1, 5, 100}, DequantCase{2, -1, 31, 4096},
                      DequantCase{4, 48, 9, 96},  // groups straddling 32-value units
                      DequantCase{4, 128, 4096, 1024}),
    DequantName);

TEST(CudaDequant, RejectsBadArguments) {
  SKIP_WITHOUT_CUDA();
  int32_t* p = reinterpret_cast<int32_t*>(16);
  __half* h = reinterpret_cast<__half*>(16);
  EXPECT_EQ(LaunchDequantizeGptq(p, p, h, 5, 32, 64, 8, h, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(LaunchDequantizeGptq(p, p, h, 4, 48, 64, 8, h, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(LaunchDequantizeGptq(nullptr, p, h, 4, 32, 64, 8, h, nullptr), cudaErrorInvalidValue);
}

// ------------------------------------------------------------------- GEMV

struct GemvCase {
  int bits;
  int group;
  int64_t m, in, out;
};

void PrintTo(const GemvCase& c, std::ostream* os) {
  *os << Fmt(c.bits, c.group) << " M=" << c.m << " in=" << c.in << " out=" << c.out;
}
std::string GemvName(const ::testing::TestParamInfo<GemvCase>& info) {
  const GemvCase& c = info.param;
  return Fmt(c.bits, c.group) + "_M" + std::to_string(c.m) + "_K" + std::to_string(c.in) + "_N" +
         std::to_string(c.out);
}

class CudaGemvTest : public ::testing::TestWithParam<GemvCase> {};

TEST_P(CudaGemvTest, MatchesCpuDequantMatmul) {
  SKIP_WITHOUT_CUDA();
  const GemvCase c = GetParam();
  PackedLinear p = RandomPacked(c.bits, c.group, c.out, c.in, 7 * c.bits + c.out + c.m);
  auto w = DequantizeWeight(p).to(torch::kDouble);  // [out, in]
  auto x = torch::randn({c.m, c.in}).to(torch::kHalf);
  auto ref = torch::matmul(x.to(torch::kDouble), w.t());  // [m, out]
  DeviceLayer d(p);
  DeviceBuffer xd(x);
  ASSERT_TRUE(d.ok() && xd.ok());
  ASSERT_TRUE(GemvSupports(c.bits, static_cast<int>(p.group_size), c.m, c.in, c.out));
  // 0: automatic split over a cluster (sm_90); 1: one block per column tile; 3: forced.
  for (int splits : {0, 1, 3}) {
    DeviceBuffer y(c.m * c.out * sizeof(__half));  // poisoned
    ASSERT_CUDA(LaunchGemvGptq(xd.as<__half>(), d.qweight.as<int32_t>(), d.qzeros.as<int32_t>(),
                               d.scales.as<__half>(), c.bits, static_cast<int>(p.group_size),
                               c.m, c.in, c.out, y.as<__half>(), nullptr, splits));
    ASSERT_CUDA(cudaDeviceSynchronize());
    auto got = y.Download({c.m, c.out}, torch::kHalf);
    // fp16 output rounding (2^-11 relative) on top of fp32 accumulation.
    ExpectClose(got, ref, 1e-3, 2e-4, "k_splits=" + std::to_string(splits));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaGemvTest,
    ::testing::Values(GemvCase{4, 128, 1, 512, 384}, GemvCase{4, 128, 16, 1024, 256},
                      GemvCase{4, 64, 5, 4096, 128}, GemvCase{4, 128, 2, 11008, 96},
                      GemvCase{4, -1, 4, 172, 64}, GemvCase{4, 32, 3, 256, 4100},
                      GemvCase{3, 128, 3, 512, 96}, GemvCase{3, 128, 8, 1024, 200},
                      GemvCase{3, -1, 9, 172, 100}, GemvCase{3, 64, 16, 2048, 33},
                      GemvCase{2, 64, 5, 256, 33}, GemvCase{2, 32, 16, 96, 7},
                      GemvCase{2, 64, 1, 2048, 1024}, GemvCase{2, -1, 6, 200, 40},
                      GemvCase{8, 32, 2, 128, 17}, GemvCase{8, 64, 12, 2048, 512},
                      GemvCase{8, -1, 1, 300, 64}, GemvCase{8, 128, 7, 1024, 131}),
    GemvName);

TEST(CudaGemv, RejectsBatchAboveSixteenAndBadGroups) {
  SKIP_WITHOUT_CUDA();
  PackedLinear p = RandomPacked(4, 32, 64, 128, 3);
  DeviceLayer d(p);
  DeviceBuffer x(17 * 128 * sizeof(__half));
  DeviceBuffer y(17 * 64 * sizeof(__half));
  ASSERT_TRUE(d.ok() && x.ok() && y.ok());
  auto launch = [&](int64_t m, int group, int bits) {
    return LaunchGemvGptq(x.as<__half>(), d.qweight.as<int32_t>(), d.qzeros.as<int32_t>(),
                          d.scales.as<__half>(), bits, group, m, 128, 64, y.as<__half>(), nullptr);
  };
  EXPECT_EQ(launch(17, 32, 4), cudaErrorInvalidValue);
  EXPECT_EQ(launch(0, 32, 4), cudaErrorInvalidValue);
  EXPECT_EQ(launch(1, 48, 4), cudaErrorInvalidValue);  // does not divide 128
  EXPECT_EQ(launch(1, 32, 5), cudaErrorInvalidValue);
  EXPECT_FALSE(GemvSupports(4, 16, 1, 128, 64));      // group not a multiple of 32
  EXPECT_TRUE(GemvSupports(4, -1, 16, 172, 64));
}

#if defined(EQAT_HAVE_CUBLAS) && EQAT_HAVE_CUBLAS
TEST(CudaDequantGemm, LargeBatchThroughCublasSmallThroughGemv) {
  SKIP_WITHOUT_CUDA();
  cublasHandle_t handle = nullptr;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  for (GemvCase c : {GemvCase{4, 128, 33, 512, 96}, GemvCase{3, 64, 40, 256, 33},
                     GemvCase{2, -1, 64, 172, 64}, GemvCase{8, 32, 4, 128, 48}}) {
    PackedLinear p = RandomPacked(c.bits, c.group, c.out, c.in, c.m + c.out);
    // cuBLAS multiplies the fp16-rounded weight, the GEMV (M <= 16) the exact one.
    auto w = DequantizeWeight(p);
    w = (c.m > kGemvMaxM ? w.to(torch::kHalf) : w).to(torch::kDouble);
    auto x = torch::randn({c.m, c.in}).to(torch::kHalf);
    auto ref = torch::matmul(x.to(torch::kDouble), w.t());
    DeviceLayer d(p);
    DeviceBuffer xd(x);
    DeviceBuffer scratch(c.out * c.in * sizeof(__half));
    DeviceBuffer y(c.m * c.out * sizeof(__half));
    ASSERT_TRUE(d.ok() && xd.ok() && scratch.ok() && y.ok());
    ASSERT_CUDA(LaunchDequantGemm(handle, xd.as<__half>(), d.qweight.as<int32_t>(),
                                  d.qzeros.as<int32_t>(), d.scales.as<__half>(), c.bits,
                                  static_cast<int>(p.group_size), c.m, c.in, c.out,
                                  y.as<__half>(), scratch.as<__half>(), nullptr));
    ASSERT_CUDA(cudaDeviceSynchronize());
    ExpectClose(y.Download({c.m, c.out}, torch::kHalf), ref, 2e-3, 5e-4,
                "M=" + std::to_string(c.m));
  }
  cublasDestroy(handle);
}
#endif

// ------------------------------------------------------------- fake quant

struct FakeQuantCase {
  int bits;
  int group;
  int64_t out, in;
};

void PrintTo(const FakeQuantCase& c, std::ostream* os) {
  *os << Fmt(c.bits, c.group) << " out=" << c.out << " in=" << c.in;
}
std::string FakeQuantName(const ::testing::TestParamInfo<FakeQuantCase>& info) {
  const FakeQuantCase& c = info.param;
  return Fmt(c.bits, c.group) + "_N" + std::to_string(c.out) + "_K" + std::to_string(c.in);
}

class CudaFakeQuantTest : public ::testing::TestWithParam<FakeQuantCase> {};

TEST_P(CudaFakeQuantTest, ForwardAndSteBackwardMatchAutograd) {
  SKIP_WITHOUT_CUDA();
  const FakeQuantCase c = GetParam();
  torch::manual_seed(13 * c.bits + c.out);
  QuantSpec spec{c.bits, c.group};
  auto w = torch::randn({c.out, c.in});
  QuantParams init = InitMinMax(w, spec);
  // Shrunk steps and shifted zero points: some codes clip, some zero points
  // fall outside [0, qmax], so every branch of the gradients is exercised.
  auto scale = (init.scale * 0.7).contiguous();
  auto zero = (init.zero + torch::randn(init.zero.sizes()) * 2).contiguous();
  auto grad_out = torch::randn({c.out, c.in});

  auto wr = w.clone().requires_grad_(true);
  auto sr = scale.clone().requires_grad_(true);
  auto zr = zero.clone().requires_grad_(true);
  auto ref = FakeQuantize(wr, sr, zr, spec);
  ref.backward(grad_out);

  DeviceBuffer wd(w), sd(scale), zd(zero), gd(grad_out);
  DeviceBuffer fwd(w.nbytes()), gw(w.nbytes()), gs(scale.nbytes()), gz(zero.nbytes());
  ASSERT_CUDA(LaunchFakeQuantForward(wd.as<float>(), sd.as<float>(), zd.as<float>(), c.bits,
                                     c.group, c.out, c.in, fwd.as<float>(), nullptr));
  ASSERT_CUDA(LaunchFakeQuantBackward(wd.as<float>(), sd.as<float>(), zd.as<float>(),
                                      gd.as<float>(), c.bits, c.group, c.out, c.in,
                                      gw.as<float>(), gs.as<float>(), gz.as<float>(), nullptr));
  ASSERT_CUDA(cudaDeviceSynchronize());
  const int64_t G = NumGroups(spec, c.in);
  auto got_fwd = fwd.Download({c.out, c.in}, torch::kFloat);
  auto got_gw = gw.Download({c.out, c.in}, torch::kFloat);
  auto got_gs = gs.Download({c.out, G}, torch::kFloat);
  auto got_gz = gz.Download({c.out, G}, torch::kFloat);

  // Same IEEE operations as the CPU graph: the forward agrees exactly.
  EXPECT_LE((got_fwd - ref.detach()).abs().max().item<double>(),
            1e-6 * ref.detach().abs().max().item<double>());
  auto close = [](const torch::Tensor& a, const torch::Tensor& b, double rel, const char* what) {
    ASSERT_FALSE(a.isnan().any().item<bool>()) << what << ": NaN";
    const double err = (a - b).norm().item<double>();
    EXPECT_LE(err, rel * b.norm().item<double>() + 1e-6) << what;
  };
  close(got_gw, wr.grad(), 1e-6, "dW");
  close(got_gs, sr.grad(), 1e-5, "dscale");
  close(got_gz, zr.grad(), 1e-5, "dzero");
  // Some elements clipped (zero gradient), some not.
  const double clipped = (wr.grad() == 0).to(torch::kFloat).mean().item<double>();
  EXPECT_GT(clipped, 0.0);
  EXPECT_LT(clipped, 1.0);

  // Optional outputs: only dscale.
  DeviceBuffer gs2(scale.nbytes());
  ASSERT_CUDA(LaunchFakeQuantBackward(wd.as<float>(), sd.as<float>(), zd.as<float>(),
                                      gd.as<float>(), c.bits, c.group, c.out, c.in, nullptr,
                                      gs2.as<float>(), nullptr, nullptr));
  ASSERT_CUDA(cudaDeviceSynchronize());
  EXPECT_TRUE(torch::equal(gs2.Download({c.out, G}, torch::kFloat), got_gs));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaFakeQuantTest,
    ::testing::Values(FakeQuantCase{4, 128, 64, 256}, FakeQuantCase{2, 64, 33, 128},
                      FakeQuantCase{3, 32, 17, 96}, FakeQuantCase{8, -1, 7, 172},
                      FakeQuantCase{4, -1, 5, 30}, FakeQuantCase{2, 128, 129, 512}),
    FakeQuantName);

// ------------------------------------------------------------ device info

TEST(CudaDeviceInfoTest, QueriesTheDevice) {
  SKIP_WITHOUT_CUDA();
  CudaDeviceInfo info;
  ASSERT_CUDA(QueryCudaDevice(0, &info));
  EXPECT_GT(std::strlen(info.name), 0u);
  EXPECT_GT(info.sm_count, 0);
  EXPECT_GT(info.peak_bandwidth_gbps, 0.0);
  double gbps = 0;
  ASSERT_CUDA(MeasureCopyBandwidthGBps(64 << 20, 5, &gbps));
  EXPECT_GT(gbps, 0.0);
  EXPECT_LT(gbps, 2.0 * info.peak_bandwidth_gbps);
  EXPECT_EQ(QueryCudaDevice(CudaDeviceCount(), &info), cudaErrorInvalidDevice);
}

}  // namespace
}  // namespace eqat::kernels::cuda
