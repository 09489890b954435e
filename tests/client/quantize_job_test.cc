// The whole local EfficientQAT job (Block-AP over every block, then E2E-QP)
// on stories260K is bit-reproducible for a fixed seed and single-threaded
// LibTorch; another seed gives another model.
#include "client/quantize_job.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "common/text_data.h"
#include "common/tokenizer.h"
#include "tests/worker/test_util.h"

namespace eqat {
namespace {

struct JobInputs {
  std::vector<int32_t> calib;
  std::vector<TrainExample> e2e;
};

JobInputs LoadInputs() {
  JobInputs in;
  auto tok = Tokenizer::Load(testing::StoriesDir() + "/tokenizer.model");
  EXPECT_TRUE(tok.ok()) << tok.status();
  if (!tok.ok()) return in;
  auto tokens = LoadTokens(testing::SourcePath("data/calib_en.txt"), **tok, 512);
  EXPECT_TRUE(tokens.ok()) << tokens.status();
  if (!tokens.ok()) return in;
  in.calib = *tokens;
  auto windows = SampleWindows(*tokens, 8, 32, /*seed=*/99);
  EXPECT_TRUE(windows.ok()) << windows.status();
  if (windows.ok()) {
    for (auto& w : *windows) in.e2e.push_back(TrainExample{w, {}});
  }
  return in;
}

// Runs the job on a fresh stories260K; null (with a test failure) on error.
std::unique_ptr<LlamaModel> RunJob(const JobInputs& in, uint64_t seed,
                                   QuantizeJobResult* result = nullptr) {
  auto model = LlamaModel::Load(testing::StoriesDir());
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return nullptr;
  QuantizeJob job;
  job.method = QuantMethod::kEfficientQat;
  job.spec = {2, -1};
  job.calib_tokens = in.calib;
  job.samples = 16;
  job.seqlen = 32;
  job.seed = seed;
  job.batch_size = 4;
  job.block_ap.epochs = 1;
  job.block_ap.batch_size = 2;
  job.e2e_data = in.e2e;
  job.e2e.epochs = 1;
  job.e2e.batch_size = 2;
  job.e2e.lr = 1e-3;
  job.progress = false;
  auto r = RunQuantizeJob(model->get(), job);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return nullptr;
  if (result != nullptr) *result = *r;
  return std::move(*model);
}

TEST(QuantizeJobTest, EfficientQatIsDeterministicForAFixedSeed) {
  testing::ThreadCountGuard threads(1);
  JobInputs in = LoadInputs();
  ASSERT_FALSE(in.calib.empty());
  ASSERT_EQ(in.e2e.size(), 8u);

  QuantizeJobResult ra;
  auto a = RunJob(in, /*seed=*/5, &ra);
  auto b = RunJob(in, /*seed=*/5);
  auto c = RunJob(in, /*seed=*/6);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_NE(c, nullptr);

  // The job really ran both stages.
  ASSERT_EQ(ra.blocks_json.size(), 5u);
  ASSERT_FALSE(ra.e2e_json.is_null());
  EXPECT_EQ(ra.e2e_json.value("steps", int64_t{-1}), 4);
  EXPECT_TRUE(a->config().quantization.present);

  bool seed_matters = false;
  for (int i = 0; i < a->num_blocks(); ++i) {
    auto la = a->block(i).Linears();
    auto lb = b->block(i).Linears();
    auto lc = c->block(i).Linears();
    for (size_t j = 0; j < la.size(); ++j) {
      const auto& pa = la[j].second->packed;
      const auto& pb = lb[j].second->packed;
      const auto& pc = lc[j].second->packed;
      std::string what = LinearPrefix(i, la[j].first);
      ASSERT_EQ(la[j].second->mode, Linear::Mode::kPacked) << what;
      ASSERT_EQ(lb[j].second->mode, Linear::Mode::kPacked) << what;
      EXPECT_EQ(pa.scales.scalar_type(), torch::kHalf) << what;
      EXPECT_TRUE(torch::equal(pa.qweight, pb.qweight)) << what;
      EXPECT_TRUE(torch::equal(pa.qzeros, pb.qzeros)) << what;
      EXPECT_TRUE(torch::equal(pa.scales, pb.scales)) << what;
      EXPECT_TRUE(torch::equal(pa.g_idx, pb.g_idx)) << what;
      seed_matters |= !torch::equal(pa.scales, pc.scales);
    }
    EXPECT_TRUE(torch::equal(a->block(i).input_norm, b->block(i).input_norm)) << i;
    EXPECT_TRUE(torch::equal(a->block(i).post_norm, b->block(i).post_norm)) << i;
  }
  EXPECT_TRUE(seed_matters);
}

}  // namespace
}  // namespace eqat
