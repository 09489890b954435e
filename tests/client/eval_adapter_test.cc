// `eqat eval --adapter DIR` on a packed stories260K folder: a zero-B
// adapter leaves the perplexity exactly as without one, a trained-looking
// one gives the perplexity of the in-memory model with that LoRA, and a bad
// --adapter exits 2 naming the flag.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/json.h"
#include "common/text_data.h"
#include "common/tokenizer.h"
#include "tests/client/cli_runner.h"
#include "worker/methods/blockwise.h"
#include "worker/model/evaluate.h"
#include "worker/model/llama_model.h"
#include "worker/model/model_writer.h"
#include "worker/model/peft_adapter.h"

namespace eqat {
namespace {

using ::testing::HasSubstr;
using cli_test::RunEqat;
using cli_test::RunResult;

std::string Src(const std::string& rel) { return JoinPath(EQAT_SOURCE_DIR, rel); }

class EvalAdapterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new std::string(
        JoinPath(::testing::TempDir(), absl::StrCat("eqat_eval_adapter_", getpid())));
    ASSERT_TRUE(RemoveAll(*root_).ok());
    ASSERT_TRUE(MakeDirs(*root_).ok());
    auto model = LlamaModel::Load(Src("models/stories260K"));
    ASSERT_TRUE(model.ok()) << model.status();
    BlockwiseOptions o;
    o.method = QuantMethod::kRtn;
    o.spec = {4, -1};
    ASSERT_TRUE(QuantizeBlockwise(model->get(), torch::Tensor(), o).ok());
    ASSERT_TRUE(WriteModelFolder(**model, Src("models/stories260K"), Path("model"),
                                 WriteOptions{})
                    .ok());
    // The first 20,000 bytes of WikiText-2 test: a few windows of 64 tokens.
    auto text = ReadFile(Src("data/wikitext2_test.raw"));
    ASSERT_TRUE(text.ok()) << text.status();
    ASSERT_TRUE(WriteFileAtomic(Path("eval.txt"), text->substr(0, 20000)).ok());

    torch::manual_seed(2);
    for (int i = 0; i < (*model)->num_blocks(); ++i) {
      for (auto& [name, lin] : (*model)->block(i).Linears()) {
        lin->lora_a = torch::randn({4, lin->in_features()}) * 0.3;
        lin->lora_b = torch::zeros({lin->out_features(), 4});
        lin->lora_scale = 2.0;
      }
    }
    ASSERT_TRUE(WritePeftAdapter(**model, Path("zero"), {}).ok());
    for (int i = 0; i < (*model)->num_blocks(); ++i) {
      for (auto& [name, lin] : (*model)->block(i).Linears()) {
        lin->lora_b = torch::randn({lin->out_features(), 4}) * 0.3;
      }
    }
    ASSERT_TRUE(WritePeftAdapter(**model, Path("nonzero"), {}).ok());
    // The in-memory perplexity of the packed model with that LoRA.
    auto tok = Tokenizer::LoadFromDir(Src("models/stories260K"));
    ASSERT_TRUE(tok.ok()) << tok.status();
    auto tokens = LoadTokens(Path("eval.txt"), **tok, 512);
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    PerplexityOptions po;
    po.seqlen = 64;
    po.max_windows = 3;
    torch::NoGradGuard ng;
    auto r = EvaluatePerplexity(**model, *tokens, po);
    ASSERT_TRUE(r.ok()) << r.status();
    in_memory_ppl_ = r->ppl;
  }
  static void TearDownTestSuite() {
    RemoveAll(*root_).IgnoreError();
    delete root_;
  }
  static std::string Path(const std::string& rel) { return JoinPath(*root_, rel); }

  static std::vector<std::string> Eval(const std::vector<std::string>& extra) {
    std::vector<std::string> a = {"eval",         "--model",  Path("model"), "--text",
                                  Path("eval.txt"), "--seqlen", "64",          "--max-windows",
                                  "3",            "--json"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  static double Ppl(const RunResult& r) {
    auto j = ParseJson(cli_test::LastLine(r.output));
    EXPECT_TRUE(j.ok()) << r.output;
    return j.ok() ? (*j)["ppl"].get<double>() : -1;
  }

  static std::string* root_;
  static double in_memory_ppl_;
};
std::string* EvalAdapterTest::root_ = nullptr;
double EvalAdapterTest::in_memory_ppl_ = 0;

TEST_F(EvalAdapterTest, ZeroAdapterKeepsAndNonzeroMatchesTheInMemoryModel) {
  RunResult base = RunEqat(Eval({}));
  ASSERT_EQ(base.exit_code, 0) << base.output;
  RunResult zero = RunEqat(Eval({"--adapter", Path("zero")}));
  ASSERT_EQ(zero.exit_code, 0) << zero.output;
  RunResult nonzero = RunEqat(Eval({"--adapter", Path("nonzero")}));
  ASSERT_EQ(nonzero.exit_code, 0) << nonzero.output;
  EXPECT_EQ(Ppl(zero), Ppl(base));
  EXPECT_NE(Ppl(nonzero), Ppl(base));
  EXPECT_NEAR(Ppl(nonzero), in_memory_ppl_, 1e-6 * in_memory_ppl_);
}

TEST_F(EvalAdapterTest, BadAdapterExitsTwoNamingTheFlag) {
  RunResult missing = RunEqat(Eval({"--adapter", Path("no_such_dir")}));
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_THAT(missing.output, HasSubstr("--adapter"));
  EXPECT_THAT(missing.output, HasSubstr("no_such_dir"));

  RunResult not_peft = RunEqat(Eval({"--adapter", Path("model")}));  // no adapter_config.json
  EXPECT_EQ(not_peft.exit_code, 2) << not_peft.output;
  EXPECT_THAT(not_peft.output, HasSubstr("--adapter"));
  EXPECT_THAT(not_peft.output, HasSubstr("adapter_config.json"));

  // An adapter of another rank: the shape error names the flag and tensor.
  const std::string bad = Path("bad_rank");
  ASSERT_TRUE(MakeDirs(bad).ok());
  auto cfg = ReadFile(Path("nonzero/adapter_config.json"));
  ASSERT_TRUE(cfg.ok());
  auto j = ParseJson(*cfg);
  ASSERT_TRUE(j.ok());
  (*j)["r"] = 8;
  ASSERT_TRUE(WriteFileAtomic(JoinPath(bad, "adapter_config.json"), DumpJson(*j)).ok());
  auto st = ReadFile(Path("nonzero/adapter_model.safetensors"));
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE(WriteFileAtomic(JoinPath(bad, "adapter_model.safetensors"), *st).ok());
  RunResult wrong = RunEqat(Eval({"--adapter", bad}));
  EXPECT_EQ(wrong.exit_code, 2) << wrong.output;
  EXPECT_THAT(wrong.output, HasSubstr("--adapter"));
  EXPECT_THAT(wrong.output, HasSubstr("lora_A.weight"));
}

}  // namespace
}  // namespace eqat
