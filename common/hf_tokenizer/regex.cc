#include "absl/strings/string_view.h"
#include "common/hf_tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "absl/strings/str_cat.h"
#include "common/hf_tokenizer/utf8.h"

namespace eqat::hf {
namespace {

// Unicode White_Space, as ranges inside a character class.
constexpr char kSpaceRanges[] =
    "\\x{9}-\\x{D}\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}"
    "\\x{202F}\\x{205F}\\x{3000}";
// Its complement (for \S inside a class).
constexpr char kNonSpaceRanges[] =
    "\\x{0}-\\x{8}\\x{E}-\\x{1F}\\x{21}-\\x{84}\\x{86}-\\x{9F}\\x{A1}-\\x{167F}"
    "\\x{1681}-\\x{1FFF}\\x{200B}-\\x{2027}\\x{202A}-\\x{202E}\\x{2030}-\\x{205E}"
    "\\x{2060}-\\x{2FFF}\\x{3001}-\\x{10FFFF}";
constexpr char kWordSet[] = "\\p{L}\\p{M}\\p{N}\\p{Pc}";

// Per-thread PCRE2 scratch: one match data (group 0 only is read) and a JIT
// stack large enough for long runs of `\s+(?!\S)`.
struct MatchScratch {
  pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 << 10, 8 << 20, nullptr);
  pcre2_match_context* ctx = pcre2_match_context_create(nullptr);
  MatchScratch() { pcre2_jit_stack_assign(ctx, nullptr, stack); }
  ~MatchScratch() {
    pcre2_match_context_free(ctx);
    pcre2_jit_stack_free(stack);
    pcre2_match_data_free(md);
  }
};

MatchScratch& Scratch() {
  thread_local MatchScratch scratch;
  return scratch;
}

}  // namespace

absl::StatusOr<std::string> TranslateOniguruma(absl::string_view p) {
  std::string out;
  out.reserve(p.size() + 16);
  bool in_class = false;
  size_t i = 0;
  auto refuse = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("regex '", p, "': ", what, " is not supported"));
  };
  while (i < p.size()) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      char e = p[i + 1];
      i += 2;
      switch (e) {
        case 's': out += in_class ? std::string(kSpaceRanges) : absl::StrCat("[", kSpaceRanges, "]"); break;
        case 'S': out += in_class ? std::string(kNonSpaceRanges) : absl::StrCat("[^", kSpaceRanges, "]"); break;
        case 'w': out += in_class ? std::string(kWordSet) : absl::StrCat("[", kWordSet, "]"); break;
        case 'W':
          if (in_class) return refuse("\\W inside a character class");
          out += absl::StrCat("[^", kWordSet, "]");
          break;
        case 'h': out += in_class ? "0-9a-fA-F" : "[0-9a-fA-F]"; break;
        case 'H':
          if (in_class) return refuse("\\H inside a character class");
          out += "[^0-9a-fA-F]";
          break;
        case 'u': {
          size_t j = i;
          while (j < p.size() && j < i + 4 && isxdigit(static_cast<unsigned char>(p[j]))) ++j;
          if (j != i + 4) return refuse("\\u without four hex digits");
          out += absl::StrCat("\\x{", p.substr(i, 4), "}");
          i = j;
          break;
        }
        default:
          out.push_back('\\');
          out.push_back(e);
      }
      continue;
    }
    if (in_class) {
      if (c == '[') {
        if (i + 1 < p.size() && p[i + 1] == ':') {  // POSIX [:alpha:]
          size_t end = p.find(":]", i + 2);
          if (end == absl::string_view::npos) return refuse("unterminated POSIX class");
          out.append(p.data() + i, end + 2 - i);
          i = end + 2;
          continue;
        }
        return refuse("a nested character class");
      }
      if (c == '&' && i + 1 < p.size() && p[i + 1] == '&') return refuse("class intersection '&&'");
      if (c == ']') in_class = false;
      out.push_back(c);
      ++i;
      continue;
    }
    if (c == '[') {
      in_class = true;
      out.push_back(c);
      ++i;
      if (i < p.size() && p[i] == '^') out.push_back(p[i++]);
      if (i < p.size() && p[i] == ']') out.push_back(p[i++]);  // literal ']' first
      continue;
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Regex>> Regex::Compile(absl::string_view pattern,
                                                      uint32_t extra_options,
                                                      std::string shown) {
  int err = 0;
  PCRE2_SIZE err_off = 0;
  uint32_t options = PCRE2_UTF | PCRE2_NO_UTF_CHECK | extra_options;
  if (!(extra_options & PCRE2_LITERAL)) options |= PCRE2_UCP;  // LITERAL refuses UCP
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   options, &err, &err_off, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(err, buf, sizeof(buf));
    return absl::InvalidArgumentError(absl::StrCat("regex '", shown, "': ",
                                                   reinterpret_cast<const char*>(buf),
                                                   " at offset ", err_off));
  }
  bool jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return std::unique_ptr<Regex>(new Regex(code, jit, std::move(shown)));
}

