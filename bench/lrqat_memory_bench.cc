// lrqat_memory_bench: trains one block with Block-AP or LR-QAT and reports
// trainable parameters, AdamW state bytes, peak RSS during TrainBlock and
// wall time; then the same parameter arithmetic for a Llama-2-7B block.
// Run it once per method (a fresh process each, so the peaks do not mix):
//   lrqat_memory_bench --method=blockap
//   lrqat_memory_bench --method=lrqat [--checkpointing]
//   lrqat_memory_bench --shape=llama2-7b --method=... --windows=2 --len=64
// (--shape=llama2-7b: a random-weight block of Llama-2-7B's shape fed random
// hidden states, targets from its own fp forward: the memory of a real 7B
// block's training, not its quality.)
// Peak RSS: free heap is returned to the system (malloc_trim) and
// /proc/self/clear_refs is reset ("5") right before TrainBlock, then VmHWM is
// read after it (Linux); reported as the rise over VmRSS before training.
// CPU, fp32 (the CPU training precision).
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "common/job/job_defaults.h"
#include "common/text_data.h"
#include "common/tokenizer.h"
#include "worker/methods/activation_store.h"
#include "worker/methods/block_ap.h"
#include "worker/methods/lr_qat.h"
#include "worker/model/llama_model.h"
#include "bench/random_block.h"

ABSL_FLAG(std::string, method, "lrqat", "blockap | lrqat");
ABSL_FLAG(std::string, model, "models/eqat-ref-7m", "HF model folder");
ABSL_FLAG(std::string, shape, "model",
          "model (a block of --model on --data) | llama2-7b (random block of that shape)");
ABSL_FLAG(std::string, data, "data/calib_en.txt", "calibration text");
ABSL_FLAG(int32_t, block, 0, "block to train");
ABSL_FLAG(int64_t, windows, 64, "calibration windows");
ABSL_FLAG(int64_t, len, 128, "tokens per window");
ABSL_FLAG(int32_t, rank, eqat::job_defaults::kLrQatRank, "LR-QAT rank");
ABSL_FLAG(double, alpha, eqat::job_defaults::kLrQatAlpha, "LR-QAT alpha");
ABSL_FLAG(bool, checkpointing, false, "LR-QAT: recompute the weight intermediates in backward");
ABSL_FLAG(int32_t, bits, 4, "weight bits");
ABSL_FLAG(int32_t, group, 128, "group size (-1: per channel)");
ABSL_FLAG(int64_t, epochs, 1, "epochs");
ABSL_FLAG(int64_t, batch, eqat::job_defaults::kApBatch, "windows per step");
ABSL_FLAG(int32_t, threads, 0, "LibTorch threads (0: default)");

namespace {

// A field of /proc/self/status in kB (-1 if absent).
long StatusKb(const std::string& key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
  }
  return -1;
}

bool ResetPeak() {
  malloc_trim(0);
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  return static_cast<bool>(f);
}

void PrintCounts(const char* what, const eqat::ModelConfig& c, const eqat::QuantSpec& spec,
                 int rank) {
  auto ap = eqat::BlockApTrainableCount(c, spec);
  auto lr = eqat::LrQatTrainableCount(c, spec, rank);
  std::printf("%s block (bits %d, group %d, rank %d): block-ap params %lld, adamw %.3f MiB; "
              "lr-qat params %lld, adamw %.3f MiB; ratio %.4f\n",
              what, spec.bits, spec.group_size, rank, static_cast<long long>(ap.params),
              ap.optimizer_bytes / 1048576.0, static_cast<long long>(lr.params),
              lr.optimizer_bytes / 1048576.0,
              static_cast<double>(lr.params) / static_cast<double>(ap.params));
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "%s\n", s.ToString().c_str());
  return 1;
}

}  // namespace

