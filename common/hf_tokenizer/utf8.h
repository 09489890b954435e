// UTF-8 helpers for the Hugging Face tokenizer pipeline: decoding and encoding
// code points, repairing invalid input exactly as Python's
// bytes.decode('utf-8', errors='replace') does, and the few Unicode
// predicates the pipeline needs (Rust's char::is_whitespace, is_numeric,
// is_alphanumeric, and the punctuation test of the Punctuation pre-tokenizer).
// Thread-safety: pure functions, safe from any thread.
#ifndef EQAT_COMMON_HF_TOKENIZER_UTF8_H_
#define EQAT_COMMON_HF_TOKENIZER_UTF8_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

namespace eqat::hf {

// Appends the UTF-8 encoding of `cp` (REQUIRES: a Unicode scalar value).
void AppendUtf8(char32_t cp, std::string* out);

// Decodes the code point starting at s[*pos] and advances *pos past it.
// REQUIRES: s is valid UTF-8 and *pos < s.size() sits on a character start.
char32_t DecodeUtf8(absl::string_view s, size_t* pos);

// Length in bytes of the UTF-8 sequence whose lead byte is `lead`
// (1 for ASCII and, defensively, for continuation bytes).
inline size_t Utf8Len(unsigned char lead) {
  return lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

// Copies `in` to *out, replacing every maximal invalid subsequence (Unicode
// "maximal subpart" practice, as CPython and Rust's from_utf8_lossy do) with
// U+FFFD. Returns the number of replacements (0: *out == in).
int64_t SanitizeUtf8(absl::string_view in, std::string* out);

// Rust char::is_whitespace: the Unicode White_Space property.
bool IsWhiteSpace(char32_t cp);
// Rust char::is_numeric: general categories Nd, Nl, No.
bool IsNumeric(char32_t cp);
// Punctuation pre-tokenizer: ASCII punctuation or categories Pc Pd Ps Pe Pi Pf Po.
bool IsPunctuation(char32_t cp);
// General category M (Mn, Mc, Me).
bool IsCombiningMark(char32_t cp);

}  // namespace eqat::hf

#endif  // EQAT_COMMON_HF_TOKENIZER_UTF8_H_
