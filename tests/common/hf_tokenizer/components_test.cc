// Each tokenizer.json component on a small character-level BPE, with the
// expected ids taken from the Rust `tokenizers` 0.23.3 library on the same
// JSON (see the values' comments for the tokens).
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/hf_tokenizer/hf_tokenizer.h"

namespace eqat {
namespace {

using Json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Ids = std::vector<int32_t>;

// ids: a..z 0-25, ▁ 26, ' ' 27, . 28 , 29 ! 30 - 31, 0..3 32-35, <unk> 36,
// <s> 37, </s> 38, <0xC3> 39, <0xA9> 40, xyz 41, then the merge results
// ab 42 abc 43 ▁a 44 he 45 ll 46 hell 47 hello 48 b- 49 -c 50 -- 51 12 52 ,, 53.
Json Base() {
  const std::vector<std::string> chars = {
      "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r",
      "s", "t", "u", "v", "w", "x", "y", "z", "\u2581", " ", ".", ",", "!", "-", "0", "1", "2",
      "3", "<unk>", "<s>", "</s>", "<0xC3>", "<0xA9>", "xyz"};
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"a", "b"}, {"ab", "c"}, {"\u2581", "a"}, {"h", "e"}, {"l", "l"}, {"he", "ll"},
      {"hell", "o"}, {"b", "-"}, {"-", "c"}, {"-", "-"}, {"1", "2"}, {",", ","}};
  Json vocab = Json::object();
  for (size_t i = 0; i < chars.size(); ++i) vocab[chars[i]] = i;
  Json m = Json::array();
  for (const auto& [a, b] : merges) {
    if (!vocab.contains(a + b)) vocab[a + b] = vocab.size();
    m.push_back(Json::array({a, b}));
  }
  Json j;
  j["version"] = "1.0";
  j["added_tokens"] = Json::array();
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = nullptr;
  j["post_processor"] = nullptr;
  j["decoder"] = nullptr;
  j["model"] = {{"type", "BPE"},   {"vocab", vocab},     {"merges", m},
                {"unk_token", "<unk>"}, {"fuse_unk", false}, {"byte_fallback", false}};
  return j;
}

std::unique_ptr<HfTokenizer> Make(const Json& j) {
  auto tok = HfTokenizer::FromJson(j.dump(), "", "test.json");
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? std::move(tok).value() : nullptr;
}

Ids Enc(const HfTokenizer& tok, const std::string& text, bool special = false) {
  auto enc = tok.Encode(text, special);
  EXPECT_TRUE(enc.ok()) << enc.status();
  return enc.ok() ? enc->ids : Ids{};
}

TEST(HfComponentsTest, NoPreTokenizerMergesAcrossEverything) {
  auto tok = Make(Base());
  ASSERT_TRUE(tok);
  EXPECT_EQ(Enc(*tok, "ab-cd--e"), (Ids{42, 50, 3, 51, 4}));  // ab -c d -- e
  EXPECT_EQ(tok->Decode({42, 50, 3}, false), "ab -c d");     // no decoder: joined by ' '
}

struct SplitCase {
  const char* behavior;
  bool invert;
  Ids ids;
};

TEST(HfComponentsTest, SplitBehaviors) {
  const std::vector<SplitCase> cases = {
      {"Removed", false, {42, 2, 3, 4}},
      {"Removed", true, {31, 31, 31}},
      {"Isolated", false, {42, 31, 2, 3, 31, 31, 4}},
      {"MergedWithPrevious", false, {42, 31, 2, 3, 31, 31, 4}},
      {"MergedWithPrevious", true, {42, 50, 3, 31, 31, 4}},
      {"MergedWithNext", false, {42, 50, 3, 31, 31, 4}},
      {"MergedWithNext", true, {42, 31, 2, 3, 31, 31, 4}},
      {"Contiguous", false, {42, 31, 2, 3, 51, 4}},
  };
  for (const SplitCase& c : cases) {
    Json j = Base();
    j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"String", "-"}}},
                          {"behavior", c.behavior}, {"invert", c.invert}};
    auto tok = Make(j);
    ASSERT_TRUE(tok);
    EXPECT_EQ(Enc(*tok, "ab-cd--e"), c.ids) << c.behavior << " invert=" << c.invert;
  }
}

TEST(HfComponentsTest, SplitRegexPattern) {
  Json j = Base();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "\\s+"}}}, {"behavior", "Isolated"}};
  auto tok = Make(j);
  ASSERT_TRUE(tok);
  EXPECT_EQ(Enc(*tok, "hello abc"), (Ids{48, 27, 43}));
}

