#include "common/tokenizer.h"

#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/file_util.h"

namespace eqat {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kStoriesTok = std::string(EQAT_SOURCE_DIR) + "/models/stories260K/tokenizer.model";

TEST(TokenizerTest, Stories260KEncodesAndDecodes) {
  auto tok = Tokenizer::Load(kStoriesTok);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->vocab_size(), 512);
  EXPECT_EQ((*tok)->bos_id(), 1);
  EXPECT_EQ((*tok)->eos_id(), 2);
  auto ids = (*tok)->Encode("Once upon a time");
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_THAT(*ids, ElementsAre(403, 407, 261, 378));  // no BOS, no EOS
  EXPECT_EQ((*tok)->Decode(*ids), "Once upon a time");
}

TEST(TokenizerTest, RoundTripsNewlinesAndBytes) {
  auto tok = Tokenizer::Load(kStoriesTok);
  ASSERT_TRUE(tok.ok()) << tok.status();
  const std::string text = "Lily saw a cat.\n\nThe cat said: \"hi\" (42%) caf\xc3\xa9";
  auto ids = (*tok)->Encode(text);
  ASSERT_TRUE(ids.ok()) << ids.status();
  for (int32_t id : *ids) {
    EXPECT_GE(id, 0);
    EXPECT_LT(id, 512);
  }
  EXPECT_EQ((*tok)->Decode(*ids), text);
  auto empty = (*tok)->Encode("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(TokenizerTest, ConcurrentEncodeIsConsistent) {
  auto tok = Tokenizer::Load(kStoriesTok);
  ASSERT_TRUE(tok.ok()) << tok.status();
  const Tokenizer& t = **tok;
  auto expected = t.Encode("One day, a little girl named Lily went to the park.");
  ASSERT_TRUE(expected.ok());
  std::vector<std::thread> threads;
  std::vector<bool> same(4, false);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      bool ok = true;
      for (int k = 0; k < 50; ++k) {
        auto got = t.Encode("One day, a little girl named Lily went to the park.");
        ok = ok && got.ok() && *got == *expected;
      }
      same[i] = ok;
    });
  }
  for (auto& th : threads) th.join();
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(same[i]) << i;
}

TEST(TokenizerTest, MissingFileIsNotFound) {
  auto tok = Tokenizer::Load("/nonexistent/dir/tokenizer.model");
  EXPECT_TRUE(absl::IsNotFound(tok.status())) << tok.status();
  EXPECT_THAT(tok.status().message(), HasSubstr("/nonexistent/dir/tokenizer.model"));
}

TEST(TokenizerTest, NotAModelIsInvalidArgument) {
  const std::string path = ::testing::TempDir() + "/eqat_tokenizer_test_not_a_model.model";
  ASSERT_TRUE(WriteFileAtomic(path, "this is plain text, not a sentencepiece model\n").ok());
  auto tok = Tokenizer::Load(path);
  EXPECT_TRUE(absl::IsInvalidArgument(tok.status())) << tok.status();
  EXPECT_THAT(tok.status().message(), HasSubstr(path));

  // A directory is not a model either.
  auto dir = Tokenizer::Load(std::string(EQAT_SOURCE_DIR) + "/models/stories260K");
  EXPECT_TRUE(absl::IsInvalidArgument(dir.status())) << dir.status();
  // Nor is a real file of another format (config.json).
  auto st = Tokenizer::Load(std::string(EQAT_SOURCE_DIR) + "/models/stories260K/config.json");
  EXPECT_TRUE(absl::IsInvalidArgument(st.status())) << st.status();
}

}  // namespace
}  // namespace eqat
