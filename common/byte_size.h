// Human byte sizes for flags: "512M", "4G", "1.5G", "100000" (bytes; K/M/G/T
// are powers of 1024). Thread-safe: pure function.
#ifndef EQAT_COMMON_BYTE_SIZE_H_
#define EQAT_COMMON_BYTE_SIZE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace eqat {

// InvalidArgument naming `flag` for anything else (negative, junk, > 8 EiB).
absl::StatusOr<int64_t> ParseByteSize(const std::string& flag, const std::string& text);

}  // namespace eqat

#endif  // EQAT_COMMON_BYTE_SIZE_H_
