// The eqat-worker process: registers with the coordinator, heartbeats (the
// replies carry aborts), polls for assignments and runs them:
//   BLOCK_AP  receive the stage's inputs on the data listener (or rebuild
//             them from calibration + packed blocks), quantize the block
//             range, write and report each packed block, then ask for a
//             route and stream the fp + quant outputs to the next stage
//             (or continue with it in-process when told "self")
//   FINALIZE  assemble, E2E-QP, write the output folder, evaluate
// Serves Prometheus metrics. Every error ends the assignment with
// FinishStage(ok=false, message); the process keeps serving.
// Delivery: block reports and FinishStage are retried until the coordinator
// answers, and heartbeats keep naming the assignment until its FinishStage
// is acknowledged. A finalize's job folder (the packed blocks) is removed
// only after its success is acknowledged; it records the job id in the job
// folder before committing the output, so that a retried finalize replaces
// its own commit.
// Thread-safety: Run() owns the daemon; Stop() may be called from any thread.
#ifndef EQAT_WORKER_DAEMON_WORKER_DAEMON_H_
#define EQAT_WORKER_DAEMON_WORKER_DAEMON_H_

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "common/rpc/credentials.h"

namespace eqat {

struct WorkerDaemonOptions {
  std::string coordinator;      // host:port of the coordinator
  std::string listen;           // data listener for activation streams
  std::string advertise;        // address other workers dial (default: listen)
  std::string metrics_listen;   // Prometheus /metrics
  std::string metrics_auth_file;  // USER:PASSWORD for /metrics basic auth (empty: open)
  std::string device = "cpu";
  std::string transport = "auto";  // tcp | nccl | auto (transport/transport_factory.h)
  std::string name;
  std::string cache_budget = "4G";
  std::string spill_dir = "/tmp";
  // Device memory reported to the coordinator for memory planning
  // ("80G"; "0": unknown). RAM is read from the system (cgroup-aware).
  std::string device_memory = "0";
  // gRPC to the coordinator: mutual TLS with this worker's certificate
  // unless tls.insecure (common/rpc/credentials.h).
  TlsConfig tls;
};

class WorkerDaemon {
 public:
  explicit WorkerDaemon(WorkerDaemonOptions options);
  ~WorkerDaemon();
  // Runs until Stop(). InvalidArgument / Unavailable for bad addresses.
  absl::Status Run();
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace eqat

#endif  // EQAT_WORKER_DAEMON_WORKER_DAEMON_H_
