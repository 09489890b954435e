// The LoRA path of Linear (every mode, clone/To) and PEFT adapter folders:
// round trip onto a fresh packed or fp model, PEFT's tensor names and config
// fields, and the errors for broken adapters (missing / unknown tensor, wrong
// shape, wrong peft_type, unsupported fields).
#include "worker/model/peft_adapter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "common/json.h"
#include "common/safetensors.h"
#include "tests/worker/test_util.h"
#include "worker/methods/blockwise.h"
#include "worker/model/llama_model.h"
#include "worker/model/tensor_io.h"

namespace eqat {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<LlamaModel> Stories(bool packed) {
  auto model = LlamaModel::Load(testing::StoriesDir());
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return nullptr;
  if (packed) {
    BlockwiseOptions o;
    o.method = QuantMethod::kRtn;
    o.spec = {4, -1};
    absl::Status st = QuantizeBlockwise(model->get(), torch::Tensor(), o);
    EXPECT_TRUE(st.ok()) << st;
  }
  return std::move(*model);
}

// Random LoRA of rank r on the linears named in `only` (all when empty).
void AttachLora(LlamaModel* m, int64_t r, double scale, uint64_t seed,
                const std::set<std::string>& only = {}) {
  torch::manual_seed(seed);
  for (int i = 0; i < m->num_blocks(); ++i) {
    for (auto& [name, lin] : m->block(i).Linears()) {
      if (!only.empty() && only.count(name) == 0) continue;
      lin->lora_a = torch::randn({r, lin->in_features()}) * 0.1;
      lin->lora_b = torch::randn({lin->out_features(), r}) * 0.1;
      lin->lora_scale = scale;
    }
  }
}

torch::Tensor TestIds() { return torch::randint(3, 512, {2, 12}, torch::kLong); }

// One linear in each mode, same dense weight.
std::vector<Linear> LinearsInEveryMode() {
  torch::manual_seed(7);
  Linear f;
  f.weight = torch::randn({24, 16}) / 4;
  f.bias = torch::randn({24});
  Linear fq = f;
  fq.mode = Linear::Mode::kFakeQuant;
  fq.spec = {4, -1};
  fq.scale = torch::full({24, 1}, 0.05);
  fq.zero = torch::full({24, 1}, 8.0);
  auto model = Stories(/*packed=*/true);
  Linear p = model->block(0).q_proj;  // [64, 64], packed
  return {f, fq, p};
}

TEST(LoraForwardTest, ZeroLoraBGivesTheBaseForwardExactly) {
  for (Linear lin : LinearsInEveryMode()) {
    auto x = torch::randn({2, 5, lin.in_features()});
    torch::NoGradGuard ng;
    auto base = lin.Forward(x);
    EXPECT_FALSE(lin.has_lora());
    lin.lora_a = torch::randn({3, lin.in_features()});
    lin.lora_b = torch::zeros({lin.out_features(), 3});
    lin.lora_scale = 2.0;
    ASSERT_TRUE(lin.has_lora());
    EXPECT_EQ(lin.lora_rank(), 3);
    EXPECT_TRUE(torch::equal(lin.Forward(x), base)) << static_cast<int>(lin.mode);
  }
}

TEST(LoraForwardTest, AddsScaledLowRankProductInEveryMode) {
  for (Linear lin : LinearsInEveryMode()) {
    auto x = torch::randn({2, 5, lin.in_features()});
    torch::NoGradGuard ng;
    auto base = lin.Forward(x);
    lin.lora_a = torch::randn({4, lin.in_features()});
    lin.lora_b = torch::randn({lin.out_features(), 4});
    lin.lora_scale = 0.75;
    auto want = base + 0.75 * x.matmul(lin.lora_a.t()).matmul(lin.lora_b.t());
    auto got = lin.Forward(x);
    EXPECT_TRUE(torch::allclose(got, want, 1e-5, 1e-5)) << static_cast<int>(lin.mode);
    EXPECT_FALSE(torch::allclose(got, base, 1e-3, 1e-3));
  }
}

TEST(LoraForwardTest, CloneAndToCopyTheFactors) {
  auto m = Stories(/*packed=*/true);
  AttachLora(m.get(), 2, 1.5, 3);
  const Block& b = m->block(1);
  for (const Block& c : {b.Clone(), b.To(torch::kCPU)}) {
    EXPECT_TRUE(torch::equal(c.down_proj.lora_a, b.down_proj.lora_a));
    EXPECT_TRUE(torch::equal(c.down_proj.lora_b, b.down_proj.lora_b));
    EXPECT_EQ(c.down_proj.lora_scale, 1.5);
    EXPECT_NE(c.down_proj.lora_a.data_ptr(), b.down_proj.lora_a.data_ptr());
  }
}

Json ReadJson(const std::string& path) {
  auto text = ReadFile(path);
  EXPECT_TRUE(text.ok()) << text.status();
  auto j = ParseJson(text.ok() ? *text : "{}");
  EXPECT_TRUE(j.ok()) << j.status();
  return j.ok() ? *j : Json::object();
}

TEST(PeftAdapterTest, RoundTripOntoAFreshPackedModel) {
  testing::ScratchDir tmp;
  auto m = Stories(/*packed=*/true);
  AttachLora(m.get(), 4, 16.0 / 4, 11);
  const std::string dir = tmp.path() + "/adapter";  // does not exist yet
  PeftAdapterInfo info;
  info.lora_alpha = 16;
  info.base_model_name_or_path = "models/stories260K";
  ASSERT_TRUE(WritePeftAdapter(*m, dir, info).ok());

  Json cfg = ReadJson(dir + "/adapter_config.json");
  EXPECT_EQ(cfg["peft_type"], "LORA");
  EXPECT_EQ(cfg["task_type"], "CAUSAL_LM");
  EXPECT_EQ(cfg["r"], 4);
  EXPECT_EQ(cfg["lora_alpha"], 16);
  EXPECT_EQ(cfg["lora_dropout"], 0.0);
  EXPECT_EQ(cfg["target_modules"], Json::array({"down_proj", "gate_proj", "k_proj", "o_proj",
                                                "q_proj", "up_proj", "v_proj"}));
  EXPECT_EQ(cfg["bias"], "none");
  EXPECT_EQ(cfg["fan_in_fan_out"], false);
  EXPECT_EQ(cfg["inference_mode"], true);
  EXPECT_EQ(cfg["use_rslora"], false);
  EXPECT_TRUE(cfg["modules_to_save"].is_null());
  EXPECT_EQ(cfg["base_model_name_or_path"], "models/stories260K");

  auto st = SafetensorsFile::Open(dir + "/adapter_model.safetensors");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ((*st)->tensors().size(), 5u * 7 * 2);
  const TensorInfo* a = (*st)->Find("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, DType::kF32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{4, 64}));
  const TensorInfo* b = (*st)->Find("base_model.model.model.layers.4.mlp.down_proj.lora_B.weight");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->shape, (std::vector<int64_t>{64, 4}));

  auto fresh = Stories(/*packed=*/true);
  ASSERT_TRUE(LoadPeftAdapter(dir, fresh.get()).ok());
  EXPECT_TRUE(fresh->block(2).up_proj.has_lora());
  EXPECT_DOUBLE_EQ(fresh->block(2).up_proj.lora_scale, 4.0);
  auto ids = TestIds();
  torch::NoGradGuard ng;
  EXPECT_TRUE(torch::allclose(fresh->Forward(ids), m->Forward(ids), 1e-6, 1e-6));
}

TEST(PeftAdapterTest, SomeTargetsOnAnFpModelAndRsLora) {
  testing::ScratchDir tmp;
  auto m = Stories(/*packed=*/false);
  AttachLora(m.get(), 2, 3.0, 5, {"self_attn.q_proj", "self_attn.v_proj"});
  PeftAdapterInfo info;  // lora_alpha from the scale: 3 * 2 = 6
  info.dtype = DType::kF16;
  ASSERT_TRUE(WritePeftAdapter(*m, tmp.path(), info).ok());  // existing folder
  Json cfg = ReadJson(tmp.path() + "/adapter_config.json");
  EXPECT_EQ(cfg["lora_alpha"], 6);
  EXPECT_EQ(cfg["target_modules"], Json::array({"q_proj", "v_proj"}));

  auto fresh = Stories(/*packed=*/false);
  ASSERT_TRUE(LoadPeftAdapter(tmp.path(), fresh.get()).ok());
  EXPECT_TRUE(fresh->block(0).v_proj.has_lora());
  EXPECT_FALSE(fresh->block(0).k_proj.has_lora());
  EXPECT_EQ(fresh->block(0).q_proj.lora_a.scalar_type(), torch::kFloat);
  // fp16 on disk: the in-memory model with its factors rounded to fp16.
  for (int i = 0; i < m->num_blocks(); ++i) {
    for (auto& [name, lin] : m->block(i).Linears()) {
      if (!lin->has_lora()) continue;
      lin->lora_a = lin->lora_a.to(torch::kHalf).to(torch::kFloat);
      lin->lora_b = lin->lora_b.to(torch::kHalf).to(torch::kFloat);
    }
  }
  auto ids = TestIds();
  {
    torch::NoGradGuard ng;
    EXPECT_TRUE(torch::allclose(fresh->Forward(ids), m->Forward(ids), 1e-6, 1e-6));
  }

  cfg["use_rslora"] = true;
  ASSERT_TRUE(WriteFileAtomic(tmp.path() + "/adapter_config.json", DumpJson(cfg)).ok());
  ASSERT_TRUE(LoadPeftAdapter(tmp.path(), fresh.get()).ok());
  EXPECT_DOUBLE_EQ(fresh->block(0).q_proj.lora_scale, 6.0 / std::sqrt(2.0));
}

class PeftAdapterErrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = Stories(/*packed=*/false);
    AttachLora(model_.get(), 2, 1.0, 9, {"mlp.up_proj"});
    ASSERT_TRUE(WritePeftAdapter(*model_, dir(), PeftAdapterInfo{}).ok());
    fresh_ = Stories(/*packed=*/false);
  }
  std::string dir() const { return tmp_.path(); }
  std::string weights() const { return dir() + "/adapter_model.safetensors"; }

  // Rewrites the weights file after `edit` changes the tensor map.
  void EditTensors(const std::function<void(std::map<std::string, torch::Tensor>*)>& edit) {
    auto st = SafetensorsModel::Open(weights());
    ASSERT_TRUE(st.ok());
    std::map<std::string, torch::Tensor> t;
    for (const std::string& n : (*st)->names()) t[n] = *ReadTensor(**st, n);
    edit(&t);
    std::vector<TensorToWrite> w;
    for (const auto& [n, v] : t) w.push_back(ToWrite(n, v, DType::kF32));
    ASSERT_TRUE(WriteSafetensors(weights(), w).ok());
  }
  void EditConfig(const std::function<void(Json*)>& edit) {
    Json cfg = ReadJson(dir() + "/adapter_config.json");
    edit(&cfg);
    ASSERT_TRUE(WriteFileAtomic(dir() + "/adapter_config.json", DumpJson(cfg)).ok());
  }
  void ExpectError(absl::StatusCode code, const std::vector<std::string>& needles) {
    absl::Status st = LoadPeftAdapter(dir(), fresh_.get());
    EXPECT_EQ(st.code(), code) << st;
    for (const std::string& n : needles) EXPECT_THAT(std::string(st.message()), HasSubstr(n));
    for (int i = 0; i < fresh_->num_blocks(); ++i) {
      for (auto& [name, lin] : fresh_->block(i).Linears()) EXPECT_FALSE(lin->has_lora());
    }
  }

  testing::ScratchDir tmp_;
  std::unique_ptr<LlamaModel> model_, fresh_;
};

