#include "worker/transport/nccl_transport.h"

#if defined(EQAT_WITH_NCCL)

#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "worker/transport/frame_codec.h"
#include "worker/transport/inproc_transport.h"

namespace eqat {
namespace {

absl::Status CudaStatus(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", cudaGetErrorString(e)));
}

absl::Status NcclStatus(ncclResult_t r, const char* what, ncclComm_t comm) {
  const std::string msg =
      absl::StrCat(what, ": ", ncclGetErrorString(r),
                   comm != nullptr ? absl::StrCat(" (", ncclGetLastError(comm), ")") : "");
  switch (r) {
    case ncclSystemError:
    case ncclRemoteError:
      return absl::UnavailableError(msg);
    default:
      return absl::InternalError(msg);
  }
}

// Device memory grown on demand; freed on the device current at destruction.
struct DeviceBuffer {
  void* ptr = nullptr;
  size_t cap = 0;
  ~DeviceBuffer() {
    if (ptr != nullptr) cudaFree(ptr);
  }
  absl::Status Reserve(size_t n) {
    if (n <= cap) return absl::OkStatus();
    if (ptr != nullptr) cudaFree(ptr);
    ptr = nullptr;
    cap = 0;
    RETURN_IF_ERROR(CudaStatus(cudaMalloc(&ptr, n), "cudaMalloc"));
    cap = n;
    return absl::OkStatus();
  }
};

// One communicator, its stream and staging buffers. Not thread-safe: the
// owning sender / receiver serializes calls.
class NcclLink {
 public:
  static absl::StatusOr<std::unique_ptr<NcclLink>> Create(const NcclLinkConfig& c,
                                                          const TransportOptions& o) {
    RETURN_IF_ERROR(ValidateTransportOptions(o));
    if (c.unique_id.size() != sizeof(ncclUniqueId)) {
      return absl::InvalidArgumentError(absl::StrCat("NCCL unique id must be ",
                                                     sizeof(ncclUniqueId), " bytes, got ",
                                                     c.unique_id.size()));
    }
    if (c.nranks < 1 || c.rank < 0 || c.rank >= c.nranks || c.peer_rank < 0 ||
        c.peer_rank >= c.nranks || (c.nranks > 1 && c.peer_rank == c.rank) ||
        c.chunk_bytes < 1 || c.chunk_bytes > (int64_t{1} << 32)) {
      return absl::InvalidArgumentError(absl::StrCat("bad NCCL link: rank ", c.rank, "/",
                                                     c.nranks, " peer ", c.peer_rank,
                                                     " chunk ", c.chunk_bytes));
    }
    if (c.device < 0 || c.device >= NcclActivationTransport::DeviceCount()) {
      return absl::FailedPreconditionError(absl::StrCat("no CUDA device ", c.device));
    }
    auto link = std::unique_ptr<NcclLink>(new NcclLink(c, o));
    RETURN_IF_ERROR(CudaStatus(cudaSetDevice(c.device), "cudaSetDevice"));
    RETURN_IF_ERROR(CudaStatus(cudaStreamCreateWithFlags(&link->stream_, cudaStreamNonBlocking),
                               "cudaStreamCreate"));
    ncclUniqueId id;
    std::memcpy(&id, c.unique_id.data(), sizeof(id));
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;  // lets us bound every wait and abort
    const ncclResult_t r = ncclCommInitRankConfig(&link->comm_, c.nranks, id, c.rank, &config);
    if (r != ncclSuccess && r != ncclInProgress) {
      absl::Status s = NcclStatus(r, "ncclCommInitRankConfig", link->comm_);
      (void)link->Break(s);
      return s;
    }
    RETURN_IF_ERROR(link->AwaitComm("NCCL communicator init (peers did not join)"));
    return link;
  }

