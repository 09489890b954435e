// In-memory activation transport: a bounded channel between a sender and a
// receiver in the same process. It is the fake transport of the shared test
// suite and what a stage uses to stream to itself; semantics match TCP's
// (bounded buffer and backpressure, explicit end of stream, a destroyed end
// reported as Unavailable, the same frame validation), minus the wire.
// Frames are deep-copied on Send, so the caller may reuse its tensor.
// No stream secret: both ends are created together and handed out by the
// caller, so there is no listener a stranger could join (unlike TCP's,
// tcp_transport.h).
// Thread-safety: see activation_transport.h (both ends are thread-safe).
#ifndef EQAT_WORKER_TRANSPORT_INPROC_TRANSPORT_H_
#define EQAT_WORKER_TRANSPORT_INPROC_TRANSPORT_H_

#include "absl/status/statusor.h"
#include "worker/transport/activation_transport.h"

namespace eqat {

// A connected sender/receiver pair. The channel holds at most
// options.max_buffered_frames frames / options.max_buffered_bytes bytes;
// options.timeout bounds a blocked Send. Either end may be destroyed first.
// Errors: InvalidArgument for bad options.
absl::StatusOr<ActivationChannel> CreateInprocChannel(const TransportOptions& options = {});

}  // namespace eqat

#endif  // EQAT_WORKER_TRANSPORT_INPROC_TRANSPORT_H_
