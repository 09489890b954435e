// Normalizers of tokenizer.json ("normalizer" field): NFC, NFD, NFKC, NFKD,
// Lowercase, Strip, StripAccents, Prepend, Replace, Sequence. They rewrite a
// string in place; unlike the Rust library no offset alignment is kept (eqat
// needs ids only).
// Semantics follow tokenizers 0.2x: Lowercase is Rust's per-character
// char::to_lowercase (U+0130 -> "i\u0307", no final-sigma rule); Strip
// removes White_Space; Prepend adds its text only to a non-empty string;
// Replace substitutes every match of a String (literal) or Regex pattern.
// Unicode forms use utf8proc, whose Unicode version may differ from the Rust
// crate's for recently assigned characters.
// Thread-safety: immutable after construction; Normalize is const and
// thread-safe.
#ifndef EQAT_COMMON_HF_TOKENIZER_NORMALIZERS_H_
#define EQAT_COMMON_HF_TOKENIZER_NORMALIZERS_H_

#include <memory>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/hf_tokenizer/json_fields.h"

namespace eqat::hf {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // REQUIRES: *s is valid UTF-8. Leaves valid UTF-8.
  virtual absl::Status Normalize(std::string* s) const = 0;
};

// Builds the normalizer described by `j`. A JSON null gives nullptr (no
// normalizer). InvalidArgument "<where>: normalizer type 'X' is not
// supported" or naming a bad field.
absl::StatusOr<std::unique_ptr<Normalizer>> MakeNormalizer(const Json& j, absl::string_view where);

}  // namespace eqat::hf

#endif  // EQAT_COMMON_HF_TOKENIZER_NORMALIZERS_H_