TEST(HfComponentsTest, MetaspacePrependSchemes) {
  struct Case {
    const char* scheme;
    Ids plain, leading_space, after_token;
    const char* decoded_after_token;
  };
  const std::vector<Case> cases = {
      {"always", {26, 43, 26, 48}, {26, 43}, {54, 26, 43, 26, 48}, "!! abc hello"},
      {"first", {26, 43, 26, 48}, {26, 43}, {54, 43, 26, 48}, "!!abc hello"},
      {"never", {43, 26, 48}, {26, 43}, {54, 43, 26, 48}, "!!abc hello"},
  };
  for (const Case& c : cases) {
    Json j = Base();
    Json ms = {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", c.scheme},
               {"split", true}};
    j["pre_tokenizer"] = ms;
    j["decoder"] = ms;
    j["added_tokens"] = Json::array({{{"id", 54}, {"content", "!!"}, {"single_word", false},
                                      {"lstrip", false}, {"rstrip", false},
                                      {"normalized", false}, {"special", true}}});
    auto tok = Make(j);
    ASSERT_TRUE(tok);
    EXPECT_EQ(Enc(*tok, "abc hello"), c.plain) << c.scheme;
    EXPECT_EQ(Enc(*tok, " abc"), c.leading_space) << c.scheme;
    Ids after = Enc(*tok, "!!abc hello");
    EXPECT_EQ(after, c.after_token) << c.scheme;
    EXPECT_EQ(tok->Decode(after, false), c.decoded_after_token) << c.scheme;
    EXPECT_EQ(tok->Decode(c.plain, false), "abc hello") << c.scheme;
  }
}

TEST(HfComponentsTest, ByteFallbackAndUnk) {
  Json j = Base();
  j["model"]["byte_fallback"] = true;
  j["decoder"] = {{"type", "Sequence"},
                  {"decoders", Json::array({{{"type", "ByteFallback"}}, {{"type", "Fuse"}}})}};
  auto tok = Make(j);
  ASSERT_TRUE(tok);
  // é has both byte tokens; § (C2 A7) has none, so it falls back to <unk>.
  Ids ids = Enc(*tok, "a\xC3\xA9" "b\xC2\xA7");
  EXPECT_EQ(ids, (Ids{0, 39, 40, 1, 36}));
  EXPECT_EQ(tok->Decode(ids, false), "a\xC3\xA9" "b<unk>");
  // A lone <0xC3> is not UTF-8: one U+FFFD per byte.
  EXPECT_EQ(tok->Decode({39, 0}, false), "\xEF\xBF\xBD" "a");
}

TEST(HfComponentsTest, FuseUnk) {
  Json j = Base();
  auto plain = Make(j);
  j["model"]["fuse_unk"] = true;
  auto fused = Make(j);
  j["model"]["unk_token"] = nullptr;
  auto no_unk = Make(j);
  ASSERT_TRUE(plain && fused && no_unk);
  const std::string text = "a\xC2\xA7\xC2\xA7" "b\xC2\xA7";
  EXPECT_EQ(Enc(*plain, text), (Ids{0, 36, 36, 1, 36}));
  EXPECT_EQ(Enc(*fused, text), (Ids{0, 36, 1, 36}));
  EXPECT_EQ(Enc(*no_unk, text), (Ids{42}));  // unknowns dropped, then a+b merge
}

TEST(HfComponentsTest, IgnoreMerges) {
  Json j = Base();
  auto merging = Make(j);
  j["model"]["ignore_merges"] = true;
  auto whole = Make(j);
  ASSERT_TRUE(merging && whole);
  EXPECT_EQ(Enc(*merging, "xyz"), (Ids{23, 24, 25}));  // no merge builds xyz
  EXPECT_EQ(Enc(*whole, "xyz"), (Ids{41}));
  EXPECT_EQ(Enc(*whole, "abc"), (Ids{43}));
}

TEST(HfComponentsTest, AddedTokenStripAndSingleWord) {
  struct Case {
    bool lstrip, rstrip, single_word;
    Ids spaced, glued;
  };
  const std::vector<Case> cases = {
      {true, false, false, {42, 41, 27, 27, 2}, {42, 41, 27, 2}},
      {false, true, false, {42, 27, 41, 2}, {42, 41, 2}},
      {true, true, false, {42, 41, 2}, {42, 41, 2}},
      {false, false, true, {42, 27, 41, 27, 27, 2}, {42, 23, 24, 25, 27, 2}},
  };
  for (const Case& c : cases) {
    Json j = Base();
    j["added_tokens"] = Json::array({{{"id", 41}, {"content", "xyz"}, {"single_word", c.single_word},
                                      {"lstrip", c.lstrip}, {"rstrip", c.rstrip},
                                      {"normalized", false}, {"special", false}}});
    auto tok = Make(j);
    ASSERT_TRUE(tok);
    EXPECT_EQ(Enc(*tok, "ab xyz  c"), c.spaced) << c.lstrip << c.rstrip << c.single_word;
    EXPECT_EQ(Enc(*tok, "abxyz c"), c.glued) << c.lstrip << c.rstrip << c.single_word;
  }
}

