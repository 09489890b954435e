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
#include "common/text_data.h"

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

// Pretraining text from a file of its own, as the official recipe: each
// document with BOS in front, concatenated, cut into non-overlapping
// windows, shuffled with the seed.
TEST_F(TrainDataTest, TextDocumentsGetBosAndBecomeShuffledNonOverlappingWindows) {
  const std::string docs = JoinPath(::testing::TempDir(), absl::StrCat("eqat_docs_", getpid(), ".jsonl"));
  std::string lines;
  std::vector<int32_t> want;  // the concatenated stream
  for (int i = 0; i < 6; ++i) {
    const std::string text = absl::StrCat("Once upon a time there was a dog number ", i, ".");
    absl::StrAppend(&lines, "{\"text\": \"", text, "\"}\n");
    want.push_back(tok_->bos_id());
    auto ids = tok_->Encode(text);
    ASSERT_TRUE(ids.ok());
    want.insert(want.end(), ids->begin(), ids->end());
  }
  ASSERT_TRUE(WriteFileAtomic(docs, lines).ok());
  auto stream = LoadDocumentTokens(docs, *tok_, cfg_.vocab_size);
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_EQ(*stream, want);

  const int64_t len = 8, n = static_cast<int64_t>(want.size()) / len;
  std::string kind;
  auto ex = LoadE2eExamples(docs, *tok_, cfg_, n, len, /*seed=*/3, &kind);
  ASSERT_TRUE(ex.ok()) << ex.status();
  EXPECT_EQ(kind, "text");
  ASSERT_EQ(static_cast<int64_t>(ex->size()), n);
  std::set<int64_t> starts;
  std::vector<int64_t> order;
  for (const TrainExample& e : *ex) {
    ASSERT_EQ(static_cast<int64_t>(e.ids.size()), len);
    EXPECT_TRUE(e.loss_mask.empty());
    // Each window is one grid cell of the stream.
    int64_t found = -1;
    for (int64_t c = 0; c < n; ++c) {
      if (std::equal(e.ids.begin(), e.ids.end(), want.begin() + c * len)) found = c;
    }
    ASSERT_GE(found, 0);
    starts.insert(found);
    order.push_back(found);
  }
  // (Repetitive documents can make two cells equal, so cells are not
  // identified uniquely; the layout's own tests check the shuffle.)
  // More windows than the file holds is an error naming the flag.
  auto too_many = LoadE2eExamples(docs, *tok_, cfg_, n + 1, len, 3, &kind);
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.status().message().find("--e2e-samples"), absl::string_view::npos);
  RemoveAll(docs).IgnoreError();
}

// E2E-QP's default data, the calibration text: windows that share no token
// with any Block-AP training or validation window.
TEST_F(TrainDataTest, SharedCalibrationGivesE2eWindowsDisjointFromBlockAp) {
  CalibrationSource src;
  src.path = std::string(EQAT_SOURCE_DIR) + "/data/calib_en.txt";
  src.samples = 40;
  src.val_samples = 8;
  src.seqlen = 64;
  src.seed = 9;
  src.e2e_samples = 30;
  src.e2e_seqlen = 96;
  auto ap = BlockApWindows(src, *tok_, cfg_);
  ASSERT_TRUE(ap.ok()) << ap.status();
  ASSERT_EQ(ap->size(), 48u);
  auto e2e = SharedE2eWindows(src, *tok_, cfg_);
  ASSERT_TRUE(e2e.ok()) << e2e.status();
  ASSERT_EQ(e2e->size(), 30u);
  // Recompute the layout to check positions.
  auto tokens = LoadTokens(src.path, *tok_, cfg_.vocab_size);
  ASSERT_TRUE(tokens.ok());
  auto layout = PlanCalibLayout(src.LayoutRequest(static_cast<int64_t>(tokens->size())));
  ASSERT_TRUE(layout.ok());
  std::vector<char> used(tokens->size(), 0);
  for (int64_t s0 : layout->ap_starts) {
    for (int64_t t = s0; t < s0 + src.seqlen; ++t) used[t] = 1;
  }
  for (int64_t s0 : layout->e2e_starts) {
    for (int64_t t = s0; t < s0 + src.e2e_seqlen; ++t) EXPECT_EQ(used[t], 0) << t;
  }
  for (size_t i = 0; i < e2e->size(); ++i) {
    EXPECT_TRUE(std::equal((*e2e)[i].ids.begin(), (*e2e)[i].ids.end(),
                           tokens->begin() + layout->e2e_starts[i]));
  }
  // Asking for more than the text holds fails before any training, in the
  // Block-AP windows' loader, naming the E2E flag.
  src.e2e_samples = 1 << 20;
  auto bad = BlockApWindows(src, *tok_, cfg_);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--e2e-samples"), absl::string_view::npos) << bad.status();
}

}  // namespace
}  // namespace eqat
