#include "common/folder_checksums.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace eqat {

namespace fs = std::filesystem;

uint64_t Fnv1a64Update(uint64_t h, const void* data, size_t n) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

absl::StatusOr<uint64_t> FileChecksum(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    const int e = errno;
    if (e == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    return absl::FailedPreconditionError(absl::StrCat(path, ": ", std::strerror(e)));
  }
  std::vector<char> buf(1 << 20);
  uint64_t h = kFnv1a64Offset;
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      close(fd);
      return absl::DataLossError(absl::StrCat(path, ": read: ", std::strerror(e)));
    }
    if (n == 0) break;
    h = Fnv1a64Update(h, buf.data(), static_cast<size_t>(n));
  }
  close(fd);
  return h;
}

absl::StatusOr<std::map<std::string, uint64_t>> FolderChecksums(const std::string& dir) {
  std::error_code ec;
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0) return absl::NotFoundError(absl::StrCat(dir, ": no such folder"));
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(dir, ": not a folder (or a symbolic link)"));
  }
  std::map<std::string, uint64_t> out;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) return absl::FailedPreconditionError(absl::StrCat(dir, ": ", ec.message()));
  for (; it != end; it.increment(ec)) {
    if (ec) return absl::FailedPreconditionError(absl::StrCat(dir, ": ", ec.message()));
    const fs::file_status s = it->symlink_status(ec);
    // Lexically: fs::relative would resolve a link's target.
    const std::string rel =
        it->path().lexically_normal().lexically_relative(fs::path(dir).lexically_normal()).string();
    if (fs::is_directory(s)) continue;
    if (!fs::is_regular_file(s)) {
      return absl::FailedPreconditionError(
          absl::StrCat(dir, ": '", rel, "' is not a regular file (a link or a device)"));
    }
    absl::StatusOr<uint64_t> sum = FileChecksum(it->path().string());
    if (!sum.ok()) return sum.status();
    out[rel] = *sum;
  }
  return out;
}

absl::Status VerifyFolder(const std::string& dir, const std::map<std::string, uint64_t>& expected) {
  absl::StatusOr<std::map<std::string, uint64_t>> got = FolderChecksums(dir);
  if (!got.ok()) {
    if (got.status().code() == absl::StatusCode::kNotFound) return got.status();
    return absl::DataLossError(got.status().message());
  }
  for (const auto& [name, sum] : expected) {
    auto it = got->find(name);
    if (it == got->end()) return absl::DataLossError(absl::StrCat(dir, ": '", name, "' is missing"));
    if (it->second != sum) {
      return absl::DataLossError(absl::StrFormat("%s: '%s' changed (reported %016x, found %016x)",
                                                 dir, name, sum, it->second));
    }
  }
  for (const auto& [name, sum] : *got) {
    if (expected.count(name) == 0) {
      return absl::DataLossError(absl::StrCat(dir, ": '", name, "' was not reported"));
    }
  }
  return absl::OkStatus();
}

}  // namespace eqat
