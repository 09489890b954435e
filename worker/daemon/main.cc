// eqat-worker: joins a coordinator and runs Block-AP / finalize stages.
// Thin: flags and signal handling over worker/daemon.
#include <csignal>
#include <cstdlib>
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
ABSL_FLAG(std::string, tls_ca, "", "PEM cluster CA that signed the coordinator's certificate (default: $EQAT_TLS_CA)");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate of this worker, signed by the cluster CA (default: $EQAT_TLS_CERT)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls-cert (default: $EQAT_TLS_KEY)");
ABSL_FLAG(std::string, tls_server_name, "", "name the coordinator's certificate must carry, if not the address's host");
ABSL_FLAG(std::string, metrics_auth_file, "",
          "file whose first line is USER:PASSWORD: /metrics then requires HTTP basic auth");
ABSL_FLAG(bool, insecure, false, "plaintext gRPC to a coordinator started with --insecure");
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
                                       "device_memory", "tls_ca", "tls_cert", "tls_key",
                                       "tls_server_name", "insecure", "metrics_auth_file"};
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
  o.metrics_auth_file = absl::GetFlag(FLAGS_metrics_auth_file);
  o.device = absl::GetFlag(FLAGS_device);
  o.transport = absl::GetFlag(FLAGS_transport);
  o.name = absl::GetFlag(FLAGS_name);
  o.cache_budget = absl::GetFlag(FLAGS_cache_budget);
  o.spill_dir = absl::GetFlag(FLAGS_spill_dir);
  o.device_memory = absl::GetFlag(FLAGS_device_memory);
  auto flag_or_env = [](const std::string& flag, const char* env) {
    const char* v = std::getenv(env);
    return !flag.empty() || v == nullptr ? flag : std::string(v);
  };
  o.tls.insecure = absl::GetFlag(FLAGS_insecure);
  if (!o.tls.insecure) {
    o.tls.ca_file = flag_or_env(absl::GetFlag(FLAGS_tls_ca), "EQAT_TLS_CA");
    o.tls.cert_file = flag_or_env(absl::GetFlag(FLAGS_tls_cert), "EQAT_TLS_CERT");
    o.tls.key_file = flag_or_env(absl::GetFlag(FLAGS_tls_key), "EQAT_TLS_KEY");
    o.tls.server_name = absl::GetFlag(FLAGS_tls_server_name);
    if (o.tls.cert_file.empty() || o.tls.key_file.empty()) {
      std::cerr << "eqat-worker: --tls-cert and --tls-key: a worker certificate is required "
                   "(or --insecure for a plaintext coordinator)\n";
      return 2;
    }
  }
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
