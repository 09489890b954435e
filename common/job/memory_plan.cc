#include "common/job/memory_plan.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/job/job_spec.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/quant_spec.h"

namespace eqat {
namespace {

constexpr double kF32 = 4.0;

// Per token, the floats one block keeps for its backward pass (counted from
// BlockForward: input, two RMSNorms, q/k/v with RoPE, repeated k/v, the
// attention output, h, SwiGLU's four I-wide tensors, the output and the MSE
// difference), times 1.5 for the gradients alive during the backward.
double TrainFloatsPerToken(const ModelConfig& c) {
  const double H = static_cast<double>(c.hidden_size), I = static_cast<double>(c.intermediate_size);
  const double q = static_cast<double>(c.num_attention_heads * c.head_dim);
  const double kv = static_cast<double>(c.num_key_value_heads * c.head_dim);
  return 1.5 * (8 * H + 6 * q + 4 * kv + 4 * I);
}
// Score-sized [heads, T, T] tensors alive at the peak of a training step:
// the saved softmax output, and in the backward its gradient, softmax's
// temporaries and the masked_fill / scale / matmul gradients. Calibrated on
// stories260K at seqlen 512, ap-batch 16 (bench/cache_rss.sh: 1307 and
// 1545 MiB measured, 1343 and 1567 estimated), where the scores dominate.
constexpr double kTrainScoreCopies = 8;
// A no-grad forward: the transient tensors alive at once.
double ForwardFloatsPerToken(const ModelConfig& c) {
  const double H = static_cast<double>(c.hidden_size), I = static_cast<double>(c.intermediate_size);
  const double q = static_cast<double>(c.num_attention_heads * c.head_dim);
  const double kv = static_cast<double>(c.num_key_value_heads * c.head_dim);
  return 4 * H + 4 * q + 2 * kv + 3 * I;
}
constexpr double kForwardScoreCopies = 3;
// Logits-sized tensors alive at the loss (logits, log-softmax, gradient).
constexpr double kLogitCopies = 3;

// Tokenizing a text file (LoadTokens / LoadE2eExamples) peaks at this many
// bytes per byte of text plus this many per token, tokens estimated from
// the vocabulary (about 1.6 bytes per token at 512 entries, 3.25 at 4096,
// 4 from 32k on). Fitted to `eqat eval --max-windows 1` peaks: 2.0 MB of
// text take 208 MiB with eqat-ref-7m's 4096 tokens, 307 MiB with
// stories260K's 512 (sentencepiece encodes the whole text at once).
constexpr double kTokenizeBytesPerByte = 58;
constexpr double kTokenizeBytesPerToken = 158;

double TokenizeBytes(const ModelConfig& c, const std::string& path) {
  if (path.empty()) return 0;
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return 0;
  const double v = static_cast<double>(std::max<int64_t>(2, c.vocab_size));
  const double bytes_per_token = std::clamp(0.55 * std::log2(v) - 3.35, 1.0, 4.0);
  const double b = static_cast<double>(size);
  return b * kTokenizeBytesPerByte + b / bytes_per_token * kTokenizeBytesPerToken;
}

int64_t Bytes(double b) { return static_cast<int64_t>(std::llround(std::max(0.0, b))); }

double ScoreFloats(const ModelConfig& c, double T) {
  return static_cast<double>(c.num_attention_heads) * T * T;
}

// One training step's saved tensors for `batch` windows of T tokens.
double TrainActivationBytes(const ModelConfig& c, double batch, double T) {
  return kF32 * batch * (T * TrainFloatsPerToken(c) + kTrainScoreCopies * ScoreFloats(c, T));
}
double ForwardActivationBytes(const ModelConfig& c, double batch, double T) {
  return kF32 * batch * (T * ForwardFloatsPerToken(c) + kForwardScoreCopies * ScoreFloats(c, T));
}
double LogitBytes(const ModelConfig& c, double batch, double T) {
  return kF32 * kLogitCopies * batch * T * static_cast<double>(c.vocab_size);
}

int64_t Groups(int group_size, int64_t in) {
  return group_size <= 0 ? 1 : std::max<int64_t>(1, in / group_size);
}
int64_t PackedWords(int64_t n, int bits) { return (n * bits + 31) / 32; }

int64_t LinearWeights(const ModelConfig& c) {
  int64_t w = 0;
  for (const LinearDims& l : BlockLinearDims(c)) w += l.out_features * l.in_features;
  return w;
}

// Bytes of one packed block as ReadBlockFile holds it: qweight and qzeros
// int32, fp16 scales, int32 g_idx, fp32 biases and norms.
int64_t PackedBlockBytes(const ModelConfig& c, const QuantSpec& q) {
  int64_t b = 0;
  for (const LinearDims& l : BlockLinearDims(c)) {
    const int64_t G = Groups(q.group_size, l.in_features);
    b += 4 * PackedWords(l.in_features, q.bits) * l.out_features;
    b += 4 * G * PackedWords(l.out_features, q.bits);
    b += 2 * G * l.out_features + 4 * l.in_features;
  }
  return b + 4 * (BlockParams(c) - LinearWeights(c));
}

int64_t CacheSetBytes(const ModelConfig& c, int64_t samples, int64_t T, int64_t budget) {
  const int64_t sample = T * c.hidden_size * 4;
  const int64_t resident = std::min<int64_t>(samples, std::max<int64_t>(0, budget / sample));
  return resident * sample;
}

void Add(StageMemory* s, const std::string& name, double bytes, bool device) {
  if (bytes <= 0) return;
  s->parts.push_back({name, Bytes(bytes), device});
  (device ? s->device_bytes : s->ram_bytes) += Bytes(bytes);
}

std::string PartsText(const StageMemory& s, bool device) {
  std::vector<std::string> out;
  for (const MemoryPart& p : s.parts) {
    if (p.device == device) out.push_back(absl::StrCat(p.name, " ", HumanBytes(p.bytes)));
  }
  return absl::StrJoin(out, ", ");
}

}  // namespace

std::string StageMemory::Label() const {
  if (finalize) return absl::StrFormat("finalize (blocks 0-%d)", last_block - 1);
  return absl::StrFormat("stage %d (blocks %d-%d)", index, first_block, last_block - 1);
}

int64_t MemoryPlan::PeakRam() const {
  int64_t m = finalize.ram_bytes;
  for (const StageMemory& s : stages) m = std::max(m, s.ram_bytes);
  return m;
}

int64_t MemoryPlan::PeakDevice() const {
  int64_t m = finalize.device_bytes;
  for (const StageMemory& s : stages) m = std::max(m, s.device_bytes);
  return m;
}

int64_t BlockParams(const ModelConfig& c) {
  int64_t p = LinearWeights(c) + 2 * c.hidden_size;
  const int64_t q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  if (c.attention_bias) p += q + 2 * kv;
  if (c.o_proj_bias) p += c.hidden_size;
  if (c.qk_norm) p += 2 * c.head_dim;  // qwen3: q_norm, k_norm
  return p;
}

int64_t BlockQuantGroups(const ModelConfig& c, int group_size) {
  int64_t g = 0;
  for (const LinearDims& l : BlockLinearDims(c)) g += l.out_features * Groups(group_size, l.in_features);
  return g;
}

int64_t NonBlockParams(const ModelConfig& c) {
  const int64_t emb = c.vocab_size * c.hidden_size;
  return (c.tie_word_embeddings ? emb : 2 * emb) + c.hidden_size;
}

StageMemory EstimateBlockStage(const ModelConfig& c, const v1::JobSpec& spec, int first, int last,
                               int index, int num_stages, const MemoryResources& r) {
  StageMemory s;
  s.index = index;
  s.first_block = first;
  s.last_block = last;
  const double P = static_cast<double>(BlockParams(c));
  const double G = static_cast<double>(BlockQuantGroups(c, spec.group_size()));
  const double k = last - first, T = static_cast<double>(spec.seqlen());
  // lrqat / apiq train fewer tensors than Block-AP: its figures bound theirs.
  const bool trains = IsTrainedMethod(spec.method()) || spec.method() == "eqat";
  const bool gptq = spec.method() == "gptq";
  const bool has_data = !spec.calib_path().empty();
  const double nonblock = kF32 * static_cast<double>(NonBlockParams(c));
  Add(&s, "baseline", static_cast<double>(r.baseline_bytes), false);
  if (r.cuda) Add(&s, "device baseline", static_cast<double>(kDeviceBaselineBytes), true);
  Add(&s, "weights", kF32 * k * P + nonblock, false);
  double fwd = has_data ? ForwardActivationBytes(c, static_cast<double>(spec.batch()), T) : 0;
  if (trains) {
    Add(&s, "master", kF32 * P + 8 * G, r.cuda);
    Add(&s, "optimizer", 12 * P + 24 * G, r.cuda);
    Add(&s, "fake-quant", 16 * P, r.cuda);
    const double train = TrainActivationBytes(c, static_cast<double>(spec.ap_batch()), T);
    Add(&s, "activations", std::max(train, r.cuda ? 0.0 : fwd), r.cuda);
    if (r.cuda) Add(&s, "forward pass", fwd, false);
  } else if (gptq) {
    // Hessians (in x in, fp32, per linear input) and the taps of one batch.
    double hess = 0;
    for (const LinearDims& l : BlockLinearDims(c)) {
      hess += kF32 * static_cast<double>(l.in_features) * static_cast<double>(l.in_features);
    }
    Add(&s, "hessians", hess, false);
    Add(&s, "activations", fwd, false);
  } else {
    Add(&s, "activations", fwd, false);
  }
  if (has_data) {
    const bool pipelined = spec.schedule() == v1::PIPELINED;
    int sets = 2;
    if (pipelined && index > 0) sets += 2;                 // the feed's own stores
    if (pipelined && index + 1 < num_stages) sets += 1;    // fp outputs streamed ahead
    const double set = static_cast<double>(
        CacheSetBytes(c, spec.samples() + spec.val_samples(), spec.seqlen(),
                      r.cache_budget_bytes));
    Add(&s, "activation cache", sets * set, false);
    if (first > 0) {
      s.rebuild_ram_bytes = Bytes(static_cast<double>(r.baseline_bytes) + nonblock +
                                  kF32 * first * P + 2 * set + fwd);
    }
    // Stage 0 tokenizes the calibration text first (embeddings loaded).
    const double tok = index == 0 ? TokenizeBytes(c, spec.calib_path()) : 0;
    StageMemory t;
    Add(&t, "baseline", static_cast<double>(r.baseline_bytes), false);
    Add(&t, "weights", nonblock, false);
    Add(&t, "tokenizer", tok, false);
    if (t.ram_bytes > s.ram_bytes) {
      const int64_t device = s.device_bytes;
      std::vector<MemoryPart> dev_parts;
      for (const MemoryPart& p : s.parts) {
        if (p.device) dev_parts.push_back(p);
      }
      s.parts = t.parts;
      s.parts.insert(s.parts.end(), dev_parts.begin(), dev_parts.end());
      s.ram_bytes = t.ram_bytes;
      s.device_bytes = device;
    }
  }
  return s;
}

StageMemory EstimateFinalize(const ModelConfig& c, const v1::JobSpec& spec,
                             const MemoryResources& r) {
  StageMemory s;
  s.finalize = true;
  const int L = static_cast<int>(c.num_hidden_layers);
  s.first_block = 0;
  s.last_block = L;
  const QuantSpec q{spec.bits(), spec.group_size()};
  const double nonblock = kF32 * static_cast<double>(NonBlockParams(c));
  const double packed = static_cast<double>(L) * static_cast<double>(PackedBlockBytes(c, q));
  const double Gall = static_cast<double>(L) * static_cast<double>(BlockQuantGroups(c, q.group_size));
  const double Wall = static_cast<double>(L) * static_cast<double>(LinearWeights(c));
  const double Wblock = static_cast<double>(LinearWeights(c));
  const double Pall = static_cast<double>(L) * static_cast<double>(BlockParams(c));
  // apiq's --e2e-lora is costed as E2E-QP (the same passes, fewer states).
  const bool e2e = RunsE2e(spec) && !spec.e2e_data().empty();

  // Phase 1: E2E-QP on the packed model (or just the packed model).
  StageMemory e;
  e.finalize = true;
  e.last_block = L;
  Add(&e, "baseline", static_cast<double>(r.baseline_bytes), false);
  Add(&e, "weights", nonblock + packed, false);
  if (e2e) {
    const bool dev = r.cuda;
    if (dev) Add(&e, "device baseline", static_cast<double>(kDeviceBaselineBytes), true);
    const double B = static_cast<double>(spec.e2e_batch()), T = static_cast<double>(spec.e2e_seqlen());
    Add(&e, "step sizes", kF32 * Gall, dev);
    Add(&e, "optimizer", 12 * Gall, dev);
    double act;
    if (spec.e2e_checkpointing()) {
      act = 8 * Wblock + kF32 * L * B * T * static_cast<double>(c.hidden_size) +
            TrainActivationBytes(c, B, T);
    } else {
      // Per linear: the dequantized weight (saved by the matmul) and the
      // codes minus zero point (saved for the step-size gradient).
      act = 8 * Wall + static_cast<double>(L) * kF32 * B * T * TrainFloatsPerToken(c) / 1.5 +
            kF32 * B * static_cast<double>(L) * ScoreFloats(c, T) +
            kF32 * B * (kTrainScoreCopies - 1) * ScoreFloats(c, T);
    }
    act += kF32 * Wblock + LogitBytes(c, B, T);  // one linear's transient codes, the loss
    Add(&e, "activations", act, dev);
  }
  // Phase 2: evaluation of the fp32 source model (then the packed one).
  StageMemory v;
  v.finalize = true;
  v.last_block = L;
  if (!spec.eval_text().empty()) {
    const double B = static_cast<double>(spec.batch()), T = static_cast<double>(spec.eval_seqlen());
    Add(&v, "baseline", static_cast<double>(r.baseline_bytes), false);
    Add(&v, "weights", nonblock + kF32 * Pall, false);
    Add(&v, "activations", ForwardActivationBytes(c, B, T) + LogitBytes(c, B, T) / kLogitCopies * 2,
        false);
  }
  // Phase 0: tokenizing the E2E-QP data and the evaluation text.
  StageMemory t;
  Add(&t, "baseline", static_cast<double>(r.baseline_bytes), false);
  Add(&t, "weights", nonblock + packed, false);
  Add(&t, "tokenizer",
      std::max(e2e ? TokenizeBytes(c, spec.e2e_data()) : 0.0, TokenizeBytes(c, spec.eval_text())),
      false);
  const StageMemory* peak = &e;
  if (v.ram_bytes > peak->ram_bytes) peak = &v;
  if (t.ram_bytes > peak->ram_bytes) peak = &t;
  s.parts = peak->parts;
  s.ram_bytes = peak->ram_bytes;
  s.device_bytes = e.device_bytes;
  if (peak != &e) {
    // Another phase sets the RAM peak; keep E2E-QP's device share visible.
    for (const MemoryPart& p : e.parts) {
      if (p.device) s.parts.push_back(p);
    }
  }
  return s;
}

MemoryPlan EstimateMemoryPlan(const ModelConfig& c, const v1::JobSpec& spec,
                              const std::vector<std::pair<int, int>>& ranges,
                              const MemoryResources& r) {
  MemoryPlan p;
  const int n = static_cast<int>(ranges.size());
  for (int i = 0; i < n; ++i) {
    p.stages.push_back(EstimateBlockStage(c, spec, ranges[i].first, ranges[i].second, i, n, r));
  }
  p.finalize = EstimateFinalize(c, spec, r);
  return p;
}

bool StageFits(const StageMemory& s, const WorkerMemory& w) {
  return (w.ram_bytes <= 0 || s.ram_bytes <= w.ram_bytes) &&
         (w.device_bytes <= 0 || s.device_bytes <= w.device_bytes);
}

absl::Status CheckStageFits(const StageMemory& s, const WorkerMemory& w, const std::string& who) {
  if (w.ram_bytes > 0 && s.ram_bytes > w.ram_bytes) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s needs ~%s peak RAM (%s), %s has %s RAM", s.Label(), HumanBytes(s.ram_bytes),
        PartsText(s, false), who, HumanBytes(w.ram_bytes)));
  }
  if (w.device_bytes > 0 && s.device_bytes > w.device_bytes) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s needs ~%s peak device memory (%s), %s has %s device memory", s.Label(),
        HumanBytes(s.device_bytes), PartsText(s, true), who, HumanBytes(w.device_bytes)));
  }
  return absl::OkStatus();
}

