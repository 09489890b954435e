// Memory plan of a quantization job: the estimated peak RAM (and device
// memory, for a CUDA worker) of each Block-AP stage and of the finalize
// stage (assemble the packed model, E2E-QP, write, evaluate), computed from
// config.json (ModelConfig) and the validated JobSpec alone: no LibTorch,
// no weights read. `eqat quantize` refuses a job that cannot fit this
// machine, `eqat inspect --plan` prints the plan, and the coordinator
// refuses jobs no worker can hold and splits blocks by worker capacity.
//
// The model mirrors what the worker code holds (worker/stage/*,
// worker/methods/*); every tensor LoadRange reads is fp32:
//   block stage [f, l), k = l - f blocks, P = one block's parameters,
//   G = its step-size elements (sum over linears of out * groups):
//     baseline     process: LibTorch + binary + allocator/thread arenas
//     weights      4 (k P + embeddings + final norm + lm_head)
//     master       4 P + 8 G            (the trained copy, step sizes, zeros)
//     optimizer    12 P + 24 G          (gradients + AdamW's two moments)
//     fake-quant   16 P                 (STE temporaries kept for backward)
//     activations  the training batch's saved tensors (ap_batch x seqlen),
//                  or the no-grad pass (batch x seqlen), whichever is larger
//     cache        sets x min(samples x seqlen x hidden x 4, budget), with
//                  2 sets (fp, quant), 4 for a pipelined stage fed by its
//                  predecessor, +1 when a pipelined stage streams ahead
//     tokenizer    stage 0 first tokenizes the calibration text, with only
//                  the embeddings loaded: ~58 B per text byte + 158 B per
//                  token (sentencepiece encodes the whole file at once);
//                  the stage's peak is the larger of the two phases
//   finalize:
//     weights      4 (embeddings, norm, lm_head) + the packed blocks
//     step sizes   4 G_all, optimizer 12 G_all
//     activations  E2E-QP backward: 8 bytes per quantized weight (the
//                  dequantized weight and its codes, per linear) + every
//                  block's saved tensors + the logits; with
//                  e2e_checkpointing, one block's worth + each block's input
//     evaluation   (with eval_text) the fp32 model + one no-grad batch;
//     tokenizer    the E2E-QP data or the evaluation text, as above;
//                  the peak is the largest of these phases.
// On a CUDA worker the trained block (master, optimizer, fake-quant,
// training activations) lives on the device; everything else in RAM.
// The recovery path (a stage rebuilding its inputs from the calibration
// text after a restart) loads blocks [0, f) in fp32 first; it is reported
// as `rebuild_ram_bytes`, not counted in the peak.
//
// Calibration: bench/memory_plan_check.sh compares these figures with the
// measured peak RSS of `eqat quantize` on eqat-ref-7m (within 25%).
// Thread-safety: pure functions over plain values (the estimates stat the
// job's text files for their sizes; a missing file counts as empty).
#ifndef EQAT_COMMON_JOB_MEMORY_PLAN_H_
#define EQAT_COMMON_JOB_MEMORY_PLAN_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/json.h"
#include "common/model_config.h"
#include "eqat/v1/quantization_service.pb.h"

