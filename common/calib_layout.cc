#include "common/calib_layout.h"

#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace eqat {

absl::StatusOr<std::vector<int64_t>> ShuffledChunkStarts(int64_t tokens, int64_t count,
                                                         int64_t len, uint64_t seed,
                                                         const std::string& field) {
  if (count < 0 || len <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": need count >= 0 and length > 0"));
  }
  const int64_t grid = tokens / len;
  if (grid < count) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": ", count, " non-overlapping windows of ", len, " tokens need ", count * len,
        " tokens; the text holds ", tokens, " (", grid, " windows)"));
  }
  std::vector<int64_t> order(grid);
  std::iota(order.begin(), order.end(), int64_t{0});
  // rng() % i rather than std::shuffle: the same on every platform.
  std::mt19937_64 rng(seed);
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  order.resize(count);
  for (int64_t& c : order) c *= len;
  return order;
}

absl::StatusOr<CalibLayout> PlanCalibLayout(const CalibLayoutRequest& r) {
  CalibLayout out;
  const int64_t n = r.tokens;
  const int64_t ap_count = r.ap_train + r.ap_val;
  if (ap_count < 0 || r.e2e_count < 0 || (ap_count > 0 && r.ap_len <= 0) ||
      (r.e2e_count > 0 && r.e2e_len <= 0)) {
    return absl::InvalidArgumentError("calibration layout: bad window counts or lengths");
  }
  // Tokens each side needs (random windows: at least one start to draw).
  const int64_t need_ap = ap_count == 0 ? 0
                          : r.random_windows ? r.ap_len + 1
                                             : ap_count * r.ap_len;
  const int64_t need_e2e = r.e2e_count * r.e2e_len;
  if (need_ap > n) {
    return absl::InvalidArgumentError(absl::StrCat(
        r.samples_field, ": ", r.ap_train, " training + ", r.ap_val, " validation windows of ",
        r.ap_len, " tokens need ", need_ap, " tokens; the calibration text has ", n));
  }
  if (need_ap + need_e2e > n) {
    return absl::InvalidArgumentError(absl::StrCat(
        r.e2e_field, ": ", r.e2e_count, " E2E windows of ", r.e2e_len, " tokens need ", need_e2e,
        " tokens beside the ", need_ap, " of the Block-AP windows; the calibration text has ", n,
        " (lower it, or give --e2e-data another text)"));
  }
  out.split = n;
  if (r.e2e_count > 0) {
    // Share the surplus in proportion to the needs (random windows: as if
    // they did not overlap, ap_count * ap_len).
    const double ap_weight = static_cast<double>(ap_count) * static_cast<double>(r.ap_len);
    const double total = ap_weight + static_cast<double>(need_e2e);
    int64_t split = static_cast<int64_t>(static_cast<double>(n) * (ap_weight / total));
    split = std::max(split, need_ap);
    split = std::min(split, n - need_e2e);
    out.split = split;
    ASSIGN_OR_RETURN(std::vector<int64_t> e2e,
                     ShuffledChunkStarts(n - split, r.e2e_count, r.e2e_len, r.seed + 0x5eed,
                                         r.e2e_field));
    for (int64_t& s : e2e) s += split;
    out.e2e_starts = std::move(e2e);
  }
  if (ap_count == 0) return out;
  if (r.random_windows) {
    // As SampleWindows: starts uniform in [0, region - len).
    std::mt19937_64 rng(r.seed);
    const uint64_t range = static_cast<uint64_t>(out.split - r.ap_len);
    out.ap_starts.reserve(ap_count);
    for (int64_t i = 0; i < ap_count; ++i) {
      out.ap_starts.push_back(static_cast<int64_t>(rng() % range));
    }
  } else {
    ASSIGN_OR_RETURN(out.ap_starts, ShuffledChunkStarts(out.split, ap_count, r.ap_len, r.seed,
                                                        r.samples_field));
  }
  return out;
}

std::vector<std::vector<int32_t>> CutWindows(const std::vector<int32_t>& stream,
                                             const std::vector<int64_t>& starts, int64_t len) {
  std::vector<std::vector<int32_t>> out;
  out.reserve(starts.size());
  for (int64_t s : starts) out.emplace_back(stream.begin() + s, stream.begin() + s + len);
  return out;
}

}  // namespace eqat
