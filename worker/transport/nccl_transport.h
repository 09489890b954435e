// Activation transport over NCCL point-to-point (ncclSend / ncclRecv) on a
// dedicated non-blocking CUDA stream. Built only with EQAT_WITH_NCCL (CUDA
// toolkit + NCCL found at configure time); without it this header is empty.
//
// Rendezvous is out of band: one side calls NewUniqueId(), the coordinator
// hands the bytes to every rank, and each rank joins with its factory (a
// collective call: all `nranks` ranks must join within options.timeout).
// Workers carry the id over a TCP stream whose handshake presented the
// receiving stage's secret (transport_factory.h), so only routed peers
// learn it; this file checks no secret of its own.
// Use one communicator per direction: NCCL communicators are not thread-safe,
// so a stage that both receives and sends holds two (one per link).
//
// Per frame the sender posts the fixed frame header (frame_codec.h) as 360
// bytes, then the payload in chunks of `chunk_bytes` staged through device
// buffers; the receiver validates the header (DataLoss) before allocating.
// Tensors are staged from / to CPU memory with cudaMemcpyAsync, so this file
// builds against CPU-only LibTorch; received tensors are CPU tensors.
// Backpressure is NCCL's own: a Send completes once the peer has accepted
// the data (NCCL buffers little), so max_buffered_* are not used here.
// Timeouts: every wait polls cudaStreamQuery + ncclCommGetAsyncError; a stall
// past options.timeout aborts the communicator (ncclCommAbort) and breaks the
// stream. A receiver's Recv timeout before a frame starts does not abort.
// A dead peer in another process is seen as DeadlineExceeded / Unavailable
// after options.timeout (NCCL reports remote errors only on some transports).
// Thread-safety: as activation_transport.h (calls are serialized).
#ifndef EQAT_WORKER_TRANSPORT_NCCL_TRANSPORT_H_
#define EQAT_WORKER_TRANSPORT_NCCL_TRANSPORT_H_

#if defined(EQAT_WITH_NCCL)

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "worker/transport/activation_transport.h"

namespace eqat {

struct NcclLinkConfig {
  std::string unique_id;  // bytes from NewUniqueId(), same for every rank
  int rank = 0;           // this process's rank in [0, nranks)
  int nranks = 2;
  int peer_rank = 1;      // the rank this end talks to; != rank
  int device = 0;         // CUDA device index of this rank
  int64_t chunk_bytes = int64_t{64} << 20;  // device staging buffer per direction
};

class NcclActivationTransport {
 public:
  // Fresh ncclUniqueId as opaque bytes. Unavailable when NCCL cannot create
  // one (no network interface, ...).
  static absl::StatusOr<std::string> NewUniqueId();

  // CUDA devices visible to this process; 0 when there is no driver/device.
  static int DeviceCount();

  // Joins the communicator and returns the sending / receiving end towards
  // config.peer_rank. Errors: InvalidArgument (config, options, id size),
  // FailedPrecondition (no such CUDA device), DeadlineExceeded (the other
  // ranks did not join in time), Unavailable / Internal (NCCL, CUDA).
  static absl::StatusOr<std::unique_ptr<ActivationSender>> CreateSender(
      const NcclLinkConfig& config, const TransportOptions& options = {});
  static absl::StatusOr<std::unique_ptr<ActivationReceiver>> CreateReceiver(
      const NcclLinkConfig& config, const TransportOptions& options = {});

  // A single-rank communicator on `device` sending to itself: Send queues the
  // frame in a bounded in-process channel (inproc_transport.h semantics) and
  // Recv moves it through ncclSend/ncclRecv (grouped self send/recv) and back
  // to host memory. For a stage streaming to itself, and for tests.
  static absl::StatusOr<ActivationChannel> CreateLoopback(
      int device, const TransportOptions& options = {},
      int64_t chunk_bytes = int64_t{64} << 20);
};

}  // namespace eqat

#endif  // EQAT_WITH_NCCL
#endif  // EQAT_WORKER_TRANSPORT_NCCL_TRANSPORT_H_