int MaxBlocksThatFit(const ModelConfig& c, const v1::JobSpec& spec, int num_stages,
                     const MemoryResources& r, const WorkerMemory& w, int limit) {
  if (w.ram_bytes <= 0 && w.device_bytes <= 0) return limit;
  // Worst of the first stage (tokenizes the calibration text) and a middle
  // one (fed by a predecessor, streaming on).
  const int n = std::max(1, num_stages);
  int best = 0;
  for (int k = 1; k <= limit; ++k) {
    if (!StageFits(EstimateBlockStage(c, spec, 0, k, 0, n, r), w)) break;
    if (n >= 2 && !StageFits(EstimateBlockStage(c, spec, 0, k, 1, n, r), w)) break;
    best = k;
  }
  return best;
}

std::string HumanBytes(int64_t b) {
  const double d = static_cast<double>(b);
  if (b >= (int64_t{1} << 30)) return absl::StrFormat("%.1f GiB", d / (1 << 30));
  if (b >= (int64_t{1} << 20)) return absl::StrFormat("%.1f MiB", d / (1 << 20));
  if (b >= (int64_t{1} << 10)) return absl::StrFormat("%.1f KiB", d / (1 << 10));
  return absl::StrCat(b, " B");
}

std::string MemoryPlanText(const MemoryPlan& p) {
  std::string out;
  auto line = [&](const StageMemory& s) {
    absl::StrAppend(&out, absl::StrFormat("  %-32s ~%s RAM (%s)", s.Label(), HumanBytes(s.ram_bytes),
                                          PartsText(s, false)));
    if (s.device_bytes > 0) {
      absl::StrAppend(&out, absl::StrFormat("; ~%s device (%s)", HumanBytes(s.device_bytes),
                                            PartsText(s, true)));
    }
    if (s.rebuild_ram_bytes > 0) {
      absl::StrAppend(&out, absl::StrFormat("; restart rebuild ~%s", HumanBytes(s.rebuild_ram_bytes)));
    }
    absl::StrAppend(&out, "\n");
  };
  for (const StageMemory& s : p.stages) line(s);
  line(p.finalize);
  absl::StrAppend(&out, absl::StrFormat("  peak: ~%s RAM", HumanBytes(p.PeakRam())));
  if (p.PeakDevice() > 0) absl::StrAppend(&out, ", ~", HumanBytes(p.PeakDevice()), " device");
  absl::StrAppend(&out, "\n");
  return out;
}

