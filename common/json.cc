#include "common/json.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>
#include <cstring>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/charconv.h"
#include "absl/strings/str_cat.h"

namespace eqat::json {

Value Value::Bool(bool b) {
  Value v;
  v.type_ = Type::kBool;
  v.bool_ = b;
  return v;
}
Value Value::Number(double d) {
  Value v;
  v.type_ = Type::kNumber;
  v.num_ = d;
  return v;
}
Value Value::Int(int64_t i) {
  Value v;
  v.type_ = Type::kNumber;
  v.is_int_ = true;
  v.int_ = i;
  return v;
}
Value Value::String(std::string s) {
  Value v;
  v.type_ = Type::kString;
  v.str_ = std::move(s);
  return v;
}
Value Value::Array() {
  Value v;
  v.type_ = Type::kArray;
  return v;
}
Value Value::Object() {
  Value v;
  v.type_ = Type::kObject;
  return v;
}

const Value* Value::Find(std::string_view key) const {
  if (type_ != Type::kObject) return nullptr;
  for (const auto& kv : obj_) {
    if (kv.first == key) return &kv.second;
  }
  return nullptr;
}

Value& Value::Set(std::string key, Value v) {
  assert(type_ == Type::kObject);
  for (auto& kv : obj_) {
    if (kv.first == key) {
      kv.second = std::move(v);
      return kv.second;
    }
  }
  obj_.emplace_back(std::move(key), std::move(v));
  return obj_.back().second;
}

void Value::Push(Value v) {
  assert(type_ == Type::kArray);
  arr_.push_back(std::move(v));
}

// ---------------------------------------------------------------------------
// Parser

namespace {
constexpr int kMaxDepth = 128;
}  // namespace

class JsonParser {
 public:
  explicit JsonParser(std::string_view text) : s_(text) {}

  absl::StatusOr<Value> ParseDocument() {
    SkipWs();
    Value v;
    if (!ParseValue(&v, 0)) return err_;
    SkipWs();
    if (pos_ != s_.size()) {
      return Error("unexpected trailing characters");
    }
    return v;
  }

 private:
  absl::Status Error(absl::string_view reason) { return ErrorAt(reason, pos_); }
  absl::Status ErrorAt(absl::string_view reason, size_t at) {
    return absl::InvalidArgumentError(absl::StrCat("json: ", reason, " at ", at));
  }
  bool Fail(absl::string_view reason) {
    err_ = Error(reason);
    return false;
  }
  bool FailAt(absl::string_view reason, size_t at) {
    err_ = ErrorAt(reason, at);
    return false;
  }

  bool AtEnd() const { return pos_ >= s_.size(); }
  char Peek() const { return s_[pos_]; }

