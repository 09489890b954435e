// The real Qwen3 tokenizer against ids from tokenizers.js on the first
// 200,000 characters (code points; the text has no character outside the
// BMP, so UTF-16 units agree) of WikiText-2 test. Those ids were made from
// the text with its CRLF line ends read as LF (the Rust library gives the
// same ids on that text, and other ids on the CRLF bytes), so the test
// converts CRLF to LF before cutting.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/hf_tokenizer/hf_tokenizer.h"
#include "tests/common/hf_tokenizer/test_util.h"

namespace eqat {
namespace {

using hf_test::DataDir;
using hf_test::FirstDiff;
using hf_test::ReadFileTo;

class Qwen3Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto tok = HfTokenizer::LoadFromDir(DataDir() + "/qwen3");
    ASSERT_TRUE(tok.ok()) << tok.status();
    tok_ = std::move(tok).value().release();
  }
  static void TearDownTestSuite() {
    delete tok_;
    tok_ = nullptr;
  }
  // The first `chars` code points of WikiText-2 test, CRLF read as LF.
  static std::string WikiHead(size_t chars) {
    std::string raw, text;
    EXPECT_TRUE(ReadFileTo(std::string(EQAT_SOURCE_DIR) + "/data/wikitext2_test.raw", &raw));
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\r' && i + 1 < raw.size() && raw[i + 1] == '\n') continue;
      text.push_back(raw[i]);
    }
    size_t pos = 0, n = 0;
    while (pos < text.size() && n < chars) {
      unsigned char b = text[pos];
      pos += b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
      ++n;
    }
    return text.substr(0, pos);
  }
  static HfTokenizer* tok_;
};
HfTokenizer* Qwen3Test::tok_ = nullptr;

TEST_F(Qwen3Test, MatchesTokenizersJsOnWikiTextHead) {
  std::string expected_json;
  ASSERT_TRUE(ReadFileTo(DataDir() + "/qwen3/expected_ids_wikitext2_head.json", &expected_json));
  nlohmann::json expected = nlohmann::json::parse(expected_json);
  const std::vector<int32_t> want = expected["wiki_head"].get<std::vector<int32_t>>();
  const std::string text = WikiHead(expected["wiki_head_chars"].get<size_t>());
  auto enc = tok_->Encode(text, /*add_special_tokens=*/false);
  ASSERT_TRUE(enc.ok()) << enc.status();
  EXPECT_EQ(enc->replaced_invalid_utf8, 0);
  long diff = FirstDiff(enc->ids, want);
  EXPECT_EQ(diff, -1) << "first difference at id index " << diff << " of " << want.size()
                      << " (got " << enc->ids.size() << " ids)";
  EXPECT_EQ(tok_->Decode(enc->ids, /*skip_special_tokens=*/false), text);
}

TEST_F(Qwen3Test, VocabAndSpecialIds) {
  EXPECT_EQ(tok_->vocab_size(), 151669);
  EXPECT_EQ(tok_->TokenToId("<|im_start|>"), 151644);
  EXPECT_EQ(tok_->eos_id(), 151645);  // tokenizer_config.json eos_token <|im_end|>
  EXPECT_EQ(tok_->bos_id(), std::nullopt);  // bos_token null, no template
}

TEST_F(Qwen3Test, SpecialTokensAreMatchedInRawText) {
  auto enc = tok_->Encode("<|im_start|>user\nHello<|im_end|>", false);
  ASSERT_TRUE(enc.ok()) << enc.status();
  ASSERT_GE(enc->ids.size(), 3u);
  EXPECT_EQ(enc->ids.front(), 151644);
  EXPECT_EQ(enc->ids.back(), 151645);
  EXPECT_EQ(tok_->Decode(enc->ids, true), "user\nHello");
  EXPECT_EQ(tok_->Decode(enc->ids, false), "<|im_start|>user\nHello<|im_end|>");
}

TEST_F(Qwen3Test, InvalidUtf8IsReplacedAndCounted) {
  auto enc = tok_->Encode("a\xff" "b\xe2\x82", false);
  ASSERT_TRUE(enc.ok()) << enc.status();
  EXPECT_EQ(enc->replaced_invalid_utf8, 2);
  EXPECT_EQ(tok_->Decode(enc->ids, false), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD");
}

TEST_F(Qwen3Test, EncodeIsThreadSafe) {
  const std::string text = WikiHead(20000);
  auto ref = tok_->Encode(text, false);
  ASSERT_TRUE(ref.ok());
  std::vector<std::thread> threads;
  std::vector<std::vector<int32_t>> got(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto enc = tok_->Encode(text, false);
      if (enc.ok()) got[t] = enc->ids;
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& g : got) EXPECT_EQ(g, ref->ids);
}

}  // namespace
}  // namespace eqat
