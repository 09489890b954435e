#include "common/file_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>

#include "absl/strings/str_cat.h"

namespace eqat {
namespace {

using ::testing::HasSubstr;

std::string FreshDir(const std::string& name) {
  std::string dir = JoinPath(::testing::TempDir(), absl::StrCat("eqat_fu_", getpid(), "_", name));
  EXPECT_TRUE(RemoveAll(dir).ok());
  EXPECT_TRUE(MakeDirs(dir).ok());
  return dir;
}

int CountEntries(const std::string& dir) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    (void)e;
    ++n;
  }
  return n;
}

TEST(FileUtilTest, WriteThenReadRoundTrip) {
  std::string dir = FreshDir("rw");
  std::string path = JoinPath(dir, "a.bin");
  std::string data("hello\0world\xff\n", 13);
  ASSERT_TRUE(WriteFileAtomic(path, data).ok());
  auto got = ReadFile(path);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, data);
  // Overwrite replaces the whole file and leaves no temp files.
  ASSERT_TRUE(WriteFileAtomic(path, "x").ok());
  EXPECT_EQ(*ReadFile(path), "x");
  ASSERT_TRUE(WriteFileAtomic(path, "").ok());
  EXPECT_EQ(*ReadFile(path), "");
  EXPECT_EQ(CountEntries(dir), 1);
}

TEST(FileUtilTest, LargeFile) {
  std::string dir = FreshDir("large");
  std::string path = JoinPath(dir, "big");
  std::string data(3 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 + 7);
  ASSERT_TRUE(WriteFileAtomic(path, data).ok());
  EXPECT_EQ(*ReadFile(path), data);
}

TEST(FileUtilTest, ReadErrors) {
  std::string dir = FreshDir("readerr");
  auto missing = ReadFile(JoinPath(dir, "missing.txt"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("missing.txt"));
  auto isdir = ReadFile(dir);
  EXPECT_EQ(isdir.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(isdir.status().message(), HasSubstr(dir));
  if (geteuid() != 0) {  // root reads everything
    std::string locked = JoinPath(dir, "locked");
    ASSERT_TRUE(WriteFileAtomic(locked, "secret").ok());
    ASSERT_EQ(chmod(locked.c_str(), 0), 0);
    auto denied = ReadFile(locked);
    EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(denied.status().message(), HasSubstr("locked"));
  }
}

TEST(FileUtilTest, WriteIntoMissingDirectoryFails) {
  std::string dir = FreshDir("writeerr");
  absl::Status st = WriteFileAtomic(JoinPath(dir, "no/such/file"), "x");
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("no/such/file"));
  EXPECT_EQ(CountEntries(dir), 0);
}

TEST(FileUtilTest, ExistsAndIsDirectory) {
  std::string dir = FreshDir("exists");
  std::string file = JoinPath(dir, "f");
  EXPECT_TRUE(PathExists(dir));
  EXPECT_TRUE(IsDirectory(dir));
  EXPECT_FALSE(PathExists(file));
  EXPECT_FALSE(IsDirectory(file));
  ASSERT_TRUE(WriteFileAtomic(file, "1").ok());
  EXPECT_TRUE(PathExists(file));
  EXPECT_FALSE(IsDirectory(file));
}

TEST(FileUtilTest, MakeDirsAndRemoveAll) {
  std::string dir = FreshDir("mkdirs");
  std::string deep = JoinPath(dir, "a/b/c");
  ASSERT_TRUE(MakeDirs(deep).ok());
  EXPECT_TRUE(IsDirectory(deep));
  EXPECT_TRUE(MakeDirs(deep).ok());  // already there
  ASSERT_TRUE(WriteFileAtomic(JoinPath(deep, "f"), "x").ok());
  // A file in the way is an error.
  absl::Status blocked = MakeDirs(JoinPath(deep, "f/g"));
  EXPECT_FALSE(blocked.ok());
  EXPECT_FALSE(MakeDirs(JoinPath(deep, "f")).ok());
  ASSERT_TRUE(RemoveAll(JoinPath(dir, "a")).ok());
  EXPECT_FALSE(PathExists(JoinPath(dir, "a")));
  EXPECT_TRUE(RemoveAll(JoinPath(dir, "a")).ok());  // missing is OK
  ASSERT_TRUE(WriteFileAtomic(JoinPath(dir, "single"), "x").ok());
  EXPECT_TRUE(RemoveAll(JoinPath(dir, "single")).ok());
  EXPECT_FALSE(PathExists(JoinPath(dir, "single")));
}

// Temp names are fresh per call and per process, and lie beside the target
// (so a rename onto it stays within one file system).
TEST(FileUtilTest, TempSiblingPathsAreFreshAndBesideTheTarget) {
  const std::string a = TempSiblingPath("/x/out");
  const std::string b = TempSiblingPath("/x/out");
  EXPECT_NE(a, b);
  EXPECT_EQ(a.rfind(absl::StrCat("/x/out.tmp.", getpid(), "."), 0), 0u) << a;
  EXPECT_EQ(b.rfind(absl::StrCat("/x/out.tmp.", getpid(), "."), 0), 0u) << b;
  EXPECT_EQ(std::filesystem::path(a).parent_path(), "/x");
}

TEST(FileUtilTest, JoinPath) {
  EXPECT_EQ(JoinPath("a", "b"), "a/b");
  EXPECT_EQ(JoinPath("a/", "b"), "a/b");
  EXPECT_EQ(JoinPath("a", "/b"), "a/b");
  EXPECT_EQ(JoinPath("a/", "/b"), "a/b");
  EXPECT_EQ(JoinPath("", "b"), "b");
  EXPECT_EQ(JoinPath("a", ""), "a");
  EXPECT_EQ(JoinPath("/", "x"), "/x");
  EXPECT_EQ(JoinPath("/tmp/x", "y/z.json"), "/tmp/x/y/z.json");
}

}  // namespace
}  // namespace eqat

