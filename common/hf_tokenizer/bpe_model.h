// The BPE model of tokenizer.json ("model": {"type": "BPE", ...}).
//
// Tokenize turns one pre-tokenized piece into ids as tokenizers 0.2x
// (models/bpe/model.rs) does: each character (with continuing_subword_prefix
// when not first, end_of_word_suffix when last) is looked up in the vocab;
// an unknown one becomes its <0xNN> byte tokens when byte_fallback is set and
// all of them exist, else unk_token (consecutive unknowns fused into one when
// fuse_unk), else it is dropped. Merges are then applied lowest rank first
// (ties: leftmost) on ids through a (left_id, right_id) -> (rank, new_id)
// map. With ignore_merges a piece that is itself in the vocab is taken as is.
// dropout is ignored (eqat encodes deterministically).
// Merges may be ["a b", ...] or [["a", "b"], ...]; a merge whose parts or
// result are not in the vocab is refused, like the Rust library does.
//
// Results for pieces shorter than 256 bytes are memoized in a bounded cache
// (Options::cache_entries; once full, nothing more is added, as in Rust).
// Thread-safety: Tokenize is const and thread-safe (the cache is sharded and
// locked with absl::Mutex).
#ifndef EQAT_COMMON_HF_TOKENIZER_BPE_MODEL_H_
#define EQAT_COMMON_HF_TOKENIZER_BPE_MODEL_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/hf_tokenizer/json_fields.h"

namespace eqat::hf {

class BpeModel {
 public:
  struct Options {
    size_t cache_entries = 1 << 16;  // memoized pieces, all shards together; 0 disables
  };

  // `j` is the "model" object. InvalidArgument "<where>: model type 'X' is
  // not supported" for anything but BPE, or naming the bad field / merge.
  static absl::StatusOr<std::unique_ptr<BpeModel>> FromJson(const Json& j, absl::string_view where,
                                                            const Options& options);
  static absl::StatusOr<std::unique_ptr<BpeModel>> FromJson(const Json& j, absl::string_view where) {
    return FromJson(j, where, Options());
  }

  // Appends the ids of `piece` (REQUIRES: valid UTF-8) to *ids.
  // InvalidArgument when unk_token is needed but is not in the vocab.
  absl::Status Tokenize(absl::string_view piece, std::vector<int32_t>* ids) const;

  std::optional<int32_t> TokenToId(absl::string_view token) const;
  // nullptr when `id` is not in the vocab.
  const std::string* IdToToken(int32_t id) const;
  int32_t max_id() const { return static_cast<int32_t>(id_to_token_.size()) - 1; }
  size_t vocab_entries() const { return vocab_.size(); }

 private:
  struct MergeValue {
    uint32_t rank;
    int32_t new_id;
  };
  struct CacheShard {
    absl::Mutex mu;
    absl::flat_hash_map<std::string, std::vector<int32_t>> map ABSL_GUARDED_BY(mu);
  };
  static constexpr int kShards = 16;
  static constexpr size_t kMaxCachedLen = 256;

  BpeModel() = default;
  absl::Status MergeWord(absl::string_view w, std::vector<int32_t>* ids) const;
  const MergeValue* FindMerge(int32_t a, int32_t b) const {
    auto it = merges_.find((static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) |
                           static_cast<uint32_t>(b));
    return it == merges_.end() ? nullptr : &it->second;
  }

  absl::flat_hash_map<std::string, int32_t> vocab_;
  std::vector<std::string> id_to_token_;
  std::vector<bool> has_id_;
  absl::flat_hash_map<uint64_t, MergeValue> merges_;
  std::optional<std::string> unk_token_;
  std::string prefix_;  // continuing_subword_prefix
  std::string suffix_;  // end_of_word_suffix
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  std::array<int32_t, 256> byte_ids_{};  // <0xNN> ids, -1 where absent
  size_t cache_per_shard_ = 0;
  std::unique_ptr<CacheShard[]> cache_;
};

}  // namespace eqat::hf

#endif  // EQAT_COMMON_HF_TOKENIZER_BPE_MODEL_H_
