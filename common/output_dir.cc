#include "common/output_dir.h"

#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"

namespace eqat {
namespace fs = std::filesystem;

namespace {

bool IsEmptyDir(const std::string& p) {
  std::error_code ec;
  return fs::is_directory(p, ec) && fs::is_empty(p, ec);
}

std::string ParentOf(const std::string& p) {
  fs::path parent = fs::path(CleanPath(p)).parent_path();
  return parent.empty() ? "." : parent.string();
}

}  // namespace

std::string CleanPath(const std::string& p) {
  std::string c = fs::path(p).lexically_normal().string();
  while (c.size() > 1 && c.back() == '/') c.pop_back();
  return c;
}

absl::Status CheckOutputDir(const std::string& out_dir, bool overwrite, const std::string& field) {
  if (out_dir.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": an output directory is required"));
  std::string parent = ParentOf(out_dir);
  if (!IsDirectory(parent)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": parent directory '", parent, "' does not exist"));
  }
  if (access(parent.c_str(), W_OK) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": parent directory '", parent,
                                                   "' is not writable"));
  }
  if (PathExists(out_dir)) {
    if (!IsDirectory(out_dir)) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": '", out_dir, "' exists and is a file"));
    }
    if (!IsEmptyDir(out_dir) && !overwrite) {
      return absl::FailedPreconditionError(absl::StrCat(
          field, ": '", out_dir, "' exists and is not empty (pass --overwrite to replace it)"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckOutputNotSource(const std::string& out_dir, const std::string& source_dir,
                                  const std::string& field) {
  std::error_code ec;
  fs::path out = fs::weakly_canonical(CleanPath(out_dir), ec);
  fs::path src = fs::weakly_canonical(CleanPath(source_dir), ec);
  // Refuse out == source or out an ancestor of source (replacing it would
  // delete the model being read).
  auto o = out.begin();
  auto s = src.begin();
  for (; o != out.end() && s != src.end(); ++o, ++s) {
    if (*o != *s) return absl::OkStatus();
  }
  if (o == out.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": '", out_dir, "' is or contains the source model folder '", source_dir, "'"));
  }
  if (s == src.end()) {
    // Writing inside the model folder would mix the output into the input.
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": '", out_dir, "' is inside the source model folder '", source_dir, "'"));
  }
  return absl::OkStatus();
}

}  // namespace eqat
