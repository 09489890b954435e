// Job spec validation at the service boundary: defaults filled in, and every
// bad field refused with InvalidArgument (or FailedPrecondition for a busy
// output folder) naming "spec.<field>".
#include "coordinator/spec_validation.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>

#include "tests/coordinator/test_util.h"

namespace eqat {
namespace {

using testing::StoriesSpec;

class SpecValidationTest : public ::testing::Test {
 protected:
  std::vector<std::string> Roots() const { return {testing::SourceDir(), tmp_.path()}; }
  std::string Out() const { return tmp_.path() + "/out"; }
  testing::TempDir tmp_;
};

TEST_F(SpecValidationTest, FillsEveryDefault) {
  v1::JobSpec s = StoriesSpec(Out());
  s.set_samples(0);
  s.set_seqlen(0);
  auto v = ValidateJobSpec(s, Roots());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->num_blocks, 5);
  const v1::JobSpec& d = v->spec;
  EXPECT_EQ(d.method(), "efficientqat");
  EXPECT_EQ(d.samples(), 4096);
  EXPECT_EQ(d.seqlen(), 512);  // stories260K's max_position_embeddings
  EXPECT_EQ(d.epochs(), 2);
  EXPECT_EQ(d.ap_batch(), 2);
  EXPECT_EQ(d.e2e_samples(), 4096);
  EXPECT_EQ(d.e2e_seqlen(), 512);
  EXPECT_DOUBLE_EQ(d.quant_lr(), 1e-4);
  EXPECT_DOUBLE_EQ(d.anneal_fraction(), 0.5);
  EXPECT_EQ(d.schedule(), v1::SEQUENTIAL);
  EXPECT_EQ(d.zeros(), "v2");
}

TEST_F(SpecValidationTest, BadFieldsAreNamed) {
  struct Case {
    const char* name;
    std::function<void(v1::JobSpec*)> edit;
    const char* field;
  };
  const std::string src = testing::SourceDir();
  const std::vector<Case> cases = {
      {"relative model", [](v1::JobSpec* s) { s->set_model_dir("models/stories260K"); }, "spec.model_dir"},
      {"model outside roots", [](v1::JobSpec* s) { s->set_model_dir("/usr/share"); }, "spec.model_dir"},
      {"escape with ..", [&](v1::JobSpec* s) { s->set_model_dir(src + "/../../etc"); }, "spec.model_dir"},
      {"missing model", [&](v1::JobSpec* s) { s->set_model_dir(src + "/models/none"); }, "spec.model_dir"},
      {"method", [](v1::JobSpec* s) { s->set_method("awq"); }, "spec.method"},
      {"bits", [](v1::JobSpec* s) { s->set_bits(5); }, "spec.bits"},
      {"group", [](v1::JobSpec* s) { s->set_group_size(48); }, "spec.group_size"},
      {"group vs 172", [](v1::JobSpec* s) { s->set_group_size(64); }, "172"},
      {"no calib", [](v1::JobSpec* s) { s->clear_calib_path(); }, "spec.calib_path"},
      {"samples", [](v1::JobSpec* s) { s->set_samples(-1); }, "spec.samples"},
      {"seqlen", [](v1::JobSpec* s) { s->set_seqlen(100000); }, "spec.seqlen"},
      {"epochs", [](v1::JobSpec* s) { s->set_epochs(-2); }, "spec.epochs"},
      {"lr", [](v1::JobSpec* s) { s->set_quant_lr(-1); }, "spec.quant_lr"},
      {"eval text", [&](v1::JobSpec* s) { s->set_eval_text(src + "/data/none.txt"); }, "spec.eval_text"},
      {"zeros", [](v1::JobSpec* s) { s->set_zeros("v3"); }, "spec.zeros"},
      {"anneal", [](v1::JobSpec* s) { s->set_anneal_fraction(1.5); }, "spec.anneal_fraction"},
      {"max stages", [](v1::JobSpec* s) { s->set_max_stages(-1); }, "spec.max_stages"},
      {"out is source", [&](v1::JobSpec* s) {
         s->set_output_dir(src + "/models/stories260K");
         s->set_overwrite(true);  // even then: it would delete the model being read
       },
       "spec.output_dir"},
      {"out outside roots", [](v1::JobSpec* s) { s->set_output_dir("/var/out"); }, "spec.output_dir"},
  };
  for (const Case& c : cases) {
    v1::JobSpec s = StoriesSpec(Out());
    c.edit(&s);
    auto v = ValidateJobSpec(s, Roots());
    ASSERT_FALSE(v.ok()) << c.name;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << c.name << ": " << v.status();
    EXPECT_NE(std::string(v.status().message()).find(c.field), std::string::npos)
        << c.name << ": " << v.status();
  }
}

TEST_F(SpecValidationTest, AnnealFractionZeroIsKeptUnsetIsTheDefault) {
  v1::JobSpec s = StoriesSpec(Out());
  s.set_anneal_fraction(0);  // no teacher forcing: a valid choice, not "unset"
  auto v = ValidateJobSpec(s, Roots());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->spec.has_anneal_fraction());
  EXPECT_DOUBLE_EQ(v->spec.anneal_fraction(), 0.0);
}

TEST_F(SpecValidationTest, NonEmptyOutputNeedsOverwrite) {
  std::filesystem::create_directories(Out());
  std::ofstream(Out() + "/keep.txt") << "x";
  v1::JobSpec s = StoriesSpec(Out());
  auto v = ValidateJobSpec(s, Roots());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kFailedPrecondition) << v.status();
  EXPECT_NE(std::string(v.status().message()).find("spec.output_dir"), std::string::npos);
  s.set_overwrite(true);
  EXPECT_TRUE(ValidateJobSpec(s, Roots()).ok());
}

TEST(InAllowedRootsTest, ResolvesDotsAndPrefixes) {
  EXPECT_TRUE(InAllowedRoots("/tmp/a/b", {"/tmp"}));
  EXPECT_TRUE(InAllowedRoots("/tmp", {"/tmp/"}));
  EXPECT_FALSE(InAllowedRoots("/tmp/../etc/passwd", {"/tmp"}));
  EXPECT_FALSE(InAllowedRoots("/tmpfoo/x", {"/tmp"}));
  EXPECT_FALSE(InAllowedRoots("/tmp/x", {}));
}

}  // namespace
}  // namespace eqat
