// Activation transport: how pipeline stage k streams activation batches
// (float tensors [n, L, hidden], tagged "fp" or "quant") to stage k+1.
//
// Only the data path lives here. Rendezvous (who listens where, the NCCL
// unique id, the stream secret a TCP sender presents: tcp_transport.h) is
// the coordinator's business and happens before a sender or receiver exists. Implementations:
//   tcp_transport.h     framed TCP stream between processes or hosts;
//   inproc_transport.h  in-memory bounded channel (tests, a stage to itself);
//   nccl_transport.h    ncclSend/ncclRecv (built only with EQAT_WITH_NCCL).
// All of them pass the same shared test suite (tests/worker/transport_test.cc).
//
// Contract common to every implementation:
//   - Frames arrive complete, bit-exact and in send order, as contiguous CPU
//     tensors of the sent dtype and shape.
//   - The stream is bounded: a Send blocks while the receiver's buffer (at
//     most `max_buffered_frames` / `max_buffered_bytes`, plus what the medium
//     itself holds) is full; it fails after `timeout` without progress.
//   - End of stream is explicit (Close(), or a frame with end_of_stream set);
//     a peer that disappears without it is reported as Unavailable, never as
//     a clean end and never as a hang.
//   - A frame whose header is malformed yields DataLoss on the receiver; no
//     header can make it crash or allocate more than `max_frame_bytes`.
// Thread-safety: a sender and a receiver are each safe to call from several
// threads (calls are serialized), and the two ends may be used concurrently.
#ifndef EQAT_WORKER_TRANSPORT_ACTIVATION_TRANSPORT_H_
#define EQAT_WORKER_TRANSPORT_ACTIVATION_TRANSPORT_H_

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace eqat {

// One batch of activations. Wire limits: tag <= 255 bytes, tensor rank <= 8,
// dtype float32 / bfloat16 / float16, index >= 0.
struct TensorFrame {
  std::string tag;        // which activation set, e.g. "fp" or "quant"
  int64_t index = 0;      // index of the first sample in this batch
  torch::Tensor tensor;   // undefined only in a bare end-of-stream frame
  bool end_of_stream = false;  // last frame of the stream
};

struct TransportOptions {
  // Connect + handshake limit of a sender, and how long a Send (or a frame
  // already half received) may go without progress before the peer counts as
  // stalled: Send then fails with DeadlineExceeded and the stream is broken.
  // Must exceed the longest pause of the consuming stage.
  absl::Duration timeout = absl::Minutes(5);
  // TCP listener only: an accepted connection must deliver its whole hello
  // within this, or it is closed as a stray (port scan, silent or foreign
  // client) and the listener keeps waiting for a real sender. A real sender
  // writes its hello right after connecting, so one round trip suffices;
  // short keeps strays cheap. > 0 (checked by TcpActivationListener::Create).
  absl::Duration hello_timeout = absl::Seconds(5);
  // Receiver-side buffer: frames queued but not yet returned by Recv. >= 1.
  int max_buffered_frames = 4;
  // Same buffer in payload bytes; a single larger frame is still admitted
  // when the buffer is empty. >= 1.
  int64_t max_buffered_bytes = int64_t{1} << 30;
  // Largest payload of one frame; larger frames are refused by Send
  // (InvalidArgument) and by the receiver (DataLoss). At most 4 GiB.
  int64_t max_frame_bytes = int64_t{4} << 30;
  // TCP only: SO_SNDBUF / SO_RCVBUF in bytes; 0 keeps the OS default
  // (autotuned). Small values make backpressure reach the sender sooner.
  int socket_buffer_bytes = 0;
};

// Largest value accepted for TransportOptions::max_frame_bytes.
inline constexpr int64_t kMaxFrameBytesLimit = int64_t{4} << 30;

// InvalidArgument unless every field of `options` is in range.
absl::Status ValidateTransportOptions(const TransportOptions& options);

class ActivationSender {
 public:
  virtual ~ActivationSender() = default;

  // Hands `frame` to the transport; the caller may reuse the tensor as soon
  // as this returns (the frame is copied or written out). Blocks while the
  // receiver's buffer is full. A frame with end_of_stream set ends the stream.
  // Errors: InvalidArgument for a frame the wire cannot carry (the stream
  // stays usable); FailedPrecondition after end of stream; Unavailable when
  // the receiver is gone; DeadlineExceeded when it made no progress within
  // options.timeout. After Unavailable / DeadlineExceeded the stream is
  // broken and every later call returns that error.
  virtual absl::Status Send(const TensorFrame& frame) = 0;

  // Ends the stream (sends an end-of-stream marker unless a frame already
  // carried one) and releases the connection. Idempotent. Destroying a
  // sender without Close() looks to the receiver like a dead peer.
  virtual absl::Status Close() = 0;
};

class ActivationReceiver {
 public:
  virtual ~ActivationReceiver() = default;

  // Next frame in send order, waiting at most `timeout` (<= 0: no wait).
  // A bare end-of-stream marker is not returned as a frame.
  // Errors: DeadlineExceeded when nothing arrived in time (the stream stays
  // usable); OutOfRange once the stream has ended (every later call too);
  // Unavailable when the sender vanished or stalled mid-frame; DataLoss for
  // a malformed frame. Frames received before an error are returned first.
  virtual absl::StatusOr<TensorFrame> Recv(absl::Duration timeout) = 0;
};

// Both ends of one stream, for transports that create them together
// (in-process channel, NCCL loopback).
struct ActivationChannel {
  std::unique_ptr<ActivationSender> sender;
  std::unique_ptr<ActivationReceiver> receiver;
};

}  // namespace eqat

#endif  // EQAT_WORKER_TRANSPORT_ACTIVATION_TRANSPORT_H_
