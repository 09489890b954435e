#include "absl/strings/string_view.h"
#include "common/hf_tokenizer/split.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace eqat::hf {

absl::StatusOr<SplitBehavior> ParseSplitBehavior(absl::string_view name) {
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  return absl::InvalidArgumentError(absl::StrCat("unknown split behavior '", name, "'"));
}

void SegmentsFromMatches(const std::vector<MatchSpan>& matches, uint32_t len, bool invert,
                         std::vector<Segment>* out) {
  out->clear();
  if (len == 0) {
    out->push_back({0, 0, invert});
    return;
  }
  uint32_t prev = 0;
  for (const MatchSpan& m : matches) {
    if (prev != m.first) out->push_back({prev, m.first, invert});
    out->push_back({m.first, m.second, !invert});
    prev = m.second;
  }
  if (prev != len) out->push_back({prev, len, invert});
}

void ApplySplitBehavior(const std::vector<Segment>& segs, SplitBehavior behavior,
                        std::vector<MatchSpan>* keep) {
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const Segment& s : segs) keep->emplace_back(s.begin, s.end);
      return;
    case SplitBehavior::kRemoved:
      for (const Segment& s : segs) {
        if (!s.is_match) keep->emplace_back(s.begin, s.end);
      }
      return;
    case SplitBehavior::kContiguous: {
      size_t first = keep->size();
      bool have_prev = false, prev = false;
      for (const Segment& s : segs) {
        if (have_prev && prev == s.is_match && keep->size() > first) {
          keep->back().second = s.end;
        } else {
          keep->emplace_back(s.begin, s.end);
        }
        have_prev = true;
        prev = s.is_match;
      }
      return;
    }
    case SplitBehavior::kMergedWithPrevious: {
      size_t first = keep->size();
      bool prev = false;
      for (const Segment& s : segs) {
        if (s.is_match && !prev && keep->size() > first) {
          keep->back().second = s.end;
        } else {
          keep->emplace_back(s.begin, s.end);
        }
        prev = s.is_match;
      }
      return;
    }
    case SplitBehavior::kMergedWithNext: {
      size_t first = keep->size();
      bool prev = false;
      for (size_t i = segs.size(); i-- > 0;) {
        const Segment& s = segs[i];
        if (s.is_match && !prev && keep->size() > first) {
          keep->back().first = s.begin;
        } else {
          keep->emplace_back(s.begin, s.end);
        }
        prev = s.is_match;
      }
      std::reverse(keep->begin() + first, keep->end());
      return;
    }
  }
}

}  // namespace eqat::hf
