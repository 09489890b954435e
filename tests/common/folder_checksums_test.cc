#include "common/folder_checksums.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "common/file_util.h"

namespace eqat {
namespace {

std::string FreshDir(const std::string& name) {
  const std::string d = ::testing::TempDir() + "/eqat_folder_checksums_" + name;
  EXPECT_TRUE(RemoveAll(d).ok());
  EXPECT_TRUE(MakeDirs(d).ok());
  return d;
}

TEST(FolderChecksumsTest, MatchesTheOneShotHashAndListsNestedFiles) {
  const std::string d = FreshDir("nested");
  ASSERT_TRUE(WriteFileAtomic(JoinPath(d, "a.json"), "hello").ok());
  ASSERT_TRUE(MakeDirs(JoinPath(d, "adapter")).ok());
  std::string big(3 << 20, 'x');  // spans several 1 MiB reads
  big[12345] = 'y';
  ASSERT_TRUE(WriteFileAtomic(JoinPath(d, "adapter/w.bin"), big).ok());
  auto sums = FolderChecksums(d);
  ASSERT_TRUE(sums.ok()) << sums.status();
  ASSERT_EQ(sums->size(), 2u);
  EXPECT_EQ(sums->at("a.json"), Fnv1a64Update(kFnv1a64Offset, "hello", 5));
  EXPECT_EQ(sums->at("adapter/w.bin"), Fnv1a64Update(kFnv1a64Offset, big.data(), big.size()));
  // FNV-1a 64 of "a" (the published test vector).
  EXPECT_EQ(Fnv1a64Update(kFnv1a64Offset, "a", 1), 0xaf63dc4c8601ec8cULL);
  EXPECT_TRUE(VerifyFolder(d, *sums).ok());
}

TEST(FolderChecksumsTest, SymbolicLinksAreRefusedNotFollowed) {
  const std::string d = FreshDir("links");
  ASSERT_TRUE(WriteFileAtomic(JoinPath(d, "real.json"), "{}").ok());
  ASSERT_EQ(symlink("/etc/hostname", JoinPath(d, "escape").c_str()), 0);
  auto sums = FolderChecksums(d);
  ASSERT_FALSE(sums.ok());
  EXPECT_NE(sums.status().message().find("'escape' is not a regular file"), std::string::npos)
      << sums.status();
  const std::string link = ::testing::TempDir() + "/eqat_folder_checksums_dirlink";
  unlink(link.c_str());
  ASSERT_EQ(symlink(d.c_str(), link.c_str()), 0);
  EXPECT_FALSE(FolderChecksums(link).ok()) << "the folder itself may not be a link";
  EXPECT_EQ(VerifyFolder(::testing::TempDir() + "/no-such-folder-xyz", {}).code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace eqat
