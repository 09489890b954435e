// Small file helpers: whole-file reads and atomic writes (temp file + fsync +
// rename in the same directory), so a crash never leaves a partial file.
// Thread-safe (no shared state); concurrent writers of one path: last wins.
#ifndef EQAT_COMMON_FILE_UTIL_H_
#define EQAT_COMMON_FILE_UTIL_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace eqat {

// NotFound if missing, PermissionDenied if unreadable, InvalidArgument if a
// directory; messages name the path.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// A fresh name beside `path` for a temp file or folder that is then renamed
// onto it: "<path>.tmp.<pid>.<salt>.<n>". The random per-process salt keeps
// writers on different hosts that share a folder apart (pids repeat there);
// the counter keeps this process's writers apart. Thread-safe.
std::string TempSiblingPath(const std::string& path);

// Writes `contents` to `path` atomically (a TempSiblingPath, then rename).
// On any failure the temp file is removed and `path` is unchanged. Errors
// (WriteError): ResourceExhausted for a full disk or quota (ENOSPC, EDQUOT:
// retryable elsewhere), PermissionDenied (EACCES, EPERM, EROFS), NotFound
// (a missing folder), Internal otherwise; messages name the path.
absl::Status WriteFileAtomic(const std::string& path, std::string_view contents);

// The Status of a failed write step `what` ("<path>: write failed") with
// errno `err`, mapped as above.
absl::Status WriteError(const std::string& what, int err);

bool PathExists(const std::string& path);
bool IsDirectory(const std::string& path);
// mkdir -p. OK if it already exists as a directory.
absl::Status MakeDirs(const std::string& path);
// rm -rf; OK if missing.
absl::Status RemoveAll(const std::string& path);
// Joins with a single '/'.
std::string JoinPath(std::string_view a, std::string_view b);

}  // namespace eqat

#endif  // EQAT_COMMON_FILE_UTIL_H_
