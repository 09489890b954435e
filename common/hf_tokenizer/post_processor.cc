#include "absl/strings/string_view.h"
#include "common/hf_tokenizer/post_processor.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/hf_tokenizer/json_fields.h"
#include "common/status_macros.h"

namespace eqat::hf {
namespace {

// A list of parts: a run of fixed ids, or the sequence itself (empty ids,
// is_sequence true).
struct Part {
  bool is_sequence = false;
  std::vector<int32_t> ids;
};

class Template : public PostProcessor {
 public:
  explicit Template(std::vector<Part> parts) : parts_(std::move(parts)) {}
  void Process(std::vector<int32_t>* ids) const override {
    std::vector<int32_t> out;
    out.reserve(ids->size() + 4);
    for (const Part& p : parts_) {
      if (p.is_sequence) {
        out.insert(out.end(), ids->begin(), ids->end());
      } else {
        out.insert(out.end(), p.ids.begin(), p.ids.end());
      }
    }
    *ids = std::move(out);
  }
  std::optional<int32_t> LeadingId() const override {
    if (!parts_.empty() && !parts_[0].is_sequence && !parts_[0].ids.empty()) return parts_[0].ids[0];
    return std::nullopt;
  }

 private:
  std::vector<Part> parts_;
};

class Noop : public PostProcessor {
 public:
  void Process(std::vector<int32_t>*) const override {}
  std::optional<int32_t> LeadingId() const override { return std::nullopt; }
};

class Sequence : public PostProcessor {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PostProcessor>> parts) : parts_(std::move(parts)) {}
  void Process(std::vector<int32_t>* ids) const override {
    for (const auto& p : parts_) p->Process(ids);
  }
  std::optional<int32_t> LeadingId() const override {
    for (const auto& p : parts_) {
      if (auto id = p->LeadingId()) return id;
    }
    return std::nullopt;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

absl::StatusOr<std::unique_ptr<PostProcessor>> MakeTemplate(const Json& j, const JsonCtx& ctx,
                                                            const std::string& type) {
  auto single = j.find("single");
  if (single == j.end() || !single->is_array()) return BadField(ctx, type, "field 'single' must be an array");
  auto specials = j.find("special_tokens");
  std::vector<Part> parts;
  for (const Json& item : *single) {
    if (item.is_object() && item.contains("Sequence")) {
      parts.push_back(Part{true, {}});
      continue;
    }
    if (!item.is_object() || !item.contains("SpecialToken") || !item["SpecialToken"].is_object() ||
        !item["SpecialToken"].contains("id") || !item["SpecialToken"]["id"].is_string()) {
      return BadField(ctx, type, "template items must be {\"Sequence\": ..} or {\"SpecialToken\": {\"id\": ..}}");
    }
    std::string name = item["SpecialToken"]["id"].get<std::string>();
    if (specials == j.end() || !specials->is_object() || !specials->contains(name)) {
      return BadField(ctx, type, absl::StrCat("special token '", name, "' is not in special_tokens"));
    }
    const Json& st = (*specials)[name];
    if (!st.is_object() || !st.contains("ids") || !st["ids"].is_array()) {
      return BadField(ctx, type, absl::StrCat("special token '", name, "' has no ids"));
    }
    Part p;
    for (const Json& id : st["ids"]) {
      std::optional<int64_t> v = AsInt64(id);
      if (!v || *v < 0 || *v > INT32_MAX) {
        return BadField(ctx, type, absl::StrCat("special token '", name, "' has a bad id"));
      }
      p.ids.push_back(static_cast<int32_t>(*v));
    }
    parts.push_back(std::move(p));
  }
  return std::unique_ptr<PostProcessor>(new Template(std::move(parts)));
}

// Bert/Roberta: "cls": [token, id], "sep": [token, id].
absl::StatusOr<int32_t> PairId(const Json& j, const char* key, const JsonCtx& ctx,
                               const std::string& type) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_array() || it->size() != 2 || !AsInt64((*it)[1])) {
    return BadField(ctx, type, absl::StrCat("field '", key, "' must be [token, id]"));
  }
  return static_cast<int32_t>(*AsInt64((*it)[1]));
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostProcessor>> MakePostProcessor(const Json& j,
                                                                 absl::string_view where) {
  using Ptr = std::unique_ptr<PostProcessor>;
  if (j.is_null()) return Ptr();
  const JsonCtx ctx{where, "post_processor"};
  ASSIGN_OR_RETURN(std::string type, TypeOf(j, ctx));
  if (type == "TemplateProcessing") return MakeTemplate(j, ctx, type);
  if (type == "ByteLevel") return Ptr(new Noop());
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    ASSIGN_OR_RETURN(int32_t cls, PairId(j, "cls", ctx, type));
    ASSIGN_OR_RETURN(int32_t sep, PairId(j, "sep", ctx, type));
    std::vector<Part> parts{Part{false, {cls}}, Part{true, {}}, Part{false, {sep}}};
    return Ptr(new Template(std::move(parts)));
  }
  if (type == "Sequence") {
    auto it = j.find("processors");
    if (it == j.end() || !it->is_array()) return BadField(ctx, type, "field 'processors' must be an array");
    std::vector<Ptr> parts;
    for (const Json& part : *it) {
      ASSIGN_OR_RETURN(Ptr p, MakePostProcessor(part, where));
      if (p) parts.push_back(std::move(p));
    }
    return Ptr(new Sequence(std::move(parts)));
  }
  return Unsupported(ctx, type);
}

}  // namespace eqat::hf
