// Field access for the component objects of tokenizer.json, with error
// messages that name the file and the component:
//   "<where>: pre_tokenizer type 'BertPreTokenizer' is not supported"
//   "<where>: normalizer 'Replace': field 'content' must be a string".
// Thread-safety: pure functions.
#ifndef EQAT_COMMON_HF_TOKENIZER_JSON_FIELDS_H_
#define EQAT_COMMON_HF_TOKENIZER_JSON_FIELDS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include <nlohmann/json.hpp>

#include "common/hf_tokenizer/regex.h"

namespace eqat::hf {

// tokenizer.json is parsed with std::map objects (ordered_json's linear key
// search is quadratic on a 150k-entry vocab).
using Json = nlohmann::json;

// The value of an integer JSON number that fits int64, else nullopt.
std::optional<int64_t> AsInt64(const Json& v);

// Where a component sits, for messages: the file and the component kind
// ("normalizer", "pre_tokenizer", "decoder", "post_processor", "model",
// "added_tokens").
struct JsonCtx {
  absl::string_view where;
  absl::string_view kind;
};

// InvalidArgument "<where>: <kind> type '<type>' is not supported".
absl::Status Unsupported(const JsonCtx& ctx, absl::string_view type);
// InvalidArgument "<where>: <kind> '<type>': <what>".
absl::Status BadField(const JsonCtx& ctx, absl::string_view type, absl::string_view what);

// The "type" string of a component object (InvalidArgument if absent/not a string
// or `j` is not an object).
absl::StatusOr<std::string> TypeOf(const Json& j, const JsonCtx& ctx);

// Optional fields: absent or null -> `def`; wrong JSON type -> InvalidArgument.
absl::StatusOr<bool> OptBool(const Json& j, const char* key, bool def, const JsonCtx& ctx,
                             absl::string_view type);
absl::StatusOr<std::string> OptString(const Json& j, const char* key, std::string def,
                                      const JsonCtx& ctx, absl::string_view type);
absl::StatusOr<int64_t> OptInt(const Json& j, const char* key, int64_t def, const JsonCtx& ctx,
                               absl::string_view type);
// Required string field.
absl::StatusOr<std::string> ReqString(const Json& j, const char* key, const JsonCtx& ctx,
                                      absl::string_view type);
// A single character field (e.g. Metaspace "replacement"): exactly one code point.
absl::StatusOr<char32_t> ReqChar(const Json& j, const char* key, const JsonCtx& ctx,
                                 absl::string_view type);

// j[key] is {"String": s} (literal) or {"Regex": r} (Oniguruma syntax).
absl::StatusOr<std::unique_ptr<Regex>> ReqPattern(const Json& j, const char* key,
                                                  const JsonCtx& ctx, absl::string_view type);

}  // namespace eqat::hf

#endif  // EQAT_COMMON_HF_TOKENIZER_JSON_FIELDS_H_
