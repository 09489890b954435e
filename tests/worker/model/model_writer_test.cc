// Writing a quantized folder and loading it back bit-exactly; v1 export;
// atomicity of the output folder.
#include "worker/model/model_writer.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/file_util.h"
#include "common/json.h"
#include "common/safetensors.h"
#include "common/version.h"
#include "kernels/pack.h"
#include "worker/model/tensor_io.h"
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

Json ReadJsonFile(const std::string& path) {
  auto text = ReadFile(path);
  EXPECT_TRUE(text.ok()) << path;
  auto j = ParseJson(text.ok() ? *text : "{}");
  EXPECT_TRUE(j.ok()) << path;
  return j.ok() ? *j : Json::object();
}

// Every format loads back to the same dequantised weights and logits.
TEST(ModelWriterTest, EveryFormatLoadsBackToTheSameModel) {
  auto q = QuantizedStories(4);
  auto ids = torch::randint(3, 512, {1, 16}, torch::kLong);
  torch::NoGradGuard ng;
  auto ref = q->Forward(ids);
  for (OutputFormat f : {OutputFormat::kGptq, OutputFormat::kCompressedTensors}) {
    std::string out = FreshDir(std::string("fmt_") + OutputFormatName(f));
    WriteOptions o;
    o.format = f;
    o.summary = Json::object();
    ASSERT_TRUE(WriteModelFolder(*q, testing::StoriesDir(), out, o).ok()) << OutputFormatName(f);
    auto back = LlamaModel::Load(out);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(torch::equal((*back)->Forward(ids), ref)) << OutputFormatName(f);
    Json cfg = ReadJsonFile(out + "/config.json");
    const Json& qc = cfg.at("quantization_config");
    EXPECT_EQ(qc.at("meta").at("quantizer").at(0).get<std::string>(),
              std::string("eqat:") + kEqatVersion);
    EXPECT_EQ(ReadJsonFile(out + "/eqat.json").at("export").value("format", ""),
              OutputFormatName(f));
    EXPECT_EQ(PathExists(out + "/quantize_config.json"), f == OutputFormat::kGptq);
  }
  std::string awq = FreshDir("fmt_awq");
  WriteOptions o;
  o.format = OutputFormat::kAwq;
  absl::Status st = WriteModelFolder(*q, testing::StoriesDir(), awq, o);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(std::string(st.message()).find("gate_proj"), std::string::npos) << st;
  EXPECT_FALSE(PathExists(awq));
}

TEST(ModelWriterTest, AwqAndBf16OnARef7mBlock) {
  // eqat-ref-7m is bf16 with widths AWQ can hold: its float tensors are
  // written as BF16, and the AWQ folder loads back to the same logits.
  auto model = LlamaModel::Load(testing::Ref7mDir());
  ASSERT_TRUE(model.ok()) << model.status();
  BlockwiseOptions bo;
  bo.method = QuantMethod::kRtn;
  bo.spec = {4, 128};
  ASSERT_TRUE(QuantizeBlockwise(model->get(), torch::Tensor(), bo).ok());
  auto ids = torch::randint(3, 4000, {1, 16}, torch::kLong);
  torch::NoGradGuard ng;
  auto ref = (*model)->Forward(ids);
  std::string out = FreshDir("awq_ref7m");
  WriteOptions o;
  o.format = OutputFormat::kAwq;
  ASSERT_TRUE(WriteModelFolder(**model, testing::Ref7mDir(), out, o).ok());
  auto st = SafetensorsModel::Open(out);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ((*st)->Find("model.embed_tokens.weight")->dtype, DType::kBF16);
  EXPECT_EQ((*st)->Find("model.norm.weight")->dtype, DType::kBF16);
  EXPECT_EQ((*st)->Find("model.layers.0.mlp.up_proj.scales")->dtype, DType::kF16);
  EXPECT_EQ((*st)->Find("model.layers.0.mlp.up_proj.qweight")->shape,
            (std::vector<int64_t>{256, 768 / 8}));
  auto back = LlamaModel::Load(out);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(torch::equal((*back)->Forward(ids), ref));
  Json qc = ReadJsonFile(out + "/config.json").at("quantization_config");
  EXPECT_EQ(qc.value("quant_method", ""), "awq");
  EXPECT_EQ(qc.value("version", ""), "gemm");
  EXPECT_TRUE(qc.value("zero_point", false));
}

