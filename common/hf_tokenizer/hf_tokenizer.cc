#include "common/hf_tokenizer/hf_tokenizer.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/hf_tokenizer/added_vocabulary.h"
#include "common/hf_tokenizer/bpe_model.h"
#include "common/hf_tokenizer/decoders.h"
#include "common/hf_tokenizer/json_fields.h"
#include "common/hf_tokenizer/normalizers.h"
#include "common/hf_tokenizer/post_processor.h"
#include "common/hf_tokenizer/pre_tokenizers.h"
#include "common/hf_tokenizer/utf8.h"
#include "common/status_macros.h"

namespace eqat {
namespace {

using hf::Json;

absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Exceptions stop here: nlohmann's parse errors become InvalidArgument.
absl::StatusOr<Json> Parse(std::string_view text, absl::string_view where) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": invalid JSON: ", e.what()));
  }
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read failed"));
  return ss.str();
}

// bos_token / eos_token of tokenizer_config.json: a string or {"content": s}.
std::optional<std::string> ConfigToken(const Json& config, const char* key) {
  if (!config.is_object()) return std::nullopt;
  auto it = config.find(key);
  if (it == config.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto c = it->find("content");
    if (c != it->end() && c->is_string()) return c->get<std::string>();
  }
  return std::nullopt;
}

}  // namespace

HfTokenizer::HfTokenizer() = default;
HfTokenizer::~HfTokenizer() = default;

absl::StatusOr<std::unique_ptr<HfTokenizer>> HfTokenizer::FromJson(
    std::string_view tokenizer_json, std::string_view tokenizer_config_json,
    std::string_view where_std) {
  const absl::string_view where = AV(where_std);
  ASSIGN_OR_RETURN(Json j, Parse(tokenizer_json, where));
  if (!j.is_object()) return absl::InvalidArgumentError(absl::StrCat(where, ": not a JSON object"));
  auto field = [&](const char* key) -> const Json& {
    static const Json kNull;
    auto it = j.find(key);
    return it == j.end() ? kNull : *it;
  };
  if (!j.contains("model")) return absl::InvalidArgumentError(absl::StrCat(where, ": no 'model'"));
  std::unique_ptr<HfTokenizer> t(new HfTokenizer());
  ASSIGN_OR_RETURN(t->normalizer_, hf::MakeNormalizer(field("normalizer"), where));
  ASSIGN_OR_RETURN(t->pre_tokenizer_, hf::MakePreTokenizer(field("pre_tokenizer"), where));
  ASSIGN_OR_RETURN(t->model_, hf::BpeModel::FromJson(field("model"), where));
  ASSIGN_OR_RETURN(t->post_processor_, hf::MakePostProcessor(field("post_processor"), where));
  ASSIGN_OR_RETURN(t->decoder_, hf::MakeDecoder(field("decoder"), where));
  ASSIGN_OR_RETURN(t->added_, hf::AddedVocabulary::FromJson(field("added_tokens"), *t->model_,
                                                            t->normalizer_.get(), where));
  j = Json();  // free the parsed document before the config

  Json config;
  if (!tokenizer_config_json.empty()) {
    std::string cwhere = absl::StrCat(where, " (tokenizer_config.json)");
    ASSIGN_OR_RETURN(config, Parse(tokenizer_config_json, cwhere));
  }
  if (auto bos = ConfigToken(config, "bos_token")) t->bos_id_ = t->TokenToId(*bos);
  if (!t->bos_id_ && t->post_processor_) t->bos_id_ = t->post_processor_->LeadingId();
  if (auto eos = ConfigToken(config, "eos_token")) t->eos_id_ = t->TokenToId(*eos);
  return t;
}

absl::StatusOr<std::unique_ptr<HfTokenizer>> HfTokenizer::LoadFromDir(const std::string& dir) {
  const std::string path = dir + "/tokenizer.json";
  auto json = ReadWholeFile(path);
  if (!json.ok()) {
    if (absl::IsNotFound(json.status())) {
      return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    }
    return json.status();
  }
  std::string config;
  const std::string config_path = dir + "/tokenizer_config.json";
  if (std::ifstream(config_path).good()) {
    ASSIGN_OR_RETURN(config, ReadWholeFile(config_path));
  }
  return FromJson(*json, config, path);
}

absl::StatusOr<HfTokenizer::Encoding> HfTokenizer::Encode(std::string_view text,
                                                          bool add_special_tokens) const {
  Encoding enc;
  std::string repaired;
  enc.replaced_invalid_utf8 = hf::SanitizeUtf8(AV(text), &repaired);
  if (enc.replaced_invalid_utf8 == 0) repaired.clear();
  std::string_view clean = enc.replaced_invalid_utf8 ? std::string_view(repaired) : text;

  hf::PieceList pl;
  RETURN_IF_ERROR(added_->ExtractAndNormalize(AV(clean), normalizer_.get(), &pl));
  if (pre_tokenizer_) RETURN_IF_ERROR(pre_tokenizer_->PreTokenize(&pl));
  enc.ids.reserve(pl.buf.size() / 3);
  for (const hf::Piece& p : pl.pieces) {
    if (p.token_id >= 0) {
      enc.ids.push_back(p.token_id);
    } else {
      RETURN_IF_ERROR(model_->Tokenize(pl.text(p), &enc.ids));
    }
  }
  if (add_special_tokens && post_processor_) post_processor_->Process(&enc.ids);
  return enc;
}

std::string HfTokenizer::Decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    const std::string* s = added_->IdToToken(id);
    if (s == nullptr) s = model_->IdToToken(id);
    if (s == nullptr) continue;
    if (skip_special_tokens && added_->IsSpecial(*s)) continue;
    tokens.push_back(*s);
  }
  if (!decoder_) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i) out.push_back(' ');
      out += tokens[i];
    }
    return out;
  }
  decoder_->DecodeChain(&tokens);
  std::string out;
  for (const std::string& t : tokens) out += t;
  return out;
}

int HfTokenizer::vocab_size() const {
  return std::max(model_->max_id(), added_->max_id()) + 1;
}

std::optional<int32_t> HfTokenizer::TokenToId(std::string_view token) const {
  if (auto id = added_->TokenToId(AV(token))) return id;
  return model_->TokenToId(AV(token));
}

std::optional<std::string> HfTokenizer::IdToToken(int32_t id) const {
  const std::string* s = added_->IdToToken(id);
  if (s == nullptr) s = model_->IdToToken(id);
  if (s == nullptr) return std::nullopt;
  return *s;
}

}  // namespace eqat
