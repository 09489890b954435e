// Added tokens of tokenizer.json ("added_tokens"), matched in the text before
// the model sees it, as AddedVocabulary::extract_and_normalize does in
// tokenizers 0.2x:
//   1. tokens with normalized=false (special tokens usually) are found in
//      the raw text;
//   2. each remaining piece is normalized, then tokens with normalized=true
//      are found in it (their patterns are their normalized content).
// Matching is leftmost-longest. single_word requires no word character
// (Rust regex \w) right before and after; lstrip / rstrip take the
// White_Space run before / after the match into it. Matched tokens are
// never split further.
// Ids: a token whose content is in the model vocab takes that id; otherwise
// ids are handed out like the Rust library (from the model's vocab size up),
// which agrees with the ids written in any file the library saved.
// Thread-safety: immutable after construction; all methods const and
// thread-safe.
#ifndef EQAT_COMMON_HF_TOKENIZER_ADDED_VOCABULARY_H_
#define EQAT_COMMON_HF_TOKENIZER_ADDED_VOCABULARY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/hf_tokenizer/bpe_model.h"
#include "common/hf_tokenizer/normalizers.h"
#include "common/hf_tokenizer/pre_tokenizers.h"
#include "common/hf_tokenizer/regex.h"
#include "common/hf_tokenizer/json_fields.h"

namespace eqat::hf {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

// Leftmost-longest matcher over a set of byte strings (a trie).
class TokenMatcher {
 public:
  void Add(absl::string_view pattern, int32_t value);
  bool empty() const { return terminal_.empty(); }
  // Longest pattern starting at text[pos]: its length and value, or 0.
  size_t LongestAt(absl::string_view text, size_t pos, int32_t* value) const;
  bool MayStartWith(unsigned char b) const { return first_[b]; }

 private:
  absl::flat_hash_map<uint64_t, int32_t> edges_;     // (node << 8 | byte) -> child
  absl::flat_hash_map<int32_t, int32_t> terminal_;   // node -> value
  int32_t nodes_ = 1;                                // node 0: root
  bool first_[256] = {};
};

class AddedVocabulary {
 public:
  // `j` is the "added_tokens" array (null: none). `normalizer` may be null;
  // it is used to build the patterns of normalized tokens.
  static absl::StatusOr<std::unique_ptr<AddedVocabulary>> FromJson(const Json& j,
                                                                   const BpeModel& model,
                                                                   const Normalizer* normalizer,
                                                                   absl::string_view where);

  // Steps 1 and 2 above on `text` (REQUIRES: valid UTF-8): fills *out with
  // the normalized pieces (text in out->buf) and the matched tokens.
  absl::Status ExtractAndNormalize(absl::string_view text, const Normalizer* normalizer,
                                   PieceList* out) const;

  std::optional<int32_t> TokenToId(absl::string_view content) const;
  // The string a decoder is given for an added token id (its normalized
  // form when it has one), or nullptr if `id` is no added token.
  const std::string* IdToToken(int32_t id) const;
  bool IsSpecial(absl::string_view token) const { return special_.contains(token); }
  int32_t max_id() const { return max_id_; }
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  AddedVocabulary() = default;
  // Appends pieces of `s` (offset `base` in the original when at origin)
  // split on `matcher`; the unmatched ones go through `on_text`.
  template <typename OnText>
  absl::Status Split(absl::string_view s, const TokenMatcher& matcher, bool at_origin,
                     OnText on_text, PieceList* out) const;

  std::vector<AddedToken> tokens_;
  absl::flat_hash_map<std::string, int32_t> by_content_;
  absl::flat_hash_map<int32_t, std::string> decode_form_;  // id -> string for decoders
  absl::flat_hash_map<int32_t, size_t> by_id_;             // id -> index in tokens_
  absl::flat_hash_set<std::string> special_;
  TokenMatcher raw_;         // normalized == false
  TokenMatcher normalized_;  // normalized == true, by normalized content
  std::unique_ptr<Regex> word_char_;  // one Rust-regex \w character
  int32_t max_id_ = -1;
};

}  // namespace eqat::hf

#endif  // EQAT_COMMON_HF_TOKENIZER_ADDED_VOCABULARY_H_