namespace eqat {

// Resident size of an `eqat quantize` / `eqat-worker` process before any
// model is loaded, plus what LibTorch's thread pools and the allocator keep
// once a training step has run (measured on the 2-core CPU machine,
// bench/memory_plan_check.sh).
inline constexpr int64_t kProcessBaselineBytes = int64_t{200} << 20;
// CUDA context + LibTorch's kernels on the device.
inline constexpr int64_t kDeviceBaselineBytes = int64_t{600} << 20;

// What the process running a stage brings (not part of the job).
struct MemoryResources {
  int64_t cache_budget_bytes = int64_t{4} << 30;  // per activation set (--cache-budget)
  bool cuda = false;                              // trains on a CUDA device
  int64_t baseline_bytes = kProcessBaselineBytes;
};

// One named share of a stage's peak.
struct MemoryPart {
  std::string name;     // "weights", "optimizer", "activation cache", ...
  int64_t bytes = 0;
  bool device = false;  // on the CUDA device rather than in RAM
};

struct StageMemory {
  bool finalize = false;
  int index = 0;                     // block stages: 0..n-1
  int first_block = 0, last_block = 0;  // [first, last)
  std::vector<MemoryPart> parts;     // of the peak phase
  int64_t ram_bytes = 0;             // peak RAM
  int64_t device_bytes = 0;          // peak device memory (0 on CPU)
  int64_t rebuild_ram_bytes = 0;     // recovery path (see above); 0 for stage 0
  // "stage 0 (blocks 0-31)" or "finalize (blocks 0-31)" (assemble, E2E-QP, eval).
  std::string Label() const;
};

struct MemoryPlan {
  std::vector<StageMemory> stages;  // block stages in order
  StageMemory finalize;
  int64_t PeakRam() const;          // max over stages and finalize
  int64_t PeakDevice() const;
};

// What a worker (or this machine) offers; 0 means unknown (not checked).
struct WorkerMemory {
  int64_t ram_bytes = 0;
  int64_t device_bytes = 0;
};

// Parameters of one block (linears, biases, norms) and its step-size
// elements at `group_size` (-1: one group per output channel).
int64_t BlockParams(const ModelConfig& c);
int64_t BlockQuantGroups(const ModelConfig& c, int group_size);
// Embeddings + final norm + lm_head (not counted twice when tied).
int64_t NonBlockParams(const ModelConfig& c);

// REQUIRES: `spec` passed ValidateJobSpec (every field set);
// 0 <= first < last <= num_hidden_layers; 0 <= index < num_stages.
StageMemory EstimateBlockStage(const ModelConfig& c, const v1::JobSpec& spec, int first, int last,
                               int index, int num_stages, const MemoryResources& r);
// REQUIRES: as above. GPTQ, RTN and skip_e2e jobs: assemble, write, evaluate.
StageMemory EstimateFinalize(const ModelConfig& c, const v1::JobSpec& spec,
                             const MemoryResources& r);
// Every stage of `ranges` ([first, last) each, contiguous) and finalize.
MemoryPlan EstimateMemoryPlan(const ModelConfig& c, const v1::JobSpec& spec,
                              const std::vector<std::pair<int, int>>& ranges,
                              const MemoryResources& r);

// OK when `s` fits `w` (unknown capacities pass); else FailedPrecondition:
// "stage 0 (blocks 0-31) needs ~41.2 GiB peak (weights 25.1 GiB, optimizer
// 2.4 GiB, activation cache 8.0 GiB, ...), worker has 23.5 GiB RAM".
// `who` names the holder ("worker", "this machine", "worker-003").
absl::Status CheckStageFits(const StageMemory& s, const WorkerMemory& w,
                            const std::string& who = "worker");
bool StageFits(const StageMemory& s, const WorkerMemory& w);

// The most blocks one stage may hold on `w` (the worse of the first stage
// and a middle one of `num_stages`), at most `limit`; 0 when not even one
// block fits.
// Unknown capacities give `limit`.
int MaxBlocksThatFit(const ModelConfig& c, const v1::JobSpec& spec, int num_stages,
                     const MemoryResources& r, const WorkerMemory& w, int limit);

// "41.2 GiB", "512.0 MiB", "3.0 KiB", "12 B".
std::string HumanBytes(int64_t bytes);
// Human-readable, one line per stage; and the same as JSON
// {"stages":[{"label","first_block","last_block","ram_bytes","device_bytes",
// "rebuild_ram_bytes","parts":{name: bytes}}], "finalize":{...},
// "peak_ram_bytes", "peak_device_bytes"}.
std::string MemoryPlanText(const MemoryPlan& p);
Json MemoryPlanJson(const MemoryPlan& p);

// This machine's RAM: physical memory, or the cgroup limit when lower.
int64_t SystemMemoryBytes();

}  // namespace eqat

#endif  // EQAT_COMMON_JOB_MEMORY_PLAN_H_
