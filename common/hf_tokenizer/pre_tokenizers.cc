#include "absl/strings/string_view.h"
#include "common/hf_tokenizer/pre_tokenizers.h"

#include <array>
#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/hf_tokenizer/json_fields.h"
#include "common/hf_tokenizer/regex.h"
#include "common/hf_tokenizer/split.h"
#include "common/hf_tokenizer/utf8.h"
#include "common/status_macros.h"

namespace eqat::hf {
namespace {

struct ByteTables {
  std::array<std::string, 256> chars;
  std::array<int16_t, 512> bytes;  // code point (< 512) -> byte
  ByteTables() {
    bytes.fill(-1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      bool direct = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      char32_t cp = direct ? b : 256 + n++;
      AppendUtf8(cp, &chars[b]);
      bytes[cp] = static_cast<int16_t>(b);
    }
  }
};

const ByteTables& Tables() {
  static const ByteTables* t = new ByteTables();
  return *t;
}

// Splits every non-token piece with `segments(text, &segs)` and `behavior`;
// the sub-pieces stay in the same buffer.
template <typename SegFn>
absl::Status SplitPieces(PieceList* pl, SplitBehavior behavior, SegFn segments) {
  std::vector<Piece> out;
  out.reserve(pl->pieces.size() * 2);
  std::vector<Segment> segs;
  std::vector<MatchSpan> keep;
  for (const Piece& p : pl->pieces) {
    if (p.token_id >= 0) {
      out.push_back(p);
      continue;
    }
    segs.clear();
    keep.clear();
    RETURN_IF_ERROR(segments(pl->text(p), &segs));
    ApplySplitBehavior(segs, behavior, &keep);
    for (const MatchSpan& k : keep) {
      if (k.first == k.second) continue;
      Piece q;
      q.begin = p.begin + k.first;
      q.end = p.begin + k.second;
      q.at_origin = p.at_origin && k.first == 0;
      out.push_back(q);
    }
  }
  pl->pieces = std::move(out);
  return absl::OkStatus();
}

class RegexSplit : public PreTokenizer {
 public:
  RegexSplit(std::unique_ptr<Regex> re, SplitBehavior behavior, bool invert)
      : re_(std::move(re)), behavior_(behavior), invert_(invert) {}
  absl::Status PreTokenize(PieceList* pl) const override {
    std::vector<MatchSpan> matches;
    return SplitPieces(pl, behavior_, [&](absl::string_view s, std::vector<Segment>* segs) {
      matches.clear();
      RETURN_IF_ERROR(re_->FindAll(s, &matches));
      SegmentsFromMatches(matches, static_cast<uint32_t>(s.size()), invert_, segs);
      return absl::OkStatus();
    });
  }

 private:
  std::unique_ptr<Regex> re_;
  SplitBehavior behavior_;
  bool invert_;
};

class CharSplit : public PreTokenizer {
 public:
  CharSplit(bool (*pred)(char32_t), SplitBehavior behavior) : pred_(pred), behavior_(behavior) {}
  absl::Status PreTokenize(PieceList* pl) const override {
    return SplitPieces(pl, behavior_, [&](absl::string_view s, std::vector<Segment>* segs) {
      SegmentsFromChars(s, pred_, false, segs);
      return absl::OkStatus();
    });
  }