Json MemoryPlanJson(const MemoryPlan& p) {
  auto stage = [](const StageMemory& s) {
    Json parts = Json::object();
    for (const MemoryPart& m : s.parts) {
      parts[m.device ? "device " + m.name : m.name] = m.bytes;
    }
    Json j = {{"label", s.Label()},
              {"first_block", s.first_block},
              {"last_block", s.last_block},
              {"ram_bytes", s.ram_bytes},
              {"device_bytes", s.device_bytes},
              {"parts", parts}};
    if (!s.finalize) j["rebuild_ram_bytes"] = s.rebuild_ram_bytes;
    return j;
  };
  Json stages = Json::array();
  for (const StageMemory& s : p.stages) stages.push_back(stage(s));
  return {{"stages", stages},
          {"finalize", stage(p.finalize)},
          {"peak_ram_bytes", p.PeakRam()},
          {"peak_device_bytes", p.PeakDevice()}};
}

int64_t SystemMemoryBytes() {
  int64_t phys = static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
  for (const char* path : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream in(path);
    std::string v;
    if (in >> v && !v.empty() && v != "max") {
      char* end = nullptr;
      long long lim = std::strtoll(v.c_str(), &end, 10);
      if (end != v.c_str() && lim > 0 && lim < phys) phys = lim;
    }
  }
  return phys;
}

}  // namespace eqat
