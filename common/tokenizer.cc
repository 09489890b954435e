#include "common/tokenizer.h"

// sentencepiece's header declares `namespace absl { using std::string_view; }`
// and spells its parameters absl::string_view (its library is built against
// std::string_view). Debian's Abseil has its own absl::string_view class, so
// the two clash in one translation unit. Renaming the token `absl` while the
// header is read keeps its declarations as std::string_view (identical
// mangled names) without touching Abseil.
#define absl eqat_sentencepiece_absl
#include <sentencepiece_processor.h>
#undef absl

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"

namespace eqat {

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& path) {
  if (!PathExists(path)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file (tokenizer model)"));
  }
  if (IsDirectory(path)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": is a directory, expected a sentencepiece tokenizer.model"));
  }
  auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
  sentencepiece::util::Status st = sp->Load(path);
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a sentencepiece model: ", st.ToString()));
  }
  if (sp->GetPieceSize() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": sentencepiece model has no pieces"));
  }
  std::unique_ptr<Tokenizer> tok(new Tokenizer());
  tok->sp_ = std::move(sp);
  return tok;
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(std::string_view text) const {
  std::vector<int> ids;
  sentencepiece::util::Status st = sp_->Encode(text, &ids);
  if (!st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer: encode failed: ", st.ToString()));
  }
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids) const {
  std::vector<int> in;
  in.reserve(ids.size());
  const int n = sp_->GetPieceSize();
  // sentencepiece rejects out-of-range ids for the whole call; skip them.
  for (int32_t id : ids) {
    if (id >= 0 && id < n) in.push_back(id);
  }
  std::string out;
  if (!sp_->Decode(in, &out).ok()) out.clear();
  return out;
}

int Tokenizer::vocab_size() const { return sp_->GetPieceSize(); }
int Tokenizer::bos_id() const { return sp_->bos_id(); }
int Tokenizer::eos_id() const { return sp_->eos_id(); }

}  // namespace eqat
