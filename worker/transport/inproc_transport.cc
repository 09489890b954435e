#include "worker/transport/inproc_transport.h"

#include <deque>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "worker/transport/frame_codec.h"

namespace eqat {
namespace {

struct Channel {
  explicit Channel(const TransportOptions& o) : options(o) {}
  const TransportOptions options;
  absl::Mutex mu;
  std::deque<TensorFrame> queue ABSL_GUARDED_BY(mu);
  int64_t queued_bytes ABSL_GUARDED_BY(mu) = 0;
  bool ended ABSL_GUARDED_BY(mu) = false;          // end of stream sent
  bool sender_gone ABSL_GUARDED_BY(mu) = false;    // destroyed without end
  bool receiver_gone ABSL_GUARDED_BY(mu) = false;
};

class InprocSender : public ActivationSender {
 public:
  explicit InprocSender(std::shared_ptr<Channel> ch) : ch_(std::move(ch)) {}
  ~InprocSender() override {
    absl::MutexLock lock(&ch_->mu);
    if (!ch_->ended) ch_->sender_gone = true;
  }

  absl::Status Send(const TensorFrame& frame) override {
    absl::MutexLock send_lock(&send_mu_);
    RETURN_IF_ERROR(broken_);
    if (ended_) return absl::FailedPreconditionError("Send after end of stream");
    ASSIGN_OR_RETURN(FrameHeader header, DescribeFrame(frame, ch_->options.max_frame_bytes));
    TensorFrame copy;
    copy.tag = frame.tag;
    copy.index = frame.index;
    copy.end_of_stream = frame.end_of_stream;
    if (header.has_tensor) copy.tensor = WirePayload(frame.tensor).clone();
    const int64_t bytes = header.payload_bytes;

    absl::MutexLock lock(&ch_->mu);
    Channel* ch = ch_.get();
    auto room = [ch, bytes]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(ch->mu) {
      if (ch->receiver_gone || ch->queue.empty()) return true;
      return static_cast<int>(ch->queue.size()) < ch->options.max_buffered_frames &&
             ch->queued_bytes + bytes <= ch->options.max_buffered_bytes;
    };
    if (!ch->mu.AwaitWithTimeout(absl::Condition(&room), ch->options.timeout)) {
      broken_ = absl::DeadlineExceededError("inproc receiver did not drain within the timeout");
      return broken_;
    }
    if (ch->receiver_gone) {
      broken_ = absl::UnavailableError("inproc receiver is gone");
      return broken_;
    }
    if (copy.tensor.defined()) {
      ch->queue.push_back(std::move(copy));
      ch->queued_bytes += bytes;
    }
    if (frame.end_of_stream) {
      ch->ended = true;
      ended_ = true;
    }
    return absl::OkStatus();
  }

  absl::Status Close() override {
    absl::MutexLock send_lock(&send_mu_);
    RETURN_IF_ERROR(broken_);
    absl::MutexLock lock(&ch_->mu);
    ch_->ended = true;
    ended_ = true;
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<Channel> ch_;
  absl::Mutex send_mu_;
  absl::Status broken_ ABSL_GUARDED_BY(send_mu_);
  bool ended_ ABSL_GUARDED_BY(send_mu_) = false;
};

class InprocReceiver : public ActivationReceiver {
 public:
  explicit InprocReceiver(std::shared_ptr<Channel> ch) : ch_(std::move(ch)) {}
  ~InprocReceiver() override {
    absl::MutexLock lock(&ch_->mu);
    ch_->receiver_gone = true;
    ch_->queue.clear();
    ch_->queued_bytes = 0;
  }

  absl::StatusOr<TensorFrame> Recv(absl::Duration timeout) override {
    Channel* ch = ch_.get();
    absl::MutexLock lock(&ch->mu);
    auto ready = [ch]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(ch->mu) {
      return !ch->queue.empty() || ch->ended || ch->sender_gone;
    };
    if (!ch->mu.AwaitWithTimeout(absl::Condition(&ready), std::max(timeout, absl::ZeroDuration()))) {
      return absl::DeadlineExceededError("no activation frame within the timeout");
    }
    if (!ch->queue.empty()) {
      TensorFrame frame = std::move(ch->queue.front());
      ch->queue.pop_front();
      ch->queued_bytes -= frame.tensor.numel() * static_cast<int64_t>(frame.tensor.element_size());
      return frame;
    }
    if (ch->ended) return absl::OutOfRangeError("activation stream ended");
    return absl::UnavailableError("inproc sender vanished without end of stream");
  }

 private:
  std::shared_ptr<Channel> ch_;
};

}  // namespace

absl::StatusOr<ActivationChannel> CreateInprocChannel(const TransportOptions& options) {
  RETURN_IF_ERROR(ValidateTransportOptions(options));
  auto ch = std::make_shared<Channel>(options);
  ActivationChannel out;
  out.sender = std::make_unique<InprocSender>(ch);
  out.receiver = std::make_unique<InprocReceiver>(ch);
  return out;
}

}  // namespace eqat