namespace eqat {
namespace {

// Runs `body` in a child process that has its own mount namespace with a
// 64 KiB tmpfs mounted at `dir`; returns the child's exit code, or 77 when
// this machine does not allow the namespace or the mount (no root).
int WithFullDisk(const std::string& dir, const std::function<int()>& body) {
  pid_t pid = fork();
  if (pid == 0) {
    if (unshare(CLONE_NEWNS) != 0) _exit(77);
    if (mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) _exit(77);
    if (mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=64k") != 0) _exit(77);
    _exit(body());
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

TEST(FileUtilTest, ADiskFullWriteIsResourceExhaustedAndLeavesNothing) {
  const std::string dir = FreshDir("enospc");
  ASSERT_TRUE(WriteFileAtomic(JoinPath(dir, "kept.json"), "old").ok());
  const int rc = WithFullDisk(dir, [&] {
    // The mount hides kept.json; write one that fits, then one that cannot.
    if (!WriteFileAtomic(JoinPath(dir, "small.json"), "fits").ok()) return 1;
    absl::Status st = WriteFileAtomic(JoinPath(dir, "big.bin"), std::string(1 << 20, 'x'));
    if (st.code() != absl::StatusCode::kResourceExhausted) return 2;
    if (st.message().find("big.bin") == absl::string_view::npos) return 3;
    if (st.message().find("disk full") == absl::string_view::npos) return 4;
    if (CountEntries(dir) != 1) return 5;  // small.json only: no temp file, no partial big.bin
    return 0;
  });
  if (rc == 77) GTEST_SKIP() << "no mount namespace here (needs root)";
  EXPECT_EQ(rc, 0) << "1 small write failed, 2 wrong code, 3/4 message, 5 leftovers";
  auto kept = ReadFile(JoinPath(dir, "kept.json"));
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(*kept, "old");
}

}  // namespace
}  // namespace eqat
