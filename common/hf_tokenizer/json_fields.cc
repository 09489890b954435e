#include "absl/strings/string_view.h"
#include "common/hf_tokenizer/json_fields.h"

#include "absl/strings/str_cat.h"
#include "common/hf_tokenizer/utf8.h"

namespace eqat::hf {

std::optional<int64_t> AsInt64(const Json& v) {
  if (v.is_number_integer()) {
    if (v.is_number_unsigned()) {
      uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
      return static_cast<int64_t>(u);
    }
    return v.get<int64_t>();
  }
  return std::nullopt;
}

absl::Status Unsupported(const JsonCtx& ctx, absl::string_view type) {
  return absl::InvalidArgumentError(
      absl::StrCat(ctx.where, ": ", ctx.kind, " type '", type, "' is not supported"));
}

absl::Status BadField(const JsonCtx& ctx, absl::string_view type, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(ctx.where, ": ", ctx.kind, " '", type, "': ", what));
}

absl::StatusOr<std::string> TypeOf(const Json& j, const JsonCtx& ctx) {
  if (!j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(ctx.where, ": ", ctx.kind, " must be an object"));
  }
  auto it = j.find("type");
  if (it == j.end() || !it->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(ctx.where, ": ", ctx.kind, " has no string field 'type'"));
  }
  return it->get<std::string>();
}

absl::StatusOr<bool> OptBool(const Json& j, const char* key, bool def, const JsonCtx& ctx,
                             absl::string_view type) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_boolean()) return BadField(ctx, type, absl::StrCat("field '", key, "' must be a boolean"));
  return it->get<bool>();
}

absl::StatusOr<std::string> OptString(const Json& j, const char* key, std::string def,
                                      const JsonCtx& ctx, absl::string_view type) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_string()) return BadField(ctx, type, absl::StrCat("field '", key, "' must be a string"));
  return it->get<std::string>();
}

absl::StatusOr<int64_t> OptInt(const Json& j, const char* key, int64_t def, const JsonCtx& ctx,
                               absl::string_view type) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  std::optional<int64_t> v = AsInt64(*it);
  if (!v) return BadField(ctx, type, absl::StrCat("field '", key, "' must be an integer"));
  return *v;
}

absl::StatusOr<std::string> ReqString(const Json& j, const char* key, const JsonCtx& ctx,
                                      absl::string_view type) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) {
    return BadField(ctx, type, absl::StrCat("field '", key, "' must be a string"));
  }
  return it->get<std::string>();
}

absl::StatusOr<char32_t> ReqChar(const Json& j, const char* key, const JsonCtx& ctx,
                                 absl::string_view type) {
  auto s = ReqString(j, key, ctx, type);
  if (!s.ok()) return s.status();
  size_t pos = 0;
  if (s->empty()) return BadField(ctx, type, absl::StrCat("field '", key, "' must be one character"));
  char32_t cp = DecodeUtf8(*s, &pos);
  if (pos != s->size()) {
    return BadField(ctx, type, absl::StrCat("field '", key, "' must be one character"));
  }
  return cp;
}

absl::StatusOr<std::unique_ptr<Regex>> ReqPattern(const Json& j, const char* key,
                                                  const JsonCtx& ctx, absl::string_view type) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_object() || it->size() != 1) {
    return BadField(ctx, type, absl::StrCat("field '", key, "' must be {\"String\": ..} or {\"Regex\": ..}"));
  }
  auto s = it->find("String");
  auto r = it->find("Regex");
  absl::StatusOr<std::unique_ptr<Regex>> re;
  if (s != it->end() && s->is_string()) {
    re = Regex::FromLiteral(s->get<std::string>());
  } else if (r != it->end() && r->is_string()) {
    re = Regex::FromOniguruma(r->get<std::string>());
  } else {
    return BadField(ctx, type, absl::StrCat("field '", key, "' must be {\"String\": ..} or {\"Regex\": ..}"));
  }
  if (!re.ok()) return BadField(ctx, type, re.status().message());
  return re;
}

}  // namespace eqat::hf
