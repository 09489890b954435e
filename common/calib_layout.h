// Where the calibration windows of a job lie in its calibration token
// stream: the Block-AP training windows, the Block-AP validation windows
// and, when E2E-QP reads the same text (its default), the E2E windows, so
// that no two of the three sets share a token.
//
// Layout. When E2E shares the stream, the stream is cut in two: Block-AP
// owns [0, split), E2E owns [split, n), with the tokens beyond what both
// need shared in proportion to their needs. Otherwise Block-AP owns it all.
//   chunks  (default) Block-AP region cut into non-overlapping windows of
//           `ap_len`, shuffled with std::mt19937_64(seed); the first
//           `ap_train` are the training windows in that (fixed) order, the
//           next `ap_val` the validation windows.
//   random  `ap_train + ap_val` windows at random starts in the Block-AP
//           region (as SampleWindows draws them: they may overlap each other
//           but never the E2E region).
//   E2E     always non-overlapping windows of `e2e_len` in its region,
//           shuffled with a seed derived from `seed`, the first `e2e_count`.
// Too little text is InvalidArgument naming the field to change
// (`samples_field` / `e2e_field`) with the token counts.
// Thread-safety: pure functions.
#ifndef EQAT_COMMON_CALIB_LAYOUT_H_
#define EQAT_COMMON_CALIB_LAYOUT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace eqat {

struct CalibLayoutRequest {
  int64_t tokens = 0;     // length of the calibration stream
  int64_t ap_train = 0;   // Block-AP training windows (0: no Block-AP data)
  int64_t ap_val = 0;     // Block-AP validation windows
  int64_t ap_len = 0;
  bool random_windows = false;  // calib_windows == "random"
  int64_t e2e_count = 0;  // E2E windows from this stream (0: E2E reads another file or none)
  int64_t e2e_len = 0;
  uint64_t seed = 0;
  std::string samples_field = "--samples";
  std::string e2e_field = "--e2e-samples";
};

struct CalibLayout {
  std::vector<int64_t> ap_starts;   // ap_train training starts, then ap_val validation starts
  std::vector<int64_t> e2e_starts;  // e2e_count starts, all in [split, tokens)
  int64_t split = 0;                // first token of the E2E region (tokens when none)
};

absl::StatusOr<CalibLayout> PlanCalibLayout(const CalibLayoutRequest& r);

// `count` non-overlapping windows of `len` tokens from a stream of `tokens`
// (the grid [i*len, (i+1)*len) shuffled with `seed`, the first `count`);
// InvalidArgument naming `field` when the grid has fewer.
absl::StatusOr<std::vector<int64_t>> ShuffledChunkStarts(int64_t tokens, int64_t count,
                                                         int64_t len, uint64_t seed,
                                                         const std::string& field);

// Copies the windows at `starts` (each `len` long) out of `stream`.
std::vector<std::vector<int32_t>> CutWindows(const std::vector<int32_t>& stream,
                                             const std::vector<int64_t>& starts, int64_t len);

}  // namespace eqat

#endif  // EQAT_COMMON_CALIB_LAYOUT_H_
