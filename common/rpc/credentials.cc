#include "common/rpc/credentials.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"

namespace eqat {
namespace {

// The PEM text of `path`, given by `flag`; InvalidArgument naming the flag.
absl::StatusOr<std::string> ReadPem(const std::string& flag, const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, ": is required"));
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", text.status().message()));
  }
  if (!absl::StrContains(*text, "-----BEGIN ")) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " is not a PEM file"));
  }
  return text;
}

std::string FirstProperty(const grpc::AuthContext& auth, const char* name) {
  for (const grpc::string_ref& v : auth.FindPropertyValues(name)) {
    return std::string(v.data(), v.size());
  }
  return "";
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsConfig& config) {
  if (config.insecure) return grpc::InsecureServerCredentials();
  absl::StatusOr<std::string> cert = ReadPem("--tls-cert", config.cert_file);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPem("--tls-key", config.key_file);
  if (!key.ok()) return key.status();
  absl::StatusOr<std::string> ca = ReadPem("--tls-ca", config.ca_file);
  if (!ca.ok()) return ca.status();
  grpc::SslServerCredentialsOptions opts(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  opts.pem_root_certs = *ca;
  opts.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(opts);
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenChannel(const std::string& address,
                                                           const TlsConfig& config) {
  if (address.empty()) return absl::InvalidArgumentError("--coordinator: is required");
  grpc::ChannelArguments args;
  if (config.insecure) {
    return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  }
  grpc::SslCredentialsOptions opts;
  absl::StatusOr<std::string> ca = ReadPem("--tls-ca", config.ca_file);
  if (!ca.ok()) {
    if (config.ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls-ca: give the cluster CA (or set EQAT_TLS_CA), or --insecure for a plaintext "
          "coordinator");
    }
    return ca.status();
  }
  opts.pem_root_certs = *ca;
  if (config.cert_file.empty() != config.key_file.empty()) {
    return absl::InvalidArgumentError(config.cert_file.empty()
                                          ? "--tls-cert: is required with --tls-key"
                                          : "--tls-key: is required with --tls-cert");
  }
  if (!config.cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadPem("--tls-cert", config.cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadPem("--tls-key", config.key_file);
    if (!key.ok()) return key.status();
    opts.pem_cert_chain = *cert;
    opts.pem_private_key = *key;
  }
  if (!config.server_name.empty()) args.SetSslTargetNameOverride(config.server_name);
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(opts), args);
}

bool PeerHasVerifiedCertificate(const grpc::ServerContext& context) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return false;
  // gRPC sets the peer identity only from a certificate that passed
  // verification; on TLS without a client certificate it stays unset.
  return FirstProperty(*auth, GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME) ==
         GRPC_SSL_TRANSPORT_SECURITY_TYPE;
}

std::string PeerCertificateName(const grpc::ServerContext& context) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return "";
  for (const grpc::string_ref& v : auth->GetPeerIdentity()) return std::string(v.data(), v.size());
  return "";
}

}  // namespace eqat
