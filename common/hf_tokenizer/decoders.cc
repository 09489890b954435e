#include "absl/strings/string_view.h"
#include "common/hf_tokenizer/decoders.h"

#include <utility>

#include "common/hf_tokenizer/json_fields.h"
#include "common/hf_tokenizer/pre_tokenizers.h"
#include "common/hf_tokenizer/regex.h"
#include "common/hf_tokenizer/utf8.h"
#include "common/status_macros.h"

namespace eqat::hf {
namespace {

class ByteLevel : public Decoder {
 public:
  void DecodeChain(std::vector<std::string>* tokens) const override {
    std::string bytes;
    for (const std::string& t : *tokens) {
      size_t mark = bytes.size();
      size_t pos = 0;
      bool ok = true;
      while (pos < t.size()) {
        int b = ByteLevelByte(DecodeUtf8(t, &pos));
        if (b < 0) {
          ok = false;
          break;
        }
        bytes.push_back(static_cast<char>(b));
      }
      if (!ok) {
        bytes.resize(mark);
        bytes += t;
      }
    }
    std::string text;
    SanitizeUtf8(bytes, &text);
    tokens->assign(1, std::move(text));
  }
};

class Metaspace : public Decoder {
 public:
  Metaspace(char32_t replacement, bool strip_first) : strip_first_(strip_first) {
    AppendUtf8(replacement, &replacement_);
  }
  void DecodeChain(std::vector<std::string>* tokens) const override {
    for (size_t i = 0; i < tokens->size(); ++i) {
      std::string& t = (*tokens)[i];
      std::string out;
      out.reserve(t.size());
      for (size_t pos = 0; pos < t.size();) {
        if (t.compare(pos, replacement_.size(), replacement_) == 0) {
          if (!(i == 0 && strip_first_)) out.push_back(' ');
          pos += replacement_.size();
        } else {
          out.push_back(t[pos++]);
        }
      }
      t = std::move(out);
    }
  }

 private:
  std::string replacement_;
  bool strip_first_;
};

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class ByteFallback : public Decoder {
 public:
  void DecodeChain(std::vector<std::string>* tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens->size());
    std::string pending;
    auto flush = [&]() {
      if (pending.empty()) return;
      std::string fixed;
      if (SanitizeUtf8(pending, &fixed) == 0) {
        out.push_back(std::move(fixed));
      } else {
        for (size_t i = 0; i < pending.size(); ++i) out.emplace_back("\xEF\xBF\xBD");
      }
      pending.clear();
    };
    for (std::string& t : *tokens) {
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && HexDigit(t[3]) >= 0 &&
          HexDigit(t[4]) >= 0) {
        pending.push_back(static_cast<char>(HexDigit(t[3]) * 16 + HexDigit(t[4])));
        continue;
      }
      flush();
      out.push_back(std::move(t));
    }
    flush();
    *tokens = std::move(out);
  }
};

class Fuse : public Decoder {
 public:
  void DecodeChain(std::vector<std::string>* tokens) const override {
    std::string all;
    for (const std::string& t : *tokens) all += t;
    tokens->assign(1, std::move(all));
  }
};

class Strip : public Decoder {
 public:
  Strip(char32_t content, size_t start, size_t stop) : content_(content), start_(start), stop_(stop) {}
  void DecodeChain(std::vector<std::string>* tokens) const override {
    for (std::string& t : *tokens) {
      std::vector<char32_t> chars;
      for (size_t pos = 0; pos < t.size();) chars.push_back(DecodeUtf8(t, &pos));
      size_t begin = 0;
      while (begin < start_ && begin < chars.size() && chars[begin] == content_) ++begin;
      size_t end = chars.size();
      for (size_t i = 0; i < stop_ && end > begin && chars[end - 1] == content_; ++i) --end;
      std::string out;
      for (size_t i = begin; i < end; ++i) AppendUtf8(chars[i], &out);
      t = std::move(out);
    }
  }

 private:
  char32_t content_;
  size_t start_, stop_;
};

class Replace : public Decoder {
 public:
  Replace(std::unique_ptr<Regex> re, std::string content)
      : re_(std::move(re)), content_(std::move(content)) {}
  void DecodeChain(std::vector<std::string>* tokens) const override {
    // Decoding never fails: a token the regex cannot scan stays as it is.
    for (std::string& t : *tokens) re_->ReplaceAll(&t, content_).IgnoreError();
  }

 private:
  std::unique_ptr<Regex> re_;
  std::string content_;
};

class Sequence : public Decoder {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void DecodeChain(std::vector<std::string>* tokens) const override {
    for (const auto& p : parts_) p->DecodeChain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Decoder>> MakeDecoder(const Json& j, absl::string_view where) {
  using Ptr = std::unique_ptr<Decoder>;
  if (j.is_null()) return Ptr();
  const JsonCtx ctx{where, "decoder"};
  ASSIGN_OR_RETURN(std::string type, TypeOf(j, ctx));
  if (type == "ByteLevel") return Ptr(new ByteLevel());
  if (type == "ByteFallback") return Ptr(new ByteFallback());
  if (type == "Fuse") return Ptr(new Fuse());
  if (type == "Metaspace") {
    ASSIGN_OR_RETURN(char32_t replacement, ReqChar(j, "replacement", ctx, type));
    ASSIGN_OR_RETURN(std::string scheme, OptString(j, "prepend_scheme", "always", ctx, type));
    ASSIGN_OR_RETURN(bool add_prefix, OptBool(j, "add_prefix_space", true, ctx, type));
    if (scheme != "always" && scheme != "first" && scheme != "never") {
      return BadField(ctx, type, "unknown prepend_scheme '" + scheme + "'");
    }
    bool never = scheme == "never" || !add_prefix;
    return Ptr(new Metaspace(replacement, !never));
  }
  if (type == "Strip") {
    ASSIGN_OR_RETURN(char32_t content, ReqChar(j, "content", ctx, type));
    ASSIGN_OR_RETURN(int64_t start, OptInt(j, "start", 0, ctx, type));
    ASSIGN_OR_RETURN(int64_t stop, OptInt(j, "stop", 0, ctx, type));
    if (start < 0 || stop < 0) return BadField(ctx, type, "start and stop must be >= 0");
    return Ptr(new Strip(content, static_cast<size_t>(start), static_cast<size_t>(stop)));
  }
  if (type == "Replace") {
    ASSIGN_OR_RETURN(std::unique_ptr<Regex> re, ReqPattern(j, "pattern", ctx, type));
    ASSIGN_OR_RETURN(std::string content, ReqString(j, "content", ctx, type));
    return Ptr(new Replace(std::move(re), std::move(content)));
  }
  if (type == "Sequence") {
    auto it = j.find("decoders");
    if (it == j.end() || !it->is_array()) return BadField(ctx, type, "field 'decoders' must be an array");
    std::vector<Ptr> parts;
    for (const Json& part : *it) {
      ASSIGN_OR_RETURN(Ptr p, MakeDecoder(part, where));
      if (p) parts.push_back(std::move(p));
    }
    return Ptr(new Sequence(std::move(parts)));
  }
  return Unsupported(ctx, type);
}

}  // namespace eqat::hf