// A linear built to have zero points of 0: v1 export re-fits those groups,
// counts them in eqat.json, and never stores the all-ones v1 field.
TEST(ModelWriterTest, V1ExportRefitsZeroPointsOfZero) {
  auto q = QuantizedStories(2);
  Linear& lin = q->block(1).o_proj;
  kernels::UnpackedCodes c = kernels::UnpackCodes(lin.packed);
  auto zero = c.zero.clone();
  zero.narrow(0, 0, 5).fill_(0);  // 5 output rows (one group each, group -1)
  auto q_codes = c.q.clone();
  q_codes.narrow(0, 0, 2).clamp_max_(2);  // rows 0-1: top code unused -> exact shift
  lin.packed = kernels::PackLinear(q_codes, zero, lin.packed.scales.to(torch::kFloat).t(),
                                   {2, -1});
  std::string out = FreshDir("v1_refit");
  WriteOptions o;
  o.zeros = kernels::ZerosFormat::kV1;
  o.summary = Json::object();
  ASSERT_TRUE(WriteModelFolder(*q, testing::StoriesDir(), out, o).ok());
  Json refit = ReadJsonFile(out + "/eqat.json").at("export").at("v1_zero_refit");
  EXPECT_EQ(refit.value("groups", int64_t{0}), 5);
  EXPECT_EQ(refit.value("shifted", int64_t{0}), 2);
  EXPECT_EQ(refit.value("rescaled", int64_t{0}), 3);
  EXPECT_EQ(refit.at("tensors").value("model.layers.1.self_attn.o_proj", int64_t{0}), 5);
  auto st = SafetensorsModel::Open(out);
  ASSERT_TRUE(st.ok());
  auto raw = ReadInt32Tensor(**st, "model.layers.1.self_attn.o_proj.qzeros", {});
  ASSERT_TRUE(raw.ok());
  auto stored = torch::empty({1, 64}, torch::kUInt8);
  kernels::UnpackCols(raw->contiguous().data_ptr<int32_t>(), 1, 64, 2, stored.data_ptr<uint8_t>());
  EXPECT_LT(stored.max().item<int>(), 3) << "a v1 zero field of 2^b-1 was written";
  auto back = LlamaModel::Load(out);
  ASSERT_TRUE(back.ok()) << back.status();
  auto w0 = lin.EffectiveWeight();
  auto w1 = (*back)->block(1).o_proj.EffectiveWeight();
  EXPECT_TRUE(torch::equal(w0.narrow(0, 0, 2), w1.narrow(0, 0, 2)));   // shifted: exact
  EXPECT_TRUE(torch::equal(w0.narrow(0, 5, 59), w1.narrow(0, 5, 59)));  // untouched
  EXPECT_FALSE(torch::equal(w0.narrow(0, 2, 3), w1.narrow(0, 2, 3)));  // re-scaled
  Json qcfg = ReadJsonFile(out + "/quantize_config.json");
  EXPECT_EQ(qcfg.value("checkpoint_format", ""), "gptq");
  EXPECT_EQ(qcfg.value("model_file_base_name", ""), "model");
  EXPECT_EQ(qcfg.value("bits", 0), 2);
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
  const std::string tmp_prefix = std::filesystem::path(out2).filename().string() + ".tmp.";
  for (const auto& e : std::filesystem::directory_iterator(::testing::TempDir())) {
    EXPECT_NE(e.path().filename().string().rfind(tmp_prefix, 0), 0u) << e.path();
  }
}

// A finalize retried after a crash or a lost message finds its own output:
// the commit marker (outside the output) lets it replace that folder
// without --overwrite, and only that folder; the folder itself is the same
// as without a marker.
TEST(ModelWriterTest, CommitMarkerMakesARetriedWriteIdempotent) {
  auto q = QuantizedStories(4);
  std::string out = FreshDir("commit");
  std::string plain = FreshDir("commit_plain");
  std::string work = FreshDir("commit_work");
  ASSERT_TRUE(MakeDirs(work).ok());
  WriteOptions o;
  o.summary = Json{{"method", "rtn"}};
  WriteOptions marked = o;
  marked.commit_marker = work + "/commit";
  marked.commit_id = "job-000042";
  ASSERT_TRUE(WriteModelFolder(*q, testing::StoriesDir(), out, marked).ok());
  ASSERT_TRUE(WriteModelFolder(*q, testing::StoriesDir(), plain, o).ok());
  EXPECT_EQ(*ReadFile(marked.commit_marker), "job-000042");
  EXPECT_TRUE(HoldsCommit(marked.commit_marker, "job-000042"));
  EXPECT_FALSE(HoldsCommit(marked.commit_marker, "job-000043"));
  EXPECT_FALSE(HoldsCommit(marked.commit_marker, ""));
  for (const char* f : {"config.json", "model.safetensors", "eqat.json"}) {
    EXPECT_EQ(*ReadFile(out + "/" + f), *ReadFile(plain + "/" + f)) << f;
  }
  // The same job again: replaced (a file left in the old folder is gone).
  ASSERT_TRUE(WriteFileAtomic(out + "/stale.txt", "old").ok());
  ASSERT_TRUE(WriteModelFolder(*q, testing::StoriesDir(), out, marked).ok());
  EXPECT_FALSE(PathExists(out + "/stale.txt"));
  // Another job, or no marker: refused, and the folder is untouched.
  ASSERT_TRUE(WriteFileAtomic(out + "/stale.txt", "old").ok());
  WriteOptions other = marked;
  other.commit_id = "job-000043";
  EXPECT_EQ(WriteModelFolder(*q, testing::StoriesDir(), out, other).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(WriteModelFolder(*q, testing::StoriesDir(), out, o).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(PathExists(out + "/stale.txt"));
  EXPECT_EQ(*ReadFile(marked.commit_marker), "job-000042");
}

}  // namespace
}  // namespace eqat
