// The one job model: ValidateJobSpec fills every default and refuses every
// bad field with InvalidArgument (or FailedPrecondition for a busy output
// folder) naming "spec.<field>" on the wire and "--flag" for the CLI; the
// flag table builds specs from flag text.
#include "common/job/job_spec.h"

#include <gtest/gtest.h>

#include <limits>

#include <fstream>
#include <cmath>
#include <filesystem>
#include <functional>

#include "common/job/job_flags.h"
#include "tests/coordinator/test_util.h"

namespace eqat {
namespace {

using testing::StoriesSpec;

class SpecValidationTest : public ::testing::Test {
 protected:
  std::vector<std::string> Roots() const { return {testing::SourceDir(), tmp_.path()}; }
  absl::StatusOr<ValidatedJob> Wire(const v1::JobSpec& s) const {
    JobSpecRules r;
    r.allowed_roots = Roots();
    return ValidateJobSpec(s, r);
  }
  absl::StatusOr<ValidatedJob> Cli(const v1::JobSpec& s) const {
    JobSpecRules r;
    r.style = FieldStyle::kFlag;
    return ValidateJobSpec(s, r);
  }
  std::string Out() const { return tmp_.path() + "/out"; }
  testing::TempDir tmp_;
};

TEST_F(SpecValidationTest, FillsEveryDefault) {
  v1::JobSpec s = StoriesSpec(Out());
  s.clear_samples();
  s.clear_seqlen();
  s.clear_bits();
  s.clear_e2e_samples();
  s.clear_e2e_seqlen();
  auto v = Wire(s);
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
  EXPECT_EQ(d.bits(), 4);
  EXPECT_EQ(d.group_size(), -1);  // set by StoriesSpec, kept
  EXPECT_DOUBLE_EQ(d.weight_lr(), 1e-5);  // 4-bit
  EXPECT_DOUBLE_EQ(d.e2e_lr(), 1e-5);
  EXPECT_EQ(d.e2e_data(), s.calib_path());  // E2E-QP trains on the calibration text
  EXPECT_EQ(d.e2e_epochs(), 1);
  EXPECT_EQ(d.e2e_batch(), 4);  // official: 32 windows per step
  EXPECT_EQ(d.e2e_accum(), 8);
  EXPECT_EQ(d.val_samples(), 64);  // official: 64 validation windows besides the 4096
  EXPECT_EQ(d.calib_windows(), "chunks");
  EXPECT_FALSE(d.ap_shuffle());
  EXPECT_EQ(d.precision(), "fp16");
  EXPECT_EQ(d.rank(), 0);  // efficientqat has none
  EXPECT_EQ(d.alpha(), 0);
  EXPECT_EQ(d.batch(), 4);
  EXPECT_EQ(d.eval_seqlen(), 512);
  EXPECT_EQ(d.eval_max_windows(), 0);
  EXPECT_EQ(d.max_stages(), 0);
  // Every optional field is explicit after validation, so workers default nothing.
  const auto* desc = d.GetDescriptor();
  for (int i = 0; i < desc->field_count(); ++i) {
    const auto* f = desc->field(i);
    if (f->has_presence()) {
      EXPECT_TRUE(d.GetReflection()->HasField(d, f)) << f->name();
    }
  }
  EXPECT_TRUE(CheckSpecComplete(d).ok());
  absl::Status raw = CheckSpecComplete(s);
  EXPECT_EQ(raw.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(raw.message()).find("spec.bits is unset"), std::string::npos) << raw;
  // Validating a validated spec changes nothing.
  auto again = Wire(d);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->spec.SerializeAsString(), d.SerializeAsString());
}

TEST_F(SpecValidationTest, TwoBitDefaultsAndExplicitValuesKept) {
  v1::JobSpec s = StoriesSpec(Out());  // 2-bit
  s.set_e2e_samples(8);
  s.clear_e2e_seqlen();
  auto v = Wire(s);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_DOUBLE_EQ(v->spec.weight_lr(), 2e-5);
  EXPECT_DOUBLE_EQ(v->spec.e2e_lr(), 2e-5);
  EXPECT_EQ(v->spec.samples(), 16);
  EXPECT_EQ(v->spec.e2e_samples(), 8);
  EXPECT_EQ(v->spec.seqlen(), 64);
  EXPECT_EQ(v->spec.e2e_seqlen(), 512);  // official 4096, capped at max_position_embeddings
  s.set_method("gptq");
  v = Wire(s);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->spec.e2e_data(), "");  // no E2E-QP for GPTQ
  EXPECT_EQ(v->spec.val_samples(), 0);  // nothing trains
}

