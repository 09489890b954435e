// eqat-worker: joins a coordinator and runs Block-AP / finalize stages.
// Thin: flags and signal handling over worker/daemon.
#include <csignal>
#include <iostream>
#include <set>

#include "absl/flags/flag.h"
#include "common/flag_parser.h"
#include "worker/model/compute_threads.h"
#include "worker/daemon/worker_daemon.h"

ABSL_FLAG(std::string, coordinator, "127.0.0.1:50051", "coordinator gRPC address");
ABSL_FLAG(std::string, listen, "127.0.0.1:0", "activation data listener (host:port; port 0 picks one)");
ABSL_FLAG(std::string, advertise, "", "address other workers dial for this worker's data (default: --listen)");
ABSL_FLAG(std::string, metrics_listen, "", "Prometheus /metrics address (empty: off)");
ABSL_FLAG(std::string, device, "cpu", "cpu, cuda or cuda:N");
ABSL_FLAG(std::string, transport, "auto",
          "activation streams: tcp, nccl (CUDA workers) or auto (nccl where both ends can, else tcp)");
ABSL_FLAG(std::string, name, "", "a name shown in the coordinator's events");
ABSL_FLAG(std::string, cache_budget, "4G", "RAM for each cached activation set");
ABSL_FLAG(std::string, spill_dir, "/tmp", "folder for activation spill files");
ABSL_FLAG(int32_t, threads, 0, "compute threads (0: all cores)");
ABSL_FLAG(std::string, device_memory, "0",
          "device memory reported for memory planning, e.g. 80G (0: unknown, not checked)");

namespace {
eqat::WorkerDaemon* g_daemon = nullptr;
void OnSignal(int) {
  if (g_daemon != nullptr) g_daemon->Stop();
}
}  // namespace

int main(int argc, char** argv) {
  const std::set<std::string> flags = {"coordinator", "listen", "advertise", "metrics_listen", "device",
                                       "name", "cache_budget", "spill_dir", "threads", "transport",
                                       "device_memory"};
  std::vector<std::string> args(argv + 1, argv + argc);
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << "usage: eqat-worker [flags]\n" << eqat::FlagsHelp(flags);
      return 0;
    }
  }
  auto parsed = eqat::ParseSubcommandFlags(args, flags);
  if (!parsed.ok()) {
    std::cerr << "eqat-worker: " << parsed.status().message() << "\n";
    return 2;
  }
  eqat::SetComputeThreads(absl::GetFlag(FLAGS_threads));
  eqat::WorkerDaemonOptions o;
  o.coordinator = absl::GetFlag(FLAGS_coordinator);
  o.listen = absl::GetFlag(FLAGS_listen);
  o.advertise = absl::GetFlag(FLAGS_advertise);
  o.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  o.device = absl::GetFlag(FLAGS_device);
  o.transport = absl::GetFlag(FLAGS_transport);
  o.name = absl::GetFlag(FLAGS_name);
  o.cache_budget = absl::GetFlag(FLAGS_cache_budget);
  o.spill_dir = absl::GetFlag(FLAGS_spill_dir);
  o.device_memory = absl::GetFlag(FLAGS_device_memory);
  eqat::WorkerDaemon daemon(o);
  g_daemon = &daemon;
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  absl::Status st = daemon.Run();
  if (!st.ok()) {
    std::cerr << "eqat-worker: " << st.message() << "\n";
    return st.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}
