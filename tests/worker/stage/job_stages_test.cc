// The job's two stages as `eqat quantize` and a worker run them, from one
// validated JobSpec (worker/stage/stage_requests.h): the block stage over
// every block, then finalize. For a fixed seed and one thread the written
// folder is the same to the byte, also when the blocks are split over two
// stages that hand over through the packed block files (as a cluster does
// after a lost worker); another seed gives another model.
#include <gtest/gtest.h>

#include <map>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "common/file_util.h"
#include "common/job/job_spec.h"
#include "tests/worker/test_util.h"
#include "worker/stage/block_files.h"
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
    s.set_e2e_seqlen(32);
    s.set_e2e_batch(2);
    s.set_e2e_accum(1);
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
    if (fin.ok()) {
      EXPECT_EQ(fin->e2e_steps, 4);  // 8 examples, batch 2
    }
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

// A block file that changed after it was written (one flipped data byte)
// is refused by finalize when its checksum is recorded, naming the
// block; the same folder with the checksums omitted still loads.
TEST_F(JobStagesTest, CorruptBlockFileIsDataLossNotASilentResult) {
  v1::JobSpec in = Spec("corrupt", 3);
  in.set_method("rtn");
  in.clear_calib_path();
  in.set_skip_e2e(true);
  JobSpecRules rules;
  rules.style = FieldStyle::kFlag;
  auto job = ValidateJobSpec(in, rules);
  ASSERT_TRUE(job.ok()) << job.status();
  const v1::JobSpec& s = job->spec;
  const std::string work = JobWorkDir(s);
  StageResources res;
  BlockStageRequest br = BlockStageRequestFor(s, StageRange{work, 0, job->num_blocks, 0}, res);
  std::map<int, uint64_t> sums;
  br.on_block_written = [&](int b, const std::string&, uint64_t sum) { sums[b] = sum; };
  ASSERT_TRUE(RunBlockStage(br, StageActivations{}).ok());
  ASSERT_EQ(static_cast<int>(sums.size()), job->num_blocks);

  const std::string path = BlockFilePath(work, 1);
  auto bytes = ReadFile(path);
  ASSERT_TRUE(bytes.ok());
  std::string flipped = *bytes;
  flipped[flipped.size() - 7] ^= 0x10;  // inside the tensor data
  ASSERT_TRUE(WriteFileAtomic(path, flipped).ok());

  FinalizeRequest fr = FinalizeRequestFor(s, work, res);
  fr.block_checksums = sums;
  auto bad = RunFinalize(fr);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss) << bad.status();
  EXPECT_NE(std::string(bad.status().message()).find("block 1"), std::string::npos)
      << bad.status();
  // The daemon reports the index (StageFinished.corrupt_block) so that the
  // coordinator recomputes the block.
  EXPECT_EQ(CorruptBlockOf(bad.status()), std::optional<int>(1));
  EXPECT_EQ(CorruptBlockOf(absl::DataLossError("other")), std::nullopt);
  EXPECT_FALSE(PathExists(s.output_dir())) << "no output from a corrupt block";

  fr.block_checksums.erase(1);  // unchecked: the flipped byte is read as data
  EXPECT_TRUE(RunFinalize(fr).ok());
  std::filesystem::remove_all(work);
}

}  // namespace
}  // namespace eqat
