#include "worker/transport/activation_transport.h"

#include "absl/strings/str_cat.h"

namespace eqat {

absl::Status ValidateTransportOptions(const TransportOptions& o) {
  if (o.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("transport timeout must be positive");
  }
  if (o.max_buffered_frames < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_buffered_frames must be >= 1, got ", o.max_buffered_frames));
  }
  if (o.max_buffered_bytes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_buffered_bytes must be >= 1, got ", o.max_buffered_bytes));
  }
  if (o.max_frame_bytes < 0 || o.max_frame_bytes > kMaxFrameBytesLimit) {
    return absl::InvalidArgumentError(absl::StrCat("max_frame_bytes must be in [0, ",
                                                   kMaxFrameBytesLimit, "], got ",
                                                   o.max_frame_bytes));
  }
  if (o.socket_buffer_bytes < 0) {
    return absl::InvalidArgumentError("socket_buffer_bytes must be >= 0");
  }
  return absl::OkStatus();
}

}  // namespace eqat
