// eqat-coordinator: the gRPC QuantizationService + Cluster service, job
// state in SQLite, Prometheus metrics. Thin: flags, wiring, signal handling.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <set>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "common/flag_parser.h"
#include "common/metrics_exposer.h"
#include "common/process_metrics.h"
#include "common/rpc/credentials.h"
#include "coordinator/auth.h"
#include "coordinator/job_store.h"
#include "coordinator/scheduler.h"
#include "coordinator/service.h"
#include "coordinator/sqlite_job_store.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051", "gRPC listen address");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:9464", "Prometheus /metrics listen address");
ABSL_FLAG(std::string, state_dir, "", "folder for the job database (required)");
ABSL_FLAG(std::vector<std::string>, allowed_root, {}, "folders jobs may read and write (repeatable)");
ABSL_FLAG(int32_t, worker_timeout_s, 15, "seconds without heartbeat before a worker is marked down");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate of this coordinator (required unless --insecure)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls-cert");
ABSL_FLAG(std::string, tls_ca, "", "PEM cluster CA: workers must present a certificate it signed");
ABSL_FLAG(std::string, token_file, "",
          "bearer tokens of the public API, TOKEN,NAME,ROLE per line (required unless --insecure)");
ABSL_FLAG(std::string, metrics_auth_file, "",
          "file whose first line is USER:PASSWORD: /metrics then requires HTTP basic auth");
ABSL_FLAG(bool, insecure, false,
          "plaintext gRPC, no worker certificates; without --token-file, no tokens either");

namespace {
std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }
}  // namespace

int main(int argc, char** argv) {
  const std::set<std::string> kFlags = {"listen",   "metrics_listen", "state_dir", "allowed_root",
                                        "worker_timeout_s", "tls_cert", "tls_key", "tls_ca",
                                        "token_file", "insecure", "metrics_auth_file"};
  std::vector<std::string> args(argv + 1, argv + argc);
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << "usage: eqat-coordinator [flags]\n"
                << eqat::FlagsHelp(kFlags);
      return 0;
    }
  }
  auto parsed = eqat::ParseSubcommandFlags(
      args, kFlags);
  if (!parsed.ok()) {
    std::cerr << "eqat-coordinator: " << parsed.status().message() << "\n";
    return 2;
  }
  if (absl::GetFlag(FLAGS_state_dir).empty()) {
    std::cerr << "eqat-coordinator: --state-dir: is required\n";
    return 2;
  }
  if (absl::GetFlag(FLAGS_allowed_root).empty()) {
    std::cerr << "eqat-coordinator: --allowed-root: give at least one folder\n";
    return 2;
  }
  if (absl::GetFlag(FLAGS_worker_timeout_s) < 1) {
    std::cerr << "eqat-coordinator: --worker-timeout-s: must be >= 1\n";
    return 2;
  }
  eqat::TlsConfig tls;
  tls.insecure = absl::GetFlag(FLAGS_insecure);
  tls.cert_file = absl::GetFlag(FLAGS_tls_cert);
  tls.key_file = absl::GetFlag(FLAGS_tls_key);
  tls.ca_file = absl::GetFlag(FLAGS_tls_ca);
  if (tls.insecure && !(tls.cert_file.empty() && tls.key_file.empty() && tls.ca_file.empty())) {
    std::cerr << "eqat-coordinator: --insecure: cannot be combined with --tls-cert/--tls-key/--tls-ca\n";
    return 2;
  }
  auto credentials = eqat::MakeServerCredentials(tls);
  if (!credentials.ok()) {
    std::cerr << "eqat-coordinator: " << credentials.status().message()
              << " (or --insecure for plaintext)\n";
    return 2;
  }
  eqat::TokenAuth auth = eqat::TokenAuth::Open();
  if (const std::string token_file = absl::GetFlag(FLAGS_token_file); !token_file.empty()) {
    auto loaded = eqat::TokenAuth::Load(token_file);
    if (!loaded.ok()) {
      std::cerr << "eqat-coordinator: " << loaded.status().message() << "\n";
      return 2;
    }
    auth = *std::move(loaded);
  } else if (!tls.insecure) {
    std::cerr << "eqat-coordinator: --token-file: is required (or --insecure for an open coordinator)\n";
    return 2;
  }
  if (tls.insecure) {
    std::cerr << "eqat-coordinator: warning: --insecure: plaintext gRPC, workers unauthenticated"
              << (auth.open() ? ", public API open to anyone who can reach it" : "") << "\n";
  }
  auto store = eqat::SqliteJobStore::Open(absl::GetFlag(FLAGS_state_dir));
  if (!store.ok()) {
    std::cerr << "eqat-coordinator: " << store.status().message() << "\n";
    return 2;
  }
  auto registry = std::make_shared<prometheus::Registry>();
  eqat::SchedulerOptions so;
  so.allowed_roots = absl::GetFlag(FLAGS_allowed_root);
  so.worker_timeout = absl::Seconds(absl::GetFlag(FLAGS_worker_timeout_s));
  eqat::Scheduler scheduler(so, store->get(), registry.get());
  if (auto st = scheduler.Recover(); !st.ok()) {
    std::cerr << "eqat-coordinator: recovering jobs: " << st.message() << "\n";
    return 1;
  }
  auto process_metrics = std::make_shared<eqat::ProcessCollector>();
  auto exposer =
      eqat::StartMetricsExposer(absl::GetFlag(FLAGS_metrics_listen), {registry, process_metrics},
                                {absl::GetFlag(FLAGS_metrics_auth_file)});
  if (!exposer.ok()) {
    const bool auth_error = absl::StartsWith(exposer.status().message(), "--metrics-auth-file");
    std::cerr << "eqat-coordinator: " << (auth_error ? "" : "--metrics-listen: ")
              << exposer.status().message() << "\n";
    return 2;
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  eqat::QuantizationServiceImpl api(&scheduler, &auth);
  eqat::ClusterServiceImpl cluster(&scheduler, /*require_worker_certificate=*/!tls.insecure);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen), *credentials, &port);
  builder.RegisterService(&api);
  builder.RegisterService(&cluster);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::cerr << "eqat-coordinator: --listen: cannot listen on " << absl::GetFlag(FLAGS_listen) << "\n";
    return 2;
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  const std::vector<int> metrics_ports = (*exposer)->GetListeningPorts();
  std::cout << "eqat-coordinator listening on " << absl::GetFlag(FLAGS_listen)
            << (tls.insecure ? " (plaintext" : " (TLS") << ", port " << port
            << "), metrics on port " << (metrics_ports.empty() ? 0 : metrics_ports[0]) << std::endl;
  while (!g_stop) {
    scheduler.Tick();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return 0;
}
