// Writing a quantized folder and loading it back bit-exactly; v1 export;
// atomicity of the output folder.
#include "worker/model/model_writer.h"

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "common/json.h"
#include "tests/worker/test_util.h"
#include "worker/methods/blockwise.h"

namespace eqat {
namespace {

std::string FreshDir(const std::string& name) {
  std::string d = ::testing::TempDir() + "eqat_writer_" + name;
  RemoveAll(d).IgnoreError();
  return d;
}

std::unique_ptr<LlamaModel> QuantizedStories(int bits) {
  auto model = LlamaModel::Load(testing::StoriesDir());
  EXPECT_TRUE(model.ok());
  BlockwiseOptions o;
  o.method = QuantMethod::kRtn;
  o.spec = {bits, -1};
  EXPECT_TRUE(QuantizeBlockwise(model->get(), torch::Tensor(), o).ok());
  return std::move(*model);
}

TEST(ModelWriterTest, QuantizedFolderLoadsBackBitExactly) {
  for (int bits : {2, 3, 4, 8}) {
    auto q = QuantizedStories(bits);
    std::string out = FreshDir("exact" + std::to_string(bits));
    ASSERT_TRUE(WriteModelFolder(*q, testing::StoriesDir(), out, WriteOptions{}).ok());
    auto cfg_text = ReadFile(out + "/config.json");
    ASSERT_TRUE(cfg_text.ok());
    auto cfg = ParseJson(*cfg_text);
    ASSERT_TRUE(cfg.ok());
    ASSERT_TRUE(cfg->contains("quantization_config"));
    const Json& qc = cfg->at("quantization_config");
    EXPECT_EQ(qc.value("bits", 0), bits);
    EXPECT_EQ(qc.value("group_size", 0), -1);
    EXPECT_EQ(qc.value("checkpoint_format", ""), "gptq_v2");
    EXPECT_TRUE(PathExists(out + "/tokenizer.model"));

    auto back = LlamaModel::Load(out);
    ASSERT_TRUE(back.ok()) << back.status();
    for (int i = 0; i < q->num_blocks(); ++i) {
      auto a = q->block(i).Linears();
      auto b = (*back)->block(i).Linears();
      for (size_t k = 0; k < a.size(); ++k) {
        ASSERT_EQ(b[k].second->mode, Linear::Mode::kPacked);
        EXPECT_TRUE(torch::equal(a[k].second->packed.qweight, b[k].second->packed.qweight));
        EXPECT_TRUE(torch::equal(a[k].second->packed.qzeros, b[k].second->packed.qzeros));
        EXPECT_TRUE(torch::equal(a[k].second->packed.scales.to(torch::kFloat),
                                 b[k].second->packed.scales.to(torch::kFloat)));
      }
    }
    auto ids = torch::randint(3, 512, {1, 16}, torch::kLong);
    torch::NoGradGuard ng;
    EXPECT_TRUE(torch::equal(q->Forward(ids), (*back)->Forward(ids)));
  }
}

TEST(ModelWriterTest, V1ZeroPointsExportLoadsToTheSameWeights) {
  auto q = QuantizedStories(4);
  std::string out = FreshDir("v1");
  WriteOptions o;
  o.zeros = kernels::ZerosFormat::kV1;
  ASSERT_TRUE(WriteModelFolder(*q, testing::StoriesDir(), out, o).ok());
  auto back = LlamaModel::Load(out);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ((*back)->config().quantization.checkpoint_format, "gptq");
  auto a = q->block(0).q_proj.EffectiveWeight();
  auto b = (*back)->block(0).q_proj.EffectiveWeight();
  EXPECT_TRUE(torch::equal(a, b));
}

TEST(ModelWriterTest, RefusesNonEmptyOutAndLeavesNothingOnFailure) {
  auto q = QuantizedStories(4);
  std::string out = FreshDir("busy");
  ASSERT_TRUE(MakeDirs(out).ok());
  ASSERT_TRUE(WriteFileAtomic(out + "/keep.txt", "mine").ok());
  auto st = WriteModelFolder(*q, testing::StoriesDir(), out, WriteOptions{});
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*ReadFile(out + "/keep.txt"), "mine");
  // A model still in training form fails mid-write: no folder, no temp left.
  auto model = LlamaModel::Load(testing::StoriesDir());
  (*model)->block(2).up_proj.mode = Linear::Mode::kFakeQuant;
  std::string out2 = FreshDir("fail");
  EXPECT_FALSE(WriteModelFolder(**model, testing::StoriesDir(), out2, WriteOptions{}).ok());
  EXPECT_FALSE(PathExists(out2));
  EXPECT_FALSE(PathExists(out2 + ".tmp-" + std::to_string(getpid())));
}

}  // namespace
}  // namespace eqat
