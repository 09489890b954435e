// `eqat submit | watch | status | list | cancel`: the gRPC client of the
// coordinator's QuantizationService. The spec's paths are absolute already
// (common/job/job_flags.h); the coordinator checks them against its roots. gRPC status
// codes map to exit codes like local errors (ExitCodeFor): bad input 2,
// coordinator unreachable or internal errors 1.
//
// Security (common/rpc/credentials.h, coordinator/auth.h): TLS unless
// `insecure` or $EQAT_INSECURE is 1 (cluster.env of an --insecure local cluster); the CA that signed the coordinator's certificate comes from
// tls_ca or $EQAT_TLS_CA. The bearer token comes from token_file, else
// $EQAT_TOKEN, else the file named by $EQAT_TOKEN_FILE (a token file holds
// the token on its first line that is not blank or a '#' comment, alone or
// as the first field of a coordinator-style TOKEN,NAME,ROLE line). Without a
// token, calls go out without one (an open coordinator takes them).
// Thread-safety: one command per process.
#ifndef EQAT_CLIENT_REMOTE_COMMANDS_H_
#define EQAT_CLIENT_REMOTE_COMMANDS_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "client/commands.h"

namespace eqat {

struct ConnectOptions {
  std::string coordinator;
  std::string token_file;       // --token-file
  std::string tls_ca;           // --tls-ca
  std::string tls_server_name;  // --tls-server-name
  bool insecure = false;        // --insecure: plaintext
};

struct SubmitOptions {
  ConnectOptions connect;
  v1::JobSpec spec;             // the same job flags as `eqat quantize`, plus the schedule's
  bool wait = false;
  bool json = false;
  bool progress = true;
  double timeout_s = 30;        // per RPC (watch streams are unbounded)
};

struct RemoteOptions {
  ConnectOptions connect;
  std::string job;              // job id (watch/status/cancel)
  std::string state;            // list filter: queued|running|succeeded|failed|cancelled
  int page_size = 50;
  bool json = false;
  bool progress = true;
};

absl::Status RunSubmit(const SubmitOptions& o, std::ostream& out);
absl::Status RunWatch(const RemoteOptions& o, std::ostream& out);
absl::Status RunStatus(const RemoteOptions& o, std::ostream& out);
absl::Status RunList(const RemoteOptions& o, std::ostream& out);
absl::Status RunCancel(const RemoteOptions& o, std::ostream& out);

}  // namespace eqat

#endif  // EQAT_CLIENT_REMOTE_COMMANDS_H_
