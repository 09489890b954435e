// Activation transport over one plain TCP connection per stream.
//
// Wire (protocol 2; all words u32 little-endian):
//   sender hello, 32 bytes: "EQATACTS" | version | 0 | 16-byte stream secret
//   receiver reply, 16 bytes: "EQATACTR" | version | status word
// Status 0 = accepted, 1 = another protocol version, 2 = wrong secret; the
// receiver closes the connection after a rejection. The secret is the one
// the coordinator issued to the receiving stage's assignment
// (Assignment.stream_secret, handed to the sender as RouteResponse.data_secret):
// only a sender routed to this very assignment gets its stream accepted.
// Then the sender writes frames (frame_codec.h: fixed header + raw payload)
// and nothing flows back. A bare end-of-stream frame ends the stream; closing
// the connection without it reads as a dead sender (Unavailable).
// The secret is compared in constant time. It authenticates the stream's
// start only: the bytes are not encrypted or integrity-protected, so the data
// network must still be trusted not to tamper with or read established
// streams. A protocol-1 sender (16-byte hello, no secret) is told "another
// version" right after its 16 bytes.
//
// Strays: whatever else connects to a listener (port scans, health checks,
// silent or foreign clients) costs it one of kTcpMaxPendingHellos pending
// slots for at most options.hello_timeout, and never fails Accept or holds
// up a real sender:
// the listener reads the hellos of all pending connections side by side
// (one poll() over them and the listening socket) and closes each that
// closes, sends bytes other than a sender hello, speaks another protocol
// version or presents another secret (both after answering them with a
// rejection), or stays silent too long (a short hello included).
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

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "worker/transport/activation_transport.h"

namespace eqat {

inline constexpr char kTcpSenderHelloMagic[] = "EQATACTS";    // 8 bytes on the wire
inline constexpr char kTcpReceiverHelloMagic[] = "EQATACTR";  // 8 bytes on the wire
inline constexpr uint32_t kTcpProtocolVersion = 2;
// The receiver's reply, and the part of the sender's hello up to its
// version's flags word (what every protocol version begins with).
inline constexpr size_t kTcpHelloBytes = 16;
// The secret a sender presents; exactly this long.
inline constexpr size_t kTcpStreamSecretBytes = 16;
// The whole sender hello: kTcpHelloBytes, then the secret.
inline constexpr size_t kTcpSenderHelloBytes = kTcpHelloBytes + kTcpStreamSecretBytes;
// Status words of the receiver's reply.
inline constexpr uint32_t kTcpHelloAccepted = 0;
inline constexpr uint32_t kTcpHelloBadVersion = 1;
inline constexpr uint32_t kTcpHelloBadSecret = 2;
// Accepted connections whose hello is still due, at most; a new connection
// beyond it pushes out (drops) the oldest, which has been silent longest.
inline constexpr size_t kTcpMaxPendingHellos = 64;

namespace tcp_internal {
struct PendingHello;  // an accepted connection awaiting its hello (tcp_transport.cc)
}  // namespace tcp_internal

class TcpActivationListener {
 public:
  // Listens on `address` ("127.0.0.1:0" picks a free port) with a SOMAXCONN
  // backlog. Options apply to every accepted receiver. Errors:
  // InvalidArgument (address, options), Unavailable (port in use, bind/listen
  // failure), PermissionDenied.
  static absl::StatusOr<std::unique_ptr<TcpActivationListener>> Create(
      const std::string& address, const TransportOptions& options = {});
  // Closes the listening socket and every connection still awaiting a hello.
  ~TcpActivationListener();
  TcpActivationListener(const TcpActivationListener&) = delete;
  TcpActivationListener& operator=(const TcpActivationListener&) = delete;

  int port() const { return port_; }

  // Waits up to `timeout` (<= 0: only what is ready now) for one sender whose
  // hello is valid and carries `secret` (kTcpStreamSecretBytes bytes: the
  // stream_secret of the assignment that receives), answers it, and returns
  // the receiver of its stream.
  // Strays (see the top of this file), senders with another secret
  // included, are closed, counted in dropped_connections(), and the wait
  // goes on: they never make Accept fail and a real sender is returned as
  // soon as its hello is in. A connection still awaiting its hello when
  // Accept returns stays pending for the next call (its options.hello_timeout
  // keeps running, but a hello that has arrived by the next call is always
  // read first, and checked against that call's secret). Errors:
  // InvalidArgument (a secret of another length; an empty one is a caller's
  // bug, never "accept anyone"); DeadlineExceeded (no sender in time);
  // ResourceExhausted / Unavailable only when the listening socket itself
  // fails (e.g. out of file descriptors). The listener stays usable. Calls
  // are serialized.
  absl::StatusOr<std::unique_ptr<ActivationReceiver>> Accept(absl::Duration timeout,
                                                             const std::string& secret);

  // Connections closed as strays since Create. Thread-safe; never blocks.
  int64_t dropped_connections() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  TcpActivationListener(int fd, int port, const TransportOptions& options);
  // Takes one connection off the backlog into pending_; false when there was
  // none after all (or it had already failed: counted as dropped).
  absl::StatusOr<bool> AcceptOne() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reads what has arrived of pending_[i]'s hello. Once it is complete,
  // carries `secret` and is answered, removes it and returns its receiver; a
  // stray is removed, closed and counted; otherwise it stays and the result
  // is null.
  std::unique_ptr<ActivationReceiver> AdvanceHello(size_t i, const std::string& secret)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Closes pending_[i] as a stray.
  void DropPending(size_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int fd_;
  const int port_;
  const TransportOptions options_;
  absl::Mutex mu_;  // serializes Accept
  // Oldest first; at most kTcpMaxPendingHellos.
  std::vector<tcp_internal::PendingHello> pending_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> dropped_{0};
};

class TcpActivationSender : public ActivationSender {
 public:
  // Connects to a listener at `address`, presents `secret` (the receiving
  // stage's secret: RouteResponse.data_secret, kTcpStreamSecretBytes bytes)
  // and completes the handshake within options.timeout. Errors:
  // InvalidArgument (address, options, a secret of another length),
  // Unavailable (refused / unreachable), DeadlineExceeded, DataLoss (peer is
  // not an activation receiver), FailedPrecondition (version mismatch),
  // PermissionDenied (the receiver expects another secret: a stale route, or
  // the stage was reassigned).
  static absl::StatusOr<std::unique_ptr<TcpActivationSender>> Connect(
      const std::string& address, const std::string& secret, const TransportOptions& options = {});
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