absl::StatusOr<std::unique_ptr<Regex>> Regex::FromOniguruma(absl::string_view pattern) {
  auto translated = TranslateOniguruma(pattern);
  if (!translated.ok()) return translated.status();
  return Compile(*translated, 0, std::string(pattern));
}

absl::StatusOr<std::unique_ptr<Regex>> Regex::FromPcre2(absl::string_view pattern) {
  return Compile(pattern, 0, std::string(pattern));
}

absl::StatusOr<std::unique_ptr<Regex>> Regex::FromLiteral(absl::string_view literal) {
  return Compile(literal, PCRE2_LITERAL, std::string(literal));
}

Regex::~Regex() { pcre2_code_free(code_); }

absl::Status Regex::FindAll(absl::string_view text, std::vector<MatchSpan>* out) const {
  MatchScratch& s = Scratch();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  const size_t n = text.size();
  size_t last_end = 0;
  bool have_prev = false;
  size_t prev_match_end = 0;
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(s.md);
  while (last_end <= n) {
    int rc = jit_ ? pcre2_jit_match(code_, subject, n, last_end, 0, s.md, s.ctx)
                  : pcre2_match(code_, subject, n, last_end, PCRE2_NO_UTF_CHECK, s.md, s.ctx);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0 && rc != 0) {
      PCRE2_UCHAR buf[256];
      pcre2_get_error_message(rc, buf, sizeof(buf));
      return absl::InternalError(absl::StrCat("regex '", pattern_, "': match failed: ",
                                              reinterpret_cast<const char*>(buf)));
    }
    size_t b = ov[0], e = ov[1];
    if (b == e && have_prev && prev_match_end == e) {
      if (last_end >= n) break;
      last_end += Utf8Len(static_cast<unsigned char>(text[last_end]));
      continue;
    }
    out->emplace_back(static_cast<uint32_t>(b), static_cast<uint32_t>(e));
    last_end = e;
    have_prev = true;
    prev_match_end = e;
  }
  return absl::OkStatus();
}

absl::Status Regex::ReplaceAll(std::string* text, absl::string_view content) const {
  std::vector<MatchSpan> matches;
  absl::Status st = FindAll(*text, &matches);
  if (!st.ok() || matches.empty()) return st;
  std::string out;
  out.reserve(text->size());
  size_t last = 0;
  for (const MatchSpan& m : matches) {
    out.append(*text, last, m.first - last);
    out.append(content.data(), content.size());
    last = m.second;
  }
  out.append(*text, last, std::string::npos);
  *text = std::move(out);
  return absl::OkStatus();
}

bool Regex::FullMatch(absl::string_view text) const {
  MatchScratch& s = Scratch();
  int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0,
                       PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_NO_UTF_CHECK, s.md, s.ctx);
  return rc >= 0;
}

}  // namespace eqat::hf
