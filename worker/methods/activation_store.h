// Cached block activations for the block-wise pipeline: `n` samples of a
// fixed shape (e.g. [L, hidden]) in fp32.
//
// The first samples live in RAM up to `ram_budget_bytes`; the rest go to a
// memory-mapped spill file in `spill_dir`. The file is unlinked right after
// creation (nothing is left behind, even after a crash), and the pages of a
// spilled range are released from this process (MADV_DONTNEED) after every
// read or write, so resident memory stays bounded by the budget plus one
// batch however many samples there are.
// Thread-safety: not thread-safe; one pipeline owns a store.
#ifndef EQAT_WORKER_METHODS_ACTIVATION_STORE_H_
#define EQAT_WORKER_METHODS_ACTIVATION_STORE_H_

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace eqat {

struct ActivationStoreOptions {
  int64_t ram_budget_bytes = int64_t{4} << 30;  // per store
  std::string spill_dir = "/tmp";
};

class ActivationStore {
 public:
  // InvalidArgument for n < 1 or an empty shape; PermissionDenied /
  // ResourceExhausted when the spill file cannot be created or sized.
  static absl::StatusOr<std::unique_ptr<ActivationStore>> Create(
      int64_t n, const std::vector<int64_t>& sample_shape, const ActivationStoreOptions& options);
  ~ActivationStore();
  ActivationStore(const ActivationStore&) = delete;
  ActivationStore& operator=(const ActivationStore&) = delete;

  int64_t size() const { return n_; }
  const std::vector<int64_t>& sample_shape() const { return shape_; }
  int64_t resident_samples() const { return resident_; }
  int64_t spilled_samples() const { return n_ - resident_; }

  // Samples [first, first+count) as a float32 tensor [count, shape...].
  // Rows in RAM may be returned as a view; do not modify the result.
  torch::Tensor Read(int64_t first, int64_t count) const;
  // Stores x [count, shape...] (any float dtype) at [first, first+count).
  void Write(int64_t first, const torch::Tensor& x);
  // Gathers arbitrary sample indices into one new tensor (never a view).
  torch::Tensor Gather(const std::vector<int64_t>& indices) const;
  // Copies every sample of `src` (same size and sample shape) into this
  // store, a few samples at a time.
  void CopyFrom(const ActivationStore& src);

 private:
  ActivationStore() = default;
  int64_t n_ = 0;
  int64_t resident_ = 0;
  std::vector<int64_t> shape_;
  int64_t sample_elems_ = 0;
  torch::Tensor ram_;          // [resident, shape...]
  float* map_ = nullptr;       // spilled samples
  size_t map_bytes_ = 0;
};

}  // namespace eqat

#endif  // EQAT_WORKER_METHODS_ACTIVATION_STORE_H_