TEST_F(SpecValidationTest, LowRankMethodsDefaultsAndRules) {
  v1::JobSpec s = StoriesSpec(Out());
  s.set_method("lrqat");
  auto v = Wire(s);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->spec.rank(), 32);
  EXPECT_DOUBLE_EQ(v->spec.alpha(), 32);
  EXPECT_DOUBLE_EQ(v->spec.weight_lr(), 1e-4);  // the low-rank factors
  EXPECT_EQ(v->spec.e2e_data(), "");            // LR-QAT has no end-to-end phase
  EXPECT_EQ(v->spec.val_samples(), 64);
  s.set_lrqat_checkpointing(true);
  ASSERT_TRUE(Wire(s).ok());

  s.set_lrqat_checkpointing(false);
  s.set_method("apiq");
  s.set_e2e_lora(true);
  v = Wire(s);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->spec.rank(), 32);  // default 64, capped at k_proj's 32 outputs (GQA)
  EXPECT_DOUBLE_EQ(v->spec.alpha(), 16);
  EXPECT_EQ(v->spec.e2e_data(), s.calib_path());  // --e2e-lora trains on the calibration text

  struct Case {
    std::string method;
    std::function<void(v1::JobSpec*)> edit;
    std::string want;
  };
  std::vector<Case> cases = {
      {"efficientqat", [](v1::JobSpec* x) { x->set_rank(8); }, "--rank: only lrqat and apiq"},
      {"gptq", [](v1::JobSpec* x) { x->set_alpha(8); }, "--alpha: only lrqat and apiq"},
      {"lrqat", [](v1::JobSpec* x) { x->set_e2e_lora(true); }, "--e2e-lora: only apiq"},
      {"apiq", [](v1::JobSpec* x) { x->set_lrqat_checkpointing(true); },
       "--lrqat-checkpointing: only lrqat"},
      {"apiq", [](v1::JobSpec* x) { x->set_rank(0); }, "--rank: 0 must be in [1, 4096]"},
      {"apiq", [](v1::JobSpec* x) { x->set_rank(33); }, "--rank: 33 exceeds min(in, out) = 32"},
      {"apiq", [](v1::JobSpec* x) { x->set_alpha(-1); }, "--alpha: -1 must be"},
      {"gptq", [](v1::JobSpec* x) { x->set_val_samples(8); }, "--val-samples: method gptq"},
      {"efficientqat", [](v1::JobSpec* x) { x->set_calib_windows("rnd"); },
       "--calib-windows: 'rnd' is not chunks or random"},
      {"efficientqat", [](v1::JobSpec* x) { x->set_precision("fp8"); },
       "--precision: 'fp8' is not fp16, bf16 or fp32"},
      {"efficientqat", [](v1::JobSpec* x) { x->set_method("qat"); },
       "--method: 'qat' is not efficientqat, gptq, rtn, lrqat or apiq"},
  };
  for (const Case& c : cases) {
    v1::JobSpec x = StoriesSpec(Out());
    x.set_method(c.method);
    c.edit(&x);
    auto r = Cli(x);
    ASSERT_FALSE(r.ok()) << c.want;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    EXPECT_NE(std::string(r.status().message()).find(c.want), std::string::npos)
        << r.status() << " (want " << c.want << ")";
  }
}

