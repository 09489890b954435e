// A model folder's tokenizer: Hugging Face tokenizer.json (the `tokenizers`
// pipeline, common/hf_tokenizer) when the folder has one, as transformers'
// fast tokenizers do, else sentencepiece tokenizer.model. Encode never adds
// BOS/EOS (the evaluation protocol); EncodeWith(text, true) adds what the
// tokenizer's own rules add (tokenizer.json's post-processor; for
// sentencepiece, tokenizer_config.json's add_bos_token (default true) and
// add_eos_token (default false)).
// FailedPrecondition if the sentencepiece shim library cannot be loaded.
// Thread-safety: Encode/Decode are const and safe to call concurrently.
#ifndef EQAT_COMMON_TOKENIZER_H_
#define EQAT_COMMON_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace eqat {

class HfTokenizer;

class Tokenizer {
 public:
  // A sentencepiece file. NotFound / InvalidArgument naming the path when
  // missing or not a model.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const std::string& path);
  // DIR/tokenizer.json (with DIR/tokenizer_config.json when present), else
  // DIR/tokenizer.model. NotFound naming both when the folder has neither;
  // InvalidArgument naming the file and component when one is malformed or
  // uses a component eqat does not implement.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> LoadFromDir(const std::string& dir);
  ~Tokenizer();

  absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text) const;
  struct Encoded {
    std::vector<int32_t> ids;
    // Invalid UTF-8 sequences replaced by U+FFFD (tokenizer.json only; as
    // Python's bytes.decode(errors="replace")); sentencepiece reports 0.
    int64_t replaced_invalid_utf8 = 0;
  };
  absl::StatusOr<Encoded> EncodeWith(std::string_view text, bool add_special_tokens) const;
  std::string Decode(const std::vector<int32_t>& ids) const;
  int vocab_size() const;
  int bos_id() const;  // -1 when the tokenizer has none (e.g. Qwen)
  int eos_id() const;  // -1 when the tokenizer has none
  // "tokenizer.json" or "tokenizer.model": which file was used.
  const std::string& source() const { return source_; }

 private:
  Tokenizer() = default;
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;
  // sentencepiece runs behind a C shim loaded in a private symbol scope
  // (common/spm_shim/spm_shim.h explains why); these are its handle and API.
  void* handle_ = nullptr;
  const void* api_ = nullptr;
  bool spm_add_bos_ = true;
  bool spm_add_eos_ = false;
  std::unique_ptr<HfTokenizer> hf_;  // set for tokenizer.json
  std::string source_ = "tokenizer.model";
};

}  // namespace eqat

#endif  // EQAT_COMMON_TOKENIZER_H_
