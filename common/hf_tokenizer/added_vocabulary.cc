#include "absl/strings/string_view.h"
#include "common/hf_tokenizer/added_vocabulary.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/hf_tokenizer/json_fields.h"
#include "common/hf_tokenizer/utf8.h"
#include "common/status_macros.h"

namespace eqat::hf {
namespace {

// The Rust `regex` crate's \w, used by single_word.
constexpr char kRustWordChar[] = "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}]";

size_t PrevCharStart(absl::string_view s, size_t end) {
  size_t p = end - 1;
  while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
  return p;
}

// Start of the White_Space run that ends `s`.
size_t TrailingSpaceStart(absl::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t p = PrevCharStart(s, end);
    size_t q = p;
    if (!IsWhiteSpace(DecodeUtf8(s, &q))) break;
    end = p;
  }
  return end;
}

// Length of the White_Space run that starts `s`.
size_t LeadingSpaceLen(absl::string_view s) {
  size_t pos = 0;
  while (pos < s.size()) {
    size_t q = pos;
    if (!IsWhiteSpace(DecodeUtf8(s, &q))) break;
    pos = q;
  }
  return pos;
}

}  // namespace

void TokenMatcher::Add(absl::string_view pattern, int32_t value) {
  if (pattern.empty()) return;
  int32_t node = 0;
  for (unsigned char b : pattern) {
    uint64_t key = (static_cast<uint64_t>(node) << 8) | b;
    auto [it, inserted] = edges_.try_emplace(key, nodes_);
    if (inserted) ++nodes_;
    node = it->second;
  }
  terminal_[node] = value;
  first_[static_cast<unsigned char>(pattern[0])] = true;
}

size_t TokenMatcher::LongestAt(absl::string_view text, size_t pos, int32_t* value) const {
  int32_t node = 0;
  size_t best = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    auto it = edges_.find((static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(text[i]));
    if (it == edges_.end()) break;
    node = it->second;
    auto t = terminal_.find(node);
    if (t != terminal_.end()) {
      best = i + 1 - pos;
      *value = t->second;
    }
  }
  return best;
}

absl::StatusOr<std::unique_ptr<AddedVocabulary>> AddedVocabulary::FromJson(
    const Json& j, const BpeModel& model, const Normalizer* normalizer, absl::string_view where) {
  const JsonCtx ctx{where, "added_tokens"};
  std::unique_ptr<AddedVocabulary> v(new AddedVocabulary());
  ASSIGN_OR_RETURN(v->word_char_, Regex::FromPcre2(kRustWordChar));
  if (j.is_null()) return v;
  if (!j.is_array()) return absl::InvalidArgumentError(absl::StrCat(where, ": added_tokens must be an array"));
  // Id assignment as AddedVocabulary::add_tokens (all tokens in one call).
  int32_t next_id = static_cast<int32_t>(model.vocab_entries());
  for (const Json& e : j) {
    if (!e.is_object()) return absl::InvalidArgumentError(absl::StrCat(where, ": added_tokens entries must be objects"));
    AddedToken t;
    const std::string type = "entry";
    ASSIGN_OR_RETURN(t.content, ReqString(e, "content", ctx, type));
    ASSIGN_OR_RETURN(t.single_word, OptBool(e, "single_word", false, ctx, type));
    ASSIGN_OR_RETURN(t.lstrip, OptBool(e, "lstrip", false, ctx, type));
    ASSIGN_OR_RETURN(t.rstrip, OptBool(e, "rstrip", false, ctx, type));
    ASSIGN_OR_RETURN(t.normalized, OptBool(e, "normalized", true, ctx, type));
    ASSIGN_OR_RETURN(t.special, OptBool(e, "special", false, ctx, type));
    if (t.content.empty()) continue;
    auto same = v->by_content_.find(t.content);
    if (same != v->by_content_.end()) {
      const AddedToken& o = v->tokens_[v->by_id_[same->second]];
      if (o.single_word == t.single_word && o.lstrip == t.lstrip && o.rstrip == t.rstrip &&
          o.normalized == t.normalized && o.special == t.special) {
        continue;
      }
      t.id = same->second;
    } else if (std::optional<int32_t> mid = model.TokenToId(t.content)) {
      t.id = *mid;
    } else {
      t.id = next_id++;
    }
    if (t.normalized && normalizer != nullptr) {
      std::string normed = t.content;
      RETURN_IF_ERROR(normalizer->Normalize(&normed));
      if (normed != t.content) v->decode_form_[t.id] = normed;
    }
    v->by_content_[t.content] = t.id;
    if (t.special) v->special_.insert(t.content);
    v->max_id_ = std::max(v->max_id_, t.id);
    v->by_id_[t.id] = v->tokens_.size();
    v->tokens_.push_back(std::move(t));
  }
  for (const auto& [id, index] : v->by_id_) {
    const AddedToken& t = v->tokens_[index];
    if (t.normalized) {
      auto d = v->decode_form_.find(id);
      v->normalized_.Add(d != v->decode_form_.end() ? d->second : t.content,
                         static_cast<int32_t>(index));
    } else {
      v->raw_.Add(t.content, static_cast<int32_t>(index));
    }
  }
  return v;
}

