// The defaults of a quantization job (v1::JobSpec), in one place: what
// ValidateJobSpec (job_spec.h) fills in, what the CLI's flag table shows,
// and what the methods fall back to when called without a value. Header
// only, with no dependencies, so every layer can include it.
// Thread-safety: constants and pure functions.
#ifndef EQAT_COMMON_JOB_JOB_DEFAULTS_H_
#define EQAT_COMMON_JOB_JOB_DEFAULTS_H_

#include <cstdint>
#include <string_view>

namespace eqat {

// Defaults of the fields whose default does not depend on the model or on
// other fields. The CLI's flag table shows these same constants.
namespace job_defaults {
inline constexpr char kMethod[] = "efficientqat";
inline constexpr int kBits = 4;
inline constexpr int kGroupSize = 128;
inline constexpr int64_t kSamples = 4096;  // EfficientQAT's Block-AP windows
inline constexpr int64_t kMaxSeqlen = 2048;  // seqlen: min(this, max_position_embeddings)
inline constexpr uint64_t kSeed = 0;
inline constexpr int64_t kEpochs = 2;
inline constexpr int64_t kApBatch = 2;
inline constexpr double kQuantLr = 1e-4;
// Block-AP validation windows, besides the training windows (official: 64).
inline constexpr int64_t kValSamples = 64;
inline constexpr char kCalibWindows[] = "chunks";  // or "random"
inline constexpr char kPrecision[] = "fp16";       // CUDA only; or "bf16", "fp32"
// E2E-QP, the official recipe: 4096 windows of 4096 tokens (capped at
// max_position_embeddings), one epoch, 32 windows per step (batch 4 x
// accumulation 8): 128 steps, 3% warm-up from 0 then cosine to 0.
inline constexpr int64_t kE2eSamples = 4096;
inline constexpr int64_t kE2eMaxSeqlen = 4096;
inline constexpr int64_t kE2eEpochs = 1;
inline constexpr int64_t kE2eBatch = 4;
inline constexpr int64_t kE2eAccum = 8;
inline constexpr double kE2eWarmupRatio = 0.03;
// LR-QAT (Bondarenko et al. 2024) and ApiQ (Liao et al. 2024): LoRA rank,
// and alpha (the factor is alpha / rank).
inline constexpr int kLrQatRank = 32;
inline constexpr double kLrQatAlpha = 32;
inline constexpr int kApiqRank = 64;
inline constexpr double kApiqAlpha = 16;
inline constexpr int kMaxRank = 4096;
// Q-PEFT (official scripts): the BOS + prompt and the response + EOS are
// truncated separately, to these many tokens each.
inline constexpr int64_t kQpeftSourceMaxLen = 384;
inline constexpr int64_t kQpeftTargetMaxLen = 128;
inline constexpr int64_t kEvalMaxWindows = 0;  // every window
inline constexpr double kAnnealFraction = 0.5;
inline constexpr int kMaxStages = 0;  // one stage per available worker
inline constexpr int64_t kBatch = 4;
inline constexpr char kZeros[] = "v2";
inline constexpr char kFormat[] = "gptq";

// Upper bounds of the counts a spec may ask for: far above any real job
// (the official recipe uses 4096 windows, 2 epochs, batch 2/4, accumulation
// 8), low enough that a typo cannot ask a worker for terabytes or years.
inline constexpr int64_t kMaxSamples = int64_t{1} << 20;   // windows
inline constexpr int64_t kMaxTokens = int64_t{1} << 33;    // samples x seqlen
inline constexpr int64_t kMaxEpochs = 10000;
inline constexpr int64_t kMaxBatch = 65536;                // batch, ap_batch, e2e_batch, e2e_accum
inline constexpr int64_t kMaxEvalWindows = int64_t{1} << 31;
inline constexpr int kMaxStagesLimit = 4096;
inline constexpr double kMaxLearningRate = 1.0;
}  // namespace job_defaults

// Model- or field-dependent defaults: Block-AP weight lr and E2E-QP lr are
// 2e-5 at 2 bits, 1e-5 otherwise; e2e_data follows calib_path (and the E2E
// windows then come from the part of it that no Block-AP window touches).
inline double DefaultWeightLearningRate(int bits) { return bits <= 2 ? 2e-5 : 1e-5; }
inline double DefaultE2eLearningRate(int bits) { return bits <= 2 ? 2e-5 : 1e-5; }
// Methods that train each block on calibration data (and so use validation
// windows): efficientqat, lrqat, apiq.
// The learning rate of the low-rank factors (weight_lr of lrqat / apiq).
inline constexpr double kLowRankLr = 1e-4;
inline double DefaultWeightLearningRate(std::string_view method, int bits) {
  if (method == "lrqat" || method == "apiq") return kLowRankLr;
  return DefaultWeightLearningRate(bits);
}
inline bool IsTrainedMethod(std::string_view m) {
  return m == "efficientqat" || m == "lrqat" || m == "apiq";
}

}  // namespace eqat

#endif  // EQAT_COMMON_JOB_JOB_DEFAULTS_H_