TEST_F(SpecValidationTest, CliStyleNamesTheFlag) {
  struct Case {
    std::function<void(v1::JobSpec*)> edit;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {[](v1::JobSpec* s) { s->set_group_size(64); },
       "--group: 64 does not divide in_features 172 of model.layers.0.mlp.down_proj"},
      {[](v1::JobSpec* s) { s->set_samples(0); }, "--samples: 0 must be >= 1"},
      {[](v1::JobSpec* s) { s->set_eval_seqlen(1); }, "--eval-seqlen: 1 must be >= 2"},
      {[](v1::JobSpec* s) { s->set_e2e_lr(0); }, "--e2e-lr: 0 must be a finite number > 0"},
      {[](v1::JobSpec* s) { s->set_weight_lr(-1); }, "--weight-lr"},
      {[](v1::JobSpec* s) { s->set_ap_batch(0); }, "--ap-batch: 0 must be >= 1"},
      {[](v1::JobSpec* s) { s->set_e2e_accum(0); }, "--e2e-accum"},
      {[](v1::JobSpec* s) { s->set_eval_max_windows(-1); }, "--eval-max-windows"},
      {[](v1::JobSpec* s) { s->set_calib_path("/nonexistent/calib.txt"); },
       "--calib: '/nonexistent/calib.txt' does not exist"},
      {[](v1::JobSpec* s) { s->clear_output_dir(); }, "--out: is required"},
      {[](v1::JobSpec* s) { s->set_bits(5); }, "--bits: 5 is not supported"},
  };
  for (const Case& c : cases) {
    v1::JobSpec s = StoriesSpec(Out());
    c.edit(&s);
    auto v = Cli(s);
    ASSERT_FALSE(v.ok()) << c.expect;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << v.status();
    EXPECT_NE(std::string(v.status().message()).find(c.expect), std::string::npos) << v.status();
  }
  // Without allowed roots any absolute path is fine; relative ones never are.
  v1::JobSpec s = StoriesSpec(Out());
  EXPECT_TRUE(Cli(s).ok());
  s.set_model_dir("models/stories260K");
  EXPECT_NE(std::string(Cli(s).status().message()).find("--model: 'models/stories260K' must be an absolute path"),
            std::string::npos);
}

TEST(JobFlagsTest, GivenFlagsSetTheirFieldsOnly) {
  auto s = JobSpecFromFlagValues({{"bits", "2"},
                                  {"group", "-1"},
                                  {"quant_lr", "0.001"},
                                  {"e2e", "false"},
                                  {"schedule", "pipelined"},
                                  {"seed", "7"},
                                  {"out", "/tmp/x/out/"},
                                  {"model", "rel/model"}});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->bits(), 2);
  EXPECT_EQ(s->group_size(), -1);
  EXPECT_DOUBLE_EQ(s->quant_lr(), 1e-3);
  EXPECT_TRUE(s->skip_e2e());
  EXPECT_EQ(s->schedule(), v1::PIPELINED);
  EXPECT_EQ(s->seed(), 7u);
  EXPECT_EQ(s->output_dir(), "/tmp/x/out");
  EXPECT_EQ(s->model_dir(), (std::filesystem::current_path() / "rel/model").string());
  EXPECT_FALSE(s->has_samples());  // not given: ValidateJobSpec's default applies
  EXPECT_FALSE(s->has_epochs());

  auto bad = JobSpecFromFlagValues({{"schedule", "eager"}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "--schedule: 'eager' is not sequential or pipelined");
}

TEST(JobFlagsTest, EveryTableFieldExistsAndNamesRoundTrip) {
  const auto* desc = v1::JobSpec::descriptor();
  for (const JobFlag& f : JobFlagTable()) {
    EXPECT_NE(desc->FindFieldByName(f.field), nullptr) << f.field;
    EXPECT_EQ(FlagForField(f.field), &f);
  }
  EXPECT_EQ(FieldName("group_size", FieldStyle::kFlag), "--group");
  EXPECT_EQ(FieldName("eval_max_windows", FieldStyle::kFlag), "--eval-max-windows");
  EXPECT_EQ(FieldName("group_size", FieldStyle::kWire), "spec.group_size");
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
      {"e2e epochs", [](v1::JobSpec* s) { s->set_e2e_epochs(0); }, "spec.e2e_epochs"},
      {"e2e batch", [](v1::JobSpec* s) { s->set_e2e_batch(-1); }, "spec.e2e_batch"},
      {"lr", [](v1::JobSpec* s) { s->set_quant_lr(-1); }, "spec.quant_lr"},
      {"e2e lr", [](v1::JobSpec* s) { s->set_e2e_lr(-1); }, "spec.e2e_lr"},
      {"nan lr", [](v1::JobSpec* s) { s->set_weight_lr(std::nan("")); }, "spec.weight_lr"},
      {"eval text", [&](v1::JobSpec* s) { s->set_eval_text(src + "/data/none.txt"); }, "spec.eval_text"},
      {"zeros", [](v1::JobSpec* s) { s->set_zeros("v3"); }, "spec.zeros"},
      {"format", [](v1::JobSpec* s) { s->set_format("gguf"); }, "spec.format"},
      {"samples 1e12", [](v1::JobSpec* s) { s->set_samples(1000000000000); }, "spec.samples"},
      {"epochs 1e15", [](v1::JobSpec* s) { s->set_epochs(1000000000000000); }, "spec.epochs"},
      {"ap_batch 1e12", [](v1::JobSpec* s) { s->set_ap_batch(1000000000000); }, "spec.ap_batch"},
      {"e2e_accum huge", [](v1::JobSpec* s) { s->set_e2e_accum(int64_t{1} << 40); }, "spec.e2e_accum"},
      {"lr 10", [](v1::JobSpec* s) { s->set_quant_lr(10); }, "spec.quant_lr"},
      {"lr +inf", [](v1::JobSpec* s) { s->set_e2e_lr(std::numeric_limits<double>::infinity()); },
       "spec.e2e_lr"},
      {"max stages huge", [](v1::JobSpec* s) { s->set_max_stages(1 << 30); }, "spec.max_stages"},
      {"schedule 7", [](v1::JobSpec* s) { s->set_schedule(static_cast<v1::Schedule>(7)); },
       "spec.schedule"},
      {"out inside the model", [&](v1::JobSpec* s) {
         s->set_output_dir(src + "/models/stories260K/quantized");
       },
       "spec.output_dir"},
      {"awq vs 172", [](v1::JobSpec* s) { s->set_format("awq"); s->set_bits(4); }, "172"},
      {"awq 2-bit", [](v1::JobSpec* s) { s->set_format("awq"); s->set_bits(2); }, "spec.format"},
      {"v1 with compressed-tensors", [](v1::JobSpec* s) {
         s->set_format("compressed-tensors");
         s->set_zeros("v1");
       },
       "spec.zeros"},
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
    auto v = Wire(s);
    ASSERT_FALSE(v.ok()) << c.name;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << c.name << ": " << v.status();
    EXPECT_NE(std::string(v.status().message()).find(c.field), std::string::npos)
        << c.name << ": " << v.status();
  }
}