const char kUpB3[] = "base_model.model.model.layers.3.mlp.up_proj.lora_B.weight";

TEST_F(PeftAdapterErrorTest, MissingTensorIsNamed) {
  EditTensors([](auto* t) { t->erase(kUpB3); });
  ExpectError(absl::StatusCode::kInvalidArgument,
              {"adapter_model.safetensors", "missing tensors", kUpB3});
}

TEST_F(PeftAdapterErrorTest, UnknownTensorIsNamed) {
  EditTensors([](auto* t) {
    (*t)["base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight"] = torch::zeros({2, 64});
    (*t)["base_model.model.lm_head.lora_A.weight"] = torch::zeros({2, 64});
  });
  ExpectError(absl::StatusCode::kInvalidArgument,
              {"unknown tensors", "layers.0.self_attn.k_proj.lora_A.weight",
               "base_model.model.lm_head.lora_A.weight"});
}

TEST_F(PeftAdapterErrorTest, WrongShapeIsNamed) {
  EditTensors([](auto* t) { (*t)[kUpB3] = torch::zeros({172, 3}); });
  ExpectError(absl::StatusCode::kInvalidArgument,
              {"adapter_model.safetensors", kUpB3, "[172,3]", "[172,2]"});
}

TEST_F(PeftAdapterErrorTest, WrongDtypeIsNamed) {
  auto st = SafetensorsModel::Open(weights());
  ASSERT_TRUE(st.ok());
  std::vector<TensorToWrite> w;
  for (const std::string& n : (*st)->names()) {
    auto v = *ReadTensor(**st, n);
    w.push_back(ToWrite(n, v, n == kUpB3 ? DType::kI32 : DType::kF32));
  }
  st->reset();
  ASSERT_TRUE(WriteSafetensors(weights(), w).ok());
  ExpectError(absl::StatusCode::kInvalidArgument, {kUpB3, "I32"});
}

