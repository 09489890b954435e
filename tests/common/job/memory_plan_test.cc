// Memory plan: figures from arithmetic on a known config (Llama-2-7B), the
// refusal message, and the blocks-per-worker bound the planner uses.
#include "common/job/memory_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

namespace eqat {
namespace {

using ::testing::HasSubstr;

ModelConfig Llama2_7b() {
  absl::StatusOr<ModelConfig> c = ParseModelConfig(R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32000,
    "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "hidden_act": "silu",
    "torch_dtype": "float16"})");
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

// A validated spec's fields (every optional one set), EfficientQAT W2g64.
v1::JobSpec Spec() {
  v1::JobSpec s;
  s.set_model_dir("/m");
  s.set_output_dir("/o");
  s.set_method("efficientqat");
  s.set_bits(2);
  s.set_group_size(64);
  s.set_calib_path("/c.txt");
  s.set_samples(4096);
  s.set_seqlen(2048);
  s.set_epochs(2);
  s.set_ap_batch(2);
  s.set_batch(4);
  s.set_e2e_data("/c.txt");
  s.set_e2e_samples(4096);
  s.set_e2e_seqlen(2048);
  s.set_e2e_batch(2);
  s.set_e2e_accum(1);
  s.set_e2e_epochs(1);
  s.set_eval_seqlen(2048);
  return s;
}

int64_t Part(const StageMemory& s, const std::string& name) {
  for (const MemoryPart& p : s.parts) {
    if (p.name == name) return p.bytes;
  }
  return -1;
}

constexpr int64_t kGiB = int64_t{1} << 30;

TEST(MemoryPlanTest, BlockArithmeticOfLlama2_7b) {
  const ModelConfig c = Llama2_7b();
  // 7 linears: 4 x 4096 x 4096 + 3 x 4096 x 11008, plus two norms.
  EXPECT_EQ(BlockParams(c), 4 * 4096 * 4096 + 3 * 4096 * 11008 + 2 * 4096);
  EXPECT_EQ(BlockParams(c), 202383360);
  // g64: every linear has in/64 groups per output row.
  EXPECT_EQ(BlockQuantGroups(c, 64), (202383360 - 2 * 4096) / 64);
  EXPECT_EQ(BlockQuantGroups(c, -1), 4 * 4096 + 2 * 11008 + 4096);
  EXPECT_EQ(NonBlockParams(c), 2 * 32000 * 4096 + 4096);

  MemoryResources r;
  r.cache_budget_bytes = 4 * kGiB;
  StageMemory s = EstimateBlockStage(c, Spec(), 0, 32, 0, 1, r);
  const int64_t P = BlockParams(c), G = BlockQuantGroups(c, 64);
  // The fp32 master copy (~0.81 GB) with step sizes and zeros; AdamW 2x + grads.
  EXPECT_EQ(Part(s, "master"), 4 * P + 8 * G);
  EXPECT_NEAR(static_cast<double>(4 * P) / 1e9, 0.81, 0.005);
  EXPECT_EQ(Part(s, "optimizer"), 12 * P + 24 * G);
  // Every block of the stage in fp32, plus embeddings and lm_head.
  EXPECT_EQ(Part(s, "weights"), 4 * (32 * P + NonBlockParams(c)));
  // Two activation sets, each capped at the budget (4096 x 2048 x 4096 x 4
  // = 128 GiB per set uncapped).
  EXPECT_EQ(Part(s, "activation cache"), 2 * 4 * kGiB);
  EXPECT_EQ(Part(s, "baseline"), kProcessBaselineBytes);
  int64_t sum = 0;
  for (const MemoryPart& p : s.parts) sum += p.bytes;
  EXPECT_EQ(sum, s.ram_bytes);
  EXPECT_EQ(s.device_bytes, 0);
  EXPECT_EQ(s.rebuild_ram_bytes, 0);
}

TEST(MemoryPlanTest, CudaPutsTheTrainedBlockOnTheDevice) {
  MemoryResources r;
  r.cuda = true;
  StageMemory s = EstimateBlockStage(Llama2_7b(), Spec(), 0, 16, 0, 2, r);
  EXPECT_GT(s.device_bytes, 4 * BlockParams(Llama2_7b()));
  for (const MemoryPart& p : s.parts) {
    if (p.name == "master" || p.name == "optimizer") {
      EXPECT_TRUE(p.device) << p.name;
    }
    if (p.name == "weights" || p.name == "activation cache") {
      EXPECT_FALSE(p.device) << p.name;
    }
  }
}

TEST(MemoryPlanTest, CacheAndPipelinedSets) {
  const ModelConfig c = Llama2_7b();
  v1::JobSpec spec = Spec();
  spec.set_samples(128);  // 128 x 2048 x 4096 x 4 = 4 GiB per set
  MemoryResources r;
  r.cache_budget_bytes = 16 * kGiB;
  EXPECT_EQ(Part(EstimateBlockStage(c, spec, 0, 8, 0, 4, r), "activation cache"), 8 * kGiB);
  spec.set_schedule(v1::PIPELINED);
  // Fed by stage 0 (the feed's two sets + its own two) and streaming ahead.
  EXPECT_EQ(Part(EstimateBlockStage(c, spec, 8, 16, 1, 4, r), "activation cache"), 20 * kGiB);
  EXPECT_EQ(Part(EstimateBlockStage(c, spec, 24, 32, 3, 4, r), "activation cache"), 16 * kGiB);
  // A budget below one set caps what stays resident (spill beyond it).
  r.cache_budget_bytes = kGiB;
  spec.set_schedule(v1::SEQUENTIAL);
  EXPECT_EQ(Part(EstimateBlockStage(c, spec, 0, 8, 0, 4, r), "activation cache"), 2 * kGiB);
  // A later stage reports the restart path (blocks before it in fp32).
  StageMemory later = EstimateBlockStage(c, spec, 8, 16, 1, 4, r);
  EXPECT_GT(later.rebuild_ram_bytes, 4 * 8 * BlockParams(c));
}

TEST(MemoryPlanTest, FinalizeE2eAndCheckpointing) {
  const ModelConfig c = Llama2_7b();
  v1::JobSpec spec = Spec();
  MemoryResources r;
  StageMemory f = EstimateFinalize(c, spec, r);
  EXPECT_TRUE(f.finalize);
  const int64_t Gall = 32 * BlockQuantGroups(c, 64);
  EXPECT_EQ(Part(f, "step sizes"), 4 * Gall);
  EXPECT_EQ(Part(f, "optimizer"), 12 * Gall);
  // Without checkpointing the backward keeps 8 bytes per quantized weight.
  EXPECT_GT(Part(f, "activations"), 8 * 32 * int64_t{202383360 - 2 * 4096});
  spec.set_e2e_checkpointing(true);
  StageMemory ck = EstimateFinalize(c, spec, r);
  EXPECT_LT(ck.ram_bytes, f.ram_bytes / 2);
  spec.set_skip_e2e(true);
  EXPECT_EQ(Part(EstimateFinalize(c, spec, r), "optimizer"), -1);
  // Evaluation loads the fp32 model: it sets the peak when E2E-QP is off.
  spec.set_eval_text("/e.txt");
  StageMemory ev = EstimateFinalize(c, spec, r);
  EXPECT_GE(Part(ev, "weights"), 4 * (32 * BlockParams(c) + NonBlockParams(c)));
  EXPECT_EQ(ev.Label(), "finalize (blocks 0-31)");
}

TEST(MemoryPlanTest, StageZeroTokenizesTheCalibrationText) {
  absl::StatusOr<ModelConfig> ref = LoadModelConfig(std::string(EQAT_SOURCE_DIR) + "/models/eqat-ref-7m");
  ASSERT_TRUE(ref.ok()) << ref.status();
  const ModelConfig& c = *ref;
  v1::JobSpec spec = Spec();
  spec.set_calib_path(std::string(EQAT_SOURCE_DIR) + "/data/calib_en.txt");  // 2.0 MB
  spec.set_samples(8);
  spec.set_seqlen(128);
  MemoryResources r;
  r.baseline_bytes = 0;
  StageMemory s0 = EstimateBlockStage(c, spec, 0, 1, 0, 2, r);
  StageMemory s1 = EstimateBlockStage(c, spec, 1, 2, 1, 2, r);
  // 2,048,962 bytes x (58 + 158 / 3.25 bytes per token at 4096 entries):
  // ~208 MiB, beside the embeddings; more than this small job's training.
  EXPECT_NEAR(static_cast<double>(Part(s0, "tokenizer")), 2048962.0 * (58 + 158 / 3.25), 1.0);
  EXPECT_EQ(s0.ram_bytes, Part(s0, "tokenizer") + Part(s0, "weights"));
  EXPECT_EQ(Part(s1, "tokenizer"), -1);  // later stages receive their inputs
}

TEST(MemoryPlanTest, RefusalNamesTheNumbers) {
  StageMemory s = EstimateBlockStage(Llama2_7b(), Spec(), 0, 32, 0, 1, MemoryResources{});
  WorkerMemory w;
  w.ram_bytes = static_cast<int64_t>(23.5 * kGiB);
  absl::Status st = CheckStageFits(s, w, "worker");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("stage 0 (blocks 0-31) needs ~"));
  EXPECT_THAT(st.message(), HasSubstr("GiB peak RAM (baseline 200.0 MiB, weights "));
  EXPECT_THAT(st.message(), HasSubstr("optimizer "));
  EXPECT_THAT(st.message(), HasSubstr("activation cache 8.0 GiB"));
  EXPECT_THAT(st.message(), HasSubstr("worker has 23.5 GiB RAM"));
  EXPECT_FALSE(StageFits(s, w));
  EXPECT_TRUE(CheckStageFits(s, WorkerMemory{}).ok());  // unknown capacity: not checked
  w.ram_bytes = s.ram_bytes;
  EXPECT_TRUE(CheckStageFits(s, w).ok());
}

TEST(MemoryPlanTest, MaxBlocksThatFitGrowsWithCapacity) {
  const ModelConfig c = Llama2_7b();
  const v1::JobSpec spec = Spec();
  MemoryResources r;
  const int64_t one = std::max(EstimateBlockStage(c, spec, 0, 1, 0, 3, r).ram_bytes,
                               EstimateBlockStage(c, spec, 0, 1, 1, 3, r).ram_bytes);
  const int64_t per_block = 4 * BlockParams(c);
  EXPECT_EQ(MaxBlocksThatFit(c, spec, 3, r, WorkerMemory{one - 1, 0}, 32), 0);
  EXPECT_EQ(MaxBlocksThatFit(c, spec, 3, r, WorkerMemory{one, 0}, 32), 1);
  EXPECT_EQ(MaxBlocksThatFit(c, spec, 3, r, WorkerMemory{one + 9 * per_block, 0}, 32), 10);
  EXPECT_EQ(MaxBlocksThatFit(c, spec, 3, r, WorkerMemory{int64_t{1} << 50, 0}, 32), 32);
  EXPECT_EQ(MaxBlocksThatFit(c, spec, 3, r, WorkerMemory{}, 32), 32);
}

TEST(MemoryPlanTest, TextAndJson) {
  const ModelConfig c = Llama2_7b();
  MemoryPlan p = EstimateMemoryPlan(c, Spec(), {{0, 16}, {16, 32}}, MemoryResources{});
  ASSERT_EQ(p.stages.size(), 2u);
  std::string text = MemoryPlanText(p);
  EXPECT_THAT(text, HasSubstr("stage 1 (blocks 16-31)"));
  EXPECT_THAT(text, HasSubstr("finalize (blocks 0-31)"));
  Json j = MemoryPlanJson(p);
  EXPECT_EQ(j["stages"].size(), 2u);
  EXPECT_EQ(j["stages"][1]["first_block"], 16);
  EXPECT_EQ(j["peak_ram_bytes"], p.PeakRam());
  EXPECT_EQ(j["stages"][0]["parts"]["master"], Part(p.stages[0], "master"));
  EXPECT_EQ(HumanBytes(int64_t{41} * kGiB + kGiB / 5), "41.2 GiB");
  EXPECT_EQ(HumanBytes(512), "512 B");
}

}  // namespace
}  // namespace eqat