 private:
  bool (*pred_)(char32_t);
  SplitBehavior behavior_;
};

// Rewrites every non-token piece into a new buffer: `emit(text, at_origin,
// out)` appends the replacement pieces (offsets into out->buf).
template <typename EmitFn>
absl::Status RewritePieces(PieceList* pl, EmitFn emit) {
  PieceList out;
  out.buf.reserve(pl->buf.size() + pl->buf.size() / 4);
  out.pieces.reserve(pl->pieces.size());
  for (const Piece& p : pl->pieces) {
    if (p.token_id >= 0) {
      out.pieces.push_back(p);
      continue;
    }
    RETURN_IF_ERROR(emit(pl->text(p), p.at_origin, &out));
  }
  *pl = std::move(out);
  return absl::OkStatus();
}

class ByteLevel : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, std::unique_ptr<Regex> re)
      : add_prefix_space_(add_prefix_space), re_(std::move(re)) {}
  absl::Status PreTokenize(PieceList* pl) const override {
    const ByteTables& t = Tables();
    std::vector<MatchSpan> matches;
    std::string prefixed;
    return RewritePieces(pl, [&](absl::string_view text, bool at_origin, PieceList* out) {
      if (add_prefix_space_ && (text.empty() || text[0] != ' ')) {
        prefixed.assign(" ");
        prefixed.append(text.data(), text.size());
        text = prefixed;
      }
      auto emit = [&](absl::string_view s, bool origin) {
        if (s.empty()) return;
        Piece q;
        q.begin = static_cast<uint32_t>(out->buf.size());
        for (unsigned char b : s) out->buf += t.chars[b];
        q.end = static_cast<uint32_t>(out->buf.size());
        q.at_origin = origin;
        out->pieces.push_back(q);
      };
      if (!re_) {
        emit(text, at_origin);
        return absl::OkStatus();
      }
      matches.clear();
      RETURN_IF_ERROR(re_->FindAll(text, &matches));
      uint32_t prev = 0;
      for (const MatchSpan& m : matches) {  // Isolated: matches and gaps alike
        if (prev < m.first) emit(text.substr(prev, m.first - prev), at_origin && prev == 0);
        emit(text.substr(m.first, m.second - m.first), at_origin && m.first == 0);
        prev = m.second;
      }
      if (prev < text.size()) emit(text.substr(prev), at_origin && prev == 0);
      return absl::OkStatus();
    });
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> re_;  // null: use_regex false
};

enum class PrependScheme { kAlways, kFirst, kNever };

class Metaspace : public PreTokenizer {
 public:
  Metaspace(char32_t replacement, PrependScheme scheme, bool split)
      : scheme_(scheme), split_(split), replacement_cp_(replacement) {
    AppendUtf8(replacement, &replacement_);
  }
  absl::Status PreTokenize(PieceList* pl) const override {
    std::string tmp;
    std::vector<Segment> segs;
    std::vector<MatchSpan> keep;
    return RewritePieces(pl, [&](absl::string_view text, bool at_origin, PieceList* out) {
      tmp.clear();
      for (char c : text) {
        if (c == ' ') {
          tmp += replacement_;
        } else {
          tmp.push_back(c);
        }
      }
      bool starts = tmp.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts && (scheme_ == PrependScheme::kAlways ||
                      (scheme_ == PrependScheme::kFirst && at_origin))) {
        tmp.insert(0, replacement_);
      }
      auto emit = [&](uint32_t b, uint32_t e) {
        if (b == e) return;
        Piece q;
        q.begin = static_cast<uint32_t>(out->buf.size());
        out->buf.append(tmp, b, e - b);
        q.end = static_cast<uint32_t>(out->buf.size());
        q.at_origin = at_origin && b == 0;
        out->pieces.push_back(q);
      };
      if (!split_) {
        emit(0, static_cast<uint32_t>(tmp.size()));
        return absl::OkStatus();
      }
      segs.clear();
      keep.clear();
      char32_t r = replacement_cp_;
      SegmentsFromChars(tmp, [r](char32_t c) { return c == r; }, false, &segs);
      ApplySplitBehavior(segs, SplitBehavior::kMergedWithNext, &keep);
      for (const MatchSpan& k : keep) emit(k.first, k.second);
      return absl::OkStatus();
    });
  }

 private:
  PrependScheme scheme_;
  bool split_;
  char32_t replacement_cp_;
  std::string replacement_;
};

class Sequence : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  absl::Status PreTokenize(PieceList* pl) const override {
    for (const auto& p : parts_) RETURN_IF_ERROR(p->PreTokenize(pl));
    return absl::OkStatus();
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

constexpr char kGpt2Pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
// Rust `regex` crate \w (Whitespace uses that crate, not Oniguruma) and \s.
constexpr char kRustWord[] = "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}";
constexpr char kRustSpace[] =
    "\\x{9}-\\x{D}\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}"
    "\\x{202F}\\x{205F}\\x{3000}";

bool IsDigitChar(char32_t c) { return IsNumeric(c); }
bool IsPunctChar(char32_t c) { return IsPunctuation(c); }
bool IsSpaceChar(char32_t c) { return IsWhiteSpace(c); }

}  // namespace

const std::string& ByteLevelChar(uint8_t b) { return Tables().chars[b]; }

int ByteLevelByte(char32_t cp) { return cp < 512 ? Tables().bytes[cp] : -1; }