TEST_F(PeftAdapterErrorTest, WrongPeftTypeIsNamed) {
  EditConfig([](Json* c) { (*c)["peft_type"] = "IA3"; });
  ExpectError(absl::StatusCode::kInvalidArgument, {"adapter_config.json", "peft_type", "IA3"});
}

TEST_F(PeftAdapterErrorTest, BadConfigFieldsAreNamed) {
  const std::vector<std::pair<std::function<void(Json*)>, std::string>> cases = {
      {[](Json* c) { (*c)["r"] = 0; }, "r:"},
      {[](Json* c) { c->erase("lora_alpha"); }, "lora_alpha"},
      {[](Json* c) { (*c)["target_modules"] = Json::array({"qkv_proj"}); }, "qkv_proj"},
      {[](Json* c) { (*c)["target_modules"] = ".*proj"; }, "target_modules"},
      {[](Json* c) { (*c)["bias"] = "all"; }, "bias"},
      {[](Json* c) { (*c)["use_dora"] = true; }, "use_dora"},
      {[](Json* c) { (*c)["fan_in_fan_out"] = true; }, "fan_in_fan_out"},
      {[](Json* c) { (*c)["r"] = 3; }, "[2,64]"},  // tensors of r 2
  };
  for (const auto& [edit, needle] : cases) {
    SetUp();
    EditConfig(edit);
    ExpectError(absl::StatusCode::kInvalidArgument, {needle});
  }
}