  void SkipWs() {
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++pos_;
      } else {
        break;
      }
    }
  }

  bool ConsumeLiteral(std::string_view lit) {
    if (s_.substr(pos_, lit.size()) != lit) return false;
    pos_ += lit.size();
    return true;
  }

  bool ParseValue(Value* out, int depth) {
    if (AtEnd()) return Fail("unexpected end of input, expected a value");
    char c = Peek();
    switch (c) {
      case '{':
        return ParseObject(out, depth + 1);
      case '[':
        return ParseArray(out, depth + 1);
      case '"': {
        std::string str;
        if (!ParseString(&str)) return false;
        *out = Value::String(std::move(str));
        return true;
      }
      case 't':
        if (ConsumeLiteral("true")) {
          *out = Value::Bool(true);
          return true;
        }
        break;
      case 'f':
        if (ConsumeLiteral("false")) {
          *out = Value::Bool(false);
          return true;
        }
        break;
      case 'n':
        if (ConsumeLiteral("null")) {
          *out = Value();
          return true;
        }
        break;
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(out);
        break;
    }
    return Fail(absl::StrCat("unexpected character '", Printable(c), "', expected a value"));
  }

  static std::string Printable(char c) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) return std::string(1, c);
    char buf[8];
    snprintf(buf, sizeof(buf), "\\x%02x", u);
    return buf;
  }

  bool ParseObject(Value* out, int depth) {
    if (depth > kMaxDepth) return Fail("nesting deeper than 128");
    ++pos_;  // '{'
    Value obj = Value::Object();
    std::vector<std::pair<std::string, Value>> members;
    std::vector<size_t> key_offsets;
    SkipWs();
    if (!AtEnd() && Peek() == '}') {
      ++pos_;
      *out = std::move(obj);
      return true;
    }
    while (true) {
      SkipWs();
      if (AtEnd()) return Fail("unexpected end of input in object");
      if (Peek() != '"') {
        return Fail(Peek() == '}' ? "trailing comma in object" : "expected string key");
      }
      key_offsets.push_back(pos_);
      std::string key;
      if (!ParseString(&key)) return false;
      SkipWs();
      if (AtEnd() || Peek() != ':') return Fail("expected ':'");
      ++pos_;
      SkipWs();
      Value v;
      if (!ParseValue(&v, depth)) return false;
      members.emplace_back(std::move(key), std::move(v));
      SkipWs();
      if (AtEnd()) return Fail("unexpected end of input in object");
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == '}') {
        ++pos_;
        break;
      }
      return Fail("expected ',' or '}'");
    }
    // Duplicate detection in O(n log n); report the later occurrence.
    std::vector<size_t> idx(members.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
      int c = members[a].first.compare(members[b].first);
      return c != 0 ? c < 0 : a < b;
    });
    for (size_t i = 1; i < idx.size(); ++i) {
      if (members[idx[i]].first == members[idx[i - 1]].first) {
        return FailAt(absl::StrCat("duplicate key \"", members[idx[i]].first, "\""),
                      key_offsets[idx[i]]);
      }
    }
    obj.obj_ = std::move(members);
    *out = std::move(obj);
    return true;
  }

  bool ParseArray(Value* out, int depth) {
    if (depth > kMaxDepth) return Fail("nesting deeper than 128");
    ++pos_;  // '['
    Value arr = Value::Array();
    SkipWs();
    if (!AtEnd() && Peek() == ']') {
      ++pos_;
      *out = std::move(arr);
      return true;
    }
    while (true) {
      SkipWs();
      if (!AtEnd() && Peek() == ']') return Fail("trailing comma in array");
      Value v;
      if (!ParseValue(&v, depth)) return false;
      arr.Push(std::move(v));
      SkipWs();
      if (AtEnd()) return Fail("unexpected end of input in array");
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == ']') {
        ++pos_;
        break;
      }
      return Fail("expected ',' or ']'");
    }
    *out = std::move(arr);
    return true;
  }

  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }

  bool ParseNumber(Value* out) {
    size_t start = pos_;
    bool is_int = true;
    if (Peek() == '-') ++pos_;
    if (AtEnd() || !IsDigit(Peek())) return Fail("invalid number: expected digit");
    if (Peek() == '0') {
      ++pos_;
      if (!AtEnd() && IsDigit(Peek())) return Fail("invalid number: leading zero");
    } else {
      while (!AtEnd() && IsDigit(Peek())) ++pos_;
    }
    if (!AtEnd() && Peek() == '.') {
      is_int = false;
      ++pos_;
      if (AtEnd() || !IsDigit(Peek())) return Fail("invalid number: expected digit after '.'");
      while (!AtEnd() && IsDigit(Peek())) ++pos_;
    }
    if (!AtEnd() && (Peek() == 'e' || Peek() == 'E')) {
      is_int = false;
      ++pos_;
      if (!AtEnd() && (Peek() == '+' || Peek() == '-')) ++pos_;
      if (AtEnd() || !IsDigit(Peek())) return Fail("invalid number: expected exponent digit");
      while (!AtEnd() && IsDigit(Peek())) ++pos_;
    }
    const char* first = s_.data() + start;
    const char* last = s_.data() + pos_;
    if (is_int) {
      int64_t i = 0;
      auto r = std::from_chars(first, last, i);
      if (r.ec == std::errc() && r.ptr == last) {
        *out = Value::Int(i);
        return true;
      }
      // Out of int64 range: fall through to double.
    }
    double d = 0;
    auto r = absl::from_chars(first, last, d);
    if (r.ptr != last || r.ec == std::errc::invalid_argument) {
      return FailAt("invalid number", start);
    }
    if (r.ec == std::errc::result_out_of_range && std::fabs(d) > 1.0) {
      return FailAt("number out of range", start);
    }
    if (!std::isfinite(d)) return FailAt("number out of range", start);
    *out = Value::Number(d);
    return true;
  }

  static int HexVal(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // Reads 4 hex digits after "\u" (pos_ at the first digit).
  bool ReadHex4(uint32_t* cp) {
    if (pos_ + 4 > s_.size()) return Fail("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      int h = HexVal(s_[pos_ + i]);
      if (h < 0) return FailAt("invalid hex digit in \\u escape", pos_ + i);
      v = v * 16 + static_cast<uint32_t>(h);
    }
    pos_ += 4;
    *cp = v;
    return true;
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // Length of the valid UTF-8 sequence at pos_ (lead byte >= 0x80), 0 if invalid.
  size_t Utf8SeqLen() const {
    auto b = [&](size_t i) { return static_cast<unsigned char>(s_[pos_ + i]); };
    unsigned char c = b(0);
    size_t n;
    uint32_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 3;
      if (c == 0xE0) lo = 0xA0;  // no overlong
      if (c == 0xED) hi = 0x9F;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;  // <= U+10FFFF
    } else {
      return 0;
    }
    if (pos_ + n > s_.size()) return 0;
    if (b(1) < lo || b(1) > hi) return 0;
    for (size_t i = 2; i < n; ++i) {
      if (b(i) < 0x80 || b(i) > 0xBF) return 0;
    }
    return n;
  }

  bool ParseString(std::string* out) {
    ++pos_;  // opening quote
    while (true) {
      if (AtEnd()) return Fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(Peek());
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return Fail("unescaped control character in string");
      if (c == '\\') {
        ++pos_;
        if (AtEnd()) return Fail("unterminated string");
        char e = Peek();
        ++pos_;
        switch (e) {
          case '"': out->push_back('"'); break;
          case '\\': out->push_back('\\'); break;
          case '/': out->push_back('/'); break;
          case 'b': out->push_back('\b'); break;
          case 'f': out->push_back('\f'); break;
          case 'n': out->push_back('\n'); break;
          case 'r': out->push_back('\r'); break;
          case 't': out->push_back('\t'); break;
          case 'u': {
            size_t esc_start = pos_ - 2;
            uint32_t cp;
            if (!ReadHex4(&cp)) return false;
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
              return FailAt("unpaired low surrogate in \\u escape", esc_start);
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              if (s_.substr(pos_, 2) != "\\u") {
                return FailAt("unpaired high surrogate in \\u escape", esc_start);
              }
              pos_ += 2;
              uint32_t lo;
              if (!ReadHex4(&lo)) return false;
              if (lo < 0xDC00 || lo > 0xDFFF) {
                return FailAt("unpaired high surrogate in \\u escape", esc_start);
              }
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            AppendUtf8(cp, out);
            break;
          }
          default:
            return FailAt(absl::StrCat("invalid escape '\\", Printable(e), "'"), pos_ - 2);
        }
        continue;
      }
      if (c < 0x80) {
        out->push_back(static_cast<char>(c));
        ++pos_;
        continue;
      }
      size_t n = Utf8SeqLen();
      if (n == 0) return Fail("invalid UTF-8 in string");
      out->append(s_.data() + pos_, n);
      pos_ += n;
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
  absl::Status err_;
};

namespace {

// ---------------------------------------------------------------------------
// Serializer

void AppendEscaped(const std::string& s, std::string* out) {
  out->push_back('"');
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          snprintf(buf, sizeof(buf), "\\u%04x", c);
          out->append(buf);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

void AppendDouble(double d, std::string* out) {
  if (!std::isfinite(d)) {
    out->append("null");
    return;
  }
  char buf[64];
  // Shortest representation that round-trips exactly.
  auto r = std::to_chars(buf, buf + sizeof(buf), d);
  std::string_view s(buf, static_cast<size_t>(r.ptr - buf));
  out->append(s);
  // Keep integral doubles recognisable as non-integers ("3.0", not "3").
  if (s.find_first_of(".eE") == std::string_view::npos) out->append(".0");
}

void Newline(int indent, int level, std::string* out) {
  out->push_back('\n');
  out->append(static_cast<size_t>(indent) * static_cast<size_t>(level), ' ');
}

void SerializeTo(const Value& v, int indent, int level, std::string* out) {
  switch (v.type()) {
    case Value::Type::kNull:
      out->append("null");
      return;
    case Value::Type::kBool:
      out->append(v.as_bool() ? "true" : "false");
      return;
    case Value::Type::kNumber:
      if (v.is_integer()) {
        out->append(std::to_string(v.as_int()));
      } else {
        AppendDouble(v.as_number(), out);
      }
      return;
    case Value::Type::kString:
      AppendEscaped(v.as_string(), out);
      return;
    case Value::Type::kArray: {
      const auto& a = v.as_array();
      if (a.empty()) {
        out->append("[]");
        return;
      }
      out->push_back('[');
      for (size_t i = 0; i < a.size(); ++i) {
        if (i > 0) out->push_back(',');
        if (indent >= 0) Newline(indent, level + 1, out);
        SerializeTo(a[i], indent, level + 1, out);
      }
      if (indent >= 0) Newline(indent, level, out);
      out->push_back(']');
      return;
    }
    case Value::Type::kObject: {
      const auto& o = v.as_object();
      if (o.empty()) {
        out->append("{}");
        return;
      }
      out->push_back('{');
      for (size_t i = 0; i < o.size(); ++i) {
        if (i > 0) out->push_back(',');
        if (indent >= 0) Newline(indent, level + 1, out);
        AppendEscaped(o[i].first, out);
        out->append(indent >= 0 ? ": " : ":");
        SerializeTo(o[i].second, indent, level + 1, out);
      }
      if (indent >= 0) Newline(indent, level, out);
      out->push_back('}');
      return;
    }
  }
}

}  // namespace

absl::StatusOr<Value> Parse(std::string_view text) { return JsonParser(text).ParseDocument(); }

std::string Serialize(const Value& v, int indent) {
  std::string out;
  SerializeTo(v, indent, 0, &out);
  return out;
}

}  // namespace eqat::json
