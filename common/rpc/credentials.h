// Transport security of eqat's gRPC channels, secure by default.
//
// Every server and client uses TLS unless the operator asked for plaintext
// (--insecure, TlsConfig::insecure). The coordinator's server requests a
// client certificate and verifies any it is given against the cluster CA
// (--tls-ca): the public API needs none (its callers present bearer tokens,
// coordinator/auth.h), the internal Cluster API refuses callers without one
// (PeerHasVerifiedCertificate). A worker presents its own certificate and key
// (mutual TLS); the `eqat` client only checks the coordinator's.
//
// Files are PEM. Errors name the flag that gave the file (--tls-ca,
// --tls-cert, --tls-key) and are InvalidArgument: missing, unreadable,
// empty, or not PEM. Nothing here throws.
// Thread-safety: pure functions; the returned credentials are thread-safe.
#ifndef EQAT_COMMON_RPC_CREDENTIALS_H_
#define EQAT_COMMON_RPC_CREDENTIALS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace eqat {

struct TlsConfig {
  bool insecure = false;    // plaintext; only when asked for explicitly
  std::string ca_file;      // the cluster CA (server: checks workers; client: checks the server)
  std::string cert_file;    // this process's certificate (chain)
  std::string key_file;     // its private key
  // Client only: the name the server's certificate must carry, when it is
  // not the host part of the address (a load balancer, a pod IP).
  std::string server_name;
};

// Server side: TLS with cert_file + key_file, client certificates requested
// and verified against ca_file. All three are required unless insecure.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsConfig& config);

// Client side: a channel to `address`. ca_file is required unless insecure;
// cert_file and key_file go together (both or neither).
absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenChannel(const std::string& address,
                                                           const TlsConfig& config);

// True when the caller presented a certificate that the server verified
// against its CA (always false on a plaintext server).
bool PeerHasVerifiedCertificate(const grpc::ServerContext& context);

// The first CN or SAN of the caller's verified certificate, or "".
std::string PeerCertificateName(const grpc::ServerContext& context);

}  // namespace eqat

#endif  // EQAT_COMMON_RPC_CREDENTIALS_H_
