// Splitting a string by a list of matches, as NormalizedString::split does in
// the Rust library: the matches (regex matches, or one per matching
// character) become a list of segments covering the string, each flagged
// "match" or not; `invert` flips the flags; the behaviour then decides what
// is kept:
//   Removed            matches dropped, the rest kept
//   Isolated           every segment kept on its own
//   MergedWithPrevious a match is glued to the segment before it
//   MergedWithNext     a match is glued to the segment after it
//   Contiguous         runs of equally flagged segments are merged
// Empty segments are dropped by the callers.
// Thread-safety: pure functions.
#ifndef EQAT_COMMON_HF_TOKENIZER_SPLIT_H_
#define EQAT_COMMON_HF_TOKENIZER_SPLIT_H_

#include <cstdint>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "common/hf_tokenizer/regex.h"

namespace eqat::hf {

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// "Removed", "Isolated", ... ; nullopt-like InvalidArgument for anything else.
absl::StatusOr<SplitBehavior> ParseSplitBehavior(absl::string_view name);

struct Segment {
  uint32_t begin, end;
  bool is_match;
};

// Regex matches (sorted, non-overlapping) of a string of `len` bytes -> the
// covering segment list (an empty string gives one empty non-match segment).
void SegmentsFromMatches(const std::vector<MatchSpan>& matches, uint32_t len, bool invert,
                         std::vector<Segment>* out);

// One segment per character c with pred(c) true, the gaps as non-matches.
template <typename Pred>
void SegmentsFromChars(absl::string_view s, Pred pred, bool invert, std::vector<Segment>* out);

// Applies `behavior` to `segs`, appending the [begin, end) ranges to keep.
void ApplySplitBehavior(const std::vector<Segment>& segs, SplitBehavior behavior,
                        std::vector<MatchSpan>* keep);

}  // namespace eqat::hf

#include "common/hf_tokenizer/utf8.h"

namespace eqat::hf {

template <typename Pred>
void SegmentsFromChars(absl::string_view s, Pred pred, bool invert, std::vector<Segment>* out) {
  out->clear();
  if (s.empty()) {
    out->push_back({0, 0, invert});
    return;
  }
  uint32_t last = 0;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t start = pos;
    char32_t cp = DecodeUtf8(s, &pos);
    if (pred(cp)) {
      if (last < start) out->push_back({last, static_cast<uint32_t>(start), invert});
      out->push_back({static_cast<uint32_t>(start), static_cast<uint32_t>(pos), !invert});
      last = static_cast<uint32_t>(pos);
    }
  }
  if (last < s.size()) out->push_back({last, static_cast<uint32_t>(s.size()), invert});
}

}  // namespace eqat::hf

#endif  // EQAT_COMMON_HF_TOKENIZER_SPLIT_H_
