#include "worker/stage/stream_input_feed.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace eqat {
namespace {

constexpr int64_t kCopyBatch = 8;

}  // namespace

absl::StatusOr<std::unique_ptr<StreamInputFeed>> StreamInputFeed::Start(
    std::unique_ptr<ActivationReceiver> rx, Options options) {
  if (rx == nullptr) return absl::InvalidArgumentError("feed: no receiver");
  if (options.samples < 1 || options.sample_shape.size() != 2) {
    return absl::InvalidArgumentError("feed: samples must be >= 1 and the sample shape {L, hidden}");
  }
  std::unique_ptr<StreamInputFeed> f(new StreamInputFeed());
  f->o_ = std::move(options);
  f->rx_ = std::move(rx);
  const int64_t n = f->o_.samples;
  ASSIGN_OR_RETURN(f->fp_, ActivationStore::Create(n, f->o_.sample_shape, f->o_.cache));
  {
    absl::MutexLock l(&f->mu_);
    ASSIGN_OR_RETURN(f->q_, ActivationStore::Create(n, f->o_.sample_shape, f->o_.cache));
    f->have_q_.assign(n, 0);
    f->have_final_.assign(n, 0);
  }
  // The fp inputs first, on the caller's thread.
  while (f->fp_rows_ < n) {
    auto fr = f->rx_->Recv(absl::Seconds(1));
    if (!fr.ok()) {
      if (fr.status().code() == absl::StatusCode::kDeadlineExceeded) {
        if (f->o_.on_wait_tick) f->o_.on_wait_tick();
        continue;
      }
      if (fr.status().code() == absl::StatusCode::kOutOfRange) {
        return absl::DataLossError(absl::StrFormat(
            "stream ended after %d of %d fp input samples", f->fp_rows_, n));
      }
      return fr.status();
    }
    absl::MutexLock l(&f->mu_);
    RETURN_IF_ERROR(f->Apply(*fr));
  }
  f->thread_ = std::thread([p = f.get()] { p->ReceiveLoop(); });
  return f;
}

StreamInputFeed::~StreamInputFeed() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

absl::Status StreamInputFeed::Apply(const TensorFrame& f) {
  const int64_t n = o_.samples;
  const auto& shape = o_.sample_shape;
  bool fits = f.tensor.defined() && f.tensor.dim() == 3 && f.tensor.size(1) == shape[0] &&
              f.tensor.size(2) == shape[1] && f.index >= 0 && f.index + f.tensor.size(0) <= n;
  if (!fits || (f.tag != "fp" && f.tag != "qstep" && f.tag != "quant")) {
    return absl::DataLossError(absl::StrCat("stream: unexpected frame '", f.tag, "' at sample ",
                                            f.index));
  }
  const int64_t rows = f.tensor.size(0);
  if (o_.on_bytes) o_.on_bytes(f.tensor.numel() * f.tensor.element_size());
  if (f.tag == "fp") {
    if (fp_rows_ >= n) return absl::DataLossError("stream: fp frame after the fp inputs were complete");
    fp_->Write(f.index, f.tensor);
    fp_rows_ += rows;
    return absl::OkStatus();
  }
  bool final = f.tag == "quant";
  for (int64_t r = 0; r < rows; ++r) {
    int64_t i = f.index + r;
    if (have_final_[i] && !final) continue;  // a late in-training row never replaces a final one
    q_->Write(i, f.tensor.narrow(0, r, 1));
    if (!have_q_[i]) ++quant_rows_;
    have_q_[i] = 1;
    if (final && !have_final_[i]) {
      have_final_[i] = 1;
      ++final_rows_;
    }
  }
  return absl::OkStatus();
}

void StreamInputFeed::ReceiveLoop() {
  while (!stop_) {
    auto fr = rx_->Recv(absl::Seconds(1));
    absl::MutexLock l(&mu_);
    if (!fr.ok()) {
      if (fr.status().code() == absl::StatusCode::kDeadlineExceeded) continue;
      ended_ = true;
      if (fr.status().code() != absl::StatusCode::kOutOfRange) {
        error_ = fr.status();
      } else if (final_rows_ < o_.samples) {
        error_ = absl::DataLossError(absl::StrFormat(
            "stream ended with %d of %d final quantized samples", final_rows_, o_.samples));
      }
      return;
    }
    absl::Status st = Apply(*fr);
    if (!st.ok()) {
      ended_ = true;
      error_ = st;
      return;
    }
  }
}

int64_t StreamInputFeed::quant_rows_received() const {
  absl::MutexLock l(&mu_);
  return quant_rows_;
}

torch::Tensor StreamInputFeed::Mixed(const std::vector<int64_t>& idx, double lambda) {
  torch::Tensor x = fp_->Gather(idx);  // a fresh tensor (cat), safe to modify
  if (lambda <= 0) {
    // Past the annealing: train on real quantized inputs only, so wait for
    // them (a dead stream is reported by WaitFinal; fp fills in until then).
    for (;;) {
      {
        absl::MutexLock l(&mu_);
        auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          if (ended_) return true;
          for (int64_t i : idx) {
            if (!have_q_[i]) return false;
          }
          return true;
        };
        if (mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Seconds(1))) break;
      }
      if (o_.on_wait_tick) o_.on_wait_tick();
    }
  }
  absl::MutexLock l(&mu_);
  for (size_t j = 0; j < idx.size(); ++j) {
    if (!have_q_[idx[j]]) continue;
    torch::Tensor row = x[static_cast<int64_t>(j)];
    row.mul_(lambda).add_(q_->Read(idx[j], 1)[0], 1.0 - lambda);
  }
  return x;
}

void StreamInputFeed::Snapshot(ActivationStore* q) {
  const int64_t n = o_.samples;
  for (int64_t i = 0; i < n; i += kCopyBatch) {
    int64_t m = std::min(kCopyBatch, n - i);
    torch::Tensor x = fp_->Read(i, m).clone();
    {
      absl::MutexLock l(&mu_);
      for (int64_t r = 0; r < m; ++r) {
        if (have_q_[i + r]) x[r].copy_(q_->Read(i + r, 1)[0]);
      }
    }
    q->Write(i, x);
  }
}

absl::Status StreamInputFeed::WaitFinal(ActivationStore* q) {
  for (;;) {
    {
      absl::MutexLock l(&mu_);
      auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return final_rows_ == o_.samples || ended_;
      };
      mu_.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(1));
      if (final_rows_ == o_.samples) {
        q->CopyFrom(*q_);
        return absl::OkStatus();
      }
      if (ended_) return error_;
    }
    if (o_.on_wait_tick) o_.on_wait_tick();
  }
}

absl::Status StreamInputFeed::TakeFinal(std::unique_ptr<ActivationStore>* fp,
                                        std::unique_ptr<ActivationStore>* q) {
  for (;;) {
    {
      absl::MutexLock l(&mu_);
      auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return ended_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&ended), absl::Seconds(1))) break;
    }
    if (o_.on_wait_tick) o_.on_wait_tick();
  }
  if (thread_.joinable()) thread_.join();
  absl::MutexLock l(&mu_);
  if (!error_.ok()) return error_;
  *fp = std::move(fp_);
  *q = std::move(q_);
  return absl::OkStatus();
}

}  // namespace eqat
