// ActivationStore: exact round trips whether samples sit in RAM, in the
// (unlinked) spill file, or straddle the two; argument and spill-dir errors
// come back as statuses.
#include "worker/methods/activation_store.h"
#include "tests/worker/test_util.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace eqat {
namespace {

constexpr int64_t kN = 10;
const std::vector<int64_t> kShape = {4, 8};               // 32 floats
constexpr int64_t kSampleBytes = 4 * 8 * sizeof(float);   // 128 bytes

// Entries of `dir` other than "." and "..".
int CountEntries(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") ++n;
  }
  closedir(d);
  return n;
}

class ActivationStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(scratch_.path().empty());
    dir_ = scratch_.path();
    torch::manual_seed(1);
    data_ = torch::randn({kN, 4, 8});
  }

  ActivationStoreOptions Opts(int64_t budget) const {
    ActivationStoreOptions o;
    o.ram_budget_bytes = budget;
    o.spill_dir = dir_;
    return o;
  }

  // Writes data_ in uneven chunks (some crossing the RAM/spill boundary) and
  // checks every way of reading it back.
  void RoundTrip(ActivationStore* s) {
    s->Write(0, data_.narrow(0, 0, 2));
    s->Write(2, data_.narrow(0, 2, 3).to(torch::kDouble));  // any float dtype
    s->Write(5, data_.narrow(0, 5, 5));
    EXPECT_TRUE(torch::equal(s->Read(0, kN), data_));
    for (int64_t first = 0; first < kN; ++first) {
      for (int64_t count = 1; first + count <= kN; ++count) {
        auto r = s->Read(first, count);
        ASSERT_EQ(r.sizes(), torch::IntArrayRef({count, 4, 8}));
        EXPECT_EQ(r.scalar_type(), torch::kFloat);
        EXPECT_TRUE(torch::equal(r, data_.narrow(0, first, count)))
            << "first " << first << " count " << count;
      }
    }
    std::vector<int64_t> idx = {9, 0, 3, 2, 7, 2};
    auto g = s->Gather(idx);
    EXPECT_TRUE(torch::equal(g, data_.index_select(0, torch::tensor(idx, torch::kLong))));
    // Overwrite a straddling range and read it (and its neighbours) back.
    auto patch = torch::randn({4, 4, 8});
    s->Write(1, patch);
    data_.narrow(0, 1, 4).copy_(patch);
    EXPECT_TRUE(torch::equal(s->Read(0, kN), data_));
    EXPECT_TRUE(torch::equal(s->Read(1, 4), patch));
    // Reads release the spilled pages but not the data: read again.
    EXPECT_TRUE(torch::equal(s->Read(0, kN), data_));
  }

  testing::ScratchDir scratch_{"eqat-store-test"};
  std::string dir_;
  torch::Tensor data_;
};

TEST_F(ActivationStoreTest, CopyFromCopiesAcrossRamAndSpill) {
  auto src = ActivationStore::Create(kN, {4, 8}, Opts(3 * kSampleBytes));  // 3 in RAM, 7 spilled
  auto dst = ActivationStore::Create(kN, {4, 8}, Opts(6 * kSampleBytes));  // 6 in RAM, 4 spilled
  ASSERT_TRUE(src.ok() && dst.ok());
  (*src)->Write(0, data_);
  (*dst)->CopyFrom(**src);
  EXPECT_EQ((*dst)->sample_shape(), (std::vector<int64_t>{4, 8}));
  EXPECT_TRUE(torch::equal((*dst)->Read(0, kN), data_));
}

TEST_F(ActivationStoreTest, AllInRam) {
  auto s = ActivationStore::Create(kN, kShape, Opts(int64_t{1} << 30));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->size(), kN);
  EXPECT_EQ((*s)->resident_samples(), kN);
  EXPECT_EQ((*s)->spilled_samples(), 0);
  EXPECT_EQ(CountEntries(dir_), 0);
  RoundTrip(s->get());
}

TEST_F(ActivationStoreTest, MostlySpilledStraddlesTheBoundary) {
  // Budget for 3 samples and a bit: 3 in RAM, 7 in the spill file.
  auto s = ActivationStore::Create(kN, kShape, Opts(3 * kSampleBytes + 100));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->resident_samples(), 3);
  EXPECT_EQ((*s)->spilled_samples(), 7);
  // The spill file was unlinked right after creation.
  EXPECT_EQ(CountEntries(dir_), 0);
  RoundTrip(s->get());
  EXPECT_EQ(CountEntries(dir_), 0);
}

TEST_F(ActivationStoreTest, EverythingSpilled) {
  auto s = ActivationStore::Create(kN, kShape, Opts(0));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->resident_samples(), 0);
  EXPECT_EQ((*s)->spilled_samples(), kN);
  EXPECT_EQ(CountEntries(dir_), 0);
  RoundTrip(s->get());
}

TEST_F(ActivationStoreTest, TwoSpilledStoresDoNotShareData) {
  auto a = ActivationStore::Create(kN, kShape, Opts(kSampleBytes));
  auto b = ActivationStore::Create(kN, kShape, Opts(kSampleBytes));
  ASSERT_TRUE(a.ok() && b.ok());
  (*a)->Write(0, data_);
  (*b)->Write(0, -data_);
  EXPECT_TRUE(torch::equal((*a)->Read(0, kN), data_));
  EXPECT_TRUE(torch::equal((*b)->Read(0, kN), -data_));
  EXPECT_EQ(CountEntries(dir_), 0);
}

TEST_F(ActivationStoreTest, BadArgumentsAreInvalidArgument) {
  for (int64_t n : {int64_t{0}, int64_t{-3}}) {
    auto s = ActivationStore::Create(n, kShape, Opts(0));
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << "n " << n;
  }
  auto s = ActivationStore::Create(4, {}, Opts(0));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CountEntries(dir_), 0);
}

TEST_F(ActivationStoreTest, OutOfRangeAccessThrows) {
  auto s = ActivationStore::Create(kN, kShape, Opts(3 * kSampleBytes));
  ASSERT_TRUE(s.ok());
  EXPECT_THROW((*s)->Read(8, 3), c10::Error);
  EXPECT_THROW((*s)->Read(-1, 1), c10::Error);
  EXPECT_THROW((*s)->Write(9, torch::zeros({2, 4, 8})), c10::Error);
  EXPECT_THROW((*s)->Write(0, torch::zeros({2, 4, 7})), c10::Error);
}

TEST_F(ActivationStoreTest, MissingSpillDirIsAnErrorOnlyWhenSpilling) {
  ActivationStoreOptions o;
  o.spill_dir = dir_ + "/does-not-exist";
  o.ram_budget_bytes = kSampleBytes;
  auto s = ActivationStore::Create(kN, kShape, o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find(o.spill_dir), absl::string_view::npos) << s.status();
  // Everything fits in RAM: the directory is never touched.
  o.ram_budget_bytes = kN * kSampleBytes;
  auto fits = ActivationStore::Create(kN, kShape, o);
  ASSERT_TRUE(fits.ok()) << fits.status();
  EXPECT_EQ((*fits)->spilled_samples(), 0);
}

}  // namespace
}  // namespace eqat
