// blockap_step_bench: times Block-AP training steps (TrainBlock, the product's
// loop) on one random-weight block of a given Llama shape and reports
// ms/step and tokens/s as one JSON line. bench/blockap_step_peer.py times a
// plain PyTorch eager step of the same block and fake-quant formulation.
//
//   blockap_step_bench --preset=ref7m --threads=2
//   blockap_step_bench --preset=llama2-7b --batch=1 --seqlen=512 --steps=3 --threads=2
//   blockap_step_bench --preset=llama2-7b --batch=2 --seqlen=2048 --device=cuda --precision=fp16
//
// A step: gather the batch, forward of the fake-quantized block (every
// weight, norm, step size and zero point trainable), MSE against the
// targets, backward, AdamW over both groups, step-size clamp. Inputs and
// targets are random normal activations: a step's cost does not depend on
// their values. The first `--warmup` steps are not timed; the median of the
// rest is reported (the mean beside it).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "bench/random_block.h"
#include "worker/methods/block_ap.h"
#include "worker/model/autocast.h"

ABSL_FLAG(std::string, preset, "", "ref7m (256/768, 8 heads, 4 kv) | llama2-7b (4096/11008, 32)");
ABSL_FLAG(int64_t, hidden, 256, "hidden size (without --preset)");
ABSL_FLAG(int64_t, intermediate, 768, "MLP width");
ABSL_FLAG(int64_t, heads, 8, "attention heads");
ABSL_FLAG(int64_t, kv_heads, 4, "key/value heads");
ABSL_FLAG(int32_t, bits, 2, "weight bits");
ABSL_FLAG(int32_t, group, 64, "group size (-1: per channel)");
ABSL_FLAG(int64_t, batch, 2, "windows per step");
ABSL_FLAG(int64_t, seqlen, 256, "tokens per window");
ABSL_FLAG(int64_t, steps, 8, "timed steps");
ABSL_FLAG(int64_t, warmup, 1, "untimed steps first");
ABSL_FLAG(int32_t, threads, 0, "LibTorch threads (0: default)");
ABSL_FLAG(std::string, device, "cpu", "cpu | cuda");
ABSL_FLAG(std::string, precision, "fp32", "fp32 | bf16 | fp16 (CUDA autocast; CPUs use fp32)");

namespace {

int Fail(const std::string& what) {
  std::fprintf(stderr, "%s\n", what.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  using namespace eqat;
  if (absl::GetFlag(FLAGS_threads) > 0) torch::set_num_threads(absl::GetFlag(FLAGS_threads));
  const std::string preset = absl::GetFlag(FLAGS_preset);
  ModelConfig cfg;
  if (preset == "ref7m") {
    cfg = bench::BlockShape(256, 768, 8, 4);
  } else if (preset == "llama2-7b") {
    cfg = bench::Llama2Block7b();
  } else if (preset.empty()) {
    cfg = bench::BlockShape(absl::GetFlag(FLAGS_hidden), absl::GetFlag(FLAGS_intermediate),
                            absl::GetFlag(FLAGS_heads), absl::GetFlag(FLAGS_kv_heads));
  } else {
    return Fail("--preset: ref7m or llama2-7b");
  }
  const int64_t batch = absl::GetFlag(FLAGS_batch), len = absl::GetFlag(FLAGS_seqlen);
  const int64_t steps = absl::GetFlag(FLAGS_steps), warmup = absl::GetFlag(FLAGS_warmup);
  if (batch < 1 || len < 1 || steps < 1 || warmup < 0) {
    return Fail("--batch, --seqlen and --steps must be >= 1, --warmup >= 0");
  }
  const std::string dev = absl::GetFlag(FLAGS_device);
  if (dev != "cpu" && dev != "cuda") return Fail("--device: cpu or cuda");
  if (dev == "cuda" && !torch::cuda::is_available()) return Fail("--device cuda: no CUDA device");
  const std::string prec = absl::GetFlag(FLAGS_precision);
  if (prec != "fp32" && prec != "bf16" && prec != "fp16") {
    return Fail("--precision: fp32, bf16 or fp16");
  }

  const int64_t n = batch * (steps + warmup);
  Block block = bench::RandomBlock(cfg, /*seed=*/7);
  auto in = bench::StoreOf(torch::randn({n, len, cfg.hidden_size}));
  auto tgt = bench::StoreOf(torch::randn({n, len, cfg.hidden_size}));
  if (!in.ok()) return Fail(in.status().ToString());
  if (!tgt.ok()) return Fail(tgt.status().ToString());

  BlockApOptions o;
  o.spec = {absl::GetFlag(FLAGS_bits), absl::GetFlag(FLAGS_group)};
  o.epochs = 1;
  o.batch_size = batch;
  o.val_count = 0;
  o.device = torch::Device(dev == "cuda" ? torch::kCUDA : torch::kCPU);
  o.precision = ParseTrainPrecision(prec);
  std::vector<double> at;  // seconds at the end of each step
  const auto t0 = std::chrono::steady_clock::now();
  o.on_step = [&](int64_t, int64_t, double) {
    // on_step reads the loss (a device sync), so the clock sees finished steps.
    at.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  };
  const auto start = std::chrono::steady_clock::now();
  auto r = TrainBlockAp(&block, cfg, **in, **tgt, o);
  const double total_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!r.ok()) return Fail(r.status().ToString());
  if (static_cast<int64_t>(at.size()) != steps + warmup) return Fail("step count mismatch");
  std::vector<double> ms;
  for (int64_t i = warmup; i < steps + warmup; ++i) {
    ms.push_back(1000.0 * (at[i] - (i == 0 ? 0.0 : at[i - 1])));
  }
  double mean = 0;
  for (double m : ms) mean += m;
  mean /= static_cast<double>(ms.size());
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  const double tok_s = static_cast<double>(batch * len) / (median / 1000.0);
  std::printf(
      "{\"impl\":\"eqat\",\"hidden\":%lld,\"intermediate\":%lld,\"heads\":%lld,\"kv_heads\":%lld,"
      "\"bits\":%d,\"group\":%d,\"batch\":%lld,\"seqlen\":%lld,\"threads\":%d,\"device\":\"%s\","
      "\"precision\":\"%s\",\"steps\":%lld,\"ms_per_step\":%.3f,\"mean_ms_per_step\":%.3f,"
      "\"tokens_per_s\":%.1f,\"train_block_s\":%.3f}\n",
      static_cast<long long>(cfg.hidden_size), static_cast<long long>(cfg.intermediate_size),
      static_cast<long long>(cfg.num_attention_heads),
      static_cast<long long>(cfg.num_key_value_heads), o.spec.bits, o.spec.group_size,
      static_cast<long long>(batch), static_cast<long long>(len), torch::get_num_threads(),
      dev.c_str(), dev == "cuda" ? prec.c_str() : "fp32", static_cast<long long>(steps), median,
      mean, tok_s, total_s);
  return 0;
}
