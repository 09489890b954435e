// `eqat submit | watch | status | list | cancel`: the gRPC client of the
// coordinator's QuantizationService. The spec's paths are absolute already
// (common/job/job_flags.h); the coordinator checks them against its roots. gRPC status
// codes map to exit codes like local errors (ExitCodeFor): bad input 2,
// coordinator unreachable or internal errors 1.
// Thread-safety: one command per process.
#ifndef EQAT_CLIENT_REMOTE_COMMANDS_H_
#define EQAT_CLIENT_REMOTE_COMMANDS_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "client/commands.h"

namespace eqat {

struct SubmitOptions {
  std::string coordinator;
  v1::JobSpec spec;             // the same job flags as `eqat quantize`, plus the schedule's
  bool wait = false;
  bool json = false;
  bool progress = true;
  double timeout_s = 30;        // per RPC (watch streams are unbounded)
};

struct RemoteOptions {
  std::string coordinator;
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
