// The one place a worker's activation transport is chosen (--transport):
//   tcp   framed TCP streams (tcp_transport.h), between any two workers;
//   nccl  NCCL point-to-point between CUDA workers (nccl_transport.h), with
//         the rendezvous on the TCP connection: the sender dials the
//         receiver's TCP listener, sends a fresh ncclUniqueId as the first
//         frame (tag "nccl-id"), both join a two-rank communicator, and every
//         later frame travels over NCCL; the TCP connection stays open as
//         the stream's control channel and is closed with it. A worker that
//         asks for nccl without a CUDA device or an NCCL build is refused;
//   auto  nccl where this worker can (CUDA device and NCCL build), else tcp.
// A receiver accepts both: whether a stream is NCCL is up to its sender,
// which uses NCCL only when both ends can (RouteResponse.data_nccl).
// Secrets: every stream starts with the TCP handshake (tcp_transport.h), so
// the receiving stage's stream secret guards both kinds: the NCCL id goes
// only to, and comes only from, a peer whose hello carried the secret.
// Thread-safety: Accept and Connect may be called from different threads.
#ifndef EQAT_WORKER_TRANSPORT_TRANSPORT_FACTORY_H_
#define EQAT_WORKER_TRANSPORT_TRANSPORT_FACTORY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "worker/transport/activation_transport.h"

namespace eqat {

enum class TransportKind { kTcp, kNccl, kAuto };

// "tcp" | "nccl" | "auto"; InvalidArgument naming --transport otherwise.
absl::StatusOr<TransportKind> ParseTransportKind(const std::string& text);

struct TransportConfig {
  TransportKind kind = TransportKind::kAuto;
  std::string listen = "127.0.0.1:0";  // TCP listener (data and NCCL rendezvous)
  int cuda_device = -1;                // this worker's CUDA device; -1: CPU worker
  TransportOptions options;
};

class WorkerTransport {
 public:
  // Errors: InvalidArgument (--transport nccl on a worker without a CUDA
  // device or NCCL build, bad options), the listener's (--listen).
  static absl::StatusOr<std::unique_ptr<WorkerTransport>> Create(const TransportConfig& config);
  virtual ~WorkerTransport() = default;

  virtual int port() const = 0;  // the TCP listener's port
  // True when this worker sends and receives NCCL streams.
  virtual bool nccl() const = 0;
  // "tcp" or "nccl": what this worker uses where its peer can too.
  std::string name() const { return nccl() ? "nccl" : "tcp"; }

  // Waits up to `timeout` for one incoming stream (either kind) whose sender
  // presents `secret` (Assignment.stream_secret of the receiving stage).
  // Errors as TcpActivationListener::Accept: InvalidArgument for a secret
  // that is empty or not kTcpStreamSecretBytes long; DeadlineExceeded when
  // nobody (with that secret) came.
  virtual absl::StatusOr<std::unique_ptr<ActivationReceiver>> Accept(absl::Duration timeout,
                                                                     const std::string& secret) = 0;
  // Opens a stream to the receiver at `address`, presenting `secret`
  // (RouteResponse.data_secret); over NCCL when this worker and the peer
  // (`peer_nccl`) both can. Errors as TcpActivationSender::Connect
  // (PermissionDenied: the receiver expects another secret), then NCCL's.
  virtual absl::StatusOr<std::unique_ptr<ActivationSender>> Connect(const std::string& address,
                                                                     bool peer_nccl,
                                                                     const std::string& secret) = 0;
};

}  // namespace eqat

#endif  // EQAT_WORKER_TRANSPORT_TRANSPORT_FACTORY_H_
