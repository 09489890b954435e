// E2E-QP training data: Q-PEFT examples are shuffled with the job seed before
// `samples` of them are taken (the official scripts' shuffle(seed) +
// select), deterministically, and text windows keep their own sampling.
#include "worker/methods/train_data.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"

namespace eqat {
namespace {

const std::string kModel = std::string(EQAT_SOURCE_DIR) + "/models/stories260K";

class TrainDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tok = Tokenizer::LoadFromDir(kModel);
    ASSERT_TRUE(tok.ok()) << tok.status();
    tok_ = std::move(*tok);
    auto cfg = LoadModelConfig(kModel);
    ASSERT_TRUE(cfg.ok()) << cfg.status();
    cfg_ = *cfg;
    path_ = JoinPath(::testing::TempDir(), absl::StrCat("eqat_train_data_", getpid(), ".jsonl"));
    std::string lines;
    for (int i = 0; i < 12; ++i) {
      absl::StrAppend(&lines, "{\"instruction\": \"Count to ", i, ".\", \"output\": \"", i,
                      "\"}\n");
    }
    ASSERT_TRUE(WriteFileAtomic(path_, lines).ok());
  }
  void TearDown() override { RemoveAll(path_).IgnoreError(); }

  // Each example's ids (all differ: "Count to i.").
  std::vector<std::vector<int32_t>> Examples(uint64_t seed, int64_t samples) {
    std::string kind;
    auto ex = LoadE2eExamples(path_, *tok_, cfg_, samples, 256, seed, &kind);
    EXPECT_TRUE(ex.ok()) << ex.status();
    EXPECT_EQ(kind, "instruction");
    std::vector<std::vector<int32_t>> out;
    if (!ex.ok()) return out;
    for (const TrainExample& e : *ex) {
      EXPECT_EQ(e.ids.back(), tok_->eos_id());
      out.push_back(e.ids);
    }
    return out;
  }

  std::unique_ptr<Tokenizer> tok_;
  ModelConfig cfg_;
  std::string path_;
};

TEST_F(TrainDataTest, InstructionExamplesAreShuffledBeforeSelection) {
  const auto all = Examples(0, 12);
  ASSERT_EQ(all.size(), 12u);
  std::set<std::vector<int32_t>> distinct(all.begin(), all.end());
  EXPECT_EQ(distinct.size(), 12u) << "every example once";
  EXPECT_EQ(Examples(0, 4), decltype(all)(all.begin(), all.begin() + 4)) << "same seed, same pick";
  EXPECT_NE(Examples(1, 12), all) << "another seed, another order";
  // The old loader took the file's head: "Count to 0." .. "Count to 3.".
  int in_place = 0;
  for (int i = 0; i < 4; ++i) {
    auto want = tok_->Encode(absl::StrCat("Count to ", i, "."));
    ASSERT_TRUE(want.ok());
    const auto& e = all[i];
    in_place += std::search(e.begin(), e.end(), want->begin(), want->end()) != e.end();
  }
  EXPECT_LT(in_place, 4) << "the first four picks are not the file's first four";
}

}  // namespace
}  // namespace eqat
