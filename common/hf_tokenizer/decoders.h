// Decoders of tokenizer.json ("decoder"): ByteLevel, Metaspace, ByteFallback,
// Fuse, Strip, Replace, Sequence, with the decode_chain semantics of
// tokenizers 0.2x: each decoder maps the list of token strings to a new
// list; the final text is their concatenation.
//   ByteLevel    all tokens -> bytes through the GPT-2 table (a token with a
//                character outside the table keeps its UTF-8 bytes), then
//                lossy UTF-8 (U+FFFD per maximal invalid subpart)
//   Metaspace    replacement -> ' '; in the first token the replacement is
//                dropped instead, unless prepend_scheme is "never"
//   ByteFallback runs of <0xNN> tokens -> their bytes if valid UTF-8, else
//                one U+FFFD per byte
//   Fuse         everything into one token
//   Strip        up to `start` leading / `stop` trailing `content` characters
//   Replace      every match of the pattern -> content
// Thread-safety: immutable after construction; DecodeChain is const and
// thread-safe.
#ifndef EQAT_COMMON_HF_TOKENIZER_DECODERS_H_
#define EQAT_COMMON_HF_TOKENIZER_DECODERS_H_

#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "common/hf_tokenizer/json_fields.h"

namespace eqat::hf {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // REQUIRES: every token valid UTF-8. Leaves valid UTF-8.
  virtual void DecodeChain(std::vector<std::string>* tokens) const = 0;
};

// JSON null gives nullptr. InvalidArgument "<where>: decoder type 'X' is not
// supported" or naming a bad field.
absl::StatusOr<std::unique_ptr<Decoder>> MakeDecoder(const Json& j, absl::string_view where);

}  // namespace eqat::hf

#endif  // EQAT_COMMON_HF_TOKENIZER_DECODERS_H_
