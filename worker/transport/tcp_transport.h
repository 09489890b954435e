// Activation transport over one plain TCP connection per stream.
//
// Wire: after connect, the sender writes a 16-byte hello (magic "EQATACTS",
// u32 protocol version, u32 zero; little-endian) and the receiver answers
// with "EQATACTR", its version and a status word (0 = accepted). Then the
// sender writes frames (frame_codec.h: fixed header + raw payload) and
// nothing flows back. A bare end-of-stream frame ends the stream; closing
// the connection without it reads as a dead sender (Unavailable).
//
// Flow control: the receiver's reader thread queues at most
// max_buffered_frames / max_buffered_bytes frames and stops reading the socket
// when the queue is full, so TCP's window pushes back on the sender, whose
// Send then blocks (up to options.timeout without progress).
// Failure detection: I/O uses poll() deadlines; TCP_NODELAY and keepalive are
// on; a peer that closes or resets shows up as Unavailable on the other end.
// Sockets are bound / connected only to the address given ("host:port",
// "[v6addr]:port"); nothing listens on a wildcard address unless asked to.
// Thread-safety: listener methods, Send/Close and Recv are thread-safe.
#ifndef EQAT_WORKER_TRANSPORT_TCP_TRANSPORT_H_
#define EQAT_WORKER_TRANSPORT_TCP_TRANSPORT_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "worker/transport/activation_transport.h"

namespace eqat {

inline constexpr char kTcpSenderHelloMagic[] = "EQATACTS";    // 8 bytes on the wire
inline constexpr char kTcpReceiverHelloMagic[] = "EQATACTR";  // 8 bytes on the wire
inline constexpr uint32_t kTcpProtocolVersion = 1;
inline constexpr size_t kTcpHelloBytes = 16;

class TcpActivationListener {
 public:
  // Listens on `address` ("127.0.0.1:0" picks a free port). Options apply to
  // every accepted receiver. Errors: InvalidArgument (address, options),
  // Unavailable (port in use, bind/listen failure), PermissionDenied.
  static absl::StatusOr<std::unique_ptr<TcpActivationListener>> Create(
      const std::string& address, const TransportOptions& options = {});
  ~TcpActivationListener();
  TcpActivationListener(const TcpActivationListener&) = delete;
  TcpActivationListener& operator=(const TcpActivationListener&) = delete;

  int port() const { return port_; }

  // Waits up to `timeout` for one sender and completes its handshake (itself
  // bounded by options.timeout). Errors: DeadlineExceeded (no sender),
  // DataLoss (not our hello), FailedPrecondition (protocol version mismatch),
  // Unavailable (the connection failed). The listener stays usable.
  absl::StatusOr<std::unique_ptr<ActivationReceiver>> Accept(absl::Duration timeout);

 private:
  TcpActivationListener(int fd, int port, const TransportOptions& options)
      : fd_(fd), port_(port), options_(options) {}
  const int fd_;
  const int port_;
  const TransportOptions options_;
  absl::Mutex mu_;  // serializes Accept
};

class TcpActivationSender : public ActivationSender {
 public:
  // Connects to a listener at `address` and completes the handshake within
  // options.timeout. Errors: InvalidArgument (address, options), Unavailable
  // (refused / unreachable), DeadlineExceeded, DataLoss (peer is not an
  // activation receiver), FailedPrecondition (version mismatch).
  static absl::StatusOr<std::unique_ptr<TcpActivationSender>> Connect(
      const std::string& address, const TransportOptions& options = {});
  // Without a prior Close() the connection is just closed: the receiver sees
  // a vanished sender (Unavailable) after the frames already sent.
  ~TcpActivationSender() override;
  TcpActivationSender(const TcpActivationSender&) = delete;
  TcpActivationSender& operator=(const TcpActivationSender&) = delete;

  absl::Status Send(const TensorFrame& frame) override;
  absl::Status Close() override;

 private:
  TcpActivationSender(int fd, const TransportOptions& options) : fd_(fd), options_(options) {}
  absl::Status SendLocked(const TensorFrame& frame) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  int fd_ ABSL_GUARDED_BY(mu_);
  const TransportOptions options_;
  absl::Status broken_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace eqat

#endif  // EQAT_WORKER_TRANSPORT_TCP_TRANSPORT_H_
