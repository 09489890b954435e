// Minimal JSON value, strict parser (RFC 8259) and serializer, for config.json,
// safetensors headers, JSONL data and CLI summaries.
// Thread-safety: a Value is a plain value type; const access is thread-safe.
// Objects keep insertion order (so written files are stable and diffable).
#ifndef EQAT_COMMON_JSON_H_
#define EQAT_COMMON_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace eqat::json {

class Value {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  Value() = default;  // null
  static Value Bool(bool b);
  static Value Number(double d);
  static Value Int(int64_t i);  // exact integer (kept exactly, also beyond 2^53)
  static Value String(std::string s);
  static Value Array();
  static Value Object();

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }
  // True for a number written without fraction/exponent that fits int64.
  bool is_integer() const { return type_ == Type::kNumber && is_int_; }

  // REQUIRES: the matching type (checked with assert; callers test first).
  bool as_bool() const { return bool_; }
  double as_number() const { return is_int_ ? static_cast<double>(int_) : num_; }
  int64_t as_int() const { return is_int_ ? int_ : static_cast<int64_t>(num_); }
  const std::string& as_string() const { return str_; }
  const std::vector<Value>& as_array() const { return arr_; }
  const std::vector<std::pair<std::string, Value>>& as_object() const { return obj_; }

  // Object lookup: nullptr when absent or when this is not an object.
  const Value* Find(std::string_view key) const;
  // Object insert-or-replace (REQUIRES: object). Returns the stored value.
  Value& Set(std::string key, Value v);
  // Array append (REQUIRES: array).
  void Push(Value v);

 private:
  friend class JsonParser;  // builds objects without per-key Set() scans
  Type type_ = Type::kNull;
  bool bool_ = false;
  bool is_int_ = false;
  int64_t int_ = 0;
  double num_ = 0;
  std::string str_;
  std::vector<Value> arr_;
  std::vector<std::pair<std::string, Value>> obj_;
};

// Parses one JSON document (surrounding whitespace allowed, nothing else).
// Errors: InvalidArgument with byte offset and reason ("expected ':' at 17").
// Nesting deeper than 128 is refused. Duplicate object keys are refused.
absl::StatusOr<Value> Parse(std::string_view text);

// Serializes; indent < 0 gives compact one-line output, else pretty with that
// many spaces. Non-finite numbers are written as null. Integers stay exact.
std::string Serialize(const Value& v, int indent = -1);

}  // namespace eqat::json

#endif  // EQAT_COMMON_JSON_H_
