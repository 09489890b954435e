// sentencepiece tokenizer (tokenizer.model). Never adds BOS/EOS by itself.
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

class Tokenizer {
 public:
  // NotFound / InvalidArgument naming the path when missing or not a model.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const std::string& path);
  ~Tokenizer();

  absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text) const;
  std::string Decode(const std::vector<int32_t>& ids) const;
  int vocab_size() const;
  int bos_id() const;
  int eos_id() const;

 private:
  Tokenizer() = default;
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;
  // sentencepiece runs behind a C shim loaded in a private symbol scope
  // (common/spm_shim/spm_shim.h explains why); these are its handle and API.
  void* handle_ = nullptr;
  const void* api_ = nullptr;
};

}  // namespace eqat

#endif  // EQAT_COMMON_TOKENIZER_H_
