// MREM-P inputs of a pipelined Block-AP stage (the `pipelined` schedule).
//
// In the pipelined schedule every stage trains at once. Stage k starts as
// soon as it holds the fp inputs of its first block (the previous stage's fp
// outputs, computed by a quick fp pass before it trains); the quantized
// inputs arrive later, batch by batch, while stage k-1 trains its last block
// (the block's output on each training batch), and finally as the previous
// stage's exact quantized outputs once it is done.
//
// While training the stage's first block at step t of T, the input of
// sample i is
//     lambda * fp[i] + (1 - lambda) * quant[i],
//     lambda = max(0, 1 - t / (anneal_fraction * T))   (worker/methods/lr_schedule.h)
// with quant[i] the latest quantized activation received for sample i. While
// lambda > 0, a sample whose quantized activation has not arrived yet is fed
// its fp input (full teacher forcing for that sample) and nothing waits. Once
// lambda is 0 the block trains on real quantized inputs alone: Mixed then
// waits until every sample of the batch has one. Before the stage's quantized outputs are
// computed for the next stage, WaitFinal blocks until the previous stage's
// exact quantized outputs are all in, so the outputs a stage passes on are
// those of the real quantized chain.
//
// Frames on the stream (worker/transport/activation_transport.h):
//   "fp"    [n, L, H] at index i: fp inputs of samples [i, i+n); all of them
//           come first
//   "qstep" [n, L, H] at index i: in-training quantized activations of
//           samples [i, i+n) (any order, any number of times)
//   "quant" [n, L, H] at index i: final quantized inputs of [i, i+n)
// then end of stream. A sequential-schedule sender ("fp" then "quant") is a
// valid stream too.
// Thread-safety: StreamInputFeed runs one receiver thread; every public
// method may be called from any thread.
#ifndef EQAT_WORKER_STAGE_STREAM_INPUT_FEED_H_
#define EQAT_WORKER_STAGE_STREAM_INPUT_FEED_H_

#include <torch/torch.h>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "worker/methods/activation_store.h"
#include "worker/methods/input_feed.h"
#include "worker/transport/activation_transport.h"

namespace eqat {

class StreamInputFeed : public StageInputFeed {
 public:
  struct Options {
    int64_t samples = 0;                 // n
    std::vector<int64_t> sample_shape;   // {L, hidden}
    ActivationStoreOptions cache;
    // Called about once a second while waiting (for the fp inputs or the
    // final quantized outputs); may throw to abandon the wait (the worker's
    // abort check).
    std::function<void()> on_wait_tick;
    // Bytes received so far are reported here (metrics), from the receiver.
    std::function<void(int64_t bytes)> on_bytes;
  };

  // Receives the "fp" frames (blocking until all n are in), then keeps
  // receiving the rest of the stream on a background thread.
  static absl::StatusOr<std::unique_ptr<StreamInputFeed>> Start(
      std::unique_ptr<ActivationReceiver> rx, Options options);
  ~StreamInputFeed() override;

  // The previous stage's fp outputs (the stage's fp inputs).
  const ActivationStore& fp() const { return *fp_; }
  // Quantized activations received so far, "qstep" and "quant" frames.
  int64_t quant_rows_received() const;

  torch::Tensor Mixed(const std::vector<int64_t>& idx, double lambda) override;
  void Snapshot(ActivationStore* q) override;
  absl::Status WaitFinal(ActivationStore* q) override;

  // Sequential hand-over: waits for the end of the stream, then moves the fp
  // inputs and the final quantized inputs out (no copy). The feed is spent
  // afterwards. Errors as WaitFinal's.
  absl::Status TakeFinal(std::unique_ptr<ActivationStore>* fp, std::unique_ptr<ActivationStore>* q);

 private:
  StreamInputFeed() = default;
  absl::Status Apply(const TensorFrame& f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReceiveLoop();

  Options o_;
  std::unique_ptr<ActivationReceiver> rx_;
  std::unique_ptr<ActivationStore> fp_;  // written before the thread starts
  std::thread thread_;
  std::atomic<bool> stop_{false};
  mutable absl::Mutex mu_;
  std::unique_ptr<ActivationStore> q_ ABSL_GUARDED_BY(mu_);
  std::vector<char> have_q_ ABSL_GUARDED_BY(mu_);
  std::vector<char> have_final_ ABSL_GUARDED_BY(mu_);
  int64_t fp_rows_ = 0;
  int64_t quant_rows_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t final_rows_ ABSL_GUARDED_BY(mu_) = 0;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace eqat

#endif  // EQAT_WORKER_STAGE_STREAM_INPUT_FEED_H_