absl::StatusOr<std::unique_ptr<PreTokenizer>> MakePreTokenizer(const Json& j,
                                                               absl::string_view where) {
  using Ptr = std::unique_ptr<PreTokenizer>;
  if (j.is_null()) return Ptr();
  const JsonCtx ctx{where, "pre_tokenizer"};
  ASSIGN_OR_RETURN(std::string type, TypeOf(j, ctx));
  auto behavior_of = [&](const char* def) -> absl::StatusOr<SplitBehavior> {
    ASSIGN_OR_RETURN(std::string name, OptString(j, "behavior", def, ctx, type));
    auto b = ParseSplitBehavior(name);
    if (!b.ok()) return BadField(ctx, type, b.status().message());
    return b;
  };
  if (type == "Split") {
    ASSIGN_OR_RETURN(std::unique_ptr<Regex> re, ReqPattern(j, "pattern", ctx, type));
    ASSIGN_OR_RETURN(SplitBehavior behavior, behavior_of("Removed"));
    ASSIGN_OR_RETURN(bool invert, OptBool(j, "invert", false, ctx, type));
    return Ptr(new RegexSplit(std::move(re), behavior, invert));
  }
  if (type == "ByteLevel") {
    ASSIGN_OR_RETURN(bool prefix, OptBool(j, "add_prefix_space", true, ctx, type));
    ASSIGN_OR_RETURN(bool use_regex, OptBool(j, "use_regex", true, ctx, type));
    std::unique_ptr<Regex> re;
    if (use_regex) {
      ASSIGN_OR_RETURN(re, Regex::FromOniguruma(kGpt2Pattern));
    }
    return Ptr(new ByteLevel(prefix, std::move(re)));
  }
  if (type == "Metaspace") {
    ASSIGN_OR_RETURN(char32_t replacement, ReqChar(j, "replacement", ctx, type));
    ASSIGN_OR_RETURN(bool split, OptBool(j, "split", true, ctx, type));
    PrependScheme scheme = PrependScheme::kAlways;
    bool has_scheme = j.contains("prepend_scheme") && !j["prepend_scheme"].is_null();
    if (has_scheme) {
      ASSIGN_OR_RETURN(std::string s, ReqString(j, "prepend_scheme", ctx, type));
      if (s == "always") {
        scheme = PrependScheme::kAlways;
      } else if (s == "first") {
        scheme = PrependScheme::kFirst;
      } else if (s == "never") {
        scheme = PrependScheme::kNever;
      } else {
        return BadField(ctx, type, absl::StrCat("unknown prepend_scheme '", s, "'"));
      }
    }
    ASSIGN_OR_RETURN(bool add_prefix, OptBool(j, "add_prefix_space", true, ctx, type));
    if (!add_prefix) {
      if (has_scheme && scheme != PrependScheme::kNever) {
        return BadField(ctx, type, "add_prefix_space does not match declared prepend_scheme");
      }
      scheme = PrependScheme::kNever;
    }
    return Ptr(new Metaspace(replacement, scheme, split));
  }
  if (type == "Digits") {
    ASSIGN_OR_RETURN(bool individual, OptBool(j, "individual_digits", false, ctx, type));
    return Ptr(new CharSplit(&IsDigitChar, individual ? SplitBehavior::kIsolated
                                                      : SplitBehavior::kContiguous));
  }
  if (type == "Punctuation") {
    ASSIGN_OR_RETURN(SplitBehavior behavior, behavior_of("Isolated"));
    return Ptr(new CharSplit(&IsPunctChar, behavior));
  }
  if (type == "WhitespaceSplit") {
    return Ptr(new CharSplit(&IsSpaceChar, SplitBehavior::kRemoved));
  }
  if (type == "Whitespace") {
    ASSIGN_OR_RETURN(std::unique_ptr<Regex> re,
                     Regex::FromPcre2(absl::StrCat("[", kRustWord, "]+|[^", kRustWord, kRustSpace, "]+")));
    return Ptr(new RegexSplit(std::move(re), SplitBehavior::kRemoved, /*invert=*/true));
  }
  if (type == "Sequence") {
    auto it = j.find("pretokenizers");
    if (it == j.end() || !it->is_array()) {
      return BadField(ctx, type, "field 'pretokenizers' must be an array");
    }
    std::vector<Ptr> parts;
    for (const Json& part : *it) {
      ASSIGN_OR_RETURN(Ptr p, MakePreTokenizer(part, where));
      if (p) parts.push_back(std::move(p));
    }
    return Ptr(new Sequence(std::move(parts)));
  }
  return Unsupported(ctx, type);
}

}  // namespace eqat::hf
