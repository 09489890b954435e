// JSON for eqat: nlohmann's ordered_json as the value type, one guarded parser
// for untrusted text (config.json, safetensors headers and index files, JSONL
// data) and one serializer for everything eqat writes.
// Thread-safety: Json is a plain value type (const access is thread-safe);
// ParseJson and DumpJson are pure functions.
// Objects keep insertion order, so written files are stable and diffable.
// Neither function throws: every parse failure is InvalidArgument
// "json: <reason>"; syntax errors end in "(at byte N)", N counting from 1 as
// nlohmann does (e.g. "... expected ':' (at byte 8)" for {"key" 1}).
#ifndef EQAT_COMMON_JSON_H_
#define EQAT_COMMON_JSON_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace eqat {

using Json = nlohmann::ordered_json;

struct JsonLimits {
  size_t max_bytes = size_t{100} << 20;  // larger documents are refused unread
  int max_depth = 128;                   // arrays and objects nested deeper are refused
};

// Parses one RFC 8259 document (surrounding whitespace allowed, nothing else).
// Refuses: text over limits.max_bytes, nesting deeper than limits.max_depth,
// duplicate keys within one object, invalid UTF-8, numbers that overflow a
// double. Integers keep their exact int64 / uint64 value.
absl::StatusOr<Json> ParseJson(std::string_view text, const JsonLimits& limits = {});

// The value of an integer that fits int64 (written without fraction or
// exponent); nullopt for anything else, including uint64 above INT64_MAX.
std::optional<int64_t> JsonInt64(const Json& v);

// indent < 0: compact, one line; else pretty with that many spaces. Non-finite
// numbers are written as null; invalid UTF-8 in strings becomes U+FFFD.
std::string DumpJson(const Json& v, int indent = -1);

}  // namespace eqat

#endif  // EQAT_COMMON_JSON_H_
