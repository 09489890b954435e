// `eqat tokenize` through the real binary: sentencepiece and tokenizer.json
// folders, --special, --json's last line, invalid UTF-8, and bad input
// (exit 2 with a message naming the flag or the file's component).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/file_util.h"
#include "common/json.h"
#include "tests/client/cli_runner.h"

namespace eqat {
namespace {

using cli_test::LastLine;
using cli_test::RunEqat;
using cli_test::RunResult;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Src(const std::string& rel) { return JoinPath(EQAT_SOURCE_DIR, rel); }

std::string MustRead(const std::string& path) {
  auto s = ReadFile(path);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : std::string();
}

class TokenizeCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = JoinPath(::testing::TempDir(), absl::StrCat("eqat_tokenize_", getpid()));
    ASSERT_TRUE(RemoveAll(dir_).ok());
    ASSERT_TRUE(MakeDirs(dir_).ok());
  }
  void TearDown() override { RemoveAll(dir_).IgnoreError(); }
  std::string Write(const std::string& name, const std::string& bytes) {
    std::string p = JoinPath(dir_, name);
    EXPECT_TRUE(WriteFileAtomic(p, bytes).ok());
    return p;
  }
  // A folder holding only the given tokenizer.json text.
  std::string JsonFolder(const std::string& name, const std::string& json) {
    std::string d = JoinPath(dir_, name);
    EXPECT_TRUE(MakeDirs(d).ok());
    EXPECT_TRUE(WriteFileAtomic(JoinPath(d, "tokenizer.json"), json).ok());
    return d;
  }
  std::string dir_;
};

std::vector<int64_t> Ids(const RunResult& r) {
  auto j = ParseJson(LastLine(r.output));
  if (!j.ok() || !j->is_object() || !j->contains("ids")) return {};
  EXPECT_EQ((*j)["n"].get<int64_t>(), static_cast<int64_t>((*j)["ids"].size()));
  return (*j)["ids"].get<std::vector<int64_t>>();
}

TEST_F(TokenizeCommandTest, SentencepieceFolderPlainAndSpecial) {
  const std::string text = Write("t.txt", "Once upon a time");
  const std::string err = JoinPath(dir_, "stderr.txt");
  RunResult plain =
      RunEqat({"tokenize", "--model", Src("models/stories260K"), "--text", text}, err);
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_EQ(plain.output, "403 407 261 378\n");  // stdout: the ids only
  EXPECT_EQ(MustRead(err), "eqat tokenize: tokenizer.model, 4 tokens\n");
  RunResult special = RunEqat(
      {"tokenize", "--model", Src("models/stories260K"), "--text", text, "--special", "--json"});
  ASSERT_EQ(special.exit_code, 0) << special.output;
  EXPECT_THAT(Ids(special), ElementsAre(1, 403, 407, 261, 378));  // Llama-2 rule: BOS only
  EXPECT_THAT(special.output, HasSubstr("tokenizer.model, 5 tokens"));  // on stderr
}

// The real Qwen3 tokenizer on the first 200,000 characters (code points) of
// WikiText-2 test gives the ids Hugging Face's tokenizers.js gives; a folder with only
// tokenizer.json (no config.json) is enough.
TEST_F(TokenizeCommandTest, Qwen3TokenizerJsonMatchesReferenceIds) {
  const std::string tok_dir = Src("tests/data/tokenizers/qwen3");
  auto expected = ParseJson(MustRead(JoinPath(tok_dir, "expected_ids_wikitext2_head.json")));
  ASSERT_TRUE(expected.ok());
  const int64_t chars = (*expected)["wiki_head_chars"].get<int64_t>();
  // The reference was made on the text with CRLF line ends read as LF.
  const std::string wiki =
      absl::StrReplaceAll(MustRead(Src("data/wikitext2_test.raw")), {{"\r\n", "\n"}});
  size_t end = 0;
  for (int64_t c = 0; c < chars && end < wiki.size(); ++c) {  // code points
    ++end;
    while (end < wiki.size() && (static_cast<unsigned char>(wiki[end]) & 0xC0) == 0x80) ++end;
  }
  const std::string text = Write("head.txt", wiki.substr(0, end));
  RunResult r = RunEqat({"tokenize", "--model", tok_dir, "--text", text, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.output.substr(0, 2000);
  std::vector<int64_t> want = (*expected)["wiki_head"].get<std::vector<int64_t>>();
  std::vector<int64_t> got = Ids(r);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(got[i], want[i]) << "at token " << i;
  // Qwen's post-processor adds nothing: --special gives the same ids.
  const std::string hello = Write("hello.txt", "Hello world");
  RunResult a = RunEqat({"tokenize", "--model", tok_dir, "--text", hello, "--json"});
  RunResult b = RunEqat({"tokenize", "--model", tok_dir, "--text", hello, "--json", "--special"});
  EXPECT_EQ(Ids(a), Ids(b));
  EXPECT_FALSE(Ids(a).empty());
}

TEST_F(TokenizeCommandTest, InvalidUtf8IsReplacedAndReported) {
  const std::string tok_dir = Src("tests/data/tokenizers/qwen3");
  const std::string bad = Write("bad.txt", std::string("caf\xff\xc3 ok", 8));
  const std::string good = Write("good.txt", "caf\xEF\xBF\xBD\xEF\xBF\xBD ok");  // U+FFFD twice
  const std::string err = JoinPath(dir_, "stderr.txt");
  RunResult r = RunEqat({"tokenize", "--model", tok_dir, "--text", bad, "--json"}, err);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(MustRead(err), HasSubstr("2 invalid UTF-8 sequence(s)"));
  RunResult g = RunEqat({"tokenize", "--model", tok_dir, "--text", good, "--json"});
  EXPECT_EQ(Ids(r), Ids(g));
}

TEST_F(TokenizeCommandTest, BadInputExitsTwoNamingTheProblem) {
  const std::string text = Write("t.txt", "hello");
  const std::string qwen = MustRead(Src("tests/data/tokenizers/qwen3/tokenizer.json"));
  struct Bad {
    std::vector<std::string> args;
    std::string expect;
  };
  std::string wordpiece = qwen;
  size_t at = wordpiece.find("\"type\": \"BPE\"");
  if (at == std::string::npos) at = wordpiece.find("\"type\":\"BPE\"");
  ASSERT_NE(at, std::string::npos);
  wordpiece.replace(wordpiece.find("BPE", at), 3, "WordPiece");
  const std::vector<Bad> cases = {
      {{"tokenize", "--text", text}, "--model"},
      {{"tokenize", "--model", dir_}, "--text"},
      {{"tokenize", "--model", dir_, "--text", text}, "neither tokenizer.json nor tokenizer.model"},
      {{"tokenize", "--model", JsonFolder("truncated", qwen.substr(0, qwen.size() / 2)), "--text",
        text},
       "tokenizer.json"},
      {{"tokenize", "--model", JsonFolder("not_json", "{\"model\": [1, 2"), "--text", text},
       "tokenizer.json"},
      {{"tokenize", "--model", JsonFolder("wordpiece", wordpiece), "--text", text}, "WordPiece"},
      {{"tokenize", "--model", Src("models/stories260K"), "--text", JoinPath(dir_, "nope.txt")},
       "--text"},
  };
  for (const Bad& c : cases) {
    RunResult r = RunEqat(c.args);
    EXPECT_EQ(r.signal, 0) << r.output;
    EXPECT_EQ(r.exit_code, 2) << c.expect << ": " << r.output.substr(0, 500);
    EXPECT_THAT(r.output, HasSubstr(c.expect));
  }
}

}  // namespace
}  // namespace eqat
