// Checksums of files and folders: FNV-1a 64 (the same hash as the packed
// block files, worker/stage/block_files.h), streamed in 1 MiB reads.
//
// FolderChecksums(dir): every regular file under `dir`, by its path relative
// to `dir` ("model.safetensors", "adapter/adapter_config.json"). Symbolic
// links, devices and other non-regular entries are errors (FailedPrecondition
// naming the entry), so a listing never follows a link out of the folder;
// files are opened with O_NOFOLLOW.
// VerifyFolder(dir, expected): OK only when `dir` holds exactly the files of
// `expected` with those checksums; otherwise DataLoss naming the first
// missing, extra or changed file (NotFound when `dir` does not exist).
// Thread-safety: pure functions of the file system.
#ifndef EQAT_COMMON_FOLDER_CHECKSUMS_H_
#define EQAT_COMMON_FOLDER_CHECKSUMS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace eqat {

inline constexpr uint64_t kFnv1a64Offset = 0xcbf29ce484222325ULL;  // the standard FNV-1a 64 basis

// Continues an FNV-1a 64 hash `h` over `n` bytes.
uint64_t Fnv1a64Update(uint64_t h, const void* data, size_t n);

absl::StatusOr<uint64_t> FileChecksum(const std::string& path);

absl::StatusOr<std::map<std::string, uint64_t>> FolderChecksums(const std::string& dir);

absl::Status VerifyFolder(const std::string& dir, const std::map<std::string, uint64_t>& expected);

}  // namespace eqat

#endif  // EQAT_COMMON_FOLDER_CHECKSUMS_H_
