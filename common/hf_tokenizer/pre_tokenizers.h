// Pre-tokenizers of tokenizer.json ("pre_tokenizer" field): Split, ByteLevel,
// Metaspace, Digits, Punctuation, Whitespace, WhitespaceSplit, Sequence.
//
// The text moves through the pipeline as a PieceList: one buffer and spans
// into it. A span with token_id >= 0 is an added token already resolved (its
// text is not kept) and is passed through untouched, as the Rust library does
// with splits that already carry tokens. Empty pieces are dropped.
// Semantics are those of tokenizers 0.2x (pre_tokenizers/*.rs): split
// behaviours Removed / Isolated / MergedWithPrevious / MergedWithNext /
// Contiguous over the match list, `invert` flipping matches; ByteLevel's
// add_prefix_space applies to every piece that does not start with ' ';
// Metaspace prepend_scheme "first" applies only to a piece that starts at
// offset 0 of the original input (Piece::at_origin).
// Thread-safety: immutable after construction; PreTokenize is const and
// thread-safe.
#ifndef EQAT_COMMON_HF_TOKENIZER_PRE_TOKENIZERS_H_
#define EQAT_COMMON_HF_TOKENIZER_PRE_TOKENIZERS_H_

#include <cstdint>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/hf_tokenizer/json_fields.h"

namespace eqat::hf {

struct Piece {
  uint32_t begin = 0;     // byte offsets into PieceList::buf
  uint32_t end = 0;
  int32_t token_id = -1;  // >= 0: an added token; begin/end unused
  bool at_origin = false; // starts at byte 0 of the original input
};

struct PieceList {
  std::string buf;
  std::vector<Piece> pieces;
  absl::string_view text(const Piece& p) const {
    return absl::string_view(buf).substr(p.begin, p.end - p.begin);
  }
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Rewrites *pl (REQUIRES: buf valid UTF-8). Internal on regex failures.
  virtual absl::Status PreTokenize(PieceList* pl) const = 0;
};

// The ByteLevel byte -> character table (GPT-2's bytes_to_unicode), each as
// UTF-8, and its inverse (code point -> byte, -1 where none).
const std::string& ByteLevelChar(uint8_t b);
int ByteLevelByte(char32_t cp);

// Builds the pre-tokenizer described by `j`; JSON null gives nullptr.
// InvalidArgument "<where>: pre_tokenizer type 'X' is not supported" or
// naming a bad field.
absl::StatusOr<std::unique_ptr<PreTokenizer>> MakePreTokenizer(const Json& j,
                                                               absl::string_view where);

}  // namespace eqat::hf

#endif  // EQAT_COMMON_HF_TOKENIZER_PRE_TOKENIZERS_H_
