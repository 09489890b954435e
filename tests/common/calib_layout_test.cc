// The calibration layout: Block-AP training, Block-AP validation and E2E
// windows never share a token, chunk windows never overlap, everything is
// a pure function of the seed, and too little text is an error that names
// the field to change.
#include "common/calib_layout.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

namespace eqat {
namespace {

// Marks [start, start+len) of every window; fails on a token marked twice
// when `exclusive`.
void Mark(std::vector<int>* owner, const std::vector<int64_t>& starts, int64_t len, int tag,
          bool exclusive) {
  for (int64_t s : starts) {
    ASSERT_GE(s, 0);
    ASSERT_LE(s + len, static_cast<int64_t>(owner->size()));
    for (int64_t t = s; t < s + len; ++t) {
      if (exclusive) {
        ASSERT_EQ((*owner)[t], 0) << "token " << t << " used twice";
      } else {
        ASSERT_TRUE((*owner)[t] == 0 || (*owner)[t] == tag) << "token " << t << " shared";
      }
      (*owner)[t] = tag;
    }
  }
}

CalibLayoutRequest Request() {
  CalibLayoutRequest r;
  r.tokens = 100000;
  r.ap_train = 64;
  r.ap_val = 8;
  r.ap_len = 256;
  r.e2e_count = 40;
  r.e2e_len = 512;
  r.seed = 3;
  return r;
}

TEST(CalibLayoutTest, ChunksAreDisjointAcrossTrainValidationAndE2e) {
  CalibLayoutRequest r = Request();
  auto l = PlanCalibLayout(r);
  ASSERT_TRUE(l.ok()) << l.status();
  ASSERT_EQ(l->ap_starts.size(), 72u);
  ASSERT_EQ(l->e2e_starts.size(), 40u);
  std::vector<int> owner(r.tokens, 0);
  std::vector<int64_t> train(l->ap_starts.begin(), l->ap_starts.begin() + 64);
  std::vector<int64_t> val(l->ap_starts.begin() + 64, l->ap_starts.end());
  Mark(&owner, train, r.ap_len, 1, true);
  Mark(&owner, val, r.ap_len, 2, true);
  Mark(&owner, l->e2e_starts, r.e2e_len, 3, true);
  for (int64_t s : l->ap_starts) EXPECT_LT(s + r.ap_len, l->split + 1);
  for (int64_t s : l->e2e_starts) EXPECT_GE(s, l->split);
  // The surplus is shared in proportion: Block-AP needs 72*256 = 18432,
  // E2E 40*512 = 20480 tokens.
  EXPECT_EQ(l->split, static_cast<int64_t>(100000.0 * 18432 / (18432 + 20480)));
  // Shuffled: not simply the first chunks in text order.
  EXPECT_FALSE(std::is_sorted(l->ap_starts.begin(), l->ap_starts.end()));
}

TEST(CalibLayoutTest, SameSeedSameLayoutOtherSeedOther) {
  CalibLayoutRequest r = Request();
  auto a = PlanCalibLayout(r), b = PlanCalibLayout(r);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->ap_starts, b->ap_starts);
  EXPECT_EQ(a->e2e_starts, b->e2e_starts);
  r.seed = 4;
  auto c = PlanCalibLayout(r);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(a->ap_starts, c->ap_starts);
  EXPECT_NE(a->e2e_starts, c->e2e_starts);
}

TEST(CalibLayoutTest, WithoutE2eBlockApOwnsTheWholeText) {
  CalibLayoutRequest r = Request();
  r.e2e_count = 0;
  r.tokens = 72 * 256;  // exactly enough
  auto l = PlanCalibLayout(r);
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->split, r.tokens);
  EXPECT_TRUE(l->e2e_starts.empty());
  std::set<int64_t> starts(l->ap_starts.begin(), l->ap_starts.end());
  EXPECT_EQ(starts.size(), 72u);  // every chunk of the grid, once
  EXPECT_EQ(*starts.rbegin(), 71 * 256);
}

TEST(CalibLayoutTest, RandomWindowsMayOverlapButStayOutOfE2e) {
  CalibLayoutRequest r = Request();
  r.random_windows = true;
  auto l = PlanCalibLayout(r);
  ASSERT_TRUE(l.ok()) << l.status();
  std::vector<int> owner(r.tokens, 0);
  Mark(&owner, l->ap_starts, r.ap_len, 1, false);
  Mark(&owner, l->e2e_starts, r.e2e_len, 3, true);
  // Without E2E, random windows are exactly SampleWindows' starts: rng() %
  // (tokens - len) from mt19937_64(seed).
  r.e2e_count = 0;
  auto s = PlanCalibLayout(r);
  ASSERT_TRUE(s.ok());
  std::mt19937_64 rng(r.seed);
  for (int64_t start : s->ap_starts) {
    EXPECT_EQ(start, static_cast<int64_t>(rng() % static_cast<uint64_t>(r.tokens - r.ap_len)));
  }
}

TEST(CalibLayoutTest, TooLittleTextNamesTheField) {
  CalibLayoutRequest r = Request();
  r.tokens = 72 * 256 - 1;
  r.e2e_count = 0;
  auto l = PlanCalibLayout(r);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(l.status().message().find("--samples"), std::string::npos) << l.status();

  r = Request();
  r.tokens = 72 * 256 + 40 * 512 - 1;  // Block-AP fits, E2E does not
  l = PlanCalibLayout(r);
  ASSERT_FALSE(l.ok());
  EXPECT_NE(l.status().message().find("--e2e-samples"), std::string::npos) << l.status();

  r.tokens = 72 * 256 + 40 * 512;  // both fit exactly
  EXPECT_TRUE(PlanCalibLayout(r).ok());
}

TEST(CalibLayoutTest, ShuffledChunkStartsAndCutWindows) {
  auto s = ShuffledChunkStarts(10, 3, 3, 1, "--e2e-samples");
  ASSERT_TRUE(s.ok());
  std::set<int64_t> got(s->begin(), s->end());
  EXPECT_EQ(got, (std::set<int64_t>{0, 3, 6}));
  EXPECT_FALSE(ShuffledChunkStarts(10, 4, 3, 1, "--e2e-samples").ok());
  std::vector<int32_t> stream = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  auto w = CutWindows(stream, {6, 0}, 3);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0], (std::vector<int32_t>{6, 7, 8}));
  EXPECT_EQ(w[1], (std::vector<int32_t>{0, 1, 2}));
}

}  // namespace
}  // namespace eqat
