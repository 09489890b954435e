// UTF-8 repair (against CPython's bytes.decode('utf-8', errors='replace'))
// and the Oniguruma -> PCRE2 pattern translation.
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/hf_tokenizer/regex.h"
#include "common/hf_tokenizer/utf8.h"
#include "tests/common/hf_tokenizer/test_util.h"

namespace eqat::hf {
namespace {

using hf_test::HexDecode;

TEST(Utf8Test, SanitizeMatchesPythonReplace) {
  struct Case {
    const char* in_hex;
    const char* out_hex;
    int64_t replaced;
  };
  // Computed with CPython 3.11: bytes.fromhex(in).decode('utf-8', 'replace').
  const std::vector<Case> cases = {
      {"61ff62", "61efbfbd62", 1},
      {"e282", "efbfbd", 1},
      {"e28261", "efbfbd61", 1},
      {"f09f98", "efbfbd", 1},
      {"eda080", "efbfbdefbfbdefbfbd", 3},  // surrogate: three subparts
      {"c0af", "efbfbdefbfbd", 2},          // overlong
      {"f4908080", "efbfbdefbfbdefbfbdefbfbd", 4},
      {"e08080", "efbfbdefbfbdefbfbd", 3},
      {"8080", "efbfbdefbfbd", 2},
      {"f09f9880", "f09f9880", 0},
      {"f888808080", "efbfbdefbfbdefbfbdefbfbdefbfbd", 5},
      {"c3", "efbfbd", 1},
  };
  for (const Case& c : cases) {
    std::string out;
    EXPECT_EQ(SanitizeUtf8(HexDecode(c.in_hex), &out), c.replaced) << c.in_hex;
    EXPECT_EQ(out, HexDecode(c.out_hex)) << c.in_hex;
  }
}

TEST(Utf8Test, Predicates) {
  EXPECT_TRUE(IsWhiteSpace(0x85));
  EXPECT_TRUE(IsWhiteSpace(0x3000));
  EXPECT_FALSE(IsWhiteSpace(0x180E));
  EXPECT_FALSE(IsWhiteSpace(0x200B));
  EXPECT_TRUE(IsNumeric(0x2460));   // ① is No
  EXPECT_TRUE(IsPunctuation('$'));  // ASCII punctuation, though Unicode says Sc
  EXPECT_TRUE(IsPunctuation(0x3001));
  EXPECT_FALSE(IsPunctuation(0x20AC));  // € is Sc
}

std::vector<MatchSpan> All(const Regex& re, const std::string& s) {
  std::vector<MatchSpan> m;
  EXPECT_TRUE(re.FindAll(s, &m).ok());
  return m;
}

TEST(RegexTest, SpaceIsUnicodeWhiteSpace) {
  auto re = Regex::FromOniguruma("\\s+");
  ASSERT_TRUE(re.ok()) << re.status();
  // U+180E is not White_Space (PCRE2's own \s counts it); U+0085 is.
  EXPECT_TRUE(All(**re, "\xE1\xA0\x8E").empty());
  EXPECT_EQ(All(**re, "a\xC2\x85" "b"), (std::vector<MatchSpan>{{1, 3}}));
  auto neg = Regex::FromOniguruma("[^\\s]+");
  ASSERT_TRUE(neg.ok());
  EXPECT_EQ(All(**neg, "\xE1\xA0\x8E"), (std::vector<MatchSpan>{{0, 3}}));
}

TEST(RegexTest, Gpt2AndQwenPatternsCompile) {
  for (const char* p :
       {"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
        "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}) {
    auto re = Regex::FromOniguruma(p);
    EXPECT_TRUE(re.ok()) << re.status();
  }
  auto re = Regex::FromOniguruma("(?i:'s|'t)|\\p{L}+|\\s+(?!\\S)|\\s+");
  ASSERT_TRUE(re.ok());
  EXPECT_EQ(All(**re, "IT'S  a"),
            (std::vector<MatchSpan>{{0, 2}, {2, 4}, {4, 5}, {5, 6}, {6, 7}}));
}

TEST(RegexTest, TranslationDetails) {
  EXPECT_EQ(*TranslateOniguruma("\\h+"), "[0-9a-fA-F]+");
  EXPECT_EQ(*TranslateOniguruma("\\u00e9"), "\\x{00e9}");
  EXPECT_EQ(*TranslateOniguruma("[]a]"), "[]a]");
  EXPECT_FALSE(TranslateOniguruma("[a-z&&[^x]]").ok());
  EXPECT_FALSE(TranslateOniguruma("[\\W]").ok());
}

TEST(RegexTest, EmptyMatchesFollowOnigIteration) {
  auto re = Regex::FromOniguruma("a*");
  ASSERT_TRUE(re.ok());
  // onig find_iter: "aa" at 0, the empty match right after it is skipped,
  // then an empty match at 3 (after 'b') and none repeated at the end.
  EXPECT_EQ(All(**re, "aab"), (std::vector<MatchSpan>{{0, 2}, {3, 3}}));
}

TEST(RegexTest, LiteralIsLiteral) {
  auto re = Regex::FromLiteral("a.b");
  ASSERT_TRUE(re.ok()) << re.status();
  EXPECT_EQ(All(**re, "axb a.b"), (std::vector<MatchSpan>{{4, 7}}));
}

}  // namespace
}  // namespace eqat::hf