TEST_F(SpecValidationTest, HugeStringsAreNotEchoed) {
  v1::JobSpec s = StoriesSpec(Out());
  s.set_method(std::string(5 << 20, 'x'));
  auto v = Wire(s);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(v.status().message()).find("spec.method"), std::string::npos);
  EXPECT_LT(v.status().message().size(), 400u) << "the 5 MiB value came back in the error";
  s = StoriesSpec(Out());
  s.set_calib_path("/" + std::string(3 << 20, 'c'));
  v = Wire(s);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(std::string(v.status().message()).find("spec.calib_path"), std::string::npos);
  EXPECT_LT(v.status().message().size(), 400u);
}

TEST_F(SpecValidationTest, AnnealFractionZeroIsKeptUnsetIsTheDefault) {
  v1::JobSpec s = StoriesSpec(Out());
  s.set_anneal_fraction(0);  // no teacher forcing: a valid choice, not "unset"
  auto v = Wire(s);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->spec.has_anneal_fraction());
  EXPECT_DOUBLE_EQ(v->spec.anneal_fraction(), 0.0);
}

TEST_F(SpecValidationTest, NonEmptyOutputNeedsOverwrite) {
  std::filesystem::create_directories(Out());
  std::ofstream(Out() + "/keep.txt") << "x";
  v1::JobSpec s = StoriesSpec(Out());
  auto v = Wire(s);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kFailedPrecondition) << v.status();
  EXPECT_NE(std::string(v.status().message()).find("spec.output_dir"), std::string::npos);
  s.set_overwrite(true);
  EXPECT_TRUE(Wire(s).ok());
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

namespace eqat {
namespace {

TEST(CheckStillInRootsTest, ALinkSwappedInAfterAcceptanceIsCaughtBeforeTheWrite) {
  testing::TempDir root, outside;
  namespace fs = std::filesystem;
  const std::string parent = root.path() + "/runs";
  fs::create_directories(parent);
  const std::string out = parent + "/q";
  EXPECT_TRUE(InAllowedRoots(out, {root.path()}));
  EXPECT_TRUE(CheckStillInRoots("spec.output_dir", out, {root.path()}).ok());
  // The parent becomes a link to a folder outside the roots.
  fs::remove_all(parent);
  fs::create_directory_symlink(outside.path(), parent);
  absl::Status st = CheckStillInRoots("spec.output_dir", out, {root.path()});
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("spec.output_dir"), std::string::npos) << st;
  EXPECT_NE(st.message().find("nothing was written"), std::string::npos) << st;
  EXPECT_TRUE(CheckStillInRoots("spec.output_dir", out, {}).ok()) << "no roots: a local run";
}

}  // namespace
}  // namespace eqat
