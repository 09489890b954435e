// Every fixture under tests/data/tokenizers/<name>/ that has an expected.json
// (written by tests/conformance/make_tokenizer_fixtures.py with the Rust
// `tokenizers` library): for each case, ids (add_special_tokens=false),
// ids_special (true), decoded (decode(ids), keeping special tokens) and
// decoded_skip (decode(ids_special, skip_special_tokens=true)) must match.
// The tokenizer is <name>/tokenizer.json, or expected.json's
// "tokenizer_path" (relative to the fixture folder).
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/hf_tokenizer/hf_tokenizer.h"
#include "tests/common/hf_tokenizer/test_util.h"

namespace eqat {
namespace {

namespace fs = std::filesystem;
using hf_test::DataDir;
using hf_test::FirstDiff;
using hf_test::HexDecode;
using hf_test::ReadFileTo;

std::vector<std::string> FixtureNames() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(DataDir(), ec)) {
    if (e.is_directory() && fs::exists(e.path() / "expected.json")) {
      names.push_back(e.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

class FixtureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FixtureTest, MatchesRustTokenizers) {
  const fs::path dir = fs::path(DataDir()) / GetParam();
  std::string expected_text;
  ASSERT_TRUE(ReadFileTo((dir / "expected.json").string(), &expected_text));
  nlohmann::json expected = nlohmann::json::parse(expected_text);
  fs::path tok_path = dir / "tokenizer.json";
  if (expected.contains("tokenizer_path")) {
    tok_path = dir / expected["tokenizer_path"].get<std::string>();
  }
  std::string tok_json, config_json;
  ASSERT_TRUE(ReadFileTo(tok_path.string(), &tok_json)) << tok_path;
  ReadFileTo((tok_path.parent_path() / "tokenizer_config.json").string(), &config_json);
  auto tok = HfTokenizer::FromJson(tok_json, config_json, tok_path.string());
  ASSERT_TRUE(tok.ok()) << tok.status();

  const auto& cases = expected["cases"];
  int failures = 0;
  for (size_t i = 0; i < cases.size() && failures < 10; ++i) {
    const auto& c = cases[i];
    const std::string text = HexDecode(c["text_hex"].get<std::string>());
    const std::string label = GetParam() + " case " + std::to_string(i) +
                              (c.contains("name") ? " (" + c["name"].get<std::string>() + ")" : "");
    auto plain = (*tok)->Encode(text, /*add_special_tokens=*/false);
    auto special = (*tok)->Encode(text, /*add_special_tokens=*/true);
    ASSERT_TRUE(plain.ok()) << label << ": " << plain.status();
    ASSERT_TRUE(special.ok()) << label << ": " << special.status();
    const auto want_ids = c["ids"].get<std::vector<int32_t>>();
    const auto want_special = c["ids_special"].get<std::vector<int32_t>>();
    const auto want_decoded = c["decoded"].get<std::string>();
    const auto want_skip = c["decoded_skip"].get<std::string>();
    const std::string decoded = (*tok)->Decode(want_ids, /*skip_special_tokens=*/false);
    const std::string decoded_skip = (*tok)->Decode(want_special, /*skip_special_tokens=*/true);
    bool ok = true;
    if (long d = FirstDiff(plain->ids, want_ids); d >= 0) {
      ok = false;
      ADD_FAILURE() << label << ": ids differ at index " << d << " (got " << plain->ids.size()
                    << " ids, want " << want_ids.size() << ")";
    }
    if (long d = FirstDiff(special->ids, want_special); d >= 0) {
      ok = false;
      ADD_FAILURE() << label << ": ids_special differ at index " << d;
    }
    if (long d = FirstDiff(decoded, want_decoded); d >= 0) {
      ok = false;
      ADD_FAILURE() << label << ": decoded differs at byte " << d << "\n  got:  " << decoded
                    << "\n  want: " << want_decoded;
    }
    if (long d = FirstDiff(decoded_skip, want_skip); d >= 0) {
      ok = false;
      ADD_FAILURE() << label << ": decoded_skip differs at byte " << d << "\n  got:  "
                    << decoded_skip << "\n  want: " << want_skip;
    }
    if (!ok) ++failures;
  }
}

INSTANTIATE_TEST_SUITE_P(All, FixtureTest, ::testing::ValuesIn(FixtureNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string n = info.param;
                           for (char& ch : n) {
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return n;
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(FixtureTest);

}  // namespace
}  // namespace eqat
