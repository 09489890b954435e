// HfTokenizer: the Hugging Face `tokenizers` pipeline described by a
// tokenizer.json, in C++ (no Python, no torch).
//
// Contract: for a supported tokenizer.json, Encode(text, add_special_tokens)
// returns the ids that tokenizers 0.2x's Tokenizer.encode(text,
// add_special_tokens=...).ids returns for the same text, and Decode(ids,
// skip_special_tokens) its decode(). Text that is not valid UTF-8 is first
// repaired like Python's bytes.decode('utf-8', errors='replace') (one U+FFFD
// per maximal invalid subpart); Encoding::replaced_invalid_utf8 counts the
// replacements so callers can warn.
//
// Pipeline: added tokens (raw text) -> normalizer -> added tokens (normalized
// text) -> pre-tokenizer -> BPE model -> post-processor (only with
// add_special_tokens). Supported components (anything else is refused with
// InvalidArgument "<where>: <kind> type '<T>' is not supported"):
//   normalizer     NFC NFD NFKC NFKD Lowercase Strip StripAccents Prepend
//                  Replace Sequence
//   pre_tokenizer  Split ByteLevel Metaspace Digits Punctuation Whitespace
//                  WhitespaceSplit Sequence
//   model          BPE
//   post_processor TemplateProcessing BertProcessing RobertaProcessing
//                  ByteLevel Sequence
//   decoder        ByteLevel Metaspace ByteFallback Fuse Strip Replace Sequence
// Ignored: "truncation", "padding" (eqat windows its own sequences), BPE
// "dropout", offsets / type ids / attention masks (ids only), the "pair"
// template.
//
// Thread-safety: an HfTokenizer is immutable after FromJson/LoadFromDir
// except for an internal, locked BPE cache; Encode, Decode and every
// accessor are const and safe to call from several threads at once.
#ifndef EQAT_COMMON_HF_TOKENIZER_HF_TOKENIZER_H_
#define EQAT_COMMON_HF_TOKENIZER_HF_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace eqat {

namespace hf {
class AddedVocabulary;
class BpeModel;
class Decoder;
class Normalizer;
class PostProcessor;
class PreTokenizer;
}  // namespace hf

class HfTokenizer {
 public:
  // Parses tokenizer.json text (and tokenizer_config.json text, which may be
  // empty; it is read for bos_token / eos_token only). `where` names the
  // source in messages (e.g. the path). InvalidArgument for malformed or
  // truncated JSON ("<where>: invalid JSON: ...") and for unsupported
  // components or bad fields (naming them).
  static absl::StatusOr<std::unique_ptr<HfTokenizer>> FromJson(std::string_view tokenizer_json,
                                                               std::string_view tokenizer_config_json,
                                                               std::string_view where);
  // Reads DIR/tokenizer.json and, if present, DIR/tokenizer_config.json.
  // NotFound naming the path when tokenizer.json is missing; FromJson's
  // errors otherwise.
  static absl::StatusOr<std::unique_ptr<HfTokenizer>> LoadFromDir(const std::string& dir);

  ~HfTokenizer();
  HfTokenizer(const HfTokenizer&) = delete;
  HfTokenizer& operator=(const HfTokenizer&) = delete;

  struct Encoding {
    std::vector<int32_t> ids;
    int64_t replaced_invalid_utf8 = 0;  // U+FFFD substitutions made in the input
  };
  // Errors: InvalidArgument when the BPE unk_token is needed but missing
  // from the vocab; Internal on a regex engine failure (e.g. JIT stack).
  absl::StatusOr<Encoding> Encode(std::string_view text, bool add_special_tokens) const;

  // Unknown ids are skipped; with skip_special_tokens, so are special added
  // tokens. Always valid UTF-8.
  std::string Decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const;

  // max id + 1 over the model vocab and the added tokens.
  int vocab_size() const;
  // Added tokens first, then the model vocab.
  std::optional<int32_t> TokenToId(std::string_view token) const;
  // The token string of `id` (added token or model vocab), nullopt if none.
  std::optional<std::string> IdToToken(int32_t id) const;
  // tokenizer_config.json bos_token (a string or {"content": ..}); else the
  // special token the post-processor's single template puts first (before
  // the sequence); else none.
  std::optional<int32_t> bos_id() const { return bos_id_; }
  // tokenizer_config.json eos_token; else none.
  std::optional<int32_t> eos_id() const { return eos_id_; }

 private:
  HfTokenizer();

  std::unique_ptr<hf::Normalizer> normalizer_;
  std::unique_ptr<hf::PreTokenizer> pre_tokenizer_;
  std::unique_ptr<hf::BpeModel> model_;
  std::unique_ptr<hf::AddedVocabulary> added_;
  std::unique_ptr<hf::PostProcessor> post_processor_;
  std::unique_ptr<hf::Decoder> decoder_;
  std::optional<int32_t> bos_id_;
  std::optional<int32_t> eos_id_;
};

}  // namespace eqat

#endif  // EQAT_COMMON_HF_TOKENIZER_HF_TOKENIZER_H_