template <typename OnText>
absl::Status AddedVocabulary::Split(absl::string_view s, const TokenMatcher& matcher, bool at_origin,
                                    OnText on_text, PieceList* out) const {
  if (s.empty()) return absl::OkStatus();
  if (matcher.empty()) return on_text(s, at_origin);
  size_t start_offset = 0;
  size_t pos = 0;
  while (pos < s.size()) {
    if (!matcher.MayStartWith(static_cast<unsigned char>(s[pos]))) {
      ++pos;
      continue;
    }
    int32_t index = -1;
    size_t len = matcher.LongestAt(s, pos, &index);
    if (len == 0) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = pos + len;
    pos = stop;  // matching goes on after the match, whatever is done with it
    const AddedToken& t = tokens_[index];
    if (t.single_word) {
      bool word_before = false, word_after = false;
      if (start > 0) {
        size_t p = PrevCharStart(s, start);
        word_before = word_char_->FullMatch(s.substr(p, start - p));
      }
      if (stop < s.size()) {
        size_t l = Utf8Len(static_cast<unsigned char>(s[stop]));
        word_after = word_char_->FullMatch(s.substr(stop, l));
      }
      if (word_before || word_after) continue;
    }
    if (t.lstrip) start = std::max(TrailingSpaceStart(s.substr(0, start)), start_offset);
    if (t.rstrip) stop += LeadingSpaceLen(s.substr(stop));
    start = std::max(start, start_offset);
    if (start_offset < start) {
      RETURN_IF_ERROR(on_text(s.substr(start_offset, start - start_offset),
                              at_origin && start_offset == 0));
    }
    Piece p;
    p.token_id = t.id;
    p.at_origin = at_origin && start == 0;
    out->pieces.push_back(p);
    start_offset = stop;
    pos = std::max(pos, stop);
  }
  if (start_offset < s.size()) {
    RETURN_IF_ERROR(on_text(s.substr(start_offset), at_origin && start_offset == 0));
  }
  return absl::OkStatus();
}

absl::Status AddedVocabulary::ExtractAndNormalize(absl::string_view text,
                                                  const Normalizer* normalizer,
                                                  PieceList* out) const {
  out->buf.clear();
  out->pieces.clear();
  out->buf.reserve(text.size() + text.size() / 8);
  auto emit = [out](absl::string_view s, bool at_origin) {
    Piece p;
    p.begin = static_cast<uint32_t>(out->buf.size());
    out->buf.append(s.data(), s.size());
    p.end = static_cast<uint32_t>(out->buf.size());
    p.at_origin = at_origin;
    out->pieces.push_back(p);
    return absl::OkStatus();
  };
  std::string normed;
  auto normalize_then_split = [&](absl::string_view s, bool at_origin) -> absl::Status {
    if (normalizer == nullptr && normalized_.empty()) return emit(s, at_origin);
    normed.assign(s.data(), s.size());
    if (normalizer != nullptr) RETURN_IF_ERROR(normalizer->Normalize(&normed));
    return Split(normed, normalized_, at_origin, emit, out);
  };
  return Split(text, raw_, /*at_origin=*/true, normalize_then_split, out);
}

std::optional<int32_t> AddedVocabulary::TokenToId(absl::string_view content) const {
  auto it = by_content_.find(content);
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

const std::string* AddedVocabulary::IdToToken(int32_t id) const {
  auto d = decode_form_.find(id);
  if (d != decode_form_.end()) return &d->second;
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return nullptr;
  return &tokens_[it->second].content;
}

}  // namespace eqat::hf
