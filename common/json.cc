#include "common/json.h"

#include <limits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace eqat {
namespace {

absl::Status Invalid(absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat("json: ", reason));
}

// nlohmann's what() starts with "[json.exception.<kind>.<id>] "; drop that.
std::string Reason(const nlohmann::json::exception& e) {
  std::string_view what = e.what();
  if (!what.empty() && what.front() == '[') {
    size_t end = what.find("] ");
    if (end != std::string_view::npos) what.remove_prefix(end + 2);
  }
  return std::string(what);
}

// Builds the document from the events of nlohmann's parser, enforcing the
// depth limit and refusing duplicate keys as they arrive. Members are appended
// to the object's vector directly: ordered_json's operator[] (and nlohmann's
// callback parser) scan the object on every insert, which is quadratic in the
// member count (seconds for a 2 MB safetensors header, hours for 100 MB).
class Builder : public nlohmann::json_sax<Json> {
 public:
  explicit Builder(int max_depth) : max_depth_(max_depth) {}

  bool null() override { return Add(Json()); }
  bool boolean(bool b) override { return Add(Json(b)); }
  bool number_integer(number_integer_t i) override { return Add(Json(i)); }
  bool number_unsigned(number_unsigned_t u) override { return Add(Json(u)); }
  bool number_float(number_float_t d, const string_t& /*text*/) override { return Add(Json(d)); }
  bool string(string_t& s) override { return Add(Json(std::move(s))); }
  bool binary(binary_t& b) override { return Add(Json(std::move(b))); }  // not from text

  bool start_object(std::size_t /*unknown*/) override {
    if (!Open(Json::object())) return false;
    keys_.emplace_back();
    return true;
  }
  bool key(string_t& k) override {
    if (!keys_.back().insert(k).second) {
      error_ = Invalid(absl::StrCat("duplicate key \"", k, "\""));
      return false;
    }
    key_ = std::move(k);
    return true;
  }
  bool end_object() override {
    keys_.pop_back();
    open_.pop_back();
    return true;
  }
  bool start_array(std::size_t /*unknown*/) override { return Open(Json::array()); }
  bool end_array() override {
    open_.pop_back();
    return true;
  }

  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::json::exception& e) override {
    error_ = Invalid(absl::StrCat(Reason(e), " (at byte ", position, ")"));
    return false;
  }

  absl::StatusOr<Json> Take(bool ok) {
    if (!error_.ok()) return error_;
    if (!ok) return Invalid("parse stopped without a reason");
    return std::move(root_);
  }

 private:
  // Stores v in the innermost open container (or as the root); returns where.
  Json* Place(Json v) {
    if (open_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    Json& parent = *open_.back();
    if (parent.is_array()) {
      auto& arr = parent.get_ref<Json::array_t&>();
      arr.push_back(std::move(v));
      return &arr.back();
    }
    auto& obj = parent.get_ref<Json::object_t&>();  // a std::vector of pairs
    obj.emplace_back(std::move(key_), std::move(v));
    return &obj.back().second;
  }
  bool Add(Json v) {
    Place(std::move(v));
    return true;  // keep parsing
  }
  bool Open(Json container) {
    if (static_cast<int>(open_.size()) >= max_depth_) {
      error_ = Invalid(absl::StrCat("nesting deeper than ", max_depth_));
      return false;
    }
    open_.push_back(Place(std::move(container)));
    return true;
  }

  const int max_depth_;
  Json root_;
  std::vector<Json*> open_;  // innermost last; only the innermost grows
  std::vector<std::unordered_set<std::string>> keys_;  // per open object
  std::string key_;  // key of the object member being parsed
  absl::Status error_;
};

}  // namespace

absl::StatusOr<Json> ParseJson(std::string_view text, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return Invalid(absl::StrCat("document of ", text.size(), " bytes exceeds the limit of ",
                                limits.max_bytes, " bytes"));
  }
  Builder builder(limits.max_depth);
  try {
    const bool ok = Json::sax_parse(text.begin(), text.end(), &builder);
    return builder.Take(ok);
  } catch (const nlohmann::json::exception& e) {
    return Invalid(Reason(e));
  }
}

std::optional<int64_t> JsonInt64(const Json& v) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  return std::nullopt;
}

std::string DumpJson(const Json& v, int indent) {
  return v.dump(indent, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

}  // namespace eqat
