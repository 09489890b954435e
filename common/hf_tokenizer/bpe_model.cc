#include "absl/strings/string_view.h"
#include "common/hf_tokenizer/bpe_model.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "common/hf_tokenizer/json_fields.h"
#include "common/hf_tokenizer/utf8.h"
#include "common/status_macros.h"

namespace eqat::hf {
namespace {

struct Symbol {
  int32_t id;
  int32_t prev;
  int32_t next;
  uint32_t len;  // bytes of the input covered; 0 once merged away
};

struct Merge {
  uint32_t rank;
  uint32_t pos;
  int32_t new_id;
};

// Min-heap order: lowest rank first, then leftmost.
struct MergeAfter {
  bool operator()(const Merge& a, const Merge& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  }
};

void AddSymbol(std::vector<Symbol>* word, int32_t id, uint32_t len) {
  int32_t n = static_cast<int32_t>(word->size());
  if (n > 0) word->back().next = n;
  word->push_back({id, n - 1, -1, len});
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::FromJson(const Json& j, absl::string_view where,
                                                             const Options& options) {
  const JsonCtx ctx{where, "model"};
  if (!j.is_object()) return absl::InvalidArgumentError(absl::StrCat(where, ": model must be an object"));
  std::string type = "BPE";
  if (j.contains("type")) {
    ASSIGN_OR_RETURN(type, TypeOf(j, ctx));
  }
  if (type != "BPE") return Unsupported(ctx, type);
  std::unique_ptr<BpeModel> m(new BpeModel());

  auto vit = j.find("vocab");
  if (vit == j.end() || !vit->is_object()) return BadField(ctx, type, "field 'vocab' must be an object");
  m->vocab_.reserve(vit->size());
  int32_t max_id = -1;
  for (auto it = vit->begin(); it != vit->end(); ++it) {
    std::optional<int64_t> id = AsInt64(it.value());
    if (!id || *id < 0 || *id > INT32_MAX - 1) {
      return BadField(ctx, type, absl::StrCat("vocab entry '", it.key(), "' has no valid id"));
    }
    m->vocab_[it.key()] = static_cast<int32_t>(*id);
    max_id = std::max(max_id, static_cast<int32_t>(*id));
  }
  if (max_id >= (1 << 26)) return BadField(ctx, type, "vocab ids above 2^26 are not supported");
  m->id_to_token_.resize(max_id + 1);
  m->has_id_.assign(max_id + 1, false);
  for (const auto& [tok, id] : m->vocab_) {
    m->id_to_token_[id] = tok;
    m->has_id_[id] = true;
  }

  ASSIGN_OR_RETURN(std::string unk, OptString(j, "unk_token", "", ctx, type));
  if (j.contains("unk_token") && !j["unk_token"].is_null()) m->unk_token_ = unk;
  ASSIGN_OR_RETURN(m->prefix_, OptString(j, "continuing_subword_prefix", "", ctx, type));
  ASSIGN_OR_RETURN(m->suffix_, OptString(j, "end_of_word_suffix", "", ctx, type));
  ASSIGN_OR_RETURN(m->fuse_unk_, OptBool(j, "fuse_unk", false, ctx, type));
  ASSIGN_OR_RETURN(m->byte_fallback_, OptBool(j, "byte_fallback", false, ctx, type));
  ASSIGN_OR_RETURN(m->ignore_merges_, OptBool(j, "ignore_merges", false, ctx, type));
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    auto it = m->vocab_.find(absl::string_view(name));
    m->byte_ids_[b] = it == m->vocab_.end() ? -1 : it->second;
  }

  auto mit = j.find("merges");
  if (mit == j.end() || !mit->is_array()) return BadField(ctx, type, "field 'merges' must be an array");
  m->merges_.reserve(mit->size());
  std::string merged;
  uint32_t rank = 0;
  for (const Json& e : *mit) {
    absl::string_view a, b;  // views into the parsed document
    if (e.is_string()) {
      const std::string& line = e.get_ref<const std::string&>();
      size_t sp = line.find(' ');
      if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos) {
        return BadField(ctx, type, absl::StrCat("merge ", rank + 1, " '", line, "' is not 'a b'"));
      }
      a = absl::string_view(line.data(), sp);
      b = absl::string_view(line.data() + sp + 1, line.size() - sp - 1);
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      const std::string& ea = e[0].get_ref<const std::string&>();
      const std::string& eb = e[1].get_ref<const std::string&>();
      a = absl::string_view(ea.data(), ea.size());
      b = absl::string_view(eb.data(), eb.size());
    } else {
      return BadField(ctx, type, absl::StrCat("merge ", rank + 1, " is neither \"a b\" nor [a, b]"));
    }
    auto ia = m->vocab_.find(a);
    auto ib = m->vocab_.find(b);
    if (ia == m->vocab_.end() || ib == m->vocab_.end()) {
      return BadField(ctx, type, absl::StrCat("merge ", rank + 1, " token '",
                                              ia == m->vocab_.end() ? a : b, "' is not in the vocab"));
    }
    merged.assign(a.data(), a.size());
    if (m->prefix_.size() <= b.size()) {
      merged.append(b.data() + m->prefix_.size(), b.size() - m->prefix_.size());
    }
    auto in = m->vocab_.find(merged);
    if (in == m->vocab_.end()) {
      return BadField(ctx, type, absl::StrCat("merge ", rank + 1, " result '", merged,
                                              "' is not in the vocab"));
    }
    uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(ia->second)) << 32) |
                   static_cast<uint32_t>(ib->second);
    m->merges_[key] = MergeValue{rank, in->second};  // a repeated pair keeps the later rank
    ++rank;
  }

  if (options.cache_entries > 0) {
    m->cache_per_shard_ = (options.cache_entries + kShards - 1) / kShards;
    m->cache_.reset(new CacheShard[kShards]);
  }
  return m;
}

