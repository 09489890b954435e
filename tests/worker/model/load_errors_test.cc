// LlamaModel::Load on folders whose config.json disagrees with eqat or with
// the checkpoint: an unknown model_type, and a vocab_size that is not the
// embedding's (or lm_head's) row count, are InvalidArgument naming the
// field and the tensor. (tests/client/cli_bad_input_test.cc checks that the
// CLI turns them into exit 2.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/worker/model/tiny_model.h"
#include "tests/worker/test_util.h"
#include "worker/model/llama_model.h"

namespace eqat {
namespace {

using ::testing::HasSubstr;
using testing::ScratchDir;
using testing::TinyModel;

absl::Status LoadStatus(const TinyModel& m) {
  ScratchDir dir;
  if (testing::WriteTinyModel(dir.path(), m).empty()) return absl::InternalError("fixture");
  return LlamaModel::Load(dir.path()).status();
}

TEST(ModelLoadErrorsTest, UnknownModelTypeNamesTheField) {
  TinyModel m;
  m.model_type = "llama";
  m.config_overrides = {{"model_type", "gemma3_text"}, {"architectures", nullptr}};
  absl::Status st = LoadStatus(m);
  EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
  EXPECT_THAT(st.message(), HasSubstr("config.json: model_type 'gemma3_text' is not supported"));
  EXPECT_THAT(st.message(), HasSubstr("qwen3"));
}

TEST(ModelLoadErrorsTest, VocabSizeMustMatchTheEmbeddingRows) {
  for (const char* type : {"llama", "qwen3"}) {
    SCOPED_TRACE(type);
    TinyModel m;
    m.model_type = type;
    m.config_overrides = {{"vocab_size", 256}};  // the tensors have 300 rows
    absl::Status st = LoadStatus(m);
    EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
    EXPECT_THAT(st.message(), HasSubstr("config.json: vocab_size 256 does not match the 300 rows "
                                        "of tensor 'model.embed_tokens.weight'"));
  }
  // lm_head alone disagreeing is named too.
  TinyModel m;
  m.model_type = "llama";
  m.reshape = {{"lm_head.weight", {299, 64}}};
  absl::Status st = LoadStatus(m);
  EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
  EXPECT_THAT(st.message(), HasSubstr("vocab_size 300"));
  EXPECT_THAT(st.message(), HasSubstr("299 rows of tensor 'lm_head.weight'"));
}

}  // namespace
}  // namespace eqat
