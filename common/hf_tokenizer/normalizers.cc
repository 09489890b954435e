#include "absl/strings/string_view.h"
#include "common/hf_tokenizer/normalizers.h"

#include <cstdlib>
#include <utility>
#include <vector>

#include <utf8proc.h>

#include "common/hf_tokenizer/json_fields.h"
#include "common/hf_tokenizer/regex.h"
#include "common/hf_tokenizer/utf8.h"
#include "common/status_macros.h"

namespace eqat::hf {
namespace {

// NFC/NFD/NFKC/NFKD through utf8proc. ASCII runs are copied as is: an ASCII
// character never combines with what precedes it, so the text can be cut
// before any ASCII character that is followed by ASCII (the last ASCII
// character before a non-ASCII run goes with the run, as a base for marks).
class UnicodeForm : public Normalizer {
 public:
  explicit UnicodeForm(utf8proc_option_t options) : options_(options) {}
  absl::Status Normalize(std::string* s) const override {
    const std::string& in = *s;
    size_t i = 0, n = in.size();
    while (i < n && static_cast<unsigned char>(in[i]) < 0x80) ++i;
    if (i == n) return absl::OkStatus();
    std::string out;
    out.reserve(n + n / 8);
    size_t copied = 0;  // in[0, copied) is already in out
    while (i < n) {
      // in[i] is non-ASCII; the segment starts one character earlier if that
      // one is ASCII and not yet emitted.
      size_t seg = i;
      if (seg > copied && static_cast<unsigned char>(in[seg - 1]) < 0x80) --seg;
      out.append(in, copied, seg - copied);
      size_t end = i;
      while (end < n && static_cast<unsigned char>(in[end]) >= 0x80) ++end;
      utf8proc_uint8_t* dst = nullptr;
      utf8proc_ssize_t len =
          utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(in.data() + seg), end - seg, &dst,
                       options_);
      if (len < 0) {
        return absl::InvalidArgumentError(
            std::string("normalizer: ") + utf8proc_errmsg(len));
      }
      out.append(reinterpret_cast<const char*>(dst), len);
      std::free(dst);
      copied = end;
      i = end;
      while (i < n && static_cast<unsigned char>(in[i]) < 0x80) ++i;
    }
    out.append(in, copied, n - copied);
    *s = std::move(out);
    return absl::OkStatus();
  }

 private:
  utf8proc_option_t options_;
};

class Lowercase : public Normalizer {
 public:
  absl::Status Normalize(std::string* s) const override {
    std::string out;
    out.reserve(s->size());
    size_t pos = 0;
    while (pos < s->size()) {
      unsigned char b = static_cast<unsigned char>((*s)[pos]);
      if (b < 0x80) {
        out.push_back(static_cast<char>(b >= 'A' && b <= 'Z' ? b + 32 : b));
        ++pos;
        continue;
      }
      char32_t cp = DecodeUtf8(*s, &pos);
      if (cp == 0x130) {  // the one unconditional multi-character lowercase mapping
        out += "i\xCC\x87";
        continue;
      }
      AppendUtf8(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp))), &out);
    }
    *s = std::move(out);
    return absl::OkStatus();
  }
};

class Strip : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  absl::Status Normalize(std::string* s) const override {
    size_t begin = 0, end = s->size();
    if (left_) {
      while (begin < end) {
        size_t p = begin;
        if (!IsWhiteSpace(DecodeUtf8(*s, &p))) break;
        begin = p;
      }
    }
    if (right_) {
      while (end > begin) {
        size_t start = end - 1;
        while (start > begin && (static_cast<unsigned char>((*s)[start]) & 0xC0) == 0x80) --start;
        size_t p = start;
        if (!IsWhiteSpace(DecodeUtf8(*s, &p))) break;
        end = start;
      }
    }
    *s = s->substr(begin, end - begin);
    return absl::OkStatus();
  }

 private:
  bool left_, right_;
};

class StripAccents : public Normalizer {
 public:
  absl::Status Normalize(std::string* s) const override {
    std::string out;
    out.reserve(s->size());
    size_t pos = 0;
    while (pos < s->size()) {
      size_t start = pos;
      char32_t cp = DecodeUtf8(*s, &pos);
      if (!IsCombiningMark(cp)) out.append(*s, start, pos - start);
    }
    *s = std::move(out);
    return absl::OkStatus();
  }
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string text) : text_(std::move(text)) {}
  absl::Status Normalize(std::string* s) const override {
    if (!s->empty()) s->insert(0, text_);
    return absl::OkStatus();
  }

 private:
  std::string text_;
};

class Replace : public Normalizer {
 public:
  Replace(std::unique_ptr<Regex> re, std::string content)
      : re_(std::move(re)), content_(std::move(content)) {}
  absl::Status Normalize(std::string* s) const override { return re_->ReplaceAll(s, content_); }

 private:
  std::unique_ptr<Regex> re_;
  std::string content_;
};

class Sequence : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  absl::Status Normalize(std::string* s) const override {
    for (const auto& p : parts_) RETURN_IF_ERROR(p->Normalize(s));
    return absl::OkStatus();
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Normalizer>> MakeNormalizer(const Json& j, absl::string_view where) {
  if (j.is_null()) return std::unique_ptr<Normalizer>();
  const JsonCtx ctx{where, "normalizer"};
  ASSIGN_OR_RETURN(std::string type, TypeOf(j, ctx));
  if (type == "NFC") return std::unique_ptr<Normalizer>(new UnicodeForm(
      static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE)));
  if (type == "NFD") return std::unique_ptr<Normalizer>(new UnicodeForm(
      static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE)));
  if (type == "NFKC") return std::unique_ptr<Normalizer>(new UnicodeForm(
      static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT)));
  if (type == "NFKD") return std::unique_ptr<Normalizer>(new UnicodeForm(
      static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT)));
  if (type == "Lowercase") return std::unique_ptr<Normalizer>(new Lowercase());
  if (type == "StripAccents") return std::unique_ptr<Normalizer>(new StripAccents());
  if (type == "Strip") {
    ASSIGN_OR_RETURN(bool left, OptBool(j, "strip_left", true, ctx, type));
    ASSIGN_OR_RETURN(bool right, OptBool(j, "strip_right", true, ctx, type));
    return std::unique_ptr<Normalizer>(new Strip(left, right));
  }
  if (type == "Prepend") {
    ASSIGN_OR_RETURN(std::string text, ReqString(j, "prepend", ctx, type));
    return std::unique_ptr<Normalizer>(new Prepend(std::move(text)));
  }
  if (type == "Replace") {
    ASSIGN_OR_RETURN(std::unique_ptr<Regex> re, ReqPattern(j, "pattern", ctx, type));
    ASSIGN_OR_RETURN(std::string content, ReqString(j, "content", ctx, type));
    return std::unique_ptr<Normalizer>(new Replace(std::move(re), std::move(content)));
  }
  if (type == "Sequence") {
    auto it = j.find("normalizers");
    if (it == j.end() || !it->is_array()) {
      return BadField(ctx, type, "field 'normalizers' must be an array");
    }
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (const Json& part : *it) {
      ASSIGN_OR_RETURN(std::unique_ptr<Normalizer> n, MakeNormalizer(part, where));
      if (n) parts.push_back(std::move(n));
    }
    return std::unique_ptr<Normalizer>(new Sequence(std::move(parts)));
  }
  return Unsupported(ctx, type);
}

}  // namespace eqat::hf
