// Regular expressions of tokenizer.json, run with PCRE2 (UTF + UCP + JIT).
//
// tokenizer.json patterns are written for Oniguruma (Rust `onig`), so
// Regex::FromOniguruma translates the few constructs whose meaning differs in
// PCRE2 before compiling:
//   \s, \S   -> the Unicode White_Space set (PCRE2 also counts U+180E);
//   \w, \W   -> Oniguruma's word set [\p{L}\p{M}\p{N}\p{Pc}] (PCRE2 10.42 UCP
//               \w lacks marks and Pc other than '_');
//   \h, \H   -> hex digits (Oniguruma's meaning; PCRE2's is horizontal space);
//   \uHHHH   -> \x{HHHH}.
// \p{..}, (?i:..), look-around, atomic groups and possessive quantifiers mean
// the same in both and pass through. Refused (InvalidArgument): nested
// character classes and class intersection (`[a-z&&[^x]]`), \W / \H inside a
// class. FindAll enumerates matches like onig's find_iter: an empty match
// right where the previous match ended is skipped by advancing one character.
//
// Thread-safety: a compiled Regex is immutable; FindAll is const and safe from
// several threads at once (each thread reuses its own PCRE2 match data and JIT
// stack).
#ifndef EQAT_COMMON_HF_TOKENIZER_REGEX_H_
#define EQAT_COMMON_HF_TOKENIZER_REGEX_H_

#include <cstdint>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct pcre2_real_code_8;

namespace eqat::hf {

// Byte offsets [first, second) of one match.
using MatchSpan = std::pair<uint32_t, uint32_t>;

// Oniguruma pattern -> PCRE2 pattern (see the file comment). InvalidArgument
// for the constructs that are refused.
absl::StatusOr<std::string> TranslateOniguruma(absl::string_view pattern);

class Regex {
 public:
  // Compiles an Oniguruma pattern (translated) / a PCRE2 pattern / a literal.
  // InvalidArgument "regex '<pattern>': <PCRE2 message> at offset N".
  static absl::StatusOr<std::unique_ptr<Regex>> FromOniguruma(absl::string_view pattern);
  static absl::StatusOr<std::unique_ptr<Regex>> FromPcre2(absl::string_view pattern);
  static absl::StatusOr<std::unique_ptr<Regex>> FromLiteral(absl::string_view literal);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends every match in `text` (REQUIRES: valid UTF-8) to *out, in order.
  // Internal on PCRE2 match failures (e.g. JIT stack exhausted).
  absl::Status FindAll(absl::string_view text, std::vector<MatchSpan>* out) const;

  // Replaces every match in *text (REQUIRES: valid UTF-8) by `content`
  // (the Replace normalizer and decoder). FindAll's errors; *text unchanged.
  absl::Status ReplaceAll(std::string* text, absl::string_view content) const;

  // Whether the whole of `text` (REQUIRES: valid UTF-8) matches.
  bool FullMatch(absl::string_view text) const;

  const std::string& pattern() const { return pattern_; }

 private:
  Regex(pcre2_real_code_8* code, bool jit, std::string pattern)
      : code_(code), jit_(jit), pattern_(std::move(pattern)) {}
  static absl::StatusOr<std::unique_ptr<Regex>> Compile(absl::string_view pattern,
                                                        uint32_t extra_options,
                                                        std::string shown);
  pcre2_real_code_8* code_;
  bool jit_;
  std::string pattern_;  // as given (before translation), for messages
};

}  // namespace eqat::hf

#endif  // EQAT_COMMON_HF_TOKENIZER_REGEX_H_
