// The job's two stages as `eqat quantize` and a worker run them, from one
// validated JobSpec (worker/stage/stage_requests.h): the block stage over
// every block, then finalize. For a fixed seed and one thread the written
// folder is the same to the byte, also when the blocks are split over two
// stages that hand over through the packed block files (as a cluster does
// after a lost worker); another seed gives another model.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "common/file_util.h"
#include "common/job/job_spec.h"
#include "tests/worker/test_util.h"
#include "worker/stage/stage_requests.h"

namespace eqat {
namespace {

class JobStagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(scratch_.path().empty());
    dir_ = scratch_.path();
  }

  v1::JobSpec Spec(const std::string& out, uint64_t seed) const {
    v1::JobSpec s;
    s.set_model_dir(testing::StoriesDir());
    s.set_output_dir(JoinPath(dir_, out));
    s.set_bits(2);
    s.set_group_size(-1);
    s.set_calib_path(testing::SourcePath("data/calib_en.txt"));
    s.set_samples(16);
    s.set_seqlen(32);
    s.set_seed(seed);
    s.set_epochs(1);
    s.set_e2e_samples(8);
    s.set_e2e_lr(1e-3);
    return s;
  }

  // Runs the job with the blocks split at `split` (0: one stage); returns
  // the validated spec, or fails the test.
  v1::JobSpec Run(const v1::JobSpec& in, int split = 0) {
    JobSpecRules rules;
    rules.style = FieldStyle::kFlag;
    auto job = ValidateJobSpec(in, rules);
    EXPECT_TRUE(job.ok()) << job.status();
    if (!job.ok()) return in;
    const v1::JobSpec& s = job->spec;
    const std::string work = JobWorkDir(s);
    StageResources res;
    res.cache.spill_dir = "/tmp";
    std::vector<std::pair<int, int>> ranges = {{0, job->num_blocks}};
    if (split > 0) ranges = {{0, split}, {split, job->num_blocks}};
    for (auto [first, last] : ranges) {
      // Each stage starts from calibration and the packed blocks on disk.
      auto st = RunBlockStage(BlockStageRequestFor(s, StageRange{work, first, last, first}, res),
                              StageActivations{});
      EXPECT_TRUE(st.ok()) << st.status();
    }
    auto fin = RunFinalize(FinalizeRequestFor(s, work, res));
    EXPECT_TRUE(fin.ok()) << fin.status();
    if (fin.ok()) EXPECT_EQ(fin->e2e_steps, 4);  // 8 examples, batch 2
    std::filesystem::remove_all(work);
    return s;
  }

  std::string File(const v1::JobSpec& s, const char* name) {
    auto b = ReadFile(JoinPath(s.output_dir(), name));
    EXPECT_TRUE(b.ok()) << b.status();
    return b.ok() ? *b : "";
  }

  testing::ScratchDir scratch_{"eqat-stages-test"};
  std::string dir_;
};

TEST_F(JobStagesTest, SameSpecSameBytesAnotherSeedAnotherModel) {
  testing::ThreadCountGuard threads(1);
  v1::JobSpec a = Run(Spec("a", 5));
  v1::JobSpec b = Run(Spec("b", 5), /*split=*/2);
  v1::JobSpec c = Run(Spec("c", 6));
  for (const char* f : {"model.safetensors", "config.json", "eqat.json", "tokenizer.model"}) {
    std::string fa = File(a, f);
    ASSERT_FALSE(fa.empty()) << f;
    EXPECT_EQ(fa, File(b, f)) << f << " differs between equal jobs";
  }
  EXPECT_NE(File(a, "model.safetensors"), File(c, "model.safetensors"));

  // eqat.json holds the settings, every block's report and E2E-QP's losses.
  auto summary = ParseJson(File(a, "eqat.json"));
  ASSERT_TRUE(summary.ok()) << summary.status();
  ASSERT_TRUE(summary->contains("blocks"));
  ASSERT_EQ((*summary)["blocks"].size(), 5u);
  EXPECT_TRUE((*summary)["blocks"][4].contains("val_loss"));
  ASSERT_TRUE(summary->contains("e2e"));
  EXPECT_EQ((*summary)["e2e"]["steps"], 4);
  EXPECT_EQ((*summary)["seed"], 5);
  // The scratch folder is gone; only the three outputs remain.
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) entries += e.is_directory() ? 1 : 100;
  EXPECT_EQ(entries, 3);
}

}  // namespace
}  // namespace eqat
