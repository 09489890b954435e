// absl::Status <-> grpc::Status, keeping the code and message (never
// collapsing errors into INTERNAL). Header-only; for targets linking gRPC.
// Thread-safe: pure functions.
#ifndef EQAT_COMMON_RPC_GRPC_STATUS_H_
#define EQAT_COMMON_RPC_GRPC_STATUS_H_

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/status/status.h"

namespace eqat {

inline grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  // The numeric codes are the same canonical codes in both libraries.
  return grpc::Status(static_cast<grpc::StatusCode>(static_cast<int>(s.code())),
                      std::string(s.message()));
}

inline absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(static_cast<int>(s.error_code())),
                      s.error_message());
}

}  // namespace eqat

#endif  // EQAT_COMMON_RPC_GRPC_STATUS_H_