Json WithTemplate() {
  Json j = Base();
  auto special = [](const char* s, int id) {
    return Json{{"id", id}, {"content", s}, {"single_word", false}, {"lstrip", false},
                {"rstrip", false}, {"normalized", false}, {"special", true}};
  };
  j["added_tokens"] = Json::array({special("<s>", 37), special("</s>", 38)});
  j["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", Json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                              {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                              {{"SpecialToken", {{"id", "</s>"}, {"type_id", 0}}}}})},
      {"pair", Json::array({{{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
      {"special_tokens",
       {{"<s>", {{"id", "<s>"}, {"ids", {37}}, {"tokens", {"<s>"}}}},
        {"</s>", {{"id", "</s>"}, {"ids", {38}}, {"tokens", {"</s>"}}}}}}};
  return j;
}

TEST(HfComponentsTest, TemplateProcessing) {
  auto tok = Make(WithTemplate());
  ASSERT_TRUE(tok);
  EXPECT_EQ(Enc(*tok, "abc", true), (Ids{37, 43, 38}));
  EXPECT_EQ(Enc(*tok, "abc", false), (Ids{43}));
  EXPECT_EQ(tok->Decode({37, 43, 38}, false), "<s> abc </s>");
  EXPECT_EQ(tok->Decode({37, 43, 38}, true), "abc");
  EXPECT_EQ(tok->bos_id(), 37);  // the template's leading special token
  EXPECT_EQ(tok->eos_id(), std::nullopt);
}

TEST(HfComponentsTest, BertRobertaAndSequenceProcessors) {
  const Json bert = {{"type", "BertProcessing"}, {"sep", {"</s>", 38}}, {"cls", {"<s>", 37}}};
  const Json roberta = {{"type", "RobertaProcessing"}, {"sep", {"</s>", 38}},
                        {"cls", {"<s>", 37}}, {"trim_offsets", true}, {"add_prefix_space", true}};
  const Json seq = {{"type", "Sequence"},
                    {"processors", Json::array({{{"type", "ByteLevel"}, {"add_prefix_space", true},
                                                 {"trim_offsets", false}, {"use_regex", true}},
                                                bert})}};
  for (const Json& pp : {bert, roberta, seq}) {
    Json j = Base();
    j["post_processor"] = pp;
    auto tok = Make(j);
    ASSERT_TRUE(tok);
    EXPECT_EQ(Enc(*tok, "abc", true), (Ids{37, 43, 38})) << pp.dump();
    EXPECT_EQ(Enc(*tok, "abc", false), (Ids{43})) << pp.dump();
    EXPECT_EQ(tok->bos_id(), 37);
  }
}

TEST(HfComponentsTest, ConfigBosEos) {
  auto tok = HfTokenizer::FromJson(WithTemplate().dump(),
                                   R"({"bos_token": {"content": "</s>"}, "eos_token": "<s>"})",
                                   "test.json");
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->bos_id(), 38);
  EXPECT_EQ((*tok)->eos_id(), 37);
}

TEST(HfComponentsTest, DecoderReplaceFuseStrip) {
  Json j = Base();
  j["decoder"] = {{"type", "Sequence"},
                  {"decoders", Json::array({{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}},
                                             {"content", " "}},
                                            {{"type", "Fuse"}},
                                            {{"type", "Strip"}, {"content", " "}, {"start", 1},
                                             {"stop", 0}}})}};
  auto tok = Make(j);
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->Decode({26, 43, 26, 48}, false), "abc hello");
}

TEST(HfComponentsTest, Normalizers) {
  Json j = Base();
  j["normalizer"] = {
      {"type", "Sequence"},
      {"normalizers",
       Json::array({{{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}},
                    {{"type", "Prepend"}, {"prepend", "\u2581"}},
                    {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}})}};
  auto tok = Make(j);
  ASSERT_TRUE(tok);
  EXPECT_EQ(Enc(*tok, "  abc hello \t"), (Ids{26, 43, 26, 48}));
  EXPECT_EQ(Enc(*tok, "   "), Ids{});  // stripped to nothing: Prepend adds nothing

  j["normalizer"] = {{"type", "Lowercase"}};
  auto lower = Make(j);
  ASSERT_TRUE(lower);
  EXPECT_EQ(Enc(*lower, "ABC HeLLo"), (Ids{43, 27, 48}));

  j["normalizer"] = {{"type", "NFKC"}};
  auto nfkc = Make(j);
  ASSERT_TRUE(nfkc);
  EXPECT_EQ(Enc(*nfkc, "\xEF\xAC\x81 \xE2\x91\xA0"), (Ids{5, 8, 27, 33}));  // "ﬁ ①" -> "fi 1"
}