  ~NcclLink() {
    cudaSetDevice(device_);
    if (comm_ != nullptr && broken_.ok() && clean_) {
      // Graceful: flush, then free; AwaitComm aborts if it does not settle.
      const ncclResult_t r = ncclCommFinalize(comm_);
      const absl::Duration limit = std::min(options_.timeout, absl::Seconds(10));
      if ((r == ncclSuccess || r == ncclInProgress) &&
          AwaitComm("ncclCommFinalize", limit).ok() && comm_ != nullptr) {
        ncclCommDestroy(comm_);
        comm_ = nullptr;
      }
    }
    if (comm_ != nullptr) ncclCommAbort(comm_);
    comm_ = nullptr;
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  const absl::Status& broken() const { return broken_; }
  const TransportOptions& options() const { return options_; }
  // The stream ended normally: release the communicator gracefully.
  void MarkClean() { clean_ = true; }

  // Two-rank send of one frame: header, then payload chunks.
  absl::Status SendFrame(const FrameHeader& h, const torch::Tensor& payload) {
    RETURN_IF_ERROR(Use());
    EncodeFrameHeader(h, host_hdr_);
    RETURN_IF_ERROR(hdr_send_.Reserve(kFrameHeaderBytes));
    // Pageable copies synchronize the stream, so it must be idle before each.
    RETURN_IF_ERROR(WaitStream("NCCL receiver", absl::StatusCode::kDeadlineExceeded));
    RETURN_IF_ERROR(Cuda(cudaMemcpyAsync(hdr_send_.ptr, host_hdr_, kFrameHeaderBytes,
                                         cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync"));
    RETURN_IF_ERROR(Enqueue(ncclSend(hdr_send_.ptr, kFrameHeaderBytes, ncclUint8, peer_, comm_,
                                     stream_), "ncclSend"));
    const char* src = h.payload_bytes > 0 ? static_cast<const char*>(payload.data_ptr()) : nullptr;
    for (int64_t off = 0; off < h.payload_bytes; off += chunk_) {
      const size_t n = static_cast<size_t>(std::min(chunk_, h.payload_bytes - off));
      RETURN_IF_ERROR(data_send_.Reserve(n));
      RETURN_IF_ERROR(WaitStream("NCCL receiver", absl::StatusCode::kDeadlineExceeded));
      RETURN_IF_ERROR(Cuda(cudaMemcpyAsync(data_send_.ptr, src + off, n, cudaMemcpyHostToDevice,
                                           stream_), "cudaMemcpyAsync"));
      RETURN_IF_ERROR(Enqueue(ncclSend(data_send_.ptr, n, ncclUint8, peer_, comm_, stream_),
                              "ncclSend"));
    }
    return WaitStream("NCCL receiver", absl::StatusCode::kDeadlineExceeded);
  }

  // Two-rank receive. DeadlineExceeded (stream intact) when no header came
  // within `wait`; the posted header receive stays pending for the next call.
  // OutOfRange for a bare end-of-stream frame.
  absl::StatusOr<TensorFrame> RecvFrame(absl::Duration wait) {
    RETURN_IF_ERROR(Use());
    if (!header_posted_) {
      RETURN_IF_ERROR(hdr_recv_.Reserve(kFrameHeaderBytes));
      RETURN_IF_ERROR(Enqueue(ncclRecv(hdr_recv_.ptr, kFrameHeaderBytes, ncclUint8, peer_, comm_,
                                       stream_), "ncclRecv"));
      header_posted_ = true;
    }
    absl::Status s = PollStream(absl::Now() + std::max(wait, absl::ZeroDuration()));
    if (absl::IsDeadlineExceeded(s) && broken_.ok()) {
      return absl::DeadlineExceededError("no activation frame within the timeout");
    }
    RETURN_IF_ERROR(s);
    header_posted_ = false;
    ASSIGN_OR_RETURN(FrameHeader h, FetchHeader());
    if (!h.has_tensor) return absl::OutOfRangeError("activation stream ended");
    TensorFrame frame;
    frame.tag = std::move(h.tag);
    frame.index = h.index;
    frame.end_of_stream = h.end_of_stream;
    frame.tensor = AllocateFramePayload(h);
    char* dst = static_cast<char*>(frame.tensor.data_ptr());
    for (int64_t off = 0; off < h.payload_bytes; off += chunk_) {
      const size_t n = static_cast<size_t>(std::min(chunk_, h.payload_bytes - off));
      RETURN_IF_ERROR(data_recv_.Reserve(n));
      RETURN_IF_ERROR(Enqueue(ncclRecv(data_recv_.ptr, n, ncclUint8, peer_, comm_, stream_),
                              "ncclRecv"));
      RETURN_IF_ERROR(WaitStream("NCCL sender (mid-frame)", absl::StatusCode::kUnavailable));
      RETURN_IF_ERROR(Cuda(cudaMemcpyAsync(dst + off, data_recv_.ptr, n, cudaMemcpyDeviceToHost,
                                           stream_), "cudaMemcpyAsync"));
      RETURN_IF_ERROR(WaitStream("device copy", absl::StatusCode::kUnavailable));
    }
    return frame;
  }

  // Single-rank loopback: moves `frame` through a grouped self send/recv.
  absl::StatusOr<TensorFrame> RoundTrip(const TensorFrame& in) {
    RETURN_IF_ERROR(Use());
    ASSIGN_OR_RETURN(FrameHeader sent, DescribeFrame(in, options_.max_frame_bytes));
    EncodeFrameHeader(sent, host_hdr_);
    RETURN_IF_ERROR(hdr_send_.Reserve(kFrameHeaderBytes));
    RETURN_IF_ERROR(hdr_recv_.Reserve(kFrameHeaderBytes));
    RETURN_IF_ERROR(WaitStream("NCCL loopback", absl::StatusCode::kUnavailable));
    RETURN_IF_ERROR(Cuda(cudaMemcpyAsync(hdr_send_.ptr, host_hdr_, kFrameHeaderBytes,
                                         cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync"));
    RETURN_IF_ERROR(SelfSendRecv(hdr_send_.ptr, hdr_recv_.ptr, kFrameHeaderBytes));
    RETURN_IF_ERROR(WaitStream("NCCL loopback", absl::StatusCode::kUnavailable));
    ASSIGN_OR_RETURN(FrameHeader h, FetchHeader());
    TensorFrame out;
    out.tag = std::move(h.tag);
    out.index = h.index;
    out.end_of_stream = h.end_of_stream;
    if (!h.has_tensor) return out;
    torch::Tensor payload = WirePayload(in.tensor);
    const char* src = static_cast<const char*>(payload.data_ptr());
    out.tensor = AllocateFramePayload(h);
    char* dst = static_cast<char*>(out.tensor.data_ptr());
    for (int64_t off = 0; off < h.payload_bytes; off += chunk_) {
      const size_t n = static_cast<size_t>(std::min(chunk_, h.payload_bytes - off));
      RETURN_IF_ERROR(data_send_.Reserve(n));
      RETURN_IF_ERROR(data_recv_.Reserve(n));
      RETURN_IF_ERROR(Cuda(cudaMemcpyAsync(data_send_.ptr, src + off, n, cudaMemcpyHostToDevice,
                                           stream_), "cudaMemcpyAsync"));
      RETURN_IF_ERROR(SelfSendRecv(data_send_.ptr, data_recv_.ptr, n));
      RETURN_IF_ERROR(WaitStream("NCCL loopback", absl::StatusCode::kUnavailable));
      RETURN_IF_ERROR(Cuda(cudaMemcpyAsync(dst + off, data_recv_.ptr, n, cudaMemcpyDeviceToHost,
                                           stream_), "cudaMemcpyAsync"));
      RETURN_IF_ERROR(WaitStream("device copy", absl::StatusCode::kUnavailable));
    }
    return out;
  }

 private:
  NcclLink(const NcclLinkConfig& c, const TransportOptions& o)
      : device_(c.device), peer_(c.peer_rank), chunk_(c.chunk_bytes), options_(o) {}

  absl::Status Use() {
    RETURN_IF_ERROR(broken_);
    return Cuda(cudaSetDevice(device_), "cudaSetDevice");
  }

  // Aborts the communicator: every later call fails with `s`.
  absl::Status Break(absl::Status s) {
    if (broken_.ok()) broken_ = s;
    if (comm_ != nullptr) ncclCommAbort(comm_);
    comm_ = nullptr;
    return broken_;
  }

  absl::Status Cuda(cudaError_t e, const char* what) {
    if (e == cudaSuccess) return absl::OkStatus();
    return Break(CudaStatus(e, what));
  }

  // Waits until a non-blocking communicator call has been fully issued.
  absl::Status AwaitComm(const char* what) { return AwaitComm(what, options_.timeout); }
  absl::Status AwaitComm(const char* what, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    absl::Duration nap = absl::Microseconds(20);
    while (comm_ != nullptr) {
      ncclResult_t state = ncclSuccess;
      const ncclResult_t r = ncclCommGetAsyncError(comm_, &state);
      if (r != ncclSuccess) return Break(NcclStatus(r, "ncclCommGetAsyncError", comm_));
      if (state == ncclSuccess) return absl::OkStatus();
      if (state != ncclInProgress) return Break(NcclStatus(state, what, comm_));
      if (absl::Now() >= deadline) {
        return Break(absl::DeadlineExceededError(
            absl::StrCat(what, ": not done within ", absl::FormatDuration(timeout))));
      }
      absl::SleepFor(nap);
      nap = std::min(nap * 2, absl::Milliseconds(1));
    }
    return broken_.ok() ? absl::FailedPreconditionError("NCCL communicator released") : broken_;
  }

  absl::Status Enqueue(ncclResult_t r, const char* what) {
    if (r == ncclSuccess) return absl::OkStatus();
    if (r == ncclInProgress) return AwaitComm(what);
    return Break(NcclStatus(r, what, comm_));
  }

  absl::Status SelfSendRecv(const void* send, void* recv, size_t n) {
    ncclResult_t r = ncclGroupStart();
    if (r != ncclSuccess) return Break(NcclStatus(r, "ncclGroupStart", comm_));
    const ncclResult_t a = ncclSend(send, n, ncclUint8, peer_, comm_, stream_);
    const ncclResult_t b = ncclRecv(recv, n, ncclUint8, peer_, comm_, stream_);
    r = ncclGroupEnd();  // always close the group, even after a failed call
    if (a != ncclSuccess && a != ncclInProgress) return Break(NcclStatus(a, "ncclSend", comm_));
    if (b != ncclSuccess && b != ncclInProgress) return Break(NcclStatus(b, "ncclRecv", comm_));
    return Enqueue(r, "ncclGroupEnd");
  }

  // OK once the stream drained; DeadlineExceeded (not breaking) at
  // `deadline`; NCCL / CUDA errors break the link.
  absl::Status PollStream(absl::Time deadline) {
    absl::Duration nap = absl::Microseconds(20);
    while (true) {
      const cudaError_t q = cudaStreamQuery(stream_);
      if (q == cudaSuccess) return absl::OkStatus();
      if (q != cudaErrorNotReady) return Break(CudaStatus(q, "cudaStreamQuery"));
      ncclResult_t state = ncclSuccess;
      if (comm_ == nullptr) return broken_;
      ncclCommGetAsyncError(comm_, &state);
      if (state != ncclSuccess && state != ncclInProgress) {
        return Break(NcclStatus(state, "NCCL transfer", comm_));
      }
      if (absl::Now() >= deadline) return absl::DeadlineExceededError("stream busy");
      absl::SleepFor(nap);
      nap = std::min(nap * 2, absl::Milliseconds(1));
    }
  }

  // Waits up to options.timeout; a stall aborts with `code`.
  absl::Status WaitStream(const char* who, absl::StatusCode code) {
    absl::Status s = PollStream(absl::Now() + options_.timeout);
    if (absl::IsDeadlineExceeded(s) && broken_.ok()) {
      return Break(absl::Status(code, absl::StrCat(who, " made no progress for ",
                                                   absl::FormatDuration(options_.timeout))));
    }
    return s;
  }

  // Copies the received header to the host and validates it; a bad header
  // desynchronizes the stream, so it breaks the link.
  absl::StatusOr<FrameHeader> FetchHeader() {
    RETURN_IF_ERROR(Cuda(cudaMemcpyAsync(host_hdr_, hdr_recv_.ptr, kFrameHeaderBytes,
                                         cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync"));
    RETURN_IF_ERROR(WaitStream("device copy", absl::StatusCode::kUnavailable));
    absl::StatusOr<FrameHeader> h = DecodeFrameHeader(host_hdr_, options_.max_frame_bytes);
    if (!h.ok()) return Break(h.status());
    return h;
  }

  const int device_;
  const int peer_;
  const int64_t chunk_;
  const TransportOptions options_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  DeviceBuffer hdr_send_, hdr_recv_, data_send_, data_recv_;
  uint8_t host_hdr_[kFrameHeaderBytes] = {};
  absl::Status broken_;
  bool header_posted_ = false;
  bool clean_ = false;
};

class NcclSender : public ActivationSender {
 public:
  explicit NcclSender(std::unique_ptr<NcclLink> link) : link_(std::move(link)) {}

  absl::Status Send(const TensorFrame& frame) override {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(link_->broken());
    if (ended_) return absl::FailedPreconditionError("Send after end of stream");
    ASSIGN_OR_RETURN(FrameHeader h, DescribeFrame(frame, link_->options().max_frame_bytes));
    torch::Tensor payload;
    if (h.has_tensor) payload = WirePayload(frame.tensor);
    RETURN_IF_ERROR(link_->SendFrame(h, payload));
    if (frame.end_of_stream) End();
    return absl::OkStatus();
  }

  absl::Status Close() override {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(link_->broken());
    if (!ended_) {
      FrameHeader eos;
      eos.end_of_stream = true;
      RETURN_IF_ERROR(link_->SendFrame(eos, torch::Tensor()));
      End();
    }
    return absl::OkStatus();
  }

 private:
  void End() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ended_ = true;
    link_->MarkClean();
  }

  absl::Mutex mu_;
  std::unique_ptr<NcclLink> link_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
};

class NcclReceiver : public ActivationReceiver {
 public:
  explicit NcclReceiver(std::unique_ptr<NcclLink> link) : link_(std::move(link)) {}

  absl::StatusOr<TensorFrame> Recv(absl::Duration timeout) override {
    absl::MutexLock lock(&mu_);
    if (terminal_.has_value()) return *terminal_;
    absl::StatusOr<TensorFrame> f = link_->RecvFrame(timeout);
    if (f.ok()) {
      if (f->end_of_stream) End();
      return f;
    }
    if (absl::IsOutOfRange(f.status())) {
      End();
      return *terminal_;
    }
    if (absl::IsDeadlineExceeded(f.status()) && link_->broken().ok()) return f;
    terminal_ = f.status();
    return f;
  }

 private:
  void End() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    terminal_ = absl::OutOfRangeError("activation stream ended");
    link_->MarkClean();
  }

  absl::Mutex mu_;
  std::unique_ptr<NcclLink> link_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> terminal_ ABSL_GUARDED_BY(mu_);
};

// Receiver end of the loopback: frames come from the in-process channel and
// are moved through the device by a grouped self send/recv.
class NcclLoopbackReceiver : public ActivationReceiver {
 public:
  NcclLoopbackReceiver(std::unique_ptr<ActivationReceiver> inner, std::unique_ptr<NcclLink> link)
      : inner_(std::move(inner)), link_(std::move(link)) {
    link_->MarkClean();  // single rank: always safe to finalize
  }

  absl::StatusOr<TensorFrame> Recv(absl::Duration timeout) override {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(link_->broken());
    ASSIGN_OR_RETURN(TensorFrame frame, inner_->Recv(timeout));
    return link_->RoundTrip(frame);
  }

 private:
  absl::Mutex mu_;
  std::unique_ptr<ActivationReceiver> inner_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<NcclLink> link_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::string> NcclActivationTransport::NewUniqueId() {
  ncclUniqueId id;
  const ncclResult_t r = ncclGetUniqueId(&id);
  if (r != ncclSuccess) return NcclStatus(r, "ncclGetUniqueId", nullptr);
  return std::string(reinterpret_cast<const char*>(&id), sizeof(id));
}

int NcclActivationTransport::DeviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

absl::StatusOr<std::unique_ptr<ActivationSender>> NcclActivationTransport::CreateSender(
    const NcclLinkConfig& config, const TransportOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<NcclLink> link, NcclLink::Create(config, options));
  return std::unique_ptr<ActivationSender>(new NcclSender(std::move(link)));
}

absl::StatusOr<std::unique_ptr<ActivationReceiver>> NcclActivationTransport::CreateReceiver(
    const NcclLinkConfig& config, const TransportOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<NcclLink> link, NcclLink::Create(config, options));
  return std::unique_ptr<ActivationReceiver>(new NcclReceiver(std::move(link)));
}

absl::StatusOr<ActivationChannel> NcclActivationTransport::CreateLoopback(
    int device, const TransportOptions& options, int64_t chunk_bytes) {
  ASSIGN_OR_RETURN(std::string id, NewUniqueId());
  NcclLinkConfig config;
  config.unique_id = std::move(id);
  config.rank = 0;
  config.nranks = 1;
  config.peer_rank = 0;
  config.device = device;
  config.chunk_bytes = chunk_bytes;
  ASSIGN_OR_RETURN(std::unique_ptr<NcclLink> link, NcclLink::Create(config, options));
  ASSIGN_OR_RETURN(ActivationChannel channel, CreateInprocChannel(options));
  channel.receiver = std::make_unique<NcclLoopbackReceiver>(std::move(channel.receiver),
                                                            std::move(link));
  return channel;
}

}  // namespace eqat

#endif  // EQAT_WITH_NCCL
