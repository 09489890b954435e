// The memory plan through the real `eqat` binary: `inspect --plan` prints
// the estimate per stage (text and JSON), and `quantize` refuses, before
// any work and with exit code 2, a job this machine cannot hold.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"
#include "common/json.h"
#include "tests/client/cli_runner.h"

namespace eqat {
namespace {

using ::testing::HasSubstr;

std::string Src(const std::string& rel) { return JoinPath(EQAT_SOURCE_DIR, rel); }

using cli_test::RunEqat;
using CliRun = cli_test::RunResult;

TEST(MemoryPlanCliTest, InspectPrintsThePlan) {
  CliRun r = RunEqat({"inspect", "--model", Src("models/eqat-ref-7m"), "--plan", "--workers", "2",
                   "--samples", "256", "--seqlen", "256", "--bits", "2", "--group", "64",
                   "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("stage 0 (blocks 0-2)"));
  EXPECT_THAT(r.output, HasSubstr("stage 1 (blocks 3-5)"));
  EXPECT_THAT(r.output, HasSubstr("finalize (blocks 0-5)"));
  // 2 sets x (256 training + 64 validation windows) x 256 tokens x 256 hidden x 4 bytes
  EXPECT_THAT(r.output, HasSubstr("activation cache 160.0 MiB"));
  std::vector<std::string> lines = absl::StrSplit(r.output, '\n', absl::SkipEmpty());
  ASSERT_FALSE(lines.empty());
  absl::StatusOr<Json> j = ParseJson(lines.back());
  ASSERT_TRUE(j.ok()) << lines.back();
  const Json& plan = (*j)["memory_plan"];
  ASSERT_EQ(plan["stages"].size(), 2u);
  EXPECT_EQ(plan["stages"][1]["first_block"], 3);
  EXPECT_GT(plan["finalize"]["ram_bytes"].get<int64_t>(), 0);
  EXPECT_EQ(plan["workers"], 2);
}

TEST(MemoryPlanCliTest, QuantizeRefusesAJobThatCannotFit) {
  const std::string out = JoinPath(::testing::TempDir(), absl::StrCat("eqat_mem_refuse_", getpid()));
  // 2^20 windows of 2048 tokens at hidden 256: 2 TiB per activation set.
  CliRun r = RunEqat({"quantize", "--model", Src("models/eqat-ref-7m"), "--out", out,
                   "--calib", Src("data/calib_en.txt"), "--samples", "1048576", "--seqlen",
                   "2048", "--val-samples", "0", "--cache-budget", "8T", "--progress=false"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("stage 0 (blocks 0-5) needs ~"));
  EXPECT_THAT(r.output, HasSubstr("activation cache 4096.0 GiB"));
  EXPECT_THAT(r.output, HasSubstr("this machine has"));
  EXPECT_FALSE(PathExists(out));
}

}  // namespace
}  // namespace eqat