TEST(HfComponentsTest, DigitsPunctuationWhitespace) {
  auto with = [](Json pre) {
    Json j = Base();
    j["pre_tokenizer"] = std::move(pre);
    return Make(j);
  };
  auto ind = with({{"type", "Digits"}, {"individual_digits", true}});
  auto grouped = with({{"type", "Digits"}, {"individual_digits", false}});
  auto punct = with({{"type", "Punctuation"}, {"behavior", "Isolated"}});
  auto punct_c = with({{"type", "Punctuation"}, {"behavior", "Contiguous"}});
  auto ws = with({{"type", "Whitespace"}});
  auto wss = with({{"type", "WhitespaceSplit"}});
  ASSERT_TRUE(ind && grouped && punct && punct_c && ws && wss);
  EXPECT_EQ(Enc(*ind, "ab123c"), (Ids{42, 33, 34, 35, 2}));
  EXPECT_EQ(Enc(*grouped, "ab123c"), (Ids{42, 52, 35, 2}));
  EXPECT_EQ(Enc(*punct, "b-c,,a"), (Ids{1, 31, 2, 29, 29, 0}));
  EXPECT_EQ(Enc(*punct_c, "b-c,,a"), (Ids{1, 31, 2, 53, 0}));
  EXPECT_EQ(Enc(*ws, "hello  abc,,d"), (Ids{48, 43, 53, 3}));
  EXPECT_EQ(Enc(*wss, "hello  abc,,d"), (Ids{48, 43, 53, 3}));
}

TEST(HfComponentsTest, MergesAsStrings) {
  Json j = Base();
  Json m = Json::array();
  for (const Json& pair : j["model"]["merges"]) {
    m.push_back(pair[0].get<std::string>() + " " + pair[1].get<std::string>());
  }
  j["model"]["merges"] = m;
  auto tok = Make(j);
  ASSERT_TRUE(tok);
  EXPECT_EQ(Enc(*tok, "ab-cd--e"), (Ids{42, 50, 3, 51, 4}));
}

TEST(HfComponentsTest, RefusesUnsupportedComponents) {
  struct Case {
    const char* field;
    Json value;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"pre_tokenizer", {{"type", "BertPreTokenizer"}},
       "test.json: pre_tokenizer type 'BertPreTokenizer' is not supported"},
      {"normalizer", {{"type", "BertNormalizer"}},
       "test.json: normalizer type 'BertNormalizer' is not supported"},
      {"decoder", {{"type", "WordPiece"}}, "test.json: decoder type 'WordPiece' is not supported"},
      {"post_processor", {{"type", "Foo"}},
       "test.json: post_processor type 'Foo' is not supported"},
      {"model", {{"type", "Unigram"}, {"vocab", Json::array()}},
       "test.json: model type 'Unigram' is not supported"},
  };
  for (const Case& c : cases) {
    Json j = Base();
    j[c.field] = c.value;
    auto tok = HfTokenizer::FromJson(j.dump(), "", "test.json");
    ASSERT_FALSE(tok.ok()) << c.field;
    EXPECT_EQ(tok.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(tok.status().message(), c.message);
  }
}

TEST(HfComponentsTest, RefusesBadMergesAndFields) {
  Json j = Base();
  j["model"]["merges"].push_back(Json::array({"q", "nope"}));
  auto tok = HfTokenizer::FromJson(j.dump(), "", "test.json");
  ASSERT_FALSE(tok.ok());
  EXPECT_THAT(std::string(tok.status().message()), HasSubstr("'nope' is not in the vocab"));

  j = Base();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "("}}}, {"behavior", "Isolated"}};
  tok = HfTokenizer::FromJson(j.dump(), "", "test.json");
  ASSERT_FALSE(tok.ok());
  EXPECT_THAT(std::string(tok.status().message()), HasSubstr("test.json: pre_tokenizer 'Split': regex '('"));
}

TEST(HfComponentsTest, RefusesMalformedJson) {
  std::string text = Base().dump();
  auto tok = HfTokenizer::FromJson(text.substr(0, text.size() / 2), "", "dir/tokenizer.json");
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(tok.status().message()), HasSubstr("dir/tokenizer.json: invalid JSON"));
  tok = HfTokenizer::FromJson("[1, 2]", "", "x.json");
  EXPECT_FALSE(tok.ok());
  tok = HfTokenizer::FromJson(Base().dump(), "{bad", "x.json");
  ASSERT_FALSE(tok.ok());
  EXPECT_THAT(std::string(tok.status().message()), HasSubstr("tokenizer_config.json"));
}

TEST(HfComponentsTest, LoadFromDirNotFound) {
  auto tok = HfTokenizer::LoadFromDir("/nonexistent/dir");
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(tok.status().message()), HasSubstr("/nonexistent/dir/tokenizer.json"));
}

}  // namespace
}  // namespace eqat
