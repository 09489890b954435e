// Acceptance: full-precision perplexity of stories260K on WikiText-2 test at
// seqlen 512 matches the independent reference in expected.json within 0.5%.
// (~1 minute on 2 cores: every window of the test split is evaluated.)
#include <gtest/gtest.h>

#include "common/file_util.h"
#include "common/json.h"
#include "common/text_data.h"
#include "common/tokenizer.h"
#include "tests/worker/test_util.h"
#include "worker/model/evaluate.h"

namespace eqat {
namespace {

TEST(AcceptanceTest, StoriesWikitextPerplexityMatchesReference) {
  ConfigureProcessForCompute();
  auto expected_text = ReadFile(testing::StoriesDir() + "/expected.json");
  ASSERT_TRUE(expected_text.ok());
  auto expected = ParseJson(*expected_text);
  ASSERT_TRUE(expected.ok());
  ASSERT_TRUE(expected->contains("wikitext2_test_seq512"));
  const Json& ref = expected->at("wikitext2_test_seq512");

  auto model = LlamaModel::Load(testing::StoriesDir());
  ASSERT_TRUE(model.ok());
  auto tok = Tokenizer::Load(testing::StoriesDir() + "/tokenizer.model");
  ASSERT_TRUE(tok.ok());
  auto tokens = LoadTokens(testing::SourcePath("data/wikitext2_test.raw"), **tok, 512);
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(static_cast<int64_t>(tokens->size()), ref.value("tokens", int64_t{-1}));
  PerplexityOptions o;
  o.seqlen = 512;
  o.batch_size = 8;
  auto r = EvaluatePerplexity(**model, *tokens, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->windows, ref.value("windows", int64_t{-1}));
  double want = ref.value("fp", 0.0);
  EXPECT_NEAR(r->ppl, want, 0.005 * want) << "ppl " << r->ppl << " vs reference " << want;
}

}  // namespace
}  // namespace eqat