std::optional<int32_t> BpeModel::TokenToId(absl::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::IdToToken(int32_t id) const {
  if (id < 0 || id >= static_cast<int32_t>(has_id_.size()) || !has_id_[id]) return nullptr;
  return &id_to_token_[id];
}

absl::Status BpeModel::Tokenize(absl::string_view piece, std::vector<int32_t>* ids) const {
  if (piece.empty()) return absl::OkStatus();
  if (ignore_merges_) {
    auto it = vocab_.find(piece);
    if (it != vocab_.end()) {
      ids->push_back(it->second);
      return absl::OkStatus();
    }
  }
  CacheShard* shard = nullptr;
  if (cache_ && piece.size() < kMaxCachedLen) {
    shard = &cache_[absl::Hash<absl::string_view>()(piece) % kShards];
    absl::ReaderMutexLock lock(&shard->mu);
    auto it = shard->map.find(piece);
    if (it != shard->map.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return absl::OkStatus();
    }
  }
  size_t first = ids->size();
  RETURN_IF_ERROR(MergeWord(piece, ids));
  if (shard != nullptr) {
    absl::MutexLock lock(&shard->mu);
    if (shard->map.size() < cache_per_shard_) {
      shard->map.try_emplace(piece, ids->begin() + first, ids->end());
    }
  }
  return absl::OkStatus();
}

absl::Status BpeModel::MergeWord(absl::string_view w, std::vector<int32_t>* ids) const {
  std::vector<Symbol> word;
  word.reserve(w.size());
  std::string key;
  const bool affixes = !prefix_.empty() || !suffix_.empty();
  bool have_unk = false;
  int32_t unk_id = -1;
  uint32_t unk_len = 0;
  auto unk_lookup = [&]() -> absl::StatusOr<int32_t> {
    auto it = vocab_.find(*unk_token_);
    if (it == vocab_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("BPE: unk_token '", *unk_token_, "' is not in the vocab"));
    }
    return it->second;
  };
  size_t pos = 0;
  while (pos < w.size()) {
    size_t start = pos;
    pos += Utf8Len(static_cast<unsigned char>(w[pos]));
    if (pos > w.size()) pos = w.size();
    uint32_t byte_len = static_cast<uint32_t>(pos - start);
    absl::string_view s = w.substr(start, byte_len);
    if (affixes) {
      key.clear();
      if (start != 0) key += prefix_;
      key.append(s.data(), s.size());
      if (pos == w.size()) key += suffix_;
      s = key;
    }
    auto it = vocab_.find(s);
    if (it != vocab_.end()) {
      if (have_unk) {
        AddSymbol(&word, unk_id, unk_len);
        have_unk = false;
      }
      AddSymbol(&word, it->second, byte_len);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (unsigned char c : s) all = all && byte_ids_[c] >= 0;
      if (all) {
        for (unsigned char c : s) AddSymbol(&word, byte_ids_[c], 1);
        continue;
      }
    }
    if (unk_token_) {
      if (have_unk && fuse_unk_) {
        unk_len += byte_len;
      } else {
        if (have_unk) AddSymbol(&word, unk_id, unk_len);
        ASSIGN_OR_RETURN(unk_id, unk_lookup());
        unk_len = byte_len;
        have_unk = true;
      }
    }
  }
  if (have_unk) AddSymbol(&word, unk_id, unk_len);

  std::vector<Merge> heap;
  heap.reserve(word.size());
  for (size_t i = 0; i + 1 < word.size(); ++i) {
    if (const MergeValue* m = FindMerge(word[i].id, word[i + 1].id)) {
      heap.push_back({m->rank, static_cast<uint32_t>(i), m->new_id});
    }
  }
  std::make_heap(heap.begin(), heap.end(), MergeAfter());
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), MergeAfter());
    Merge top = heap.back();
    heap.pop_back();
    Symbol& cur = word[top.pos];
    if (cur.len == 0 || cur.next == -1) continue;
    int32_t next_pos = cur.next;
    Symbol right = word[next_pos];
    const MergeValue* m = FindMerge(cur.id, right.id);
    if (m == nullptr || m->new_id != top.new_id) continue;  // stale entry
    cur.id = top.new_id;
    cur.len += right.len;
    cur.next = right.next;
    word[next_pos].len = 0;
    if (right.next >= 0 && right.next < static_cast<int32_t>(word.size())) {
      word[right.next].prev = static_cast<int32_t>(top.pos);
    }
    if (cur.prev >= 0) {
      if (const MergeValue* pm = FindMerge(word[cur.prev].id, cur.id)) {
        heap.push_back({pm->rank, static_cast<uint32_t>(cur.prev), pm->new_id});
        std::push_heap(heap.begin(), heap.end(), MergeAfter());
      }
    }
    if (cur.next >= 0 && cur.next < static_cast<int32_t>(word.size())) {
      if (const MergeValue* nm = FindMerge(cur.id, word[cur.next].id)) {
        heap.push_back({nm->rank, top.pos, nm->new_id});
        std::push_heap(heap.begin(), heap.end(), MergeAfter());
      }
    }
  }
  for (const Symbol& s : word) {
    if (s.len != 0) ids->push_back(s.id);
  }
  return absl::OkStatus();
}

}  // namespace eqat::hf
