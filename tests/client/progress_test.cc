#include "common/progress.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace eqat {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(ProgressBarTest, FormatDuration) {
  EXPECT_EQ(ProgressBar::FormatDuration(0), "0s");
  EXPECT_EQ(ProgressBar::FormatDuration(0.4), "0s");
  EXPECT_EQ(ProgressBar::FormatDuration(42), "42s");
  EXPECT_EQ(ProgressBar::FormatDuration(59.4), "59s");
  EXPECT_EQ(ProgressBar::FormatDuration(59.6), "1m00s");  // rounds to the second
  EXPECT_EQ(ProgressBar::FormatDuration(185), "3m05s");
  EXPECT_EQ(ProgressBar::FormatDuration(3599), "59m59s");
  EXPECT_EQ(ProgressBar::FormatDuration(3600), "1h00m");
  EXPECT_EQ(ProgressBar::FormatDuration(3720), "1h02m");
  EXPECT_EQ(ProgressBar::FormatDuration(100 * 3600 + 5 * 60), "100h05m");
}

TEST(ProgressBarTest, FormatDurationNonsense) {
  EXPECT_EQ(ProgressBar::FormatDuration(-1), "?");
  EXPECT_EQ(ProgressBar::FormatDuration(std::nan("")), "?");
  EXPECT_EQ(ProgressBar::FormatDuration(std::numeric_limits<double>::infinity()), "?");
  EXPECT_EQ(ProgressBar::FormatDuration(1e8), "?");
}

TEST(ProgressBarTest, RenderHalfway) {
  ProgressBar bar("eval", 10, /*enabled=*/false);
  EXPECT_FALSE(bar.active());
  std::string s = bar.Render(5, "windows", 10.0);
  EXPECT_THAT(s, StartsWith("eval ["));
  EXPECT_THAT(s, HasSubstr("[" + std::string(12, '#') + std::string(12, '.') + "]"));
  EXPECT_THAT(s, HasSubstr(" 5/10 windows"));
  EXPECT_THAT(s, HasSubstr("10s elapsed"));
  EXPECT_THAT(s, HasSubstr("ETA 10s"));
}

TEST(ProgressBarTest, RenderStartDoneAndOvershoot) {
  ProgressBar bar("block 3", 4, false);
  std::string start = bar.Render(0, "", 0);
  EXPECT_THAT(start, HasSubstr("[" + std::string(24, '.') + "]"));
  EXPECT_THAT(start, HasSubstr("0/4"));
  EXPECT_THAT(start, HasSubstr("ETA ?"));

  std::string done = bar.Render(4, "loss 0.12", 125);
  EXPECT_THAT(done, StartsWith("block 3 [" + std::string(24, '#') + "]"));
  EXPECT_THAT(done, HasSubstr("4/4 loss 0.12"));
  EXPECT_THAT(done, HasSubstr("2m05s elapsed"));
  EXPECT_THAT(done, HasSubstr("ETA 0s"));

  std::string over = bar.Render(6, "", 6);  // bar is clamped, never overflows
  EXPECT_THAT(over, HasSubstr("[" + std::string(24, '#') + "]"));
  EXPECT_THAT(over, HasSubstr("6/4"));
}

TEST(ProgressBarTest, SetLabelAndTotal) {
  ProgressBar bar("a", 0, false);
  bar.SetLabel("calib");
  bar.SetTotal(100);
  std::string s = bar.Render(25, "", 30);
  EXPECT_THAT(s, StartsWith("calib ["));
  EXPECT_THAT(s, HasSubstr("25/100"));
  EXPECT_THAT(s, HasSubstr("ETA 1m30s"));
  // Disabled bars draw nothing and Finish is harmless.
  bar.Update(50, "x");
  bar.Finish();
}

TEST(ProgressBarTest, PeakRssIsPositive) { EXPECT_GT(PeakRssMiB(), 0.0); }

}  // namespace
}  // namespace eqat