TEST_F(PeftAdapterErrorTest, ExtraConfigKeysAreIgnored) {
  EditConfig([](Json* c) { (*c)["revision"] = nullptr; (*c)["megatron_config"] = nullptr; });
  EXPECT_TRUE(LoadPeftAdapter(dir(), fresh_.get()).ok());
  EXPECT_TRUE(fresh_->block(0).up_proj.has_lora());
}

TEST_F(PeftAdapterErrorTest, MissingFilesAreNotFound) {
  ASSERT_TRUE(RemoveAll(weights()).ok());
  ExpectError(absl::StatusCode::kNotFound, {"adapter_model.safetensors"});
  ASSERT_TRUE(RemoveAll(dir() + "/adapter_config.json").ok());
  ExpectError(absl::StatusCode::kNotFound, {"adapter_config.json"});
}

TEST(PeftAdapterWriteTest, RefusesModelsItCannotDescribe) {
  testing::ScratchDir tmp;
  auto m = Stories(/*packed=*/false);
  const std::string dir = tmp.path() + "/a";
  EXPECT_EQ(WritePeftAdapter(*m, dir, {}).code(), absl::StatusCode::kFailedPrecondition);
  AttachLora(m.get(), 2, 1.0, 1);
  m->block(3).o_proj.lora_a = torch::zeros({3, 64});
  m->block(3).o_proj.lora_b = torch::zeros({64, 3});
  absl::Status st = WritePeftAdapter(*m, dir, {});
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(st.message()), HasSubstr("model.layers.3.self_attn.o_proj"));
  AttachLora(m.get(), 2, 1.0, 1);
  m->block(1).gate_proj.lora_a = torch::Tensor();
  st = WritePeftAdapter(*m, dir, {});
  EXPECT_THAT(std::string(st.message()), HasSubstr("model.layers.1.mlp.gate_proj"));
  AttachLora(m.get(), 2, 1.0, 1);
  PeftAdapterInfo info;
  info.lora_alpha = 5;  // 5 / 2 != 1
  EXPECT_EQ(WritePeftAdapter(*m, dir, info).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(PathExists(dir));  // nothing left behind
}

}  // namespace
}  // namespace eqat