int Run() {
  using namespace eqat;
  if (absl::GetFlag(FLAGS_threads) > 0) torch::set_num_threads(absl::GetFlag(FLAGS_threads));
  const std::string method = absl::GetFlag(FLAGS_method);
  if (method != "blockap" && method != "lrqat") {
    return Fail(absl::InvalidArgumentError("--method: blockap or lrqat"));
  }
  const QuantSpec spec{absl::GetFlag(FLAGS_bits), absl::GetFlag(FLAGS_group)};
  const int rank = absl::GetFlag(FLAGS_rank);
  const std::string shape = absl::GetFlag(FLAGS_shape);
  if (shape != "model" && shape != "llama2-7b") {
    return Fail(absl::InvalidArgumentError("--shape: model or llama2-7b"));
  }
  const int64_t n = absl::GetFlag(FLAGS_windows), len = absl::GetFlag(FLAGS_len);
  std::string dir = absl::GetFlag(FLAGS_model);
  ModelConfig cfg;
  Block block;
  std::unique_ptr<ActivationStore> in, tgt;
  int bi = absl::GetFlag(FLAGS_block);
  if (shape == "llama2-7b") {
    dir = "random weights";
    bi = 0;
    cfg = bench::Llama2Block7b();
    block = bench::RandomBlock(cfg, /*seed=*/7);
    torch::manual_seed(7);
    auto h = torch::randn({n, len, cfg.hidden_size});
    torch::Tensor y;
    {
      torch::NoGradGuard ng;
      y = BlockForward(block, cfg, h);
    }
    auto s = bench::StoreOf(h), t = bench::StoreOf(y);
    if (!s.ok()) return Fail(s.status());
    if (!t.ok()) return Fail(t.status());
    in = std::move(*s);
    tgt = std::move(*t);
  } else {
    auto model = LlamaModel::Load(dir);
    if (!model.ok()) return Fail(model.status());
    auto tok = Tokenizer::Load(dir + "/tokenizer.model");
    if (!tok.ok()) return Fail(tok.status());
    cfg = (*model)->config();
    auto tokens = LoadTokens(absl::GetFlag(FLAGS_data), **tok, cfg.vocab_size);
    if (!tokens.ok()) return Fail(tokens.status());
    auto windows = SampleWindows(*tokens, n, len, /*seed=*/7);
    if (!windows.ok()) return Fail(windows.status());
    std::vector<int64_t> flat;
    for (const auto& w : *windows) flat.insert(flat.end(), w.begin(), w.end());
    auto ids = torch::tensor(flat, torch::kLong).view({n, len});
    {
      torch::NoGradGuard ng;
      auto h = (*model)->Embed(ids);
      for (int i = 0; i < bi; ++i) h = BlockForward((*model)->block(i), cfg, h);
      auto y = BlockForward((*model)->block(bi), cfg, h);
      auto s = bench::StoreOf(h), t = bench::StoreOf(y);
      if (!s.ok()) return Fail(s.status());
      if (!t.ok()) return Fail(t.status());
      in = std::move(*s);
      tgt = std::move(*t);
    }
    block = (*model)->block(bi).Clone();
  }

  BlockApOptions o;
  o.spec = spec;
  o.epochs = absl::GetFlag(FLAGS_epochs);
  o.batch_size = absl::GetFlag(FLAGS_batch);
  o.val_count = 0;
  LrQatMethod lrqat(rank, absl::GetFlag(FLAGS_alpha), absl::GetFlag(FLAGS_checkpointing));
  const BlockTrainingMethod& m =
      method == "lrqat" ? static_cast<const BlockTrainingMethod&>(lrqat) : BlockApMethod();

  const bool reset = ResetPeak();
  const long rss0 = StatusKb("VmRSS");
  auto t0 = std::chrono::steady_clock::now();
  auto r = TrainBlock(&block, cfg, *in, *tgt, o, m);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const long hwm = StatusKb("VmHWM");
  if (!r.ok()) return Fail(r.status());
  // Output MSE of the packed block on the first (up to) 4 windows.
  std::vector<int64_t> first;
  for (int64_t i = 0; i < std::min<int64_t>(4, n); ++i) first.push_back(i);
  double mse;
  {
    torch::NoGradGuard ng;
    mse = torch::mse_loss(BlockForward(block, cfg, in->Gather(first)), tgt->Gather(first))
              .item<double>();
  }
  auto counts = method == "lrqat" ? LrQatTrainableCount(cfg, spec, rank)
                                  : BlockApTrainableCount(cfg, spec);
  std::printf("method %s%s: block %d of %s, %lld x %lld tokens, bits %d group %d, %lld steps, "
              "threads %d\n",
              method.c_str(), method == "lrqat" && lrqat.checkpointing() ? " (checkpointing)" : "",
              bi, dir.c_str(), static_cast<long long>(n), static_cast<long long>(len), spec.bits,
              spec.group_size, static_cast<long long>(r->steps), torch::get_num_threads());
  std::printf("trainable params %lld, adamw state %lld bytes\n",
              static_cast<long long>(counts.params), static_cast<long long>(counts.optimizer_bytes));
  std::printf("rss before %ld kB, peak during training %ld kB (+%ld kB)%s, wall %.2f s, "
              "train loss %.6g, packed output mse (%zu windows) %.6g\n",
              rss0, hwm, hwm - rss0, reset ? "" : " [clear_refs failed: peak since start]", secs,
              r->train_loss, first.size(), mse);
  PrintCounts("this model's", cfg, spec, rank);
  PrintCounts("Llama-2-7B", bench::Llama2Block7b(), {4, 128}, 32);
  return 0;
}

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  try {
    return Run();
  } catch (const std::exception& e) {  // LibTorch errors end here, as a message
    std::fprintf(stderr, "lrqat_memory_bench: %s\n", e.what());
    return 1;
  }
}
